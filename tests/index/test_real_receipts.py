"""Real imprints: the e-receipt seals of ../shared/data/real (three seal identities recurring
under scale, crop, blur, JPEG and overlapping text). One imprint per identity is filed; every
other imprint must be ranked first as its own seal and declared a match at the calibrated
open-set threshold, and verified 1:1 as genuine against its own seal and as a different seal
against the others: all 57 (stamp_advance_2.jpg carries an app's solid orange badge over the
seal, of the red ink's hue class: it is marked as covering the seal, not read as its ink)."""

from __future__ import annotations

import pytest

from imprint.io import load_page
from imprint.pipeline import rectified_imprints
from index.filing import file_master
from index.identify import SealSearch
from index.store import RegistryStore
from index.verify import verify
from tests.real import REAL, needs_real

RECEIPTS = REAL / "KhoiTrant68_Stamp-Boundary-Segmentation"
MASTERS = {"alipay": "stamp_0.jpg", "cmb": "stamp_14.jpg", "bank-of-beijing": "stamp_28.jpg"}

pytestmark = needs_real


def _identities() -> dict[str, str]:
    """File name -> seal identity, from the folder's README (its label column)."""
    out = {}
    for line in (RECEIPTS / "README.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0].endswith(".jpg"):
            out[parts[0]] = ("cmb" if parts[3].startswith("CMB") else
                             "bank-of-beijing" if "Bank of Beijing" in parts[3] else "alipay")
    return out


@pytest.fixture(scope="module")
def receipts(tmp_path_factory):
    """(search over a registry of the three filed seals, identities, probe imprints)."""
    identities = _identities()
    assert sorted(set(identities.values())) == sorted(MASTERS)
    store = RegistryStore.open(tmp_path_factory.mktemp("receipts"))
    search = SealSearch(store)
    for seal_id, name in MASTERS.items():
        file_master(search, RECEIPTS / name, seal_id=seal_id, unit=seal_id)
    probes = {}
    for name in sorted(identities):
        if name not in MASTERS.values():
            (page,) = load_page(RECEIPTS / name)
            probes[name] = rectified_imprints(page.image)[:1]
    assert len(probes) >= 50
    yield search, identities, probes
    store.close()


def test_every_receipt_imprint_is_identified_as_its_seal(receipts):
    search, identities, probes = receipts
    wrong, unmatched = [], []
    for name, found in probes.items():
        idents = search.identify(found)
        if not idents or idents[0].candidates[0].seal_id != identities[name]:
            wrong.append((name, identities[name], idents[0].candidates[:2] if idents
                          else "no imprint found"))
        elif idents[0].match != identities[name]:
            unmatched.append((name, round(idents[0].candidates[0].score, 3)))
    assert not wrong, wrong
    assert not unmatched, unmatched


def test_same_seal_pairs_are_genuine_and_other_seals_different(receipts):
    search, identities, probes = receipts
    not_genuine, not_different = [], []
    for name, found in probes.items():
        assert found, f"{name}: no imprint found"
        for seal_id in MASTERS:
            c = verify(search, found[0], seal_id).comparison
            if seal_id == identities[name] and c.verdict != "genuine":
                not_genuine.append((name, c.verdict, c.reasons[0]))
            elif seal_id != identities[name] and c.verdict != "different_seal":
                not_different.append((name, seal_id, c.verdict, c.reasons[0]))
    assert not not_different, not_different
    assert not not_genuine, not_genuine
