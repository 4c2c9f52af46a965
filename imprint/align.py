"""Fine registration of a questioned imprint to a master, both rectified (canonical frame).

Rectification puts every imprint upright at one size, but only to within a few percent of the
radius and a few degrees (more on phone photos, whose perspective it undoes only to first
order). Comparing strokes needs better than a pixel, so: the turn from the circular
correlation of the two polar images (every turn tried), then ECC (enhanced correlation
coefficient, Evangelidis and Psarakis 2008) over a pyramid, affine at the coarse levels and a
homography at the finest, on smoothed ink maps, with the query's occluded pixels left out.

What remains after that is local: the rubber's smooth elastic give, and, for a re-carved seal,
characters that sit elsewhere. :func:`local_shifts` measures it patch by patch (phase
correlation) and splits it into a smooth field, allowed up to :data:`ELASTIC_ALLOWANCE_MM`,
and the residual shift of each patch, which the evidence stage weighs.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from imprint.rectify import CANONICAL_RADIUS, CANONICAL_SIZE
from imprint.types import Alignment, Displacement, RectifiedImprint
from models.classical import alignment_polar

#: Largest smooth displacement (mm) that genuine imprints of one rubber seal show against each
#: other from the give of the material and uneven pressure; more is evidence in itself.
ELASTIC_ALLOWANCE_MM = 0.25
#: Radius (fraction of the border's) inside which pixels are compared: the border's outer edge
#: is where rectification put it, so it says nothing of the seal.
COMPARE_RADIUS = 1.02
PATCH = 48  # canonical px: about one character's stroke detail
PATCH_STEP = 24
_COARSE = ((128, cv2.MOTION_AFFINE, 50), (256, cv2.MOTION_AFFINE, 30))
# the homography at half size: ECC is sub-pixel there already, and what a finer level would
# add is taken up by the elastic field of :func:`local_shifts` (at twice the cost)
_FINE = ((256, cv2.MOTION_HOMOGRAPHY, 30),)
#: A warp between two rectified imprints of one seal is near a turn: more scale or shear than
#: this means ECC ran off (shrinking or shearing the query onto the master).
MAX_SCALE_ERROR = 0.15
MAX_SHEAR = 0.08
GOOD_ALIGNMENT = 0.6  # smoothed-ink correlation beyond which no other turn is tried
_ECC_EPS = 1e-5


def seal_disc(radius: float = COMPARE_RADIUS) -> np.ndarray:
    """(S, S) bool: inside ``radius`` border radii of the canonical centre."""
    c = CANONICAL_SIZE / 2
    yy, xx = np.mgrid[0:CANONICAL_SIZE, 0:CANONICAL_SIZE]
    return (xx + 0.5 - c) ** 2 + (yy + 0.5 - c) ** 2 <= (radius * CANONICAL_RADIUS) ** 2


_DISC = seal_disc()


def _similarity(turn_deg: float) -> np.ndarray:
    """(3, 3) master px -> query px for a query turned ``turn_deg`` ccw from the master."""
    c = CANONICAL_SIZE / 2
    # the query turned ccw by turn: a master point maps to the query by the same ccw turn
    m = cv2.getRotationMatrix2D((c, c), -turn_deg, 1.0)
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _scaled(w: np.ndarray, f: float) -> np.ndarray:
    """The same warp expressed between images ``f`` times larger."""
    s = np.diag([f, f, 1.0])
    return s @ w @ np.linalg.inv(s)


def _turns(query: RectifiedImprint, master: RectifiedImprint, n: int) -> list[float]:
    """The ``n`` best turns (degrees ccw of the query) by circular correlation of the polar
    images, distinct peaks only. More than one: an imprint decentred by a phone's perspective
    or cut by the page edge can put the true turn second."""
    q, m = alignment_polar(query), alignment_polar(master)
    corr = np.fft.irfft(np.fft.rfft(q, axis=1) * np.conj(np.fft.rfft(m, axis=1)), axis=1,
                        n=q.shape[1]).sum(axis=0)
    k = corr.size
    peaks = [i for i in np.argsort(corr)[::-1][:60]
             if corr[i] >= corr[(i - 1) % k] and corr[i] >= corr[(i + 1) % k]]
    out: list[int] = []
    for i in peaks:
        if all(min(abs(i - j), k - abs(i - j)) > k // 36 for j in out):
            out.append(int(i))
        if len(out) == n:
            break
    return [((360.0 * i / k) + 180.0) % 360.0 - 180.0 for i in out]


def _ecc(master: np.ndarray, query: np.ndarray, valid: np.ndarray, w: np.ndarray,
         levels) -> np.ndarray:
    """Refine ``w`` (master -> query, (3, 3), full resolution) over the pyramid."""
    for size, motion, iters in levels:
        f = size / CANONICAL_SIZE
        if size == CANONICAL_SIZE:
            m, q, v = master, query, valid
        else:
            m = cv2.resize(master, (size, size), interpolation=cv2.INTER_AREA)
            q = cv2.resize(query, (size, size), interpolation=cv2.INTER_AREA)
            v = cv2.resize(valid.astype(np.uint8), (size, size),
                           interpolation=cv2.INTER_NEAREST)
        wl = _scaled(w, f).astype(np.float32)
        if motion != cv2.MOTION_HOMOGRAPHY:
            wl = wl[:2]
        try:
            _, wl = cv2.findTransformECC(
                m, q, wl, motion, (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, iters,
                                   _ECC_EPS), v.astype(np.uint8), 5)
        except cv2.error:
            # did not converge at this level (little ink, or a different seal): keep what
            # the coarser level found
            continue
        if wl.shape[0] == 2:
            wl = np.vstack([wl, [0.0, 0.0, 1.0]])
        w = _scaled(wl.astype(np.float64), 1 / f)
    return w


def _jacobian(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centre of the master mapped into the query, (2, 2) local linear part there)."""
    c = CANONICAL_SIZE / 2
    pts = w @ np.array([[c, c + 1.0, c], [c, c, c + 1.0], [1.0, 1.0, 1.0]])
    pts = pts[:2] / pts[2]
    return pts[:, 0], np.stack([pts[:, 1] - pts[:, 0], pts[:, 2] - pts[:, 0]], axis=1)


