"""Filing masters and identifying imprints against a real registry (SQLite store, FAISS index,
canonical imprints), through the library and through the ``imprint`` command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imprint.errors import NoImprintError, SeveralImprintsError
from imprint.synth.dataset import write_image
from imprint.synth.registry import make_registry
from index.filing import file_master
from index.identify import SealSearch
from index.store import RegistryStore
from index.vectors import VectorIndex
from tests.index.registries import DPI, imprint_file


@pytest.fixture(scope="module")
def seals(tmp_path_factory):
    """Four round seals: masters and a genuine probe of each, as files."""
    root = tmp_path_factory.mktemp("seals")
    rng = np.random.default_rng(4100)
    records = [r for r in make_registry(30, rng, lookalike_rate=0, sibling_rate=0)
               if r.spec.kind == "round_official"][:4]
    return [(r, imprint_file(root / f"{r.seal_id}_master.png", r, 10 + i, "clean"),
             imprint_file(root / f"{r.seal_id}_probe.png", r, 20 + i, "typical"))
            for i, r in enumerate(records)]


@pytest.fixture(scope="module")
def registry(seals, tmp_path_factory):
    home = tmp_path_factory.mktemp("registry")
    store = RegistryStore.open(home)
    search = SealSearch(store, "classical")
    for record, master, _ in seals[:3]:  # the fourth stays unregistered
        filed = file_master(search, master, seal_id=record.seal_id, unit=record.unit_name)
        assert filed.new_seal and filed.master.dpi == pytest.approx(DPI, abs=0.01)
    yield home
    store.close()


def test_filed_masters_are_indexed_and_kept_rectified(registry, seals):
    with RegistryStore.open(registry) as store:
        search = SealSearch(store, "classical")
        index = search.index()
        masters = [m for r, _, _ in seals[:3] for m in store.masters_of(r.seal_id)]
        assert sorted(index.ids().tolist()) == sorted(m.id for m in masters)
        for m in masters:
            assert search.canonical_path(m.sha256).is_file()


def test_a_genuine_imprint_is_identified_as_its_seal(registry, seals):
    from imprint.io import load_page
    from imprint.pipeline import single_imprint
    from index.verify import identified, verify

    with RegistryStore.open(registry) as store:
        search = SealSearch(store, "classical")
        probes = []
        for _, _, probe in seals:
            page = load_page(probe)[0]
            probes.append(single_imprint(page.image, dpi=DPI))
        idents = search.identify(probes, top_k=3)
        for (record, _, _), ident in zip(seals[:3], idents, strict=False):
            # the match first, confirmed by laying the imprint on its master
            assert ident.match == ident.candidates[0].seal_id == record.seal_id
            assert ident.score == ident.candidates[0].agreement >= search.threshold
            assert ident.alignment is not None
            # the verification goes on from that alignment and those strokes, and measures
            # what a verification of its own would
            reused = identified(search, ident).comparison
            assert reused.verdict == "genuine"
            # (the same registration, not laid again; the comparison adds the elastic give
            # it measured)
            assert ident.alignment is ident.strokes.alignment
            assert reused.alignment.query_ink is ident.alignment.query_ink
            assert reused.alignment.elastic_mm == reused.evidence.features["elastic_mm"]
            assert reused.evidence.features["substituted_ink"] == ident.strokes.substituted
            afresh = verify(search, ident.imprint, ident.match).comparison
            assert afresh.evidence.features == pytest.approx(reused.evidence.features)
            rest = ident.candidates[1:]
            assert rest == tuple(sorted(rest, key=lambda c: -c.score))
        # the unregistered seal's imprint matches nothing and agrees less than every genuine
        assert idents[3].match is None and idents[3].alignment is None
        assert idents[3].score < min(i.score for i in idents[:3])
        assert identified(search, idents[3]) is None


def test_filing_refuses_images_without_or_with_several_imprints(registry, seals, tmp_path):
    blank = tmp_path / "blank.png"
    write_image(blank, np.full((400, 400, 3), 245, np.uint8), DPI)
    # two imprints side by side
    a = np.asarray(Image.open(seals[0][1]).convert("RGB"))
    b = np.asarray(Image.open(seals[1][1]).convert("RGB"))
    h = min(a.shape[0], b.shape[0])
    two = tmp_path / "two.png"
    write_image(two, np.hstack([a[:h], b[:h]]), DPI)
    with RegistryStore.open(registry) as store:
        search = SealSearch(store, "classical")
        before = store.counts()
        with pytest.raises(NoImprintError):
            file_master(search, blank, seal_id="X1", unit="某某有限公司")
        with pytest.raises(SeveralImprintsError, match="crop"):
            file_master(search, two, seal_id="X2", unit="某某有限公司")
        assert store.counts() == before  # nothing filed


def test_index_is_rebuilt_when_lost_or_damaged(registry):
    with RegistryStore.open(registry) as store:
        search = SealSearch(store, "classical")
        ids = sorted(search.index().ids().tolist())
        search.index_path.write_bytes(b"torn")
        again = SealSearch(store, "classical").index()
        assert sorted(again.ids().tolist()) == ids
        VectorIndex.load(search.index_path, expect_model_id=search.index_model_id)
        search.index_path.unlink()
        assert sorted(SealSearch(store, "classical").index().ids().tolist()) == ids


def test_code_that_rectifies_otherwise_rectifies_the_masters_again_and_rebuilds_the_index(
        registry, seals, tmp_path, monkeypatch):
    """A registry opened after an upgrade of the imaging code is not compared through masters
    rectified, and vectors embedded, by the code before: both are made again, once."""
    import imprint.pipeline as pipeline
    import index.identify as identify

    home = tmp_path / "registry"
    shutil.copytree(registry, home)
    with RegistryStore.open(home) as store:
        masters = [m for r, _, _ in seals[:3] for m in store.masters_of(r.seal_id)]
        old = SealSearch(store, "classical")
        ids = sorted(old.index().ids().tolist())
        old_files = {m.id: old.canonical_path(m.sha256) for m in masters}
        assert all(p.is_file() for p in old_files.values())
        old_id = old.index_model_id

        monkeypatch.setattr(pipeline, "IMAGING_VERSION", pipeline.IMAGING_VERSION + 1)
        rectified = []
        monkeypatch.setattr(identify, "single_imprint", lambda image, **kw: (
            rectified.append(kw.get("what")), pipeline.single_imprint(image, **kw))[1])
        new = SealSearch(store, "classical")
        assert new.index_model_id != old_id
        assert sorted(new.index().ids().tolist()) == ids
        assert len(rectified) == len(masters)  # each master once, from its image
        for m in masters:
            assert new.canonical_path(m.sha256) != old_files[m.id]
            assert new.canonical_path(m.sha256).is_file()
        VectorIndex.load(new.index_path, expect_model_id=new.index_model_id)
        record, _, probe = seals[0]
        from imprint.io import load_page
        query = pipeline.single_imprint(load_page(probe)[0].image, dpi=DPI)
        assert new.identify([query])[0].match == record.seal_id
        # opened again by the same code: nothing made again
        SealSearch(store, "classical").index()
        assert len(rectified) == len(masters)


def test_a_search_follows_filings_made_elsewhere(registry, seals, tmp_path):
    """A service worker's search sees a seal filed by another worker or by the command line
    at its next identification, without a restart."""
    from imprint.io import load_page
    from imprint.pipeline import single_imprint

    home = tmp_path / "registry"
    shutil.copytree(registry, home)
    record, master, probe = seals[3]  # not filed yet
    query = single_imprint(load_page(probe)[0].image, dpi=DPI)
    with RegistryStore.open(home) as serving, RegistryStore.open(home) as elsewhere:
        search = SealSearch(serving, "classical")
        assert search.identify([query])[0].match != record.seal_id
        filed = file_master(SealSearch(elsewhere, "classical"), master, seal_id=record.seal_id,
                            unit=record.unit_name)
        assert filed.master.id in search.index()
        ident = search.identify([query])[0]
    assert ident.candidates[0].seal_id == record.seal_id


def test_a_filing_elsewhere_costs_a_following_search_no_rectification_and_no_wait(
        registry, seals, tmp_path, monkeypatch):
    """The filing keeps the master's rectified imprint before the master's row is written, so a
    service worker that sees the row does not rectify the master again itself; and the worker
    takes the master into its index in memory, without waiting on the index file, which a
    filing process at a lower priority may hold for as long as the processor leaves it."""
    import threading

    import index.identify as identify
    from index.vectors import writer_lock

    home = tmp_path / "registry"
    shutil.copytree(registry, home)
    record, master, _ = seals[3]  # not filed yet
    with RegistryStore.open(home) as serving, RegistryStore.open(home) as elsewhere:
        search = SealSearch(serving, "classical")
        search.index()
        filer = SealSearch(elsewhere, "classical")
        kept, keep = [], filer.keep_canonical
        monkeypatch.setattr(filer, "keep_canonical", lambda sha, imprint: (
            kept.append(elsewhere.master_extent()), keep(sha, imprint)))
        extent = elsewhere.master_extent()
        filed = file_master(filer, master, seal_id=record.seal_id, unit=record.unit_name)
        assert kept == [extent]  # before the row was written

        def rectify_again(*_args, **_kwargs):
            raise AssertionError("the worker rectified a filed master again")

        monkeypatch.setattr(identify, "single_imprint", rectify_again)
        followed = []
        with writer_lock(search.index_path):  # the filing process holds the file
            worker = threading.Thread(target=lambda: followed.append(
                filed.master.id in search.index()), daemon=True)
            worker.start()
            worker.join(20)
            assert followed == [True]
        saved = VectorIndex.load(search.index_path, expect_model_id=search.index_model_id)
        assert filed.master.id in saved  # saved by the filer, not by the worker


def _cli(*args, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", *args, "--registry", str(home)],
                          capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])


def test_cli_register_then_identify_json_contract(seals, tmp_path):
    home = tmp_path / "reg"
    record, master, probe = seals[0]
    done = _cli("register", str(master), "--seal-id", record.seal_id, "--unit",
                record.unit_name, "--json", home=home)
    assert done.returncode == 0, done.stderr
    filed = json.loads(done.stdout)
    assert filed["seal_id"] == record.seal_id and filed["new_seal"] is True
    done = _cli("identify", str(probe), "--top-k", "1", "--json", home=home)
    assert done.returncode in (0, 1), done.stderr
    out = json.loads(done.stdout)
    (imp,) = out["imprints"]
    assert len(imp["box"]) == 4 and all(isinstance(v, float) for v in imp["box"])
    assert [c["seal_id"] for c in imp["candidates"]] == [record.seal_id]
    assert isinstance(imp["candidates"][0]["score"], float)
    assert imp["match"] in (record.seal_id, None)
    # a match is compared with its master: the verdict comes with it
    assert (imp["verdict"] is None) == (imp["match"] is None)
    assert imp["verdict"] in (None, "genuine", "suspected_forgery", "inconclusive",
                              "different_seal")
    usable = imp["match"] and imp["verdict"] == "genuine" and imp["status_flag"] is None
    assert done.returncode == (0 if usable else 1)
    # the same seal id for another unit is refused, with a usage exit code and one line
    done = _cli("register", str(master), "--seal-id", record.seal_id, "--unit", "另一公司",
                home=home)
    assert done.returncode == 2 and "filed for" in done.stderr
    done = _cli("index", "rebuild", "--json", home=home)
    assert done.returncode == 0 and json.loads(done.stdout)["count"] == 1
    from imprint.pipeline import IMAGING_VERSION
    done = _cli("index", "status", "--json", home=home)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["count"] == 1 and status["imaging_version"] == IMAGING_VERSION


def test_a_seal_ranked_low_by_its_embedding_is_still_found(registry, seals, monkeypatch):
    """An imprint whose embedding ranks its own seal past the shortlist (a fax's print kept
    with its ink, a faint imprint) is not answered "no registered seal" before the wider
    shortlist has been re-ranked and its best compared."""
    import index.identify as ident_mod
    from imprint.io import load_page
    from imprint.pipeline import single_imprint
    from index.vectors import SearchResult

    plain = VectorIndex.search

    def worst_first(self, queries, k):  # every filed master, the nearest last
        found = plain(self, queries, len(self))
        return SearchResult(found.scores[:, ::-1][:, :k].copy(), found.ids[:, ::-1][:, :k].copy())

    monkeypatch.setattr(VectorIndex, "search", worst_first)
    record, _, probe = seals[0]
    imp = single_imprint(load_page(probe)[0].image, dpi=DPI)
    with RegistryStore.open(registry) as store:
        search = SealSearch(store, "classical")
        (ident,) = search.identify([imp], top_k=1, shortlist=1)
        assert ident.match == record.seal_id
        monkeypatch.setattr(ident_mod, "WIDE_SHORTLIST", 1)
        (narrow,) = search.identify([imp], top_k=1, shortlist=1)
        assert narrow.match is None and narrow.candidates[0].seal_id != record.seal_id


def test_an_agreeing_seal_is_kept_when_look_alikes_re_rank_above_it(registry, seals,
                                                                   monkeypatch):
    """The match's nearest filed neighbours are re-ranked once it agrees; where they re-rank
    above it without agreeing (a look-alike name whose polar image correlates better with a
    hurt imprint), the match still stands."""
    import dataclasses

    from imprint.io import load_page
    from imprint.pipeline import single_imprint

    record, _, probe = seals[0]
    imp = single_imprint(load_page(probe)[0].image, dpi=DPI)
    with RegistryStore.open(registry) as store:
        search = SealSearch(store, "classical")
        others = [m.id for r, _, _ in seals[1:3] for m in store.masters_of(r.seal_id)]
        plain_rerank = SealSearch.rerank

        def others_on_top(self, imp, shortlist, masters=None):
            return sorted([dataclasses.replace(c, score=c.score + 1.0)
                           if c.master_id in others else c
                           for c in plain_rerank(self, imp, shortlist, masters)],
                          key=lambda c: -c.score)

        plain_search = VectorIndex.search
        own = store.masters_of(record.seal_id)[0].id

        def own_only(self, queries, k):  # the shortlist holds the seal itself alone
            found = plain_search(self, queries, k)
            if np.ndim(queries) == 2:
                found.ids[:] = -1
                found.ids[:, 0] = own
            return found

        monkeypatch.setattr(VectorIndex, "search", own_only)
        monkeypatch.setattr(SealSearch, "rerank", others_on_top)
        monkeypatch.setattr(SealSearch, "_neighbours",
                            lambda self, index, seal_id, master_id:
                            [(m, index.reconstruct(m)) for m in others])
        (ident,) = search.identify([imp], top_k=3, shortlist=1)
        assert ident.match == record.seal_id
        assert {c.seal_id for c in ident.candidates[1:]} == {r.seal_id for r, _, _ in seals[1:3]}
        assert all(c.agreement < search.threshold for c in ident.candidates[1:])


def _scripted_comparisons(monkeypatch, agreement: dict, prefer: dict) -> None:
    """Comparisons without imaging: a master is its seal id, an imprint agrees with each seal
    as ``agreement`` says and prefers one master to another as ``prefer`` says."""
    from types import SimpleNamespace

    import index.identify as ident_mod

    monkeypatch.setattr(SealSearch, "canonical", lambda self, master: master.seal_id)
    monkeypatch.setattr(ident_mod, "align", lambda imp, seal: seal)
    monkeypatch.setattr(ident_mod, "match_strokes",
                        lambda seal, laid: SimpleNamespace(substituted=1 - agreement[seal]))
    monkeypatch.setattr(ident_mod, "preference",
                        lambda held, strokes, rival: prefer[(held, rival)])


def test_the_match_is_the_agreeing_seal_no_other_is_preferred_to(registry, seals,
                                                                 monkeypatch):
    """Three seals agree with the imprint (a name with two look-alikes): the best agreeing
    one is beaten by the third where their masters differ, and the third by the second; the
    second, which none beats, is the match (not the last one a chain of pairwise
    preferences ends on)."""
    from index.identify import Candidate

    a, b, c = (r.seal_id for r, _, _ in seals[:3])
    agreement = {a: 0.95, b: 0.93, c: 0.90}
    # the imprint's preference for the first seal's master over the second's, where they
    # differ (> 0: the first)
    prefer = {(a, b): -0.05, (a, c): -0.2, (b, a): 0.05, (b, c): 0.4, (c, a): 0.2, (c, b): -0.4}
    _scripted_comparisons(monkeypatch, agreement, prefer)
    with RegistryStore.open(registry) as store:
        search = SealSearch(store, "classical")
        search._laid = lambda rival, held: rival.seal_id
        masters = {m.id: m for s in (a, b, c) for m in store.masters_of(s)}
        cands = [Candidate(m.seal_id, mid, 0.9 - 0.01 * k, 0.5, 0.0)
                 for k, (mid, m) in enumerate(masters.items())]
        ranked, strokes = search._confirm(None, cands, masters, {})
        assert ranked[0].seal_id == b and strokes.substituted == pytest.approx(0.07)
        # where each is beaten by another, the best agreeing
        prefer[(b, a)] = -0.2
        ranked, _ = search._confirm(None, cands, masters, {})
        assert ranked[0].seal_id == a


def test_a_look_alike_behind_the_candidates_compared_is_weighed_against_the_match(
        registry, seals, monkeypatch):
    """The imprint's seal re-ranks fifth, within the rivals' margin of the first (a
    look-alike name of its own seal, which agrees too): only the first four were compared,
    and the look-alike was the match. As one of the match's nearest filed neighbours it is
    compared wherever it re-ranks that close, and the imprint, following its master where
    the two differ, is identified as it (a phone photo of training seed 559, so)."""
    from types import SimpleNamespace

    import index.identify as ident_mod
    from index.identify import Candidate

    a, b, c = (r.seal_id for r, _, _ in seals[:3])
    agreement = {a: 0.92, b: 0.4, c: 0.3, "x": 0.2, "own": 1.0}
    prefer = {(a, "own"): -0.3, ("own", a): 0.3}
    _scripted_comparisons(monkeypatch, agreement, prefer)
    with RegistryStore.open(registry) as store:
        search = SealSearch(store, "classical")
        search._laid = lambda rival, held: rival.seal_id
        masters = {k: SimpleNamespace(id=k, seal_id=s)
                   for k, s in enumerate((a, b, c, "x", "own"), 1000)}
        cands = [Candidate(m.seal_id, m.id, 0.40 - 0.005 * k, 0.5, 0.0)
                 for k, m in enumerate(masters.values())]
        ranked, _ = search._confirm(None, cands, masters, {})
        assert ranked[0].seal_id == a and ranked[-1].agreement is None
        ranked, strokes = search._confirm(None, cands, masters, {}, frozenset({1004}))
        assert ranked[0].seal_id == "own" and strokes.substituted == 0.0
        # beyond the margin it is not compared
        far = [*cands[:4], Candidate("own", 1004, 0.40 - 2 * ident_mod.RIVAL_MARGIN, 0.5, 0.0)]
        ranked, _ = search._confirm(None, far, masters, {}, frozenset({1004}))
        assert ranked[0].seal_id == a


def _sibling_records():
    """A numbered pair (合同专用章(1) and (2)) of a small generated registry: (first,
    second)."""
    records = make_registry(12, np.random.default_rng(4200), lookalike_rate=0,
                            sibling_rate=0.5)
    second = next(r for r in records if r.sibling_of)
    return next(r for r in records if r.seal_id == second.sibling_of), second


def _filed_siblings(search: SealSearch, root: Path):
    """The pair filed (each with its master) in ``search``'s registry: (first, second, the
    masters' ids by seal, two probes of the second, rectified)."""
    from imprint.io import load_page
    from imprint.pipeline import single_imprint

    first, second = _sibling_records()
    filed = {r.seal_id: file_master(search, imprint_file(root / f"{r.seal_id}.png", r, 30 + i,
                                                         "clean"),
                                    seal_id=r.seal_id, unit=r.unit_name,
                                    kind=r.spec.kind).master.id
             for i, r in enumerate((first, second))}
    probes = [single_imprint(load_page(imprint_file(root / f"probe_{seed}.png", second, seed,
                                                    "typical"))[0].image, dpi=DPI)
              for seed in (32, 33)]
    return first, second, filed, probes


