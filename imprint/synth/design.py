"""Seal designs: what is carved on a seal's face, in millimetres.

Convention: the seal frame has its origin at the centre of the seal face as it prints (the
imprint, not the mirrored rubber), x to the right, y downward, lengths in mm. Positions on a
ring are given as a *clock angle*: degrees clockwise from 12 o'clock. A glyph's ``angle`` is
the direction its "up" points, as a clock angle (0 = upright; a character on the name arc at
clock angle 90 has angle 90, its top pointing outward to the right).

The layout numbers follow the State Council rule on seals and common practice (see
``SEAL_KINDS``); everything a forger may get wrong is an explicit field, so a forgery is a
design with some fields changed and the change can be stated exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from imprint.errors import InvalidParameterError

INKS: dict[str, tuple[int, int, int]] = {
    # sRGB reflectance of a saturated layer of each ink on white paper
    "red": (206, 32, 44),
    "blue": (34, 66, 168),
    "violet": (112, 44, 140),
}

SEAL_KINDS = ("round_official", "round_government", "oval_invoice", "square_name")

#: Business lines of special-purpose seals (专用章).
BUSINESS_LINES = ("合同专用章", "财务专用章", "发票专用章", "业务专用章", "人事专用章")


@dataclass(frozen=True)
class Glyph:
    """One carved character.

    ``centre`` (x, y) mm in the seal frame; ``size`` (width, height) mm of its cell; ``angle``
    the clock angle its top points to; ``role`` which text line it belongs to
    (``name``, ``business``, ``code``, ``tax``, ``person``); ``index`` its position in that line.
    """

    char: str
    typeface: str
    centre: tuple[float, float]
    size: tuple[float, float]
    angle: float
    role: str
    index: int


@dataclass(frozen=True)
class Border:
    """The outer border line: ``shape`` circle, ellipse or rect; ``outer`` (width, height) mm
    of its outer edge; ``line`` its width in mm; ``corner`` radius of a rect's corners."""

    shape: str
    outer: tuple[float, float]
    line: float
    corner: float = 0.0


@dataclass(frozen=True)
class Star:
    """A five-pointed star: ``diameter`` mm tip to tip (circumscribed circle), ``angle`` the
    clock angle of the top point, ``inner_ratio`` inner to outer vertex radius."""

    centre: tuple[float, float]
    diameter: float
    angle: float = 0.0
    inner_ratio: float = 0.382


@dataclass(frozen=True)
class SealSpec:
    """What the registry files about a seal's face: its kind and its words."""

    kind: str
    unit_name: str
    business_line: str = ""
    number: int | None = None  # the Arabic numeral of numbered siblings: 合同专用章(1)
    code: str = ""  # 13-digit seal code engraved along the bottom edge
    tax_number: str = ""  # 18-character unified code across an invoice seal
    person_name: str = ""  # square name seals: 2 to 4 characters
    diameter: float = 42.0  # mm; the width of an oval or square seal
    ink: str = "red"

    def __post_init__(self):
        if self.kind not in SEAL_KINDS:
            raise InvalidParameterError(
                f"unknown seal kind {self.kind!r}; choose one of {', '.join(SEAL_KINDS)}"
            )
        if self.ink not in INKS:
            raise InvalidParameterError(
                f"unknown ink {self.ink!r}; choose one of {', '.join(INKS)}")


@dataclass(frozen=True)
class SealDesign:
    """The full face of one seal: border, star and every glyph, in the seal frame (mm)."""

    spec: SealSpec
    border: Border
    star: Star | None
    glyphs: tuple[Glyph, ...]
    typeface: str
    extent: tuple[float, float] = field(default=(0.0, 0.0))  # (width, height) mm of the face
    stroke_weight: float = 0.08  # mm added to each side of every glyph stroke when cut

    @property
    def text(self) -> str:
        return "".join(g.char for g in self.glyphs)


def clock_to_xy(clock_deg: float, radius: float) -> tuple[float, float]:
    """Point at ``radius`` mm and clock angle ``clock_deg`` in the seal frame."""
    t = math.radians(clock_deg)
    return radius * math.sin(t), -radius * math.cos(t)


