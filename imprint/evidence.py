"""Measure the differences between a questioned imprint and its master, once aligned.

What an examiner looks at, as numbers (:data:`FEATURES`, each explained there):

- stroke agreement both ways, tolerant of the amount of ink: query ink where the master has
  none says "another seal"; master strokes missing from the query may be starved ink only;
- local shifts patch by patch after the elastic allowance (:func:`imprint.align.local_shifts`):
  a re-carved seal has characters elsewhere, a genuine imprint has almost none;
- geometry in mm: outer size (when both dpi are known), border width, a round seal's star
  (its size and turn against the master's; shown, not weighed);
- how the ink was laid: edge sharpness against the master's, the ink at stroke edges against
  their cores (a rubber stamp leaves darker edges; a printer lays flat colour), how unevenly
  the ink lies over the seal (a stamp's pressure against a printer's flat colour), fine
  texture and periodic dot patterns (halftone or dither of a printed imitation), the ink's colour
  changing from dot to dot (a colour printer's magenta and yellow screens; measured and
  shown, not yet weighed);
- the query's quality (border visible, occluded, blur), which decides whether any of it can
  be trusted.

Everything here is a measurement; :mod:`imprint.verdict` weighs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from imprint.align import (
    KEPT_REFERENCES,
    local_shifts,
    masked_correlation,
    mm_per_px,
    seal_disc,
)
from imprint.ink import spread_sample
from imprint.memo import per_imprint
from imprint.rectify import CANONICAL_RADIUS, CANONICAL_SIZE, _polar, _star_tip
from imprint.types import Alignment, Displacement, Measurement, RectifiedImprint

#: Canonical px per mm assumed when the master's dpi is unknown: a 42 mm round seal.
DEFAULT_PX_PER_MM = 2 * CANONICAL_RADIUS / 42.0
STROKE_TOLERANCE_PX = 2.0  # ink within this of the other imprint's strokes agrees
#: Where black print cannot be told from the seal's ink (``Quality.print_told_apart``), the
#: questioned strokes farther than this (canonical px) from every master stroke are taken for
#: print in the correlation, which otherwise counts every line of text crossing a faxed
#: imprint against it. The stroke comparison keeps them: a changed character is extra ink in
#: one place and missing ink in the same place, which print is not.
PRINT_REACH_PX = 3.0
#: Side of the window, canonical px (about 4 mm on a 42 mm seal: a character of the name
#: arc), over which strokes that differ both ways are counted, and the least share of it that
#: must be known in both imprints and of it that must be stroke.
SUBSTITUTION_WINDOW = 48
SUBSTITUTION_KNOWN = 0.6
SUBSTITUTION_STROKES = 0.05
#: Strokes within this (canonical px) of what either imprint hides are not counted for a
#: substituted character, nor in the shares of strokes off the other imprint's: the blurred
#: edge of print that was told from the seal's ink survives as strokes beside the print (a
#: photocopy's grey halo round its black text), and the seal's own strokes are cut there. On
#: development photocopies such edges made 2 of 15 typical genuine imprints "another
#: character" (none once left out), and the largest share of extra ink 0.069 (0.024).
SUBSTITUTION_EDGE_PX = 3
SHIFT_WEIGHT = 0.3  # patches that fix their shift less well than this are not counted
GA_BANDS = ((2.0, "valid"), (4.0, "suspect"), (math.inf, "invalid"))

#: name -> what it measures (the report's wording).
FEATURES = {
    "correlation": "correlation of the aligned ink maps inside the border (1: identical); "
                   "where print reads as the seal's ink (a fax), questioned ink far from "
                   "every master stroke is left out as print",
    "extra_ink": "share of the questioned strokes with no master stroke within 0.2 mm",
    "missing_ink": "share of the master strokes with no questioned stroke within 0.2 mm",
    "substituted_ink": "largest share of strokes that differ both ways within one "
                       "character-sized window: another character there",
    "substituted_x": "where that window is centred, canonical px from the left",
    "substituted_y": "where that window is centred, canonical px from the top",
    "chamfer_mm": "mean distance between the two imprints' strokes, both ways, mm",
    "local_shift_mm": "second-largest local shift of a patch after the elastic allowance, mm",
    "local_shift_p90_mm": "90th percentile of the local shifts, mm",
    "elastic_mm": "largest smooth (rubber) displacement, mm",
    "size_change": "relative difference of the outer size (needs both dpi), |q/m - 1|",
    "shear": "anisotropy of the alignment (stretch in one direction), sv1/sv2 - 1",
    "border_width_mm": "difference of the border width, questioned - master, mm",
    "edge_sharpness": "stroke edge sharpness of the questioned imprint relative to the master",
    "edge_core": "ink at stroke edges over ink in stroke cores, questioned minus master",
    "texture": "fine texture inside strokes, questioned over master (log)",
    "pressure_pattern": "how unevenly the ink lies over the seal, questioned minus master: "
                        "the stroke cores' ink averaged over a sixth of the radius, its 95th "
                        "over its 5th percentile (log); a stamp's uneven pressure and "
                        "lighter middle against a printer's flat colour (an electronic "
                        "seal's master is as flat as its images)",
    "periodicity": "strongest periodic dot pattern in the questioned ink at the capture's "
                   "resolution (log10 of the spectrum's strongest peak over the typical "
                   "power at its frequency; colour captures only)",
    "colour_jitter": "change of the questioned ink's colour from pixel to pixel inside the "
                     "strokes, over its density (log10): a printer's magenta and yellow dots "
                     "(colour images only); shown, not weighed: a heavily compressed JPEG's "
                     "colour blocks read as much",
    "star_size_mm": "diameter of the circle through the star's tips (where the ink along "
                    "the tips' rays falls to half) of the questioned imprint, minus the "
                    "master's, mm (canonical px / 11.4 where the dpi is not known); round "
                    "seals only",
    "star_angle_deg": "turn of the questioned star against the seal, minus the master's, deg "
                      "clockwise (within +-36: its tips repeat every 72); round seals only",
    "border_visible": "share of the questioned border visible",
    "occluded": "share of the questioned imprint covered by text or signatures, or cut off "
                "by a sheet's edge",
    "known": "share of the seal compared (known in both)",
    "blur": "edge spread of the questioned imprint, canonical px",
    "ink_coverage": "share of the questioned seal area in ink",
    "print_told_apart": "1 where black print could be told from the seal's ink, 0 where it "
                        "reads as the seal's (a fax)",
    "ink_scatter": "1 where the questioned imprint was found only as a starved seal's scatter "
                   "of faint dots, 0 otherwise",
}


@dataclass(frozen=True)
class Measured:
    """What :func:`measure` found: the raw ``features`` (see :data:`FEATURES`), the table of
    ``measurements``, the local ``displacements``, the ``difference`` map (query - master,
    NaN where unknown) and the GA 241.8 deformation with its band."""

    features: dict
    measurements: tuple[Measurement, ...]
    displacements: tuple[Displacement, ...]
    difference: np.ndarray
    deformation_percent: float
    deformation_band: str


#: Quantiles of a map's values are taken from at most this many of them (:func:`spread_sample`).
QUANTILE_SAMPLE = 32768


def _strokes(ink: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Stroke mask at half the imprint's own strong ink level: the amount of ink a stamping
    left moves the level, not which pixels are strokes."""
    vals = ink[known]
    if vals.size == 0:
        return np.zeros_like(known)
    level = max(0.08, 0.5 * float(np.percentile(spread_sample(vals, QUANTILE_SAMPLE), 97)))
    return (ink >= level) & known