def _plausible(w: np.ndarray) -> bool:
    sv = np.linalg.svd(_jacobian(w)[1], compute_uv=False)
    return abs(math.sqrt(sv[0] * sv[1]) - 1) <= MAX_SCALE_ERROR and sv[0] / sv[1] - 1 <= MAX_SHEAR


def _decompose(w: np.ndarray) -> tuple[float, float, tuple[float, float]]:
    """(rotation ccw of the query, scale query/master, shift px) of the warp at the centre."""
    c = CANONICAL_SIZE / 2
    centre, j = _jacobian(w)
    scale = math.sqrt(abs(float(np.linalg.det(j))))
    # image y points down: a ccw turn of the query shows as a negative angle of the x column
    rotation = -math.degrees(math.atan2(j[1, 0], j[0, 0]))
    return rotation, scale, (float(centre[0] - c), float(centre[1] - c))


def align(query: RectifiedImprint, master: RectifiedImprint) -> Alignment:
    """Lay ``query`` on ``master``: the warp, and the query's ink resampled into the master's
    frame."""
    qv = ~query.occlusion & _DISC
    # smoothed maps: ECC needs gradients that reach across a pixel or two of misregistration
    m = cv2.GaussianBlur(master.ink.astype(np.float32), (0, 0), 1.5)
    q = cv2.GaussianBlur(np.where(qv, query.ink, 0).astype(np.float32), (0, 0), 1.5)
    # the best turn by polar correlation; the next ones only when it leads nowhere (a phone's
    # perspective or the page edge can put the true turn second)
    best_w, best_rho = None, -2.0
    for turn in _turns(query, master, 3):
        w = _ecc(m, q, qv, _similarity(turn), _COARSE)
        rho = _warped_correlation(m, q, qv, w) - (0.0 if _plausible(w) else 1.0)
        if rho > best_rho:
            best_w, best_rho = w, rho
        if best_rho >= GOOD_ALIGNMENT:
            break
    w = best_w
    fine = _ecc(m, q, qv, w, _FINE)
    # the homography is kept only where it helps: it can run off on little ink
    if _plausible(fine) and _warped_correlation(m, q, qv, fine) >= best_rho - 0.005:
        w = fine
    size = (CANONICAL_SIZE, CANONICAL_SIZE)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    q_ink = cv2.warpPerspective(query.ink.astype(np.float32), w, size, flags=flags,
                                borderValue=0.0)
    known_q = cv2.warpPerspective(qv.astype(np.uint8), w, size, flags=cv2.INTER_NEAREST |
                                  cv2.WARP_INVERSE_MAP, borderValue=0) > 0
    unknown = ~known_q | master.occlusion | ~_DISC
    rho = masked_correlation(master.ink, q_ink, ~unknown)
    rotation, scale, shift = _decompose(w)
    return Alignment(warp=w, rotation=rotation, scale=scale, shift=shift, correlation=rho,
                     elastic_mm=0.0, query_ink=q_ink, unknown=unknown)


