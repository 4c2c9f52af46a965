"""Fine registration and 1:1 comparison of generated imprints: known warps are recovered, a
genuine imprint is told from a re-carved one and from another seal, poor imprints are not
called forgeries, and ``imprint verify`` keeps its JSON contract and exit codes."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from imprint import archive
from imprint.align import align
from imprint.compare import compare
from imprint.errors import UnreadableInputError
from imprint.evidence import measure
from imprint.pipeline import single_imprint
from imprint.rectify import CANONICAL_RADIUS, CANONICAL_SIZE
from imprint.synth.dataset import write_image
from imprint.synth.defects import new_seal
from imprint.synth.design import SealSpec, layout
from imprint.synth.forgery import recarve
from imprint.synth.medium import Capture
from imprint.synth.registry import make_registry
from imprint.synth.scene import Stamping, genuine_stamping, imprint_scene
from imprint.synth.stamping import StampConditions, sample_conditions
from imprint.types import VERDICTS
from imprint.verdict import FORGERY_KINDS, VerifierModel, decide
from index.filing import file_master
from index.identify import SealSearch
from index.store import EventKind, RegistryStore

DPI = 300
SCAN = Capture("scan", 0, 0.3, 0.003)


def _scene(stamping, seed: int, clutter: bool = False) -> np.ndarray:
    image, _ = imprint_scene(stamping, dpi=DPI, rng=np.random.default_rng(seed),
                             clutter=clutter, capture=SCAN)
    return image


@pytest.fixture(scope="module")
def seals():
    """Two round seals: for each, a master, a genuine imprint and a clearly re-carved one."""
    rng = np.random.default_rng(4300)
    records = [r for r in make_registry(20, rng, lookalike_rate=0, sibling_rate=0)
               if r.spec.kind == "round_official"][:2]
    out = []
    for i, rec in enumerate(records):
        r = np.random.default_rng(50 + i)
        face = rec.face()
        master = _scene(genuine_stamping(face, r, ink=rec.spec.ink, seal_id=rec.seal_id,
                                         quality="clean"), 60 + i)
        genuine = _scene(genuine_stamping(face, r, ink=rec.spec.ink, seal_id=rec.seal_id),
                         70 + i)
        forged = recarve(face.design, r, "clear")
        fake = _scene(Stamping(forged.face, sample_conditions(r), rec.spec.ink, None,
                               rec.seal_id, forged), 80 + i)
        out.append({"record": rec, "images": {"master": master, "genuine": genuine,
                                              "recarved": fake}})
    for s in out:
        s["rect"] = {k: single_imprint(v, dpi=DPI, what=k) for k, v in s["images"].items()}
    return out


def test_a_known_turn_and_shift_are_recovered(seals):
    master = seals[0]["rect"]["master"]
    c = CANONICAL_SIZE / 2
    m = cv2.getRotationMatrix2D((c, c), 7.0, 1.0)  # the query turned 7 degrees ccw
    m[:, 2] += (3.0, -2.0)
    ink = cv2.warpAffine(master.ink, m, (CANONICAL_SIZE, CANONICAL_SIZE))
    occ = np.zeros_like(master.occlusion)
    query = replace(master, ink=ink, occlusion=occ)
    a = align(query, master)
    assert a.rotation == pytest.approx(7.0, abs=0.2)
    assert a.scale == pytest.approx(1.0, abs=0.005)
    # the master's centre lands where the turn and shift put it in the query
    assert a.shift == pytest.approx((3.0, -2.0), abs=0.3)
    assert a.correlation > 0.97


def test_a_stored_imprint_reads_back_packed_or_whole(seals, tmp_path):
    r = seals[0]["rect"]["genuine"]
    archive.save(tmp_path / "r.npz", r)
    whole = archive.load(tmp_path / "r.npz")
    packed = archive.load_packed(tmp_path / "r.npz")
    assert packed.ink.dtype == np.uint8 and packed.occlusion.nbytes * 8 == r.occlusion.size
    for back in (whole, packed.unpack(), archive.pack(r).unpack()):
        assert np.abs(back.ink - r.ink).max() <= 0.5 / 255 + 1e-6  # 8-bit ink
        assert np.array_equal(back.occlusion, r.occlusion)
        assert (back.geometry.centre, back.detection, back.quality) == (
            r.geometry.centre, r.detection, r.quality)
        assert np.allclose(back.geometry.homography, r.geometry.homography)
    # a file whose occlusion bits do not cover its ink is refused, not mis-shaped
    buf = io.BytesIO()
    with np.load(tmp_path / "r.npz") as z:
        np.savez(buf, **{**z, "occlusion": z["occlusion"][:100]})
    with pytest.raises(UnreadableInputError):
        archive.from_bytes(buf.getvalue())


def test_a_stored_imprint_keeps_its_mark_of_a_faint_scatter(seals):
    """An imprint found only as a starved seal's scatter reads back so (its verdict depends
    on it); one stored before imprints were so marked reads back unmarked."""
    r = seals[0]["rect"]["genuine"]
    faint = replace(r, detection=replace(r.detection, scatter=True))
    assert archive.from_bytes(archive.to_bytes(faint)).detection.scatter
    buf = io.BytesIO()
    with np.load(io.BytesIO(archive.to_bytes(r))) as z:
        meta = json.loads(bytes(z["meta"]))
        del meta["detection"]["scatter"]
        np.savez(buf, **{**z, "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    assert archive.from_bytes(buf.getvalue()).detection == r.detection
    assert not r.detection.scatter


def test_genuine_recarved_and_other_seal(seals):
    a, b = seals
    same = compare(a["rect"]["genuine"], a["rect"]["master"])
    assert same.verdict == "genuine", same.reasons
    # on the genuine side of the calibrated forgery threshold (1 % of calibration genuine
    # imprints fall below it)
    assert same.log10_lr >= VerifierModel.load().thresholds["forgery_log10_lr"]
    assert same.evidence.deformation_band == "valid"
    fake = compare(a["rect"]["recarved"], a["rect"]["master"])
    assert fake.verdict in ("suspected_forgery", "different_seal"), fake.reasons
    assert fake.log10_lr < same.log10_lr
    other = compare(b["rect"]["genuine"], a["rect"]["master"])
    assert other.verdict == "different_seal"
    for c in (same, fake, other):
        assert c.verdict in VERDICTS and c.reasons
        assert c.evidence.difference.shape == (CANONICAL_SIZE, CANONICAL_SIZE)
    # the rubber's give the comparison allowed for is the one it measured (the report and
    # the JSON read it off the alignment, which had said 0 for every comparison)
    assert same.alignment.elastic_mm == same.evidence.features["elastic_mm"] > 0


def test_a_look_alike_name_is_another_seal(seals):
    """The same design with one or two characters of the unit's name changed correlates with
    the master as well as a genuine imprint does; the window where its strokes differ both
    ways says it is another seal."""
    from dataclasses import asdict, replace

    from imprint.synth import names
    from imprint.synth.design import SealSpec

    a = seals[0]
    rec, r = a["record"], np.random.default_rng(90)
    unit = names.look_alike(rec.unit_name, r)
    alike = replace(rec, seal_id="L1", unit_name=unit, seal_seed=rec.seal_seed + 1,
                    spec=SealSpec(**{**asdict(rec.spec), "unit_name": unit}))
    image = _scene(genuine_stamping(alike.face(), r, ink=alike.spec.ink, seal_id="L1"), 91)
    other = compare(single_imprint(image, dpi=DPI), a["rect"]["master"])
    same = compare(a["rect"]["genuine"], a["rect"]["master"])
    limit = VerifierModel.load().thresholds["different_seal_substitution"]
    assert same.evidence.features["substituted_ink"] < limit
    assert other.evidence.features["substituted_ink"] >= limit
    assert other.verdict == "different_seal" and "another character" in other.reasons[0]
    assert "o'clock" in other.reasons[0]
    # the report marks the window on the difference map, and only there is one
    from matplotlib.patches import Rectangle

    from imprint.report import render_figure

    def marked(c) -> int:
        return sum(isinstance(p, Rectangle) and not p.get_fill()
                   for ax in render_figure(c).axes for p in ax.patches)

    assert marked(other) == 1 and marked(same) == 0


def test_strokes_at_the_edge_of_print_are_not_another_character():
    """A photocopy's print told from the seal's ink leaves its grey halo beside the covered
    line, strokes where the master has none, and the master's strokes beside it are cut:
    differences both ways in one window, but along what is hidden, not another character.
    The same differences where nothing is hidden are one."""
    from imprint.evidence import _substituted

    size, c = CANONICAL_SIZE, CANONICAL_SIZE // 2
    line = np.zeros((size, size), bool)
    line[c - 4:c + 4, :] = True  # a line of print across the seal, hidden
    master = np.zeros((size, size), bool)
    for x in range(c - 16, c + 17, 16):  # the master's strokes crossing it
        master[c - 7:c + 7, x:x + 3] = True
    # the questioned strokes: the halo, 3 px each side of the line, between the master's
    # strokes, which it lacks there (cut with the print)
    query = np.zeros((size, size), bool)
    query[c - 7:c - 4, c - 24:c + 24] = query[c + 4:c + 7, c - 24:c + 24] = True
    query &= ~cv2.dilate(master.view(np.uint8), np.ones((7, 7), np.uint8)).view(bool)
    extra, missing = query, master

    def substituted(known: np.ndarray) -> float:
        return _substituted(query & known, master & known, extra & known, missing & known,
                            known)[0]

    limit = VerifierModel.load().thresholds["different_seal_substitution"]
    assert substituted(~line) < limit <= substituted(np.ones((size, size), bool))


def _with_print_lines(r, told_apart: bool):
    """``r`` with four lines of black print across it, read as its ink (as in a fax), and
    its quality saying whether print could be told from the seal's ink."""
    ink = r.ink.copy()
    for y in (140, 200, 300, 360):
        for x in range(60, 450, 26):  # characters: blocks with gaps between them
            ink[y:y + 14, x:x + 18] = np.maximum(ink[y:y + 14, x:x + 18], 0.9)
    quality = replace(r.quality, print_told_apart=told_apart)
    return replace(r, ink=ink, occlusion=np.zeros_like(r.occlusion), quality=quality)


