"""The records passed between stages. Frozen; arrays inside have documented shape and range.

Conventions: page pixels ``(x, y)``, origin at the top-left corner of the top-left pixel, x
right, y down (a pixel centre is at integer + 0.5). Angles in degrees, counter-clockwise as
seen on the page. Lengths in page pixels unless the name says ``_mm``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    border inside the page (cross-page halves are < 1; on a sliver of a seal stamped across
    fanned-out sheets, inside the band of the sheet that took ink, :mod:`imprint.slivers`);
    ``page`` the page index;
    ``horizon`` the photographed sheet's vanishing line ``(a, b, c)`` in page px where one
    was seen (:mod:`imprint.sheet`), which rectification uses to undo the perspective;
    ``sheet_sides`` the two points ``(x, y, w)`` (homogeneous page px) where the photographed
    sheet's opposite sides meet (``w`` 0: parallel on the photograph), where its outline was
    seen: the sheet's own directions, against which rectification records the imprint's turn;
    ``scatter`` True where it was found only as a starved seal's scatter of faint dots, too
    faint for any ink mask (:func:`imprint.segment.detect_imprints`): its strokes are too
    faint to be compared with a master's.
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
    horizon: tuple[float, float, float] | None = None
    sheet_sides: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    scatter: bool = False


@dataclass(frozen=True)
class Geometry:
    """Where the canonical imprint came from.

    ``homography`` (3, 3) maps canonical pixels -> page pixels (apply to ``(u, v, 1)``).
    ``centre`` (x, y) page px of the seal's centre; ``axes`` (a, b) page px of the outer
    border; ``rotation`` the seal's orientation on the page: degrees counter-clockwise from
    upright (canonical = the page image turned clockwise by this much; on a photographed
    sheet whose outline was seen, against the sheet's sides rather than the photograph's
    frame, see :attr:`Detection.sheet_sides`); ``scale`` page px per
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
    #: False where black print could not be told from the seal's ink (a fax prints both
    #: black): print crossing the imprint then reads as its ink, and ``occluded`` says nothing
    print_told_apart: bool = True
    #: pixel-to-pixel change of the ink's colour inside the strokes, over its density
    #: (:func:`imprint.ink.colour_jitter`): process-colour dots of a printer; None without
    #: colour
    colour_jitter: float | None = None
    #: how periodic the ink is at the capture's resolution (log10 of its spectrum's strongest
    #: peak over the typical power at that frequency, :func:`imprint.ink.dot_periodicity`):
    #: a printer's halftone or dither; None on grey copies and faxes (a copier's or fax's
    #: own screen) or with too little ink
    dot_periodicity: float | None = None


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


# --- forensic comparison of a query imprint with a master -----------------------------------

VERDICTS = ("genuine", "suspected_forgery", "different_seal", "inconclusive")


@dataclass(frozen=True)
class Alignment:
    """How the query imprint was laid on the master, both in the canonical frame.

    ``warp`` (3, 3) maps master canonical px -> query canonical px (the query is resampled
    through it). ``rotation`` degrees counter-clockwise of the query against the master,
    ``scale`` query size / master size after rectification, ``shift`` (dx, dy) canonical px.
    ``correlation`` normalised correlation of the aligned ink maps in [-1, 1], over the pixels
    known in both. ``elastic_mm`` the largest smooth (rubber) displacement that was allowed
    for, in mm (measured with the local shifts: 0 from the registration alone, set by
    :func:`imprint.compare.compare`). ``query_ink`` (S, S) float32 the query's ink resampled
    into the master's frame;
    ``unknown`` (S, S) bool where the comparison has no data: occluded in either imprint,
    off the query's page, or outside the seal.
    """

    warp: np.ndarray
    rotation: float
    scale: float
    shift: tuple[float, float]
    correlation: float
    elastic_mm: float
    query_ink: np.ndarray
    unknown: np.ndarray


@dataclass(frozen=True)
class Displacement:
    """The local shift of the query against the master in one patch, after the global
    alignment and the smooth elastic allowance: ``centre`` (x, y) master canonical px,
    ``clock`` the patch's direction from the seal's centre (degrees clockwise from 12
    o'clock), ``shift`` (dx, dy) canonical px, ``shift_mm`` its length in mm, ``weight`` in
    [0, 1] how well the patch's content fixes the shift (1: clear strokes both ways)."""

    centre: tuple[float, float]
    clock: float
    shift: tuple[float, float]
    shift_mm: float
    weight: float


@dataclass(frozen=True)
class SubScore:
    """One named piece of evidence. ``value`` in ``unit``; ``threshold`` the value at which it
    alone would flag the imprint; ``flags`` whether it does; ``forgery_side`` "above" or
    "below": which side of the threshold points to a forgery; ``meaning`` one line for the
    report."""

    name: str
    value: float
    threshold: float
    unit: str
    forgery_side: str
    flags: bool
    meaning: str


@dataclass(frozen=True)
class Measurement:
    """A measured feature of both imprints, in ``unit`` (mm or degrees when the physical
    scale is known, otherwise canonical px); ``query`` None where it could not be measured."""

    name: str
    master: float | None
    query: float | None
    unit: str

    @property
    def difference(self) -> float | None:
        if self.master is None or self.query is None:
            return None
        return self.query - self.master


@dataclass(frozen=True)
class Evidence:
    """Everything measured on an aligned pair.

    ``scores`` the named sub-scores; ``measurements`` the table of geometry; ``displacements``
    the local shifts per patch; ``difference`` (S, S) float32 query ink minus master ink in
    the master's frame, NaN where unknown; ``deformation_percent`` the GA 241.8 deformation
    of the query against the master, ``deformation_band`` "valid" (<= 2 %), "suspect"
    (2-4 %) or "invalid" (> 4 %); ``features`` the raw values the calibrated score is
    computed from, by name.
    """

    scores: tuple[SubScore, ...]
    measurements: tuple[Measurement, ...]
    displacements: tuple[Displacement, ...]
    difference: np.ndarray
    deformation_percent: float
    deformation_band: str
    features: dict


@dataclass(frozen=True)
class Comparison:
    """A query imprint compared with a master: the verdict (one of :data:`VERDICTS`), the
    calibrated ``score`` (probability that the query comes from the master's seal, at even
    prior odds) and ``log10_lr`` (log10 of the likelihood ratio, same seal against forgery or
    other seal), the ``reasons`` in words, and all that led there; ``against_forgeries`` the
    log10 LR against each kind of forgery by name (empty where the verdict did not rest on
    them: another seal, too little to decide)."""

    verdict: str
    score: float
    log10_lr: float
    reasons: tuple[str, ...]
    alignment: Alignment
    evidence: Evidence
    master: RectifiedImprint
    query: RectifiedImprint
    against_forgeries: dict = field(default_factory=dict)
