"""Each forgery states its kind and magnitudes, and what it states is what was drawn:
every change is measured on the rendered imprint, independently of the code that made it."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest

from imprint.synth.defects import new_seal
from imprint.synth.design import SealSpec, layout
from imprint.synth.forgery import (
    RECARVE_RANGES,
    apply_recarve,
    halftone,
    photo_engrave,
    print_imitation,
    recarve,
)
from imprint.synth.render import MM_PER_INCH, Pose, SealFace, render_face
from imprint.synth.stamping import StampConditions, stamp
from tests.synth.measure import (
    best_rotation,
    centroid,
    ring_edges,
    star_clock_angle,
    star_diameter_from_area,
)

DPI = 300
PX = DPI / MM_PER_INCH
SPEC = SealSpec("round_official", "河南森源重工有限公司", business_line="合同专用章",
                code="4101020123456")


@pytest.fixture(scope="module")
def design():
    return layout(SPEC)


def _render(design, dpi=DPI, angle=0.0):
    px = dpi / MM_PER_INCH
    side = int((max(design.extent) + 8) * px)
    centre = (side / 2 + 0.3, side / 2 - 0.2)
    face = SealFace(design)
    return render_face(face, dpi=dpi, shape=(side, side), pose=Pose(centre, angle)), centre


def _glyph_only(design, index, role="name"):
    keep = tuple(g for g in design.glyphs if g.role == role and g.index == index)
    return replace(design, glyphs=keep, star=None, border=replace(design.border, line=0.0))


@pytest.mark.parametrize("delta", [1.5, -0.8, 0.2, -0.1])
def test_diameter_change_is_measured(design, delta):
    forged = apply_recarve(design, {"diameter_mm": delta})
    g_cov, gc = _render(design)
    f_cov, fc = _render(forged)  # a bigger seal gets a bigger canvas: its own centre
    g_outer, _ = ring_edges(g_cov, gc, 21 * PX, 1.2 * PX)
    f_outer, _ = ring_edges(f_cov, fc, (21 + delta / 2) * PX, 1.2 * PX)
    assert abs(2 * (f_outer - g_outer) / PX - delta) <= 0.05


@pytest.mark.parametrize("delta", [0.5, 0.15, -0.1])
def test_border_width_change_is_measured(design, delta):
    forged = apply_recarve(design, {"border_width_mm": delta})
    g_cov, c = _render(design)
    f_cov, _ = _render(forged)
    go, gi = ring_edges(g_cov, c, 21 * PX, 1.2 * PX)
    fo, fi = ring_edges(f_cov, c, 21 * PX, (1.2 + delta) * PX)
    assert abs(((fo - fi) - (go - gi)) / PX - delta) <= 0.05


@pytest.mark.parametrize("delta", [1.2, -0.15, 0.1])
def test_star_size_change_is_measured(design, delta):
    forged = apply_recarve(design, {"star_diameter_mm": delta})
    g_cov, c = _render(design)
    f_cov, _ = _render(forged)
    g = star_diameter_from_area(g_cov, c, PX, reach_mm=7.8)
    f = star_diameter_from_area(f_cov, c, PX, reach_mm=7.8)
    assert abs((f - g) - delta) <= 0.05


@pytest.mark.parametrize("delta", [5.0, -0.5, 1.0])
def test_star_angle_change_is_measured(design, delta):
    forged = apply_recarve(design, {"star_angle_deg": delta})
    g_cov, c = _render(design, dpi=600)
    f_cov, _ = _render(forged, dpi=600)
    r = 5.0 * 600 / MM_PER_INCH
    measured = star_clock_angle(f_cov, c, r) - star_clock_angle(g_cov, c, r)
    assert abs(measured - delta) <= 0.1


def _one_glyph_changed(design, op: str, index: int, delta: float):
    """Renders at 600 dpi of name glyph ``index`` before and after a one-glyph change, and
    the seal centre (px)."""
    forged = apply_recarve(design, {op: {"indices": [index], "values": [delta]}})
    g_cov, c = _render(_glyph_only(design, index), dpi=600)
    f_cov, _ = _render(_glyph_only(forged, index), dpi=600)
    return g_cov, f_cov, c


@pytest.mark.parametrize("delta", [3.0, -0.5, 1.0])
def test_character_angle_change_is_measured(design, delta):
    index = 4
    g_cov, f_cov, c = _one_glyph_changed(design, "char_angle_deg", index, delta)
    glyph = next(g for g in design.glyphs if g.role == "name" and g.index == index)
    px = 600 / MM_PER_INCH
    centre = (c[0] + glyph.centre[0] * px, c[1] + glyph.centre[1] * px)
    measured = best_rotation(g_cov, f_cov, centre, np.arange(-4.0, 4.01, 0.05))
    assert abs(measured - delta) <= 0.1


@pytest.mark.parametrize("delta", [0.8, -0.2, 0.1])
def test_character_radial_offset_is_measured(design, delta):
    g_cov, f_cov, c = _one_glyph_changed(design, "char_radial_mm", 2, delta)
    px = 600 / MM_PER_INCH
    rg = math.dist(centroid(g_cov), c) / px
    rf = math.dist(centroid(f_cov), c) / px
    assert abs((rf - rg) - delta) <= 0.02


@pytest.mark.parametrize("delta", [3.0, -1.0, 0.5])
def test_spacing_change_is_measured(design, delta):
    n = sum(1 for g in design.glyphs if g.role == "name")
    forged = apply_recarve(design, {"spacing_deg": delta})

    def clock(d, i):
        cov, c = _render(_glyph_only(d, i), dpi=600)
        x, y = centroid(cov)
        return math.degrees(math.atan2(x - c[0], -(y - c[1])))

    span_g = clock(design, n - 1) - clock(design, 0)
    span_f = clock(forged, n - 1) - clock(forged, 0)
    assert abs((span_f - span_g) - delta) <= 0.1


@pytest.mark.parametrize("delta", [0.6, 0.15])
def test_glyph_scale_change_is_measured(design, delta):
    index = 3
    thin = replace(design, stroke_weight=0.0)  # so the measured size is the glyph's alone
    forged = apply_recarve(thin, {"glyph_scale_mm": delta})
    g_cov, _ = _render(_glyph_only(thin, index), dpi=600)
    f_cov, _ = _render(_glyph_only(forged, index), dpi=600)

    def spread(cov):
        x, y = centroid(cov)
        h, w = cov.shape
        ys, xs = np.mgrid[0:h, 0:w]
        return math.sqrt((cov * ((xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2)).sum() / cov.sum())

    glyph = next(g for g in design.glyphs if g.role == "name" and g.index == index)
    expected = (glyph.size[1] + delta) / glyph.size[1]
    assert abs(spread(f_cov) / spread(g_cov) - expected) <= 0.005


def test_typeface_change_draws_other_glyph_shapes(design):
    forged = apply_recarve(design, {"typeface": {"from": design.typeface, "to": "gbsn"}})
    g_cov, _ = _render(_glyph_only(design, 5), dpi=600)
    f_cov, _ = _render(_glyph_only(forged, 5), dpi=600)
    g, f = g_cov > 0.5, f_cov > 0.5
    iou = (g & f).sum() / (g | f).sum()
    assert iou < 0.8


@pytest.mark.parametrize("level", ["clear", "subtle"])
def test_recarve_records_what_it_drew(design, level):
    for seed in range(20):
        forgery = recarve(design, np.random.default_rng(seed), level)
        ops = forgery.params["ops"]
        assert forgery.kind == "recarved" and forgery.level == level and ops
        # the stated ops, replayed, give exactly the forged design
        assert apply_recarve(design, ops) == forgery.face.design
        ranges = RECARVE_RANGES[level]
        for op, value in ops.items():
            if op == "typeface":
                assert level == "clear" and value["to"] != value["from"]
                continue
            values = value["values"] if isinstance(value, dict) else [value]
            lo, hi = ranges[op]
            assert all(lo - 1e-9 <= abs(v) <= hi + 1e-9 for v in values), (op, values)
        # a re-carved seal is a new physical seal: none of the genuine seal's defects
        genuine = new_seal(design, np.random.default_rng(1000 + seed))
        assert not set(genuine.defects) & set(forgery.face.defects)


def test_photo_engraved_copy_freezes_the_source_imprint(design):
    genuine = new_seal(design, np.random.default_rng(5))
    forgery = photo_engrave(genuine, np.random.default_rng(6))
    p = forgery.params
    assert forgery.kind == "photo_engraved"
    assert {"source_conditions", "blur_mm", "threshold", "smooth_mm", "scale_error"} <= set(p)
    # the relief is that source imprint, thresholded: replaying the stated source gives it
    src = StampConditions(**p["source_conditions"])
    shape = forgery.face.raster.coverage.shape
    density, _ = stamp(genuine, src, dpi=p["source_dpi"], shape=shape,
                       centre=(shape[1] / 2, shape[0] / 2))
    px = p["source_dpi"] / MM_PER_INCH
    photo = cv2.GaussianBlur(density, (0, 0), p["blur_mm"] * px) > p["threshold"]
    plate = forgery.face.raster.coverage > 0.5
    assert (photo & plate).sum() / (photo | plate).sum() > 0.9
    # its ink accidents are frozen: where the source imprint was starved, the copy is bare
    bare = (density < 0.02) & (cv2.GaussianBlur(density, (0, 0), 3 * px * 0.1) > 0.2)
    if bare.sum() > 50:
        assert plate[bare].mean() < 0.5
    # geometry very close to the genuine face, but not its crisp edges
    g_cov, c = _render(design)
    side = g_cov.shape[0]
    f_cov = render_face(forgery.face, dpi=DPI, shape=(side, side), pose=Pose(c, 0.0))
    g, f = g_cov > 0.5, f_cov > 0.5
    iou = (g & f).sum() / (g | f).sum()
    assert 0.6 < iou < 0.98
    assert abs(p["scale_error"]) <= 0.004


def test_halftone_reproduces_tone_with_dots_at_the_stated_screen():
    rng = np.random.default_rng(0)
    flat = np.full((512, 512), 0.4, np.float32)
    dots = halftone(flat, method="am", lpi=150, printer_dpi=1200, angle_deg=0.0, rng=rng)
    assert set(np.unique(dots)) <= {0.0, 1.0}
    assert abs(dots.mean() - 0.4) < 0.05
    spectrum = np.abs(np.fft.rfft(dots.mean(axis=0) - dots.mean()))
    period = len(dots) / np.argmax(spectrum)
    assert abs(period - 1200 / 150) < 0.3
    dither = halftone(flat, method="dither", lpi=150, printer_dpi=600, angle_deg=0, rng=rng)
    assert set(np.unique(dither)) <= {0.0, 1.0} and abs(dither.mean() - 0.4) < 0.02


def test_printed_imitation_states_its_process(design):
    genuine = new_seal(design, np.random.default_rng(7))
    shape = (560, 560)
    density, _ = stamp(genuine, StampConditions(seed=3), dpi=DPI, shape=shape,
                       centre=(280.0, 280.0))
    layers, params = print_imitation(density, DPI, np.random.default_rng(8))
    assert params["method"] in ("am", "dither") and params["printer_dpi"] in (600.0, 1200.0)
    assert [layer.colour for layer in layers] and all(
        layer.density.shape == shape for layer in layers)
    # ink only where the genuine imprint was, give or take the toner's one-pixel spread
    ink = sum(layer.density for layer in layers) > 0.2
    support = cv2.dilate((density > 0.05).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert (ink & ~support).mean() < 0.002
