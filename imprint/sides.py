"""Square seal borders found by their straight sides.

A name seal's or a square official seal's border is four straight strokes; where it is stamped
across a round imprint of the same ink, or a signature runs through it, its ink joins the
other's and no one outline of the joined ink is square. Its sides still stand out as the only
long straight edges of seal ink: line segments (OpenCV's LSD on the ink mask), paired with a
parallel one a seal's width away, placed along the pair by a perpendicular segment between
them, refined by a couple of px, and kept where ink runs along its outline and three of its
sides are inked on the outline itself: the strokes of characters (the text round a round
seal, a square seal's own legend) line up for a stretch, not along a whole square. Where no
side has a parallel one seen (a name seal across a round seal's edge, two of its sides running
through that seal's ink), two sides meeting at a corner place it, kept where all four of its
sides are inked on the outline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Parallel: sides within this many degrees of each other's direction (or of a right angle).
SIDE_ANGLE_TOL = 3.0
#: A side is seen along at least this share of the smallest seal's side.
MIN_SIDE_SHARE = 0.4
#: Two opposite sides are each seen along at least this share of their distance apart, and
#: overlap along it (a crossing stroke or another imprint breaks a side into pieces).
MIN_SIDE_OVERLAP = 0.3
#: The share of the outline's samples with ink near them for a square border.
MIN_SIDE_SUPPORT = 0.85
#: ... and the share of three of its sides inked on the outline itself (:func:`side_supports`;
#: the fourth may have faded out, as a square's fit allows).
MIN_STROKE_SIDE = 0.8
#: ... and one of a pair's two sides has its stroke's other edge along this share of it.
MIN_OTHER_EDGE = 0.3
#: ... and at most this many of its sides run on past a corner along RUN_ON_SHARE of a fifth
#: of a side (two: a line of print or another imprint's border past one corner).
MAX_RUN_ON, RUN_ON_SHARE = 3, 0.7
#: Offsets (of the line width, inward) at which the outline itself is looked at.
TIGHT = np.array([-0.25, 0.0, 0.25, 0.5])
#: A square placed from its sides is refined where it is inked along this share, by this
#: many px each way (centre along both sides, half side).
REFINE_SUPPORT, REFINE_PX = 0.7, 2.0
#: Samples per side and steps inward from the outline, as the ring supports are measured.
SIDE_SAMPLES, INWARD_STEPS = 30, 4


@dataclass(frozen=True)
class SquareBorder:
    """A square outline on the working copy: centre (x, y), half its side, the direction of
    one pair of sides (degrees from +x toward +y, in [0, 180)), and the share of its outline
    inked."""

    centre: tuple[float, float]
    half: float
    angle: float
    support: float


def square_support(mask: np.ndarray, centres: np.ndarray, halves: np.ndarray,
                   angle_deg: float, line_px: float) -> tuple[np.ndarray, np.ndarray]:
    """For K squares at once (``centres`` (K, 2), ``halves`` (K,), one ``angle_deg``): (K,)
    shares of the in-image outline with ink within ``line_px`` inside it, (K,) shares of the
    outline inside the image."""
    hit, inside = _outline_hits(mask, centres, halves, angle_deg,
                                np.linspace(0.0, 1.5, INWARD_STEPS) * line_px)
    n_in = inside.sum(axis=1)
    support = np.where(n_in > 0, (hit & inside).sum(axis=1) / np.maximum(n_in, 1), 0.0)
    return support, inside.mean(axis=1)


def side_supports(mask: np.ndarray, centre, half: float, angle_deg: float, line_px: float
                  ) -> np.ndarray:
    """(4,) shares, least first, of each side of one square inked on the outline itself (a
    quarter of ``line_px`` out to half of it in): a border's straight stroke along its whole
    length, where the strokes of characters leave gaps."""
    hit, inside = _outline_hits(mask, np.asarray([centre], float), np.array([half]),
                                angle_deg, TIGHT * line_px)
    hit, inside = hit.reshape(4, SIDE_SAMPLES), inside.reshape(4, SIDE_SAMPLES)
    return np.sort(np.where(inside.any(axis=1), (hit & inside).sum(axis=1)
                            / np.maximum(inside.sum(axis=1), 1), 0.0))


def _outline_hits(mask: np.ndarray, centres: np.ndarray, halves: np.ndarray,
                  angle_deg: float, inward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K, 4 * SIDE_SAMPLES) whether ink lies at any of the ``inward`` offsets (px) inside
    each sample of the outline, and whether the sample is in the image."""
    c = np.asarray(centres, float)[:, None, None, :]
    hs = np.asarray(halves, float)[:, None, None, None]
    s = np.linspace(-0.9, 0.9, SIDE_SAMPLES)[None, :, None, None]
    steps = np.asarray(inward, float)[None, None, :, None]
    p = np.concatenate([c + (hs - steps) * out + hs * s * along
                        for out, along in _sides(angle_deg)], axis=1)
    inked, ok = _ink_at(mask, p)  # (K, 4 * SIDE_SAMPLES, steps)
    return inked.any(axis=2), ok.any(axis=2)


