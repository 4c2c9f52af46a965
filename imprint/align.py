"""Fine registration of a questioned imprint to a master, both rectified (canonical frame).

Rectification puts every imprint upright at one size, but only to within a few percent of the
radius and a few degrees (more on phone photos, whose perspective it undoes only to first
order). Comparing strokes needs better than a pixel, so: the turn from the circular
correlation of the two polar images (every turn tried), then ECC (enhanced correlation
coefficient, Evangelidis and Psarakis 2008): affine at quarter size, then a homography at
half size, on smoothed ink maps, with the query's occluded pixels left out.

What remains after that is local: the rubber's smooth elastic give, and, for a re-carved seal,
characters that sit elsewhere. :func:`local_shifts` measures it patch by patch (Lucas-Kanade)
and splits it into a smooth field, allowed up to :data:`ELASTIC_ALLOWANCE_MM`,
and the residual shift of each patch, which the evidence stage weighs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from imprint.memo import per_imprint
from imprint.rectify import CANONICAL_RADIUS, CANONICAL_SIZE, clock_angle
from imprint.types import Alignment, Displacement, RectifiedImprint
from models.classical import PolarSpectrum, circular_correlation, imprint_spectrum

#: Largest smooth displacement (mm) that genuine imprints of one rubber seal show against each
#: other from the give of the material and uneven pressure; more is evidence in itself.
ELASTIC_ALLOWANCE_MM = 0.25
#: Radius (fraction of the border's) inside which pixels are compared: the border's outer edge
#: is where rectification put it, so it says nothing of the seal.
COMPARE_RADIUS = 1.02
PATCH = 48  # canonical px: about one character's stroke detail
PATCH_STEP = 24
_COARSE = ((128, cv2.MOTION_AFFINE, 50),)
# the homography at half size, straight from the coarse affine warp (an affine pass at that
# size first gave the same correlations on average, a few poor imprints' a little better or
# worse, for a fifth of the alignment's time): ECC is sub-pixel there already, and what a
# finer level would add is taken up by the elastic field of :func:`local_shifts` (at twice
# the cost)
_FINE = ((256, cv2.MOTION_HOMOGRAPHY, 30),)
#: A warp between two rectified imprints of one seal is near a turn: more scale or shear than
#: this means ECC ran off (shrinking or shearing the query onto the master).
MAX_SCALE_ERROR = 0.15
MAX_SHEAR = 0.08
#: ... but an oval one photographed at a slant keeps a shear after rectification: the
#: ellipse it images as is mapped onto the oval's outline with no way to tell the turn
#: between their axes
MAX_SHEAR_OVAL = 0.25
GOOD_ALIGNMENT = 0.8  # smoothed-ink correlation beyond which no other turn is tried
_CHECK_SIZE = 256  # px: where the correlation of a warp is taken
_ECC_EPS = 1e-4  # finer stops move the warp by hundredths of a px, at half again the time


def seal_disc(radius: float = COMPARE_RADIUS) -> np.ndarray:
    """(S, S) bool: inside ``radius`` border radii of the canonical centre."""
    c = CANONICAL_SIZE / 2
    yy, xx = np.mgrid[0:CANONICAL_SIZE, 0:CANONICAL_SIZE]
    return (xx + 0.5 - c) ** 2 + (yy + 0.5 - c) ** 2 <= (radius * CANONICAL_RADIUS) ** 2


_DISC = seal_disc()
#: Smoothing of both maps (canonical px): ECC and the patch shifts need gradients that reach
#: across a pixel or two of misregistration
_SMOOTH_SIGMA = 1.5
#: Masters whose smoothed maps are kept (2 MB each), half of the registry's cache of
#: canonical masters
KEPT_REFERENCES = 32


@dataclass(frozen=True)
class _Reference:
    """A master's side of :func:`align`: its ink smoothed, at full size and at each size ECC
    and the correlation of a warp work at, and the spectrum of its polar image."""

    smooth: np.ndarray
    sizes: dict[int, np.ndarray]
    polar: PolarSpectrum


@per_imprint(KEPT_REFERENCES)
def _reference(master: RectifiedImprint) -> _Reference:
    m = cv2.GaussianBlur(master.ink.astype(np.float32), (0, 0), _SMOOTH_SIGMA)
    sizes = {size: cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA)
             for size in {s for s, _, _ in _COARSE + _FINE} | {_CHECK_SIZE}
             if size != CANONICAL_SIZE}
    sizes[CANONICAL_SIZE] = m
    return _Reference(m, sizes, imprint_spectrum(master))


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
    corr = circular_correlation(imprint_spectrum(query), _reference(master).polar)
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


def _ecc(master: _Reference, query: np.ndarray, valid: np.ndarray, w: np.ndarray,
         levels) -> np.ndarray:
    """Refine ``w`` (master -> query, (3, 3), full resolution) over the pyramid."""
    for size, motion, iters in levels:
        f = size / CANONICAL_SIZE
        m = master.sizes[size]
        if size == CANONICAL_SIZE:
            q, v = query, valid
        else:
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


def _plausible(w: np.ndarray, max_shear: float = MAX_SHEAR) -> bool:
    sv = np.linalg.svd(_jacobian(w)[1], compute_uv=False)
    return abs(math.sqrt(sv[0] * sv[1]) - 1) <= MAX_SCALE_ERROR and sv[0] / sv[1] - 1 <= max_shear


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
    m = _reference(master)
    q = cv2.GaussianBlur(np.where(qv, query.ink, 0).astype(np.float32), (0, 0), _SMOOTH_SIGMA)
    shear = MAX_SHEAR_OVAL if master.detection.shape == "oval" else MAX_SHEAR
    # the best turn by polar correlation; the next ones only when it leads nowhere (a phone's
    # perspective or the page edge can put the true turn second), each refined before the
    # turns are compared (a slanted oval's shear shows only once the homography takes it up)
    best_w, best_rho = None, -2.0
    for turn in _turns(query, master, 3):
        w = _ecc(m, q, qv, _similarity(turn), _COARSE)
        rho = _warped_correlation(m, q, qv, w) - (0.0 if _plausible(w, shear) else 1.0)
        fine = _ecc(m, q, qv, w, _FINE)
        # the homography is kept only where it helps: it can run off on little ink
        if _plausible(fine, shear):
            rho_fine = _warped_correlation(m, q, qv, fine)
            if rho_fine >= rho - 0.005:
                w, rho = fine, rho_fine
        if rho > best_rho:
            best_w, best_rho = w, rho
        if best_rho >= GOOD_ALIGNMENT:
            break
    w = best_w
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


def _warped_correlation(m: _Reference, q: np.ndarray, qv: np.ndarray, w: np.ndarray,
                        size: int = _CHECK_SIZE) -> float:
    """Correlation of master and query (smoothed maps) under ``w``, at ``size`` px."""
    f = size / CANONICAL_SIZE
    ws = _scaled(w, f)
    small = (size, size)
    ms = m.sizes[size]
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
MIN_STROKE_SPREAD = 0.15  # ink std in a patch with strokes in it (flat ink: < 0.1)
#: smallest eigenvalue of a patch's structure tensor (per pixel, normalised patch) below which
#: it cannot fix a shift in every direction: a single arc of border, a straight stroke
MIN_PATCH_STRUCTURE = 0.004
_LK_ITERS = 4
#: Masters whose patch gradients are kept (1 to 3 MB each)
KEPT_PATCHES = 16


@dataclass(frozen=True)
class _Patches:
    """A master's side of :func:`local_shifts`: its patches with strokes that fix a shift in
    every direction (``centres``), each normalised to zero mean and unit spread, as the
    sums the inverse compositional Lucas-Kanade step needs: the patch's gradients
    ``(n, 2, PATCH * PATCH)``, their sums and their products with the patch ``(n, 2)``, and
    the inverse of its structure tensor ``(n, 2, 2)``; ``structure`` its smaller eigenvalue
    per pixel."""

    centres: np.ndarray
    gradients: np.ndarray
    gradient_sums: np.ndarray
    gradient_dots: np.ndarray
    inverse: np.ndarray
    structure: np.ndarray


def _patch_means(img: np.ndarray, centres: np.ndarray, *, squares: bool = False):
    """The mean of ``img`` over each patch [c - h, c + h) (centred on c - 0.5), from a
    summed-area table; with ``squares``, (that, the mean of its squares) from one pass."""
    h = PATCH // 2
    cx, cy = centres[:, 0].astype(int), centres[:, 1].astype(int)
    y0, y1, x0, x1 = cy - h, cy + h, cx - h, cx + h

    def mean(s: np.ndarray) -> np.ndarray:
        return (s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]) / (PATCH * PATCH)

    if squares:
        s, sq = cv2.integral2(img, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
        return mean(s), mean(sq)
    return mean(cv2.integral(img, sdepth=cv2.CV_64F))


@per_imprint(KEPT_PATCHES)
def _patches(master: RectifiedImprint) -> _Patches:
    m = _reference(master).smooth
    mean, mean_sq = _patch_means(m, _CENTRES, squares=True)
    spread = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))
    # strokes, not the mottle inside a broad stroke or the star
    centres = _CENTRES[spread >= MIN_STROKE_SPREAD]
    h = PATCH // 2
    # each patch a window of the image, copied whole rows at a time
    windows = np.lib.stride_tricks.sliding_window_view(m, (PATCH, PATCH))
    mp = windows[centres[:, 1].astype(int) - h, centres[:, 0].astype(int) - h]
    mp = (mp - mp.mean(axis=(1, 2), keepdims=True)) / mp.std(axis=(1, 2), keepdims=True)
    gy, gx = np.gradient(mp, axis=(1, 2))
    sxx, sxy, syy = (np.einsum("kij,kij->k", u, v, dtype=np.float64)
                     for u, v in ((gx, gx), (gx, gy), (gy, gy)))
    # the structure tensor's smaller eigenvalue, and its inverse, for every patch; a patch
    # that cannot fix a shift in every direction is left out now, not measured and dropped
    half_tr, det = (sxx + syy) / 2, sxx * syy - sxy * sxy
    lo = half_tr - np.sqrt(np.maximum(half_tr * half_tr - det, 0.0))
    keep = (lo > 1e-6) & (lo / (PATCH * PATCH) >= MIN_PATCH_STRUCTURE)
    g = np.stack([gx[keep], gy[keep]], 1).reshape(int(keep.sum()), 2, PATCH * PATCH)
    det, sxx, sxy, syy = det[keep], sxx[keep], sxy[keep], syy[keep]
    inv = np.stack([syy / det, -sxy / det, -sxy / det, sxx / det], 1).reshape(-1, 2, 2)
    dots = np.einsum("kcp,kp->kc", g, mp[keep].reshape(-1, PATCH * PATCH), dtype=np.float64)
    return _Patches(centres[keep], np.ascontiguousarray(g, dtype=np.float32),
                    g.sum(axis=2, dtype=np.float64), dots, inv, lo[keep] / (PATCH * PATCH))


def _patch_shifts(master: _Patches, chosen: np.ndarray, q: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Lucas-Kanade (inverse compositional) shift of the query against the master in the
    ``chosen`` patches at once, the query's patch normalised to zero mean and unit spread
    like the master's, so that the amount of ink does not pull it: the shifts (N, 2), and
    which patches gave one (flat query ink, or a shift running beyond a quarter patch, gives
    none). With ``e`` the normalised query patch less the master's, the step solves
    ``H d = sum(g e)``, and ``sum(g e) = (sum(g q) - mean(q) sum(g)) / std(q) - sum(g m)``:
    the query's patch enters through three sums."""
    n, area = chosen.size, PATCH * PATCH
    centres = master.centres[chosen]
    # one remap samples every patch: rows of patch k are k*PATCH .. (k+1)*PATCH - 1
    off = np.arange(PATCH, dtype=np.float32) - (PATCH - 1) / 2
    d = np.zeros((n, 2))
    ok = np.ones(n, bool)
    active = ok.copy()
    for _ in range(_LK_ITERS):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        rows = chosen[idx]
        cx = (centres[idx, 0] + d[idx, 0]).astype(np.float32)
        cy = (centres[idx, 1] + d[idx, 1]).astype(np.float32)
        map_x = np.broadcast_to(cx[:, None, None] + off[None, None, :], (idx.size, PATCH, PATCH))
        map_y = np.broadcast_to(cy[:, None, None] + off[None, :, None], (idx.size, PATCH, PATCH))
        qp = cv2.remap(q, np.ascontiguousarray(map_x.reshape(-1, PATCH)),
                       np.ascontiguousarray(map_y.reshape(-1, PATCH)), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE).reshape(idx.size, area)
        mean = qp.sum(axis=1, dtype=np.float64) / area
        s = np.sqrt(np.maximum(np.einsum("kp,kp->k", qp, qp, dtype=np.float64) / area
                               - mean * mean, 0.0))
        flat = s < 1e-3
        gq = np.matmul(master.gradients[rows], qp[:, :, None])[:, :, 0].astype(np.float64)
        b = ((gq - mean[:, None] * master.gradient_sums[rows])
             / np.where(flat, 1, s)[:, None] - master.gradient_dots[rows])
        step = np.einsum("kij,kj->ki", master.inverse[rows], b)
        d[idx] -= step
        away = (np.abs(d[idx]) > PATCH / 4).any(1)
        ok[idx[flat | away]] = False
        active[idx[flat | away | (np.hypot(*step.T) < 0.01)]] = False
    return d, ok


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


