"""Axis-aligned boxes ``(x0, y0, x1, y1)`` in page px: overlap and one-to-one matching."""

from __future__ import annotations

from collections.abc import Sequence

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