def _agreement(a: np.ndarray, b: np.ndarray, known: np.ndarray
               ) -> tuple[float, np.ndarray, np.ndarray]:
    """(share of ``a``'s stroke pixels farther than the tolerance from ``b``'s, their
    distances, the mask of those far pixels)."""
    dist = cv2.distanceTransform((~b).astype(np.uint8), cv2.DIST_L2, 5)
    pts = a & known
    far = pts & (dist > STROKE_TOLERANCE_PX)
    n = int(pts.sum())
    if n == 0:
        return 1.0, np.zeros(0, np.float32), far
    d = dist[pts]
    return float((d > STROKE_TOLERANCE_PX).mean()), d, far


_EDGE_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * SUBSTITUTION_EDGE_PX + 1,) * 2)


def _clear_of_hidden(known: np.ndarray) -> np.ndarray:
    """``known`` less its pixels within :data:`SUBSTITUTION_EDGE_PX` of what is hidden."""
    return cv2.erode(known.view(np.uint8), _EDGE_KERNEL).view(bool)


def _substituted(q_str: np.ndarray, m_str: np.ndarray, extra: np.ndarray,
                 missing: np.ndarray, known: np.ndarray, clear: np.ndarray | None = None
                 ) -> tuple[float, tuple[float, float]]:
    """Largest share, over character-sized windows, of strokes that differ both ways: the
    smaller of the questioned strokes there with no master stroke near and the master
    strokes there with none of the questioned imprint's near. Another character (a look-alike
    name, another business line or number) differs both ways in its place; starved ink only
    loses strokes, and marks across the seal only add them. A share of the whole imprint
    dilutes one character among thirty; a window does not. Returns the share and the centre
    (x, y) of that window, canonical px. Only strokes ``clear`` of the edges of what is hidden
    are counted (:func:`_clear_of_hidden` of ``known`` where not given)."""
    b = (SUBSTITUTION_WINDOW, SUBSTITUTION_WINDOW)
    floor = SUBSTITUTION_STROKES * b[0] * b[1]
    if clear is None:
        clear = _clear_of_hidden(known)
    q_str, m_str, extra, missing = q_str & clear, m_str & clear, extra & clear, missing & clear

    def count(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x.astype(np.float32), -1, b, normalize=False)

    both = np.minimum(count(extra) / np.maximum(count(q_str), floor),
                      count(missing) / np.maximum(count(m_str), floor))
    seen = (cv2.boxFilter(known.astype(np.float32), -1, b) >= SUBSTITUTION_KNOWN) & (
        _IDENTITY_BAND)
    if not seen.any():
        return 0.0, (CANONICAL_SIZE / 2, CANONICAL_SIZE / 2)
    both = np.where(seen, both, -1.0)
    y, x = np.unravel_index(int(np.argmax(both)), both.shape)
    return float(both[y, x]), (float(x), float(y))


