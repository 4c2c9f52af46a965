"""Pages and crops: the ground truth in the manifest is where the imprint really is."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imprint.synth.defects import new_seal
from imprint.synth.design import SealSpec, layout
from imprint.synth.medium import Capture
from imprint.synth.scene import Stamping, imprint_scene, page_scene
from imprint.synth.stamping import StampConditions
from tests.synth.measure import ring_edges

SPEC = SealSpec("round_official", "江苏宏达机械制造有限公司", business_line="合同专用章")


@pytest.fixture(scope="module")
def face():
    return new_seal(layout(SPEC), np.random.default_rng(2))


def _ink(image: np.ndarray) -> np.ndarray:
    """Red ink density from an RGB image of a red imprint on near-white paper."""
    rgb = image.astype(np.float32) / 255
    return np.clip((rgb[..., 0] - rgb[..., 1]) / 0.6, 0, 1)


@pytest.mark.parametrize("angle", [0.0, 37.0, -120.0])
def test_crop_truth_centre_and_radius_match_the_printed_border(face, angle):
    cond = StampConditions(angle=angle, ink=0.2, centre_light=0.0, edge_dark=0.0, mottle=0.0,
                           seed=4)
    st = Stamping(face, cond, "red", "S1", "S1")
    image, truth = imprint_scene(st, dpi=300, rng=np.random.default_rng(1), clutter=False,
                                 capture=Capture("scan"))
    outer, _ = ring_edges(_ink(image), truth.centre, truth.axes[0], 1.2 * truth.px_per_mm)
    # flooding by 0.2 spreads the border outward a little: allow 1 px (0.085 mm)
    assert abs(outer - truth.axes[0]) < 1.0
    assert truth.visible == pytest.approx(1.0)
    x0, y0, x1, y1 = truth.box
    assert x0 <= truth.centre[0] <= x1 and y0 <= truth.centre[1] <= y1


def test_page_places_normal_overlapping_and_edge_imprints(face):
    rng = np.random.default_rng(5)
    conds = [StampConditions(angle=float(a), seed=i) for i, a in enumerate((10, 80, -30))]
    stampings = [Stamping(face, conds[0], "red", "S1", "S1", None, {}),
                 Stamping(face, conds[1], "blue", "S1", "S1", None, {"placement": "overlap"}),
                 Stamping(face, conds[2], "red", "S1", "S1", None, {"placement": "edge"})]
    page, truths, _ = page_scene(stampings, dpi=150, rng=rng,
                                       capture=Capture("scan", 0, 0.3, 0.0))
    h, w = page.shape[:2]
    assert (h, w) == (round(297 * 150 / 25.4), round(210 * 150 / 25.4))
    normal, overlap, edge = truths
    radius = normal.axes[0]
    assert normal.visible == pytest.approx(1.0)
    assert math.dist(normal.centre, overlap.centre) < 1.3 * radius
    assert edge.visible < 0.95
    assert edge.box[0] <= 0.5 or edge.box[2] >= w - 0.5
    for t in truths:
        assert 0 <= t.box[0] < t.box[2] <= w and 0 <= t.box[1] < t.box[3] <= h


def test_phone_capture_maps_the_truth_through_its_homography(face):
    rng = np.random.default_rng(8)
    st = Stamping(face, StampConditions(seed=1), "red", "S1", "S1")
    page, truths, capture = page_scene([st], dpi=100, rng=rng,
                                       capture=Capture("phone", 0, 0.0, 0.0, 25.0, 40.0))
    hmat = np.array(capture.homography)
    assert not np.allclose(hmat, np.eye(3))
    (t,) = truths
    h, w = page.shape[:2]
    assert 0 < t.centre[0] < w and 0 < t.centre[1] < h
    # the imprint's ink is around the mapped centre
    ink = _ink(page)
    ys, xs = np.nonzero(ink > 0.3)
    assert math.dist((xs.mean(), ys.mean()), t.centre) < 0.3 * t.axes[0]
