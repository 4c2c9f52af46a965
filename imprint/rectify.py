"""Rectify one detected imprint: fit its outer border precisely, undo the perspective of a
round seal, scale it to the canonical size, turn it upright, and separate its ink.

Reads top to bottom in :func:`rectify`: cut a region around the detection; divide by the
paper; unmix seal ink from black (:mod:`imprint.ink`); fit the outer border on rays cast from
the centre; map the border to the canonical circle (round: ellipse to circle, which undoes a
camera's tilt to first order; oval and square: a similarity); find the seal's up direction
from its content; warp ink and occlusion into the canonical frame; measure quality.

Canonical frame: ``CANONICAL_SIZE`` square pixels, the seal's centre at the middle, the outer
border of a round seal on the circle of radius ``CANONICAL_RADIUS``, of an oval seal its major
semi-axis on that radius, horizontal; a square seal's half side at ``0.75 * CANONICAL_RADIUS``.
Upright: a round seal's star point (or the middle of its name arc) at 12 o'clock.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import cv2
import numpy as np

from imprint.boxes import fill_outline
from imprint.ink import dot_periodicity, ink_masks, normalise, print_lines, separate
from imprint.types import Detection, Geometry, Quality, RectifiedImprint
from models import upright

CANONICAL_SIZE = 512
CANONICAL_RADIUS = 240.0


def clock_angle(x: float, y: float) -> float:
    """Direction of canonical px (x, y) from the seal's centre: degrees clockwise from 12."""
    c = CANONICAL_SIZE / 2
    return math.degrees(math.atan2(x - c, c - y)) % 360


def clock_hour(clock: float) -> str:
    """A clock direction (degrees clockwise from 12) as the nearest hour, as examiners say it."""
    h = round(float(clock) / 30) % 12
    return f"{h or 12} o'clock"

SQUARE_HALF_SIDE = 0.75 * CANONICAL_RADIUS
ROI_MARGIN = 1.4  # region cut around a detection, in seal radii: the border search's reach
N_RAYS = 360
BORDER_SEARCH = (0.75, 1.3)  # where the border is looked for, in nominal radii
REFIT_SEARCH = (0.9, 1.1)  # the second pass, from a fitted outline
BORDER_STEP_COST = 0.02  # ink strength a border path gives up per step of radius it moves
#: Reach (rays, Gaussian sigma; a ray a degree) over which the border's own strength is read
#: for its edge: pressure and the amount of ink change slowly round a seal.
BORDER_LEVEL_REACH = 20.0
STAR_BAND = (0.12, 0.3)  # radii (fraction of the border radius) where the star's tips are
STAR_INK, STAR_FIVEFOLD = 0.05, 0.15  # a star: this much ink in its band, this five-fold
#: the least share of the directions in which a star's band must be seen to read its tips
#: (54 degrees: most of one 72-degree period of its tips), and the share under which the wave
#: must stand out more than over the whole circle (by the square root of the shortfall)
STAR_SEEN, STAR_SEEN_FULL = 0.15, 0.35
#: an oval border with a star this five-fold inside is a round seal seen obliquely (a star
#: gives 0.4 and more; an oval seal's business line, drawn out to a circle, up to 0.2)
OBLIQUE_STAR_FIVEFOLD = 0.3
ROUND_ASPECT = 0.93  # a fitted border rounder than this is a round seal, not an oval one
#: An ellipse fitted to a border whose rays it takes in at this share or more stands; below,
#: a square outline is tried too (found as circles, square seals are fitted badly: 10 to 45 %
#: of rays on development pages, round seals mostly 95 % and more).
ELLIPSE_SHARE_OK = 0.7
ELLIPSE_INLIERS_OK = 0.9  # a least-squares border fit taking in this share of its points holds
ELLIPSE_TRIES = 300  # random five-point ellipses tried where it does not
SQUARE_GAIN = 0.08  # the share of rays a square outline must take in beyond the ellipse
SIDE_BAND = (0.7, 1.5)  # radii (of the fitted circle) where a square's sides are looked for
SQUARE_SEARCH = (0.75, 1.3)  # where a square's sides are searched, in nominal half sides
#: A square's sides read straight from the ink (:func:`_square_by_profiles`): each side's
#: ink averaged along SIDE_PROFILE_SPAN of the half side either way of the middle, at offsets
#: SIDE_PROFILE_REACH (in half sides) from the detection's centre; the border is the
#: outermost peak of at least SIDE_PEAK of the side's strongest, a side is seen where that
#: peak holds SIDE_SEEN of the best side's. The square stands where its two pairs of sides
#: agree within SIDE_SKEW (of the half side); where it lies farther than SIDE_APART (of the
#: half side, centre or size) from the fit on the border's path, the path is followed again
#: from it, and of the two the outline with less ink just outside it is kept
SIDE_PROFILE_SPAN, SIDE_PROFILE_REACH = 0.7, (0.55, 1.5)
SIDE_PEAK, SIDE_SEEN, SIDE_SKEW, SIDE_APART = 0.6, 0.35, 0.05, 0.02
#: ... and one flatter than this is an oval seal, whatever found it: the ring filters that find
#: overlapping and grey imprints look for circles, and find one inside an oval too. A round
#: seal's border comes this flat only photographed more than 35 degrees off square.
OVAL_ASPECT = 0.82
OVAL_TILT = 12.0  # degrees an oval's up is looked for off its fitted minor axis
#: A round seal's border on a flat capture (a stated dpi) is fitted as a circle where its
#: points leave a gap wider than ARC_GAP_CIRCLE degrees round it, or their ellipse is flatter
#: than FLAT_ASPECT: a scanner's or the paper's stretch is under 1 % (:func:`_flat_round`)
ARC_GAP_CIRCLE, FLAT_ASPECT = 60.0, 0.98
CENTRING_BAND = (0.15, 0.97)  # radii whose rings are made concentric with the border
CENTRING_REACH = 0.25  # farthest the seal's centre is looked for from the border's, in radii
CENTRING_GAIN = 1.07  # how much sharper the rings must get for a re-centring to count
#: Ink this wide (of the radius) is a solid patch, not a stroke: a seal's border and
#: characters are narrower (its star is wider)
SOLID_STROKE = 0.1
# a round imprint cut by a sheet's edge inside the image (see :func:`_cut_away`): searched on
# a CUT_GRID px copy, lines every CUT_ANGLE_STEP degrees and every px of it, as deep as
# CUT_DEEPEST radii past the centre
CUT_GRID, CUT_ANGLE_STEP, CUT_DEEPEST = 64, 5, 0.6
CUT_MIN_SHARE, CUT_EMPTY, CUT_EDGE, CUT_EDGE_BAND = 0.15, 0.1, 0.5, 0.1
#: A square seal photographed at a slant is a quadrilateral: where each of its four sides is
#: seen along at least QUAD_MIN_POINTS rays, straight within QUAD_RESIDUAL of the half side
#: (median), and a corner of the quadrilateral lies farther than QUAD_MIN_SKEW of the side
#: from the fitted square's, and the four lines lie closer to the side's points than the
#: square's sides by QUAD_GAIN (median), two of them turned QUAD_MIN_TURN degrees or more
#: against the square's (on a scan, text near a side or a side that failed to print turns
#: one line, which the square does not follow), the square is mapped from its four corners
#: (a homography) rather than drawn as a square.
QUAD_MIN_POINTS, QUAD_RESIDUAL, QUAD_MIN_SKEW, QUAD_GAIN, QUAD_MIN_TURN = 12, 0.02, 0.03, 0.5, 1.5
# another imprint over this one (see :func:`_neighbours`): its outline, widened by its border
# line, is left out of the orientation search unless its centre lies within NEIGHBOUR_APART
# radii of this one's (the same imprint found twice) or this one lies inside it
# (NEIGHBOUR_INSIDE of it covered: a seal inside another); where it covers more than
# NEIGHBOUR_MAX_SHARE of this one, only its ring and its middle are left out
NEIGHBOUR_MARGIN = 1.05
NEIGHBOUR_APART = 0.25
NEIGHBOUR_MAX_SHARE = 0.5
NEIGHBOUR_INSIDE = 0.9
NEIGHBOUR_RING, NEIGHBOUR_MIDDLE = 0.85, 0.35  # of a heavy overlap: radii of its ring, its star