@dataclass(frozen=True)
class StrokeMatch:
    """The questioned imprint's strokes against the master's under one ``alignment``: the
    stroke masks, the share of each side's strokes with none of the other's near (``extra``:
    questioned, ``missing``: master), each side's strokes' distances to the other's, and the worst
    character-sized window (``substituted`` and its centre ``where``). Identification decides
    a match by it; the verification that follows measures on the same one."""

    alignment: Alignment
    query_strokes: np.ndarray
    master_strokes: np.ndarray
    extra: float
    extra_distances: np.ndarray
    missing: float
    missing_distances: np.ndarray
    substituted: float
    where: tuple[float, float]


def match_strokes(master: RectifiedImprint, alignment: Alignment) -> StrokeMatch:
    """The questioned strokes (``alignment.query_ink``) against ``master``'s, where both are
    known."""
    known = ~alignment.unknown
    q_str = _strokes(alignment.query_ink, known)
    m_str = _strokes(master.ink.astype(np.float32), known)
    # strokes at the edge of what is hidden are no evidence either way (SUBSTITUTION_EDGE_PX)
    clear = _clear_of_hidden(known)
    extra, d_qm, q_far = _agreement(q_str, m_str, clear)
    missing, d_mq, m_far = _agreement(m_str, q_str, clear)
    substituted, where = _substituted(q_str, m_str, q_far, m_far, known, clear)
    return StrokeMatch(alignment, q_str, m_str, extra, d_qm, missing, d_mq, substituted, where)


#: Fewer stroke pixels than this that either master has and the other lacks: nothing to tell
#: the two apart by (the same face filed twice has none). One side may have none of its own:
#: a "1" lies along a "2"'s strokes, while the "2" has strokes the "1" lacks.
TELL_APART_MIN_PX = 10