def _arc_glyphs(
    text: str,
    typeface: str,
    *,
    radius: float,
    span: float,
    centre_clock: float,
    height: float,
    width: float,
    role: str,
    outward: bool = True,
) -> list[Glyph]:
    """Characters evenly spaced on an arc, read clockwise (outward) or counter-clockwise
    (inward, the code arc at the bottom read left to right)."""
    n = len(text)
    step = span / (n - 1) if n > 1 else 0.0
    glyphs = []
    for i, ch in enumerate(text):
        if outward:
            clock = centre_clock - span / 2 + i * step
            angle = clock
        else:
            clock = centre_clock + span / 2 - i * step
            angle = clock + 180.0
        glyphs.append(
            Glyph(ch, typeface, clock_to_xy(clock, radius), (width, height), angle % 360, role, i)
        )
    return glyphs


def _row_glyphs(
    text: str, typeface: str, *, y: float, height: float, width: float, pitch: float, role: str
) -> list[Glyph]:
    """Upright characters on a horizontal line centred on x = 0."""
    n = len(text)
    return [
        Glyph(ch, typeface, ((i - (n - 1) / 2) * pitch, y), (width, height), 0.0, role, i)
        for i, ch in enumerate(text)
    ]


def _ascii_width(ch: str, width: float) -> float:
    return width * (0.5 if ord(ch) < 128 else 1.0)


def _business_text(spec: SealSpec) -> str:
    return spec.business_line + (f"({spec.number})" if spec.number is not None else "")


def _business_row(text: str, typeface: str, *, y: float, height: float, max_width: float):
    """A business line whose ASCII characters (the number's brackets and digit) are half-width."""
    widths = [_ascii_width(c, height * 0.8) for c in text]
    scale = min(1.0, max_width / (sum(widths) * 1.1))
    widths = [w * scale for w in widths]
    gap = 0.1 * height * scale
    total = sum(widths) + gap * (len(text) - 1)
    x = -total / 2
    glyphs = []
    for i, (ch, w) in enumerate(zip(text, widths, strict=True)):
        glyphs.append(Glyph(ch, typeface, (x + w / 2, y), (w, height), 0.0, "business", i))
        x += w + gap
    return glyphs


def name_arc_span(n_chars: int) -> float:
    """Arc span in degrees of an n-character name on a round seal: longer names wrap further
    round, from about 200 degrees for 6 characters to 290 for 24."""
    return float(np.clip(170.0 + 5.0 * n_chars, 200.0, 290.0))


def layout(spec: SealSpec, typeface: str = "noto-serif-sc") -> SealDesign:
    """Lay out a seal face from its spec, as a licensed engraver would.

    Returns
    -------
    SealDesign
        Geometry in mm in the seal frame (see module docstring).
    """
    if spec.kind in ("round_official", "round_government"):
        return _layout_round(spec, typeface)
    if spec.kind == "oval_invoice":
        return _layout_oval(spec, typeface)
    return _layout_square(spec, typeface)


def _layout_round(spec: SealSpec, typeface: str) -> SealDesign:
    d = spec.diameter
    if not 30.0 <= d <= 70.0:
        raise InvalidParameterError(f"round seal diameter {d} mm outside 30..70 mm")
    s = d / 42.0  # every other dimension scales with the diameter from the 42 mm standard
    border = Border("circle", (d, d), 1.2 if d <= 45 else 1.5)
    star = Star((0.0, 0.0), 14.0 * s)
    inner = d / 2 - border.line
    name = spec.unit_name
    height = 6.6 * s
    span = name_arc_span(len(name))
    if spec.code:  # leave the bottom to the code arc
        span = min(span, 250.0)
    r_name = inner - 0.7 * s - height / 2
    # the cells must not touch at their inner (narrower) edge
    step_inner = math.radians(span / max(len(name) - 1, 1)) * (r_name - height / 2)
    width = float(np.clip(step_inner * 0.9, 2.4 * s, 5.8 * s))
    glyphs = _arc_glyphs(
        name, typeface, radius=r_name, span=span, centre_clock=0.0,
        height=height, width=width, role="name",
    )
    business = _business_text(spec)
    if business:
        glyphs += _business_row(business, typeface, y=10.6 * s, height=4.4 * s, max_width=17 * s)
    if spec.code:
        h_code = 2.3 * s
        r_code = inner - 0.5 * s - h_code / 2
        glyphs += _arc_glyphs(
            spec.code, typeface, radius=r_code, span=5.2 * (len(spec.code) - 1) / s,
            centre_clock=180.0, height=h_code, width=1.5 * s, role="code", outward=False,
        )
    return SealDesign(spec, border, star, tuple(glyphs), typeface, (d, d))