@pytest.fixture(scope="module")
def siblings(tmp_path_factory):
    """A numbered pair (合同专用章(1) and (2)): each one's master, rectified, and a probe of
    the second."""
    from imprint.io import load_page
    from imprint.pipeline import single_imprint

    root = tmp_path_factory.mktemp("siblings")
    first, second = _sibling_records()

    def rectified(record, seed: int, quality: str):
        path = imprint_file(root / f"{record.seal_id}_{seed}.png", record, seed, quality)
        return single_imprint(load_page(path)[0].image, dpi=DPI)

    return rectified(first, 30, "clean"), rectified(second, 31, "clean"), [
        rectified(second, seed, "typical") for seed in (32, 33, 34)]


def test_a_numbered_sibling_beyond_the_shortlist_is_weighed_against_the_match(
        tmp_path, monkeypatch):
    """The shortlist holds only the first of two numbered siblings (its embedding nearest),
    which agrees with a probe of the second: the registry's sibling is compared too, and the
    probe follows the second's master where the two differ."""
    with RegistryStore.open(tmp_path / "registry") as store:
        search = SealSearch(store, "classical")
        first, second, filed, probes = _filed_siblings(search, tmp_path)
        plain = VectorIndex.search

        def first_sibling_only(self, queries, k):  # the probe's embedding finds the first
            found = plain(self, queries, k)
            if np.ndim(queries) == 2:
                found.ids[:] = -1
                found.ids[:, 0] = filed[first.seal_id]
            return found

        monkeypatch.setattr(VectorIndex, "search", first_sibling_only)
        for imp in probes:
            (ident,) = search.identify([imp], top_k=2, shortlist=1)
            assert ident.match == second.seal_id
            assert {c.seal_id for c in ident.candidates} == {first.seal_id, second.seal_id}


