"""A document's pages in, identifications and verifications out: the engine composed once for
every way users reach it (the ``imprint`` command line and the HTTP service).

Reads top to bottom: pages -> every imprint found and rectified
(:func:`imprint.pipeline.rectified_imprints`) -> 1:N identification (``SealSearch.identify``),
each match compared with its seal's masters (:func:`index.verify.verify`); or, for 1:1, every
imprint compared with the named seal and the one that best answers for it kept
(:func:`index.verify.rank`). The records returned are the JSON the CLI prints. A whole
document examined (:func:`examine_document`) is the 1:N identification with a thumbnail of each
page; the report of each verified imprint is kept under the registry (:func:`store_report`).

``deadline`` (a :func:`time.monotonic` value) is checked between imprints, so work for a
request that ran out of time stops soon after, instead of running on unseen.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import cv2

from imprint.atomic import fsync_dir
from imprint.errors import InvalidParameterError, NoImprintError, OutputError
from imprint.io import LoadLimits, Page, iter_pages
from imprint.pipeline import rectified_imprints
from imprint.report import (
    ReportContext,
    comparison_record,
    write_report,
)
from imprint.types import RectifiedImprint
from imprint.verdict import QUALITY_GATE
from index.errors import UnknownSealError
from index.identify import Identification, SealSearch
from index.store import RegistryStore, SealInfo
from index.verify import Verification, identified, rank, verify
from service.errors import AmbiguousSealCodeError, RequestTimeoutError, UnknownReportError

#: Longest side of a page's thumbnail in an examined document, px; JPEG quality of it.
THUMBNAIL_PX = 960
THUMBNAIL_QUALITY = 80
#: The formats every stored report is written in, by file suffix.
REPORT_FORMATS = ("html", "pdf", "png", "json")
REPORTS_DIR = "reports"
#: A hidden partial report folder older than this (s) was left by a writer that died.
PARTIAL_REPORT_AGE_S = 3600.0
_REPORT_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class IdentifiedImprint:
    """One imprint of a document identified (1:N); ``verification`` the comparison with the
    matched seal's masters, None without a match or without a comparable master."""

    identification: Identification
    verification: Verification | None


@dataclass(frozen=True)
class DocumentVerification:
    """The imprint of a document that best answers for the named seal (1:1), and how many
    imprints the document holds."""

    verification: Verification
    imprints_on_document: int
    chip: ChipCheck | None = None


@dataclass(frozen=True)
class ChipCheck:
    """The chip serial read at the counter against the claimed seal's filed one. ``flag``:
    None when they agree, ``mismatch`` when the seal's chip is another, ``not_on_file`` when
    the seal has no chip serial on file; ``reason`` says so in words (None when they agree)."""

    serial: str
    flag: str | None
    reason: str | None


#: The values of :attr:`ChipCheck.flag` that are findings.
CHIP_FLAGS = ("mismatch", "not_on_file")


def check_chip(store: RegistryStore, seal: SealInfo, serial: str) -> ChipCheck:
    """Compare a chip serial read from the seal presented with the one filed for ``seal``
    (exact, after trimming spaces, as :meth:`RegistryStore.seal_by_chip` looks serials up)."""
    read = serial.strip()
    if seal.chip_serial is None:
        return ChipCheck(read, "not_on_file", f"chip serial {read} was read, but seal "
                         f"{seal.seal_id} has no chip serial on file")
    if read == seal.chip_serial:
        return ChipCheck(read, None, None)
    try:
        owner = f"; it is filed for seal {store.seal_by_chip(read).seal_id}"
    except UnknownSealError:
        owner = "; no filed seal carries it"
    return ChipCheck(read, "mismatch", f"chip serial {read} read at the counter is not the "
                     f"chip filed for seal {seal.seal_id}{owner}")


def in_time(deadline: float | None) -> None:
    """Raise :class:`RequestTimeoutError` once ``deadline`` (a monotonic time) has passed."""
    if deadline is not None and time.monotonic() > deadline:
        raise RequestTimeoutError("the work ran past the request time limit; send fewer pages "
                                  "or a crop of the seal")


def page_imprints(pages: Iterable[Page], *, deadline: float | None = None
                  ) -> Iterator[list[RectifiedImprint]]:
    """Every imprint found and rectified, page by page."""
    for page in pages:
        in_time(deadline)
        yield rectified_imprints(page.image, dpi=page.dpi[0] if page.dpi else None,
                                 page=page.index)


