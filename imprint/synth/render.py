"""Rasterise a seal face (design plus its stable defects) at any dpi, in any pose.

Vector rendering: every outline is transformed in millimetres (pose, swelling, elastic
deformation) and only then filled, at ``supersample`` times the target resolution with the
non-zero winding rule, and area-averaged down. The result is the *relief coverage*: the
fraction of each pixel that the raised face of the seal covers, ``(H, W) float32 in [0, 1]``.

Convention: page pixels are ``(x, y)``, origin at the top-left corner of the top-left pixel,
x right, y down; pixel ``(i, j)`` (row, col) covers ``[j, j+1) x [i, i+1)``. A pose maps the
seal frame (mm, see ``design``) to page pixels:
``p = centre + (dpi / 25.4) * swell * Rot(angle) @ (q + elastic(q))``, where ``angle`` turns
the imprint counter-clockwise as seen on the page.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from imprint.errors import InvalidParameterError
from imprint.synth.design import Border, SealDesign, Star
from imprint.synth.glyphs import glyph_outline

MM_PER_INCH = 25.4
SHIFT_BITS = 4  # cv2.fillPoly sub-pixel precision: 1/16 of a supersampled pixel
MIN_DPI, MAX_DPI = 50, 2400


@dataclass(frozen=True)
class Defect:
    """A stable defect of one physical seal, in the seal frame (mm).

    ``kind``: ``nick`` (a chip out of the border), ``gap`` (a break across a stroke),
    ``burr`` (carving residue or hardened dirt that prints), ``wear`` (a thinned stretch of the
    border). ``radii`` (a, b) mm of the elliptical patch, ``angle`` its orientation (clock deg).
    """

    kind: str
    centre: tuple[float, float]
    radii: tuple[float, float]
    angle: float

    @property
    def subtracts(self) -> bool:
        return self.kind != "burr"


@dataclass(frozen=True)
class RasterRelief:
    """A seal face known only as an image (a photo-engraved copy): ``coverage`` ``(H, W)
    float32 in [0, 1]`` sampled every ``mm_per_px`` mm, its centre pixel at the seal origin."""

    coverage: np.ndarray
    mm_per_px: float


@dataclass(frozen=True)
class SealFace:
    """One physical seal: what was carved, and the defects it has acquired. Every imprint of
    this seal carries these defects; the imprint-to-imprint noise lives in ``stamping``."""

    design: SealDesign
    defects: tuple[Defect, ...] = ()
    raster: RasterRelief | None = None


@dataclass(frozen=True)
class Pose:
    """Where one imprint lands on the page: ``centre`` (x, y) px, ``angle`` degrees
    counter-clockwise, ``swell`` isotropic scale of the material (1 = as filed)."""

    centre: tuple[float, float]
    angle: float = 0.0
    swell: float = 1.0


Displacement = Callable[[np.ndarray], np.ndarray]  # (N, 2) mm -> (N, 2) mm


def star_polygon(star: Star) -> np.ndarray:
    """The star's 10 vertices, ``(10, 2)`` mm in the seal frame."""
    r_out = star.diameter / 2
    r_in = r_out * star.inner_ratio
    clocks = star.angle + 36.0 * np.arange(10)
    radii = np.where(np.arange(10) % 2 == 0, r_out, r_in)
    t = np.radians(clocks)
    return np.stack([star.centre[0] + radii * np.sin(t), star.centre[1] - radii * np.cos(t)], 1)


def _ellipse(cx: float, cy: float, a: float, b: float, rot_deg: float, n: int) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    x, y = a * np.cos(t), b * np.sin(t)
    r = math.radians(rot_deg)
    return np.stack(
        [cx + x * math.cos(r) - y * math.sin(r), cy + x * math.sin(r) + y * math.cos(r)], 1
    )


def _rounded_rect(w: float, h: float, corner: float, n_corner: int = 12) -> np.ndarray:
    corner = max(0.0, min(corner, w / 2, h / 2))
    pts = []
    for cx, cy, start in (
        (w / 2 - corner, -h / 2 + corner, -90),
        (w / 2 - corner, h / 2 - corner, 0),
        (-w / 2 + corner, h / 2 - corner, 90),
        (-w / 2 + corner, -h / 2 + corner, 180),
    ):
        for t in np.radians(np.linspace(start, start + 90, n_corner)):
            pts.append((cx + corner * math.cos(t), cy + corner * math.sin(t)))
    return np.asarray(pts)