def _roi(image: np.ndarray, det: Detection) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Region around the detection, padded with white beyond the page, and a mask of what is
    off the page."""
    h, w = image.shape[:2]
    # a square's corners lie sqrt(2) half sides out, and its sides are searched beyond them
    r = max(det.axes) * ROI_MARGIN * (1.35 if det.shape == "square" else 1.0)
    x0, y0 = int(math.floor(det.centre[0] - r)), int(math.floor(det.centre[1] - r))
    x1, y1 = int(math.ceil(det.centre[0] + r)), int(math.ceil(det.centre[1] + r))
    crop = image[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
    pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
    off = np.zeros(crop.shape[:2], np.uint8)
    if any(pad):
        # the paper's colour; a sample of a few thousand pixels gives the same median
        step = max(1, math.isqrt(crop.shape[0] * crop.shape[1] // 4096))
        edge = (np.median(crop[::step, ::step].reshape(-1, 3), axis=0) if crop.size
                else (255, 255, 255))
        crop = cv2.copyMakeBorder(crop, *pad, cv2.BORDER_CONSTANT,
                                  value=tuple(float(v) for v in edge))
        off = cv2.copyMakeBorder(off, *pad, cv2.BORDER_CONSTANT, value=1)
    return crop, off.astype(bool), (x0, y0)


def _rays(centre, axes, angle_ccw: float, shape: str):
    """Unit ray directions (x, y) from ``centre`` and the nominal distance to the outline
    (ellipse, or a square's sides) along each, for :data:`N_RAYS` rays."""
    a, b = axes
    t = np.linspace(0, 2 * np.pi, N_RAYS, endpoint=False)
    th = math.radians(-angle_ccw)  # image-coordinate direction of the major axis (a side)
    ct, st = math.cos(th), math.sin(th)
    ux = np.cos(t) * ct - np.sin(t) * st
    uy = np.cos(t) * st + np.sin(t) * ct
    if shape == "square":
        r_nom = 1.0 / np.maximum(np.abs(np.cos(t)) / a, np.abs(np.sin(t)) / b)
    else:
        r_nom = a * b / np.hypot(b * np.cos(t), a * np.sin(t))
    return ux, uy, r_nom


def _sampled(ink: np.ndarray, off: np.ndarray, xs: np.ndarray, ys: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """The ink at the points ``xs``, ``ys`` (float32 px; 0 beyond the image) and whether each
    is seen (on the image and not ``off``)."""
    values = cv2.remap(ink, xs, ys, cv2.INTER_LINEAR, borderValue=0.0)
    seen = cv2.remap(off.astype(np.uint8), xs, ys, cv2.INTER_NEAREST, borderValue=1) == 0
    return values, seen


def _border_points(ink: np.ndarray, off: np.ndarray, centre, axes, angle_ccw: float,
                   shape: str = "round", search: tuple[float, float] = BORDER_SEARCH
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Outer edge of the border along rays from ``centre``: ``(points (N, 2) x, y in the ROI,
    ray indices (N,))``, each point where the ink reaches half the border's strength there
    coming in from outside.

    The edge is followed round the seal as one path (a Viterbi pass over the rays, the
    radius moving at most one step from ray to ray), not taken ray by ray: text or another
    imprint just outside the border gives edges too, but not a closed ring, so the path
    stays on the border and only rays where the path finds a real edge are kept. ``search``:
    where along each ray, in nominal radii."""
    ux, uy, r_nom = _rays(centre, axes, angle_ccw, shape)
    steps = np.linspace(search[1], search[0], 101)  # from outside inward
    n_steps = len(steps)
    xs = (centre[0] - 0.5 + ux[:, None] * r_nom[:, None] * steps[None]).astype(np.float32)
    ys = (centre[1] - 0.5 + uy[:, None] * r_nom[:, None] * steps[None]).astype(np.float32)
    prof, seen = _sampled(ink, off, xs, ys)
    offp = ~seen
    # edge strength going inward: the mean ink of the few steps inside minus outside
    w = 3
    csum = np.cumsum(np.pad(prof, ((0, 0), (1, 0))), axis=1)
    k = np.arange(n_steps)
    lo, hi = np.clip(k - w, 0, n_steps), np.clip(k + w, 0, n_steps)
    outside = (csum[:, k] - csum[:, lo]) / np.maximum(k - lo, 1)
    inside = (csum[:, hi] - csum[:, k]) / np.maximum(hi - k, 1)
    edge = np.clip(inside - outside, 0, None)
    near_off = offp | np.roll(offp, w, axis=1) | np.roll(offp, -w, axis=1)
    edge[near_off] = 0
    path = _ring_path(edge, BORDER_STEP_COST)
    rays = np.arange(N_RAYS)
    strength = edge[rays, path]
    ok = strength > 0.25 * np.percentile(strength, 75)
    if not ok.any():
        return np.zeros((0, 2)), rays[:0]
    # sub-step position: where the ink first reaches half the border's strength there,
    # searched a few steps either side of the path. Half of its strength round this part of
    # the ring, not of the whole ring's: on an imprint pressed harder on one side, a level
    # common to all rays is reached farther out on the dark side than on the light one, and
    # the outline's centre moves towards the dark side (0.1 to 0.3 % of the radius on scans)
    inner = prof[rays, np.clip(path + w, 0, n_steps - 1)]
    whole = float(np.median(inner[ok]))
    okf = ok.astype(np.float32)
    local = (_circular_smooth(inner * okf, BORDER_LEVEL_REACH)
             / np.maximum(_circular_smooth(okf, BORDER_LEVEL_REACH), 1e-3))
    level = 0.5 * np.clip(local, 0.5 * whole, 2.0 * whole)
    j0 = np.clip(path - 4, 1, n_steps - 1)
    window = np.clip(j0[:, None] + np.arange(9)[None], 0, n_steps - 1)
    above = prof[rays[:, None], window] >= level[:, None]
    found = above.any(axis=1)
    j = np.where(found, window[rays, above.argmax(axis=1)], path)
    j = np.maximum(j, 1)
    p0, p1 = prof[rays, j - 1], prof[rays, j]
    f = np.where(found & (p1 != p0), (level - p0) / np.where(p1 != p0, p1 - p0, 1), 0.0)
    s = np.where(found, steps[j - 1] + np.clip(f, 0, 1) * (steps[j] - steps[j - 1]),
                 steps[path])
    pts = np.stack([centre[0] + ux * r_nom * s, centre[1] + uy * r_nom * s], axis=1)
    return pts[ok].astype(np.float64), rays[ok]


def _ring_path(edge: np.ndarray, step_cost: float) -> np.ndarray:
    """For each ray (row of ``edge``), the step (column) of the closed path of greatest
    total edge strength that moves at most one step between neighbouring rays, each move
    costing ``step_cost``. Solved over a turn and a half, a quarter turn either side run in
    so that the kept turn closes on itself wherever the pass starts."""
    n, n_steps = edge.shape
    total, start = n + n // 2, n // 4
    rows = (np.arange(total) - start) % n
    # score[i, 1 + k]: the best total of a path ending at step k before ray pass step i
    # (a column of -inf each side: no step beyond the ends); the moves are read back from
    # it (cheaper than keeping them: the pass is ray by ray, four array operations a ray)
    score = np.full((total + 1, n_steps + 2), -np.inf)
    score[0, 1:-1] = 0.0
    for i in range(total):
        s, best = score[i], score[i + 1, 1:-1]
        np.maximum(s[:-2], s[2:], out=best)  # from step k - 1 or k + 1 to k
        best -= step_cost
        np.maximum(best, s[1:-1], out=best)
        best += edge[rows[i]]
    path = np.empty(total, int)
    k = path[-1] = int(score[total, 1:-1].argmax())
    for i in range(total - 1, 0, -1):
        # the move that gave step k its best: staying wins ties, then inward
        s = score[i]
        best, move = s[k + 1], 0
        if s[k] - step_cost > best:
            best, move = s[k] - step_cost, -1
        if s[k + 2] - step_cost > best:
            move = 1
        k = path[i - 1] = k + move
    return path[start:start + n]  # ray r was solved at pass step r + start


def _square_sides(rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the side 0 to 3 each ray of a square's border meets, whether it meets it away from a
    corner), for rays cast from the square's centre turned with it (:func:`_rays`)."""
    clock = rays * (360.0 / N_RAYS)
    side = np.round(clock / 90.0).astype(int) % 4
    away = np.abs((clock + 45) % 90 - 45) < 30  # not near a corner
    return side, away


def _fit_square(pts: np.ndarray, rays: np.ndarray, half: float, angle_ccw: float):
    """A square border from its edge points: each side's offset from the centre (median
    along the side's normal, corners left out) and the turn from the sides' directions.
    One side may be missing (an imprint faded out along one edge): it lies a side's length
    from the side opposite. Returns (centre, (h, h), angle_ccw) or None."""
    side, away = _square_sides(rays)
    seen = [int((away & (side == i)).sum()) >= 8 for i in range(4)]
    if sum(seen) < 3:
        return None
    th = math.radians(-angle_ccw)
    offsets: list[float] = [0.0] * 4
    for _ in range(2):
        turns = []
        for i in range(4):
            if not seen[i]:
                continue
            sel = away & (side == i)
            phi = th + i * math.pi / 2
            n = np.array([math.cos(phi), math.sin(phi)])
            p = pts[sel]
            offsets[i] = float(np.median(p @ n))
            # the side's direction: a line fitted through its points, folded to the normal
            vx, vy = cv2.fitLine(p.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01)[:2, 0]
            turns.append((math.atan2(vy, vx) - phi - math.pi / 2 + math.pi / 4) % (math.pi / 2)
                         - math.pi / 4)
        th += float(np.median(turns))
    if not all(seen):
        # the missing side, from its opposite and the other pair's side length
        i = seen.index(False)
        offsets[i] = (offsets[(i + 1) % 4] + offsets[(i + 3) % 4]) - offsets[(i + 2) % 4]
    n0 = np.array([math.cos(th), math.sin(th)])
    n1 = np.array([-math.sin(th), math.cos(th)])
    hu, hv = (offsets[0] + offsets[2]) / 2, (offsets[1] + offsets[3]) / 2
    c = n0 * (offsets[0] - offsets[2]) / 2 + n1 * (offsets[1] - offsets[3]) / 2
    h = (hu + hv) / 2
    if not 0.8 < h / half < 1.25 or abs(hu - hv) > 0.1 * h:
        return None
    return (float(c[0]), float(c[1])), (float(h), float(h)), float((-math.degrees(th)) % 180)


def _square_by_profiles(ink: np.ndarray, off: np.ndarray, centre, half: float,
                        angle_ccw: float):
    """A square border from its four sides read as straight lines: each side's ink averaged
    along the side at every offset from ``centre`` (a straight side is one offset wherever the
    centre lies), its outer edge where that average, coming in from outside, reaches half of
    the outermost strong peak. The border's path round the seal (:func:`_border_points`) can
    move only a step from ray to ray, so from a centre well off the seal's (a detection made
    on an imprint faded out along one side) it keeps to one distance on every side and takes
    a row of characters, or a thick border's inner edge, for the sides nearer the centre.
    One side may be missing, as in :func:`_fit_square`. Returns (centre, (h, h), angle_ccw)
    with the given turn, or None where too few sides are seen or the two pairs of sides do
    not make a square."""
    th = math.radians(-angle_ccw)
    offsets = np.arange(SIDE_PROFILE_REACH[0] * half, SIDE_PROFILE_REACH[1] * half, 1.0)
    along = np.linspace(-SIDE_PROFILE_SPAN * half, SIDE_PROFILE_SPAN * half,
                        max(16, int(SIDE_PROFILE_SPAN * half)))
    normals = [np.array([math.cos(th + i * math.pi / 2), math.sin(th + i * math.pi / 2)])
               for i in range(4)]
    xs = np.concatenate([centre[0] - 0.5 + offsets[:, None] * n[0] - along[None] * n[1]
                         for n in normals]).astype(np.float32)
    ys = np.concatenate([centre[1] - 0.5 + offsets[:, None] * n[1] + along[None] * n[0]
                         for n in normals]).astype(np.float32)
    values, seen = _sampled(ink, off, xs, ys)
    profiles = ((values * seen).sum(axis=1) / np.maximum(seen.sum(axis=1), 1)).reshape(4, -1)
    profiles = cv2.blur(profiles, (3, 1))  # along the offsets only
    edges, peaks = [], []
    for prof in profiles:
        inner = (prof[1:-1] >= prof[:-2]) & (prof[1:-1] >= prof[2:]) & (
            prof[1:-1] >= SIDE_PEAK * prof.max()) & (prof[1:-1] > 0)
        if not inner.any():
            edges.append(math.nan)
            peaks.append(0.0)
            continue
        k = int(np.flatnonzero(inner)[-1]) + 1  # the outermost strong peak
        level = 0.5 * prof[k]
        below = np.flatnonzero(prof[k:] < level)
        if not len(below):
            edges.append(math.nan)
            peaks.append(0.0)
            continue
        j = k + int(below[0])  # the first offset outside the border below half its ink
        f = (prof[j - 1] - level) / max(prof[j - 1] - prof[j], 1e-9)
        edges.append(float(offsets[j - 1] + f))
        peaks.append(float(prof[k]))
    seen_sides = [p > 0 and p >= SIDE_SEEN * max(peaks) for p in peaks]
    if sum(seen_sides) < 3:
        return None
    if not all(seen_sides):
        i = seen_sides.index(False)
        edges[i] = edges[(i + 1) % 4] + edges[(i + 3) % 4] - edges[(i + 2) % 4]
    hu, hv = (edges[0] + edges[2]) / 2, (edges[1] + edges[3]) / 2
    h = (hu + hv) / 2
    if not h > 0 or abs(hu - hv) > SIDE_SKEW * h:
        return None
    c = (np.asarray(centre, float) + normals[0] * (edges[0] - edges[2]) / 2
         + normals[1] * (edges[1] - edges[3]) / 2)
    return (float(c[0]), float(c[1])), (float(h), float(h)), float(angle_ccw)


def _inked_near(detection: Detection, others: Sequence[Detection]) -> bool:
    """Whether another imprint of the same ink (or a grey one) lies within the reach of
    :func:`_square_by_profiles` round ``detection``."""
    return bool(_same_ink_within(detection, others,
                                 SIDE_PROFILE_REACH[1] * max(detection.axes)))


def _same_ink_within(detection: Detection, others: Sequence[Detection], reach: float,
                     beyond: float = 0.0) -> list[Detection]:
    """The imprints of ``others`` whose outline comes within ``reach`` (px) of
    ``detection``'s centre, centred at least ``beyond`` from it, and whose ink is not told
    apart from its ink by colour (the same, or one of them grey)."""
    return [o for o in others
            if beyond <= math.hypot(o.centre[0] - detection.centre[0],
                                    o.centre[1] - detection.centre[1]) < reach + max(o.axes)
            and (o.colour == detection.colour or "grey" in (o.colour, detection.colour))]


#: Where :func:`_ink_beyond` looks, in half sides outside a square's outline
BEYOND = (1.03, 1.08)
#: The canonical square's corners (px indices): top-left, top-right, bottom-right, bottom-left
_CANON_CORNERS = (CANONICAL_SIZE / 2 - 0.5) + SQUARE_HALF_SIDE * np.array(
    [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])


def _square_map(fit, quad: np.ndarray | None) -> np.ndarray:
    """3 x 3 map canonical px -> ROI px of the square ``fit`` (centre, (h, h), angle) or,
    where drawn, its quadrilateral ``quad``."""
    c, axes, angle = fit
    return quad if quad is not None else _projective(
        _affine_to_page(c, axes, angle, "square", angle))


def _corner(a: tuple[np.ndarray, float], b: tuple[np.ndarray, float]) -> np.ndarray | None:
    """Where two lines (unit normal, offset) meet, or None where they are this near parallel
    (neighbouring sides of a square: no corner)."""
    pair = np.stack([a[0], b[0]])
    if abs(np.linalg.det(pair)) < 0.5:
        return None
    return np.linalg.solve(pair, (a[1], b[1]))


def _ink_beyond(ink: np.ndarray, off: np.ndarray, fit, quad: np.ndarray | None) -> float:
    """Mean ink just outside a square's outline (:data:`BEYOND`, the middle 80 % of each
    side), the square ``fit`` (centre, (h, h), angle) or, where drawn, its quadrilateral
    ``quad`` (3 x 3, canonical px -> ROI px)."""
    m = _square_map(fit, quad)
    mid = CANONICAL_SIZE / 2 - 0.5  # (the maps take px indices to px indices)
    along = np.linspace(-0.8, 0.8, 64) * SQUARE_HALF_SIDE
    pts = []
    for k in BEYOND:
        d = k * SQUARE_HALF_SIDE
        for x, y in ((d, along), (-d, along), (along, d), (along, -d)):
            pts.append(np.stack(np.broadcast_arrays(mid + x, mid + y), axis=1))
    roi = cv2.perspectiveTransform(np.concatenate(pts)[None].astype(np.float64), m)[0]
    xs, ys = roi[:, 0].astype(np.float32)[None], roi[:, 1].astype(np.float32)[None]
    values, seen = _sampled(ink, off, xs, ys)
    return float((values * seen).sum() / max(int(seen.sum()), 1))


#: A photographed square's sides read outward (:func:`_sides_outward`): across each side, at
#: points along its middle (SIDE_OUT_SPAN of the half side either way), the ink at offsets from
#: INWARD to OUTWARD half sides about it, in canonical px steps; a side moves out where the line
#: through the outer edges of that ink (half its peak, coming in from outside) lies, on
#: average, more than SIDE_OUT_MIN half sides out
SIDE_OUT_SPAN, SIDE_OUT_INWARD, SIDE_OUT_OUTWARD, SIDE_OUT_MIN = 0.7, 0.1, 0.3, 0.015


def _sides_outward(ink: np.ndarray, off: np.ndarray, fit, quad: np.ndarray | None
                   ) -> np.ndarray | None:
    """The photographed square ``fit`` (centre, (h, h), angle), or its quadrilateral
    ``quad`` (3 x 3, canonical px -> ROI px), with each side moved out to the outer edge of
    the border band lying just outside it, or None where no side moves. The border's path
    round the seal moves a step at most from ray to ray, so along a side whose distance
    changes faster, seen in perspective from a detection turned off the seal's own, it takes
    the border's inner edge, or a row of characters inside it; a side is a straight line in
    any view of the sheet, and the outer edges read across it find the border again."""
    m = _square_map(fit, quad)
    mid, half = CANONICAL_SIZE / 2 - 0.5, SQUARE_HALF_SIDE
    along = np.linspace(-SIDE_OUT_SPAN, SIDE_OUT_SPAN, 48) * half
    steps = np.arange(-SIDE_OUT_INWARD * half, SIDE_OUT_OUTWARD * half, 1.0)
    lines, moved = [], False
    # sides in canonical px: right, bottom, left, top (outward normals)
    for nx, ny in ((1, 0), (0, 1), (-1, 0), (0, -1)):
        d = half + steps[:, None]
        xs = mid + nx * d - ny * along[None]
        ys = mid + ny * d + nx * along[None]
        roi = cv2.perspectiveTransform(np.stack([xs, ys], axis=-1).reshape(1, -1, 2), m)[0]
        values, seen = _sampled(ink, off, roi[:, 0].astype(np.float32)[None],
                                roi[:, 1].astype(np.float32)[None])
        values = np.where(seen, values, 0.0).reshape(xs.shape)
        peak = values.max(axis=0)
        # across the side at each point along it: the outermost step at half its peak,
        # coming in from outside, where the border band is seen there at all (the path may
        # have kept to a row of characters inside the border, a gap away from it)
        use = (peak >= 0.5 * float(np.percentile(peak, 75))) & (
            seen.reshape(xs.shape).mean(axis=0) > 0.9)
        edge = steps[(values.shape[0] - 1
                      - np.argmax((values >= 0.5 * peak)[::-1], axis=0))]
        side = np.array([0.0, 0.0])  # (offset, slope) of the side against the square's
        if use.sum() >= len(along) // 2:
            fitted = np.polyfit(along[use], edge[use], 1)
            keep = use & (np.abs(np.polyval(fitted, along) - edge) <= 2.0)
            if keep.sum() >= len(along) // 2:
                fitted = np.polyfit(along[keep], edge[keep], 1)
            if np.polyval(fitted, along[keep]).mean() > SIDE_OUT_MIN * half:
                side, moved = fitted[::-1], True
        # two canonical points of the side's line, mapped to the ROI
        ends = [(mid + nx * (half + side[0] + side[1] * u) - ny * u,
                 mid + ny * (half + side[0] + side[1] * u) + nx * u) for u in (-half, half)]
        a, b = cv2.perspectiveTransform(np.array([ends], float), m)[0]
        normal = np.array([a[1] - b[1], b[0] - a[0]])
        normal /= np.linalg.norm(normal)
        lines.append((normal, float(normal @ a)))
    if not moved:
        return None
    # top-left (top, left), top-right (top, right), bottom-right, bottom-left
    corners = [_corner(lines[p], lines[q]) for p, q in ((3, 2), (3, 0), (1, 0), (1, 2))]
    if any(k is None for k in corners):
        return None
    return cv2.getPerspectiveTransform(_CANON_CORNERS.astype(np.float32),
                                       np.array(corners, np.float32)).astype(float)


def _squares_apart(a, b) -> float:
    """How far two squares (centre, (h, h), angle) lie apart: the larger of the centres'
    distance and the half sides' difference, in half sides of ``a``."""
    return max(math.hypot(b[0][0] - a[0][0], b[0][1] - a[0][1]), abs(b[1][0] - a[1][0])
               ) / a[1][0]


def _square_quad(pts: np.ndarray, rays: np.ndarray, fit) -> np.ndarray | None:
    """3 x 3 map canonical px -> ROI px of a square seal seen in perspective, from the four
    sides of its border (each a straight line in any view of the sheet) met at its corners,
    or None where a side is not seen or straight enough, or the square ``fit`` (centre,
    (h, h), angle) already lies on the corners. The canonical frame is the one the fitted
    square is drawn in with a side level."""
    c, (h, _), angle = fit
    side, away = _square_sides(rays)
    th = math.radians(-angle)
    lines, off_quad, off_square, turned = [], [], [], 0
    for i in range(4):
        p = pts[away & (side == i)].astype(np.float32)
        if len(p) < QUAD_MIN_POINTS:
            return None
        vx, vy, x0, y0 = cv2.fitLine(p, cv2.DIST_HUBER, 0, 0.01, 0.01)[:, 0]
        normal = np.array([-vy, vx], float)
        offset = float(normal @ (x0, y0))
        off_quad.append(np.abs(p @ normal - offset))
        lines.append((normal, offset))
        # the fitted square's side i, as _fit_square draws it
        n = np.array([math.cos(th + i * math.pi / 2), math.sin(th + i * math.pi / 2)])
        off_square.append(np.abs(p @ n - (n @ np.asarray(c) + h)))
        turn = math.degrees(math.atan2(normal[1], normal[0]) - math.atan2(n[1], n[0]))
        turned += abs((turn + 90) % 180 - 90) >= QUAD_MIN_TURN
    quad_residual = float(np.median(np.concatenate(off_quad)))
    # a perspective turns two sides at least against the square (a tilt about one side's
    # direction leans the two across it); a stamp that failed to print on one side ends at
    # one straight line of its own, which turns one
    if (quad_residual > QUAD_RESIDUAL * h or turned < 2
            or quad_residual > QUAD_GAIN * float(np.median(np.concatenate(off_square)))):
        return None
    corners = [_corner(lines[i], lines[(i + 1) % 4]) for i in range(4)]
    if any(k is None for k in corners):
        return None
    quad = np.array(corners)
    square = _affine_to_page(c, (h, h), angle, "square", angle)
    drawn = _CANON_CORNERS @ square[:, :2].T + square[:, 2] + 0.5  # pixel centres at + 0.5
    # each corner of the quadrilateral to the nearest of the square's
    order = [int(np.argmin(np.hypot(*(drawn - q).T))) for q in quad]
    if sorted(order) != [0, 1, 2, 3]:
        return None
    skew = max(float(np.hypot(*(drawn[j] - q))) for j, q in zip(order, quad, strict=True))
    if skew <= QUAD_MIN_SKEW * 2 * h:
        return None
    seen = np.empty((4, 2))
    seen[order] = quad
    # the map through the ROI's pixel centres, as _affine_to_page's
    return cv2.getPerspectiveTransform(_CANON_CORNERS.astype(np.float32),
                                       (seen - 0.5).astype(np.float32)).astype(float)


def _refitted(det: Detection, page_shape, offset, fit, shape: str) -> Detection:
    """``det`` moved onto the border fitted in the ROI at ``offset``: its centre, axes, angle
    and the box of the outline's part on the page."""
    (cx, cy), (a, b), angle_ccw = fit
    centre = (cx + offset[0], cy + offset[1])
    if shape == "square":
        outline = cv2.boxPoints((centre, (2 * a, 2 * b), -angle_ccw))
    else:
        outline = cv2.ellipse2Poly((round(centre[0]), round(centre[1])), (round(a), round(b)),
                                   round(-angle_ccw), 0, 360, 5).astype(np.float32)
    h, w = page_shape[:2]
    x0, y0 = np.clip(outline.min(axis=0), 0, (w, h))
    x1, y1 = np.clip(outline.max(axis=0), 0, (w, h))
    return dataclasses.replace(det, shape=shape, centre=centre, axes=(a, b), angle=angle_ccw,
                               box=(float(x0), float(y0), float(x1), float(y1)))


def _outline_offsets(pts: np.ndarray, fit) -> tuple[np.ndarray, np.ndarray]:
    """Points' coordinates along a fitted outline's own axes (the major axis, or a side's
    normal, and the one across it), about its centre."""
    (cx, cy), _, angle_ccw = fit
    th = math.radians(-angle_ccw)
    dx, dy = pts[:, 0] - cx, pts[:, 1] - cy
    return dx * math.cos(th) + dy * math.sin(th), -dx * math.sin(th) + dy * math.cos(th)


def _ellipse_residual(pts: np.ndarray, fit) -> np.ndarray:
    """Each point's distance (px, signed, outward positive) from a fitted ellipse."""
    u, v = _outline_offsets(pts, fit)
    (a, b) = fit[1]
    return (np.hypot(u / a, v / b) - 1) * (a + b) / 2


def _on_outline(resid: np.ndarray, a: float) -> np.ndarray:
    """The points within 2 px, or 2 % of the outline's size, of it."""
    return np.abs(resid) < max(2.0, 0.02 * a)


def _outline_share(pts: np.ndarray, fit, shape: str) -> float:
    """Share of the :data:`N_RAYS` rays whose border point lies on the fitted outline (an
    ellipse, or a square's sides), within 2 px or 2 % of its size."""
    a = fit[1][0]
    if shape == "square":
        u, v = _outline_offsets(pts, fit)
        # each pair of sides at its own distance: in a photograph the square is a trapezoid
        au, av = np.abs(u), np.abs(v)
        on_u = au >= av
        hu = float(np.median(au[on_u])) if on_u.any() else a
        hv = float(np.median(av[~on_u])) if (~on_u).any() else a
        resid = np.where(on_u, au - hu, av - hv)
    else:
        resid = _ellipse_residual(pts, fit)
    return float(np.sum(_on_outline(resid, a)) / N_RAYS)


def _side_angle(ink: np.ndarray, off: np.ndarray, centre, radius: float) -> float:
    """The direction (deg ccw, modulo 90) the edges in the band round ``radius`` run most
    along: a square border's sides, if it is one (a circle's edges run every way)."""
    # at about 64 px across the seal: a side is still a long straight edge
    f = min(1.0, 32.0 / radius)
    size = (max(3, round(ink.shape[1] * f)), max(3, round(ink.shape[0] * f)))
    small = cv2.resize(ink, size, interpolation=cv2.INTER_AREA)
    off = cv2.resize(off.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    yy, xx = np.mgrid[:small.shape[0], :small.shape[1]]
    r = np.hypot((xx + 0.5) / f - centre[0], (yy + 0.5) / f - centre[1]) / radius
    band = (r > SIDE_BAND[0]) & (r < SIDE_BAND[1]) & (off == 0)
    z = np.sum(np.hypot(gx[band], gy[band]) * np.exp(4j * np.arctan2(gy[band], gx[band])))
    return (-math.degrees(np.angle(z) / 4)) % 90


def _square_instead(ink: np.ndarray, off: np.ndarray, pts: np.ndarray, ellipse):
    """A square border where one was fitted as an ellipse: its sides, when a square outline
    takes in :data:`SQUARE_GAIN` more of the border's rays than the ellipse does; else None.
    Tried only where the ellipse leaves much of the border off (a circle's fit does not)."""
    share = _outline_share(pts, ellipse, "round")
    if share >= ELLIPSE_SHARE_OK:
        return None
    (cx, cy), (a, b), _ = ellipse
    r = (a + b) / 2
    angle = _side_angle(ink, off, (cx, cy), r)
    # the circle fitted to a square's border lies between its sides and its corners (a half
    # side of 0.71 to 1 of its radius): one search covers both
    half = r / 1.15
    sq_pts, rays = _border_points(ink, off, (cx, cy), (half, half), angle, "square",
                                  SQUARE_SEARCH)
    fit = _fit_square(sq_pts, rays, half, angle)
    if fit is None or _outline_share(sq_pts, fit, "square") < share + SQUARE_GAIN:
        return None
    return fit


def _fit_ellipse(pts: np.ndarray):
    """Robust fit: least squares, then again without the points more than 2 px (or 2 %)
    off; where that leaves much of the border off, the best of :data:`ELLIPSE_TRIES`
    ellipses through five points at random (a signature or a text line the border path
    followed for a stretch pulls a least-squares fit off the border), judged by how close
    the points lie (each point's squared distance, capped at the first fit's on-outline
    tolerance).
    Returns (centre, (a, b), angle_ccw) or None."""
    if len(pts) < 12:
        return None
    fit = _refined(pts, np.ones(len(pts), bool))
    resid = _ellipse_residual(pts, fit)
    if _on_outline(resid, fit[1][0]).sum() >= ELLIPSE_INLIERS_OK * len(pts):
        return fit

    # one cap for every candidate (a larger ellipse's own tolerance would excuse more)
    cap = max(2.0, 0.02 * fit[1][0]) ** 2

    def cost(resid: np.ndarray) -> float:
        return float(np.minimum(resid ** 2, cap).sum())

    best, keep = cost(resid), None
    # seeded: the same imprint is rectified the same way every time
    rng = np.random.default_rng(len(pts))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = float(np.max(hi - lo))
    for _ in range(ELLIPSE_TRIES):
        (cx, cy), (w, h), ang = cv2.fitEllipse(
            pts[rng.choice(len(pts), 5, replace=False)].astype(np.float32))
        a, b = max(w, h) / 2, min(w, h) / 2
        # degenerate fits: slivers, or ellipses larger than the points' spread allows (an
        # arc of 80 degrees or more spans 1.25 semi-major axes)
        if not (b >= 0.5 * a and a < 0.8 * span and lo[0] <= cx <= hi[0]
                and lo[1] <= cy <= hi[1]):
            continue
        major = ang + 90 if w < h else ang
        resid = _ellipse_residual(pts, ((cx, cy), (a, b), -major))
        c = cost(resid)
        if c < best:
            best, keep = c, _on_outline(resid, a)
    return fit if keep is None or keep.sum() < 12 else _refined(pts, keep)


def _widest_gap(pts: np.ndarray, centre) -> float:
    """The widest angle (degrees, seen from ``centre``) between neighbouring points."""
    t = np.sort(np.degrees(np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])))
    return float(np.max(np.diff(np.concatenate([t, [t[0] + 360.0]]))))


def _fit_circle(pts: np.ndarray):
    """Least-squares circle (algebraic, Kasa's) through ``pts``: ((cx, cy), r)."""
    x, y = pts[:, 0], pts[:, 1]
    (d, e, f), *_ = np.linalg.lstsq(np.stack([x, y, np.ones_like(x)], axis=1),
                                    -(x * x + y * y), rcond=None)
    cx, cy = -d / 2, -e / 2
    return (float(cx), float(cy)), float(math.sqrt(max(cx * cx + cy * cy - f, 1e-9)))


def _flat_round(pts: np.ndarray, fit):
    """A round seal's outline on a flat capture (a scanner's, a rendered PDF's: no
    perspective): where the ellipse fitted to its border points is flatter than a round
    seal's outline scans (:data:`FLAT_ASPECT`), or its points leave a gap wider than
    :data:`ARC_GAP_CIRCLE` round it (a half-printed imprint, one starved away on a side),
    the circle through the points on it, refitted to the points on the circle. An arc
    leaves an ellipse free to stretch along the gap, which moves its centre; a circle's
    three parameters it fixes. A border seen all round, and as round as a scanned round
    seal's, keeps its ellipse (which takes up a scanner's or the paper's stretch). Ellipses
    flatter than a round seal's (:data:`ROUND_ASPECT`) are oval seals, or a round one
    photographed at a slant: kept too."""
    aspect = fit[1][1] / fit[1][0]
    if aspect < ROUND_ASPECT:
        return fit
    on = _on_outline(_ellipse_residual(pts, fit), fit[1][0])
    if on.sum() < 12 or (aspect >= FLAT_ASPECT
                         and _widest_gap(pts[on], fit[0]) <= ARC_GAP_CIRCLE):
        return fit
    keep = on
    for _ in range(3):
        c, r = _fit_circle(pts[keep])
        new = _on_outline(np.hypot(pts[:, 0] - c[0], pts[:, 1] - c[1]) - r, r)
        if new.sum() < 12 or (new == keep).all():
            break
        keep = new
    return c, (r, r), 0.0


def _refined(pts: np.ndarray, keep: np.ndarray):
    """Least-squares ellipse through the ``keep`` points, refitted (up to three times) to
    the points within 2 px or 2 % of the last fit."""
    for _ in range(3):
        (cx, cy), (w, h), ang = cv2.fitEllipse(pts[keep].astype(np.float32))
        a, b = max(w, h) / 2, min(w, h) / 2
        major = ang + 90 if w < h else ang  # degrees, image coordinates
        new = _on_outline(_ellipse_residual(pts, ((cx, cy), (a, b), -major)), a)
        if new.sum() < 12 or (new == keep).all():
            break
        keep = new
    return (float(cx), float(cy)), (float(a), float(b)), float((-major) % 180)


def _print_across(ink: np.ndarray, off: np.ndarray, centre, axes, angle_ccw: float,
                  shape: str) -> np.ndarray:
    """Lines of print running across an imprint whose ink could not be told from print
    (:func:`imprint.ink.print_lines`), found beside the fitted outline (from 8 % beyond it)."""
    grow = 1.08
    a, b = axes
    inside = fill_outline(np.zeros(ink.shape, np.uint8), centre, (grow * a, grow * b),
                          -angle_ccw, shape == "square")
    beside = (inside == 0) & ~off
    return print_lines(ink > 0.5, beside, 0.1 * max(a, b))


def _turn(degrees_ccw: float) -> np.ndarray:
    """2 x 2 matrix turning image coordinates (y down) counter-clockwise as seen."""
    r = math.radians(-degrees_ccw)
    return np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])


