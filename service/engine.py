"""A document's pages in, identifications and verifications out: the engine composed once for
every way users reach it (the ``imprint`` command line and the HTTP service).

Reads top to bottom: pages -> every imprint found and rectified
(:func:`imprint.pipeline.rectified_imprints`) -> 1:N identification (``SealSearch.identify``),
each match compared with its seal's masters (:func:`index.verify.verify`); or, for 1:1, every
imprint compared with the named seal and the one that best answers for it kept
(:func:`index.verify.rank`). The records returned are the JSON the CLI prints.

``deadline`` (a :func:`time.monotonic` value) is checked between imprints, so work for a
request that ran out of time stops soon after, instead of running on unseen.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

import cv2
import numpy as np

from imprint.errors import NoImprintError, OutputError
from imprint.io import Page
from imprint.pipeline import rectified_imprints
from imprint.report import (
    MASTER_RGB,
    NO_DATA_GREY,
    QUERY_RGB,
    ReportContext,
    comparison_record,
)
from imprint.types import Comparison, RectifiedImprint
from index.identify import Identification, SealSearch
from index.verify import NoMasterError, Verification, rank, verify
from service.errors import RequestTimeoutError


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


def _in_time(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise RequestTimeoutError("the work ran past the request time limit; send fewer pages "
                                  "or a crop of the seal")


def page_imprints(pages: Iterable[Page], *, deadline: float | None = None
                  ) -> Iterator[list[RectifiedImprint]]:
    """Every imprint found and rectified, page by page."""
    for page in pages:
        _in_time(deadline)
        yield rectified_imprints(page.image, dpi=page.dpi[0] if page.dpi else None,
                                 page=page.index)


def identify_pages(search: SealSearch, pages: Iterable[Page], *, top_k: int = 5,
                   on: date | None = None, deadline: float | None = None
                   ) -> list[IdentifiedImprint]:
    """Which filed seal each imprint on the pages is meant to be, and whether it is that seal."""
    out = []
    for imprints in page_imprints(pages, deadline=deadline):
        for ident in search.identify(imprints, top_k=top_k, on=on):
            found = None
            if ident.match:  # the match is only a name until compared with its master
                _in_time(deadline)
                try:
                    found = verify(search, ident.imprint, ident.match, on=on)
                except NoMasterError:
                    pass
            out.append(IdentifiedImprint(ident, found))
    return out


def verify_pages(search: SealSearch, pages: Iterable[Page], seal_id: str, *,
                 on: date | None = None, what: str = "the document",
                 deadline: float | None = None) -> DocumentVerification:
    """Compare every imprint on the pages with seal ``seal_id``; keep the best. An unknown seal
    fails before any imaging; a document without an imprint raises :class:`NoImprintError`."""
    search.store.get_seal(seal_id)
    found = []
    for imprints in page_imprints(pages, deadline=deadline):
        for imp in imprints:
            _in_time(deadline)
            found.append(verify(search, imp, seal_id, on=on))
    if not found:
        raise NoImprintError(f"no seal imprint found in {what}")
    # a page may carry other seals too: the imprint that best answers for this seal
    best = max(found, key=lambda v: rank(v.comparison))
    return DocumentVerification(best, len(found))


def identification_record(found: IdentifiedImprint) -> dict:
    """One identified imprint as JSON-ready data (``imprint identify --json``)."""
    ident, v = found.identification, found.verification
    d = ident.imprint.detection
    return {
        "page": d.page, "box": [round(x, 1) for x in d.box],
        "shape": d.shape, "colour": d.colour,
        "candidates": [{"seal_id": c.seal_id, "score": round(c.score, 4),
                        "similarity": round(c.similarity, 4)} for c in ident.candidates],
        "match": ident.match,
        "status": ident.status.value if ident.status else None,
        "verdict": v.comparison.verdict if v else None,
        "log10_lr": round(v.comparison.log10_lr, 2) if v else None,
        "status_flag": v.status_flag if v else None}


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
            "status": v.status.value, "status_flag": v.status_flag,
            "date": v.on.isoformat() if v.on else None,
            **{k: record[k] for k in ("reasons", "evidence", "alignment", "quality")}}


def report_context(found: DocumentVerification, *, document: str) -> ReportContext:
    """The report's header for a verified document."""
    v = found.verification
    d = v.comparison.query.detection
    return ReportContext(seal_id=v.seal.seal_id, unit_name=v.seal.unit_name,
                         status=v.status.value, status_note=v.status_flag, document=document,
                         page=d.page, box=d.box, master_id=v.master_id,
                         document_date=v.on.isoformat() if v.on else None)


def overlay_png(c: Comparison) -> bytes:
    """The questioned imprint laid on the master in the master's canonical frame, as PNG: the
    master's ink blue, the questioned imprint's red, both dark, no data grey (the colours of
    the report's overlay panel)."""

    def transparency(ink: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
        a = np.clip(np.nan_to_num(ink.astype(np.float32)), 0.0, 1.0)[..., None]
        return 1.0 - a * (1.0 - np.asarray(colour, np.float32))

    rgb = transparency(c.master.ink, MASTER_RGB) * transparency(c.alignment.query_ink, QUERY_RGB)
    unknown = c.alignment.unknown
    rgb[unknown] = 0.3 * rgb[unknown] + 0.7 * NO_DATA_GREY
    u8 = (np.clip(rgb, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OutputError("cannot encode the overlay as PNG")
    return buf.tobytes()
