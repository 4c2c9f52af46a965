"""Case imprints: suspect imprints filed under a case number, and linked across cases when two
of them come from one physical counterfeit seal, even though neither matches a filed master.

An imprint judged ``suspected_forgery``, or matching no filed seal, is filed in the case
index: its case number, the document (name and SHA-256), page, box and date, the seal it was
compared with and that comparison's verdict and score, who filed it, and its canonical
rectified imprint (:mod:`imprint.archive`, content-addressed under ``cases/canonical/``).
Rows live in the registry's database (table ``case_imprints``), append-only like seal events;
the FAISS index of their embeddings (``vectors/cases-<model>.faiss``) is derived from them and
rebuilt whenever it is missing, damaged or stale, exactly as the seal index is.

Linking reads top to bottom in :meth:`CaseIndex.scored`. When the new imprint is claimed to
be a filed seal's (the seal it was compared with), every earlier case imprint claimed to be
that seal's is compared with it through the seal's master: both deviations from the master
(:mod:`imprint.deviation`: what a physical seal carries into all its imprints and the genuine
seal lacks) are correlated, and the pair is linked when that agreement reaches
:data:`DEVIATION_THRESHOLD`. Every other earlier case imprint is found by its embedding: a
shortlist from the case index (:data:`LINK_SHORTLIST`), ordered by the aligned polar
correlation (:func:`models.classical.correlate_polar`), those below :data:`LINK_FLOOR`
dropped, the best :data:`LINK_COMPARED` compared fully (:func:`imprint.compare.compare`:
affine and homography registration); such a pair is linked when the registered ink
correlation reaches :data:`LINK_THRESHOLD`.

Calibration (``python -m bench cases``): the deviation threshold on the calibration seed
(20261131) at 1 % false links over the pairs of imprints from different physical seals,
reported on the test seed (20261132). Faxes are the weak point: the seal and the text are one
tone there, so a fax's imprint is often identified as another seal and not compared with the
earlier imprints of the one it imitates.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Date, DateTime, Float, Integer, String, Text, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from imprint import archive
from imprint.atomic import write_bytes
from imprint.compare import compare
from imprint.deviation import Deviation, agreement, deviation
from imprint.errors import ImprintError, InvalidParameterError, OutputError
from imprint.io import Page
from imprint.pipeline import rectified_imprints
from imprint.types import RectifiedImprint
from index.errors import (
    RegistryIntegrityError,
    UnknownRecordError,
)
from index.followed import FollowedIndex
from index.identify import Identification, SealSearch
from index.store import append_only_ddl, guard_append_only
from index.vectors import VectorIndex
from index.verify import Verification, identified
from models.classical import correlate_polar, imprint_spectrum

log = logging.getLogger(__name__)

#: Earlier case imprints taken from the case index per search, by embedding similarity.
LINK_SHORTLIST = 30
#: Aligned polar correlation below which a shortlisted imprint is not compared at all: on the
#: calibration seed, pairs of one physical seal still registered well from 0.36, and no pair of
#: different seals below 0.45 registered above 0.7.
LINK_FLOOR = 0.3
#: Full comparisons per search (about 0.1 s each), best polar correlation first.
LINK_COMPARED = 8
#: Registered ink correlation at or above which two case imprints with no filed seal in
#: common are declared one physical seal: 1 % false links over pairs of different physical
#: seals on the calibration seed 20261131 of ``python -m bench cases``, when every pair was
#: scored this way (now a fallback, too rarely used on a seed to be refitted).
LINK_THRESHOLD = 0.899
#: Agreement of the deviations from the claimed seal's master at or above which two case
#: imprints claimed to be that seal's are declared one physical (counterfeit) seal: 1 % false
#: links over pairs of different physical seals (the fallback's links counted in) on the
#: calibration seed 20261131 of ``python -m bench cases --quick``, never on the test seed.
DEVIATION_THRESHOLD = 0.196
#: Verdicts of the comparison with the claimed seal that make an imprint a case imprint.
SUSPECT_VERDICTS = ("suspected_forgery",)
CANONICAL_VERSION = "v1"
_CASE = re.compile(r"[^\x00-\x1f\x7f]{1,64}")


class UnknownCaseError(UnknownRecordError):
    """No imprint is filed under that case number (or with that id)."""

    code = "unknown_case"


class _Base(DeclarativeBase):
    pass


class CaseImprintRow(_Base):
    __tablename__ = "case_imprints"
    __table_args__ = ({"sqlite_autoincrement": True},)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the case index's id
    case_number: Mapped[str] = mapped_column(String(64), index=True)
    document: Mapped[str] = mapped_column(String(200))
    document_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    page: Mapped[int]
    box: Mapped[str] = mapped_column(Text)  # JSON [x0, y0, x1, y1], page px
    document_date: Mapped[date | None] = mapped_column(Date)
    canonical_sha256: Mapped[str] = mapped_column(String(64))
    claimed_seal_id: Mapped[str | None] = mapped_column(String(64), index=True)
    verdict: Mapped[str | None] = mapped_column(String(32))  # of the comparison with it
    score: Mapped[float | None] = mapped_column(Float)  # identification score of that seal
    filed_by: Mapped[str | None] = mapped_column(String(200))
    filed_at: Mapped[datetime] = mapped_column(DateTime)


guard_append_only(CaseImprintRow, "case imprint")


@dataclass(frozen=True)
class CaseImprint:
    """One filed case imprint. ``box`` ``(x0, y0, x1, y1)`` page px of its document page."""

    id: int
    case: str
    document: str
    document_sha256: str | None
    page: int
    box: tuple[float, float, float, float]
    date: date | None
    canonical_sha256: str
    claimed_seal_id: str | None
    verdict: str | None
    score: float | None
    filed_by: str | None
    filed_at: datetime


@dataclass(frozen=True)
class CaseLink:
    """An earlier case imprint judged to come from the same physical seal. ``basis``
    ``deviation`` (both claimed to be one filed seal: ``score`` the agreement of their
    deviations from its master) or ``registration`` (``score`` the registered ink correlation
    of the two, ``polar`` the aligned polar correlation of the shortlist)."""

    imprint: CaseImprint
    score: float
    basis: str
    polar: float | None = None


@dataclass(frozen=True)
class CaseFinding:
    """One imprint of a document examined for a case: its identification in the registry,
    the comparison with the matched seal (None without one), the earlier case imprints it is
    linked to (best first), whether it is a suspect imprint, and its record once filed."""

    identification: Identification
    verification: Verification | None
    links: tuple[CaseLink, ...]
    suspect: bool
    filed: CaseImprint | None = None


def _info(r: CaseImprintRow) -> CaseImprint:
    return CaseImprint(r.id, r.case_number, r.document, r.document_sha256, r.page,
                       tuple(json.loads(r.box)), r.document_date, r.canonical_sha256,
                       r.claimed_seal_id, r.verdict, r.score, r.filed_by, r.filed_at)


def case_number(text: str) -> str:
    """A case number, trimmed; refused when empty, over 64 characters or holding controls."""
    s = (text or "").strip()
    if not _CASE.fullmatch(s):
        raise InvalidParameterError(f"case: {text!r} is not a case number (1 to 64 printable "
                                    f"characters)", )
    return s


class CaseIndex:
    """The case imprints of one registry: their rows, canonical imprints and vector index,
    searched with the registry's embedder."""

    def __init__(self, search: SealSearch, *, threshold: float = LINK_THRESHOLD,
                 deviation_threshold: float = DEVIATION_THRESHOLD) -> None:
        self.search = search
        self.store = search.store
        self.embedder = search.embedder
        self.threshold = threshold
        self.deviation_threshold = deviation_threshold
        engine = self.store.engine
        with engine.execution_options(sqlite_begin="BEGIN IMMEDIATE").begin() as conn:
            _Base.metadata.create_all(conn)
            for stmt in append_only_ddl(CaseImprintRow.__tablename__).get(engine.dialect.name,
                                                                           []):
                conn.exec_driver_sql(stmt)
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(sqlite_begin="BEGIN IMMEDIATE"),
                                   expire_on_commit=False)
        self._vectors = FollowedIndex(
            self.index_path,
            new=lambda: VectorIndex(self.embedder.dimension, self.embedder.model_id),
            extent=self.extent, row_ids=self._row_ids, embed=self._embed, what="case index")
        self._polar = lru_cache(maxsize=4096)(
            lambda ci: imprint_spectrum(self.imprint(ci)))
        self._canonical = lru_cache(maxsize=256)(self._load)
        # an earlier imprint's deviation is asked for by every later imprint of its seal
        self._deviation = lru_cache(maxsize=128)(self._deviation_of)

    # -- records ----------------------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        name = self.embedder.model_id.split("-")[0]
        return self.store.home / "vectors" / f"cases-{name}.faiss"

    def canonical_path(self, sha256: str) -> Path:
        return (self.store.home / "cases" / "canonical" / CANONICAL_VERSION / sha256[:2]
                / f"{sha256}.npz")

    def file(self, imprint: RectifiedImprint, *, case: str, document: str,
             document_sha256: str | None = None, on: date | None = None,
             claimed_seal_id: str | None = None, verdict: str | None = None,
             score: float | None = None, filed_by: str | None = None) -> CaseImprint:
        """File ``imprint`` under ``case``: its canonical imprint first (content-addressed,
        so a crash leaves at most an unreferenced file), then its row, then the index."""
        case = case_number(case)
        document = (document or "").strip()[:200] or "document"
        data = archive.to_bytes(imprint)
        sha = hashlib.sha256(data).hexdigest()
        path = self.canonical_path(sha)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(path, data)
        except OSError as exc:
            raise OutputError(f"{path}: cannot store the case imprint ({exc})") from exc
        d = imprint.detection
        row = CaseImprintRow(
            case_number=case, document=document, document_sha256=document_sha256,
            page=int(d.page), box=json.dumps([round(float(v), 1) for v in d.box]),
            document_date=on, canonical_sha256=sha, claimed_seal_id=claimed_seal_id,
            verdict=verdict, score=None if score is None else float(score),
            filed_by=(filed_by or "").strip()[:200] or None,
            filed_at=datetime.now().replace(microsecond=0))
        with self._write.begin() as s:
            s.add(row)
            s.flush()
            filed = _info(row)
        self._vectors.reload()  # re-read: another process may have saved since
        return filed

    def get(self, imprint_id: int) -> CaseImprint:
        with self._read() as s:
            row = s.get(CaseImprintRow, imprint_id)
            if row is None:
                raise UnknownCaseError(f"no case imprint with id {imprint_id}")
            return _info(row)

    def imprints(self, case: str | None = None) -> list[CaseImprint]:
        """Every case imprint (of one case when given), in filing order."""
        q = select(CaseImprintRow).order_by(CaseImprintRow.id)
        if case is not None:
            q = q.where(CaseImprintRow.case_number == case_number(case))
        with self._read() as s:
            return [_info(r) for r in s.scalars(q)]

    def imprint(self, ci: CaseImprint) -> RectifiedImprint:
        """The stored canonical imprint, checked against its hash."""
        return self._canonical(ci)

    def _load(self, ci: CaseImprint) -> RectifiedImprint:
        path = self.canonical_path(ci.canonical_sha256)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RegistryIntegrityError(f"{path}: case imprint {ci.id} is missing "
                                         f"({exc.strerror or exc})") from exc
        if hashlib.sha256(data).hexdigest() != ci.canonical_sha256:
            raise RegistryIntegrityError(f"{path}: case imprint {ci.id} does not match its hash")
        return archive.from_bytes(data, source=str(path))

    def extent(self) -> tuple[int, int]:
        with self._read() as s:
            n, top = s.execute(select(func.count(CaseImprintRow.id),
                                      func.max(CaseImprintRow.id))).one()
            return int(n or 0), int(top or 0)

    # -- the index ----------------------------------------------------------------------------

    def index(self) -> VectorIndex:
        """The case index, loaded or rebuilt, in line with the store's case imprints."""
        return self._vectors.current()

    def rebuild(self) -> VectorIndex:
        """A fresh index of every case imprint in the store, replacing the saved one."""
        return self._vectors.rebuild()

    def _row_ids(self) -> list[int]:
        with self._read() as s:
            return list(s.scalars(select(CaseImprintRow.id)))

    def _embed(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Embeddings of case imprints by id; a missing or altered canonical file stops the
        sync (:class:`RegistryIntegrityError`) rather than leaving the imprint unsearchable."""
        with self._read() as s:
            rows = s.scalars(select(CaseImprintRow).where(CaseImprintRow.id.in_(ids))
                             .order_by(CaseImprintRow.id))
            imprints = [_info(r) for r in rows]
        if not imprints:
            return {}
        vecs = self.embedder.embed([self.imprint(ci) for ci in imprints])
        return {ci.id: np.asarray(v) for ci, v in zip(imprints, vecs, strict=True)}

    # -- linking ------------------------------------------------------------------------------

    def scored(self, imprint: RectifiedImprint, *, seal_ids: Sequence[str] = (),
               shortlist: int = LINK_SHORTLIST, compared: int = LINK_COMPARED,
               exclude: Iterable[int] = ()) -> list[CaseLink]:
        """Every earlier case imprint compared with ``imprint``, with its link score, best
        first, whether or not it reaches its threshold (what calibration reads).
        ``seal_ids``: the filed seals ``imprint`` may stand for (its match, its candidates),
        through whose masters it is compared with the earlier imprints claimed to be theirs."""
        skip = set(exclude)
        links = self._through_masters(imprint, seal_ids, skip)
        skip |= {link.imprint.id for link in links}
        links += self._registered(imprint, shortlist, compared, skip)
        return sorted(links, key=lambda link: (-link.score, link.imprint.id))

    def _through_masters(self, imprint: RectifiedImprint, seal_ids: Sequence[str],
                         skip: set[int]) -> list[CaseLink]:
        """The earlier case imprints claimed to be one of ``seal_ids``, each scored by the
        agreement of its deviation from that seal's master with the new imprint's."""
        wanted = list(dict.fromkeys(s for s in seal_ids if s))
        if not wanted:
            return []
        with self._read() as s:
            earlier = [_info(r) for r in s.scalars(
                select(CaseImprintRow).where(CaseImprintRow.claimed_seal_id.in_(wanted))
                .order_by(CaseImprintRow.id)) if r.id not in skip]
        out = []
        for seal_id in wanted:
            theirs = [ci for ci in earlier if ci.claimed_seal_id == seal_id]
            master = self._master(seal_id) if theirs else None
            if master is None:
                continue
            query = deviation(imprint, master[1], master[0])
            for ci in theirs:
                try:
                    score = agreement(query, self._deviation(ci, seal_id))
                except ImprintError as exc:
                    log.warning("case imprint %d skipped: %s", ci.id, exc)
                    continue
                if score == score:  # NaN: the two share too little of the seal
                    out.append(CaseLink(ci, float(score), "deviation"))
        return out

    def _master(self, seal_id: str) -> tuple[int, RectifiedImprint] | None:
        """The seal's first master that can be compared (one master, so that every
        deviation from the seal is measured against the same one), or None."""
        try:
            masters = self.store.masters_of(seal_id)
        except UnknownRecordError:
            return None
        for m in masters:
            with contextlib.suppress(ImprintError):
                return m.id, self.search.canonical(m)
        return None

    def _deviation_of(self, ci: CaseImprint, seal_id: str) -> Deviation:
        master = self._master(seal_id)
        if master is None:
            raise ImprintError(f"seal {seal_id} has no master imprint that can be compared")
        return deviation(self.imprint(ci), master[1], master[0])

    def _registered(self, imprint: RectifiedImprint, shortlist: int, compared: int,
                    skip: set[int]) -> list[CaseLink]:
        """Earlier case imprints shortlisted by embedding and polar correlation, scored by
        the registered ink correlation."""
        index = self.index()
        if len(index) == 0:
            return []
        found = index.search(self.embedder.embed([imprint]), shortlist)
        query = imprint_spectrum(imprint)
        polar = []
        for cid in (int(i) for i in found.ids[0] if i >= 0 and int(i) not in skip):
            ci = self.get(cid)
            try:
                p, _turn = correlate_polar(query, self._polar(ci))
            except ImprintError as exc:
                log.warning("case imprint %d skipped: %s", cid, exc)
                continue
            if p >= LINK_FLOOR:
                polar.append((p, ci))
        polar.sort(key=lambda t: (-t[0], t[1].id))
        return [CaseLink(ci, float(compare(imprint, self.imprint(ci)).alignment.correlation),
                         "registration", float(p)) for p, ci in polar[:compared]]

    def links(self, imprint: RectifiedImprint, **kwargs: Any) -> list[CaseLink]:
        """Earlier case imprints from the same physical seal as ``imprint``, best first."""
        return [link for link in self.scored(imprint, **kwargs)
                if link.score >= (self.deviation_threshold if link.basis == "deviation"
                                  else self.threshold)]


def claimed_seal(ident: Identification) -> str | None:
    """The filed seal an imprint stands for: its match, else its best candidate."""
    return ident.match or (ident.candidates[0].seal_id if ident.candidates else None)


def seals_of(ident: Identification) -> list[str]:
    """The filed seals an imprint may stand for, the claimed one first: a fax of a fake is
    not always identified as the seal its earlier imprints were."""
    return list(dict.fromkeys([s for s in [claimed_seal(ident)] if s]
                              + [c.seal_id for c in ident.candidates]))


def _is_suspect(ident: Identification, v: Verification | None) -> bool:
    """Matches no filed seal, or is judged a forgery of the one it matches."""
    return ident.match is None or (v is not None and v.comparison.verdict in SUSPECT_VERDICTS)


def examine_for_case(search: SealSearch, cases: CaseIndex, pages: Iterable[Page], *,
                     top_k: int = 5, on: date | None = None,
                     check: Callable[[], None] | None = None) -> list[CaseFinding]:
    """Every imprint on the pages: identified in the registry, compared with its match, and
    searched against the earlier case imprints. ``check`` is called between imprints (a
    request's time limit)."""
    check = check or (lambda: None)
    out = []
    for page in pages:
        check()
        imps = rectified_imprints(page.image, dpi=page.dpi[0] if page.dpi else None,
                                  page=page.index)
        for ident in search.identify(imps, top_k=top_k, on=on):
            check()
            v = identified(search, ident, on=on)
            links = cases.links(ident.imprint, seal_ids=seals_of(ident))
            out.append(CaseFinding(ident, v, tuple(links),
                                   _is_suspect(ident, v)))
    return out


def file_findings(cases: CaseIndex, findings: Sequence[CaseFinding], *, case: str,
                  document: str, document_sha256: str | None = None, on: date | None = None,
                  filed_by: str | None = None) -> list[CaseFinding]:
    """File the suspect imprints among ``findings`` under ``case`` (after every imprint of
    the document was searched, so that none links to itself); returns the findings with the
    records of those filed."""
    case = case_number(case)
    out = []
    for f in findings:
        filed = None
        if f.suspect:
            ident, v = f.identification, f.verification
            filed = cases.file(ident.imprint, case=case, document=document,
                               document_sha256=document_sha256, on=on,
                               claimed_seal_id=claimed_seal(ident),
                               verdict=v.comparison.verdict if v else "no_match",
                               score=ident.candidates[0].score if ident.candidates else None,
                               filed_by=filed_by)
        out.append(CaseFinding(f.identification, f.verification, f.links, f.suspect, filed))
    return out


def case_imprint_record(ci: CaseImprint) -> dict:
    return {"id": ci.id, "case": ci.case, "document": ci.document,
            "document_sha256": ci.document_sha256, "page": ci.page, "box": list(ci.box),
            "date": ci.date.isoformat() if ci.date else None,
            "claimed_seal_id": ci.claimed_seal_id, "verdict": ci.verdict,
            "score": None if ci.score is None else round(ci.score, 4),
            "filed_by": ci.filed_by, "filed_at": ci.filed_at.isoformat()}


def link_record(link: CaseLink) -> dict:
    ci = link.imprint
    return {"case": ci.case, "document": ci.document, "page": ci.page,
            "date": ci.date.isoformat() if ci.date else None, "score": round(link.score, 4),
            "basis": link.basis,
            "case_imprint_id": ci.id, "claimed_seal_id": ci.claimed_seal_id}


def finding_record(f: CaseFinding) -> dict:
    """One imprint examined for a case, as JSON-ready data (``imprint cases ... --json``)."""
    ident, v = f.identification, f.verification
    d = ident.imprint.detection
    return {"page": d.page, "box": [round(x, 1) for x in d.box], "shape": d.shape,
            "colour": d.colour,
            "candidates": [c.record() for c in ident.candidates],
            "match": ident.match, "status": ident.status.value if ident.status else None,
            "verdict": v.comparison.verdict if v else None,
            "log10_lr": round(v.comparison.log10_lr, 2) if v else None,
            "status_flag": v.status_flag if v else None, "suspect": f.suspect,
            "filed": case_imprint_record(f.filed) if f.filed else None,
            "linked_cases": [link_record(link) for link in f.links]}