def _canonical_half(shape: str) -> float:
    """Canonical px of the border's major semi-axis (a square's half side)."""
    return SQUARE_HALF_SIDE if shape == "square" else CANONICAL_RADIUS


def _affine_to_page(centre, axes, angle_ccw: float, shape: str, rotation: float) -> np.ndarray:
    """2 x 3 matrix mapping canonical px -> ROI px, for a seal turned counter-clockwise by
    ``rotation`` on the page."""
    a, b = axes
    rot = _turn(angle_ccw)  # the major axis direction
    if shape == "round":
        m = rot @ np.diag([a / CANONICAL_RADIUS, b / CANONICAL_RADIUS]) @ rot.T @ _turn(rotation)
    else:
        # ovals and squares: a similarity aligning the major axis (or a side); what is left is
        # the turn from that axis to upright, a multiple of 180 (oval) or 90 (square) degrees
        m = rot * (a / _canonical_half(shape)) @ _turn(rotation - angle_ccw)
    c = CANONICAL_SIZE / 2
    t = np.array(centre) - 0.5 - m @ np.array([c - 0.5, c - 0.5])
    return np.hstack([m, t[:, None]])


def _warp(img: np.ndarray, m: np.ndarray, border: float) -> np.ndarray:
    """The canonical image of ``img`` under ``m`` (canonical px -> ROI px): 2 x 3 affine or
    3 x 3 projective."""
    size = (CANONICAL_SIZE, CANONICAL_SIZE)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    if m.shape == (2, 3):
        return cv2.warpAffine(img, m, size, flags=flags, borderValue=border)
    return cv2.warpPerspective(img, m, size, flags=flags, borderValue=border)


