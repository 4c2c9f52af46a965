"""1:N identification: which filed seal is this imprint meant to be?

Reads top to bottom in :meth:`SealSearch.identify`: embed the rectified query
(:mod:`models.embedder`); take a shortlist of masters from the FAISS index
(:mod:`index.vectors`); re-rank the shortlist by aligning the query with each master's stored
canonical imprint and correlating them (:func:`models.classical.aligned_correlation`); then
decide, open-set: the best candidates are laid on their masters as the forensic comparator
does (:func:`imprint.align.align`), and the one whose strokes agree best with its master's
everywhere (no character-sized window where they differ both ways, :data:`MATCH_THRESHOLD`)
is the match; else "no registered seal". A correlation alone cannot say it: seals of one
template share their border, star and layout, and a look-alike name differs in one
character among twenty.

The registry store is the source of truth. Everything here is derived from it and rebuilt when
missing or stale: each master's canonical imprint (``canonical/``, written when the master is
filed, or on first use for masters imported in bulk) and the vector index (``vectors/``),
which is brought in line with the store's masters whenever it is opened. Both are of one
imaging version (:data:`imprint.pipeline.IMAGING_VERSION`): a registry opened by code that
rectifies otherwise rectifies its masters again and rebuilds its index, once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from imprint import archive, pipeline
from imprint.align import align
from imprint.errors import ImprintError, InvalidParameterError
from imprint.evidence import StrokeMatch, match_strokes, preference
from imprint.memo import per_imprint
from imprint.pipeline import single_imprint
from imprint.types import Alignment, RectifiedImprint
from index.errors import IndexStateError, UnknownIdError
from index.followed import FollowedIndex
from index.store import MasterInfo, RegistryStore, SealStatus, SealView
from index.vectors import DEFAULT_FACTORY, VectorIndex
from models.classical import (
    PolarSpectrum,
    alignment_polar,
    correlate_polar,
    imprint_spectrum,
    polar_spectrum,
)
from models.embedder import Embedder, get_embedder

log = logging.getLogger(__name__)

#: Masters re-ranked per query: the FAISS shortlist. Wide enough that a genuine imprint's seal
#: is in it even when its embedding is hurt by occlusion or a poor capture.
SHORTLIST = 20
#: The shortlist widened to this many when no candidate of the first :data:`SHORTLIST` agrees
#: with its master: an imprint whose embedding is hurt most (a fax's print kept with its ink,
#: a faint or half-covered imprint) can still align with its own master better than with any
#: other. Costs the wider re-ranking (and a comparison or two) only on imprints about to be
#: answered "no registered seal".
WIDE_SHORTLIST = 100
#: Candidates (best re-ranked first) compared with their master before the answer is "no
#: registered seal".
CONFIRMED = 2
#: ... and at most this many more, each only while it re-ranks within :data:`RIVAL_MARGIN` of
#: an agreeing one: a seal with a numbered sibling and a look-alike name re-ranks all three
#: together, in any order.
RIVALS = 2
#: The match's nearest filed neighbours (by the masters' own vectors) re-ranked with the
#: shortlist, with its numbered siblings: a look-alike or a sibling beyond the shortlist is
#: still weighed against it (the embedding, trained with both as hard negatives, can put
#: them far apart).
NEIGHBOURS = 3
#: Once a candidate agrees, the next is compared too when it re-ranks this close to it: a
#: numbered sibling or a look-alike name, told apart by which agrees better.
RIVAL_MARGIN = 0.05
#: How much better the imprint's ink must correlate with another agreeing candidate's master
#: than with the better agreeing one's, where the two masters differ, for it to be the match
#: instead (:func:`imprint.evidence.preference`).
PREFERENCE_MARGIN = 0.1
#: An oval photographed at a slant lies off its master's centre once rectified (its fitted
#: ellipse's centre is not the seal's under perspective: 8 to 12 canonical px on development
#: photos), where the polar images' correlation falls to that of any other seal: an oval is
#: re-ranked at its best of the offsets of this many px (and none) either way along x and y.
OVAL_OFFSETS = 8
#: Re-ranked score below which a candidate is not compared: a seal that does not correlate
#: even this well at its best turn is not the one. Starved imprints (a scatter of dots) and
#: faint ones correlate with their own seal's solid strokes as low as 0.19 on development
#: registries, and are told by the comparison all the same; an unregistered probe's best
#: candidates are compared anyway (2.1 comparisons each there, against 1.7 over all probes).
COMPARE_FLOOR = 0.15
#: Agreement (1 - the comparison's ``substituted_ink``) at or above which a compared candidate
#: is declared the match: the operating point of 1 % of unregistered probes matched (FPIR) on
#: the calibration registry of ``python -m bench identify`` (seed 20261125: 500 filed seals,
#: 200 unregistered probes over every capture), never on the test registry it is reported on;
#: for the default (classical) embedder, the learned one's 0.770.
MATCH_THRESHOLD = 0.755
#: Masters' rectified imprints kept in memory as stored (about 0.3 MB each), so that a search
#: or a sweep over a registry of a few hundred seals reads each file once.
PACKED_MASTERS = 512


def _per_seal(ranked: Sequence[Candidate]) -> list[Candidate]:
    """One line per seal: its best master, the first of it in the ranking."""
    best: dict[str, Candidate] = {}
    for c in ranked:
        best.setdefault(c.seal_id, c)
    return list(best.values())


@per_imprint(8)
def _query_polars(imp: RectifiedImprint) -> list[PolarSpectrum]:
    """The imprint's polar images for the re-ranking: about its centre, and for an oval about
    :data:`OVAL_OFFSETS` round it too."""
    out = [imprint_spectrum(imp)]
    if imp.detection.shape != "oval":
        return out
    size = imp.ink.shape[::-1]
    ink, occ = imp.ink.astype(np.float32), imp.occlusion.view(np.uint8)
    for dx in (-OVAL_OFFSETS, 0, OVAL_OFFSETS):
        for dy in (-OVAL_OFFSETS, 0, OVAL_OFFSETS):
            if dx or dy:
                shift = np.float32([[1, 0, -dx], [0, 1, -dy]])
                moved = dataclasses.replace(
                    imp, ink=cv2.warpAffine(ink, shift, size),
                    occlusion=cv2.warpAffine(occ, shift, size, flags=cv2.INTER_NEAREST,
                                             borderValue=1).view(bool))
                out.append(polar_spectrum(alignment_polar(moved)))
    return out


def canonical_path(home: Path, sha256: str) -> Path:
    """Where the rectified imprint of the master with this hash is kept in a registry, by the
    imaging version that made it (those of another version are not read)."""
    return (home / "canonical" / f"v{pipeline.IMAGING_VERSION}" / sha256[:2]
            / f"{sha256}.npz")


@dataclass(frozen=True)
class Candidate:
    """A filed seal the imprint may be. ``score`` aligned correlation with the master (ranks);
    ``similarity`` cosine of the embeddings (the shortlist's order); ``turn`` degrees the query
    was turned to align with the master; ``agreement`` 1 - the share of strokes that differ
    both ways in the worst character-sized window, once compared with the master (decides),
    None when not compared."""

    seal_id: str
    master_id: int
    score: float
    similarity: float
    turn: float
    agreement: float | None = None

    def record(self) -> dict:
        """JSON-ready, rounded to what the scores can support (``agreement`` null when not
        compared): the candidates of ``imprint identify --json`` and of case findings."""
        return {"seal_id": self.seal_id, "score": round(self.score, 4),
                "similarity": round(self.similarity, 4),
                "agreement": None if self.agreement is None else round(self.agreement, 4)}


@dataclass(frozen=True)
class Identification:
    """One imprint's answer: candidates best first (the match first), the matched seal or
    None, and ``score``: the best agreement of a compared candidate (0 when none was close
    enough to compare), the open-set decision's score. ``strokes``: the imprint laid on the
    match's master (``candidates[0].master_id``) and its strokes compared, for the
    verification to reuse; ``alignment`` its alignment; ``view``: the match's seal as read
    on ``on`` (its masters too, for the verification), whose ``status`` is the match's."""

    imprint: RectifiedImprint
    candidates: tuple[Candidate, ...]
    match: str | None
    score: float = 0.0
    strokes: StrokeMatch | None = None
    view: SealView | None = None
    on: date | datetime | None = None

    @property
    def status(self) -> SealStatus | None:
        """The match's registry status now, or on ``on`` (None without a match)."""
        return None if self.view is None else self.view.status

    @property
    def alignment(self) -> Alignment | None:
        return None if self.strokes is None else self.strokes.alignment


class SealSearch:
    """Identification over one registry: its store, the canonical imprints of its masters, and
    the vector index of one embedder."""

    def __init__(self, store: RegistryStore, embedder: Embedder | str | None = None, *,
                 factory: str = DEFAULT_FACTORY, threshold: float = MATCH_THRESHOLD,
                 progress: Callable[[Iterator, int, str], Iterator] | None = None) -> None:
        self.store = store
        self.embedder = embedder if not isinstance(embedder, str | None) else get_embedder(
            embedder)
        self.factory = factory
        self.threshold = threshold
        self._vectors = FollowedIndex(
            self.index_path, new=lambda: VectorIndex(self.embedder.dimension,
                                                     self.index_model_id, self.factory),
            extent=store.master_extent, row_ids=lambda: (m for m, _, _ in store.iter_masters()),
            embed=self._embed_masters, what="vector index")
        self._progress = progress or (lambda it, _n, _desc: it)
        # masters as stored (a fifth of their size unpacked), and the few most recent unpacked
        self._packed = lru_cache(maxsize=PACKED_MASTERS)(self._load_packed)
        self._canonical = lru_cache(maxsize=64)(lambda m: self._packed(m).unpack())
        # the re-ranking view of a master: small, and asked for again by every search that
        # shortlists it
        # one master laid on another (two agreeing candidates told apart): the same pair comes
        # back for every imprint of either seal (a few MB each: a few dozen pairs)
        self._laid = lru_cache(maxsize=32)(self._master_on_master)
        self._polar = lru_cache(maxsize=2048)(
            lambda m: imprint_spectrum(self.canonical(m)))

    # -- derived files ----------------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        name = self.embedder.model_id.split("-")[0]
        return self.store.home / "vectors" / f"{name}.faiss"

    @property
    def index_model_id(self) -> str:
        """What the index's vectors are: the embedder's, of masters rectified by this imaging
        version; an index saved under another is rebuilt."""
        return f"{self.embedder.model_id}+imaging-{pipeline.IMAGING_VERSION}"

    def canonical_path(self, sha256: str) -> Path:
        return canonical_path(self.store.home, sha256)

    def canonical(self, master: MasterInfo) -> RectifiedImprint:
        """The master's rectified imprint, from its stored file or rectified now and stored."""
        return self._canonical(master)

    def _load_packed(self, master: MasterInfo) -> archive.Packed:
        path = self.canonical_path(master.sha256)
        with contextlib.suppress(ImprintError):
            return archive.load_packed(path)
        image = self.store.load_master_image(master)
        r = single_imprint(image, dpi=master.dpi, what=f"master {master.id} of {master.seal_id}")
        archive.save(path, r)
        return archive.pack(r)

    # -- the index ----------------------------------------------------------------------------

    def index(self) -> VectorIndex:
        """The vector index, loaded (or rebuilt when missing, damaged or of another model)
        and brought in line with the store's masters; masters filed or withdrawn since, by
        this process or another (a second service worker, the command line), are picked up by
        the next call, at the cost of one count query when nothing changed."""
        return self._vectors.current()

    def follow(self) -> VectorIndex:
        """The index re-read from its file and brought in line with the store, and saved:
        after this process filed a master (its canonical imprint kept before its row,
        :meth:`keep_canonical`), or another process (the service's filing process) filed and
        saved, without embedding again what it embedded."""
        return self._vectors.reload()

    def rebuild(self) -> VectorIndex:
        """A fresh index of every master in the store, replacing the saved one."""
        return self._vectors.rebuild()

    def _embed_masters(self, master_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Embeddings of masters by id; a master whose image holds no usable imprint is left
        out (and logged), not allowed to stop the others."""
        imprints: dict[int, RectifiedImprint] = {}
        for mid in self._progress(iter(master_ids), len(master_ids), "masters"):
            try:
                imprints[mid] = self.canonical(self.store.get_master(mid))
            except ImprintError as exc:
                log.warning("master %d left out of the index: %s", mid, exc)
        if not imprints:
            return {}
        vecs = self.embedder.embed(list(imprints.values()))
        return dict(zip(imprints, vecs, strict=True))

    def keep_canonical(self, sha256: str, imprint: RectifiedImprint) -> None:
        """Keep ``imprint`` as the rectified imprint of the master image with this hash."""
        archive.save(self.canonical_path(sha256), imprint)

    # -- search -----------------------------------------------------------------------------

    def identify(self, imprints: Sequence[RectifiedImprint], *, top_k: int = 5,
                 shortlist: int = SHORTLIST, on: date | datetime | None = None
                 ) -> list[Identification]:
        """Candidates (best ``top_k``) and the open-set decision for each imprint; a match's
        registry status now, or ``on`` a document's date."""
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InvalidParameterError(f"top_k must be a positive integer, got {top_k!r}")
        if not imprints:
            return []
        index = self.index()
        shortlist = max(shortlist, top_k)
        vectors = self.embedder.embed(imprints)
        found = index.search(vectors, max(shortlist, WIDE_SHORTLIST))
        out = []
        for imp, vec, ids, sims in zip(imprints, vectors, found.ids, found.scores, strict=True):
            listed = [(int(i), float(s)) for i, s in zip(ids, sims, strict=True) if i >= 0]
            # one read of the shortlist's masters for the re-ranking and the confirmation
            masters = self.store.get_masters(mid for mid, _ in listed[:shortlist])
            ranked = self.rerank(imp, listed[:shortlist], masters)
            done: dict[int, StrokeMatch] = {}
            cands, strokes = self._confirm(imp, _per_seal(ranked), masters, done)
            if strokes is None and len(listed) > shortlist:
                wider = listed[shortlist:]
                masters.update(self.store.get_masters(mid for mid, _ in wider))
                ranked = sorted([*ranked, *self.rerank(imp, wider, masters)],
                                key=lambda c: -c.score)
                cands, strokes = self._confirm(imp, _per_seal(ranked), masters, done)
            if strokes is not None:
                # a numbered sibling or a look-alike of the match, its nearest filed
                # neighbours, can lie beyond the shortlist when the imprint's embedding is hurt,
                # or in it behind the candidates compared: each is weighed against the match
                unit = vec / max(float(np.linalg.norm(vec)), 1e-12)
                neighbours = self._neighbours(index, cands[0].seal_id, cands[0].master_id)
                near = [(mid, float(unit @ v)) for mid, v in neighbours if mid not in masters]
                if near:
                    masters.update(self.store.get_masters(mid for mid, _ in near))
                    ranked = sorted([*ranked, *self.rerank(imp, near, masters)],
                                    key=lambda c: -c.score)
                if near or any(mid not in done for mid, _ in neighbours):
                    cands, strokes = self._confirm(imp, _per_seal(ranked), masters, done,
                                                   frozenset(mid for mid, _ in neighbours))
            match = cands[0].seal_id if strokes is not None else None
            view = self.store.seal_view(match, on) if match else None
            score = max((c.agreement for c in cands if c.agreement is not None), default=0.0)
            out.append(Identification(imp, tuple(cands[:top_k]), match, score, strokes, view,
                                      on))
        return out

    def _neighbours(self, index: VectorIndex, seal_id: str, master_id: int,
                    siblings: Sequence[int] | None = None) -> list[tuple[int, np.ndarray]]:
        """The masters of the seal's numbered siblings (the registry's; ``siblings``, their
        ids, where already read) and the :data:`NEIGHBOURS` nearest its master
        ``master_id``'s own vector (look-alikes), with their vectors."""
        ids = (list(siblings) if siblings is not None
               else [m.id for m in self.store.sibling_masters(seal_id)])
        try:
            found = index.search(index.reconstruct(master_id), NEIGHBOURS + 1)
            ids += [int(i) for i in found.ids[0] if i >= 0]
            return [(i, index.reconstruct(i)) for i in dict.fromkeys(ids)
                    if i != master_id and i in index]
        except (UnknownIdError, IndexStateError) as exc:  # withdrawn meanwhile; a PQ index
            log.warning("neighbours of master %d not searched: %s", master_id, exc)
            return []

    def rival(self, imp: RectifiedImprint, seal_id: str, master_id: int,
              laid: Alignment | StrokeMatch) -> tuple[str, float] | None:
        """The filed seal the imprint rather is, where it agrees with ``seal_id``'s master
        ``master_id`` (``laid``: its alignment on it, or its strokes compared there): one of
        that seal's numbered siblings (wherever it re-ranks) or nearest filed neighbours
        (:meth:`_neighbours`, re-ranking near it) that agrees too, and whose master the
        imprint's ink follows where the two differ by more than :data:`PREFERENCE_MARGIN`.
        Returns (its seal id, that margin), or None."""
        index = self.index()
        siblings = [m.id for m in self.store.sibling_masters(seal_id)]
        near = [mid for mid, _ in self._neighbours(index, seal_id, master_id, siblings)]
        masters = self.store.get_masters([master_id, *near])
        near = [mid for mid in near if mid in masters and masters[mid].seal_id != seal_id]
        if not near or master_id not in masters:
            return None
        ranked = {c.master_id: c for c in self.rerank(imp, [(m, 0.0) for m in (master_id, *near)],
                                                      masters)}
        if master_id not in ranked:
            return None
        held = self.canonical(masters[master_id])
        found: tuple[str, float] | None = None
        for mid in near:
            c = ranked.get(mid)
            if c is None or (ranked[master_id].score - c.score > RIVAL_MARGIN
                             and mid not in siblings):
                continue
            try:
                other = self.canonical(masters[mid])
            except ImprintError as exc:
                log.warning("master %d skipped as a rival: %s", mid, exc)
                continue
            if 1.0 - match_strokes(other, align(imp, other)).substituted < self.threshold:
                continue
            if not isinstance(laid, StrokeMatch):  # (only now that it is needed)
                laid = match_strokes(held, laid)
            margin = -preference(held, laid, self._laid(masters[mid], masters[master_id]))
            if margin > PREFERENCE_MARGIN and (found is None or margin > found[1]):
                found = (c.seal_id, margin)
        return found

    def _confirm(self, imp: RectifiedImprint, cands: list[Candidate],
                 masters: dict[int, MasterInfo], done: dict[int, StrokeMatch],
                 neighbours: frozenset[int] = frozenset()
                 ) -> tuple[list[Candidate], StrokeMatch | None]:
        """Lay the imprint on the masters of the best :data:`CONFIRMED` candidates, in order;
        once one agrees, on the next (up to :data:`RIVALS` beyond them) only while it re-ranks
        within :data:`RIVAL_MARGIN` of it (a numbered sibling, a look-alike), on the
        agreeing seal's numbered siblings wherever they re-rank, and on the masters
        ``neighbours`` (a match's nearest filed neighbours, :meth:`_neighbours`: look-alike
        names) wherever they re-rank within :data:`RIVAL_MARGIN` of it. Of those that agree, the
        best agreeing one the imprint sides with against every other where their masters
        differ is the match (:func:`imprint.evidence.preference`), put first.
        Returns the candidates with their agreements and the match's strokes compared (None:
        no match)."""
        # the imprint's comparisons already made (``done``, by master) are not made again
        cands = [dataclasses.replace(c, agreement=1.0 - done[c.master_id].substituted)
                 if c.master_id in done else c for c in cands]
        # ... and one that agreed stays in the running, wherever it now ranks: a look-alike
        # brought in later can re-rank above it without agreeing
        agreeing = [(k, done[c.master_id]) for k, c in enumerate(cands)
                    if c.master_id in done and c.agreement >= self.threshold]

        def compare(k: int) -> None:
            c = cands[k]
            if any(k == a[0] for a in agreeing):
                return
            if c.master_id not in done:
                try:
                    master = self.canonical(masters[c.master_id])
                except ImprintError as exc:
                    log.warning("master %d skipped in confirming: %s", c.master_id, exc)
                    return
                done[c.master_id] = match_strokes(master, align(imp, master))
                cands[k] = dataclasses.replace(c, agreement=1.0 - done[c.master_id].substituted)
            if cands[k].agreement >= self.threshold:
                agreeing.append((k, done[c.master_id]))

        for k, c in enumerate(cands[:CONFIRMED + RIVALS]):
            best = max(agreeing, key=lambda a: cands[a[0]].agreement, default=None)
            if c.score < COMPARE_FLOOR or (k >= CONFIRMED and best is None) or (
                    best is not None and cands[best[0]].score - c.score > RIVAL_MARGIN):
                break
            compare(k)
        if not agreeing:
            return cands, None
        # the agreeing seal's numbered siblings, however far behind they re-rank: the polar
        # correlation barely tells a "(1)" from a "(2)", and blur or print across the rest of
        # the face moves it more than that
        best = max(agreeing, key=lambda a: cands[a[0]].agreement)
        siblings = {m.id for m in self.store.sibling_masters(cands[best[0]].seal_id)}
        for k, c in enumerate(cands):
            if c.master_id in siblings and c.score >= COMPARE_FLOOR:
                compare(k)  # (one compared or agreeing already is not compared again)
        # ... and its look-alikes where they re-rank as close to it as the rivals compared
        # above: one character among twenty moves the polar correlation less than the
        # capture does, and a shortlist can hold several candidates between them
        for k, c in enumerate(cands):
            if (c.master_id in neighbours and c.score >= COMPARE_FLOOR
                    and cands[best[0]].score - c.score <= RIVAL_MARGIN):
                compare(k)
        agreeing.sort(key=lambda a: -cands[a[0]].agreement)

        def beaten(a: tuple[int, StrokeMatch], b: tuple[int, StrokeMatch]) -> bool:
            # the imprint follows b's master rather than a's, where the two differ
            held = masters[cands[a[0]].master_id]
            rival = self._laid(masters[cands[b[0]].master_id], held)
            return preference(self.canonical(held), a[1], rival) < -PREFERENCE_MARGIN

        # the best agreeing one that no other beats where their masters differ (by
        # :data:`PREFERENCE_MARGIN`); where each is beaten by another, the best agreeing
        k, strokes = next((a for a in agreeing
                           if not any(beaten(a, b) for b in agreeing if b is not a)),
                          agreeing[0])
        return [cands[k], *cands[:k], *cands[k + 1:]], strokes

    def _master_on_master(self, rival: MasterInfo, master: MasterInfo) -> StrokeMatch:
        """``rival``'s canonical imprint laid on ``master``'s, its strokes compared (the
        rival as the questioned side)."""
        on = self.canonical(master)
        return match_strokes(on, align(self.canonical(rival), on))

    def rerank(self, imp: RectifiedImprint, shortlist: Sequence[tuple[int, float]],
               masters: dict[int, MasterInfo] | None = None) -> list[Candidate]:
        """Aligned comparison of ``imp`` with each shortlisted master; ``masters``: theirs, by
        id, when already read from the store."""
        cands = []
        queries = _query_polars(imp)
        if masters is None:
            masters = self.store.get_masters(mid for mid, _ in shortlist)
        for mid, sim in shortlist:
            if mid not in masters:
                continue  # withdrawn since the index was loaded
            master = masters[mid]
            try:
                polar = self._polar(master)
                score, turn = max(correlate_polar(q, polar) for q in queries)
            except ImprintError as exc:
                log.warning("master %d skipped in re-ranking: %s", mid, exc)
                continue
            cands.append(Candidate(master.seal_id, mid, score, sim, turn))
        return sorted(cands, key=lambda c: -c.score)
