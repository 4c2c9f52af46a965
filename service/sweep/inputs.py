"""Walking a sweep's inputs: directories, globs, single files, PDFs and zip archives in, one
:class:`Document` per file to examine out, in a stable order.

Naming convention: a document's ``name`` is the path as the user gave it, joined with the path
found under it (``archive/2019/contract.pdf``); a member of a zip archive is named by the
archive's name and the member's path inside it (``filings.zip/2019/contract.pdf``).
``relative`` is the part found under the input that was given (``2019/contract.pdf``), or the
file's own name for a file given directly: what a dates file may name it by.

Within a directory only files whose suffix is one the engine reads (:data:`DOCUMENT_SUFFIXES`)
and zip archives are taken; hidden files and folders are left out. A file named directly is
always taken: if it cannot be read, it is listed as unreadable, never silently dropped.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from imprint.errors import InputError, InvalidParameterError, UnreadableInputError
from imprint.io import LoadLimits, Page, iter_pages

#: Suffixes taken when walking a directory (any case); a file named directly is always taken.
DOCUMENT_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp",
                               ".pdf"})
ARCHIVE_SUFFIXES = frozenset({".zip"})
_GLOB_CHARS = frozenset("*?[")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Document:
    """One file to examine. ``path`` the file on disk (for a zip member: the archive);
    ``member`` the path inside the archive, or None; ``name`` and ``relative``: see the module
    docstring."""

    name: str
    relative: str
    path: str
    member: str | None = None

    def read_bytes(self) -> bytes:
        """The document's content; :class:`UnreadableInputError` when it cannot be read."""
        try:
            if self.member is None:
                return Path(self.path).read_bytes()
            with zipfile.ZipFile(self.path) as archive:
                return archive.read(self.member)
        except (OSError, zipfile.BadZipFile, KeyError, RuntimeError) as exc:
            raise UnreadableInputError(f"{self.name}: cannot be read ({exc})") from exc

    def sha256(self) -> str:
        """SHA-256 of the content, hex: the key of the sweep's journal."""
        h = hashlib.sha256()
        try:
            if self.member is None:
                with open(self.path, "rb") as f:
                    while chunk := f.read(_HASH_CHUNK):
                        h.update(chunk)
            else:
                with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as f:
                    while chunk := f.read(_HASH_CHUNK):
                        h.update(chunk)
        except (OSError, zipfile.BadZipFile, KeyError, RuntimeError) as exc:
            raise UnreadableInputError(f"{self.name}: cannot be read ({exc})") from exc
        return h.hexdigest()


@dataclass(frozen=True)
class Unreadable:
    """An input that could not even be listed: a missing path, a glob matching nothing, a
    damaged zip archive. ``code`` the engine's error code."""

    name: str
    code: str
    message: str


@dataclass(frozen=True)
class Inputs:
    """What the walk found: documents in order, and inputs that could not be listed."""

    documents: tuple[Document, ...]
    unreadable: tuple[Unreadable, ...]
    skipped: int  # files in walked directories whose suffix is not one the engine reads


def walk_inputs(paths: list[str | os.PathLike[str]]) -> Inputs:
    """Every document under ``paths`` (files, directories, globs, zip archives), in the order
    given and sorted by path within each; the same file reached twice is listed once."""
    if not paths:
        raise InvalidParameterError("no input paths given")
    documents: list[Document] = []
    unreadable: list[Unreadable] = []
    seen: set[tuple[str, str | None]] = set()
    skipped = 0

    def add(doc: Document) -> None:
        key = (os.path.realpath(doc.path), doc.member)
        if key not in seen:
            seen.add(key)
            documents.append(doc)

    for given in map(os.fspath, paths):
        targets = [given]
        if not os.path.lexists(given) and _GLOB_CHARS & set(given):
            targets = sorted(glob.glob(given, recursive=True))
            if not targets:
                unreadable.append(Unreadable(given, "unreadable_input",
                                             f"{given}: no file matches this pattern"))
                continue
        for target in targets:
            if os.path.isdir(target):
                for path, rel in _walk_dir(target):
                    suffix = Path(path).suffix.lower()
                    if suffix in ARCHIVE_SUFFIXES:
                        _add_archive(path, os.path.join(target, rel), add, unreadable)
                    elif suffix in DOCUMENT_SUFFIXES:
                        add(Document(os.path.join(target, rel), rel, path))
                    else:
                        skipped += 1
            elif not os.path.exists(target):
                unreadable.append(Unreadable(target, "unreadable_input",
                                             f"{target}: no such file or directory"))
            elif Path(target).suffix.lower() in ARCHIVE_SUFFIXES and zipfile.is_zipfile(target):
                _add_archive(target, target, add, unreadable)
            else:
                add(Document(target, os.path.basename(target), target))
    return Inputs(tuple(documents), tuple(unreadable), skipped)