def _unproject(horizon, origin, centre) -> np.ndarray:
    """3 x 3 projective map of ROI px sending the sheet's horizon (page px, ROI at
    ``origin``) to infinity, and equal to the identity to first order at ``centre``: what
    it leaves of a photographed circle is an affine image of it, centre on centre."""
    a, b, c = horizon
    ox, oy = origin
    line = np.array([a, b, c + a * ox + b * oy])  # the same line in ROI px
    at = float(line @ (centre[0], centre[1], 1.0))
    lx, ly = line[0] / at, line[1] / at  # in px relative to the centre, scaled to 1 there
    shift = np.array([[1, 0, -centre[0]], [0, 1, -centre[1]], [0, 0, 1]], float)
    back = np.array([[1, 0, centre[0]], [0, 1, centre[1]], [0, 0, 1]], float)
    return back @ np.array([[1, 0, 0], [0, 1, 0], [lx, ly, 1]]) @ shift


def _destretch(sheet: RectifiedImprint, persp: np.ndarray, origin, centre) -> np.ndarray:
    """3 x 3 stretch about ``centre`` (ROI px at ``origin`` on the page) of the view
    ``persp`` (:func:`_unproject`) that makes the round seal ``sheet``, rectified on the same
    sheet, round in it. Undoing the horizon leaves an affine image of the sheet, the same
    affine map for every imprint's view up to an affine map between the views (each sends
    the horizon to infinity): a round seal's outline seen in this view measures what is
    left, which an oval's own outline cannot tell from its shape. Area is kept."""
    t = np.radians(np.arange(0, 360, 5))
    c = CANONICAL_SIZE / 2 - 0.5
    ring = np.stack([c + CANONICAL_RADIUS * np.cos(t), c + CANONICAL_RADIUS * np.sin(t)], 1)
    on_page = cv2.perspectiveTransform(ring[None], sheet.geometry.homography)[0]
    to_roi = np.array([[1, 0, -origin[0]], [0, 1, -origin[1]], [0, 0, 1]], float)
    seen = cv2.perspectiveTransform(on_page[None], persp @ to_roi)[0]
    fit = _refined(seen, np.ones(len(seen), bool))
    (a, b), rot = fit[1], _turn(fit[2])
    if b <= 0 or a / b > 1 / OVAL_ASPECT:
        return np.eye(3)  # not a plausible circle seen askew: leave the view as it is
    k = math.sqrt(b / a)
    lin = rot @ np.diag([k, 1 / k]) @ rot.T
    out = np.eye(3)
    out[:2, :2] = lin
    out[:2, 2] = np.asarray(centre, float) - lin @ np.asarray(centre, float)
    return out


