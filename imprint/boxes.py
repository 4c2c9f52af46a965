"""Axis-aligned boxes ``(x0, y0, x1, y1)`` in page px: overlap and one-to-one matching; and
a seal's outline (round, oval or square) drawn as a filled mask."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Box = Sequence[float]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(truth: Sequence[Box], found: Sequence[Box], threshold: float = 0.5
          ) -> list[tuple[int, int]]:
    """Greedy one-to-one matching by IoU >= ``threshold``, best pairs first: (truth index,
    found index) pairs."""
    pairs = sorted(((iou(t, d), i, j) for i, t in enumerate(truth)
                    for j, d in enumerate(found)), reverse=True)
    used_t, used_d, out = set(), set(), []
    for v, i, j in pairs:
        if v < threshold:
            break
        if i not in used_t and j not in used_d:
            used_t.add(i)
            used_d.add(j)
            out.append((i, j))
    return out


def fill_outline(mask: np.ndarray, centre: Sequence[float], axes: Sequence[float],
                 angle: float, square: bool) -> np.ndarray:
    """Fill ``mask`` (uint8, in place) with 1 inside an outline: the ellipse of half
    ``axes`` or, ``square``, the rectangle of half sides ``axes``, about ``centre`` and
    turned by ``angle`` degrees in OpenCV's sense (clockwise on the image). Returns ``mask``."""
    if square:
        corners = cv2.boxPoints((tuple(centre), (2 * axes[0], 2 * axes[1]), angle))
        cv2.fillPoly(mask, [np.round(corners).astype(np.int32)], 1)
    else:
        cv2.ellipse(mask, (round(centre[0]), round(centre[1])), (round(axes[0]), round(axes[1])),
                    angle, 0, 360, 1, cv2.FILLED)
    return mask
