"""Scenes: imprints placed on paper among text and signatures, then captured.

Two scales share one code path: :func:`imprint_scene` makes a crop around one imprint (what a
bank clerk photographs, what a registry files as a master), :func:`page_scene` an A4 page with
text, a table, signatures and one to four imprints, some as cross-page halves at the edge,
some overlapping. Both return the captured ``uint8`` RGB image and one
:class:`ImprintTruth` per imprint, in the captured image's pixel coordinates.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from imprint.synth.design import INKS
from imprint.synth.forgery import Forgery, print_imitation
from imprint.synth.glyphs import charset
from imprint.synth.medium import (
    TEXT_BLACK,
    Capture,
    InkLayer,
    acquire,
    compose,
    paper,
    sample_capture,
    signature_density,
    text_density,
)
from imprint.synth.render import MM_PER_INCH, SealFace, canvas_for
from imprint.synth.stamping import StampConditions, sample_conditions, stamp

A4_MM = (210.0, 297.0)


@dataclass(frozen=True)
class Stamping:
    """One imprint to place: the face stamped (or, for a printed imitation, the genuine face
    whose scanned imprint is printed), how it was stamped, and its manifest labels."""

    face: SealFace
    conditions: StampConditions
    ink: str
    seal_id: str | None
    claimed_seal_id: str | None
    forgery: Forgery | None = None
    labels: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ImprintTruth:
    """Ground truth of one imprint in a captured image. ``centre`` (x, y) px and ``axes``
    (semi-major along the seal's x, semi-minor) px of the outer border in the page before
    capture mapped through the capture's homography (centre exactly, axes as before capture);
    ``angle`` degrees counter-clockwise; ``box`` [x0, y0, x1, y1] of the visible part;
    ``visible`` the fraction of the face on the page."""

    seal_id: str | None
    claimed_seal_id: str | None
    seal_kind: str
    ink: str
    centre: tuple[float, float]
    axes: tuple[float, float]
    angle: float
    box: tuple[float, float, float, float]
    visible: float
    px_per_mm: float
    conditions: dict
    forgery: dict | None
    labels: dict

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _imprint_layers(st: Stamping, dpi: float, shape: tuple[int, int], centre: tuple[float, float],
                    rng: np.random.Generator) -> tuple[list[InkLayer], np.ndarray]:
    """Ink layers of one imprint on a local canvas, and the relief coverage (ground truth)."""
    density, relief = stamp(st.face, st.conditions, dpi=dpi, shape=shape, centre=centre)
    if st.forgery is not None and st.forgery.kind == "printed":
        layers, params = print_imitation(density, dpi, rng)
        st.forgery.params.update(params)
        return layers, relief
    return [InkLayer(density, INKS[st.ink])], relief


@functools.cache
def _hanzi() -> list[str]:
    return [c for c in charset() if 0x4E00 <= ord(c) <= 0x9FFF]


def _random_text(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(_hanzi(), n))


def _outline_points(design, centre, angle, px_per_mm, n=72) -> np.ndarray:
    w, h = design.extent
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    if design.border.shape == "rect":
        k = np.maximum(np.abs(np.cos(t)), np.abs(np.sin(t)))
        x, y = w / 2 * np.cos(t) / k, h / 2 * np.sin(t) / k
    else:
        x, y = w / 2 * np.cos(t), h / 2 * np.sin(t)
    a = math.radians(angle)
    c, s = math.cos(a), math.sin(a)
    return np.stack([centre[0] + px_per_mm * (x * c + y * s),
                     centre[1] + px_per_mm * (-x * s + y * c)], 1)


def _place(page: np.ndarray, layers: list[InkLayer], relief: np.ndarray, x0: int, y0: int
           ) -> float:
    """Print local layers onto ``page`` at offset (x0, y0), clipped; returns the fraction of
    the relief that landed on the page."""
    h, w = relief.shape
    ph, pw = page.shape[:2]
    ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + w, pw), min(y0 + h, ph)
    if ax1 <= ax0 or ay1 <= ay0:
        return 0.0
    sl = (slice(ay0 - y0, ay1 - y0), slice(ax0 - x0, ax1 - x0))
    region = page[ay0:ay1, ax0:ax1]
    page[ay0:ay1, ax0:ax1] = compose(region, [InkLayer(lay.density[sl], lay.colour)
                                              for lay in layers])
    total = float(relief.sum())
    return float(relief[sl].sum()) / total if total > 0 else 0.0


def _truths(stampings, placements, capture: Capture, dpi: float, image_hw) -> list[ImprintTruth]:
    hmat = np.array(capture.homography, np.float64)
    px = dpi / MM_PER_INCH
    out = []
    for st, (centre, visible) in zip(stampings, placements, strict=True):
        design = st.face.design
        c = st.conditions
        pts = _outline_points(design, centre, c.angle, px * c.swell)
        pre_h, pre_w = image_hw
        pts[:, 0] = np.clip(pts[:, 0], 0, pre_w)
        pts[:, 1] = np.clip(pts[:, 1], 0, pre_h)
        mapped = cv2.perspectiveTransform(pts[None].astype(np.float64), hmat)[0]
        cen = cv2.perspectiveTransform(np.array([[centre]], np.float64), hmat)[0, 0]
        box = (*mapped.min(0).tolist(), *mapped.max(0).tolist())
        out.append(ImprintTruth(
            seal_id=st.seal_id, claimed_seal_id=st.claimed_seal_id,
            seal_kind=design.spec.kind, ink=st.ink,
            centre=(float(cen[0]), float(cen[1])),
            axes=(design.extent[0] / 2 * px * c.swell, design.extent[1] / 2 * px * c.swell),
            angle=c.angle, box=tuple(round(v, 2) for v in box), visible=round(visible, 4),
            px_per_mm=px * c.swell, conditions=c.to_json(),
            forgery=st.forgery.to_json() if st.forgery else None, labels=st.labels))
    return out


def imprint_scene(st: Stamping, *, dpi: float, rng: np.random.Generator,
                  capture: Capture | None = None, clutter: bool = True, margin_mm: float = 6.0
                  ) -> tuple[np.ndarray, ImprintTruth]:
    """One imprint on a piece of paper, cropped around it and captured."""
    capture = capture or Capture("scan")
    if capture.mode == "phone":  # a close-up frames the seal with paper round it to spare
        margin_mm = max(margin_mm, 14.0)
    side = canvas_for(st.face.design, dpi, margin_mm=margin_mm)[0]
    px = dpi / MM_PER_INCH
    base = paper((side, side), dpi, rng)
    if clutter:
        ink_layers = []
        if rng.random() < 0.6:
            # a few lines of body text: a seal goes near the signature, over the last lines
            size = rng.uniform(3.2, 4.5) * px
            pitch = size * rng.uniform(1.6, 2.2)
            top = rng.uniform(-0.2, 0.6) * side
            bottom = top + rng.uniform(0.3, 1.0) * side
            lines = [(rng.uniform(-side * 0.1, side * 0.1), y, _random_text(rng, 60))
                     for y in np.arange(max(top, size / 2), min(bottom, side), pitch)]
            ink_layers.append(InkLayer(text_density((side, side), lines, size), TEXT_BLACK))
        if rng.random() < 0.35:
            x0, y0 = rng.uniform(0, side * 0.4), rng.uniform(side * 0.2, side * 0.6)
            ink_layers.append(InkLayer(signature_density(
                (side, side), (x0, y0, x0 + side * 0.5, y0 + side * 0.25), dpi, rng),
                (20, 24, 60)))
        base = compose(base, ink_layers)
    jitter = rng.uniform(-2, 2, 2) * px
    centre = (side / 2 + jitter[0], side / 2 + jitter[1])
    local = canvas_for(st.face.design, dpi, margin_mm=1.0)[0]
    x0, y0 = int(round(centre[0] - local / 2)), int(round(centre[1] - local / 2))
    layers, relief = _imprint_layers(st, dpi, (local, local), (centre[0] - x0, centre[1] - y0),
                                     rng)
    # Whether the seal went on before or after the text makes no difference to translucent
    # inks (they multiply); the draw is kept so that every seed gives the images it always has.
    rng.random()
    visible = _place(base, layers, relief, x0, y0)
    image, capture = acquire(base, capture, dpi, rng, fill_frame=True)
    truth = _truths([st], [(centre, visible)], capture, dpi, (side, side))[0]
    return image, truth


def page_scene(stampings: list[Stamping], *, dpi: float, rng: np.random.Generator,
               capture: Capture | None = None) -> tuple[np.ndarray, list[ImprintTruth], Capture]:
    """An A4 page with text, maybe a table, signatures and the given imprints.

    Each stamping's ``labels["placement"]`` may ask for ``edge`` (a cross-page half at the
    right or left edge), ``overlap`` (overlapping the previous imprint) or ``on`` (on the
    previous imprint's middle); otherwise it lands in the lower part of the page, where seals
    go.
    """
    px = dpi / MM_PER_INCH
    h, w = int(round(A4_MM[1] * px)), int(round(A4_MM[0] * px))
    page = paper((h, w), dpi, rng)
    size = rng.uniform(3.5, 4.2) * px  # 10 to 12 pt
    pitch = size * rng.uniform(1.6, 2.0)
    left = 25 * px
    lines = [(left + size, 30 * px, _random_text(rng, int(rng.integers(6, 14))))]
    y = 30 * px + 2 * pitch
    while y < h * rng.uniform(0.55, 0.75):
        n = int((w - 2 * left) / (size * 1.05))
        lines.append((left + size / 2, y, _random_text(rng, int(n * rng.uniform(0.5, 1.0)))))
        y += pitch
    text = text_density((h, w), lines, size)
    ink = [InkLayer(text, TEXT_BLACK)]
    if rng.random() < 0.4:  # a table under the text
        table = np.zeros((h, w), np.float32)
        ty0 = int(y + pitch)
        rows, cols = int(rng.integers(3, 6)), int(rng.integers(3, 6))
        ty1 = min(h - int(60 * px), ty0 + int(rows * 9 * px))
        for yy in np.linspace(ty0, ty1, rows + 1):
            cv2.line(table, (int(left), int(yy)), (int(w - left), int(yy)), 1.0,
                     max(1, int(0.25 * px)))
        for xx in np.linspace(left, w - left, cols + 1):
            cv2.line(table, (int(xx), ty0), (int(xx), ty1), 1.0, max(1, int(0.25 * px)))
        ink.append(InkLayer(table, TEXT_BLACK))
    for _ in range(int(rng.integers(1, 3))):
        sx, sy = rng.uniform(0.1, 0.6) * w, rng.uniform(0.72, 0.9) * h
        ink.append(InkLayer(signature_density((h, w), (sx, sy, sx + 40 * px, sy + 15 * px),
                                              dpi, rng), (20, 24, 60)))
    page = compose(page, ink)
    placements = []
    for i, st in enumerate(stampings):
        design = st.face.design
        local = canvas_for(design, dpi, margin_mm=1.0)[0]
        radius = max(design.extent) / 2 * px
        where = st.labels.get("placement", "normal")
        if where == "edge":
            side = rng.choice([-1, 1])
            cx = (w if side > 0 else 0) + side * rng.uniform(-0.6, 0.2) * radius
            cy = rng.uniform(0.2, 0.8) * h
        elif where == "on" and placements:
            # on the middle of the previous imprint (a name seal stamped on a round seal)
            pc = placements[-1][0]
            cx, cy = (pc[0] + rng.uniform(-0.15, 0.15) * radius,
                      pc[1] + rng.uniform(-0.15, 0.15) * radius)
        elif where == "overlap" and placements:
            pc = placements[-1][0]
            t = rng.uniform(0, 2 * np.pi)
            dist = rng.uniform(0.5, 1.2) * radius
            cx, cy = pc[0] + dist * math.cos(t), pc[1] + dist * math.sin(t)
            cx, cy = float(np.clip(cx, radius, w - radius)), float(np.clip(cy, radius, h - radius))
        else:
            for _ in range(50):  # keep apart from the imprints already placed
                cx = rng.uniform(radius + 10 * px, w - radius - 10 * px)
                cy = rng.uniform(0.45 * h, h - radius - 12 * px)
                if all(math.dist((cx, cy), p[0]) > 2.1 * radius for p in placements):
                    break
        centre = (float(cx), float(cy))
        x0, y0 = int(round(cx - local / 2)), int(round(cy - local / 2))
        layers, relief = _imprint_layers(st, dpi, (local, local), (cx - x0, cy - y0), rng)
        placements.append((centre, _place(page, layers, relief, x0, y0)))
        del i
    capture = capture or sample_capture(rng)
    image, capture = acquire(page, capture, dpi, rng)
    return image, _truths(stampings, placements, capture, dpi, (h, w)), capture


def genuine_stamping(face: SealFace, rng: np.random.Generator, *, ink: str, seal_id: str,
                     quality: str = "typical", claimed: str | None = None, **labels
                     ) -> Stamping:
    return Stamping(face, sample_conditions(rng, quality), ink, seal_id,
                    claimed if claimed is not None else seal_id, None, dict(labels))