def ellipse_point(a: float, b: float, t: float) -> tuple[float, float]:
    """Point of the ellipse with semi-axes a (x) and b (y) at clock parameter t (degrees)."""
    r = math.radians(t)
    return a * math.sin(r), -b * math.cos(r)


def _layout_oval(spec: SealSpec, typeface: str) -> SealDesign:
    w, h = spec.diameter, spec.diameter * 0.75  # 40 x 30 mm
    s = w / 40.0
    border = Border("ellipse", (w, h), 1.0 * s)
    height = 4.4 * s
    a, b = w / 2 - border.line - 0.6 * s - height / 2, h / 2 - border.line - 0.6 * s - height / 2
    # Equal spacing along the ellipse's arc length between clock angles -100 and 100, above
    # the ends of the tax number.
    ts = np.linspace(-100.0, 100.0, 721)
    pts = np.array([ellipse_point(a, b, t) for t in ts])
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    name = spec.unit_name
    n = len(name)
    targets = np.linspace(arc[-1] * 0.02, arc[-1] * 0.98, n)
    step = (targets[1] - targets[0]) if n > 1 else arc[-1]
    width = float(np.clip(step * 0.86, 2.2 * s, 4.2 * s))
    glyphs = []
    for i, (ch, target) in enumerate(zip(name, targets, strict=True)):
        t = float(np.interp(target, arc, ts))
        x, y = ellipse_point(a, b, t)
        # the glyph's top points along the outward normal of the ellipse
        nx, ny = x / a**2, y / b**2
        angle = math.degrees(math.atan2(nx, -ny)) % 360
        glyphs.append(Glyph(ch, typeface, (x, y), (width, height), angle, "name", i))
    if spec.tax_number:
        pitch = 1.45 * s
        glyphs += _row_glyphs(
            spec.tax_number, typeface, y=0.8 * s, height=3.0 * s, width=1.3 * s,
            pitch=pitch, role="tax",
        )
    business = _business_text(spec) or "发票专用章"
    glyphs += _business_row(business, typeface, y=7.4 * s, height=3.8 * s, max_width=18 * s)
    return SealDesign(spec, border, None, tuple(glyphs), typeface, (w, h))


def _layout_square(spec: SealSpec, typeface: str) -> SealDesign:
    name = spec.person_name
    if not 2 <= len(name) <= 4:
        raise InvalidParameterError(f"a square name seal has 2 to 4 characters, got {name!r}")
    side = spec.diameter if spec.diameter <= 30 else 18.0
    border = Border("rect", (side, side), 1.0, corner=0.4)
    inner = side - 2 * border.line - 2 * 0.5
    half = inner / 2
    q = half / 2
    # Read right column top to bottom, then the left column.
    cells = {
        2: [((q, 0.0), (half, inner)), ((-q, 0.0), (half, inner))],
        3: [((q, 0.0), (half, inner)), ((-q, -q), (half, half)), ((-q, q), (half, half))],
        4: [((q, -q), (half, half)), ((q, q), (half, half)), ((-q, -q), (half, half)),
            ((-q, q), (half, half))],
    }[len(name)]
    glyphs = tuple(
        Glyph(ch, typeface, c, (sz[0] * 0.94, sz[1] * 0.94), 0.0, "person", i)
        for i, (ch, (c, sz)) in enumerate(zip(name, cells, strict=True))
    )
    return SealDesign(spec, border, None, glyphs, typeface, (side, side))


def with_glyphs(design: SealDesign, glyphs) -> SealDesign:
    return replace(design, glyphs=tuple(glyphs))
