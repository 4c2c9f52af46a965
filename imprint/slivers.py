"""Cross-page seals cut to a sliver by the page's edge.

A seal stamped across the edges of a contract's sheets (骑缝章, so that no sheet can be
swapped unseen) leaves on each sheet a sliver of itself along its edge, of two kinds:

- sheets laid side by side: the part of the disc on this sheet, its centre beyond the edge;
  the border's arc bulges away from the edge, "(" on a right-hand edge, the characters
  between it and the edge;
- sheets fanned out, each sheet's edge showing from under the next: only a band along the
  edge took ink, and on it the border crosses the band twice, ")" on a right-hand edge (the
  centre on the sheet, beyond the band), the characters inside, the rest of the disc covered
  when it was stamped.

Either is no outline of its own (a thin crescent, or pieces of one, that no ellipse fits as a
seal), and the ring filters hold too little of its circle to count. It is found by its arc:
along each edge, the ink within :data:`SLIVER_DEPTH_MM` of it that runs on to the edge is
grouped into runs along the edge; in each run the innermost ink of each row (the arc of a
"(") and the outermost ink short of the edge (the two crossings of a ")") are each fitted
with a circle of a seal's size (RANSAC), and the detector keeps the one inked along more of
the part of its circle that lies on the band of ink, where that is most of it
(:func:`imprint.segment._edge_slivers`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Slivers are looked for within this far (mm) of a page's edge; a half that reaches deeper
#: has an outline of its own.
SLIVER_DEPTH_MM = 16.0
#: Seals stamped across pages: official round seals (and the largest ovals' ends).
SLIVER_DIAMETER_MM = (30.0, 62.0)
#: A sliver runs along the edge for at least this share of the smallest such seal's diameter.
MIN_CHORD_SHARE = 0.45
#: The sliver's ink runs on to within this (mm) of the edge: the seal goes on beyond it.
EDGE_REACH_MM = 1.5
#: Rows of one sliver may be without ink for this long (mm) along the edge (a band's border
#: crossings with nothing inked between them, a faded stretch).
ROW_GAP_MM = 12.0
#: Envelope points within this (mm) of the circle are on the border's arc.
ARC_TOLERANCE_MM = 0.8
RANSAC_TRIES = 300
#: The arc holds at least this share of the envelope (a fanned band's two crossings of the
#: border, its characters between them).
MIN_INLIERS = 0.2
#: Marks smaller than this (mm) both ways are specks, not strokes.
SPECK_MM = 0.8


@dataclass(frozen=True)
class Sliver:
    """A sliver along one of a page's edges, in the mask's px: ``box`` (x0, y0, x1, y1) its
    ink; ``band`` the rectangle (x0, y0, x1, y1) of the page along the edge that took ink (its
    inner side at the sliver's innermost ink); ``circles`` ((cx, cy), radius) fitted to it,
    one for each envelope a circle fits ("(" and ")"), which the caller weighs on the ink."""

    box: tuple[float, float, float, float]
    band: tuple[float, float, float, float]
    circles: tuple[tuple[tuple[float, float], float], ...]


def find_slivers(ink: np.ndarray, px_per_mm: float) -> list[Sliver]:
    """The slivers of ``ink`` ``(H, W) bool`` along each of the four edges that a circle of a
    seal's size fits."""
    h, w = ink.shape
    out = []
    for side in range(4):
        m = _turned(ink, side)
        for circles, box in _right_edge_arcs(m, px_per_mm):
            band = (box[0], 0.0, float(m.shape[1]), float(m.shape[0]))
            out.append(Sliver(_back_box(box, side, (h, w)), _back_box(band, side, (h, w)),
                              tuple((_back(centre, side, (h, w)), r) for centre, r in circles)))
    return out


def _turned(ink: np.ndarray, side: int) -> np.ndarray:
    """``ink`` turned so that edge ``side`` (0 right, 1 left, 2 bottom, 3 top) is its right."""
    return (ink, ink[:, ::-1], ink.T, ink.T[:, ::-1])[side]


def _back(p: tuple[float, float], side: int, shape: tuple[int, int]) -> tuple[float, float]:
    """A point of the turned mask (px, continuous) in the mask's own frame."""
    h, w = shape
    x, y = p
    return ((x, y), (w - x, y), (y, x), (y, h - x))[side]


def _back_box(box, side: int, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    a, b = _back(box[:2], side, shape), _back(box[2:], side, shape)
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1]))


