"""The photographed sheet's horizon, and the perspective it lets rectification undo."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest

import imprint.rectify as rectify_module
from imprint import archive
from imprint.rectify import rectify
from imprint.segment import detect_imprints
from imprint.sheet import sheet_horizon
from imprint.synth.defects import new_seal
from imprint.synth.design import SealSpec, layout
from imprint.synth.medium import Capture
from imprint.synth.scene import Stamping, page_scene
from imprint.synth.stamping import StampConditions

DPI = 200


@pytest.fixture(scope="module")
def photographed():
    """A page with one round imprint photographed 28 degrees off square: (image, truth,
    capture)."""
    spec = SealSpec("round_official", "杭州天目山茶叶有限公司", code="3301060098765")
    seal = new_seal(layout(spec), np.random.default_rng(21))
    stamping = Stamping(seal, StampConditions(angle=40.0, ink=0.1, seed=3), "red", "S", "S")
    image, (truth,), capture = page_scene(
        [stamping], dpi=DPI, rng=np.random.default_rng(22),
        capture=Capture("phone", 92, 0.5, 0.01, tilt=28.0, tilt_axis=35.0))
    return image, truth, capture


def _true_horizon(capture: Capture) -> np.ndarray:
    line = np.linalg.inv(np.asarray(capture.homography)).T @ (0.0, 0.0, 1.0)
    return line / math.hypot(line[0], line[1])


def test_horizon_of_a_photographed_sheet(photographed):
    image, _, capture = photographed
    got = sheet_horizon(image)
    assert got is not None
    want = _true_horizon(capture)
    got = np.asarray(got) * np.sign(got[2]) * np.sign(want[2])
    # the same direction within 3 degrees, the same distance from the image's centre within 5 %
    turn = math.degrees(math.acos(min(1.0, abs(float(got[:2] @ want[:2])))))
    assert turn < 3
    mid = (image.shape[1] / 2, image.shape[0] / 2, 1.0)
    assert float(got @ mid) == pytest.approx(float(want @ mid), rel=0.05)


def test_scanned_sheet_has_no_horizon():
    image, _, _ = page_scene([], dpi=DPI, rng=np.random.default_rng(23),
                             capture=Capture("scan", 90, 0.4, 0.004))
    assert sheet_horizon(image) is None
    assert all(d.horizon is None for d in detect_imprints(image, dpi=DPI))


def test_perspective_is_undone_about_the_seals_own_centre(photographed):
    """The centre of a photographed circle's ellipse is not the circle's centre; with the
    sheet's horizon, rectification finds the seal's own centre to within 1 % of its radius."""
    image, truth, _ = photographed
    (det,) = detect_imprints(image, dpi=DPI)
    assert det.horizon is not None
    r = rectify(image, det, dpi=DPI)
    assert math.dist(r.geometry.centre, truth.centre) / truth.axes[0] <= 0.01


@pytest.mark.parametrize(("angle", "tilt", "axis"), [(40.0, 28.0, 35.0), (-70.0, 25.0, 120.0),
                                                  (10.0, 30.0, 80.0)])
def test_the_turn_is_recorded_against_the_sheets_sides(angle, tilt, axis):
    """Away from the photograph's centre, perspective turns the sheet's directions by a few
    degrees: the seal's turn is recorded against the sheet's own sides, where its outline is
    seen, to within three quarters of a degree (the up read from the layout is itself good to
    a few tenths); against the photograph's frame it differs by the perspective's turn there
    (0.7 to 2.5 degrees in these three)."""
    spec = SealSpec("round_official", "杭州天目山茶叶有限公司", code="3301060098765")
    seal = new_seal(layout(spec), np.random.default_rng(21))
    stamping = Stamping(seal, StampConditions(angle=angle, ink=0.1, seed=3), "red", "S", "S")
    image, _, _ = page_scene([stamping], dpi=DPI, rng=np.random.default_rng(22),
                             capture=Capture("phone", 92, 0.5, 0.01, tilt=tilt, tilt_axis=axis))
    (det,) = detect_imprints(image, dpi=DPI)
    assert det.sheet_sides is not None
    got = rectify(image, det, dpi=DPI).geometry.rotation
    assert abs((got - angle + 180) % 360 - 180) <= 0.75
    framed = rectify(image, dataclasses.replace(det, sheet_sides=None), dpi=DPI)
    assert abs((framed.geometry.rotation - got + 180) % 360 - 180) > 0.5


def test_the_sheets_sides_survive_storage(photographed):
    image, _, _ = photographed
    (det,) = detect_imprints(image, dpi=DPI)
    r = rectify(image, det, dpi=DPI)
    assert archive.from_bytes(archive.to_bytes(r)).detection == r.detection


def test_without_horizon_the_layout_gives_the_centre(photographed, monkeypatch):
    """A close-up shows no sheet edge: the seal's centre is then found from its own rings
    (name arc, star), which are concentric only about it, not about the ellipse's centre."""
    image, truth, _ = photographed
    (det,) = detect_imprints(image, dpi=DPI)
    close_up = dataclasses.replace(det, horizon=None)
    radius = truth.axes[0]
    err = math.dist(rectify(image, close_up, dpi=DPI).geometry.centre, truth.centre) / radius
    monkeypatch.setattr(rectify_module, "_content_centring", lambda unturned: None)
    ellipse = rectify(image, close_up, dpi=DPI).geometry.centre
    err_ellipse = math.dist(ellipse, truth.centre) / radius
    assert err <= 0.01 < 0.02 < err_ellipse


