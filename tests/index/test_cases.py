"""Case imprints: filed under case numbers, kept append-only, linked across cases when two come
from one physical counterfeit seal, and the case index rebuilt from the store."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from imprint.pipeline import single_imprint
from imprint.synth.forgery import recarve
from imprint.synth.medium import Capture
from imprint.synth.registry import make_registry
from imprint.synth.scene import Stamping, imprint_scene
from imprint.synth.stamping import sample_conditions
from index.cases import CaseImprintRow, CaseIndex, UnknownCaseError
from index.errors import RegistryIntegrityError
from index.identify import SealSearch
from index.store import RegistryStore

DPI = 200
SCAN = Capture("scan", 0, 0.3, 0.003)


def _stamped(face, ink: str, claimed: str, seed: int):
    """One imprint of ``face`` on a document, found and rectified."""
    rng = np.random.default_rng(seed)
    st = Stamping(face, sample_conditions(rng, "clean"), ink, None, claimed)
    image, _ = imprint_scene(st, dpi=DPI, rng=rng, clutter=False, capture=SCAN)
    return single_imprint(image, dpi=DPI)


@pytest.fixture(scope="module")
def fakes():
    """Two counterfeit seals, re-carved after two different filed seals: two imprints of the
    first (used in two cases), one of the second."""
    a, b = [r for r in make_registry(20, np.random.default_rng(4300), lookalike_rate=0,
                                     sibling_rate=0) if r.spec.kind == "round_official"][:2]
    fake_a = recarve(a.face().design, np.random.default_rng(1), "clear").face
    fake_b = recarve(b.face().design, np.random.default_rng(2), "clear").face
    return {"a1": _stamped(fake_a, a.spec.ink, a.seal_id, 11),
            "a2": _stamped(fake_a, a.spec.ink, a.seal_id, 12),
            "b1": _stamped(fake_b, b.spec.ink, b.seal_id, 13), "a": a.seal_id,
            "record_a": a}


@pytest.fixture
def cases(tmp_path):
    with RegistryStore.open(tmp_path / "registry") as store:
        yield CaseIndex(SealSearch(store, "classical"))


def test_case_imprints_are_filed_with_their_facts(cases, fakes):
    filed = cases.file(fakes["a1"], case="2026-0031", document="contract.pdf",
                       document_sha256="ab" * 32, on=date(2025, 3, 1),
                       claimed_seal_id=fakes["a"], verdict="suspected_forgery", score=0.81,
                       filed_by="Det. Li")
    assert filed.case == "2026-0031" and filed.document == "contract.pdf"
    assert filed.date == date(2025, 3, 1) and filed.claimed_seal_id == fakes["a"]
    assert filed.verdict == "suspected_forgery" and filed.filed_by == "Det. Li"
    assert filed.box == pytest.approx(tuple(round(v, 1) for v in fakes["a1"].detection.box))
    assert [ci.id for ci in cases.imprints("2026-0031")] == [filed.id]
    assert cases.imprints("2026-9999") == []
    back = cases.imprint(filed)  # the canonical imprint, as stored
    assert np.abs(back.ink - fakes["a1"].ink).max() <= 1 / 255 + 1e-6
    with pytest.raises(UnknownCaseError):
        cases.get(filed.id + 1)


def test_the_same_fake_links_across_cases_and_another_does_not(cases, fakes):
    first = cases.file(fakes["a1"], case="2026-0031", document="contract.pdf",
                       on=date(2025, 3, 1))
    links = cases.links(fakes["a2"])  # the same counterfeit seal, on another document
    assert [link.imprint.id for link in links] == [first.id]
    assert links[0].imprint.case == "2026-0031" and links[0].score >= cases.threshold
    # a counterfeit of another seal scores below the threshold, if it is compared at all
    assert all(link.score < cases.threshold for link in cases.scored(fakes["b1"]))
    assert cases.links(fakes["b1"]) == []


def test_case_imprints_are_append_only(cases, fakes):
    filed = cases.file(fakes["b1"], case="2026-0032", document="invoice.png")
    with Session(cases.store.engine) as s:
        row = s.get(CaseImprintRow, filed.id)
        row.case_number = "2026-0099"
        with pytest.raises(RegistryIntegrityError):
            s.flush()
        s.rollback()
        s.delete(s.get(CaseImprintRow, filed.id))
        with pytest.raises(RegistryIntegrityError):
            s.flush()
    for sql in ("UPDATE case_imprints SET case_number = 'x'", "DELETE FROM case_imprints"):
        with pytest.raises(DatabaseError, match="append-only"), \
                cases.store.engine.begin() as conn:
            conn.execute(text(sql))
    assert cases.get(filed.id).case == "2026-0032"


def test_the_case_index_is_rebuilt_from_the_store(tmp_path, fakes):
    home = tmp_path / "registry"
    with RegistryStore.open(home) as store:
        cases = CaseIndex(SealSearch(store, "classical"))
        first = cases.file(fakes["a1"], case="2026-0031", document="contract.pdf")
        cases.file(fakes["b1"], case="2026-0032", document="invoice.png")
        path = cases.index_path
        assert path.name == "cases-classical.faiss" and path.is_file()
    path.write_bytes(b"damaged")  # a derived file: a damaged one is rebuilt, not trusted
    with RegistryStore.open(home) as store:
        cases = CaseIndex(SealSearch(store, "classical"))
        assert len(cases.index()) == 2
        assert [link.imprint.id for link in cases.links(fakes["a2"])] == [first.id]
        assert len(cases.rebuild()) == 2


def test_an_imprint_with_no_ink_is_filed_but_breaks_no_search(cases, fakes):
    """A border with nothing left inside it (washed out, all covered) embeds to zero: it is
    kept as a case imprint, left out of the case index, and searches with it find nothing
    instead of failing."""
    from dataclasses import replace

    blank = replace(fakes["b1"], ink=np.zeros_like(fakes["b1"].ink))
    first = cases.file(fakes["a1"], case="2026-0031", document="contract.pdf")
    kept = cases.file(blank, case="2026-0033", document="washed.png")
    assert cases.get(kept.id).case == "2026-0033"
    assert cases.index().ids().tolist() == [first.id]
    assert cases.links(blank) == []
    assert [link.imprint.id for link in cases.links(fakes["a2"])] == [first.id]


def test_imprints_claimed_to_be_one_filed_seal_are_linked_by_their_deviations(tmp_path, fakes):
    """With the imitated seal on file, two imprints of its counterfeit are compared through
    its master (what both carry and the genuine seal lacks); another counterfeit of a seal
    claimed to be the same is compared the same way and not linked."""
    a = fakes["record_a"]
    rng = np.random.default_rng(5)
    master_image, _ = imprint_scene(
        Stamping(a.face(), sample_conditions(rng, "clean"), a.spec.ink, a.seal_id, a.seal_id),
        dpi=300, rng=rng, clutter=False, capture=SCAN)
    other = _stamped(recarve(a.face().design, np.random.default_rng(8), "clear").face,
                     a.spec.ink, a.seal_id, 14)
    with RegistryStore.open(tmp_path / "registry") as store:
        store.file_with_master(a.seal_id, "某某有限公司", "round_official", master_image, dpi=300)
        cases = CaseIndex(SealSearch(store, "classical"))
        first = cases.file(fakes["a1"], case="2026-0031", document="contract.pdf",
                           claimed_seal_id=a.seal_id)
        cases.file(other, case="2026-0032", document="lease.pdf", claimed_seal_id=a.seal_id)
        scored = cases.scored(fakes["a2"], seal_ids=[a.seal_id])
        assert {link.basis for link in scored} == {"deviation"} and len(scored) == 2
        links = cases.links(fakes["a2"], seal_ids=[a.seal_id])
        assert [link.imprint.id for link in links] == [first.id]
        assert links[0].score >= cases.deviation_threshold