def test_print_across_a_faxed_imprint_is_not_counted_against_it(seals):
    master = seals[0]["rect"]["master"]
    threshold = VerifierModel.load().thresholds["different_seal_correlation"]
    corr = {}
    for told_apart in (True, False):
        q = _with_print_lines(master, told_apart)
        features = measure(q, master, align(q, master)).features
        assert features["print_told_apart"] == float(told_apart)
        corr[told_apart] = features["correlation"]
    assert corr[True] < threshold < corr[False]
    # another seal's imprint under the same print stays another seal
    other = _with_print_lines(seals[1]["rect"]["master"], False)
    assert measure(other, master, align(other, master)).features["correlation"] < 0.6


def test_the_halo_beside_hidden_print_is_not_extra_ink(seals):
    """Print told from the seal's ink is hidden, but its blurred edge stays beside it as ink
    the master lacks: not counted as extra ink there, counted where nothing is hidden."""
    master = seals[0]["rect"]["master"]
    blocks = np.zeros(master.ink.shape, bool)
    for y in (140, 200, 300, 360):
        for x in range(60, 450, 26):  # characters of four lines of print
            blocks[y:y + 14, x:x + 18] = True
    halo = cv2.dilate(blocks.view(np.uint8), np.ones((5, 5), np.uint8)).view(bool) & ~blocks

    def extra(hidden: bool) -> float:
        ink = master.ink.copy()
        ink[halo] = np.maximum(ink[halo], 0.6)
        q = replace(master, ink=ink, occlusion=blocks if hidden else np.zeros_like(blocks))
        return measure(q, master, align(q, master)).features["extra_ink"]

    assert extra(True) < 0.01 < extra(False)


