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

import math

import cv2
import numpy as np

from imprint.ink import ink_masks, normalise, separate
from imprint.types import Detection, Geometry, Quality, RectifiedImprint

CANONICAL_SIZE = 512
CANONICAL_RADIUS = 240.0
SQUARE_HALF_SIDE = 0.75 * CANONICAL_RADIUS
ROI_MARGIN = 1.25  # region cut around a detection, in seal radii
N_RAYS = 360
STAR_BAND = (0.12, 0.3)  # radii (fraction of the border radius) where the star's tips are
NAME_BAND = (0.56, 0.8)  # radii where the name arc's characters are, inside any code arc


def _roi(image: np.ndarray, det: Detection) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Region around the detection, padded with white beyond the page, and a mask of what is
    off the page."""
    h, w = image.shape[:2]
    r = max(det.axes) * ROI_MARGIN
    x0, y0 = int(math.floor(det.centre[0] - r)), int(math.floor(det.centre[1] - r))
    x1, y1 = int(math.ceil(det.centre[0] + r)), int(math.ceil(det.centre[1] + r))
    crop = image[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
    pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
    off = np.zeros(crop.shape[:2], np.uint8)
    if any(pad):
        edge = np.median(crop.reshape(-1, 3), axis=0) if crop.size else (255, 255, 255)
        crop = cv2.copyMakeBorder(crop, *pad, cv2.BORDER_CONSTANT,
                                  value=tuple(float(v) for v in edge))
        off = cv2.copyMakeBorder(off, *pad, cv2.BORDER_CONSTANT, value=1)
    return crop, off.astype(bool), (x0, y0)


def _border_points(ink: np.ndarray, off: np.ndarray, centre, axes, angle_ccw: float
                   ) -> np.ndarray:
    """Outer edge of the border along rays from ``centre``: (N, 2) points (x, y) in the ROI,
    each where the ink first reaches half its strength coming in from outside."""
    a, b = axes
    t = np.linspace(0, 2 * np.pi, N_RAYS, endpoint=False)
    th = math.radians(-angle_ccw)  # image-coordinate direction of the major axis
    ct, st = math.cos(th), math.sin(th)
    ux = np.cos(t) * ct - np.sin(t) * st
    uy = np.cos(t) * st + np.sin(t) * ct
    # nominal radius of the fitted ellipse along each ray
    ex, ey = a * np.cos(t), b * np.sin(t)
    r_nom = np.hypot(ex, ey)
    steps = np.linspace(1.25, 0.8, 90)  # from outside inward
    xs = centre[0] - 0.5 + ux[:, None] * r_nom[:, None] * steps[None]
    ys = centre[1] - 0.5 + uy[:, None] * r_nom[:, None] * steps[None]
    prof = cv2.remap(ink, xs.astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR,
                     borderValue=0.0)
    offp = cv2.remap(off.astype(np.float32), xs.astype(np.float32), ys.astype(np.float32),
                     cv2.INTER_NEAREST, borderValue=1.0)
    level = 0.5 * np.percentile(prof, 95, axis=1)
    # along every ray at once: the first step at the ink's level, kept where the step before
    # it is outside the imprint and neither lies off the page
    above = prof >= np.maximum(level, 0.15)[:, None]
    rays = np.arange(N_RAYS)
    k = above.argmax(axis=1)
    before = np.maximum(k - 1, 0)
    ok = above[rays, k] & (k > 0) & ~(offp[rays, before] > 0) & ~(offp[rays, k] > 0)
    p0, p1 = prof[rays, before], prof[rays, k]
    rise = np.where(p1 != p0, p1 - p0, 1)
    f = np.where(p1 != p0, (level - p0) / rise, 0.0)
    s = steps[before] + f * (steps[k] - steps[before])
    pts = np.stack([centre[0] + ux * r_nom * s, centre[1] + uy * r_nom * s], axis=1)
    return pts[ok].astype(np.float64)


def _fit_ellipse(pts: np.ndarray):
    """Robust fit: least squares, then again without the points more than 2 px (or 2 %)
    off. Returns (centre, (a, b), angle_ccw) or None."""
    if len(pts) < 12:
        return None
    keep = np.ones(len(pts), bool)
    for _ in range(3):
        (cx, cy), (w, h), ang = cv2.fitEllipse(pts[keep].astype(np.float32))
        a, b = max(w, h) / 2, min(w, h) / 2
        major = ang + 90 if w < h else ang  # degrees, image coordinates
        th = math.radians(major)
        dx, dy = pts[:, 0] - cx, pts[:, 1] - cy
        u = dx * math.cos(th) + dy * math.sin(th)
        v = -dx * math.sin(th) + dy * math.cos(th)
        resid = (np.hypot(u / a, v / b) - 1) * (a + b) / 2
        tol = max(2.0, 0.02 * a)
        new = np.abs(resid) < tol
        if new.sum() < 12 or (new == keep).all():
            break
        keep = new
    return (float(cx), float(cy)), (float(a), float(b)), float((-major) % 180)


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
    return cv2.warpAffine(img, m, (CANONICAL_SIZE, CANONICAL_SIZE),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=border)


def _polar(ink: np.ndarray, n_angles: int = 720, n_radii: int = 256) -> np.ndarray:
    """(n_angles, n_radii): row k is the clock angle 360 k / n (clockwise from 12 o'clock),
    column j the radius j / n_radii * CANONICAL_RADIUS."""
    c = CANONICAL_SIZE / 2 - 0.5
    t = np.radians(np.arange(n_angles) * 360.0 / n_angles)
    r = np.arange(n_radii) / n_radii * CANONICAL_RADIUS
    xs = (c + np.sin(t)[:, None] * r[None]).astype(np.float32)
    ys = (c - np.cos(t)[:, None] * r[None]).astype(np.float32)
    return cv2.remap(ink, xs, ys, cv2.INTER_LINEAR, borderValue=0.0)


def _band(polar: np.ndarray, band) -> np.ndarray:
    n = polar.shape[1]
    return polar[:, int(band[0] * n):int(band[1] * n)].mean(axis=1)


def _circular_smooth(p: np.ndarray, sigma_bins: float) -> np.ndarray:
    k = int(3 * sigma_bins)
    ext = np.concatenate([p[-k:], p, p[:k]]).astype(np.float32)
    sm = cv2.GaussianBlur(ext[None], (0, 0), sigma_bins)[0]
    return sm[k:k + len(p)]


def _round_up(polar: np.ndarray) -> float:
    """Clock angle (deg) at which the seal's up direction points in an unrotated canonical
    image: the axis of symmetry of the name arc, refined by the star's five-fold phase."""
    n = polar.shape[0]
    step = 360.0 / n
    name = _circular_smooth(_band(polar, NAME_BAND), 6 / step)
    # the name arc is symmetric about the seal's up: find the axis maximising that symmetry,
    # then keep the end of the axis where the arc is (not its gap)
    centred = name - name.mean()
    spec = np.fft.fft(centred)
    corr = np.real(np.fft.ifft(spec * spec))  # sum_k p[k] p[s - k]: mirror about s / 2
    s = int(np.argmax(corr))
    axis = s * step / 2
    up = axis if _arc_mass(name, axis, step) >= _arc_mass(name, axis + 180, step) else axis + 180
    star = _band(polar, STAR_BAND)
    if star.mean() > 0.05:
        t = np.radians(np.arange(n) * step)
        z = np.sum(star * np.exp(1j * 5 * t))
        if abs(z) > 0.15 * star.sum():
            phase = math.degrees(np.angle(z)) / 5  # a star tip, modulo 72
            k = round((up - phase) / 72)
            candidate = phase + 72 * k
            if abs((candidate - up + 180) % 360 - 180) < 30:
                up = candidate
    return up % 360


def _arc_mass(profile: np.ndarray, centre_deg: float, step: float, half_width: float = 60
              ) -> float:
    idx = (np.arange(-half_width, half_width + step, step) + centre_deg) / step
    return float(profile[np.round(idx).astype(int) % len(profile)].sum())


def _flip_up(polar: np.ndarray, candidates: list[float]) -> float:
    """Ovals and squares: of the candidate ups, the one with the most ink in the name band
    around it (the name runs along the top)."""
    step = 360.0 / polar.shape[0]
    name = _band(polar, NAME_BAND)
    return max(candidates, key=lambda c: _arc_mass(name, c, step))


def rectify(image: np.ndarray, detection: Detection, *, dpi: float | None = None
            ) -> RectifiedImprint | None:
    """Canonical imprint of ``detection`` on ``image`` ``(H, W, 3) uint8`` RGB, or None when
    no border can be fitted."""
    crop, off, (ox, oy) = _roi(image, detection)
    if crop.size == 0:
        return None
    radius = max(detection.axes)
    norm = normalise(crop, window=max(15, int(radius * 0.9)))
    masks = ink_masks(norm)
    hint = masks.by_colour.get(detection.colour) if detection.colour != "grey" else None
    sep = separate(norm, colour_hint=hint)
    ink = np.where(off, 0.0, sep.ink).astype(np.float32)
    centre = (detection.centre[0] - ox, detection.centre[1] - oy)
    shape = detection.shape
    if shape == "square":
        fit = (centre, detection.axes, detection.angle)
    else:
        pts = _border_points(ink, off, centre, detection.axes, detection.angle)
        fit = _fit_ellipse(pts)
        if fit is None:
            return None
        if shape == "round" and fit[1][1] / fit[1][0] < 0.6:
            return None
    c, axes, angle = fit
    # first an unrotated canonical image, to find the seal's up from its content
    m0 = _affine_to_page(c, axes, angle, shape, 0.0 if shape == "round" else angle)
    unturned = _warp(ink, m0, 0.0)
    polar = _polar(unturned)
    if shape == "round":
        up_clock = _round_up(polar)
        rotation = -up_clock  # its up at clock u means turned u clockwise, -u ccw
    elif shape == "oval":
        up_clock = _flip_up(polar, [0.0, 180.0])
        rotation = angle - up_clock
    else:
        # a square seal's four turns look alike without reading it: take the smallest turn
        rotation = ((angle + 45) % 90) - 45
    rotation = (rotation + 180) % 360 - 180
    m = _affine_to_page(c, axes, angle, shape, rotation)
    canon_ink = _warp(ink, m, 0.0)
    occluded = _warp((sep.occlusion | off).astype(np.float32), m, 1.0) > 0.5
    hom = np.vstack([m, [0, 0, 1]])
    hom = np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1]], float) @ hom
    page_centre = (c[0] + ox, c[1] + oy)
    size_mm = (2 * axes[0] / dpi * 25.4, 2 * axes[1] / dpi * 25.4) if dpi else None
    geometry = Geometry(centre=page_centre, axes=axes, rotation=float(rotation),
                        scale=float(axes[0] / _canonical_half(shape)), homography=hom,
                        size_mm=size_mm)
    # the quality is measured where the outline is axis-aligned (before the turn): a turn of
    # a multiple of 90 (square) or 180 degrees (oval), or any turn of a circle, changes none
    # of it
    unturned_occ = _warp((sep.occlusion | off).astype(np.float32), m0, 1.0) > 0.5
    quality = _quality(unturned, unturned_occ, _outline_semi_axes(shape, axes))
    return RectifiedImprint(canon_ink, occluded, geometry, quality, detection)


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
    yy, xx = np.mgrid[0:CANONICAL_SIZE, 0:CANONICAL_SIZE]
    dx, dy = xx - CANONICAL_SIZE / 2 + 0.5, yy - CANONICAL_SIZE / 2 + 0.5
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