def _right_edge_arcs(m: np.ndarray, px_per_mm: float):
    """Each sliver along the right edge of ``m``: its fitted circles ((centre, radius), one
    per envelope a circle fits) and its ink's box."""
    w = m.shape[1]
    depth = min(w, round(SLIVER_DEPTH_MM * px_per_mm))
    reach = max(1, round(EDGE_REACH_MM * px_per_mm))
    if depth <= reach:  # an image too narrow to hold a sliver and the ink short of its edge
        return []
    strip = _without_specks(m[:, w - depth:], px_per_mm)
    inked = strip.any(axis=1)
    if not inked.any():
        return []
    at_edge = strip[:, -reach:].any(axis=1)
    innermost = (w - depth + np.argmax(strip, axis=1)).astype(float)
    # the outermost ink short of the edge: where the border crosses a band on its way out
    short = strip[:, :-reach]
    outermost = (w - reach - np.argmax(short[:, ::-1], axis=1)).astype(float)
    r_lo, r_hi = (d / 2 * px_per_mm for d in SLIVER_DIAMETER_MM)
    tol = max(1.5, ARC_TOLERANCE_MM * px_per_mm)
    found = []
    for y0, y1 in _runs(inked, round(ROW_GAP_MM * px_per_mm)):
        if y1 - y0 < MIN_CHORD_SHARE * 2 * r_lo or not at_edge[y0:y1].any():
            continue
        ys = np.arange(y0, y1)[inked[y0:y1]]
        fits = []
        crossing = ys[short[ys].any(axis=1)]
        for xs, rows, bulge in ((innermost[ys], ys, 1.0), (outermost[crossing], crossing, -1.0)):
            pts = np.stack([xs + 0.5, rows + 0.5], axis=1)
            fit = _ransac_circle(pts, r_lo, r_hi, tol, bulge)
            if fit is not None:
                fits.append(fit)
        if fits:
            found.append((fits, (float(innermost[ys].min()), float(y0), float(w), float(y1))))
    return found


def _without_specks(strip: np.ndarray, px_per_mm: float) -> np.ndarray:
    """``strip`` without marks smaller than :data:`SPECK_MM` both ways (a JPEG's colour
    noise, dust), which would join the rows of separate slivers and stand in for their arc."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(strip.astype(np.uint8),
                                                           connectivity=8)
    side = SPECK_MM * px_per_mm
    keep = (stats[:, cv2.CC_STAT_WIDTH] >= side) | (stats[:, cv2.CC_STAT_HEIGHT] >= side)
    keep[0] = False
    return keep[labels]


def _runs(rows: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """(start, stop) of the runs of True in ``rows``, joined across gaps of up to ``gap``."""
    idx = np.flatnonzero(rows)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > gap + 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    stops = np.concatenate([idx[breaks] + 1, [idx[-1] + 1]])
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _circles(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The circles (cx, cy, r), each (K,), through K triples of points (K, 3, 2); points in
    line give an infinite radius."""
    x1, y1, x2, y2, x3, y3 = (p[:, i, j] for i in range(3) for j in range(2))
    d = 2 * (x1 * (y2 - y3) + x2 * (y3 - y1) + x3 * (y1 - y2))
    d = np.where(np.abs(d) < 1e-9, np.nan, d)
    s1, s2, s3 = x1 * x1 + y1 * y1, x2 * x2 + y2 * y2, x3 * x3 + y3 * y3
    cx = (s1 * (y2 - y3) + s2 * (y3 - y1) + s3 * (y1 - y2)) / d
    cy = (s1 * (x3 - x2) + s2 * (x1 - x3) + s3 * (x2 - x1)) / d
    return cx, cy, np.nan_to_num(np.hypot(x1 - cx, y1 - cy), nan=np.inf)


def _ransac_circle(pts: np.ndarray, r_lo: float, r_hi: float, tol: float, bulge: float):
    """The circle of radius ``r_lo``..``r_hi`` whose points lie left of its centre (``bulge``
    1: a "(") or right of it (-1: a ")"), on which most of ``pts`` lie: ((cx, cy), r),
    refined by least squares on its inliers; None if none holds MIN_INLIERS of them.
    Deterministic (the triples are drawn by a fixed seed)."""
    n = len(pts)
    if n < 9:
        return None
    rng = np.random.default_rng(0)
    triples = np.sort(rng.random((RANSAC_TRIES, n)).argpartition(3, axis=1)[:, :3], axis=1)
    cx, cy, r = _circles(pts[triples])
    ok = (r >= r_lo) & (r <= r_hi)
    if not ok.any():
        return None
    cx, cy, r = cx[ok], cy[ok], r[ok]
    dist = np.hypot(pts[None, :, 0] - cx[:, None], pts[None, :, 1] - cy[:, None])
    inl = (np.abs(dist - r[:, None]) <= tol) & (bulge * (cx[:, None] - pts[None, :, 0]) > 0)
    best = int(np.argmax(inl.sum(axis=1)))
    best_in = inl[best]
    if best_in.sum() < max(9, MIN_INLIERS * n):
        return None
    fit = (float(cx[best]), float(cy[best]), float(r[best]))
    refined = _least_squares_circle(pts[best_in])
    if refined is not None and r_lo <= refined[2] <= r_hi:
        fit = refined
    return fit[:2], fit[2]


def _least_squares_circle(p: np.ndarray) -> tuple[float, float, float] | None:
    """Algebraic (Kasa) circle fit to points (N, 2)."""
    a = np.column_stack([2 * p[:, 0], 2 * p[:, 1], np.ones(len(p))])
    b = (p ** 2).sum(axis=1)
    try:
        (cx, cy, c), *_ = np.linalg.lstsq(a, b, rcond=None)
    except np.linalg.LinAlgError:
        return None
    r2 = c + cx * cx + cy * cy
    return (float(cx), float(cy), math.sqrt(r2)) if r2 > 0 else None