def _sides(angle_deg: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """A square's four sides, each as (its outward normal, the direction along it), the
    first pair of sides running at ``angle_deg``."""
    t = math.radians(angle_deg)
    u = np.array([math.cos(t), math.sin(t)])
    return [(out, np.array([-out[1], out[0]]))
            for out in (u, np.array([-u[1], u[0]]), -u, np.array([u[1], -u[0]]))]


def _ink_at(mask: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether ``mask`` is inked at the points ``p`` (..., 2) (x, y), and whether each lies
    in the image."""
    h, w = mask.shape
    xi, yi = np.floor(p[..., 0]).astype(int), np.floor(p[..., 1]).astype(int)
    ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    inked = np.zeros(ok.shape, bool)
    inked[ok] = mask[yi[ok], xi[ok]] > 0
    return inked, ok


def square_borders(ink: np.ndarray, side_px: tuple[float, float], line_px: float
                   ) -> list[SquareBorder]:
    """Square borders on an ink mask ``(H, W) bool`` whose side lies within ``side_px``
    (working px), each inked along :data:`MIN_SIDE_SUPPORT` of its outline; of squares
    round one centre (a border's outer and inner edges, rows of characters inside it), the
    largest."""
    lo, hi = side_px
    smooth = cv2.GaussianBlur(ink.astype(np.uint8) * 255, (0, 0), 1.0)
    segs = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD).detect(smooth)[0]
    if segs is None:
        return []
    segs = segs.reshape(-1, 4).astype(float)
    p, q = segs[:, :2], segs[:, 2:]
    length = np.hypot(*(q - p).T)
    keep = length >= MIN_SIDE_SHARE * lo
    p, q, length = p[keep], q[keep], length[keep]
    theta = np.degrees(np.arctan2(q[:, 1] - p[:, 1], q[:, 0] - p[:, 0])) % 180
    mid = (p + q) / 2
    segments = _Segments(p, q, mid, theta)
    # every pair of segments at once (row i, column j): parallel, a seal's width apart,
    # each seen along a share of that width, overlapping along it
    rad = np.radians(theta)
    u = np.stack([np.cos(rad), np.sin(rad)], axis=1)
    nrm = np.stack([-u[:, 1], u[:, 0]], axis=1)
    across = _projected(mid, nrm)  # [i, j]: segment j's middle on segment i's normal
    apart = np.abs(across - np.diag(across)[:, None])
    ends = np.stack([_projected(p, u), _projected(q, u)])  # ... its ends along segment i
    lo_j, hi_j = ends.min(axis=0), ends.max(axis=0)
    lo_i, hi_i = np.diag(lo_j)[:, None], np.diag(hi_j)[:, None]
    overlap = np.minimum(hi_i, hi_j) - np.maximum(lo_i, lo_j)
    seen = np.minimum(hi_i - lo_i, hi_j - lo_j)
    paired = (np.triu(np.ones(apart.shape, bool), 1)
              & (_turns(theta[:, None], theta[None, :]) <= SIDE_ANGLE_TOL)
              & (lo <= apart) & (apart <= hi) & (overlap >= MIN_SIDE_OVERLAP * apart)
              & (seen >= MIN_SIDE_OVERLAP * apart))
    found = []
    for i, j in zip(*np.nonzero(paired), strict=True):
        # the pair's direction: its two sides', weighed by their lengths
        turn = (theta[j] - theta[i] + 90) % 180 - 90
        angle = (theta[i] + turn * length[j] / (length[i] + length[j])) % 180
        t = math.radians(angle)
        ua, na = np.array([math.cos(t), math.sin(t)]), np.array([-math.sin(t), math.cos(t)])
        off, half = (float(mid[i] @ na) + float(mid[j] @ na)) / 2, float(apart[i, j]) / 2
        # a border's side is a stroke: the edge of one side or the other has the
        # stroke's other edge a line's width inside it (a row of characters is inked a
        # character's height deep)
        inside = (mid[i] + mid[j]) / 2
        if max(_other_edge(i, inside, segments, line_px),
               _other_edge(j, inside, segments, line_px)) < MIN_OTHER_EDGE:
            continue
        # where along the pair the square lies: half a side from a perpendicular side
        # between them, or the middle of their overlap
        square_on = ((np.abs(_turns(angle, theta) - 90) <= SIDE_ANGLE_TOL)
                     & (np.abs(_dot(mid, na) - off) <= half))
        at = [float((mid[i] + mid[j]) @ ua) / 2]
        for a in _dot(mid[square_on], ua):
            at += [float(a) - half, float(a) + half]
        centres = np.array([off * na + a * ua for a in at])
        square = _placed(ink, centres, np.full(len(at), half), angle, line_px, inked_sides=3)
        if square is not None:
            found.append(square)
    if not found:
        # (a square placed from a parallel pair is placed better than from a corner)
        found = _from_corners(ink, segments, length, (lo, hi), line_px)
    return _largest_each(found)


def _from_corners(ink: np.ndarray, segments: _Segments, length: np.ndarray,
                  side_px: tuple[float, float], line_px: float) -> list[SquareBorder]:
    """Squares placed from two sides that meet at a corner, where neither has a parallel
    side seen (a name seal stamped across a round imprint's edge: its other two sides run
    through that imprint's ink): the side length the one inked most along its outline."""
    p, q, theta = segments.p, segments.q, segments.theta
    lo, hi = side_px
    # pairs at a right angle (all at once), then those whose lines cross within two lines
    # of an end of each (the corner), each running away from it
    perpendicular = np.triu(np.abs(_turns(theta[:, None], theta[None, :]) - 90)
                            <= SIDE_ANGLE_TOL, 1)
    out = []
    for i, j in zip(*np.nonzero(perpendicular), strict=True):
        corner = _meeting(p[i], q[i], p[j], q[j])
        if corner is None:
            continue
        away = []
        for a, b in ((p[i], q[i]), (p[j], q[j])):
            near, far = (a, b) if np.hypot(*(a - corner)) <= np.hypot(*(b - corner)) else (b, a)
            if np.hypot(*(near - corner)) > 2 * line_px:
                break
            away.append((far - corner) / max(float(np.hypot(*(far - corner))), 1e-6))
        if len(away) < 2:
            continue
        u, v = away
        # a border's sides are strokes (as for a pair: one of the two has its stroke's
        # other edge inside it), each seen along MIN_SIDE_OVERLAP of the side at least
        inside = corner + 2 * line_px * (u + v)
        if max(_other_edge(i, inside, segments, line_px),
               _other_edge(j, inside, segments, line_px)) < MIN_OTHER_EDGE:
            continue
        halves = np.arange(max(lo, length[i], length[j]) / 2,
                           min(hi, min(length[i], length[j]) / MIN_SIDE_OVERLAP) / 2 + 1, 1.0)
        if len(halves) == 0:
            continue
        # the square's direction: side i's, with j's turned by a right angle, by length
        turn = (theta[j] - theta[i]) % 180 - 90
        angle = (theta[i] + turn * length[j] / (length[i] + length[j])) % 180
        centres = corner[None] + halves[:, None] * (u + v)[None]
        # (all four sides inked on the outline itself: the two not seen as segments run
        # through the other imprint's ink, and are inked there too)
        square = _placed(ink, centres, halves, angle, line_px, inked_sides=4)
        if square is not None:
            out.append(square)
    return out


def _placed(ink: np.ndarray, centres: np.ndarray, halves: np.ndarray, angle: float,
            line_px: float, inked_sides: int) -> SquareBorder | None:
    """Of the squares tried (``centres`` (K, 2), ``halves`` (K,), at ``angle``), the one
    inked most along its outline, refined, or None: kept where inked along
    :data:`MIN_SIDE_SUPPORT` of its outline, ``inked_sides`` of its sides on the outline
    itself (:data:`MIN_STROKE_SIDE`), and fewer than MAX_RUN_ON running on past a corner."""
    support, _ = square_support(ink, centres, halves, angle, line_px)
    b = int(np.argmax(support))
    if support[b] < REFINE_SUPPORT:
        return None
    # the sides seen may be one side's outer edge and another's inner: a couple of px
    # either way, each way
    centre, half = _refined(ink, centres[b], float(halves[b]), angle, line_px)
    support = float(square_support(ink, centre[None], np.array([half]), angle,
                                   line_px)[0][0])
    if (support >= MIN_SIDE_SUPPORT
            and side_supports(ink, centre, half, angle, line_px)[4 - inked_sides:].min()
            >= MIN_STROKE_SIDE
            and _runs_on(ink, centre, half, angle, line_px) < MAX_RUN_ON):
        return SquareBorder((float(centre[0]), float(centre[1])), half, angle, support)
    return None


def _meeting(p1, q1, p2, q2) -> np.ndarray | None:
    """Where the lines through two segments cross, or None where they are parallel."""
    d1, d2 = q1 - p1, q2 - p2
    den = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(den) < 1e-9:
        return None
    t = ((p2[0] - p1[0]) * d2[1] - (p2[1] - p1[1]) * d2[0]) / den
    return p1 + t * d1


def _runs_on(ink: np.ndarray, centre: np.ndarray, half: float, angle: float, line_px: float
             ) -> int:
    """How many of the square's sides, past either end (8 in all), run on as lines of ink
    for a fifth of a side: a table's cell is a square whose sides go on past its corners,
    a seal's border turns there."""
    s = np.linspace(1.1, 1.5, 9)
    inward = (TIGHT * line_px)[:, None]
    runs = 0
    for out, along in _sides(angle):
        for end in (1.0, -1.0):
            # (steps inward, samples past the corner, 2)
            p = (centre + (half - inward)[..., None] * out
                 + (end * half * s)[None, :, None] * along)
            inked, _ = _ink_at(ink, p)
            runs += float(inked.any(axis=0).mean()) >= RUN_ON_SHARE
    return runs


def _refined(ink: np.ndarray, centre: np.ndarray, half: float, angle: float, line_px: float
             ) -> tuple[np.ndarray, float]:
    """The square within :data:`REFINE_PX` of (``centre``, ``half``) (centre along both
    sides, half side) whose outline itself is inked most (:func:`side_supports`' measure:
    the looser border support is flat over a few px): (centre, half)."""
    step = np.array([-REFINE_PX, 0.0, REFINE_PX])
    t = math.radians(angle)
    u, v = np.array([math.cos(t), math.sin(t)]), np.array([-math.sin(t), math.cos(t)])
    grid = [(centre + a * u + b * v, half + d) for a in step for b in step for d in step]
    hit, inside = _outline_hits(ink, np.array([c for c, _ in grid]),
                                np.array([h for _, h in grid]), angle, TIGHT * line_px)
    k = int(np.argmax((hit & inside).sum(axis=1)))
    return grid[k][0], float(grid[k][1])


@dataclass(frozen=True)
class _Segments:
    """Line segments: ends ``p``, ``q`` (N, 2), middles, directions (degrees in [0, 180))."""

    p: np.ndarray
    q: np.ndarray
    mid: np.ndarray
    theta: np.ndarray


def _other_edge(i: int, inside: np.ndarray, segments: _Segments, line_px: float) -> float:
    """The share of segment ``i``'s length along which a parallel segment runs 0.3 to 2
    line widths from it on the side of the point ``inside``: the other edge of the stroke
    whose one edge ``i`` is."""
    p, q, mid, theta = segments.p, segments.q, segments.mid, segments.theta
    t = math.radians(theta[i])
    u, n = np.array([math.cos(t), math.sin(t)]), np.array([-math.sin(t), math.cos(t)])
    inward = 1.0 if float((inside - mid[i]) @ n) >= 0 else -1.0
    along = sorted((float(p[i] @ u), float(q[i] @ u)))
    depth = _dot(mid - mid[i], n) * inward
    near = ((_turns(theta[i], theta) <= SIDE_ANGLE_TOL) & (0.3 * line_px <= depth)
            & (depth <= 2.0 * line_px))
    near[i] = False
    if not near.any():
        return 0.0
    ends = np.stack([_dot(p[near], u), _dot(q[near], u)])
    overlap = np.minimum(along[1], ends.max(axis=0)) - np.maximum(along[0], ends.min(axis=0))
    return max(0.0, float((overlap / max(along[1] - along[0], 1e-6)).max()))


def _turns(a: float, b: np.ndarray) -> np.ndarray:
    """Angles between the undirected direction ``a`` and each of ``b``, degrees in [0, 90]."""
    d = np.abs(a - b) % 180
    return np.minimum(d, 180 - d)


def _projected(v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(N, M): the rows of ``v`` (M, 2) projected on each row of ``u`` (N, 2)."""
    return u[:, None, 0] * v[None, :, 0] + u[:, None, 1] * v[None, :, 1]


def _dot(v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(N,) dot products of the rows of ``v`` (N, 2) with ``u`` (2,)."""
    return v[:, 0] * u[0] + v[:, 1] * u[1]


def _largest_each(found: list[SquareBorder]) -> list[SquareBorder]:
    """Of squares round one centre (within a third of the larger's half side), the
    largest."""
    keep: list[SquareBorder] = []
    for s in sorted(found, key=lambda s: (-s.half, -s.support)):
        if not any(math.dist(s.centre, k.centre) <= k.half / 3 for k in keep):
            keep.append(s)
    return keep