def preference(master: RectifiedImprint, match: StrokeMatch, rival: StrokeMatch) -> float:
    """Which of two near-identical masters (a numbered sibling, a look-alike name) the
    questioned imprint is, judged only where the masters differ: ``master`` is A, ``match``
    the questioned imprint laid on A, ``rival`` master B laid on A (B as the questioned side).
    Returns in [-2, 2] the questioned ink's correlation with A's ink less its correlation
    with B's, over the strokes one master has and the other lacks (with their edges): above 0
    A, below 0 B; 0 when neither master has :data:`TELL_APART_MIN_PX` strokes of its own.
    The ink's levels, not its thresholded strokes, are compared: a faint digit loses strokes
    to the threshold, and print left over it (where it could not be told from the seal's
    ink) adds some, while its shape still follows its own master's. The whole imprint's
    agreement barely moves between two such masters (a digit in a bracket is a few hundred
    pixels among tens of thousands); here it is all that is counted."""
    # the strokes one master has and the other lacks: the two masters' own, wherever the
    # questioned imprint hides them
    both = ~rival.alignment.unknown & _IDENTITY_BAND
    a_str, b_str = rival.master_strokes & both, rival.query_strokes & both
    only_a = a_str & (cv2.distanceTransform((~b_str).astype(np.uint8), cv2.DIST_L2, 5)
                      > STROKE_TOLERANCE_PX)
    only_b = b_str & (cv2.distanceTransform((~a_str).astype(np.uint8), cv2.DIST_L2, 5)
                      > STROKE_TOLERANCE_PX)
    own = only_a | only_b
    seen = ~match.alignment.unknown
    if (max(np.count_nonzero(only_a & seen), np.count_nonzero(only_b & seen))
            < TELL_APART_MIN_PX):
        return 0.0
    differ = cv2.dilate(own.view(np.uint8), np.ones((5, 5), np.uint8)).view(
        bool) & both & seen
    q = match.alignment.query_ink
    return (masked_correlation(master.ink, q, differ)
            - masked_correlation(rival.alignment.query_ink, q, differ))


def _print_beyond(q_str: np.ndarray, m_str: np.ndarray) -> np.ndarray:
    """Questioned strokes farther than :data:`PRINT_REACH_PX` from every master stroke,
    with their edges (2 px), short of the master strokes' own tolerance."""
    dist = cv2.distanceTransform((~m_str).astype(np.uint8), cv2.DIST_L2, 5)
    far = (q_str & (dist > PRINT_REACH_PX)).astype(np.uint8)
    return (cv2.dilate(far, np.ones((5, 5), np.uint8)) > 0) & (dist > STROKE_TOLERANCE_PX)