def test_a_numbered_sibling_re_ranked_far_behind_is_still_compared(tmp_path, monkeypatch):
    """Both siblings in the shortlist, the first re-ranked well ahead of the second (blur or
    print across the face moves the polar correlation more than a digit does): the second is
    compared all the same, and a probe of it is identified as it."""
    import dataclasses

    import index.identify as ident_mod

    with RegistryStore.open(tmp_path / "registry") as store:
        search = SealSearch(store, "classical")
        first, second, _, probes = _filed_siblings(search, tmp_path)
        plain_rerank = SealSearch.rerank

        def second_behind(self, imp, shortlist, masters=None):
            return sorted([dataclasses.replace(c, score=c.score - 2 * ident_mod.RIVAL_MARGIN)
                           if c.seal_id == second.seal_id else c
                           for c in plain_rerank(self, imp, shortlist, masters)],
                          key=lambda c: -c.score)

        monkeypatch.setattr(SealSearch, "rerank", second_behind)
        for imp in probes:
            (ident,) = search.identify([imp], top_k=2)
            assert [c.seal_id for c in ident.candidates] == [second.seal_id, first.seal_id]
            assert ident.match == second.seal_id


def test_numbered_siblings_are_told_apart_where_their_masters_differ(siblings):
    from imprint.align import align
    from imprint.evidence import match_strokes, preference

    first, second, probes = siblings
    for probe in probes:
        # laid on the first's master: where the two masters differ, the imprint follows the second's
        on_first = preference(first, match_strokes(first, align(probe, first)),
                              match_strokes(first, align(second, first)))
        on_second = preference(second, match_strokes(second, align(probe, second)),
                               match_strokes(second, align(first, second)))
        assert on_first < -0.1 < 0.1 < on_second


