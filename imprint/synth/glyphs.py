"""Glyph outlines from the bundled Song typefaces, as polygons in a normalised cell.

Convention: a glyph outline is a tuple of closed contours, each an ``(K, 2) float64`` array of
``(x, y)`` points with x to the right and y downward, in units of the typeface's *cell*: the
bounding box of the reference character 国 maps to the square ``[-0.5, 0.5] x [-0.5, 0.5]``.
An engraver fills a seal's character cells with the full face of the type, so the full-size
character of every typeface fills the same cell, and a narrower character (一, 1, 丨) keeps its
proportion inside it. Fill with the non-zero winding rule: some typefaces draw strokes as
overlapping contours.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fontTools.pens.basePen import BasePen
from fontTools.ttLib import TTFont

from imprint.errors import InvalidParameterError, ResourceError

FONT_DIR = Path(__file__).resolve().parents[2] / "data" / "fonts"

#: The bundled typefaces by short name. The first is the registry's default Song face; a
#: re-carved imitation is usually cut in one of the others.
TYPEFACES: dict[str, str] = {
    "noto-serif-sc": "NotoSerifCJKsc-Regular-subset.otf",
    "uming": "uming-subset.ttf",
    "gbsn": "gbsn00lp-subset.ttf",
}

REFERENCE_CHAR = "国"  # full-face hanzi whose box defines the cell
REFERENCE_DIGIT = "0"  # for ASCII: the digit height defines the cell height
CURVE_STEP = 0.02  # flatten Bézier curves into chords of at most this many cell units


@dataclass(frozen=True)
class GlyphOutline:
    """One character's outline in cell units (see the module docstring for the convention)."""

    char: str
    typeface: str
    contours: tuple[np.ndarray, ...]


class _FlattenPen(BasePen):
    """Records a glyph as polylines, flattening quadratic and cubic segments."""

    def __init__(self, glyph_set, step_units: float):
        super().__init__(glyph_set)
        self.step = step_units
        self.contours: list[list[tuple[float, float]]] = []
        self._current: list[tuple[float, float]] = []

    def _moveTo(self, pt):
        self._current = [pt]

    def _lineTo(self, pt):
        self._current.append(pt)

    def _segments(self, length: float) -> int:
        return max(2, min(24, math.ceil(length / self.step)))

    def _curveToOne(self, p1, p2, p3):
        p0 = self._current[-1]
        n = self._segments(math.dist(p0, p1) + math.dist(p1, p2) + math.dist(p2, p3))
        for t in np.linspace(0.0, 1.0, n + 1)[1:]:
            u = 1.0 - t
            self._current.append(
                (
                    u**3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t**3 * p3[0],
                    u**3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t**3 * p3[1],
                )
            )

    def _qCurveToOne(self, p1, p2):
        p0 = self._current[-1]
        n = self._segments(math.dist(p0, p1) + math.dist(p1, p2))
        for t in np.linspace(0.0, 1.0, n + 1)[1:]:
            u = 1.0 - t
            self._current.append(
                (
                    u * u * p0[0] + 2 * u * t * p1[0] + t * t * p2[0],
                    u * u * p0[1] + 2 * u * t * p1[1] + t * t * p2[1],
                )
            )

    def _closePath(self):
        if len(self._current) >= 3:
            self.contours.append(self._current)
        self._current = []

    _endPath = _closePath


@functools.lru_cache(maxsize=8)
def _font(typeface: str) -> TTFont:
    if typeface not in TYPEFACES:
        raise InvalidParameterError(
            f"unknown typeface {typeface!r}; choose one of {', '.join(TYPEFACES)}"
        )
    path = FONT_DIR / TYPEFACES[typeface]
    if not path.is_file():
        raise ResourceError(f"bundled font {path} is missing; the checkout is incomplete")
    return TTFont(str(path), lazy=True)


def _raw_contours(typeface: str, char: str, step_units: float) -> list[np.ndarray]:
    font = _font(typeface)
    name = font.getBestCmap().get(ord(char))
    if name is None:
        raise InvalidParameterError(f"typeface {typeface!r} has no glyph for {char!r}")
    pen = _FlattenPen(font.getGlyphSet(), step_units)
    font.getGlyphSet()[name].draw(pen)
    return [np.asarray(c, dtype=np.float64) for c in pen.contours]


@functools.lru_cache(maxsize=16)
def _cell(typeface: str, kind: str) -> tuple[float, float, float, float]:
    """(x_centre, y_centre, width, height) of the cell in font units, y upward."""
    font = _font(typeface)
    upm = font["head"].unitsPerEm
    ref = REFERENCE_CHAR if kind == "hanzi" else REFERENCE_DIGIT
    pts = np.concatenate(_raw_contours(typeface, ref, upm / 50))
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    if kind == "hanzi":
        return (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    # ASCII: the cell is as tall as a digit and as wide as it is tall, centred on the digit;
    # narrow characters keep their own width inside it.
    return (x0 + x1) / 2, (y0 + y1) / 2, y1 - y0, y1 - y0


def _is_ascii_like(char: str) -> bool:
    return ord(char) < 0x2E80 or 0xFF00 <= ord(char) <= 0xFFEF


@functools.lru_cache(maxsize=8192)
def glyph_outline(typeface: str, char: str) -> GlyphOutline:
    """Outline of ``char`` in ``typeface``, in cell units.

    Parameters
    ----------
    typeface : str
        A key of :data:`TYPEFACES`.
    char : str
        One character present in the bundled subset (``data/fonts/charset.txt``).

    Returns
    -------
    GlyphOutline
        Contours as ``(K, 2) float64`` arrays, ``(x, y)``, y downward, the reference
        character's box mapped to ``[-0.5, 0.5]^2``. A space gives no contours.
    """
    if len(char) != 1:
        raise InvalidParameterError(f"expected one character, got {char!r}")
    kind = "ascii" if _is_ascii_like(char) else "hanzi"
    cx, cy, w, h = _cell(typeface, kind)
    contours = []
    for c in _raw_contours(typeface, char, CURVE_STEP * max(w, h)):
        xy = np.empty_like(c)
        xy[:, 0] = (c[:, 0] - cx) / w
        xy[:, 1] = -(c[:, 1] - cy) / h  # font y is upward, ours downward
        contours.append(xy)
    return GlyphOutline(char=char, typeface=typeface, contours=tuple(contours))


@functools.cache
def charset() -> str:
    """Every character the bundled typefaces all cover."""
    path = FONT_DIR / "charset.txt"
    if not path.is_file():
        raise ResourceError(f"{path} is missing; the checkout is incomplete")
    return path.read_text(encoding="utf-8").strip()