def local_shifts(master: RectifiedImprint, alignment: Alignment, px_mm: float
                 ) -> tuple[list[Displacement], float]:
    """Residual shift of every patch with strokes in both imprints, after the smooth field
    (allowed up to :data:`ELASTIC_ALLOWANCE_MM`) is taken out; and that field's largest
    displacement in mm."""
    patches = _patches(master)
    # the patches the query covers (the master's own strokes chose them)
    chosen = np.flatnonzero(_patch_means(alignment.unknown.astype(np.uint8), patches.centres)
                            <= 0.1)
    if len(chosen) < 8:
        return [], 0.0
    q = cv2.GaussianBlur(alignment.query_ink, (0, 0), _SMOOTH_SIGMA)
    shifts, ok = _patch_shifts(patches, chosen, q)
    xy, d = patches.centres[chosen][ok].astype(float), shifts[ok]
    w = np.minimum(1.0, patches.structure[chosen][ok] / 0.02)
    if len(xy) < 8:
        return [], 0.0
    smooth = _smooth_fit(xy, d, w)
    smooth_mag = np.hypot(*smooth.T)
    elastic_px = float(smooth_mag.max())
    allowance = ELASTIC_ALLOWANCE_MM / px_mm
    # the part of the smooth field beyond the allowance stays in the residual
    keep = np.where(smooth_mag > allowance, 1 - allowance / np.maximum(smooth_mag, 1e-9), 0.0)
    resid = d - smooth + smooth * keep[:, None]
    out = []
    for (cx, cy), (dx, dy), wt in zip(xy, resid, w, strict=True):
        clock = clock_angle(cx, cy)
        out.append(Displacement((float(cx), float(cy)), float(clock), (float(dx), float(dy)),
                                float(math.hypot(dx, dy) * px_mm), float(wt)))
    return out, elastic_px * px_mm