def _projective(m: np.ndarray) -> np.ndarray:
    """A 2 x 3 affine map as 3 x 3; a 3 x 3 map as it is."""
    return m if m.shape == (3, 3) else np.vstack([m, [0, 0, 1]])


def _through(persp: np.ndarray | None, m: np.ndarray) -> np.ndarray:
    """Canonical px -> ROI px: ``m`` (canonical -> the sheet's affine view) then back
    through the perspective ``persp`` (None: no perspective, ``m`` itself)."""
    if persp is None:
        return m
    return np.linalg.inv(persp) @ _projective(m)


def _polar(ink: np.ndarray, n_angles: int = 720, n_radii: int = 256) -> np.ndarray:
    """(n_angles, n_radii): row k is the clock angle 360 k / n (clockwise from 12 o'clock),
    column j the radius j / n_radii * CANONICAL_RADIUS."""
    c = CANONICAL_SIZE / 2 - 0.5
    t = np.radians(np.arange(n_angles) * 360.0 / n_angles)
    r = np.arange(n_radii) / n_radii * CANONICAL_RADIUS
    xs = (c + np.sin(t)[:, None] * r[None]).astype(np.float32)
    ys = (c - np.cos(t)[:, None] * r[None]).astype(np.float32)
    return cv2.remap(ink, xs, ys, cv2.INTER_LINEAR, borderValue=0.0)


def _circular_smooth(p: np.ndarray, sigma_bins: float) -> np.ndarray:
    k = int(3 * sigma_bins)
    ext = np.concatenate([p[-k:], p, p[:k]]).astype(np.float32)
    sm = cv2.GaussianBlur(ext[None], (0, 0), sigma_bins)[0]
    return sm[k:k + len(p)]