def test_a_scanned_seal_is_not_moved_off_its_border_centre():
    """On a flat scan the border's centre is right: re-centring from the layout must not move
    it (the layout is less exact than the border)."""
    spec = SealSpec("round_official", "成都锦江电子科技有限公司", code="5101040087654")
    seal = new_seal(layout(spec), np.random.default_rng(31))
    stamping = Stamping(seal, StampConditions(angle=-20.0, ink=0.1, seed=4), "blue", "S", "S")
    image, (truth,), _ = page_scene([stamping], dpi=DPI, rng=np.random.default_rng(32),
                                    capture=Capture("scan", 90, 0.4, 0.004))
    (det,) = detect_imprints(image, dpi=DPI)
    r = rectify(image, det, dpi=DPI)
    assert r.geometry.homography[2, :2] == pytest.approx((0.0, 0.0), abs=1e-12)
    assert math.dist(r.geometry.centre, truth.centre) / truth.axes[0] <= 0.01


@pytest.mark.parametrize("seed", [13, 18, 50, 59])
def test_a_half_printed_starved_scan_keeps_its_border_centre(seed):
    """A starved imprint whose low side failed to print, scanned: its border is an arc, whose
    ellipse stretches along the gap, and its rings, sharpened by chance about another point,
    would re-centre it 2 to 6 % of the radius off. A flat capture has no perspective to undo:
    the arc is fitted as a circle, and the centre is the circle's."""
    from imprint.pipeline import rectified_imprints

    spec = SealSpec("round_official", "成都锦江电子科技有限公司", code="5101040087654")
    seal = new_seal(layout(spec), np.random.default_rng(31))
    rng = np.random.default_rng(seed)
    cond = StampConditions(angle=float(rng.uniform(0, 360)), ink=float(rng.uniform(-0.9, -0.5)),
                           pressure_tilt=0.6, pressure_dir=float(rng.uniform(0, 360)),
                           partial=float(rng.uniform(0.25, 0.45)), mottle=0.6, seed=seed)
    image, (truth,), _ = page_scene([Stamping(seal, cond, "red", "S", "S")], dpi=DPI,
                                    rng=np.random.default_rng(100 + seed),
                                    capture=Capture("scan", 90, 0.4, 0.004))
    (r,) = rectified_imprints(image, dpi=DPI)
    assert math.dist(r.geometry.centre, truth.centre) / truth.axes[0] <= 0.01