def border_contours(border: Border, n: int = 720) -> list[np.ndarray]:
    """Outer and inner edge of the border line (mm); filled non-zero they give the ring."""
    w, h = border.outer
    if border.shape == "circle":
        return [_ellipse(0, 0, w / 2, w / 2, 0, n), _ellipse(0, 0, w / 2 - border.line,
                                                             w / 2 - border.line, 0, n)[::-1]]
    if border.shape == "ellipse":
        return [_ellipse(0, 0, w / 2, h / 2, 0, n),
                _ellipse(0, 0, w / 2 - border.line, h / 2 - border.line, 0, n)[::-1]]
    if border.shape == "rect":
        return [_rounded_rect(w, h, border.corner),
                _rounded_rect(w - 2 * border.line, h - 2 * border.line,
                              max(0.0, border.corner - border.line))[::-1]]
    raise InvalidParameterError(f"unknown border shape {border.shape!r}")


def glyph_contours(design: SealDesign) -> list[list[np.ndarray]]:
    """Each glyph's contours placed in the seal frame (mm): one list per glyph."""
    placed = []
    for g in design.glyphs:
        outline = glyph_outline(g.typeface, g.char)
        t = math.radians(g.angle)
        c, s = math.cos(t), math.sin(t)
        sx, sy = g.size
        contours = []
        for xy in outline.contours:
            u, v = xy[:, 0] * sx, xy[:, 1] * sy
            # rotate clockwise by the clock angle (y is downward)
            contours.append(np.stack([g.centre[0] + u * c - v * s, g.centre[1] + u * s + v * c], 1))
        placed.append(contours)
    return placed


def defect_contour(defect: Defect) -> np.ndarray:
    a, b = defect.radii
    return _ellipse(*defect.centre, a, b, defect.angle - 90.0, 24)


def face_objects(
    face: SealFace,
) -> tuple[list[list[np.ndarray]], list[list[np.ndarray]], list[np.ndarray]]:
    """(plain objects to add, glyph objects to add, patches to remove), each object a list of
    contours, all in mm. Glyphs are emboldened by the design's stroke weight when filled."""
    design = face.design
    adds: list[list[np.ndarray]] = []
    if design.border.line > 0:
        adds.append(border_contours(design.border))
    if design.star is not None:
        adds.append([star_polygon(design.star)])
    adds.extend([defect_contour(d)] for d in face.defects if not d.subtracts)
    removes = [defect_contour(d) for d in face.defects if d.subtracts]
    return adds, glyph_contours(design), removes


def check_dpi(dpi: float) -> None:
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise InvalidParameterError(f"dpi {dpi} outside {MIN_DPI}..{MAX_DPI}")


def default_supersample(dpi: float) -> int:
    return int(np.clip(math.ceil(1200 / dpi), 2, 8))


def _to_pixels(xy_mm: np.ndarray, pose: Pose, px_per_mm: float,
               elastic: Displacement | None) -> np.ndarray:
    q = xy_mm + elastic(xy_mm) if elastic is not None else xy_mm
    t = math.radians(pose.angle)
    c, s = math.cos(t), math.sin(t)
    k = px_per_mm * pose.swell
    x = pose.centre[0] + k * (q[:, 0] * c + q[:, 1] * s)
    y = pose.centre[1] + k * (-q[:, 0] * s + q[:, 1] * c)
    return np.stack([x, y], 1)


def _fill_object(mask: np.ndarray, contours_px: list[np.ndarray]) -> None:
    """OR one object, filled with the non-zero winding rule, into ``mask`` (uint8).

    cv2 puts pixel centres at integers, we at integer + 0.5: hence the half-pixel shift."""
    pts_all = np.concatenate(contours_px)
    h, w = mask.shape
    x0 = max(int(math.floor(pts_all[:, 0].min())) - 1, 0)
    y0 = max(int(math.floor(pts_all[:, 1].min())) - 1, 0)
    x1 = min(int(math.ceil(pts_all[:, 0].max())) + 2, w)
    y1 = min(int(math.ceil(pts_all[:, 1].max())) + 2, h)
    if x1 <= x0 or y1 <= y0:
        return
    scale = 1 << SHIFT_BITS
    if len(contours_px) == 1:
        pts = np.round((contours_px[0] - (x0 + 0.5, y0 + 0.5)) * scale).astype(np.int32)
        cv2.fillPoly(mask[y0:y1, x0:x1], [pts], 1, lineType=cv2.LINE_8, shift=SHIFT_BITS)
        return
    winding = np.zeros((y1 - y0, x1 - x0), np.int16)
    one = np.zeros_like(winding, dtype=np.uint8)
    for c in contours_px:
        area2 = np.sum(c[:, 0] * np.roll(c[:, 1], -1) - np.roll(c[:, 0], -1) * c[:, 1])
        pts = np.round((c - (x0 + 0.5, y0 + 0.5)) * scale).astype(np.int32)
        one[:] = 0
        cv2.fillPoly(one, [pts], 1, lineType=cv2.LINE_8, shift=SHIFT_BITS)
        winding += one if area2 > 0 else -one.astype(np.int16)
    mask[y0:y1, x0:x1] |= (winding != 0).astype(np.uint8)