def _walk_dir(root: str) -> Iterator[tuple[str, str]]:
    """(path, path relative to ``root``) of every file under ``root``, sorted, hidden entries
    left out; symbolic links to files are followed, to directories not (no cycles)."""
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                path = os.path.join(here, name)
                yield path, os.path.relpath(path, root)


def _add_archive(path: str, name: str, add, unreadable: list[Unreadable]) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = sorted(i.filename for i in archive.infolist() if not i.is_dir())
    except (OSError, zipfile.BadZipFile) as exc:
        unreadable.append(Unreadable(name, "unreadable_input",
                                     f"{name}: not a readable zip archive ({exc})"))
        return
    for member in members:
        base = member.rsplit("/", 1)[-1]
        if base.startswith(".") or member.startswith("__MACOSX/"):
            continue
        if Path(member).suffix.lower() in DOCUMENT_SUFFIXES:
            add(Document(f"{name}/{member}", member, path, member))


@contextmanager
def document_pages(doc: Document, limits: LoadLimits) -> Iterator[Iterator[Page]]:
    """The document's pages, one at a time (a zip member is extracted to a temporary file for
    as long as its pages are read). Pages carry the document's ``name`` as their source."""
    if doc.member is None:
        yield _named(iter_pages(doc.path, limits=limits), doc.name)
        return
    tmp = tempfile.mkdtemp(prefix="imprint-sweep-")
    try:
        target = Path(tmp) / "document"
        try:
            with zipfile.ZipFile(doc.path) as archive, archive.open(doc.member) as src:
                info = archive.getinfo(doc.member)
                if info.file_size > limits.max_bytes:
                    # checked before extracting: a zip bomb never reaches the disk
                    from imprint.errors import TooLargeError

                    raise TooLargeError(f"{doc.name}: {info.file_size / 1024**2:.1f} MB exceeds "
                                        f"the limit of {limits.max_bytes / 1024**2:.0f} MB")
                with open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, _HASH_CHUNK)
        except (OSError, zipfile.BadZipFile, KeyError, RuntimeError) as exc:
            raise UnreadableInputError(f"{doc.name}: cannot be extracted ({exc})") from exc
        yield _named(iter_pages(target, limits=limits), doc.name, str(target))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _named(pages: Iterator[Page], name: str, extracted: str | None = None) -> Iterator[Page]:
    try:
        for page in pages:
            yield Page(page.image, page.dpi, name, page.index)
    except InputError as exc:
        if extracted is None:
            raise
        # say which member failed, not where it was extracted to for a moment
        raise type(exc)(str(exc).replace(extracted, name)) from exc


# --- documents' dates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DateBook:
    """Documents' dates (the day each was signed and stamped), by name, relative path, file
    name or content SHA-256, with a date for every document not named (``default``, or None:
    the seal's status now)."""

    by_key: Mapping[str, date]
    default: date | None = None

    def date_of(self, doc: Document, sha256: str) -> date | None:
        for key in (doc.name, doc.relative, os.path.basename(doc.relative), sha256):
            if key in self.by_key:
                return self.by_key[key]
        return self.default


def read_dates(path: str | os.PathLike[str], *, default: date | None = None) -> DateBook:
    """Read a CSV of ``file,date`` (a header row is optional; dates as YYYY-MM-DD). ``file``
    may be a document's name as the sweep reports it, its path under the input directory, its
    file name, or its SHA-256."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise UnreadableInputError(f"{path}: cannot read the dates file ({exc})") from exc
    by_key: dict[str, date] = {}
    for line, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if len(cells) < 2:
            raise InvalidParameterError(f"{path}:{line}: expected 'file,date', got {row!r}")
        try:
            by_key[cells[0]] = date.fromisoformat(cells[1])
        except ValueError:
            if line == 1:
                continue  # a header row
            raise InvalidParameterError(
                f"{path}:{line}: {cells[1]!r} is not a date (YYYY-MM-DD)") from None
    return DateBook(by_key, default)
