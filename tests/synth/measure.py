"""Independent measurements of rendered imprints, for checking the generator against what it
states. Nothing here calls the generator's own geometry code."""

from __future__ import annotations

import math

import cv2
import numpy as np


def radial_median(coverage: np.ndarray, centre, radii_px: np.ndarray, n_angles: int = 1440
                  ) -> np.ndarray:
    """Median over angles of the coverage on circles of the given radii (bilinear)."""
    t = np.linspace(0, 2 * np.pi, n_angles, endpoint=False)
    # page continuous coords -> cv2 pixel-centre coords: subtract 0.5
    mx = (centre[0] - 0.5 + radii_px[:, None] * np.cos(t)[None]).astype(np.float32)
    my = (centre[1] - 0.5 + radii_px[:, None] * np.sin(t)[None]).astype(np.float32)
    samples = cv2.remap(coverage.astype(np.float32), mx, my, cv2.INTER_LINEAR)
    return np.median(samples, axis=1)


def _crossing(r: np.ndarray, prof: np.ndarray, level: float = 0.5) -> float:
    """Radius where ``prof`` crosses ``level`` between its two neighbouring samples."""
    i = np.nonzero((prof[:-1] - level) * (prof[1:] - level) <= 0)[0]
    if len(i) == 0:
        raise AssertionError("no crossing")
    i = i[-1]
    f = (level - prof[i]) / (prof[i + 1] - prof[i])
    return float(r[i] + f * (r[i + 1] - r[i]))


def ring_edges(coverage, centre, r_expect_px: float, line_px: float) -> tuple[float, float]:
    """(outer, inner) radius in px of a circular border near ``r_expect_px``."""
    r = np.arange(r_expect_px - 3 * line_px, r_expect_px + 3 * line_px, 0.05)
    prof = radial_median(coverage, centre, r)
    outer = _crossing(r, prof)
    inside = r < outer - line_px / 2
    inner_r, inner_p = r[inside], prof[inside]
    return outer, _crossing(inner_r, inner_p)


def star_diameter_from_area(coverage, centre, px_per_mm, reach_mm: float,
                            inner_ratio: float = 0.382) -> float:
    """Tip-to-tip diameter (mm) of a regular five-pointed star from its inked area."""
    h, w = coverage.shape
    ys, xs = np.mgrid[0:h, 0:w]
    d = np.hypot(xs + 0.5 - centre[0], ys + 0.5 - centre[1])
    area_mm2 = float(coverage[d <= reach_mm * px_per_mm].sum()) / px_per_mm**2
    r = math.sqrt(area_mm2 / (5 * inner_ratio * math.sin(math.radians(36))))
    return 2 * r


def star_clock_angle(coverage, centre, r_px: float) -> float:
    """Clock angle (deg) of the star's top point, from the five-fold symmetry of its tips."""
    t = np.linspace(0, 2 * np.pi, 3600, endpoint=False)
    # clock angle: clockwise from 12 o'clock; x = sin, y = -cos
    mx = (centre[0] - 0.5 + r_px * np.sin(t)).astype(np.float32)[None]
    my = (centre[1] - 0.5 - r_px * np.cos(t)).astype(np.float32)[None]
    v = cv2.remap(coverage.astype(np.float32), mx, my, cv2.INTER_LINEAR)[0]
    phase = np.angle(np.sum(v * np.exp(1j * 5 * t)))
    return math.degrees(phase / 5)


def centroid(coverage) -> tuple[float, float]:
    h, w = coverage.shape
    ys, xs = np.mgrid[0:h, 0:w]
    m = coverage.sum()
    return float((coverage * (xs + 0.5)).sum() / m), float((coverage * (ys + 0.5)).sum() / m)


def best_rotation(reference: np.ndarray, target: np.ndarray, centre, candidates_deg
                  ) -> float:
    """The rotation (deg, clockwise on the page) of ``reference`` about ``centre`` that best
    matches ``target`` (least squares)."""
    best, best_err = None, np.inf
    for a in candidates_deg:
        # cv2 positive angle turns counter-clockwise on the page (y down): negate
        m = cv2.getRotationMatrix2D((centre[0] - 0.5, centre[1] - 0.5), -a, 1.0)
        warped = cv2.warpAffine(reference, m, reference.shape[::-1], flags=cv2.INTER_LINEAR)
        err = float(((warped - target) ** 2).sum())
        if err < best_err:
            best, best_err = a, err
    return float(best)