def _upright_input(unturned: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """The up-finder's input (:func:`models.upright.polar_input`) for an unturned canonical
    ink map and the mask of what is hidden on it (covered by print, cut by the page edge,
    under another imprint)."""
    return upright.polar_input(_polar(unturned, 360, 256),
                               _polar(hidden.astype(np.float32), 360, 256))


def _round_up(x: np.ndarray) -> float:
    """Clock angle (deg) at which a round seal's up points in the unturned canonical image
    whose input (:func:`_upright_input`) is ``x``. A seal's up is the middle of its name arc,
    where the star's top tip points, opposite the text and code along the bottom; the star's
    five tips, the layout's mirror axis or the name arc's ink, each read alone, fail where
    part of the seal is hidden or crossed (another imprint over it, print left in a fax's
    ink), so the whole layout is read at once by a small network over the polar image
    (:mod:`models.upright`)."""
    return upright.up_angle(upright.up_scores(x))


def _oval_up(x: np.ndarray, photographed: bool) -> float:
    """Clock angle (deg) of an oval seal's up in its unturned canonical image (major axis
    level), input ``x`` (:func:`_upright_input`): the end of its minor axis with the name
    over it, read by the same network as a round seal's up (trained on ovals too). On a
    ``photographed`` imprint also the small turn it reads there, within :data:`OVAL_TILT`:
    an ellipse fitted where the perspective is undone only in part lies a few degrees off
    the seal's text. On a flat capture the fitted ellipse's axis is the finer measure (on
    development scans 0.1 degrees off at the median, the network's reading 0.3)."""
    scores = upright.up_scores(x)
    end = max((0.0, 180.0), key=lambda c: upright.up_mass(scores, c, OVAL_TILT))
    return upright.up_angle(scores, near=end, reach=OVAL_TILT) if photographed else end


def _star_tip(polar: np.ndarray, fivefold: float = STAR_FIVEFOLD,
              hidden: np.ndarray | None = None) -> float | None:
    """Clock angle (deg) of one of the five tips of a star in the seal's middle, or None
    where there is none: ink in the star's band, ``fivefold`` five-fold round the circle.
    ``hidden``: the polar samples not seen (covered by text, under another imprint); the
    five-fold wave is fitted to the directions seen, where the star's band is seen over
    half its width: the tips repeat every 72 degrees, so any such stretch shows the phase
    of all five. (Filling what is hidden with its ring's mean instead weakens the wave in
    proportion, and a star half under another imprint was taken for none.)"""
    n, n_radii = polar.shape
    lo, hi = int(STAR_BAND[0] * n_radii), int(STAR_BAND[1] * n_radii)
    t = np.radians(np.arange(n) * 360.0 / n)
    if hidden is None or not hidden[:, lo:hi].any():
        star, seen = polar[:, lo:hi].mean(axis=1), np.ones(n, bool)
    else:
        covered = hidden[:, lo:hi]
        shown = np.maximum((~covered).sum(axis=1), 1)
        star = np.where(covered, 0.0, polar[:, lo:hi]).sum(axis=1) / shown
        seen = covered.mean(axis=1) < 0.5
        if seen.sum() < STAR_SEEN * n:
            return None
    star, t = star[seen], t[seen]
    if star.mean() <= STAR_INK:
        return None
    basis = np.stack([np.ones_like(t), np.cos(5 * t), np.sin(5 * t)], axis=1)
    (mean, c, s), *_ = np.linalg.lstsq(basis, star, rcond=None)
    # over part of the circle a five-fold wave fits anything more easily (text, the print
    # across it): the wave must stand out more the less of the circle is seen
    if math.hypot(c, s) / 2 <= fivefold * mean / math.sqrt(min(1.0, seen.mean() / STAR_SEEN_FULL)):
        return None
    return math.degrees(math.atan2(s, c)) / 5 % 72


# A photographed circle is an ellipse whose centre is not the image of the circle's centre.
# Mapping the ellipse onto the canonical circle leaves a projective map of the disc onto
# itself (a "boost" of the disc), which keeps the border where it is and slides the inside of
# the seal across: the star and the name arc sit off centre, the rings of the layout are no
# longer concentric. Without the sheet's horizon, the boost is found from the content: the
# one whose rings (the name arc's inner and outer edges, inner circles, the star) are
# sharpest when averaged round the circle.

_CENTRING_SIZE = CANONICAL_SIZE // 2  # searched at half resolution
_CENTRING_RINGS, _CENTRING_ANGLES = 64, 128


def _ring_grid() -> np.ndarray:
    """(3, rings x angles) homogeneous unit-disc points on the rings of CENTRING_BAND."""
    r = np.linspace(*CENTRING_BAND, _CENTRING_RINGS)
    t = np.linspace(0, 2 * np.pi, _CENTRING_ANGLES, endpoint=False)
    return np.stack([np.outer(r, np.cos(t)), np.outer(r, np.sin(t)),
                     np.ones((len(r), len(t)))]).reshape(3, -1)


_CENTRING_GRID = _ring_grid()


def _disc_boost(b) -> np.ndarray:
    """3 x 3 projective map of the unit disc onto itself (a Lorentz boost) that sends its
    centre to ``b`` and keeps its border circle."""
    bx, by = b
    n2 = bx * bx + by * by
    if n2 < 1e-12:
        return np.eye(3)
    g = 1.0 / math.sqrt(1.0 - n2)
    k = (g - 1.0) / n2
    return np.array([[1 + k * bx * bx, k * bx * by, g * bx],
                     [k * bx * by, 1 + k * by * by, g * by],
                     [g * bx, g * by, g]])


def _disc_px(size: int) -> np.ndarray:
    """3 x 3: unit-disc coordinates -> px of a canonical image ``size`` square."""
    r = CANONICAL_RADIUS * size / CANONICAL_SIZE
    c = size / 2 - 0.5
    return np.array([[r, 0, c], [0, r, c], [0, 0, 1]])


def _ring_sharpness(small: np.ndarray, boosts: Sequence) -> np.ndarray:
    """How sharp the rings of ``small`` (half-size canonical ink) are about each point a boost
    in ``boosts`` takes the centre to: the energy of the radial derivative of the mean ink.
    (All of them sampled in one pass: the sampling itself is cheap, the calls are not.)"""
    rings, angles = _CENTRING_RINGS, _CENTRING_ANGLES
    g = np.einsum("kij,jn->ikn", np.stack([_disc_px(_CENTRING_SIZE) @ _disc_boost(b)
                                           for b in boosts]), _CENTRING_GRID)
    xs = (g[0] / g[2]).reshape(-1, angles).astype(np.float32)
    ys = (g[1] / g[2]).reshape(-1, angles).astype(np.float32)
    profile = cv2.remap(small, xs, ys, cv2.INTER_LINEAR).mean(axis=1).reshape(-1, rings)
    return np.sum(np.diff(profile, axis=1) ** 2, axis=1)


def _content_centring(unturned: np.ndarray) -> np.ndarray | None:
    """3 x 3 map of canonical px (new -> old) that moves the seal's own centre, found from its
    content, onto the canonical centre; None when the border's centre is as good."""
    small = cv2.GaussianBlur(cv2.resize(unturned, (_CENTRING_SIZE, _CENTRING_SIZE),
                                        interpolation=cv2.INTER_AREA), (0, 0), 1.0)
    start = float(_ring_sharpness(small, [(0.0, 0.0)])[0])
    if start <= 1e-9:
        return None
    best, at = start, np.zeros(2)
    seen: dict[tuple[float, float], float] = {}  # the search comes back to points it scored
    for step in (0.04, 0.02, 0.01, 0.005):  # a pattern search, coarse to fine
        for _ in range(4):
            around = [b for b in (at + step * np.array((i, j)) for i in (-1, 0, 1)
                                  for j in (-1, 0, 1) if (i, j) != (0, 0))
                      if math.hypot(*b) <= CENTRING_REACH]
            new = [b for b in around if (float(b[0]), float(b[1])) not in seen]
            if new:
                for b, v in zip(new, _ring_sharpness(small, new), strict=True):
                    seen[float(b[0]), float(b[1])] = float(v)
            scored = [(seen[float(b[0]), float(b[1])], b) for b in around]
            top = max(scored, key=lambda x: x[0], default=(best, at))
            if top[0] <= best:
                break
            best, at = top
    if best < CENTRING_GAIN * start:
        return None
    px = _disc_px(CANONICAL_SIZE)
    return px @ _disc_boost(at) @ np.linalg.inv(px)


def _turn_px(rotation: float) -> np.ndarray:
    """3 x 3: canonical px turned by ``rotation`` about the canonical centre: the map of
    :func:`_affine_to_page` for a turn ``t + rotation`` is its map for ``t`` times this."""
    c = CANONICAL_SIZE / 2 - 0.5
    t = np.eye(3)
    t[:2, :2] = _turn(rotation)
    t[:2, 2] = (c, c) - t[:2, :2] @ (c, c)
    return t


#: A round imprint with less of its border than this on the page (a cross-page sliver) keeps
#: the detector's circle: its arc is too short to fit an ellipse to.
SLIVER_VISIBLE = 1 / 3
#: a photographed sheet's sides: the step (page px) along each at an imprint's centre, and how far
#: from a right angle (degrees) the canonical frame may leave them to be trusted
SIDES_STEP_PX, SIDES_SQUARE = 8.0, 6.0


def rectify(image: np.ndarray, detection: Detection, *, dpi: float | None = None,
            others: Sequence[Detection] = (), sheet: RectifiedImprint | None = None
            ) -> RectifiedImprint | None:
    """Canonical imprint of ``detection`` on ``image`` ``(H, W, 3) uint8`` RGB, or None when
    no border can be fitted. ``others``: the other imprints found on the page; where one lies
    over this one, its ink is not read for this one's orientation. ``sheet``: a round seal
    rectified on the same photographed sheet, by which an oval's outline is freed of what the
    sheet's horizon leaves of the perspective (:func:`_destretch`)."""
    crop, off, (ox, oy) = _roi(image, detection)
    if crop.size == 0:
        return None
    radius = max(detection.axes)
    norm = normalise(crop, window=max(15, int(radius * 0.9)))
    masks = ink_masks(norm)
    hint = masks.by_colour.get(detection.colour) if detection.colour != "grey" else None
    sep = separate(norm, colour_hint=hint, solid_px=max(3, round(SOLID_STROKE * radius)))
    ink = np.where(off, 0.0, sep.ink).astype(np.float32)
    centre = (detection.centre[0] - ox, detection.centre[1] - oy)
    shape = found_as = detection.shape
    quad = None
    pts, rays = _border_points(ink, off, centre, detection.axes, detection.angle, shape)
    if shape == "square":
        # the square's own sides, or the detection's square where too few of them are seen
        fit = _fit_square(pts, rays, detection.axes[0], detection.angle)
        fit = fit or (centre, detection.axes, detection.angle)
        # the sides read straight (not on a photographed sheet, whose squares are
        # quadrilaterals with sides not parallel, nor where another imprint of its ink lies
        # within reach: its sides would read as well): where the border's path kept off them,
        # it is followed again from there
        by_sides = (None if detection.horizon is not None or _inked_near(detection, others)
                    else _square_by_profiles(ink, off, centre, detection.axes[0],
                                             detection.angle))
        # photographed at a slant, the square is a quadrilateral: drawn from its corners
        quad = _square_quad(pts, rays, fit)
        if by_sides is not None and _squares_apart(fit, by_sides) > SIDE_APART:
            pts2, rays2 = _border_points(ink, off, *by_sides, "square", REFIT_SEARCH)
            again = _fit_square(pts2, rays2, by_sides[1][0], by_sides[2])
            if again is not None and _squares_apart(by_sides, again) <= SIDE_APART:
                fit2, quad2 = again, _square_quad(pts2, rays2, again)
            else:
                fit2, quad2 = by_sides, None
            # the outline with less ink just outside it is the border's outer edge (a
            # border's inner edge, or a row of characters, has the border's ink outside it)
            if _ink_beyond(ink, off, fit2, quad2) < _ink_beyond(ink, off, fit, quad):
                fit, quad = fit2, quad2
        elif detection.horizon is not None and not _inked_near(detection, others):
            out = _sides_outward(ink, off, fit, quad)
            if out is not None and _ink_beyond(ink, off, fit, out) < _ink_beyond(ink, off, fit,
                                                                               quad):
                quad = out
    elif detection.visible < SLIVER_VISIBLE and shape == "round":
        # a cross-page sliver: an arc this short fits ellipses of any size and turn
        fit = (centre, detection.axes, detection.angle)
    else:
        fit = _fit_ellipse(pts)
        if fit is None:
            return None
        if not 0.5 < (fit[1][0] + fit[1][1]) / (detection.axes[0] + detection.axes[1]) < 2.0:
            # a path through print and specks rather than round a border: the detection's
            fit = (centre, detection.axes, detection.angle)
        moved = math.hypot(fit[0][0] - centre[0], fit[0][1] - centre[1]) / fit[1][0]
        reshaped = abs(fit[1][1] / fit[1][0] - detection.axes[1] / detection.axes[0])
        if moved > 0.03 or reshaped > 0.05:
            # the detection was rough: search again from the fitted centre and outline, so
            # that the rays meet the border square on
            pts, _ = _border_points(ink, off, fit[0], fit[1], fit[2], shape, REFIT_SEARCH)
            fit = _fit_ellipse(pts) or fit
        square = _square_instead(ink, off, pts, fit) if shape == "round" else None
        if square is not None:
            # a square seal found as a circle (the ring filters look for circles); its
            # detection is moved onto the square below
            shape, fit = "square", square
        elif shape == "round" and fit[1][1] / fit[1][0] < 0.6:
            return None
        elif dpi is not None:  # (a round seal found as an oval too: its fit says which)
            fit = _flat_round(pts, fit)
    # a printer's dots, read at the capture's resolution before the imprint is resampled;
    # not on grey copies and faxes, which lay a screen of their own over any imprint. Where
    # the dpi is not known the seal is taken for 42 mm across: most are no larger, so the
    # band searched starts no lower than a printer's screens
    dots = (None if sep.monochrome or detection.colour == "grey" else
            dot_periodicity(ink, ~(sep.occlusion | off), fit[0], max(fit[1]),
                            dpi / 25.4 if dpi else 2 * max(fit[1]) / 42.0))
    persp = None
    if detection.horizon is not None and shape != "square":
        # a photographed sheet: fit the border again where the perspective is undone, so
        # that the centre is the seal's centre, not the centre of its perspective ellipse
        persp = _unproject(detection.horizon, (ox, oy), fit[0])
        if sheet is not None and shape == "oval":
            persp = _destretch(sheet, persp, (ox, oy), fit[0]) @ persp
        flat = cv2.perspectiveTransform(pts[None].astype(np.float64), persp)[0]
        fit = _fit_ellipse(flat) or fit
    c, axes, angle = fit
    if shape == "oval" and axes[1] / axes[0] > ROUND_ASPECT:
        # the detector's guess; the fitted border is a circle (an oval seal is far flatter)
        shape = "round"
        detection = dataclasses.replace(detection, shape="round")
    elif shape == "round" and axes[1] / axes[0] < OVAL_ASPECT:
        shape = "oval"
        detection = dataclasses.replace(detection, shape="oval")
    if shape == "oval" and _star_tip(_polar(_warp(ink, _through(
            persp, _affine_to_page(c, axes, angle, "round", 0.0)), 0.0)),
            OBLIQUE_STAR_FIVEFOLD) is not None:
        # a star in the middle, once the ellipse is drawn out to a circle: a round seal
        # photographed obliquely (an oval seal has text there), whose up is found as a round
        # seal's is
        shape = "round"
        detection = dataclasses.replace(detection, shape="round")
    if shape != found_as and persp is None:
        # found as a circle, fitted as an oval or a square: where it lies is the fitted border
        detection = _refitted(detection, image.shape, (ox, oy), fit, shape)
    covered = sep.occlusion | off
    if not sep.print_told_apart:
        covered = covered | _print_across(ink, off, c, axes, angle, shape)
    # first an unrotated canonical image, to find the seal's up from its content (an oval or
    # square one with its major axis or a side level)
    level = 0.0 if shape == "round" else angle
    m0 = (quad if quad is not None
          else _through(persp, _affine_to_page(c, axes, angle, shape, level)))
    unturned = _warp(ink, m0, 0.0)
    flat = dpi is not None and axes[1] / axes[0] >= ROUND_ASPECT
    if shape == "round" and detection.colour != "grey" and not flat:
        # a photograph's perspective moves the seal's centre off its outline's centre. Not
        # on a flat capture, which has none (a stated dpi, a scanner's or a rendered PDF's,
        # and an outline as round as a seal's unless photographed at a slant, as a
        # photograph put into a PDF may be): there the rings of a starved or half-printed
        # imprint, sharpened by chance about another point, would move a well-fitted
        # centre by 5 to 15 % of the radius. Nor on grey imprints: the text left in a fax's
        # ink map, or the gaps black print leaves in a photocopy's, pull the rings off the
        # seal's centre
        centring = _content_centring(unturned)
        if centring is not None:
            m0 = _projective(m0) @ centring
            unturned = _warp(ink, m0, 0.0)
    unturned_occ = _warp(covered.astype(np.float32), m0, 1.0) > 0.5
    overlapped = _neighbours(detection, others, crop.shape[:2], (ox, oy))
    if overlapped is not None:
        overlapped = _warp(overlapped, m0, 0.0) > 0.5
    else:
        overlapped = np.zeros_like(unturned_occ)
    cut = _cut_away(unturned, unturned_occ | overlapped) if shape == "round" else None
    if cut is not None:
        unturned_occ = unturned_occ | cut
    if shape == "round":
        up_clock = _round_up(_upright_input(unturned, unturned_occ | overlapped))
        rotation = -up_clock  # its up at clock u means turned u clockwise, -u ccw
    elif shape == "oval":
        up_clock = _oval_up(_upright_input(unturned, unturned_occ | overlapped),
                            photographed=dpi is None or detection.horizon is not None)
        rotation = angle - up_clock
    else:
        # a square seal's four turns look alike without reading it: take the smallest turn
        rotation = ((angle + 45) % 90) - 45
    rotation = (rotation + 180) % 360 - 180
    m = m0 @ _turn_px(rotation - level)  # 2 x 3 or 3 x 3, as m0
    canon_ink = _warp(ink, m, 0.0)
    occluded = _warp(covered.astype(np.float32), m, 1.0) > 0.5
    if cut is not None:
        occluded |= _warp(cut.astype(np.float32), _turn_px(rotation - level)[:2], 0.0) > 0.5
    hom = _projective(m)
    hom = np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1]], float) @ hom
    hom = hom / hom[2, 2]
    mid = hom @ (CANONICAL_SIZE / 2 - 0.5, CANONICAL_SIZE / 2 - 0.5, 1.0)
    page_centre = (float(mid[0] / mid[2]) + 0.5, float(mid[1] / mid[2]) + 0.5)
    if detection.sheet_sides is not None:
        # recorded against the photographed sheet's own sides, not the photograph's frame
        sides = _sides_turn(hom, detection.sheet_sides)
        if sides is not None:
            rotation = rotation + (sides - rotation + 45) % 90 - 45
            rotation = (rotation + 180) % 360 - 180
    size_mm = (2 * axes[0] / dpi * 25.4, 2 * axes[1] / dpi * 25.4) if dpi else None
    geometry = Geometry(centre=page_centre, axes=axes, rotation=float(rotation),
                        scale=float(axes[0] / _canonical_half(shape)), homography=hom,
                        size_mm=size_mm)
    # the quality is measured where the outline is axis-aligned (before the turn): a turn of
    # a multiple of 90 (square) or 180 degrees (oval), or any turn of a circle, changes none
    # of it
    quality = dataclasses.replace(
        _quality(unturned, unturned_occ, _outline_semi_axes(shape, axes)),
        print_told_apart=sep.print_told_apart, colour_jitter=sep.colour_jitter,
        dot_periodicity=dots)
    return RectifiedImprint(canon_ink, occluded, geometry, quality, detection)