def identify_pages(search: SealSearch, pages: Iterable[Page], *, top_k: int = 5,
                   on: date | None = None, deadline: float | None = None
                   ) -> list[IdentifiedImprint]:
    """Which filed seal each imprint on the pages is meant to be, and whether it is that seal."""
    out = []
    for imprints in page_imprints(pages, deadline=deadline):
        for ident in search.identify(imprints, top_k=top_k, on=on):
            in_time(deadline)  # the match's other masters, if any, are compared too
            out.append(IdentifiedImprint(ident, identified(search, ident, on=on)))
    return out


def resolve_seal(store: RegistryStore, seal_id: str | None, seal_code: str | None) -> str:
    """The seal a verification names, by its id or by its code (which must be unambiguous)."""
    if (seal_id is None) == (seal_code is None):
        raise InvalidParameterError("give seal_id or seal_code, one of them")
    if seal_id is not None:
        return seal_id
    seals = [s for s in store.search(code=seal_code, limit=1000) if s.code == seal_code]
    if not seals:
        raise UnknownSealError(f"no seal is filed with code {seal_code!r}", field="seal_code")
    if len(seals) > 1:
        raise AmbiguousSealCodeError(f"{len(seals)} filed seals carry code {seal_code!r}; "
                                     f"name the seal by its seal_id")
    return seals[0].seal_id


def verify_pages(search: SealSearch, pages: Iterable[Page], seal_id: str, *,
                 on: date | None = None, what: str = "the document",
                 deadline: float | None = None,
                 chip_serial: str | None = None) -> DocumentVerification:
    """Compare every imprint on the pages with seal ``seal_id``; keep the best. An unknown seal
    fails before any imaging; a document without an imprint raises :class:`NoImprintError`.
    ``chip_serial``: the serial read from the seal's chip at the counter, checked against the
    seal's (:func:`check_chip`)."""
    # one read of the seal for the whole document: unknown seals fail before any imaging
    view = search.store.seal_view(seal_id, on)
    seal = view.seal
    chip = (check_chip(search.store, seal, chip_serial)
            if chip_serial is not None and chip_serial.strip() else None)
    found = []
    for imprints in page_imprints(pages, deadline=deadline):
        for imp in imprints:
            in_time(deadline)
            found.append(verify(search, imp, seal_id, on=on, view=view))
    if not found:
        raise NoImprintError(f"no seal imprint found in {what}")
    # a page may carry other seals too: the imprint that best answers for this seal
    best = max(found, key=lambda v: rank(v.comparison))
    return DocumentVerification(best, len(found), chip)


def identification_record(found: IdentifiedImprint) -> dict:
    """One identified imprint as JSON-ready data (``imprint identify --json``). An imprint
    that matches no filed seal with less than half its border on the page (a cross-page
    sliver, a half cut by the sheet's edge) is ``inconclusive``: too little of the seal is
    there to say that none is filed."""
    ident, v = found.identification, found.verification
    d = ident.imprint.detection
    verdict = v.comparison.verdict if v else None
    if ident.match is None and d.visible < QUALITY_GATE["border_visible"]:
        verdict = "inconclusive"
    return {
        "page": d.page, "box": [round(x, 1) for x in d.box],
        "shape": d.shape, "colour": d.colour,
        "candidates": [c.record() for c in ident.candidates],
        "match": ident.match,
        "status": ident.status.value if ident.status else None,
        "verdict": verdict,
        "log10_lr": round(v.comparison.log10_lr, 2) if v else None,
        "status_flag": v.status_flag if v else None}


def verify_upload(search: SealSearch, path: Path, *, name: str, seal_id: str | None,
                  seal_code: str | None, on: date | None, limits: LoadLimits,
                  deadline: float | None = None,
                  chip_serial: str | None = None) -> DocumentVerification:
    """A saved upload (``name`` as the client called it) verified against the seal named by
    id or by code (:func:`resolve_seal`, :func:`verify_pages`)."""
    seal = resolve_seal(search.store, seal_id, seal_code)
    return verify_pages(search, iter_pages(path, limits=limits), seal, on=on, what=name,
                        deadline=deadline, chip_serial=chip_serial)


def verification_record(found: DocumentVerification, *, file: str) -> dict:
    """A document verified against one seal as JSON-ready data (``imprint verify --json``)."""
    v = found.verification
    c, d = v.comparison, v.comparison.query.detection
    record = comparison_record(c)
    return {"file": file, "seal_id": v.seal.seal_id, "unit": v.seal.unit_name,
            "master_id": v.master_id, "page": d.page,
            "box": [round(x, 1) for x in d.box],
            "imprints_on_document": found.imprints_on_document,
            "verdict": c.verdict, "score": record["score"], "log10_lr": record["log10_lr"],
            "log10_lr_against": record["log10_lr_against"], "status": v.status.value,
            "status_flag": v.status_flag,
            "chip_serial": found.chip.serial if found.chip else None,
            "chip_flag": found.chip.flag if found.chip else None,
            "date": v.on.isoformat() if v.on else None,
            **{k: record[k] for k in ("evidence", "alignment", "quality")},
            "reasons": [*record["reasons"], *([found.chip.reason] if found.chip
                                              and found.chip.reason else [])]}