def test_a_flat_captures_round_border_is_a_circle_only_where_its_ellipse_cannot_be_trusted():
    """An arc (a quarter of the border unprinted) fitted as an ellipse is free to stretch
    along the gap; as a circle it is not. A border seen all round keeps its ellipse, which
    takes up the scanner's stretch."""
    rng = np.random.default_rng(0)
    t = np.radians(np.arange(0, 360, 3.0))
    arc = t[(t < np.radians(150)) | (t > np.radians(240))]
    pts = np.stack([500 + 150 * np.cos(arc), 400 + 150 * np.sin(arc)], 1)
    pts = pts + rng.normal(0, 0.7, pts.shape)
    stretched = ((503.0, 398.0), (152.0, 145.0), 30.0)  # an ellipse pulled along the gap
    (cx, cy), (a, b), _ = rectify_module._flat_round(pts, stretched)
    assert math.dist((cx, cy), (500, 400)) < 0.5 and a == b == pytest.approx(150, abs=0.5)
    whole = np.stack([500 + 150.5 * np.cos(t), 400 + 149.5 * np.sin(t)], 1)
    fit = ((500.0, 400.0), (150.5, 149.5), 0.0)
    assert rectify_module._flat_round(whole, fit) is fit


def test_a_photographed_squares_side_on_its_borders_inner_edge_is_moved_out():
    """A square border band (outer half side 60 px, 6 px wide, turned 20 degrees) whose right
    side was fitted on the band's inner edge, so slanted against it: read across the side, the
    band's outer edge puts the side back, and the canonical centre on the seal's. A side on
    the outer edge already stays."""

    ink = np.zeros((240, 240), np.float32)
    centre, half, width, turn = np.array([120.0, 118.0]), 60.0, 6.0, 20.0
    th = math.radians(turn)
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])

    def page(x, y):
        return centre + rot @ np.array([x, y])

    outer = np.array([page(x, y) for x, y in ((-half, -half), (half, -half), (half, half),
                                                (-half, half))])
    inner = np.array([page(x, y) for x, y in ((-half + width, -half + width),
                                                (half - width, -half + width),
                                                (half - width, half - width),
                                                (-half + width, half - width))])
    cv2.fillPoly(ink, [np.round(outer * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    cv2.fillPoly(ink, [np.round(inner * 16).astype(np.int32)], 0.0, cv2.LINE_AA, 4)
    off = np.zeros(ink.shape, bool)
    mid, k = rectify_module.CANONICAL_SIZE / 2 - 0.5, rectify_module.SQUARE_HALF_SIDE
    canon = np.float32([[mid - k, mid - k], [mid + k, mid - k], [mid + k, mid + k],
                        [mid - k, mid + k]])
    # the right side drawn from the inner edge at its top to 2 px inside it at its bottom
    seen = np.float32([outer[0], page(half - width, -half), page(half - width - 2, half),
                       outer[3]])
    quad = cv2.getPerspectiveTransform(canon, seen).astype(float)
    fit = (tuple(centre), (half, half), turn)
    moved = rectify_module._sides_outward(ink, off, fit, quad)
    assert moved is not None
    got = cv2.perspectiveTransform(canon[None].astype(float), moved)[0]
    assert np.abs(got - outer).max() < 1.0
    at = moved @ np.array([mid, mid, 1.0])
    assert math.dist(at[:2] / at[2], centre) < 0.3
    right = cv2.getPerspectiveTransform(canon, outer.astype(np.float32)).astype(float)
    assert rectify_module._sides_outward(ink, off, fit, right) is None


@pytest.mark.parametrize("seed", [0, 3, 6])
def test_a_seal_cut_by_a_photographed_sheets_edge_is_an_edge_half(seed):
    """A seal stamped across the edge of a photographed sheet ends at the sheet's edge, not
    the photograph's: its border beyond it is off the page, as beyond an image's edge (it had
    been found as a whole seal, visible all round), and its box holds only its part on the
    sheet."""
    from imprint.boxes import iou

    spec = SealSpec("round_official", "杭州天目山茶叶有限公司", code="3301060098765")
    seal = new_seal(layout(spec), np.random.default_rng(21))
    stamping = Stamping(seal, StampConditions(angle=30.0 * seed, ink=0.1, seed=seed), "red",
                        "S", "S", labels={"placement": "edge"})
    image, (truth,), _ = page_scene(
        [stamping], dpi=DPI, rng=np.random.default_rng(seed),
        capture=Capture("phone", 92, 0.5, 0.01, tilt=25.0, tilt_axis=20.0 * seed))
    (det,) = detect_imprints(image, dpi=DPI)
    assert truth.visible < 0.75
    assert iou(det.box, truth.box) >= 0.8
    assert abs(det.visible - truth.visible) <= 0.15