def test_half_an_imprint_is_inconclusive_not_a_forgery(seals):
    from dataclasses import replace
    g = seals[0]["rect"]["genuine"]
    occ = g.occlusion.copy()
    occ[:, : CANONICAL_SIZE * 3 // 5] = True  # most of it covered
    poor = replace(g, occlusion=occ, quality=replace(g.quality, border_visible=0.35))
    c = compare(poor, seals[0]["rect"]["master"])
    assert c.verdict == "inconclusive"
    assert any("border" in r for r in c.reasons)


def _run(*args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", *args, "--registry", str(home)],
                          capture_output=True, text=True, timeout=300)


def test_verify_cli_contract(seals, tmp_path):
    home = tmp_path / "registry"
    a = seals[0]
    rec = a["record"]
    files = {}
    for k, img in a["images"].items():
        files[k] = tmp_path / f"{k}.png"
        write_image(files[k], img, DPI)
    store = RegistryStore.open(home)
    with store:
        file_master(SealSearch(store, "classical"), files["master"], seal_id=rec.seal_id,
                    unit=rec.unit_name)
    r = _run("verify", str(files["genuine"]), "--seal-id", rec.seal_id, "--json",
             "--report", str(tmp_path / "report.html"), home=home)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("seal_id", "verdict", "score", "log10_lr", "status", "evidence", "alignment"):
        assert key in out
    assert out["verdict"] == "genuine" and out["status"] == "active"
    assert math.isfinite(out["log10_lr"])
    # the ratio against each kind of forgery, the overall one ruled by the lowest
    against = out["log10_lr_against"]
    assert set(against) == set(FORGERY_KINDS)
    assert min(against.values()) - 0.06 <= out["log10_lr"] <= min(against.values()) + 0.66
    assert "<html" in (tmp_path / "report.html").read_text(encoding="utf-8").lower()

    r = _run("verify", str(files["recarved"]), "--seal-id", rec.seal_id, "--json", home=home)
    assert r.returncode == 1 and json.loads(r.stdout)["verdict"] != "genuine"

    # a genuine imprint of a revoked seal is flagged, and exits 1, on a date after revocation
    store = RegistryStore.open(home)
    with store:
        store.record_event(rec.seal_id, EventKind.REVOKED)
    r = _run("verify", str(files["genuine"]), "--seal-id", rec.seal_id, "--date",
             "2099-06-01", "--json", home=home)
    out = json.loads(r.stdout)
    assert r.returncode == 1 and out["verdict"] == "genuine"
    assert out["status"] == "revoked" and "revoked" in out["status_flag"]

    r = _run("verify", str(files["genuine"]), "--seal-id", "NO-SUCH-SEAL", "--json", home=home)
    assert r.returncode == 2 and "NO-SUCH-SEAL" in r.stderr


@pytest.mark.parametrize("seed", [1, 7])
def test_slanted_phone_photo_of_an_oval_seal_is_laid_on_its_master(seed):
    """An oval seal photographed at a slant keeps a shear after rectification (the ellipse it
    images as is mapped onto the oval's outline with no way to tell the turn between their
    axes): the homography that takes it up is kept, and each turn tried is refined before
    the turns are compared (both were laid a few degrees off, correlating at 0.56 to 0.59)."""
    face = new_seal(layout(SealSpec("oval_invoice", "杭州新锐电子商务有限公司",
                                    business_line="发票专用章", tax_number="91330106MA2AXXXX1Q",
                                    diameter=40.0)), np.random.default_rng(3))
    master = single_imprint(_scene(Stamping(face, StampConditions(angle=0.0, seed=1), "red",
                                            "S", "S"), 1), dpi=DPI)
    rng = np.random.default_rng(100 + seed)
    phone = Capture("phone", 92, 0.5, 0.01, float(rng.uniform(15, 30)),
                    float(rng.uniform(0, 180)))
    image, _ = imprint_scene(Stamping(face, StampConditions(angle=float(rng.uniform(-30, 30)),
                                                            seed=seed), "red", "S", "S"),
                             dpi=DPI, rng=rng, capture=phone, clutter=False)
    assert align(single_imprint(image), master).correlation >= 0.9


@pytest.mark.parametrize("keep", [0.7, 0.55])
def test_seal_cut_by_a_sheets_edge_is_not_another_seal(seals, keep):
    """A seal stamped across two sheets and scanned on one: beyond the sheet's edge, inside
    the image, its ink is unknown, not absent (compared as missing ink, the half correlated
    as another seal's would). The part cut away is marked covered, and the half is judged on
    what is left: not another seal."""
    a = seals[0]
    image = a["images"]["genuine"].copy()
    whole = a["rect"]["genuine"]
    (cx, _), radius = whole.geometry.centre, max(whole.geometry.axes)
    edge = round(cx + (1 - 2 * keep) * radius)
    image[:, :edge] = np.median(image[:, :20].reshape(-1, 3), axis=0)  # the scanner's lid
    half = single_imprint(image, dpi=DPI, what="half")
    # the part of the disc beyond the edge is covered, what is left is not
    c = CANONICAL_SIZE / 2 - 0.5
    yy, xx = np.mgrid[:CANONICAL_SIZE, :CANONICAL_SIZE]
    page = np.einsum("ij,jhw->ihw", half.geometry.homography,
                     np.stack([xx, yy, np.ones_like(xx)]).astype(float))
    disc = np.hypot(xx - c, yy - c) < 0.95 * CANONICAL_RADIUS
    beyond = disc & (page[0] / page[2] < edge - 0.05 * radius)
    kept = disc & (page[0] / page[2] > edge + 0.25 * radius)
    assert half.occlusion[beyond].mean() > 0.9
    assert half.occlusion[kept].mean() < 0.2
    verdict = compare(half, a["rect"]["master"]).verdict
    assert verdict != "different_seal"
    assert not whole.occlusion[disc].mean() > 0.1  # nothing cut off the whole imprint


def test_starved_genuine_imprint_is_not_another_seal(seals):
    """Too little ink correlates with the master below the impostor threshold, but what ink
    there is lies on the master's strokes: too little to decide, not another seal. Another
    seal's starved imprint leaves strokes off them."""
    a, b = seals

    def starved(s, seed: int):
        rec = s["record"]
        conditions = StampConditions(angle=40.0, ink=-0.9, mottle=0.7, seed=seed)
        image = _scene(Stamping(rec.face(), conditions, rec.spec.ink, rec.seal_id,
                                rec.seal_id), seed)
        return single_imprint(image, dpi=DPI, what="starved")

    own = compare(starved(a, 91), a["rect"]["master"])
    assert own.verdict in ("inconclusive", "genuine"), own.reasons
    other = compare(starved(b, 92), a["rect"]["master"])
    assert other.verdict == "different_seal", other.reasons


def test_the_ratio_against_any_forgery_is_ruled_by_the_likeliest_kind():
    """Two kinds of forgery, each with its own fusion: the ratio against a forgery of either
    kind (equally likely) lies between the lower of the two and that plus log10 2, a feature
    not measured counts as a typical genuine value, and a forgery verdict names the kind."""
    model = VerifierModel(
        features=["correlation", "periodicity"], median=[0.9, 2.0], scale=[0.1, 0.5],
        kinds={"recarved_clear": {"weights": [2.0, 0.0], "bias": 1.0, "platt": [1.0, 0.0]},
               "printed": {"weights": [0.0, -3.0], "bias": 1.0, "platt": [0.5, 0.0]}},
        thresholds={"different_seal_correlation": 0.5, "forgery_log10_lr": -0.5})
    typical = {"correlation": 0.9, "periodicity": float("nan")}
    assert model.kind_log10_lr(typical) == pytest.approx({"recarved_clear": 1.0,
                                                          "printed": 0.5})
    dotted = {"correlation": 0.9, "periodicity": 3.0}  # two spreads above genuine: dots
    per_kind = model.kind_log10_lr(dotted)
    assert per_kind["printed"] == pytest.approx(0.5 * (1.0 - 6.0))
    combined = model.log10_lr(dotted)
    assert combined == pytest.approx(-math.log10((10 ** -1.0 + 10 ** 2.5) / 2))
    assert min(per_kind.values()) <= combined <= min(per_kind.values()) + math.log10(2)
    quality = {"border_visible": 1.0, "occluded": 0.0, "known": 1.0, "print_told_apart": 1.0,
               "substituted_ink": 0.0, "extra_ink": 0.0}
    d = decide({**quality, **dotted}, model, [])
    assert d.verdict == "suspected_forgery" and "printed imitation" in d.reasons[0]
    assert d.against == pytest.approx(per_kind)
    assert decide({**quality, **typical}, model, []).verdict == "genuine"


def test_a_genuine_verdict_says_when_a_printers_dots_could_not_be_looked_for():
    """On a capture too coarse for dots (or grey, or with too little ink) a printed imitation
    is told only by its flat ink and edges: a genuine verdict says so; where the dots were
    looked for and none found, it does not."""
    from imprint.verdict import DOTS_UNREAD

    model = VerifierModel(
        features=["correlation", "periodicity"], median=[0.9, 2.0], scale=[0.1, 0.5],
        kinds={"printed": {"weights": [0.0, -3.0], "bias": 1.0, "platt": [0.5, 0.0]}},
        thresholds={"different_seal_correlation": 0.5, "forgery_log10_lr": -0.5})
    quality = {"border_visible": 1.0, "occluded": 0.0, "known": 1.0, "print_told_apart": 1.0,
               "substituted_ink": 0.0, "extra_ink": 0.0, "correlation": 0.9}
    unread = decide({**quality, "periodicity": float("nan")}, model, [])
    read = decide({**quality, "periodicity": 1.9}, model, [])
    assert unread.verdict == read.verdict == "genuine"
    assert DOTS_UNREAD in unread.reasons and DOTS_UNREAD not in read.reasons


def test_a_fax_refused_only_by_its_print_is_inconclusive_not_another_seal():
    """A faxed imprint's print reads as strokes: one correlating above every calibration fax
    of another seal but below the different-seal rules is left undecided; the same figures
    where print was told from the ink, or a fax correlating like another seal's, are another
    seal."""
    model = VerifierModel.load()
    th = model.thresholds
    fax_t, corr_t = th["fax_other_seal_correlation"], th["different_seal_correlation"]
    assert fax_t < corr_t
    base = {"border_visible": 1.0, "occluded": 0.0, "known": 1.0, "extra_ink": 0.2,
            "missing_ink": 0.2, "substituted_ink": 0.6, "correlation": (fax_t + corr_t) / 2}
    d = decide({**base, "print_told_apart": 0.0}, model, [])
    assert d.verdict == "inconclusive" and "a fax" in d.reasons[0]
    assert decide({**base, "print_told_apart": 1.0}, model, []).verdict == "different_seal"
    low = {**base, "print_told_apart": 0.0, "correlation": fax_t - 0.05}
    assert decide(low, model, []).verdict == "different_seal"


def test_a_poor_imprint_refused_only_by_its_correlation_is_inconclusive():
    """Half its border faded or a third of it under print, an imprint that correlates below
    the different-seal rule with no character differing from the master's is left undecided;
    the same figures from a good imprint, or a poor one with another character in it, are
    another seal."""
    model = VerifierModel.load()
    th = model.thresholds
    base = {"border_visible": 0.6, "occluded": 0.1, "known": 0.85, "extra_ink": 0.06,
            "missing_ink": 0.25, "substituted_ink": 0.5 * th["different_seal_substitution"],
            "print_told_apart": 1.0, "correlation": th["different_seal_correlation"] - 0.15}
    assert base["extra_ink"] >= th["sparse_extra_ink"]  # not too little ink to decide
    d = decide(base, model, [])
    assert d.verdict == "inconclusive"
    assert "no character differs" in d.reasons[0] and "60% of the border" in d.reasons[0]
    covered = decide({**base, "border_visible": 1.0, "occluded": 0.4}, model, [])
    assert covered.verdict == "inconclusive" and "40% of the imprint" in covered.reasons[0]
    assert decide({**base, "border_visible": 1.0}, model, []).verdict == "different_seal"
    other = {**base, "substituted_ink": th["different_seal_substitution"] + 0.1}
    assert decide(other, model, []).verdict == "different_seal"
    # a good imprint that cannot be laid on its master at all stays another seal
    unaligned = {**base, "border_visible": 1.0, "known": 0.0, "correlation": 0.0}
    assert decide(unaligned, model, []).verdict == "different_seal"
    # a fax has its own rule: below every calibration fax of another seal, another seal
    fax = {**base, "print_told_apart": 0.0,
           "correlation": th["fax_other_seal_correlation"] - 0.05}
    assert decide(fax, model, []).verdict == "different_seal"


def test_an_imprint_found_only_as_a_scatter_of_faint_dots_is_inconclusive():
    """A starved seal found only by its scatter's averaged colour: strokes differing both ways
    and a low correlation (the print and a pen's strokes across it, the faint dots beside
    them) call it neither another seal nor a forgery; the same figures from an imprint found
    by its ink are another seal."""
    model = VerifierModel.load()
    th = model.thresholds
    base = {"border_visible": 0.7, "occluded": 0.0, "known": 0.92, "extra_ink": 0.11,
            "missing_ink": 0.32, "substituted_ink": 0.88, "print_told_apart": 1.0,
            "correlation": th["different_seal_correlation"] - 0.25}
    d = decide({**base, "ink_scatter": 1.0}, model, [])
    assert d.verdict == "inconclusive" and "scatter of faint dots" in d.reasons[0]
    assert decide({**base, "ink_scatter": 0.0}, model, []).verdict == "different_seal"
    assert decide(base, model, []).verdict == "different_seal"


def test_a_verifier_model_of_another_shape_is_a_clear_error(tmp_path):
    """A model file from before the per-kind fusion, or one cut short, names the file and
    what is wrong instead of failing later inside a comparison."""
    from imprint.errors import ResourceError
    from imprint.verdict import MODEL_PATH
    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    older = {k: v for k, v in data.items() if k not in ("median", "kinds")}
    older.update(mean=data["median"], weights=[0.0] * len(data["features"]), bias=0.0)
    shorter = {**data, "kinds": {k: {**m, "weights": m["weights"][:-1]}
                                 for k, m in data["kinds"].items()}}
    for name, content in (("older", older), ("shorter", shorter), ("none", {**data, "kinds": {}})):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(content), encoding="utf-8")
        with pytest.raises(ResourceError, match=f"{name}.json"):
            VerifierModel.load(path)