def _sides_turn(hom: np.ndarray, sides) -> float | None:
    """Degrees (modulo 90) by which a photographed sheet's sides are turned in the canonical
    frame of ``hom`` (canonical px -> page px), from the two points ``sides`` where its
    opposite sides meet (:attr:`Detection.sheet_sides`): their directions at the imprint's
    centre, carried back into the canonical frame. On the sheet the two meet at a right
    angle; where the canonical frame leaves them further from one than
    :data:`SIDES_SQUARE` (a view not undone to a similarity), None."""
    inv = np.linalg.inv(hom)
    c = CANONICAL_SIZE / 2 - 0.5
    mid = hom @ (c, c, 1.0)
    at = mid[:2] / mid[2]
    turns = []
    for v in sides:
        towards = np.asarray(v[:2], float) - at * v[2]
        length = float(np.hypot(*towards))
        if length == 0:
            return None
        step = at + towards / length * SIDES_STEP_PX
        a, b = inv @ (*at, 1.0), inv @ (*step, 1.0)
        d = b[:2] / b[2] - a[:2] / a[2]
        turns.append(math.degrees(math.atan2(d[1], d[0])))
    apart = (turns[0] - turns[1]) % 180
    if abs(apart - 90) > SIDES_SQUARE:
        return None
    # the mean of the two, each taken modulo 90, as the angle of a four-fold direction
    z = sum(np.exp(4j * math.radians(t)) for t in turns)
    return math.degrees(np.angle(z)) / 4


