"""The sheet's perspective on a photographed page: its horizon (vanishing line).

A phone held at an angle sees the sheet in perspective. The border of a round seal is then an
ellipse, but the centre of that ellipse is not where the seal's centre is: the near side of
the seal is drawn larger than the far side. What fixes it is the horizon, the image of the line
at infinity of the sheet's plane: the seal's centre is the pole of the horizon with respect to
the ellipse, and sending the horizon back to infinity leaves the seal a plain affine image of
itself (see :mod:`imprint.rectify`).

The horizon comes from the sheet's outline where the photograph shows it: its two pairs of
opposite edges meet at two vanishing points, and the horizon joins them. It does not depend on
the sheet's size or aspect. Scans, and photographs that do not show four edges, have none.

The same two vanishing points give the sheet's own directions (its sides) anywhere on the
photograph: an imprint's turn is recorded against them, as it lies on the sheet, rather than
against the photograph's frame, which the perspective turns by a few degrees away from the
image's centre (and a camera held askew by any amount).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from imprint.ink import off_page

WORK_LONG_SIDE = 480  # px: the outline is found on a copy this size
MIN_SHEET_FRACTION = 0.2  # of the image's area
# a horizon closer to the image's centre than this many image diagonals is not a sheet's
# (no phone sees a sheet that steeply), and one further than FRONTAL is no perspective at all
MIN_HORIZON_DISTANCE = 1.0
FRONTAL_DISTANCE = 1e4


Point = tuple[float, float, float]


@dataclass(frozen=True)
class SheetView:
    """A photographed sheet's outline as perspective left it: the ``horizon`` ``(a, b, c)``
    (the line ``a x + b y + c = 0`` in image px, ``a^2 + b^2 = 1``; None where the view is
    frontal) and the two ``vanishing`` points ``(x, y, w)`` (homogeneous image px, unit length)
    where each pair of opposite sides meet, ``w`` 0 where a pair is parallel in the image."""

    horizon: tuple[float, float, float] | None
    vanishing: tuple[Point, Point]


def sheet_horizon(image: np.ndarray, around: np.ndarray | None = None
                  ) -> tuple[float, float, float] | None:
    """Horizon ``(a, b, c)`` (the line ``a x + b y + c = 0`` in ``image`` px, ``a^2 + b^2 =
    1``) of the sheet photographed on ``image`` ``(H, W, 3) uint8``, or None when no
    four-sided outline is seen or the view is frontal. ``around`` ``(H, W) bool``, where
    known, marks what surrounds the sheet."""
    view = sheet_view(image, around)
    return view.horizon if view is not None else None


def sheet_view(image: np.ndarray, around: np.ndarray | None = None) -> SheetView | None:
    """The outline of the sheet photographed on ``image`` (:class:`SheetView`), or None when
    no four-sided outline is seen (a scan, a close-up) or its horizon runs through the
    picture (no sheet is seen that steeply)."""
    h, w = image.shape[:2]
    if around is None:
        around = off_page(image, 0)
        if around is None:
            return None
    # the sheet is what is brighter than halfway from its surround to its paper, on a copy
    # blurred just enough to wash out print (the surround mask itself is too coarse to give
    # straight edges)
    f = min(1.0, WORK_LONG_SIDE / max(h, w))
    size = (max(1, round(w * f)), max(1, round(h * f)))
    grey = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA),
                        cv2.COLOR_RGB2GRAY)
    grey = cv2.GaussianBlur(grey, (0, 0), 1.5)
    surround = cv2.resize(around.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    if surround.all() or not surround.any():
        return None
    level = 0.5 * (float(np.median(grey[surround])) + float(np.percentile(grey[~surround], 90)))
    mask = (grey > level).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    outline = max(contours, key=cv2.contourArea)
    if cv2.contourArea(outline) < MIN_SHEET_FRACTION * mask.size:
        return None
    quad = cv2.approxPolyDP(outline, 0.02 * cv2.arcLength(outline, True), True)[:, 0]
    if len(quad) != 4 or not cv2.isContourConvex(quad):
        return None
    sh, sw = mask.shape
    pts = outline[:, 0].astype(np.float64)
    sides = []
    for i in range(4):
        p, q = quad[i].astype(np.float64), quad[(i + 1) % 4].astype(np.float64)
        # the outline's points along the middle of this side, away from the corners; an edge
        # running along the image's border is the frame, not the sheet
        d = q - p
        length = float(np.hypot(*d))
        t = ((pts - p) @ d) / length ** 2
        off = np.abs((pts - p) @ np.array([-d[1], d[0]])) / length
        on = pts[(t > 0.15) & (t < 0.85) & (off < 0.03 * length)]
        framed = (np.abs(on[:, 0]) < 2) | (np.abs(on[:, 0] - (sw - 1)) < 2) | \
            (np.abs(on[:, 1]) < 2) | (np.abs(on[:, 1] - (sh - 1)) < 2)
        if len(on) < 10 or framed.mean() > 0.5:
            return None
        vx, vy, x0, y0 = cv2.fitLine(on.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01)[:, 0]
        sides.append(np.array([-vy, vx, vy * x0 - vx * y0], np.float64) / f ** np.array(
            [0, 0, 1]))  # a x + b y + c = 0, in full-size px
    v1 = np.cross(sides[0], sides[2])
    v2 = np.cross(sides[1], sides[3])
    vanishing = tuple(tuple(float(x) for x in v / np.linalg.norm(v)) for v in (v1, v2))
    line = np.cross(v1, v2)
    norm = float(np.hypot(line[0], line[1]))
    diag = float(np.hypot(h, w))
    centre = np.array([w / 2, h / 2, 1.0])
    if norm == 0:
        return SheetView(None, vanishing)  # both pairs of edges parallel: a frontal view
    line = line / norm
    distance = abs(float(line @ centre)) / diag
    if distance < MIN_HORIZON_DISTANCE:
        return None
    if distance > FRONTAL_DISTANCE:
        return SheetView(None, vanishing)
    return SheetView((float(line[0]), float(line[1]), float(line[2])), vanishing)