def report_context(found: DocumentVerification, *, document: str) -> ReportContext:
    """The report's header for a verified document."""
    return verification_context(found.verification, document=document)


def verification_context(v: Verification, *, document: str) -> ReportContext:
    """The report's header for one imprint of a document compared with a filed seal."""
    d = v.comparison.query.detection
    return ReportContext(seal_id=v.seal.seal_id, unit_name=v.seal.unit_name,
                         status=v.status.value, status_note=v.status_flag, document=document,
                         page=d.page, box=d.box, master_id=v.master_id,
                         document_date=v.on.isoformat() if v.on else None)


# --- a whole document examined, its reports kept -----------------------------------------------


@dataclass(frozen=True)
class PageView:
    """A page of an examined document as a person sees it: ``width`` and ``height`` in page
    px, ``thumbnail_jpeg`` the page scaled to :data:`THUMBNAIL_PX` on its longest side (boxes,
    in page px, scale onto it by ``thumbnail width / width``)."""

    index: int
    width: int
    height: int
    thumbnail_jpeg: bytes


@dataclass(frozen=True)
class ExaminedDocument:
    """Every page of a document and every imprint on it, identified and verified."""

    pages: tuple[PageView, ...]
    imprints: tuple[IdentifiedImprint, ...]


def page_view(page: Page) -> PageView:
    h, w = page.image.shape[:2]
    scale = min(1.0, THUMBNAIL_PX / max(h, w))
    small = cv2.resize(page.image, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA) if scale < 1.0 else page.image
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
    if not ok:
        raise OutputError("cannot encode a page thumbnail as JPEG")
    return PageView(page.index, w, h, buf.tobytes())


def examine_document(search: SealSearch, pages: Iterable[Page], *, top_k: int = 5,
                     on: date | None = None, deadline: float | None = None) -> ExaminedDocument:
    """:func:`identify_pages`, keeping a thumbnail of each page as it goes by (pages are
    loaded one at a time and not held)."""
    views: list[PageView] = []

    def seen(pages: Iterable[Page]) -> Iterator[Page]:
        for page in pages:
            views.append(page_view(page))
            yield page

    imprints = identify_pages(search, seen(pages), top_k=top_k, on=on, deadline=deadline)
    return ExaminedDocument(tuple(views), tuple(imprints))


def store_report(home: Path, v: Verification, *, document: str) -> str:
    """Write the report of one verified imprint in every format of :data:`REPORT_FORMATS`
    under ``home/reports/<report_id>/`` and return the new ``report_id``.

    Each file is written atomically into a hidden folder, which is then renamed into place: a
    report appears whole or not at all (a crash leaves at most a hidden partial folder)."""
    report_id = secrets.token_hex(16)
    shelf = home / REPORTS_DIR
    partial = shelf / f".partial-{report_id}"
    context = verification_context(v, document=document)
    try:
        partial.mkdir(parents=True)
        for fmt in REPORT_FORMATS:
            write_report(v.comparison, partial / f"report.{fmt}", context)
        os.rename(partial, shelf / report_id)
        fsync_dir(shelf)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise OutputError(f"{shelf}: cannot store the report ({exc})") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return report_id


def clear_partial_reports(home: Path, *, older_than_s: float = PARTIAL_REPORT_AGE_S) -> int:
    """Remove the hidden folders of reports whose writing was cut short (the process died
    mid-report), once they are old enough that no live writer can still own them; returns
    how many were removed. Called when the service starts."""
    cutoff = time.time() - older_than_s
    removed = 0
    for partial in (home / REPORTS_DIR).glob(".partial-*"):
        try:
            if partial.stat().st_mtime < cutoff:
                shutil.rmtree(partial)
                removed += 1
        except FileNotFoundError:
            continue  # a live writer renamed it into place meanwhile
    return removed


def report_file(home: Path, report_id: str, fmt: str) -> Path:
    """The stored report ``report_id`` in format ``fmt``; :class:`UnknownReportError` when
    there is none (an id that is not one the service makes is never looked up on disk)."""
    path = home / REPORTS_DIR / report_id / f"report.{fmt}"
    if not _REPORT_ID.fullmatch(report_id) or fmt not in REPORT_FORMATS or not path.is_file():
        raise UnknownReportError(f"no report {report_id!r} in format {fmt!r}",
                                 field="report_id")
    return path