def render_face(
    face: SealFace,
    *,
    dpi: float,
    shape: tuple[int, int],
    pose: Pose,
    elastic: Displacement | None = None,
    supersample: int | None = None,
) -> np.ndarray:
    """Relief coverage of ``face`` stamped in ``pose`` on a canvas of ``shape`` (H, W).

    Returns
    -------
    (H, W) float32 in [0, 1]
        Fraction of each pixel covered by the raised face.
    """
    check_dpi(dpi)
    ss = supersample or default_supersample(dpi)
    h, w = shape
    px_per_mm = dpi / MM_PER_INCH * ss
    pose_ss = Pose(((pose.centre[0]) * ss, (pose.centre[1]) * ss), pose.angle, pose.swell)
    if face.raster is not None:
        mask = _warp_raster(face.raster, (h * ss, w * ss), pose_ss, px_per_mm)
    else:
        mask = np.zeros((h * ss, w * ss), np.uint8)
        adds, glyphs, removes = face_objects(face)
        for obj in glyphs:
            _fill_object(mask, [_to_pixels(c, pose_ss, px_per_mm, elastic) for c in obj])
        weight_px = face.design.stroke_weight * px_per_mm * pose.swell
        if weight_px >= 0.5:
            k = 2 * int(round(weight_px)) + 1
            mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        for obj in adds:
            _fill_object(mask, [_to_pixels(c, pose_ss, px_per_mm, elastic) for c in obj])
        if removes:
            holes = np.zeros_like(mask)
            for c in removes:
                _fill_object(holes, [_to_pixels(c, pose_ss, px_per_mm, elastic)])
            mask &= 1 - holes
        mask = mask.astype(np.float32)
    if ss == 1:
        return mask
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA)


def _warp_raster(relief: RasterRelief, shape_ss: tuple[int, int], pose: Pose,
                 px_per_mm: float) -> np.ndarray:
    """Place an image relief: seal-frame mm -> page px is a similarity, so one warpAffine."""
    rh, rw = relief.coverage.shape
    t = math.radians(pose.angle)
    k = px_per_mm * pose.swell * relief.mm_per_px  # page px per relief px
    c, s = math.cos(t), math.sin(t)
    # relief pixel centre (u, v) -> mm (u - (rw-1)/2, v - (rh-1)/2) * mm_per_px; page pixel
    # centres sit at integer + 0.5 in our convention, cv2 samples at integers.
    ox, oy = (rw - 1) / 2, (rh - 1) / 2
    m = np.array([[k * c, k * s, 0.0], [-k * s, k * c, 0.0]])
    m[:, 2] = np.array(pose.centre) - 0.5 - m[:, :2] @ np.array([ox, oy])
    return cv2.warpAffine(relief.coverage.astype(np.float32), m, (shape_ss[1], shape_ss[0]),
                          flags=cv2.INTER_LINEAR, borderValue=0.0)


def canvas_for(design: SealDesign, dpi: float, margin_mm: float = 2.0) -> tuple[int, int]:
    """Square canvas (H, W) holding the face at any rotation, plus a margin."""
    w, h = design.extent
    side_mm = (w if design.border.shape == "circle" else math.hypot(w, h)) + 2 * margin_mm
    n = int(math.ceil(side_mm * dpi / MM_PER_INCH))
    return n, n


def render_centred(face: SealFace, dpi: float, *, angle: float = 0.0,
                   elastic: Displacement | None = None, swell: float = 1.0,
                   supersample: int | None = None) -> np.ndarray:
    """The face alone on its own square canvas, centred (the centre at the canvas midpoint)."""
    h, w = canvas_for(face.design, dpi)
    return render_face(face, dpi=dpi, shape=(h, w), pose=Pose((w / 2, h / 2), angle, swell),
                       elastic=elastic, supersample=supersample)
