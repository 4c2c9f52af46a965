"""Loading pages: every supported format, and bad input refused with a typed error, a clear
message and bounded memory."""

from __future__ import annotations

import resource

import numpy as np
import pytest
from PIL import Image

from imprint.errors import (
    EncryptedDocumentError,
    InputError,
    TooLargeError,
    UnreadableInputError,
    UnsupportedFormatError,
)
from imprint.io import LoadLimits, load_image_bytes, load_page


def _rgb(h=120, w=90, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "WEBP", "TIFF"])
def test_each_image_format_loads_with_its_dpi(tmp_path, fmt):
    path = tmp_path / f"page.{fmt.lower()}"
    kwargs = {"dpi": (300, 300)} if fmt != "WEBP" else {}
    Image.fromarray(_rgb()).save(path, format=fmt, **kwargs)
    (page,) = load_page(path)
    assert page.image.shape == (120, 90, 3) and page.image.dtype == np.uint8
    if fmt in ("PNG", "JPEG", "TIFF"):
        assert page.dpi == pytest.approx((300, 300), abs=0.5)


def test_multipage_tiff_gives_every_page(tmp_path):
    path = tmp_path / "pages.tiff"
    frames = [Image.fromarray(_rgb(seed=i)) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    pages = load_page(path)
    assert [p.index for p in pages] == [0, 1, 2]
    assert not np.array_equal(pages[0].image, pages[1].image)


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    img = Image.fromarray(_rgb(100, 200))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(path, exif=exif)
    (page,) = load_page(path)
    assert page.image.shape[:2] == (200, 100)


def test_pdf_pages_render_at_the_chosen_dpi(tmp_path):
    path = tmp_path / "doc.pdf"
    frames = [Image.fromarray(np.full((297, 210, 3), 255 - 40 * i, np.uint8)) for i in range(2)]
    frames[0].save(path, save_all=True, append_images=frames[1:], resolution=25.4)
    pages = load_page(path, limits=LoadLimits(pdf_dpi=50))
    assert len(pages) == 2
    h, w = pages[0].image.shape[:2]
    assert abs(w - 210 / 25.4 * 50) <= 2 and abs(h - 297 / 25.4 * 50) <= 2
    assert pages[0].dpi == (50, 50)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_plain_jpeg_loads_as_pillow_decodes_it(tmp_path, mode):
    """Plain JPEG pages are decoded by OpenCV (faster); the pixels are Pillow's."""
    path = tmp_path / "page.jpg"
    Image.fromarray(_rgb(300, 200)).convert(mode).save(path, quality=85, dpi=(300, 300))
    page = load_page(path)[0]
    with Image.open(path) as im:
        expected = np.asarray(im.convert("RGB"))
    assert page.image.shape == expected.shape and page.dpi == (300, 300)
    assert np.abs(page.image.astype(int) - expected).max() <= 1


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "cut.jpg"
    Image.fromarray(_rgb(400, 400)).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableInputError, match=r"cut\.jpg"):
        load_page(path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(UnreadableInputError, match="empty"):
        load_page(path)
    with pytest.raises(UnreadableInputError, match="empty"):
        load_image_bytes(b"")


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n" * 20)
    with pytest.raises(UnsupportedFormatError, match="not a supported image"):
        load_page(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UnreadableInputError, match="no such file"):
        load_page(tmp_path / "nope.png")
    with pytest.raises(UnreadableInputError, match="directory"):
        load_page(tmp_path)


def test_huge_png_is_refused_from_its_header(tmp_path):
    """A 20,000 x 20,000 PNG (400 MP) is refused before decoding: memory stays bounded."""
    path = tmp_path / "huge.png"
    # one row repeated compresses to a small file; writing it row by row keeps this test light
    img = Image.new("L", (20_000, 20_000), 255)
    img.save(path, optimize=False, compress_level=1)
    del img
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(TooLargeError, match="400 MP, over the limit"):
        load_page(path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100


def test_file_size_limit(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(_rgb(300, 300)).save(path)
    with pytest.raises(TooLargeError, match="exceeds the limit"):
        load_page(path, limits=LoadLimits(max_bytes=1000))


def test_encrypted_pdf(tmp_path):
    pikepdf = pytest.importorskip("pikepdf")
    plain, locked = tmp_path / "plain.pdf", tmp_path / "locked.pdf"
    Image.fromarray(_rgb()).save(plain)
    with pikepdf.open(plain) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(owner="o", user="secret", R=6))
    with pytest.raises(EncryptedDocumentError, match="password"):
        load_page(locked)


def test_thousand_page_pdf_is_refused_without_rendering(tmp_path):
    pikepdf = pytest.importorskip("pikepdf")
    path = tmp_path / "long.pdf"
    pdf = pikepdf.new()
    for _ in range(1000):
        pdf.add_blank_page(page_size=(595, 842))
    pdf.save(path)
    with pytest.raises(TooLargeError, match="1000 pages exceed the limit of 200"):
        load_page(path)


def test_garbage_with_pdf_header(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    with pytest.raises(UnreadableInputError, match="not a readable PDF"):
        load_page(path)


def test_every_input_error_is_an_input_error():
    for cls in (UnreadableInputError, UnsupportedFormatError, TooLargeError,
                EncryptedDocumentError):
        assert issubclass(cls, InputError)


def test_page_pixel_limit_names_the_size(tmp_path):
    path = tmp_path / "page.png"
    Image.fromarray(_rgb(120, 90)).save(path)
    with pytest.raises(TooLargeError, match="90 x 120"):
        load_page(path, limits=LoadLimits(max_page_pixels=10_000))