def test_an_oval_off_its_centre_still_re_ranks_by_its_strokes(tmp_path):
    """An oval photographed at a slant comes out of rectification a few px off its master's
    centre, where the polar images' correlation falls to that of any other seal; its
    re-ranking takes the best of the offsets round the centre."""
    import dataclasses

    import cv2

    from imprint.io import load_page
    from imprint.pipeline import single_imprint
    from index.identify import _query_polars
    from models.classical import alignment_polar, correlate_polar

    record = next(r for r in make_registry(40, np.random.default_rng(4300), lookalike_rate=0,
                                           sibling_rate=0) if r.spec.kind == "oval_invoice")
    master, probe = (single_imprint(load_page(imprint_file(tmp_path / f"{q}.png", record,
                                                           seed, q))[0].image, dpi=DPI)
                     for q, seed in (("clean", 1), ("typical", 2)))
    assert probe.detection.shape == "oval"
    reference = alignment_polar(master)
    centred = correlate_polar(alignment_polar(probe), reference)[0]
    for dx, dy in ((10, -6), (-9, 9)):
        shift = np.float32([[1, 0, dx], [0, 1, dy]])
        size = probe.ink.shape[::-1]
        moved = dataclasses.replace(
            probe, ink=cv2.warpAffine(probe.ink.astype(np.float32), shift, size),
            occlusion=cv2.warpAffine(probe.occlusion.view(np.uint8), shift, size,
                                     flags=cv2.INTER_NEAREST, borderValue=1).view(bool))
        off = correlate_polar(alignment_polar(moved), reference)[0]
        best = max(correlate_polar(p, reference)[0] for p in _query_polars(moved))
        assert off < 0.5 * centred < 0.5 < best


def test_a_numbered_siblings_imprint_claimed_as_the_other_is_a_different_seal(tmp_path):
    """A bank verifies the seal named on the document: an imprint of the unit's other
    numbered seal agrees with the named one's master all but in its number, and was judged
    genuine; weighed against the named seal's registry siblings, it is the sibling's."""
    from index.verify import verify

    with RegistryStore.open(tmp_path / "registry") as store:
        search = SealSearch(store, "classical")
        first, second, _, probes = _filed_siblings(search, tmp_path)
        for imp in probes:
            assert verify(search, imp, first.seal_id, rivals=False).comparison.verdict == (
                "genuine")
            claimed = verify(search, imp, first.seal_id).comparison
            assert claimed.verdict == "different_seal"
            assert second.seal_id in claimed.reasons[0]
            assert verify(search, imp, second.seal_id).comparison.verdict == "genuine"