def test_a_printers_flat_colour_shows_no_pressure_pattern():
    """The same strokes stamped (the default rubber pattern: a lighter middle, darker edges)
    and laid flat, as a printer redraws a scanned imprint: the stamped ink's amount varies
    over the seal, the flat colour's does not, and a lightly tilted stamping varies more."""
    from imprint.evidence import _pressure_pattern, _strokes
    from imprint.synth.stamping import stamp

    rec = next(r for r in make_registry(10, np.random.default_rng(4301), lookalike_rate=0,
                                        sibling_rate=0) if r.spec.kind == "round_official")
    dpi = 2 * CANONICAL_RADIUS / max(rec.face().design.extent) * 25.4  # canonical scale
    c = (CANONICAL_SIZE / 2, CANONICAL_SIZE / 2)

    def reading(conditions: StampConditions, flat: bool = False) -> float:
        density, _ = stamp(rec.face(), conditions, dpi=dpi, shape=(CANONICAL_SIZE,) * 2,
                           centre=c)
        ink = np.clip(density / max(float(np.percentile(density[density > 0.05], 95)), 1e-3),
                      0, 1).astype(np.float32)
        if flat:
            ink = cv2.GaussianBlur((ink > 0.35).astype(np.float32) * 0.8, (0, 0), 0.7)
        return _pressure_pattern(ink, _strokes(ink, np.ones(ink.shape, bool)))

    stamped = reading(StampConditions(seed=1))
    tilted = reading(StampConditions(pressure_tilt=0.5, seed=1))
    flat = reading(StampConditions(seed=1), flat=True)
    assert flat < 0.1 < stamped < tilted


