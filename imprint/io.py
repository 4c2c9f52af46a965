"""Loading pages: images and PDFs in, RGB pages with their dpi out, within hard limits.

Formats: PNG, JPEG, TIFF (every page), BMP, WebP, and PDF (each page rendered at ``pdf_dpi``).
EXIF orientation is applied. The dpi comes from the file's metadata where present (PDFs are
rendered at a known dpi); ``None`` otherwise.

Limits (:class:`LoadLimits`) are checked before anything large is decoded: file size, pixel
count per page (from the header: decompression bombs never reach the decoder), total pixels,
and the number of pages. A file that breaks one gets a :class:`~imprint.errors.InputError`
subclass saying which limit and by how much; a file that cannot be read gets
:class:`~imprint.errors.UnreadableInputError`.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from imprint.errors import (
    EncryptedDocumentError,
    InvalidParameterError,
    TooLargeError,
    TooManyPagesError,
    UnreadableInputError,
    UnsupportedFormatError,
)

LOG = logging.getLogger(__name__)

IMAGE_FORMATS = {"PNG", "JPEG", "TIFF", "BMP", "WEBP", "MPO"}
PDF_MAGIC = b"%PDF-"


@dataclass(frozen=True)
class LoadLimits:
    """Hard caps on what one input may cost. Sizes in bytes, pixels per page and in total."""

    max_bytes: int = 200 * 1024**2
    max_page_pixels: int = 80_000_000  # an A0 scan at 300 dpi is ~140 MP; A3 at 600 dpi ~70 MP
    max_total_pixels: int = 1_000_000_000
    max_pages: int = 200
    pdf_dpi: float = 300.0


@dataclass(frozen=True)
class Page:
    """One page. ``image``: ``(H, W, 3) uint8`` RGB; ``dpi``: (x, y) from the file, or None;
    ``source``: the file; ``index``: page number from 0."""

    image: np.ndarray
    dpi: tuple[float, float] | None
    source: str
    index: int


def _check_size(path: Path, limits: LoadLimits) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UnreadableInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise UnreadableInputError(f"{path}: {exc.strerror or exc}") from exc
    if path.is_dir():
        raise UnreadableInputError(f"{path}: is a directory, not a file")
    if size == 0:
        raise UnreadableInputError(f"{path}: the file is empty (0 bytes)")
    if size > limits.max_bytes:
        raise TooLargeError(f"{path}: {size / 1024**2:.1f} MB exceeds the limit of "
                            f"{limits.max_bytes / 1024**2:.0f} MB")
    return size


def load_page(path: str | Path, *, limits: LoadLimits | None = None) -> list[Page]:
    """Every page of an image or PDF file, as RGB arrays.

    Raises
    ------
    UnreadableInputError
        Missing, empty, truncated or corrupt file.
    UnsupportedFormatError
        A readable file that is not one of the supported formats (a text file named .png).
    TooLargeError
        A limit of ``limits`` is exceeded.
    EncryptedDocumentError
        A password-protected PDF.
    """
    return list(iter_pages(path, limits=limits))


def iter_pages(path: str | Path, *, limits: LoadLimits | None = None) -> Iterator[Page]:
    """Like :func:`load_page`, one page at a time (memory bounded by one page)."""
    limits = limits or LoadLimits()
    if limits.pdf_dpi <= 0 or limits.max_pages <= 0:
        raise InvalidParameterError("pdf_dpi and max_pages must be positive")
    path = Path(path)
    _check_size(path, limits)
    with open(path, "rb") as f:
        head = f.read(1024)
    if PDF_MAGIC in head:
        yield from _pdf_pages(path, limits)
    else:
        yield from _image_pages(path, limits)


ORIENTATION_TAG = 0x0112  # EXIF: how the camera held the page


def _image_pages(path: Path, limits: LoadLimits) -> Iterator[Page]:
    try:
        with warnings.catch_warnings():
            # we enforce our own pixel cap below, before decoding
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except UnidentifiedImageError:
        raise UnsupportedFormatError(
            f"{path}: not a supported image or PDF (PNG, JPEG, TIFF, BMP, WebP, PDF)") from None
    except Image.DecompressionBombError as exc:
        # Pillow refuses from the header alone; say it in our terms
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)) / 1e6:.0f} MP" if found else "too many pixels"
        raise TooLargeError(f"{path}: the image is {size}, over the limit of "
                            f"{limits.max_page_pixels / 1e6:.0f} MP") from None
    except OSError as exc:
        raise UnreadableInputError(f"{path}: {exc}") from exc
    with img:
        if img.format not in IMAGE_FORMATS:
            raise UnsupportedFormatError(f"{path}: format {img.format} is not supported")
        n_frames = getattr(img, "n_frames", 1) if img.format == "TIFF" else 1
        if n_frames > limits.max_pages:
            raise TooManyPagesError(f"{path}: {n_frames} pages exceed the limit of "
                                f"{limits.max_pages}")
        total = 0
        for index in range(n_frames):
            if n_frames > 1:
                img.seek(index)
            w, h = img.size
            if w * h > limits.max_page_pixels:
                raise TooLargeError(
                    f"{path}: page {index + 1} is {w} x {h} = {w * h / 1e6:.0f} MP, over the "
                    f"limit of {limits.max_page_pixels / 1e6:.0f} MP")
            total += w * h
            if total > limits.max_total_pixels:
                raise TooLargeError(f"{path}: more than {limits.max_total_pixels / 1e6:.0f} MP "
                                    "in all pages")
            dpi = _dpi_of(img)
            if n_frames == 1:
                rgb = _decode_jpeg(path, img)
                if rgb is not None:
                    yield Page(rgb, dpi, str(path), index)
                    return
            try:
                # each of these copies the page: only where the file asks for them
                frame = img
                if index == 0 and img.getexif().get(ORIENTATION_TAG, 1) != 1:
                    frame = ImageOps.exif_transpose(img)
                if frame.mode != "RGB":
                    frame = frame.convert("RGB")
                rgb = np.asarray(frame)
            except (OSError, SyntaxError, ValueError) as exc:
                raise UnreadableInputError(f"{path}: page {index + 1} cannot be decoded: {exc}"
                                           ) from exc
            yield Page(np.ascontiguousarray(rgb), dpi, str(path), index)


def _decode_jpeg(path: Path, img: Image.Image) -> np.ndarray | None:
    """A plain JPEG page (RGB or grey, upright) decoded by OpenCV straight into an array:
    half the time of Pillow's decoding and copying out. None where Pillow should decode it
    (another format or colour mode, an EXIF turn) or the data does not end as a JPEG does: a
    truncated file goes to Pillow, which refuses it rather than padding it out."""
    if img.format != "JPEG" or img.mode not in ("RGB", "L"):
        return None
    if img.getexif().get(ORIENTATION_TAG, 1) != 1:
        return None
    try:
        data = np.fromfile(path, np.uint8)
    except OSError:
        return None
    if b"\xff\xd9" not in data[-64:].tobytes():  # no end-of-image marker: truncated
        return None
    rgb = cv2.imdecode(data, cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    if rgb is None or rgb.shape[:2] != (img.size[1], img.size[0]):
        return None
    return rgb


def _dpi_of(img: Image.Image) -> tuple[float, float] | None:
    dpi = img.info.get("dpi")
    if not dpi:
        return None
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return None
    # 1 and 72 dpi are what writers put when they know nothing
    if x <= 1 or y <= 1 or (x == 72 and y == 72):
        return None
    return (x, y)


def _pdf_pages(path: Path, limits: LoadLimits) -> Iterator[Page]:
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise EncryptedDocumentError(
                f"{path}: the PDF is password-protected; supply an unprotected copy") from None
        raise UnreadableInputError(f"{path}: not a readable PDF ({exc})") from None
    try:
        n = len(doc)
        if n == 0:
            raise UnreadableInputError(f"{path}: the PDF has no pages")
        if n > limits.max_pages:
            raise TooManyPagesError(f"{path}: {n} pages exceed the limit of {limits.max_pages}; "
                                "split the document or raise the page limit")
        scale = limits.pdf_dpi / 72.0
        total = 0
        for index in range(n):
            page = doc[index]
            w_pt, h_pt = page.get_size()
            w, h = int(w_pt * scale), int(h_pt * scale)
            if w * h > limits.max_page_pixels:
                raise TooLargeError(f"{path}: page {index + 1} at {limits.pdf_dpi:.0f} dpi "
                                    f"would be {w} x {h} px, over the page limit")
            total += w * h
            if total > limits.max_total_pixels:
                raise TooLargeError(f"{path}: more than {limits.max_total_pixels / 1e6:.0f} MP "
                                    "in all pages")
            try:
                # RGB straight from pdfium: a round trip through PIL copies an A4 page at
                # 300 dpi three times (about 40 ms)
                bitmap = page.render(scale=scale, force_bitmap_format=pdfium.raw.FPDFBitmap_BGR,
                                     rev_byteorder=True)
                rgb = np.array(bitmap.to_numpy())
            except pdfium.PdfiumError as exc:
                raise UnreadableInputError(f"{path}: page {index + 1} cannot be rendered: {exc}"
                                           ) from None
            yield Page(np.ascontiguousarray(rgb), (limits.pdf_dpi, limits.pdf_dpi), str(path),
                       index)
    finally:
        doc.close()


def load_image_bytes(data: bytes, name: str = "<upload>", *, limits: LoadLimits | None = None
                     ) -> list[Page]:
    """Pages from an in-memory upload (written to a temporary file only for PDFs)."""
    import tempfile

    limits = limits or LoadLimits()
    if not data:
        raise UnreadableInputError(f"{name}: the upload is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise TooLargeError(f"{name}: {len(data) / 1024**2:.1f} MB exceeds the limit of "
                            f"{limits.max_bytes / 1024**2:.0f} MB")
    with tempfile.NamedTemporaryFile(suffix=".bin") as tmp:
        tmp.write(data)
        tmp.flush()
        return [Page(p.image, p.dpi, name, p.index) for p in load_page(tmp.name, limits=limits)]