def _border_width(ink: np.ndarray) -> float:
    """Width (canonical px) of the outer border ring at half its peak, from the mean radial
    profile over the known angles."""
    c = CANONICAL_SIZE / 2
    radii = np.arange(0.75 * CANONICAL_RADIUS, 1.05 * CANONICAL_RADIUS, 0.5)
    t = np.linspace(0, 2 * np.pi, 360, endpoint=False)
    xs = (c + radii[:, None] * np.cos(t)[None]).astype(np.float32)
    ys = (c + radii[:, None] * np.sin(t)[None]).astype(np.float32)
    prof = np.median(cv2.remap(ink.astype(np.float32), xs, ys, cv2.INTER_LINEAR), axis=1)
    peak = int(np.argmax(prof[len(prof) // 2:])) + len(prof) // 2  # the outermost ring
    half = prof[peak] / 2
    if prof[peak] < 0.1:
        return float("nan")
    lo = peak
    while lo > 0 and prof[lo] > half:
        lo -= 1
    hi = peak
    while hi < len(prof) - 1 and prof[hi] > half:
        hi += 1
    return (hi - lo) * 0.5


@per_imprint(KEPT_REFERENCES)
def _master_border_width(master: RectifiedImprint) -> float:
    return _border_width(master.ink)


def _edge_profile(ink: np.ndarray, strokes: np.ndarray) -> tuple[float, float]:
    """(edge sharpness: mean gradient at stroke edges over the strokes' ink level, ink at the
    stroke edges over ink in their cores)."""
    if strokes.sum() < 200:
        return float("nan"), float("nan")
    inside = cv2.distanceTransform(strokes.astype(np.uint8), cv2.DIST_L2, 3)
    edge = (inside > 0) & (inside <= 1.5)
    core = inside >= 2.5
    level = float(ink[strokes].mean())
    gx = cv2.Sobel(ink.astype(np.float32), cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(ink.astype(np.float32), cv2.CV_32F, 0, 1, ksize=3) / 8
    grad = cv2.magnitude(gx, gy)
    ring = cv2.dilate(strokes.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~(
        inside > 1.5)
    sharp = float(grad[ring].mean()) / max(level, 1e-3)
    ec = float(ink[edge].mean()) / max(float(ink[core].mean()), 1e-3) if core.sum() > 50 else (
        float("nan"))
    return sharp, ec


def _texture(ink: np.ndarray, strokes: np.ndarray) -> float:
    """Fine texture inside strokes: mean |ink - smoothed ink| over the strokes' ink level."""
    core = cv2.erode(strokes.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if core.sum() < 100:
        return float("nan")
    hf = np.abs(ink - cv2.GaussianBlur(ink.astype(np.float32), (0, 0), 1.5))
    return float(hf[core].mean()) / max(float(ink[core].mean()), 1e-3)


_DISC = seal_disc(0.95)
#: Where identity is judged: inside the border ring, which every seal of a size shares.
_IDENTITY_BAND = seal_disc(0.9)


#: The scale (canonical px, a sixth of the radius: 3.5 mm on a 42 mm seal) over which the
#: ink's amount is averaged to see its pattern, not its strokes, and the least weight of
#: stroke core a place needs to be read, as a share of the seal's mean (a starved imprint's
#: broken strokes keep little core anywhere).
PRESSURE_SCALE = CANONICAL_RADIUS / 6
PRESSURE_MIN_WEIGHT = 0.5
#: ... on a copy reduced this many times (a blur 40 px wide costs tens of ms at full size)
PRESSURE_REDUCE = 8


_PRESSURE_DISC = cv2.resize(_DISC.view(np.uint8), (CANONICAL_SIZE // PRESSURE_REDUCE,) * 2,
                            interpolation=cv2.INTER_AREA) > 0


def _pressure_pattern(ink: np.ndarray, strokes: np.ndarray) -> float:
    """How unevenly the ink lies over the seal (:data:`FEATURES`): a rubber or photosensitive
    stamp leaves more ink where it was pressed harder and at its edges than in its middle; a
    printer lays one flat colour. The stroke cores only (an edge's ink depends on the blur),
    averaged over :data:`PRESSURE_SCALE` (normalised by the cores' own weight there); NaN
    where too little of the seal is stroke core."""
    core = cv2.erode(strokes.view(np.uint8), np.ones((3, 3), np.uint8))
    if np.count_nonzero(core) < 200:
        return float("nan")
    small = (CANONICAL_SIZE // PRESSURE_REDUCE,) * 2
    sigma = PRESSURE_SCALE / PRESSURE_REDUCE

    def averaged(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(cv2.resize(a, small, interpolation=cv2.INTER_AREA), (0, 0),
                                sigma)

    weight = averaged(core.astype(np.float32))
    amount = averaged(np.where(core > 0, ink, 0).astype(np.float32))
    read = (weight > PRESSURE_MIN_WEIGHT * float(weight[_PRESSURE_DISC].mean())) & (
        _PRESSURE_DISC)
    if np.count_nonzero(read) < 64:
        return float("nan")
    local = amount[read] / weight[read]
    lo, hi = np.percentile(spread_sample(local, QUANTILE_SAMPLE), (5, 95))
    return float(np.log(max(hi, 1e-3) / max(lo, 1e-3)))


@per_imprint(KEPT_REFERENCES)
def _master_pressure_pattern(master: RectifiedImprint) -> float:
    ink = master.ink.astype(np.float32)
    return _pressure_pattern(ink, _strokes(ink, ~master.occlusion))


#: Half the width (deg) of the fan of directions round each tip of the star over which its
#: reach is read; the radii (of the border radius) along which a tip's ray is solid ink in
#: any star (its inner vertices lie at 0.13, its tips at 0.33 on a 42 mm seal), and beyond
#: which its reach is not looked for.
STAR_TIP_FAN = 2.0
STAR_SOLID = (0.1, 0.22)
STAR_REACH_MAX = 0.5
#: Along a tip's ray the ink must stay above this share of its level in the solid stretch
#: (a printed outline, characters or a chance five-fold wave are not solid there).
STAR_SOLID_SHARE = 0.5


@dataclass(frozen=True)
class StarReading:
    """A round seal's star in the canonical frame: ``phase`` the clock angle (deg, within
    [0, 72)) of its tips, ``reach`` their radius as a share of the border's."""

    phase: float
    reach: float

    def diameter(self, px_mm: float) -> float:
        """The circle through its tips, across, in the unit of ``px_mm`` per canonical px."""
        return 2 * self.reach * CANONICAL_RADIUS * px_mm


def read_star(ink: np.ndarray, unknown: np.ndarray) -> StarReading | None:
    """The star of an imprint in the canonical frame, or None where there is none, too little
    of it is seen, or its tips' rays are not solid ink: its tips' phase from the five-fold
    wave of its band (:func:`imprint.rectify._star_tip`, what is unknown left out); their
    reach where the ink averaged over a narrow fan round each tip falls to half its level
    along the solid stretch of the rays (linear between samples: a fraction of a canonical
    px)."""
    polar = _polar(ink.astype(np.float32))
    hidden = _polar(unknown.astype(np.float32)) > 0.5
    phase = _star_tip(polar, hidden=hidden)
    if phase is None:
        return None
    n, n_radii = polar.shape
    step = 360.0 / n
    fan = np.arange(-STAR_TIP_FAN, STAR_TIP_FAN + step / 2, step)
    rows = (np.round((phase + 72 * np.arange(5)[:, None] + fan[None]) / step).astype(int)
            % n).ravel()
    seen = ~hidden[rows]
    count = seen.sum(axis=0)
    profile = np.where(seen, polar[rows], 0).sum(axis=0) / np.maximum(count, 1)
    lo, hi, top = (int(f * n_radii) for f in (*STAR_SOLID, STAR_REACH_MAX))
    solid = profile[lo:hi][count[lo:hi] > 0]
    if solid.size < (hi - lo) // 2:
        return None
    level = float(np.median(solid))
    if level <= 0 or float(np.percentile(solid, 10)) < STAR_SOLID_SHARE * level:
        return None
    half = 0.5 * level
    # (radii where nothing is seen are passed over, not read as paper)
    beyond = np.flatnonzero((profile[hi:top] < half) & (count[hi:top] > 0))
    if not beyond.size:
        return None
    j = hi + int(beyond[0])
    if count[j - 1] == 0:  # the crossing falls in a stretch not seen: not read
        return None
    a, b = float(profile[j - 1]), float(profile[j])
    reach = (j - 1 + float(np.clip((a - half) / max(a - b, 1e-9), 0, 1))) / n_radii
    return StarReading(float(phase), float(reach))


@per_imprint(KEPT_REFERENCES)
def _master_star(master: RectifiedImprint) -> StarReading | None:
    """The master's star; none on an oval or square seal, whose middle line of characters
    can pass for one (a real e-receipt's oval seal read as starred)."""
    if master.detection.shape != "round":
        return None
    return read_star(master.ink, master.occlusion)


def _star_differences(query: StarReading | None, master: StarReading | None, px_mm: float
                      ) -> tuple[float, float]:
    """(star diameter difference in mm, star turn in deg within +-36), NaN where either has
    no star read."""
    if query is None or master is None:
        return float("nan"), float("nan")
    turn = (query.phase - master.phase + 36.0) % 72.0 - 36.0
    return query.diameter(px_mm) - master.diameter(px_mm), turn


def measure(query: RectifiedImprint, master: RectifiedImprint, alignment: Alignment,
            strokes: StrokeMatch | None = None) -> Measured:
    """Every measurement of ``query`` against ``master`` under ``alignment``; ``strokes``:
    :func:`match_strokes` under that alignment when already taken."""
    known_scale = mm_per_px(master)
    px_mm = known_scale or 1 / DEFAULT_PX_PER_MM
    known = ~alignment.unknown
    q_ink, m_ink = alignment.query_ink, master.ink.astype(np.float32)
    if strokes is None or strokes.alignment is not alignment:
        strokes = match_strokes(master, alignment)
    q_str, m_str = strokes.query_strokes, strokes.master_strokes
    extra, d_qm, missing, d_mq = (strokes.extra, strokes.extra_distances, strokes.missing,
                                  strokes.missing_distances)
    chamfer = 0.5 * (float(np.minimum(d_qm, 10).mean()) if d_qm.size else 10.0) + 0.5 * (
        float(np.minimum(d_mq, 10).mean()) if d_mq.size else 10.0)
    substituted, where = strokes.substituted, strokes.where
    shifts, elastic_mm = local_shifts(master, alignment, px_mm)
    good = sorted((d.shift_mm for d in shifts if d.weight >= SHIFT_WEIGHT), reverse=True)
    local2 = good[1] if len(good) > 1 else float("nan")
    local90 = float(np.percentile(good, 90)) if good else float("nan")

    qs, ms = query.geometry.size_mm, master.geometry.size_mm
    size_change = (abs(max(qs) / max(ms) - 1) if qs is not None and ms is not None
                   else float("nan"))
    sv = np.linalg.svd(alignment.warp[:2, :2] / alignment.warp[2, 2], compute_uv=False)
    shear = float(sv[0] / sv[1] - 1)
    bw_q, bw_m = _border_width(q_ink), _master_border_width(master)
    sharp_q, ec_q = _edge_profile(q_ink, q_str)
    sharp_m, ec_m = _edge_profile(m_ink, m_str)
    qq = query.quality
    tex_q, tex_m = _texture(q_ink, q_str), _texture(m_ink, m_str)
    pressure = _pressure_pattern(q_ink, q_str) - _master_pressure_pattern(master)
    m_star = _master_star(master)
    q_star = read_star(q_ink, alignment.unknown) if m_star is not None else None
    star_mm, star_deg = _star_differences(q_star, m_star, px_mm)
    compared = known & _IDENTITY_BAND
    if not qq.print_told_apart:
        compared &= ~_print_beyond(q_str, m_str)
    features = {
        "correlation": masked_correlation(m_ink, q_ink, compared),
        "extra_ink": extra,
        "missing_ink": missing,
        "substituted_ink": substituted,
        "substituted_x": where[0],
        "substituted_y": where[1],
        "chamfer_mm": chamfer * px_mm,
        "local_shift_mm": local2,
        "local_shift_p90_mm": local90,
        "elastic_mm": elastic_mm,
        "size_change": size_change,
        "shear": shear,
        "border_width_mm": (bw_q - bw_m) * px_mm,
        "edge_sharpness": sharp_q / sharp_m if sharp_m and sharp_m > 0 else float("nan"),
        "edge_core": ec_q - ec_m,
        "texture": (math.log(tex_q / tex_m) if tex_q > 0 and tex_m > 0 else float("nan")),
        "pressure_pattern": pressure,
        "periodicity": (qq.dot_periodicity if qq.dot_periodicity is not None
                        else float("nan")),
        # in log: a printer's jitter runs to twenty times a stamp's
        "colour_jitter": (math.log10(qq.colour_jitter) if qq.colour_jitter else float("nan")),
        "star_size_mm": star_mm,
        "star_angle_deg": star_deg,
        "border_visible": qq.border_visible,
        "occluded": qq.occluded,
        "known": float(known[_DISC].mean()),
        "blur": qq.blur,
        "ink_coverage": qq.ink_coverage,
        "print_told_apart": float(qq.print_told_apart),
        "ink_scatter": float(query.detection.scatter),
    }
    # GA 241.8: deformation of the imprint against the reference, as a share of its radius:
    # the larger of the smooth displacement and the local shifts (90th percentile). The outer
    # size is left out: a phone photo's scale is not known well enough to count against it
    radius_mm = CANONICAL_RADIUS * px_mm
    deformation = 100 * max(elastic_mm, local90 if good else 0.0) / radius_mm
    band = next(name for limit, name in GA_BANDS if deformation <= limit)
    unit = "mm" if known_scale else "px/11.4"
    star_rows = () if m_star is None else (
        Measurement("star diameter", m_star.diameter(px_mm),
                    None if q_star is None else q_star.diameter(px_mm), unit),
        Measurement("star turn against master, clockwise", 0.0,
                    None if math.isnan(star_deg) else star_deg, "deg"))
    measurements = (
        Measurement("outer size", max(ms) if ms else None, max(qs) if qs else None, "mm"),
        Measurement("border width", bw_m * px_mm, None if math.isnan(bw_q) else bw_q * px_mm,
                    unit),
        Measurement("rotation against master", 0.0, alignment.rotation, "deg"),
        Measurement("scale after rectification", 1.0, alignment.scale, "ratio"),
        *star_rows,
        Measurement("largest elastic displacement", 0.0, elastic_mm, unit),
        Measurement("local shift (2nd largest)", 0.0, None if math.isnan(local2) else local2,
                    unit),
    )
    diff = np.where(alignment.unknown, np.nan, q_ink - m_ink).astype(np.float32)
    return Measured(features, measurements, tuple(shifts), diff, float(deformation), band)