def _warped_correlation(m: np.ndarray, q: np.ndarray, qv: np.ndarray, w: np.ndarray,
                        size: int = 256) -> float:
    """Correlation of master and query (smoothed maps) under ``w``, at ``size`` px."""
    f = size / CANONICAL_SIZE
    ws = _scaled(w, f)
    small = (size, size)
    ms = cv2.resize(m, small, interpolation=cv2.INTER_AREA)
    qs = cv2.warpPerspective(cv2.resize(q, small, interpolation=cv2.INTER_AREA), ws, small,
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    vs = cv2.warpPerspective(cv2.resize(qv.astype(np.uint8), small,
                                        interpolation=cv2.INTER_NEAREST), ws, small,
                             flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0
    return masked_correlation(ms, qs, vs)


def masked_correlation(a: np.ndarray, b: np.ndarray, known: np.ndarray) -> float:
    x, y = a[known].astype(np.float64), b[known].astype(np.float64)
    if x.size < 100:
        return 0.0
    x, y = x - x.mean(), y - y.mean()
    d = math.sqrt(float((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / d) if d > 0 else 0.0


def mm_per_px(master: RectifiedImprint) -> float | None:
    """Millimetres per canonical pixel, from the master's physical size (None if unknown)."""
    g = master.geometry
    if g.size_mm is None:
        return None
    return max(g.size_mm) / 2 / CANONICAL_RADIUS


def _patch_centres() -> np.ndarray:
    c = CANONICAL_SIZE / 2
    r = CANONICAL_RADIUS * 0.97 - PATCH / 2
    g = np.arange(c - math.floor(r / PATCH_STEP) * PATCH_STEP, c + r + 1, PATCH_STEP)
    xx, yy = np.meshgrid(g, g)
    inside = np.hypot(xx - c, yy - c) <= r + PATCH / 2 * 0.6
    return np.stack([xx[inside], yy[inside]], axis=1)


_CENTRES = _patch_centres()
_LK_SIGMA = 1.5
MIN_STROKE_SPREAD = 0.15  # ink std in a patch with strokes in it (flat ink: < 0.1)
#: smallest eigenvalue of a patch's structure tensor (per pixel, normalised patch) below which
#: it cannot fix a shift in every direction: a single arc of border, a straight stroke
MIN_PATCH_STRUCTURE = 0.004
_LK_ITERS = 4


def _patch_shift(m_patch: np.ndarray, gx: np.ndarray, gy: np.ndarray, q: np.ndarray,
                 centre: tuple[float, float]) -> tuple[np.ndarray, float] | None:
    """Lucas-Kanade (inverse compositional) shift of the query against the master in one
    patch, each normalised to zero mean and unit spread so that the amount of ink does not
    pull it; and how well the patch fixes a shift in its weakest direction (an arc's stroke
    fixes only the shift across it)."""
    a = np.array([[float((gx * gx).sum()), float((gx * gy).sum())],
                  [float((gx * gy).sum()), float((gy * gy).sum())]])
    lo = float(np.linalg.eigvalsh(a)[0])
    if lo <= 1e-6:
        return None
    a_inv = np.linalg.inv(a)
    d = np.zeros(2)
    for _ in range(_LK_ITERS):
        qp = cv2.getRectSubPix(q, (PATCH, PATCH), (centre[0] + d[0], centre[1] + d[1]))
        s = qp.std()
        if s < 1e-3:
            return None
        e = (qp - qp.mean()) / s - m_patch
        step = a_inv @ np.array([float((gx * e).sum()), float((gy * e).sum())])
        d -= step
        if abs(d[0]) > PATCH / 4 or abs(d[1]) > PATCH / 4:
            return None
        if np.hypot(*step) < 0.01:
            break
    return d, lo / (PATCH * PATCH)


def _smooth_fit(xy: np.ndarray, d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """A quadratic displacement field fitted to patch shifts (robust, weighted); evaluated at
    the patches."""
    u = (xy - CANONICAL_SIZE / 2) / CANONICAL_RADIUS
    a = np.stack([np.ones(len(u)), u[:, 0], u[:, 1], u[:, 0] ** 2, u[:, 0] * u[:, 1],
                  u[:, 1] ** 2], axis=1)
    ww = w.copy()
    fit = np.zeros_like(d)
    for _ in range(4):  # iteratively reweighted: a few moved characters must not bend it
        sw = np.sqrt(ww)[:, None]
        coef, *_ = np.linalg.lstsq(a * sw, d * sw, rcond=None)
        fit = a @ coef
        r = np.hypot(*(d - fit).T)
        ww = w / np.maximum(1.0, r / 0.75)
    return fit


def local_shifts(master_ink: np.ndarray, alignment: Alignment, px_mm: float
                 ) -> tuple[list[Displacement], float]:
    """Residual shift of every patch with strokes in both imprints, after the smooth field
    (allowed up to :data:`ELASTIC_ALLOWANCE_MM`) is taken out; and that field's largest
    displacement in mm."""
    m = cv2.GaussianBlur(master_ink.astype(np.float32), (0, 0), _LK_SIGMA)
    q = cv2.GaussianBlur(alignment.query_ink, (0, 0), _LK_SIGMA)
    h = PATCH // 2
    # every patch's unknown fraction and ink spread at once (box means centred on each pixel;
    # a patch [c - h, c + h) is centred on c - 0.5)
    box = (PATCH, PATCH)
    unknown = cv2.boxFilter(alignment.unknown.astype(np.float32), -1, box,
                            borderType=cv2.BORDER_CONSTANT)
    mean = cv2.boxFilter(m, -1, box, borderType=cv2.BORDER_CONSTANT)
    spread = np.sqrt(np.maximum(cv2.boxFilter(m * m, -1, box, borderType=cv2.BORDER_CONSTANT)
                                - mean * mean, 0.0))
    xy, shifts, weights = [], [], []
    for cx, cy in _CENTRES:
        x0, y0 = int(cx - h), int(cy - h)
        # strokes, not the mottle inside a broad stroke or the star
        if unknown[int(cy), int(cx)] > 0.1 or spread[int(cy), int(cx)] < MIN_STROKE_SPREAD:
            continue
        mp = m[y0:y0 + PATCH, x0:x0 + PATCH]
        mp = (mp - mp.mean()) / mp.std()
        gy, gx = np.gradient(mp)
        got = _patch_shift(mp, gx, gy, q, (float(cx), float(cy)))
        if got is None or got[1] < MIN_PATCH_STRUCTURE:
            continue
        xy.append((cx, cy))
        shifts.append(got[0])
        weights.append(min(1.0, got[1] / 0.02))
    if len(xy) < 8:
        return [], 0.0
    xy_a, d, w = np.array(xy, float), np.array(shifts, float), np.array(weights, float)
    smooth = _smooth_fit(xy_a, d, w)
    smooth_mag = np.hypot(*smooth.T)
    elastic_px = float(smooth_mag.max())
    allowance = ELASTIC_ALLOWANCE_MM / px_mm
    # the part of the smooth field beyond the allowance stays in the residual
    keep = np.where(smooth_mag > allowance, 1 - allowance / np.maximum(smooth_mag, 1e-9), 0.0)
    resid = d - smooth + smooth * keep[:, None]
    out = []
    c = CANONICAL_SIZE / 2
    for (cx, cy), (dx, dy), wt in zip(xy_a, resid, w, strict=True):
        clock = math.degrees(math.atan2(cx - c, -(cy - c))) % 360
        out.append(Displacement((float(cx), float(cy)), float(clock), (float(dx), float(dy)),
                                float(math.hypot(dx, dy) * px_mm), float(wt)))
    return out, elastic_px * px_mm
