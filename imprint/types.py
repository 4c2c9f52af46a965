"""The records passed between stages. Frozen; arrays inside have documented shape and range.

Conventions: page pixels ``(x, y)``, origin at the top-left corner of the top-left pixel, x
right, y down (a pixel centre is at integer + 0.5). Angles in degrees, counter-clockwise as
seen on the page. Lengths in page pixels unless the name says ``_mm``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES = ("round", "oval", "square")
COLOURS = ("red", "blue", "violet", "grey")


@dataclass(frozen=True)
class Detection:
    """One imprint found on a page.

    ``box`` (x0, y0, x1, y1) of its visible part; ``centre`` (x, y) and ``axes`` (semi-axes
    along the border's own major and minor direction) of the fitted outer border, ``angle`` the
    major axis direction (deg, counter-clockwise from +x); ``shape`` one of :data:`SHAPES`,
    ``colour`` one of :data:`COLOURS`; ``confidence`` in [0, 1]; ``visible`` the fraction of the
    border inside the page (cross-page halves are < 1); ``page`` the page index.
    """

    box: tuple[float, float, float, float]
    centre: tuple[float, float]
    axes: tuple[float, float]
    angle: float
    shape: str
    colour: str
    confidence: float
    visible: float
    page: int = 0


@dataclass(frozen=True)
class Geometry:
    """Where the canonical imprint came from.

    ``homography`` (3, 3) maps canonical pixels -> page pixels (apply to ``(u, v, 1)``).
    ``centre`` (x, y) page px of the seal's centre; ``axes`` (a, b) page px of the outer
    border; ``rotation`` the seal's orientation on the page: degrees counter-clockwise from
    upright (canonical = the page image turned clockwise by this much); ``scale`` page px per
    canonical px along the major axis; ``size_mm`` (width, height) of the outer border when
    the dpi is known.
    """

    centre: tuple[float, float]
    axes: tuple[float, float]
    rotation: float
    scale: float
    homography: np.ndarray
    size_mm: tuple[float, float] | None


@dataclass(frozen=True)
class Quality:
    """How much the imprint can be trusted. All fractions in [0, 1]; ``blur`` in canonical px
    (edge spread, larger is blurrier)."""

    border_visible: float
    ink_coverage: float
    blur: float
    occluded: float


@dataclass(frozen=True)
class RectifiedImprint:
    """One imprint, centred, scaled and turned upright.

    ``ink`` ``(S, S) float32 in [0, 1]``: ink density of the seal in the canonical frame (the
    outer border's edge on the circle of radius ``CANONICAL_RADIUS`` around the centre);
    ``occlusion`` ``(S, S) bool``: where black text or signatures cover it (ink unknown there);
    ``detection`` what it was cut from.
    """

    ink: np.ndarray
    occlusion: np.ndarray
    geometry: Geometry
    quality: Quality
    detection: Detection
