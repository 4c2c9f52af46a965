"""Stable defects: what makes one physical seal itself and no other.

A seal acquires chips in its border, breaks across strokes, and carving residue when it is cut
and as it wears. They print in every imprint of that seal, at the same place in the seal frame,
so they are drawn once per seal from the seal's own ``rng`` and kept with its face. The
imprint-to-imprint variation (ink, pressure, paper) is in ``stamping`` and never touches them.
"""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np

from imprint.synth.design import SealDesign
from imprint.synth.render import Defect, Pose, SealFace, render_face

DEFECT_COUNT = (4, 10)  # per seal, inclusive range
GAP_RADIUS_MM = (0.08, 0.22)
NICK_RADIUS_MM = (0.15, 0.45)
BURR_RADIUS_MM = (0.08, 0.2)
SAMPLE_DPI = 200  # resolution at which stroke positions are sampled


def _stroke_points(design: SealDesign) -> np.ndarray:
    """(N, 2) mm positions inside glyph strokes, on a fixed grid."""
    glyph_only = SealFace(design=replace(
        design, border=replace(design.border, line=0.0), star=None))
    side = int(math.ceil(max(design.extent) * SAMPLE_DPI / 25.4)) + 4
    cov = render_face(glyph_only, dpi=SAMPLE_DPI, shape=(side, side),
                      pose=Pose((side / 2, side / 2)), supersample=2)
    cov = cv2.erode((cov > 0.5).astype(np.uint8), np.ones((2, 2), np.uint8))
    ys, xs = np.nonzero(cov)
    mm = 25.4 / SAMPLE_DPI
    return np.stack([(xs + 0.5 - side / 2) * mm, (ys + 0.5 - side / 2) * mm], 1)


def _border_point(design: SealDesign, clock: float, depth: float) -> tuple[float, float]:
    """A point on the border line at ``clock`` degrees, ``depth`` in [0, 1] from the outer
    edge to the inner edge."""
    w, h = design.border.outer
    a = w / 2 - depth * design.border.line
    b = h / 2 - depth * design.border.line
    t = math.radians(clock)
    if design.border.shape == "rect":
        # walk the square's perimeter
        dx, dy = math.sin(t), -math.cos(t)
        k = min(a / max(abs(dx), 1e-9), b / max(abs(dy), 1e-9))
        return dx * k, dy * k
    return a * math.sin(t), -b * math.cos(t)


def make_defects(design: SealDesign, rng: np.random.Generator) -> tuple[Defect, ...]:
    """Draw the stable defects of one newly made seal of ``design``."""
    n = int(rng.integers(DEFECT_COUNT[0], DEFECT_COUNT[1] + 1))
    strokes = _stroke_points(design)
    defects = []
    for _ in range(n):
        kind = rng.choice(["gap", "gap", "nick", "burr", "wear"])
        if kind in ("gap", "burr") and len(strokes):
            # anywhere inside the sampled pixel, not on a grid shared by every seal
            jitter = rng.uniform(-0.5, 0.5, 2) * 25.4 / SAMPLE_DPI
            x, y = strokes[rng.integers(len(strokes))] + jitter
            lo, hi = GAP_RADIUS_MM if kind == "gap" else BURR_RADIUS_MM
            r = float(rng.uniform(lo, hi))
            if kind == "burr":  # residue sits at the edge of a stroke, pushed outward
                t = rng.uniform(0, 2 * np.pi)
                x, y = x + 0.25 * math.cos(t), y + 0.25 * math.sin(t)
            defects.append(Defect(str(kind), (float(x), float(y)),
                                  (r * float(rng.uniform(1.0, 2.2)), r),
                                  float(rng.uniform(0, 180))))
        elif kind == "nick":
            clock = float(rng.uniform(0, 360))
            depth = float(rng.choice([0.0, 1.0]))  # chipped from the outside or the inside
            r = float(rng.uniform(*NICK_RADIUS_MM))
            defects.append(Defect("nick", _border_point(design, clock, depth), (r, r * 0.8),
                                  float(rng.uniform(0, 180))))
        else:  # wear: a thinned stretch along the inner edge of the border
            clock = float(rng.uniform(0, 360))
            length = float(rng.uniform(1.0, 3.0))
            x, y = _border_point(design, clock, 1.0)
            defects.append(Defect("wear", (x, y), (length, design.border.line * 0.35),
                                  (clock + 90.0) % 360))
    return tuple(defects)


def new_seal(design: SealDesign, rng: np.random.Generator) -> SealFace:
    """A newly cut physical seal of ``design`` with its own stable defects."""
    return SealFace(design=design, defects=make_defects(design, rng))