def _cut_away(unturned: np.ndarray, hidden: np.ndarray) -> np.ndarray | None:
    """(S, S) bool mask of the part of a round imprint's disc cut away by a straight line, in
    the unturned canonical frame, or None: a seal stamped across two sheets and scanned on
    one, whose other half lies beyond the sheet's edge inside the image. Its ink there is
    unknown, not absent. A cut is a part of the disc beyond a line holding almost no ink
    (:data:`CUT_EMPTY` of the rest, its border too), at least :data:`CUT_MIN_SHARE` of the
    disc, with the border inked up to the line (:data:`CUT_EDGE`): a stamp pressed
    unevenly fades out instead. ``hidden``: what is covered (text, other imprints over it)."""
    g = CUT_GRID
    small = cv2.resize(unturned, (g, g), interpolation=cv2.INTER_AREA)
    seen = (cv2.resize(hidden.astype(np.float32), (g, g), interpolation=cv2.INTER_AREA)
            < 0.5).astype(np.float32)
    radius = CANONICAL_RADIUS * g / CANONICAL_SIZE  # in grid px
    xy = np.arange(g) + 0.5 - g / 2
    r = np.hypot(xy[None], xy[:, None]) / radius
    disc = (r <= 1.0).astype(np.float32)
    ring = disc * (r >= 0.9)
    if (seen * disc).sum() < 0.5 * disc.sum() or (small * seen * disc).sum() <= 0:
        return None
    # ink and seen pixels of the disc and of its border ring, turned so that each normal in
    # turn runs along +x: column k then holds what lies at k - g/2 px along it
    layers = np.dstack([small * seen * disc, seen * disc, small * seen * ring, seen * ring])
    c = g / 2 - 0.5
    phis = np.radians(np.arange(0, 360, CUT_ANGLE_STEP))
    cols = np.empty((len(phis), 4, g), np.float32)
    for i, phi in enumerate(phis):
        cs, sn = math.cos(phi), math.sin(phi)
        m = np.array([[cs, -sn, c - cs * c + sn * c], [sn, cs, c - sn * c - cs * c]])
        cols[i] = cv2.warpAffine(layers, m, (g, g), flags=cv2.INTER_LINEAR
                                 | cv2.WARP_INVERSE_MAP).sum(axis=0).T
    beyond = np.cumsum(cols[:, :, ::-1], axis=2)[:, :, ::-1]  # columns k and on
    within = cols.sum(axis=2, keepdims=True) - beyond
    ks = np.arange(int(g / 2 - CUT_DEEPEST * radius), g)
    d = (ks - g / 2) / radius  # each line's distance from the centre along its normal
    share = (np.arccos(np.clip(d, -1, 1)) - d * np.sqrt(np.clip(1 - d * d, 0, 1))) / math.pi
    keep = share >= CUT_MIN_SHARE
    ks, d, share = ks[keep], d[keep], share[keep]
    if not len(ks):
        return None

    def density(sums, k, ink_layer):
        return sums[:, ink_layer, k] / np.maximum(sums[:, ink_layer + 1, k], 1)

    rest, ring_rest = density(within, ks, 0), density(within, ks, 2)
    empty = ((density(beyond, ks, 0) < CUT_EMPTY * rest)
             & (density(beyond, ks, 2) < CUT_EMPTY * ring_rest)
             & (beyond[:, 1, ks] >= 0.5 * share * disc.sum()))
    # per direction, the deepest line from which on every shallower one is empty too
    empty_on = np.cumprod(empty[:, ::-1], axis=1)[:, ::-1].astype(bool)
    if not empty_on[:, -1].any():
        return None
    first = np.where(empty_on.any(axis=1), np.argmax(empty_on, axis=1), len(ks))
    band = round(CUT_EDGE_BAND * radius)
    edge = np.zeros(len(phis))
    own = cols[:, 0] / np.maximum(cols[:, 1], 1e-6)  # each column's own ink density
    for j in np.flatnonzero(first < len(ks)):
        i = int(first[j])
        # the line where the ink ends: the far side may hold a few specks, not strokes
        while i < len(ks) - 1 and own[j, ks[i]] >= CUT_EMPTY * rest[j, i]:
            i += 1
        first[j], k = i, int(ks[i])
        # the border inked up to the line (a stamp pressed unevenly fades out instead)
        inked = cols[j, 2, k - band:k].sum() / max(cols[j, 3, k - band:k].sum(), 1)
        edge[j] = inked / max(ring_rest[j, i], 1e-9)
    valid = edge >= CUT_EDGE
    if not valid.any():
        return None
    # the direction whose empty side reaches deepest; of those, the one along the edge (the
    # border inked most densely up to it)
    j = int(np.lexsort((-edge, np.where(valid, first, len(ks))))[0])
    i = int(first[j])
    gx = (np.arange(CANONICAL_SIZE) + 0.5 - CANONICAL_SIZE / 2) / CANONICAL_RADIUS
    return (math.cos(phis[j]) * gx[None] + math.sin(phis[j]) * gx[:, None]) > d[i]


def _neighbours(detection: Detection, others: Sequence[Detection], shape, offset
                ) -> np.ndarray | None:
    """(h, w) float32 mask of the region cut round ``detection``: 1 inside the outlines of the
    imprints that overlap it (another seal's ring, star and name would pull its symmetry axis
    and star tip off its own); None where none does, or they would cover most of it (the same
    imprint found twice, or one inside a larger seal)."""
    r = max(detection.axes)
    # (another ink is told apart from this one's by its colour already)
    over = _same_ink_within(detection, others, r, NEIGHBOUR_APART * r)
    if not over:
        return None

    def outline(o: Detection, scale: float) -> np.ndarray:
        return fill_outline(np.zeros(shape, np.uint8), (o.centre[0] - offset[0],
                            o.centre[1] - offset[1]), (o.axes[0] * scale, o.axes[1] * scale),
                            -o.angle, o.shape == "square").astype(bool)

    own = outline(detection, 1.0)
    if not own.any():
        return None
    mask = np.zeros(shape, bool)
    for o in over:  # each judged on its own: two beside it may cover most of it together
        whole = outline(o, NEIGHBOUR_MARGIN)
        share = whole[own].mean()
        if share >= NEIGHBOUR_INSIDE:
            continue
        if share > NEIGHBOUR_MAX_SHARE:
            # lying over most of this one: only what pulls hardest is left out, the other's
            # border ring and its middle (a star), so that this one's own star stays in sight
            whole = (whole & ~outline(o, NEIGHBOUR_RING)) | outline(o, NEIGHBOUR_MIDDLE)
            if whole[own].mean() > NEIGHBOUR_MAX_SHARE:
                continue
        mask |= whole
    if not mask.any():
        return None
    return mask.astype(np.float32)


def _outline_semi_axes(shape: str, axes) -> tuple[str, float, float]:
    """The border's outline in the unturned canonical frame: ("ellipse" or "rectangle", semi
    axis along x, semi axis along y), in canonical px."""
    half = _canonical_half(shape)
    if shape == "round":
        return "ellipse", half, half
    aspect = float(axes[1] / axes[0]) if axes[0] > 0 else 1.0
    return ("rectangle" if shape == "square" else "ellipse"), half, half * aspect


def _outline_radius(outline: tuple[str, float, float], clock: np.ndarray) -> np.ndarray:
    """Distance from the centre to the outline at each clock angle (radians)."""
    kind, a, b = outline
    s, c = np.abs(np.sin(clock)), np.abs(np.cos(clock))
    if kind == "rectangle":
        return 1.0 / np.maximum(s / a, c / b)
    return a * b / np.sqrt((b * s) ** 2 + (a * c) ** 2)


#: x of every canonical pixel's centre from the frame's centre (its transpose: y)
_CANONICAL_DX = np.broadcast_to(np.arange(CANONICAL_SIZE) - CANONICAL_SIZE / 2 + 0.5,
                                (CANONICAL_SIZE, CANONICAL_SIZE))


def _quality(ink: np.ndarray, occluded: np.ndarray, outline: tuple[str, float, float],
             n_angles: int = 720, n_radii: int = 256) -> Quality:
    """Border visible, ink coverage, blur and occlusion of an unturned canonical imprint,
    each measured along or inside the border's own outline (circle, ellipse or rectangle):
    a ring of the canonical circle would find an oval's or a square's border only where it
    happens to cross it."""
    t = np.radians(np.arange(n_angles) * 360.0 / n_angles)
    r_out = _outline_radius(outline, t)
    # samples at the fractions j / n_radii of the outline's radius, as a polar image would be
    j = np.arange(int(0.85 * n_radii), n_radii)
    r = r_out[:, None] * (j / n_radii)[None]
    c = CANONICAL_SIZE / 2 - 0.5
    band = cv2.remap(ink, (c + np.sin(t)[:, None] * r).astype(np.float32),
                     (c - np.cos(t)[:, None] * r).astype(np.float32), cv2.INTER_LINEAR,
                     borderValue=0.0)
    ring = band[:, j >= int(0.94 * n_radii)].max(axis=1)
    border_visible = float((ring > 0.3).mean())
    dx, dy = _CANONICAL_DX, _CANONICAL_DX.T
    kind, a, b = outline
    inside = (np.maximum(np.abs(dx) / a, np.abs(dy) / b) <= 1 if kind == "rectangle"
              else (dx / a) ** 2 + (dy / b) ** 2 <= 1)
    coverage = float(ink[inside].mean())
    occ = float(occluded[inside].mean())
    # blur: spread of the border's outer edge, 20 % to 80 % of its rise, in canonical px
    prof = band.mean(axis=0)[::-1]  # from outside inward
    top = prof.max()
    if top <= 0:
        return Quality(border_visible, coverage, float("inf"), occ)
    lo = np.argmax(prof >= 0.2 * top)
    hi = np.argmax(prof >= 0.8 * top)
    blur = float(max(hi - lo, 0) * float(r_out.mean()) / n_radii)
    return Quality(border_visible, coverage, blur, occ)
