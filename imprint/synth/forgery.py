"""Forgeries with known ground truth: every function returns what it made and a record of
exactly what it changed, by how much.

- :func:`recarve`: a new seal cut to imitate a filed one. Same words; typeface, glyph scale,
  per-character angle and radial position, spacing along the arc, star size and angle, border
  width and diameter may deviate, from clearly (another typeface) down to 0.1 mm and 0.5 deg.
  It is a different physical seal, so it has its own stable defects, not the genuine seal's.
- :func:`photo_engrave`: a seal made from a picture of one genuine imprint. Geometry very close;
  fine detail lost, edges rounded, and that imprint's own ink accidents frozen into the face.
- :func:`print_imitation`: a genuine imprint scanned and printed: halftone or dither dots in
  flat process colours, no pressure pattern, no relief.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from imprint.errors import InvalidParameterError
from imprint.synth.defects import new_seal
from imprint.synth.design import Glyph, SealDesign, clock_to_xy
from imprint.synth.glyphs import TYPEFACES
from imprint.synth.medium import InkLayer
from imprint.synth.render import MM_PER_INCH, RasterRelief, SealFace, canvas_for
from imprint.synth.stamping import StampConditions, stamp

FORGERY_KINDS = ("recarved", "photo_engraved", "printed")
LEVELS = ("clear", "subtle")

#: Magnitude ranges per level: (low, high) of the absolute change. Subtle changes are at most
#: 0.2 mm or 1 degree, the smallest 0.1 mm and 0.5 degree.
RECARVE_RANGES = {
    "clear": {"glyph_scale_mm": (0.4, 1.0), "char_angle_deg": (2.0, 6.0),
              "char_radial_mm": (0.4, 1.0), "spacing_deg": (1.5, 4.0),
              "star_diameter_mm": (0.8, 2.0), "star_angle_deg": (3.0, 10.0),
              "border_width_mm": (0.3, 0.6), "diameter_mm": (0.8, 2.0)},
    "subtle": {"glyph_scale_mm": (0.1, 0.2), "char_angle_deg": (0.5, 1.0),
               "char_radial_mm": (0.1, 0.2), "spacing_deg": (0.5, 1.0),
               "star_diameter_mm": (0.1, 0.2), "star_angle_deg": (0.5, 1.0),
               "border_width_mm": (0.1, 0.2), "diameter_mm": (0.1, 0.2)},
}


@dataclass(frozen=True)
class Forgery:
    """What a forger made: the face to stamp with (None for a printed imitation, which is no
    seal at all), and the manifest record: ``kind``, ``level`` and ``params``."""

    kind: str
    level: str
    params: dict
    face: SealFace | None = None

    def to_json(self) -> dict:
        return {"kind": self.kind, "level": self.level, "params": self.params}


def _signed(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.choice([-1.0, 1.0]) * rng.uniform(lo, hi))


def _arc_glyph_moved(g: Glyph, d_clock: float = 0.0, d_radius: float = 0.0,
                     d_angle: float = 0.0) -> Glyph:
    """Move a glyph along its ring (clock degrees), radially (mm), and turn it (degrees)."""
    r = math.hypot(*g.centre)
    clock = math.degrees(math.atan2(g.centre[0], -g.centre[1]))
    return replace(g, centre=clock_to_xy(clock + d_clock, r + d_radius),
                   angle=(g.angle + d_clock + d_angle) % 360)


def apply_recarve(design: SealDesign, ops: dict) -> SealDesign:
    """Apply the changes of a re-carving record to ``design`` (deterministic)."""
    glyphs = list(design.glyphs)
    border, star, typeface = design.border, design.star, design.typeface
    round_seal = border.shape == "circle"
    if "typeface" in ops:
        typeface = ops["typeface"]["to"]
        glyphs = [replace(g, typeface=typeface) for g in glyphs]
    if "glyph_scale_mm" in ops:
        dh = ops["glyph_scale_mm"]  # change of the name characters' height, mm
        glyphs = [replace(g, size=(g.size[0] * (g.size[1] + dh) / g.size[1], g.size[1] + dh))
                  if g.role in ("name", "person") else g for g in glyphs]
    if "spacing_deg" in ops and round_seal:
        name = [g for g in glyphs if g.role == "name"]
        n = len(name)
        per = ops["spacing_deg"] / max(n - 1, 1)  # total span change spread evenly
        glyphs = [_arc_glyph_moved(g, d_clock=(g.index - (n - 1) / 2) * per)
                  if g.role == "name" else g for g in glyphs]
    if "char_angle_deg" in ops:
        table = dict(zip(ops["char_angle_deg"]["indices"], ops["char_angle_deg"]["values"],
                         strict=True))
        glyphs = [replace(g, angle=(g.angle + table[g.index]) % 360)
                  if g.role in ("name", "person") and g.index in table else g for g in glyphs]
    if "char_radial_mm" in ops:
        table = dict(zip(ops["char_radial_mm"]["indices"], ops["char_radial_mm"]["values"],
                         strict=True))
        out = []
        for g in glyphs:
            if g.role in ("name", "person") and g.index in table:
                if round_seal:
                    g = _arc_glyph_moved(g, d_radius=table[g.index])
                else:  # outward along the glyph's own up direction
                    t = math.radians(g.angle)
                    dr = table[g.index]
                    g = replace(g, centre=(g.centre[0] + dr * math.sin(t),
                                           g.centre[1] - dr * math.cos(t)))
            out.append(g)
        glyphs = out
    if "star_diameter_mm" in ops and star is not None:
        star = replace(star, diameter=star.diameter + ops["star_diameter_mm"])
    if "star_angle_deg" in ops and star is not None:
        star = replace(star, angle=star.angle + ops["star_angle_deg"])
    if "border_width_mm" in ops:
        border = replace(border, line=border.line + ops["border_width_mm"])
    extent = design.extent
    if "diameter_mm" in ops:
        dd = ops["diameter_mm"]
        w, h = border.outer
        border = replace(border, outer=(w + dd, h + dd * h / w))
        extent = (extent[0] + dd, extent[1] + dd * h / w)
        # the engraver keeps the text's distance from the border: the ring text moves out
        if round_seal:
            glyphs = [_arc_glyph_moved(g, d_radius=dd / 2) if g.role in ("name", "code") else g
                      for g in glyphs]
    return replace(design, glyphs=tuple(glyphs), border=border, star=star, typeface=typeface,
                   extent=extent)


def recarve(design: SealDesign, rng: np.random.Generator, level: str = "clear") -> Forgery:
    """A re-carved imitation of ``design`` at ``level`` (``clear`` or ``subtle``)."""
    if level not in LEVELS:
        raise InvalidParameterError(f"unknown level {level!r}; choose one of {LEVELS}")
    ranges = RECARVE_RANGES[level]
    candidates = ["glyph_scale_mm", "char_angle_deg", "char_radial_mm", "border_width_mm",
                  "diameter_mm"]
    if design.border.shape == "circle":
        candidates.append("spacing_deg")
    if design.star is not None:
        candidates += ["star_diameter_mm", "star_angle_deg"]
    n_ops = int(rng.integers(1, 4)) if level == "clear" else int(rng.integers(1, 3))
    chosen = [str(op) for op in rng.choice(candidates, size=n_ops, replace=False)]
    ops: dict = {}
    if level == "clear" and rng.random() < 0.6:
        others = [t for t in TYPEFACES if t != design.typeface]
        ops["typeface"] = {"from": design.typeface, "to": str(rng.choice(others))}
    name_idx = sorted({g.index for g in design.glyphs if g.role in ("name", "person")})
    for op in chosen:
        lo, hi = ranges[op]
        if op in ("char_angle_deg", "char_radial_mm"):
            k = int(rng.integers(1, min(4, len(name_idx)) + 1))
            idx = sorted(int(i) for i in rng.choice(name_idx, size=k, replace=False))
            ops[op] = {"indices": idx, "values": [_signed(rng, lo, hi) for _ in idx]}
        elif op == "border_width_mm":
            # a thinner border than 0.6 mm does not hold up on a real seal
            v = _signed(rng, lo, hi)
            ops[op] = v if design.border.line + v >= 0.6 else abs(v)
        else:
            ops[op] = _signed(rng, lo, hi)
    forged = new_seal(apply_recarve(design, ops), rng)
    return Forgery("recarved", level, {"ops": ops, "n_defects": len(forged.defects)}, forged)


def photo_engrave(face: SealFace, rng: np.random.Generator, *, source_dpi: float = 600.0
                  ) -> Forgery:
    """A seal photo-engraved from one genuine imprint of ``face``.

    The forger photographs one imprint (its own ink accidents included), thresholds it and
    has a new seal made from the picture; the plate's resolution and the etching blur fine
    detail. The result carries no design geometry of its own, only that raster.
    """
    source = StampConditions(angle=0.0, ink=float(rng.uniform(-0.5, 0.3)),
                             pressure_tilt=float(rng.uniform(0, 0.4)),
                             pressure_dir=float(rng.uniform(0, 360)),
                             centre_light=float(rng.uniform(0.1, 0.4)),
                             edge_dark=float(rng.uniform(0.2, 0.5)),
                             elastic=float(rng.uniform(0, 0.08)), seed=int(rng.integers(2**31)))
    shape = canvas_for(face.design, source_dpi)
    density, _ = stamp(face, source, dpi=source_dpi, shape=shape,
                       centre=(shape[1] / 2, shape[0] / 2))
    px = source_dpi / MM_PER_INCH
    blur_mm = float(rng.uniform(0.04, 0.12))
    # the forger separates ink from paper by colour: a low threshold relative to full ink,
    # so the light middle of broad strokes is kept and only bare paper is dropped
    threshold = float(rng.uniform(0.15, 0.3) * np.percentile(density[density > 0.05], 99))
    smooth_mm = float(rng.uniform(0.03, 0.08))
    scale_error = float(rng.uniform(-0.004, 0.004))  # the photo's size calibration
    soft = cv2.GaussianBlur(density, (0, 0), max(0.3, blur_mm * px))
    plate = (soft > threshold).astype(np.uint8)
    k = max(1, int(round(smooth_mm * px)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    plate = cv2.morphologyEx(cv2.morphologyEx(plate, cv2.MORPH_OPEN, kernel),
                             cv2.MORPH_CLOSE, kernel)
    # rounded etched edges
    relief = cv2.GaussianBlur(plate.astype(np.float32), (0, 0), 0.5)
    raster = RasterRelief(relief, MM_PER_INCH / source_dpi * (1 + scale_error))
    params = {"source_conditions": source.to_json(), "source_dpi": source_dpi,
              "blur_mm": blur_mm, "threshold": threshold, "smooth_mm": smooth_mm,
              "scale_error": scale_error}
    return Forgery("photo_engraved", "", params, SealFace(face.design, (), raster))


def halftone(density: np.ndarray, *, method: str, lpi: float, printer_dpi: float,
             angle_deg: float, rng: np.random.Generator) -> np.ndarray:
    """Binary dots reproducing ``density`` (sampled at ``printer_dpi``): ``am`` clustered dots
    on a screen of ``lpi`` lines per inch at ``angle_deg``, or ``dither`` error diffusion."""
    if method == "dither":
        # ordered (Bayer 8 x 8) dither, as office inkjet drivers do
        n = 8
        bayer = np.array([[0]])
        while bayer.shape[0] < n:
            bayer = np.block([[4 * bayer, 4 * bayer + 2], [4 * bayer + 3, 4 * bayer + 1]])
        thresh = (bayer + 0.5) / (n * n)
        h, w = density.shape
        tiled = np.tile(thresh, (h // n + 1, w // n + 1))[:h, :w]
        return (density > tiled).astype(np.float32)
    if method != "am":
        raise InvalidParameterError(f"unknown halftone method {method!r}")
    h, w = density.shape
    period = printer_dpi / lpi
    t = math.radians(angle_deg)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xs * math.cos(t) + ys * math.sin(t)) * (2 * np.pi / period)
    v = (-xs * math.sin(t) + ys * math.cos(t)) * (2 * np.pi / period)
    spot = (np.cos(u) + np.cos(v)) / 4 + 0.5  # 1 at dot centres, 0 between
    # map the spot function through its own distribution so that dot area equals the tone
    g = np.linspace(0, 2 * np.pi, 257)[:-1]
    ref = np.sort(((np.cos(g)[:, None] + np.cos(g)[None, :]) / 4 + 0.5).ravel())
    rank = np.interp(spot, ref, np.linspace(0.0, 1.0, ref.size)).astype(np.float32)
    return (rank > 1 - density).astype(np.float32)


PROCESS_INKS = {"magenta": (226, 40, 130), "yellow": (250, 226, 40), "cyan": (20, 160, 225)}


def print_imitation(density: np.ndarray, dpi: float, rng: np.random.Generator
                    ) -> tuple[list[InkLayer], dict]:
    """Print a scanned genuine imprint (``density`` at ``dpi``) on an office printer.

    Red is printed as magenta plus yellow screens (blue and violet with cyan). Returns the
    ink layers at ``dpi`` and the manifest record.
    """
    method = str(rng.choice(["am", "am", "dither"]))
    printer_dpi = float(rng.choice([600.0, 1200.0])) if method == "am" else 600.0
    lpi = float(rng.uniform(100, 180))
    flat = bool(rng.random() < 0.5)  # redrawn from the scan as flat colour
    scale = printer_dpi / dpi
    h, w = density.shape
    if flat:
        src = (cv2.GaussianBlur(density, (0, 0), 0.7) > 0.35).astype(np.float32) * 0.8
    else:  # the driver reproduces the scanned tone by dot area
        src = np.clip(density * 0.85, 0, 1)
    big = cv2.resize(src, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_LINEAR)
    screens = {"magenta": 75.0, "yellow": 0.0}  # the classic process-colour screen angles
    layers = []
    for ink, angle in screens.items():
        dots = halftone(big, method=method, lpi=lpi, printer_dpi=printer_dpi,
                        angle_deg=angle, rng=rng)
        # toner or ink spreads a little into the paper
        dots = cv2.GaussianBlur(dots, (0, 0), 0.35 * scale)
        layers.append(InkLayer(cv2.resize(dots, (w, h), interpolation=cv2.INTER_AREA),
                               PROCESS_INKS[ink]))
    params = {"method": method, "lpi": lpi if method == "am" else None,
              "printer_dpi": printer_dpi, "flat_colour": flat,
              "screen_angles_deg": screens if method == "am" else None}
    return layers, params


def make_forgery(kind: str, face: SealFace, rng: np.random.Generator, level: str = "clear"
                 ) -> Forgery:
    """A forgery of ``kind`` (one of :data:`FORGERY_KINDS`) imitating the seal ``face``.

    A printed imitation has no face of its own: it is made at stamping time, from a genuine
    imprint of ``face`` (see :func:`print_imitation`)."""
    if kind == "recarved":
        return recarve(face.design, rng, level)
    if kind == "photo_engraved":
        return photo_engrave(face, rng)
    if kind == "printed":
        return Forgery("printed", "", {}, None)
    raise InvalidParameterError(
        f"unknown forgery {kind!r}; choose one of {', '.join(FORGERY_KINDS)}")
