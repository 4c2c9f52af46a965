"""Generated seals measure to specification: diameter, border width and star size within
0.1 mm at 300 dpi, measured independently on the rendered imprint."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from imprint.synth.defects import new_seal
from imprint.synth.design import SealSpec, layout
from imprint.synth.render import MM_PER_INCH, Pose, render_face
from tests.synth.measure import ring_edges, star_diameter_from_area

DPI = 300
PX = DPI / MM_PER_INCH
TOL_MM = 0.1


def _render(face, angle: float, centre_offset=(0.37, 0.81)):
    side = int((max(face.design.extent) + 8) * PX)
    centre = (side / 2 + centre_offset[0], side / 2 + centre_offset[1])
    return render_face(face, dpi=DPI, shape=(side, side), pose=Pose(centre, angle)), centre


@pytest.mark.parametrize(("kind", "diameter", "border", "star"), [
    ("round_official", 42.0, 1.2, 14.0),
    ("round_official", 40.0, 1.2, 14.0 * 40 / 42),
    ("round_government", 58.0, 1.5, 14.0 * 58 / 42),
])
@pytest.mark.parametrize("seed", [1, 2])
def test_round_seal_measures_to_spec(kind, diameter, border, star, seed):
    rng = np.random.default_rng(seed)
    spec = SealSpec(kind, "河南森源重工有限公司", business_line="合同专用章",
                    code="4101020123456", diameter=diameter)
    face = new_seal(layout(spec), rng)  # with its stable defects: they must not bias this
    cov, centre = _render(face, angle=float(rng.uniform(-180, 180)))
    outer, inner = ring_edges(cov, centre, diameter / 2 * PX, border * PX)
    assert abs(2 * outer / PX - diameter) <= TOL_MM
    assert abs((outer - inner) / PX - border) <= TOL_MM
    measured_star = star_diameter_from_area(cov, centre, PX, reach_mm=star / 2 + 0.6)
    assert abs(measured_star - star) <= TOL_MM


def test_oval_invoice_seal_measures_40_by_30():
    spec = SealSpec("oval_invoice", "上海明达贸易有限公司", tax_number="91310115MA1H7XK23Q",
                    diameter=40.0)
    face = new_seal(layout(spec), np.random.default_rng(3))
    cov, _ = _render(face, angle=0.0)
    mask = (cov > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outer = max(contours, key=cv2.contourArea)
    (_, _), (w, h), _ = cv2.fitEllipse(outer)
    # contour pixels lie half a pixel inside the 0.5-coverage edge on each side
    major, minor = (max(w, h) + 1) / PX, (min(w, h) + 1) / PX
    assert abs(major - 40.0) <= TOL_MM
    assert abs(minor - 30.0) <= TOL_MM


def test_square_name_seal_measures_its_side():
    spec = SealSpec("square_name", "", person_name="李庆国印", diameter=18.0)
    face = new_seal(layout(spec), np.random.default_rng(4))
    cov, centre = _render(face, angle=0.0)
    band = cov[int(centre[1] - 2 * PX): int(centre[1] + 2 * PX)]
    prof = np.median(band, axis=0)
    xs = np.arange(len(prof)) + 0.5
    inked = np.nonzero(prof > 0.5)[0]
    left = np.interp(0.5, prof[inked[0] - 1: inked[0] + 1], xs[inked[0] - 1: inked[0] + 1])
    right = np.interp(0.5, prof[inked[-1]: inked[-1] + 2][::-1], xs[inked[-1]: inked[-1] + 2][::-1])
    assert abs((right - left) / PX - 18.0) <= TOL_MM
