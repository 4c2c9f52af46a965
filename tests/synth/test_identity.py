"""A seal has an identity: the same seed gives identical output, two seals never share their
stable defects, and a seal's defects print in every one of its imprints."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from imprint.io import load_page
from imprint.synth.dataset import FORMAT, DatasetConfig, build_dataset, read_manifest, reusable
from imprint.synth.defects import new_seal
from imprint.synth.design import SealSpec, layout
from imprint.synth.render import MM_PER_INCH, SealFace
from imprint.synth.stamping import StampConditions, sample_conditions, stamp

SPEC = SealSpec("round_official", "北京华信科技发展有限公司", business_line="财务专用章")


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "dataset.json"}


def test_same_seed_gives_identical_dataset(tmp_path):
    config = DatasetConfig(seed=11, n_seals=6, n_queries=1, n_pages=1, n_unregistered=2,
                           query_sets=("genuine", "recarved_subtle", "photo_engraved", "printed"))
    a = build_dataset(tmp_path / "a", config, progress=False)
    b = build_dataset(tmp_path / "b", config, workers=2, progress=False)
    assert a.queries == b.queries
    da, db = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert da == db and len(da) >= 6 + 4 + 1 + 3
    other = build_dataset(tmp_path / "c", replace(config, seed=12), progress=False)
    assert _digest(tmp_path / "c") != da
    assert other.n_seals == a.n_seals


def test_manifest_states_every_imprint(tmp_path):
    config = DatasetConfig(seed=3, n_seals=8, n_queries=1, n_pages=2, n_unregistered=2)
    build_dataset(tmp_path, config, progress=False)
    rows = read_manifest(tmp_path / "manifest.jsonl")
    assert {r["set"] for r in rows} >= {"master", "genuine", "recarved_clear", "printed", "page"}
    for row in rows:
        assert (tmp_path / row["file"]).is_file()
        for truth in row["imprints"]:
            assert truth["seal_kind"] and truth["px_per_mm"] > 0
            x0, y0, x1, y1 = truth["box"]
            assert x1 > x0 and y1 > y0
            if row["set"] in ("recarved_clear", "recarved_subtle", "photo_engraved", "printed"):
                assert truth["forgery"]["kind"] and truth["seal_id"] is None
                assert truth["claimed_seal_id"]


def test_phone_photos_state_no_resolution(tmp_path):
    """A scanner writes its resolution into the file, a camera none that says anything: a
    generated phone photo must not hand the engine a scale a real one would not."""
    config = DatasetConfig(seed=5, n_seals=4, n_queries=12, n_pages=0, n_unregistered=0,
                           query_sets=("genuine",))
    build_dataset(tmp_path, config, progress=False)
    rows = [r for r in read_manifest(tmp_path / "manifest.jsonl") if r["set"] == "genuine"]
    assert {r["capture"] for r in rows} >= {"scan", "phone"}
    for row in rows:
        (page,) = load_page(tmp_path / row["file"])
        if row["capture"] == "phone":
            assert page.dpi is None and row["dpi"] is None
        else:
            assert page.dpi is not None and round(page.dpi[0]) == row["dpi"] == row["page_dpi"]
        assert row["page_dpi"] in (150, 200, 300, 400, 600)


def test_a_set_of_an_older_format_is_built_again(tmp_path):
    path = tmp_path / "set"
    assert not reusable(path)
    build_dataset(path, DatasetConfig(seed=2, n_seals=2, n_queries=0, n_pages=0,
                                      n_unregistered=0, query_sets=()), progress=False)
    assert reusable(path)
    meta = json.loads((path / "dataset.json").read_text())
    assert meta["format"] == FORMAT
    (path / "dataset.json").write_text(json.dumps({**meta, "format": FORMAT - 1}))
    assert not reusable(path) and not path.exists()  # removed, to be built afresh


def test_two_seals_never_share_their_stable_defects():
    design = layout(SPEC)
    seals = [new_seal(design, np.random.default_rng(seed)) for seed in range(40)]
    centres = [np.array([d.centre for d in s.defects]) for s in seals]
    for i in range(len(seals)):
        assert len(seals[i].defects) >= 4
        for j in range(i + 1, len(seals)):
            assert not set(seals[i].defects) & set(seals[j].defects)
            # and their patterns differ: hardly any defect of one lies where one of the other is
            dist = np.linalg.norm(centres[i][:, None] - centres[j][None], axis=2)
            assert (dist.min(axis=1) < 0.1).mean() <= 0.25


def test_same_seed_gives_same_seal():
    design = layout(SPEC)
    assert new_seal(design, np.random.default_rng(9)) == new_seal(design, np.random.default_rng(9))


def _defect_ink(face: SealFace, conditions: StampConditions, dpi=600):
    px = dpi / MM_PER_INCH
    side = int(50 * px)
    density, _ = stamp(face, conditions, dpi=dpi, shape=(side, side), centre=(side / 2, side / 2))
    return density, px, side


def test_defects_persist_across_imprints_and_noise_does_not():
    design = layout(SPEC)
    seal = new_seal(design, np.random.default_rng(21))
    clean = SealFace(design)
    rng = np.random.default_rng(5)
    gaps = [d for d in seal.defects if d.kind == "gap"]
    imprints = []
    for _ in range(3):
        c = replace(sample_conditions(rng, "clean"), angle=0.0, elastic=0.0, swell=1.0)
        imprints.append((_defect_ink(seal, c), _defect_ink(clean, c)))
    stable = 0
    for gap in gaps:
        per_imprint = []
        for (dens, px, side), (ref, _, _) in imprints:
            x, y = int(side / 2 + gap.centre[0] * px), int(side / 2 + gap.centre[1] * px)
            if ref[y, x] < 0.3:
                break  # the gap fell off a stroke: nothing to print there anyway
            per_imprint.append(dens[y, x] < 0.5 * ref[y, x])
        if len(per_imprint) == 3:
            assert all(per_imprint)  # the break shows in every imprint
            stable += 1
    assert stable >= 1 or not gaps
    # while two imprints' noise differs
    (a, _, _), _ = imprints[0]
    (b, _, _), _ = imprints[1]
    assert np.abs(a - b).mean() > 0.005
