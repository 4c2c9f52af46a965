"""The medium: paper, the black text and signatures crossing an imprint, and how the page is
captured (scanner, photocopier, fax, phone camera).

Images are ``(H, W, 3) float32`` RGB reflectance in [0, 1] until :func:`acquire` turns them
into the ``uint8`` RGB a user would hand in. Ink layers combine multiplicatively (each layer
transmits ``colour ** density``), which is how translucent inks on paper behave.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from imprint.errors import InvalidParameterError
from imprint.synth.glyphs import glyph_outline
from imprint.synth.render import MM_PER_INCH
from imprint.synth.stamping import smooth_noise

CAPTURES = ("scan", "photocopy", "fax", "phone")
TEXT_BLACK = (28, 28, 32)
PEN_INKS = ((20, 24, 60), (15, 15, 18), (30, 40, 110))  # blue-black, black, blue ballpoint
PAPERS = ((250, 249, 244), (255, 255, 255), (246, 240, 224), (238, 243, 248), (243, 236, 212))


@dataclass(frozen=True)
class InkLayer:
    """One ink on the page: ``density`` ``(H, W) float32 in [0, 1]``, ``colour`` sRGB of a
    saturated layer."""

    density: np.ndarray
    colour: tuple[int, int, int]


@dataclass(frozen=True)
class Capture:
    """How the page reached us. ``mode`` one of :data:`CAPTURES`; ``jpeg_quality`` 0 for
    lossless; ``tilt`` the phone's angle to the page (deg) about axis ``tilt_axis`` (deg);
    ``homography`` (3, 3) maps page pixels to captured pixels (identity unless a phone)."""

    mode: str
    jpeg_quality: int = 0
    blur_px: float = 0.0
    noise: float = 0.0
    tilt: float = 0.0
    tilt_axis: float = 0.0
    homography: tuple[tuple[float, ...], ...] = field(
        default=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)))

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def paper(shape: tuple[int, int], dpi: float, rng: np.random.Generator,
          colour: tuple[int, int, int] | None = None) -> np.ndarray:
    """A sheet of paper: a tint, slow unevenness and fibre grain. ``(H, W, 3) float32``."""
    tint = np.array(colour or PAPERS[rng.integers(len(PAPERS))], np.float32) / 255
    px = dpi / MM_PER_INCH
    slow = 0.012 * smooth_noise(shape, 40 * px, rng)
    grain = 0.018 * cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0),
                                     max(0.4, 0.08 * px))
    g = (1 + slow + grain)[..., None]
    return np.clip(tint[None, None, :] * g, 0, 1).astype(np.float32)


def compose(base: np.ndarray, layers: list[InkLayer]) -> np.ndarray:
    """Print ``layers`` over ``base`` (multiplicative transmission)."""
    out = base.copy()
    for layer in layers:
        ys, xs = np.nonzero(layer.density.any(axis=1))[0], np.nonzero(layer.density.any(axis=0))[0]
        if len(ys) == 0:
            continue
        sl = (slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1))
        d = np.ascontiguousarray(layer.density[sl], dtype=np.float32)
        for ch, value in enumerate(layer.colour):
            out[(*sl, ch)] *= cv2.exp(d * np.float32(math.log(max(value, 1) / 255)))
    return out


def text_density(shape: tuple[int, int], lines: list[tuple[float, float, str]], size_px: float,
                 typeface: str = "noto-serif-sc") -> np.ndarray:
    """Black body text: each line ``(x, y, text)``, (x, y) px the centre of its first cell.

    Glyphs are filled as polygons at twice the resolution and area-averaged down.
    """
    h, w = shape
    ss = 2
    mask = np.zeros((h * ss, w * ss), np.uint8)
    polys = []
    for x, y, text in lines:
        for i, ch in enumerate(text):
            if ch.isspace():
                continue
            cx, cy = (x + i * size_px * 1.05) * ss, y * ss
            if cx > w * ss + size_px * ss:
                break
            for c in glyph_outline(typeface, ch).contours:
                pts = np.empty_like(c)
                pts[:, 0] = cx + c[:, 0] * size_px * ss * 0.92
                pts[:, 1] = cy + c[:, 1] * size_px * ss * 0.92
                polys.append(np.round(pts * 16).astype(np.int32))
    if polys:
        # Song body text has no overlapping contours worth the winding rule at this size.
        cv2.fillPoly(mask, polys, 1, lineType=cv2.LINE_8, shift=4)
    return cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def signature_density(shape: tuple[int, int], box: tuple[float, float, float, float], dpi: float,
                      rng: np.random.Generator) -> np.ndarray:
    """A handwritten signature in ``box`` (x0, y0, x1, y1) px: a few fluent pen strokes."""
    h, w = shape
    px = dpi / MM_PER_INCH
    mask = np.zeros((h * 2, w * 2), np.uint8)
    x0, y0, x1, y1 = box
    n_strokes = int(rng.integers(2, 5))
    thickness = max(1, int(round(rng.uniform(0.35, 0.7) * px * 2)))
    for k in range(n_strokes):
        n = int(rng.integers(4, 9))
        start = x0 + (x1 - x0) * k / n_strokes
        xs = np.sort(rng.uniform(start, start + (x1 - x0) * 1.3 / n_strokes, n))
        ys = rng.uniform(y0, y1, n)
        t = np.linspace(0, 1, n)
        tt = np.linspace(0, 1, 40 * n)
        # a smooth looping curve through the control points
        cx = np.interp(tt, t, xs) + rng.uniform(2, 6) * px * np.sin(tt * rng.uniform(8, 20))
        cy = np.interp(tt, t, ys) + rng.uniform(1, 4) * px * np.cos(tt * rng.uniform(8, 20))
        pts = np.round(np.stack([cx, cy], 1) * 2 * 16).astype(np.int32)
        cv2.polylines(mask, [pts], False, 1, thickness, lineType=cv2.LINE_8, shift=4)
    return cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) * 0.95


def sample_capture(rng: np.random.Generator, mode: str | None = None) -> Capture:
    """Draw how a page is captured; ``mode`` None picks scan most often."""
    if mode is None:
        mode = str(rng.choice(CAPTURES, p=[0.55, 0.15, 0.1, 0.2]))
    if mode not in CAPTURES:
        raise InvalidParameterError(f"unknown capture {mode!r}; choose one of {CAPTURES}")
    if mode == "scan":
        return Capture("scan", int(rng.choice([0, 95, 85, 75])), float(rng.uniform(0.2, 0.6)),
                       float(rng.uniform(0.0, 0.01)))
    if mode == "photocopy":
        return Capture("photocopy", int(rng.choice([0, 90, 80])), float(rng.uniform(0.4, 0.9)),
                       float(rng.uniform(0.01, 0.03)))
    if mode == "fax":
        return Capture("fax", 0, 0.0, 0.0)
    return Capture("phone", int(rng.choice([92, 85, 75])), float(rng.uniform(0.3, 1.8)),
                   float(rng.uniform(0.01, 0.025)), float(rng.uniform(0, 30)),
                   float(rng.uniform(0, 180)))


def tilt_homography(shape: tuple[int, int], tilt_deg: float, axis_deg: float,
                    rng: np.random.Generator, *, fill_frame: bool = False) -> np.ndarray:
    """Homography of a page seen by a camera tilted ``tilt_deg`` about an in-plane axis at
    ``axis_deg``, with a 50-degree lens. Maps page px -> photo px. The whole page is fitted
    into the frame, or with ``fill_frame`` (a close-up of part of a page) the frame is filled
    by the page."""
    h, w = shape
    f = 0.5 * max(h, w) / math.tan(math.radians(25))
    a = math.radians(axis_deg)
    axis = np.array([math.cos(a), math.sin(a), 0.0])
    rvec = axis * math.radians(tilt_deg)
    rot, _ = cv2.Rodrigues(rvec)
    k = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])
    # plane z = f in camera coordinates -> rotate -> project
    to_cam = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, f]], float)
    hmat = k @ rot @ to_cam
    hmat /= hmat[2, 2]
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)[:, None]
    warped = cv2.perspectiveTransform(corners, hmat)[:, 0]
    # fit into the frame with a small random margin, as a person framing the page would
    margin = rng.uniform(0.02, 0.08) * min(h, w)
    lo, hi = warped.min(0), warped.max(0)
    if fill_frame:  # the rectangle inside the warped page, stretched over the frame
        tl, tr, br, bl = warped
        lo = np.array([max(tl[0], bl[0]), max(tl[1], tr[1])])
        hi = np.array([min(tr[0], br[0]), min(bl[1], br[1])])
        margin = 0.0
    fit_x, fit_y = (w - 2 * margin) / (hi[0] - lo[0]), (h - 2 * margin) / (hi[1] - lo[1])
    scale = max(fit_x, fit_y) if fill_frame else min(fit_x, fit_y)
    fit = np.array([[scale, 0, margin - lo[0] * scale], [0, scale, margin - lo[1] * scale],
                    [0, 0, 1]])
    return fit @ hmat


def acquire(image: np.ndarray, capture: Capture, dpi: float, rng: np.random.Generator, *,
            fill_frame: bool = False) -> tuple[np.ndarray, Capture]:
    """Capture a page (or, with ``fill_frame``, a close-up of part of one). Returns the
    ``(H, W, 3) uint8`` RGB image and the capture record with its homography filled in."""
    img = image
    h, w = img.shape[:2]
    if capture.mode == "phone":
        hmat = tilt_homography((h, w), capture.tilt, capture.tilt_axis, rng,
                               fill_frame=fill_frame)
        img = cv2.warpPerspective(img, hmat, (w, h), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT,
                                  borderValue=tuple(float(v) for v in rng.uniform(0.2, 0.5, 3)))
        # uneven light: a gradient, vignetting and sometimes a soft shadow
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        g = 1 + 0.25 * ((xs / w - 0.5) * rng.uniform(-1, 1) + (ys / h - 0.5) * rng.uniform(-1, 1))
        g *= 1 - 0.25 * (((xs / w - 0.5) ** 2 + (ys / h - 0.5) ** 2) * 2)
        if rng.random() < 0.5:
            shadow = np.zeros((h, w), np.float32)
            pts = (rng.uniform(0, 1, (4, 2)) * (w, h)).astype(np.int32)
            cv2.fillConvexPoly(shadow, cv2.convexHull(pts), 1.0)
            g *= 1 - rng.uniform(0.15, 0.4) * cv2.GaussianBlur(shadow, (0, 0), 0.05 * max(h, w))
        img = img * g[..., None] * rng.uniform(0.8, 1.0)
        capture = Capture(**{**capture.to_json(),
                             "homography": tuple(tuple(float(v) for v in row) for row in hmat)})
    if capture.blur_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), capture.blur_px)
    if capture.mode in ("photocopy", "fax"):
        grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
        if capture.mode == "photocopy":
            grey = np.clip((grey - 0.12) / 0.8, 0, 1) ** 1.2  # toner: contrast up, background out
            grey = grey + capture.noise * rng.standard_normal(grey.shape, dtype=np.float32)
            speck = rng.random(grey.shape) < 0.0004
            grey[speck] = 0.1
        else:
            # fax: 204 x 98 dpi (standard) or 204 x 196 (fine), black and white, then back
            fine = rng.random() < 0.5
            sx, sy = 204 / dpi, (196 if fine else 98) / dpi
            small = cv2.resize(grey, (max(1, int(w * sx)), max(1, int(h * sy))),
                               interpolation=cv2.INTER_AREA)
            small = (small > rng.uniform(0.55, 0.7)).astype(np.float32)
            grey = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        img = np.repeat(np.clip(grey, 0, 1)[..., None], 3, axis=2)
    elif capture.noise > 0:
        img = img + capture.noise * rng.standard_normal(img.shape, dtype=np.float32)
    out = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    if capture.jpeg_quality:
        _, buf = cv2.imencode(".jpg", out[..., ::-1],
                               [cv2.IMWRITE_JPEG_QUALITY, capture.jpeg_quality])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    return out, capture