def test_a_re_carved_star_is_measured_against_the_masters(seals):
    """The star's size and turn, read on the aligned imprints: a genuine imprint's agree with
    the master's; a seal re-carved with its star turned by 6 degrees, or 1.5 mm larger,
    reads so (within a degree and a half, half a mm)."""
    from imprint.synth.forgery import apply_recarve

    s = seals[0]
    rec, master = s["record"], s["rect"]["master"]
    genuine = measure(s["rect"]["genuine"], master, align(s["rect"]["genuine"], master))
    assert abs(genuine.features["star_angle_deg"]) < 1.5
    assert abs(genuine.features["star_size_mm"]) < 0.5
    for ops, name, value, tolerance in (({"star_angle_deg": 6.0}, "star_angle_deg", 6.0, 1.5),
                                        ({"star_diameter_mm": 1.5}, "star_size_mm", 1.5, 0.5)):
        face = new_seal(apply_recarve(rec.face().design, ops), np.random.default_rng(9))
        image = _scene(Stamping(face, StampConditions(angle=25.0, seed=3), rec.spec.ink, None,
                                rec.seal_id), 90)
        fake = single_imprint(image, dpi=DPI)
        f = measure(fake, master, align(fake, master)).features
        assert abs(f[name] - value) < tolerance, (name, f[name])
    table = {m.name: m for m in genuine.measurements}
    diameter = table["star diameter"]  # a 14 mm star on this 42 mm seal, read near its tips
    assert 12.5 < diameter.master < 14.5 and abs(diameter.query - diameter.master) < 0.5
    assert abs(table["star turn against master, clockwise"].query) < 1.5


def test_an_oval_seals_middle_line_is_no_star():
    """An oval seal has no star, and the line of characters through its middle must not be
    read as one (a real e-receipt's was): no star measured, no star rows in the table."""
    face = new_seal(layout(SealSpec("oval_invoice", "杭州新锐电子商务有限公司",
                                    business_line="发票专用章", tax_number="91330106MA2AXXXX1Q",
                                    diameter=40.0)), np.random.default_rng(3))
    master, query = (single_imprint(_scene(Stamping(face, StampConditions(angle=a, seed=k),
                                                    "red", "S", "S"), k), dpi=DPI)
                     for a, k in ((0.0, 1), (20.0, 2)))
    measured = measure(query, master, align(query, master))
    assert math.isnan(measured.features["star_size_mm"])
    assert math.isnan(measured.features["star_angle_deg"])
    assert not any("star" in m.name for m in measured.measurements)
