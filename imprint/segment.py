"""Find every seal imprint on a page.

Reads top to bottom: shrink the page to a working size; divide by the paper; mask seal-ink
colours (:mod:`imprint.ink`); join each imprint's strokes into one blob; explain each blob by
one fitted border, or, where one border does not fit (overlapping imprints), by the circles a
Hough transform finds on its ink; keep what looks like a seal (size, shape, ink along the
border). Pages with no colour at all (photocopies, faxes) go through the same steps on dark
ink, where only borders that are clear rings count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from imprint.ink import InkMasks, ink_masks, normalise
from imprint.types import Detection

WORK_LONG_SIDE = 1000  # px: pages are searched at about this size (A4 at ~85 dpi)
SEAL_DIAMETER_MM = (12.0, 75.0)  # smallest name seal to largest government seal
MIN_SEAL_FRACTION = 0.025  # without a dpi: a seal spans at least this much of the long side
JOIN_MM = 2.2  # gaps an imprint's strokes leave between them (character to border)
MIN_RING_SUPPORT = 0.45  # fraction of the visible border that must carry ink
MONOCHROME_FRACTION = 0.0005  # fewer seal-coloured pixels than this: a grey page


@dataclass(frozen=True)
class _Candidate:
    centre: tuple[float, float]
    axes: tuple[float, float]
    angle: float
    shape: str
    box: tuple[float, float, float, float]
    support: float
    visible: float


def _estimate_dpi(shape: tuple[int, int]) -> float:
    """Without metadata: assume the page is A4 or smaller (long side 297 mm)."""
    return max(shape) / (297 / 25.4)


def detect_imprints(image: np.ndarray, *, dpi: float | None = None, page: int = 0
                    ) -> list[Detection]:
    """Every seal imprint on ``image`` ``(H, W, 3) uint8`` RGB.

    ``dpi`` (from the file) sets the plausible seal size; without it the page is assumed to
    be at most A4. Returns detections sorted by confidence, highest first; boxes in page px.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("image must be (H, W, 3) RGB")
    h, w = image.shape[:2]
    # every n-th pixel: seal strokes stay a pixel or more wide at this size, and sampling
    # costs a fraction of averaging
    n = max(1, math.ceil(max(h, w) / WORK_LONG_SIDE))
    f = 1.0 / n
    small = np.ascontiguousarray(image[n // 2::n, n // 2::n]) if n > 1 else image
    px_per_mm = (dpi or _estimate_dpi((h, w))) / 25.4 * f
    norm = normalise(small)
    masks = ink_masks(norm)
    if masks.any.mean() >= MONOCHROME_FRACTION:
        candidates = _colour_candidates(masks, px_per_mm, dpi is not None)
        colour_of = _colour_vote(masks)
    else:
        candidates = _grey_candidates(norm, masks, px_per_mm)
        colour_of = None
    out = []
    for c in candidates:
        colour = colour_of(c) if colour_of else "grey"
        conf = float(np.clip(0.5 * c.support + 0.5 * min(1.0, c.support / 0.8), 0, 1))
        x0, y0, x1, y1 = c.box
        out.append(Detection(
            box=(x0 / f, y0 / f, x1 / f, y1 / f), centre=(c.centre[0] / f, c.centre[1] / f),
            axes=(c.axes[0] / f, c.axes[1] / f), angle=(-c.angle) % 180, shape=c.shape,
            colour=colour,
            confidence=conf, visible=c.visible, page=page))
    return sorted(out, key=lambda d: -d.confidence)


# --- colour pages ----------------------------------------------------------------------------

def _blobs(mask: np.ndarray, join_px: int, min_side: float
           ) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Each imprint's strokes joined into one filled blob: (mask uint8, (width, height)),
    leaving out specks smaller than ``min_side`` px both ways."""
    k = max(3, join_px | 1)
    joined = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    contours, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contours = [c for c in contours if max(cv2.boundingRect(c)[2:]) >= min_side]
    # merge what lies inside another's hull (the star inside a broken ring)
    hulls = [cv2.convexHull(c) for c in contours]
    areas = [cv2.contourArea(hh) for hh in hulls]
    order = np.argsort(areas)[::-1]
    owner = {}
    for rank, i in enumerate(order):
        m = cv2.moments(contours[i])
        if m["m00"] == 0:
            cx, cy = contours[i][0, 0]
        else:
            cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
        for j in order[:rank]:
            if owner.get(j, j) == j and cv2.pointPolygonTest(hulls[j], (float(cx), float(cy)),
                                                             False) > 0:
                owner[i] = j
                break
        else:
            owner[i] = i
    groups: dict[int, list[int]] = {}
    for i, o in owner.items():
        groups.setdefault(o, []).append(i)
    blobs = []
    for members in groups.values():
        blob = np.zeros(mask.shape, np.uint8)
        cv2.drawContours(blob, [contours[i] for i in members], -1, 1, thickness=cv2.FILLED)
        _, _, bw, bh = cv2.boundingRect(np.concatenate([contours[i] for i in members]))
        blobs.append((blob, (bw, bh)))
    return blobs


def _ring_support(mask: np.ndarray, centre, axes, angle_deg, line_px: float,
                  n: int = 180) -> tuple[float, float]:
    """(fraction of the in-page border that has ink within ``line_px`` of the fitted
    ellipse, fraction of the border inside the page)."""
    h, w = mask.shape
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    a, b = axes
    ca, sa = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    hit = np.zeros(n, bool)
    inside = np.zeros(n, bool)
    for k in np.linspace(-1.0, 0.5, 4):  # the border lies on and just inside the outline
        ra, rb = max(a + k * line_px, 1), max(b + k * line_px, 1)
        x = centre[0] + ra * np.cos(t) * ca - rb * np.sin(t) * sa
        y = centre[1] + ra * np.cos(t) * sa + rb * np.sin(t) * ca
        xi, yi = np.floor(x).astype(int), np.floor(y).astype(int)
        ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        inside |= ok
        hit[ok] |= mask[yi[ok], xi[ok]] > 0
    visible = inside.mean()
    return (float(hit[inside].mean()) if inside.any() else 0.0), float(visible)


def _fit_blob(blob: np.ndarray, ink: np.ndarray, px_per_mm: float) -> _Candidate | None:
    h, w = blob.shape
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    pts = np.concatenate(contours)[:, 0, :].astype(np.float32)
    # points on the page's edge are where a cross-page half is cut, not its border
    margin = 2
    on_edge = ((pts[:, 0] <= margin) | (pts[:, 0] >= w - 1 - margin) |
               (pts[:, 1] <= margin) | (pts[:, 1] >= h - 1 - margin))
    border_pts = pts[~on_edge]
    if len(border_pts) < 12:
        return None
    hull = cv2.convexHull(border_pts)
    x, y, bw, bh = cv2.boundingRect(pts.astype(np.int32))
    box = (float(x), float(y), float(x + bw), float(y + bh))
    rect = cv2.minAreaRect(hull)
    (ex, ey), (ew, eh), eangle = cv2.fitEllipse(hull if len(hull) >= 5 else border_pts)
    a, b = max(ew, eh) / 2, min(ew, eh) / 2
    # major-axis direction in image coordinates (degrees from +x toward +y, i.e. clockwise)
    angle = eangle + 90 if ew < eh else eangle
    hull_area = cv2.contourArea(hull)
    rect_fill = hull_area / max(rect[1][0] * rect[1][1], 1e-6)
    touches = on_edge.any()
    # a square seal is a quadrilateral: a rectangle when scanned, a trapezoid in a photo
    quad = cv2.approxPolyDP(hull, 0.04 * cv2.arcLength(hull, True), True)
    quad_fill = (hull_area / max(cv2.contourArea(quad), 1e-6)) if len(quad) == 4 else 0.0
    if not touches and (rect_fill > 0.9 or (quad_fill > 0.93 and rect_fill > 0.82)):
        shape = "square"
        side = (rect[1][0] + rect[1][1]) / 4
        a = b = side
        angle = rect[2]
        ex, ey = rect[0]
    else:
        shape = "round" if b / max(a, 1e-6) > 0.82 else "oval"
    line = max(1.0, 1.2 * px_per_mm)
    if shape == "square":
        support, visible = _square_support(ink, rect, line)
    else:
        support, visible = _ring_support(ink, (ex, ey), (a, b), angle, line)
    return _Candidate((float(ex), float(ey)), (float(a), float(b)), float(angle % 180), shape,
                      box, support, visible)


def _square_support(mask: np.ndarray, rect, line_px: float) -> tuple[float, float]:
    box = cv2.boxPoints(rect)
    h, w = mask.shape
    hits, inside = [], []
    centre = box.mean(axis=0)
    for i in range(4):
        p, q = box[i], box[(i + 1) % 4]
        for t in np.linspace(0.05, 0.95, 30):
            pt = p + (q - p) * t
            found, ok = False, False
            for k in np.linspace(0.0, 1.5, 4):  # step inward from the outline
                v = centre - pt
                pk = pt + v / max(np.linalg.norm(v), 1e-6) * k * line_px
                xi, yi = int(pk[0]), int(pk[1])
                if 0 <= xi < w and 0 <= yi < h:
                    ok = True
                    found |= mask[yi, xi] > 0
            hits.append(found)
            inside.append(ok)
    hits, inside = np.array(hits), np.array(inside)
    return (float(hits[inside].mean()) if inside.any() else 0.0), float(inside.mean())


def _plausible(c: _Candidate, px_per_mm: float, size_known: bool, page_shape) -> bool:
    lo, hi = SEAL_DIAMETER_MM
    d_mm = 2 * c.axes[0] / px_per_mm
    if size_known and not (lo * 0.8 <= d_mm <= hi * 1.15):
        return False
    if not size_known and 2 * c.axes[0] < MIN_SEAL_FRACTION * max(page_shape):
        return False
    if c.axes[1] / max(c.axes[0], 1e-6) < 0.5:
        return False
    return c.support >= MIN_RING_SUPPORT


def _hough_circles(ink: np.ndarray, blob: np.ndarray, px_per_mm: float) -> list[_Candidate]:
    """Circles on one blob's ink (overlapping round imprints)."""
    ys, xs = np.nonzero(blob)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    roi = (ink[y0:y1, x0:x1] & (blob[y0:y1, x0:x1] > 0)).astype(np.uint8) * 255
    roi = cv2.GaussianBlur(roi, (0, 0), max(1.0, 0.5 * px_per_mm))
    extent = max(x1 - x0, y1 - y0)
    r_lo = int(max(SEAL_DIAMETER_MM[0] / 2 * px_per_mm * 0.8, 0.2 * extent))
    r_hi = int(min(SEAL_DIAMETER_MM[1] / 2 * px_per_mm, 0.55 * extent) * 1.05)
    circles = cv2.HoughCircles(roi, cv2.HOUGH_GRADIENT, dp=1.5, minDist=max(4, r_lo // 2),
                               param1=60, param2=18, minRadius=max(3, r_lo),
                               maxRadius=max(r_lo + 2, r_hi))
    found = []
    if circles is None:
        return found
    line = max(1.0, 1.2 * px_per_mm)
    for cx, cy, r in circles[0][:40]:
        if 2 * r < 0.4 * extent:  # a seal of an overlapping pair spans most of the blob
            continue
        c = (float(cx + x0), float(cy + y0))
        support, visible = _ring_support(ink, c, (float(r), float(r)), 0.0, line)
        outside, _ = _ring_support(ink, c, (float(r) + 3 * line, float(r) + 3 * line), 0.0,
                                   line)
        if support < 0.75 or support - outside < 0.3:
            continue
        box = (max(c[0] - r, 0), max(c[1] - r, 0), min(c[0] + r, ink.shape[1]),
               min(c[1] + r, ink.shape[0]))
        found.append(_Candidate(c, (float(r), float(r)), 0.0, "round", box, support, visible))
    return _suppress(found)


def _suppress(cands: list[_Candidate]) -> list[_Candidate]:
    """Keep the best of candidates that describe the same imprint."""
    keep: list[_Candidate] = []
    for c in sorted(cands, key=lambda c: -c.support):
        if all(math.dist(c.centre, k.centre) > 0.5 * min(c.axes[0], k.axes[0]) for k in keep):
            keep.append(c)
    return keep


def _colour_candidates(masks: InkMasks, px_per_mm: float, size_known: bool
                       ) -> list[_Candidate]:
    ink = masks.any
    join = round(JOIN_MM * px_per_mm)
    out = []
    min_d = SEAL_DIAMETER_MM[0] * px_per_mm if size_known else (
        MIN_SEAL_FRACTION * max(ink.shape))
    for blob, (bw, bh) in _blobs(ink, join, min_side=0.4 * min_d):
        if max(bw, bh) < 0.7 * min_d:
            continue
        single = _fit_blob(blob, ink, px_per_mm)
        fits = single is not None and _plausible(single, px_per_mm, size_known, ink.shape)
        # a blob one border explains badly may be several overlapping imprints
        if fits and single.support >= 0.75:
            out.append(single)
            continue
        circles = _hough_circles(ink, blob, px_per_mm)
        circles = [c for c in circles if _plausible(c, px_per_mm, size_known, ink.shape)]
        if len(circles) >= 2 or (circles and not fits):
            out.extend(circles)
        elif fits:
            out.append(single)
    return _suppress(out)


def _colour_vote(masks: InkMasks):
    def colour_of(c: _Candidate) -> str:
        x0, y0, x1, y1 = (int(v) for v in c.box)
        counts = {name: int(m[y0:y1 + 1, x0:x1 + 1].sum()) for name, m in masks.by_colour.items()}
        return max(counts, key=counts.get)
    return colour_of


# --- grey pages ------------------------------------------------------------------------------

def _grey_candidates(norm: np.ndarray, masks: InkMasks, px_per_mm: float) -> list[_Candidate]:
    """Round imprints on a page without colour: clear rings of dark ink."""
    dark = masks.dark.astype(np.uint8)
    grey = cv2.GaussianBlur((1 - norm.min(axis=2)), (0, 0), max(1.0, 0.4 * px_per_mm))
    img = np.clip(grey * 255, 0, 255).astype(np.uint8)
    r_lo = int(SEAL_DIAMETER_MM[0] / 2 * px_per_mm * 0.8)
    r_hi = int(SEAL_DIAMETER_MM[1] / 2 * px_per_mm * 1.05)
    circles = cv2.HoughCircles(img, cv2.HOUGH_GRADIENT, dp=2, minDist=max(4, r_lo),
                               param1=80, param2=40, minRadius=max(3, r_lo), maxRadius=r_hi)
    if circles is None:
        return []
    line = max(1.0, 1.2 * px_per_mm)
    found = []
    for cx, cy, r in circles[0][:30]:
        c = (float(cx), float(cy))
        support, visible = _ring_support(dark, c, (float(r), float(r)), 0.0, line)
        outside, _ = _ring_support(dark, c, (float(r) + 4 * line, float(r) + 4 * line), 0.0, line)
        inside, _ = _ring_support(dark, c, (float(r) - 4 * line, float(r) - 4 * line), 0.0, line)
        if support < 0.8 or support - max(outside, inside) < 0.3 or visible < 0.3:
            continue
        h, w = dark.shape
        box = (max(c[0] - r, 0), max(c[1] - r, 0), min(c[0] + r, w), min(c[1] + r, h))
        found.append(_Candidate(c, (float(r), float(r)), 0.0, "round", box, support, visible))
    return _suppress(found)
