"""Ink: what is seal ink on a page, and how much of it, separated from black text.

Two views of the same physics. For *finding* seals, :func:`ink_masks` works on a small copy of
the page: divide by the paper (a local white estimate, which also cancels uneven light and
tinted paper), then keep pixels whose colour is saturated and whose hue is that of a seal ink.
For *measuring* an imprint, :func:`separate` unmixes each pixel in optical density: the
density of a pixel is ``a * ink + b * black`` (translucent inks add in optical density), with
the ink's own density vector estimated from the imprint itself; ``a`` is the seal's ink and a
large ``b`` marks where text or a signature covers it, where the seal's ink is unknown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

#: OpenCV hue (0..180) ranges of seal inks, as normalised by the paper. Red wraps round 0.
INK_HUES = {"red": ((0, 14), (160, 180)), "violet": ((128, 160),), "blue": ((96, 128),)}
MIN_SATURATION = 0.2  # chroma of a faint but real seal ink against its paper
#: ... and of a violet imprint's lightest strokes (a lightly inked violet seal photographed
#: out of focus prints dull, 0.1 to 0.2), counted where they are light (FAINT_VALUE) and join
#: ink of MIN_SATURATION. Not for red, which prints saturated however lightly stamped, nor for
#: blue: a ballpoint's blurred edges would count too, and its loops beside a blue imprint
#: were then taken for one.
FAINT_SATURATION = 0.1
FAINT_VALUE = 0.6
MIN_INK_VALUE = 0.25  # darker than this is black ink, whatever its hue
PAPER_WINDOW_FRACTION = 0.03  # the paper estimate's window, as a fraction of the page's long side
#: ... and at least this (px): on a small image, a tight crop of one seal, a window of a few
#: px takes the seal's strokes for paper
PAPER_WINDOW_MIN_PX = 15
BLACK_OD = np.array([1.0, 1.0, 1.0], np.float32) / np.sqrt(3.0)


def paper_white(image: np.ndarray, window: int) -> np.ndarray:
    """Local paper colour: a closing (max filter) removes ink narrower than ``window`` px, a
    blur smooths it. ``(H, W, 3) float32`` in (0, 1]."""
    # paper varies slowly: estimate it on a copy shrunk so that the window is ~9 px
    h, w = image.shape[:2]
    f = min(1.0, 9.0 / max(window, 9))
    small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))),
                       interpolation=cv2.INTER_AREA) if f < 1 else image
    k = max(3, int(window * f) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    closed = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    white = cv2.GaussianBlur(closed, (0, 0), k / 2)
    if f < 1:
        white = cv2.resize(white, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.maximum(white, np.float32(1e-3), out=white)


def normalise(image: np.ndarray, *, window: int | None = None) -> np.ndarray:
    """``image`` ``(H, W, 3) uint8`` RGB divided by its paper: ``float32``, paper ~ 1."""
    rgb = np.divide(image, np.float32(255.0), dtype=np.float32)
    if window is None:
        window = max(PAPER_WINDOW_MIN_PX, int(max(image.shape[:2]) * PAPER_WINDOW_FRACTION))
    # in place: the page-sized temporaries cost more than the arithmetic
    np.divide(rgb, paper_white(rgb, window), out=rgb)
    return np.clip(rgb, 0.0, 1.0, out=rgb)


@dataclass(frozen=True)
class InkMasks:
    """Masks on one (small) page: ``any`` seal-coloured pixels and ``by_colour`` per ink, all
    ``(H, W) bool``."""

    any: np.ndarray
    by_colour: dict[str, np.ndarray]
    #: the part of ``any`` of MIN_SATURATION (without the dull strokes joined to it): a
    #: pen's strokes are judged by their tone on it, their blurred edges left out
    saturated: np.ndarray


def _hsv_planes(normalised: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue (OpenCV's 0..180), saturation and value planes (uint8) of a paper-normalised image:
    contiguous, so that comparisons on them are fast."""
    return cv2.split(cv2.cvtColor((normalised * 255).astype(np.uint8), cv2.COLOR_RGB2HSV))


def _ink_hues(hue: np.ndarray) -> dict[str, np.ndarray]:
    """``(H, W) bool`` per ink of :data:`INK_HUES`: where ``hue`` lies in its ranges."""
    hues = {}
    for name, ranges in INK_HUES.items():
        m = np.zeros(hue.shape, bool)
        for lo, hi in ranges:
            m |= (hue >= lo) & (hue <= hi)
        hues[name] = m
    return hues


def ink_masks(normalised: np.ndarray, *, off_page: np.ndarray | None = None) -> InkMasks:
    """Seal-ink masks of a paper-normalised page (see :func:`normalise`); ``off_page``
    ``(H, W) bool`` marks what is not paper (the table round a photographed page), where
    nothing counts as ink."""
    hue, sat, val = _hsv_planes(normalised)
    # thresholds on the 8-bit values: the same pixels as on the fractions, cheaper
    strong = sat >= math.ceil(MIN_SATURATION * 255 - 1e-6)
    faint = (sat >= math.ceil(FAINT_SATURATION * 255 - 1e-6)) & (
        val >= math.ceil(FAINT_VALUE * 255 - 1e-6))
    inked = (strong | faint) & (val >= math.ceil(MIN_INK_VALUE * 255 - 1e-6))
    if off_page is not None:
        inked &= ~off_page
    hues = _ink_hues(hue)
    inked &= hues["violet"] | ((hues["red"] | hues["blue"]) & strong)
    if (inked & ~strong).any():
        # hysteresis: faint violet counts in runs that hold saturated ink
        n, labels = cv2.connectedComponents(inked.view(np.uint8), connectivity=8)
        joined = np.zeros(n, bool)
        joined[labels[inked & strong]] = True
        joined[0] = False
        inked = joined[labels]
    by_colour = {name: inked & m for name, m in hues.items()}
    any_ink = by_colour["red"] | by_colour["violet"] | by_colour["blue"]
    return InkMasks(any_ink, by_colour, any_ink & strong)


#: A seal stamped with too little ink prints a scatter of fine dots whose colour, once a scan's
#: JPEG has blurred them, lies under :data:`MIN_SATURATION` in nearly every pixel (0.05 to 0.13
#: in its darkest dots), while clean paper holds none at all. Averaged over the dots' spacing
#: (``STIPPLE_MM`` in :mod:`imprint.segment`), a seal hue's chroma of this much marks the
#: scatter; print and a pen's strokes, dark, are left out with their blurred coloured edges.
FAINT_CHROMA = 0.02
FAINT_DARK = 0.6  # darker than this in its value is print or a pen's, not a seal's scatter


@dataclass(frozen=True)
class FaintInk:
    """The scatter of a starved seal's faint coloured dots (:func:`faint_ink`): ``mask``
    where their chroma, averaged, reaches :data:`FAINT_CHROMA`, and that average by ink
    (``by_colour``, float32), from which the imprint's colour is read."""

    mask: np.ndarray
    by_colour: dict[str, np.ndarray]


def faint_ink(normalised: np.ndarray, spacing_px: float) -> FaintInk:
    """Seal-hued chroma of a paper-normalised image averaged over ``spacing_px`` (the dots'
    spacing): a starved imprint's scatter of faint dots, which no pixel-wise threshold of
    :func:`ink_masks` holds (its ink mask keeps a few specks)."""
    hue, sat, val = _hsv_planes(normalised)
    dark = cv2.dilate((val < FAINT_DARK * 255).view(np.uint8), np.ones((3, 3), np.uint8))
    chroma = np.where(dark > 0, 0, sat).astype(np.float32) / 255
    sigma = max(1.0, spacing_px)
    by_colour = {name: cv2.GaussianBlur(np.where(m, chroma, 0), (0, 0), sigma)
                 for name, m in _ink_hues(hue).items()}
    total = by_colour["red"] + by_colour["violet"] + by_colour["blue"]
    return FaintInk(total >= FAINT_CHROMA, by_colour)


def dark_ink(normalised: np.ndarray, *, off_page: np.ndarray | None = None) -> np.ndarray:
    """``(H, W) bool``: ink or text darker than the paper, any hue (grey imprints)."""
    # channel by channel: numpy's reduction over a short last axis is ten times slower
    r, g, b = cv2.split(normalised)
    dark = np.minimum(np.minimum(r, g), b) < 0.6
    if off_page is not None:
        dark &= ~off_page
    return dark


#: A pixel darker than this in its brightest channel (against the paper) is a pen's or print's,
#: not a seal's: a seal's red, blue or violet ink passes its own colour (0.77 and above on
#: generated scans and photos; a ballpoint's or gel pen's strokes 0.26 to 0.52).
PEN_LIGHT = 0.45


#: Optical density (against the paper) above which a grey pixel is black print: toner and
#: black ink copy near full density, a red, blue or violet seal's ink as a mid grey.
BLACK_PRINT_OD = 1.5


#: Optical density above which a grey pixel may be a seal's ink: a faintly stamped seal
#: copies as a light grey (starved ink, light in the middle: under 0.4 in places).
SEAL_TONE_OD = 0.3


def brightest_channel(normalised: np.ndarray) -> np.ndarray:
    """``(H, W)``: each pixel's brightest channel against the paper. A seal's ink, a thin
    film of one dye, passes its own colour; a pen's ink or black print absorbs in every
    channel."""
    r, g, b = cv2.split(normalised)
    return cv2.max(cv2.max(r, g), b)


def seal_tone(normalised: np.ndarray, *, off_page: np.ndarray | None = None) -> np.ndarray:
    """``(H, W) bool``: the pixels of a grey page darker than the paper that are not black
    print nor its blurred edge (a photocopied seal's grey). Empty where the seal copied
    black too."""
    return seal_tones(normalised, (SEAL_TONE_OD,), off_page=off_page)[0]


def seal_tones(normalised: np.ndarray, ods: tuple[float, ...], *,
               off_page: np.ndarray | None = None) -> list[np.ndarray]:
    """:func:`seal_tone` from each optical density of ``ods`` (a copy's grey, a fainter one),
    the black print found once for all."""
    lightest = brightest_channel(normalised)
    black = lightest < math.exp(-BLACK_PRINT_OD)
    not_print = ~widen(black, 2)
    if off_page is not None:
        not_print &= ~off_page
    return [(lightest < math.exp(-od)) & not_print for od in ods]


#: Paper shows within this (mm) of every pixel of print, handwriting or a seal's strokes: a
#: closing (brightest neighbour, then darkest) this wide turns any printed region back to
#: paper, while what surrounds a sheet (a table, a dark background) stays dark to its edge.
PRINT_GAP_MM = 0.6
#: What surrounds a sheet runs along at least this share of one side of the image.
MIN_SURROUND_EDGE = 0.2


def off_page(image: np.ndarray, join_px: int, *, px_per_mm: float | None = None
             ) -> np.ndarray | None:
    """What surrounds a photographed sheet: large dark regions reaching the image's edge,
    widened by ``join_px`` to take in the coloured fringe that dividing by the paper leaves
    along the sheet's edge. None when the sheet fills the image (scans). With ``px_per_mm``,
    dense print (text lines, a signature and a seal over each other along the edge of a
    close crop) is not taken for such a region."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    gap = round(PRINT_GAP_MM * px_per_mm) if px_per_mm else 0
    if gap >= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * gap + 1, 2 * gap + 1))
        grey = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, kernel)  # large regions keep their edge
    # wide enough that strokes (a border touching a tight crop) wash out to paper; regions this
    # coarse are found on a copy shrunk to a few px per sigma, and only the result enlarged
    sigma = max(3.0, max(h, w) / 80)
    f = min(1.0, 4.0 / sigma)
    if f < 1:
        grey = cv2.resize(grey, (max(1, round(w * f)), max(1, round(h * f))),
                          interpolation=cv2.INTER_AREA)
    blur = cv2.GaussianBlur(grey, (0, 0), sigma * f)
    paper = float(np.percentile(blur, 90))
    dark = (blur < 0.6 * paper).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=4)
    sh, sw = dark.shape
    keep = np.zeros(n, bool)
    # the surround runs along the image's edge; print or a seal meets it at a few points
    edges = (labels[0], labels[-1], labels[:, 0], labels[:, -1])
    for i in range(1, n):
        area = stats[i, cv2.CC_STAT_AREA]
        along = max(np.count_nonzero(e == i) / e.size for e in edges)
        keep[i] = along >= MIN_SURROUND_EDGE and area > 0.02 * sh * sw
    if not keep.any():
        return None
    around = keep[labels].astype(np.uint8)
    if f < 1:
        around = cv2.resize(around, (w, h), interpolation=cv2.INTER_NEAREST)
    return widen(around > 0, join_px)


def widen(mask: np.ndarray, join_px: int) -> np.ndarray:
    """``mask`` ``(H, W) bool`` grown by ``join_px`` all round (a disc)."""
    k = 2 * join_px + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


#: A row (or column) of the page beside an imprint is a line of print where at least this
#: share of it is dark; a line of text inks 20 to 40 % of its rows, the paper between lines
#: none.
PRINT_LINE_SHARE = 0.08


def print_lines(dark: np.ndarray, beside: np.ndarray, min_run: float) -> np.ndarray:
    """Where lines of print run across an imprint whose ink cannot be told from print by
    colour or tone (a fax): ``(H, W) bool``, the ``dark`` pixels on the rows, or the
    columns of a page turned a quarter, whose part ``beside`` the imprint (``(H, W) bool``,
    at least ``min_run`` px of it) is print (:data:`PRINT_LINE_SHARE`). The lines of a
    paragraph run on under the seal, where they cannot be seen apart from its strokes; they
    are marked there as covering it (unknown), not taken for its ink."""
    found = np.zeros(dark.shape, bool)
    best = 0.0
    for axis in (1, 0):  # rows, then columns
        n = beside.sum(axis=axis)
        share = np.where(n >= min_run, (dark & beside).sum(axis=axis) / np.maximum(n, 1), 0.0)
        measured = share[n >= min_run]
        # the direction the print runs in: its lines and the gaps between them alternate
        spread = float(measured.std()) if measured.size else 0.0
        if spread <= best:
            continue
        best = spread
        lines = share >= PRINT_LINE_SHARE
        # a line's ascenders and descenders: a row or two either side
        lines = cv2.dilate(lines.astype(np.uint8)[:, None], np.ones((5, 1), np.uint8))[:, 0] > 0
        found = dark & (lines[:, None] if axis == 1 else lines[None, :])
    return found


#: Of the dark pixels of a grey imprint, the share that must be mid grey (not black print
#: nor its edge) for the seal to be told from black print by tone: a fax, or a seal copied
#: as dark as the text, has next to none.
MIN_TONE_SHARE = 0.3
#: ... or of the whole crop: a faint seal under dense text is a small share of the dark
#: pixels, yet a seal's worth of grey.
MIN_TONE_AREA = 0.02


#: The ink's direction and its full density are read from at most this many of its pixels,
#: evenly spread.
DIRECTION_SAMPLE = 16384


def spread_sample(vals: np.ndarray, n: int) -> np.ndarray:
    """At most ``n`` of ``vals`` (along its first axis), evenly spaced through it: a median or
    a percentile of a few thousand values settled long before the hundreds of thousands of
    a map's pixels are sorted."""
    step = max(1, -(-len(vals) // n))
    return vals[::step]


@dataclass(frozen=True)
class Separation:
    """Unmixed imprint: ``ink`` ``(H, W) float32 in [0, 1]`` (1 = the imprint's full ink),
    ``occlusion`` ``(H, W) bool`` where black covers it, ``ink_od`` the unit density vector of
    the ink (RGB), ``monochrome`` True when the image has no colour to separate by;
    ``print_told_apart`` False when black print could not be told from the seal's ink at all
    (all dark ink taken for the seal's); ``colour_jitter`` (:func:`colour_jitter`), None where
    there is no colour or too little ink to measure it."""

    ink: np.ndarray
    occlusion: np.ndarray
    ink_od: np.ndarray
    monochrome: bool
    print_told_apart: bool = True
    colour_jitter: float | None = None


def optical_density(normalised: np.ndarray) -> np.ndarray:
    # OpenCV's log: the same values as numpy's, at a third of the time
    od = np.clip(normalised, 1.0 / 255, 1.0).astype(np.float32, copy=False)
    cv2.log(od, dst=od)
    return np.negative(od, out=od)


def _length(v: np.ndarray) -> np.ndarray:
    """Euclidean length over the last axis of 3, channel by channel (several times faster
    than ``np.linalg.norm(v, axis=2)``)."""
    return _plane_length((v[..., 0], v[..., 1], v[..., 2]))


def _plane_length(planes: Sequence[np.ndarray]) -> np.ndarray:
    """:func:`_length` of a vector image given as its three channel planes."""
    x, y, z = planes
    return np.sqrt(x * x + y * y + z * z)


def _plane_dot(planes: Sequence[np.ndarray], w: np.ndarray) -> np.ndarray:
    """``v @ w`` of a vector image ``v`` given as its three contiguous channel planes, in
    their precision (written out: a BLAS product starts threads that spin against the other
    requests' work)."""
    w = w.astype(planes[0].dtype)
    out = planes[0] * w[0]
    out += planes[1] * w[1]
    out += planes[2] * w[2]
    return out


#: Fewest pixels of the ink's strokes, and of its solid patches, for each one's colour to be
#: read, and how far apart (deg) the two must lie for the strokes' to be the ink's: a solid
#: badge or sticker of the seal's hue class over part of it (an app's orange badge on a red
#: seal: 17 degrees) can hold as many pixels as the seal's strokes, while the seal's own solid
#: star is its ink's colour.
SOLID_MIN_PX = 200
SOLID_COLOUR_SPLIT_DEG = 10.0
#: ... each colour read from at most this many pixels (a degree or so, for a split of ten)
SPLIT_SAMPLE = 2048
#: A pixel whose density lies off the plane of the seal's ink and black by more than this share
#: of its density is of another colour (an app's orange badge over a red seal: 0.15 to 0.3),
#: where it lies in a solid patch (see :func:`foreign_colour`): a seal's strokes pass it in
#: their JPEG fringes and a printer's dots, both narrower than a solid patch.
FOREIGN_OFF_PLANE = 0.15
#: Patches of another colour that would hide more than this share of the pixels of the seal's
#: colour are taken for a misread ink colour, and hide nothing.
FOREIGN_MAX_SHARE = 0.5


def _median_direction(dirs: np.ndarray, sample: int = DIRECTION_SAMPLE) -> np.ndarray:
    """Unit vector of the per-channel median of ``dirs`` ``(N, 3)`` (of at most ``sample``
    of them)."""
    med = np.median(np.ascontiguousarray(spread_sample(dirs, sample).T),
                    axis=1)  # per channel: faster
    return med / np.linalg.norm(med)


#: The opening that finds solid patches runs on a copy reduced so that its disc is about
#: this wide (px): a disc a tenth of a seal's radius wide costs ten times more at full size,
#: and a patch's edge a few px off changes nothing here.
SOLID_WORK_PX = 6


def _solid(mask: np.ndarray, width: int) -> np.ndarray:
    """The part of ``mask`` ``(H, W) bool`` in patches at least ``width`` px wide both ways
    (what an opening that wide keeps, on a reduced copy)."""
    h, w = mask.shape
    f = max(1, width // SOLID_WORK_PX)
    work = mask.view(np.uint8)
    if f > 1:  # a cell of the reduced copy is solid where about half of it or more is
        work = cv2.resize(work, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    k = max(3, round(width / f))
    opened = cv2.morphologyEx(work, cv2.MORPH_OPEN,
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    if f > 1:
        opened = cv2.resize(opened, (w, h), interpolation=cv2.INTER_NEAREST)
    # (the opening's dilation runs past the crop's edge: kept to the mask)
    return opened.view(bool) & mask


def _strokes_direction(cand: np.ndarray, at: np.ndarray, chroma_dir: np.ndarray,
                       solid_px: int) -> np.ndarray | None:
    """The direction of ``cand``'s strokes (``chroma_dir`` the directions of its pixels at
    flat indices ``at``) where its solid patches (:func:`_solid` ``solid_px`` wide) are of
    another colour; else None."""
    in_solid = _solid(cand, solid_px).reshape(-1)[at]
    n_solid = int(np.count_nonzero(in_solid))
    if n_solid < SOLID_MIN_PX or len(in_solid) - n_solid < SOLID_MIN_PX:
        return None
    strokes = _median_direction(chroma_dir[~in_solid], SPLIT_SAMPLE)
    if float(strokes @ _median_direction(chroma_dir[in_solid], SPLIT_SAMPLE)) >= math.cos(
            math.radians(SOLID_COLOUR_SPLIT_DEG)):
        return None
    return strokes


def _off_plane(planes: Sequence[np.ndarray], ink_od: np.ndarray) -> np.ndarray | None:
    """Each pixel's density off the plane of the ink's direction and black (signed), or None
    for an ink the colour of black (no plane)."""
    normal = np.cross(ink_od, BLACK_OD)
    length = float(np.linalg.norm(normal))
    if length < 1e-3:
        return None
    return _plane_dot(planes, (normal / length).astype(np.float32))


def foreign_colour(off_plane: np.ndarray, norm: np.ndarray, strong: np.ndarray, solid_px: int
                   ) -> np.ndarray:
    """``(H, W) bool``: solid patches of a colour that is neither the seal's ink nor black nor
    a mix of them (an app's badge, a sticker, a highlighter), with the holes inside them (the
    badge's own white text), widened by a pixel for their blurred edge; solid: what an opening
    ``solid_px`` wide keeps. What lies under them is unknown, not paper."""
    other = (np.abs(off_plane) > FOREIGN_OFF_PLANE * norm) & strong
    if not other.any():
        return other
    solid = _solid(other, solid_px)
    if not solid.any():
        return solid
    # each solid patch whole, the thin parts its own white text leaves of it included, and
    # filled to its hull where it is at least half solid (a badge's text), not where it is
    # a ring round paper
    _, labels, boxes, _ = cv2.connectedComponentsWithStats(other.view(np.uint8), connectivity=8)
    filled = np.zeros(solid.shape, np.uint8)
    for i in np.unique(labels[solid]):
        x, y, w, h = boxes[i, :4]
        part = (labels[y:y + h, x:x + w] == i).view(np.uint8)
        hull = cv2.convexHull(cv2.findNonZero(part))
        patch = cv2.fillConvexPoly(np.zeros_like(part), hull, 1)
        if 2 * np.count_nonzero(part) >= np.count_nonzero(patch):
            part = patch
        filled[y:y + h, x:x + w] |= part
    return cv2.dilate(filled, np.ones((3, 3), np.uint8)).view(bool)


def separate(normalised: np.ndarray, *, colour_hint: np.ndarray | None = None,
             solid_px: int = 0) -> Separation:
    """Unmix seal ink from black in a paper-normalised crop ``(H, W, 3) float32``.

    ``colour_hint`` ``(H, W) bool`` marks pixels known to be seal ink (from :func:`ink_masks`);
    the ink's density vector is their median direction. ``solid_px``: the width (px) from
    which a patch of the hint is solid rather than a stroke; where the solid patches are of
    another colour than the strokes (a badge or sticker covering part of the seal), the
    strokes' colour is the ink's. Solid patches of another colour than the ink and black
    (:func:`foreign_colour`) are marked as covering the seal.
    """
    od = optical_density(normalised)
    planes = cv2.split(od)  # contiguous channels: the per-pixel sums below run on them
    norm = _plane_length(planes)
    strong = norm > 0.3
    cand = strong & colour_hint if colour_hint is not None else strong.copy()
    # how far each candidate's density direction is from black (on those pixels only)
    idx = np.flatnonzero(cand)
    chroma_dir = od.reshape(-1, 3)[idx] / np.maximum(norm.reshape(-1)[idx], 1e-6)[:, None]
    off = _length(chroma_dir - BLACK_OD) > 0.25
    cand.reshape(-1)[idx[~off]] = False
    chroma_dir = chroma_dir[off]
    if len(chroma_dir) < 30:
        return _separate_tone(norm / np.float32(math.sqrt(3.0)), strong)
    ink_od = _median_direction(chroma_dir)
    if solid_px > 1:
        strokes_od = _strokes_direction(cand, idx[off], chroma_dir, solid_px)
        if strokes_od is not None:
            ink_od = strokes_od
    # least squares for od = a * ink_od + b * black, per pixel, then a, b >= 0
    basis = np.stack([ink_od, BLACK_OD], 1)  # (3, 2)
    pinv = np.linalg.pinv(basis)  # (2, 3)
    a, b = _plane_dot(planes, pinv[0]), _plane_dot(planes, pinv[1])
    # a negative black share means all ink: project onto the ink direction alone
    all_ink = b < 0
    np.copyto(a, _plane_dot(planes, ink_od), where=all_ink)
    np.maximum(a, 0, out=a)
    off_plane = _off_plane(planes, ink_od)
    foreign = (foreign_colour(off_plane, norm, strong, solid_px)
               if off_plane is not None and solid_px > 1 else np.zeros(norm.shape, bool))
    seen = cand & ~foreign
    if np.count_nonzero(seen) < FOREIGN_MAX_SHARE * np.count_nonzero(cand):
        # most of the seal's colour "covered": the ink's colour was misread, not a badge
        foreign[:] = False
        seen = cand
    full = np.percentile(spread_sample(a[seen], DIRECTION_SAMPLE), 95)
    np.divide(a, max(full, 1e-3), out=a)
    ink = np.clip(a, 0, 1, out=a)
    occlusion = b > 0.5  # a black layer at least as dense as faint print
    # ... or a pen's stroke near the ink's own hue (a navy ballpoint on a blue seal): dark in
    # every channel, where a seal's ink stays light in its own
    occlusion |= brightest_channel(normalised) < PEN_LIGHT
    occlusion |= foreign
    jitter = colour_jitter(planes, ink_od, ink, occlusion, off_plane)
    return Separation(ink, occlusion, ink_od.astype(np.float32), False, colour_jitter=jitter)


#: Ink level (of the imprint's full ink) from which a pixel counts as inside a stroke for
#: :func:`colour_jitter`, and the least number of such pixels for a measurement.
JITTER_INK_LEVEL = 0.5
JITTER_MIN_PX = 200


def colour_jitter(planes: Sequence[np.ndarray], ink_od: np.ndarray, ink: np.ndarray,
                  occlusion: np.ndarray, off_plane: np.ndarray | None = None) -> float | None:
    """How much the ink's colour changes from pixel to pixel inside the strokes: the density
    off the plane of the seal's ink and black, less its local mean (a pixel's scale), as a
    spread (median absolute deviation) over the strokes' density along the ink. A stamp
    pad's ink is one colour, whatever its amount; a colour printer lays red as magenta and
    yellow dots on screens of their own, whose mix changes from dot to dot. ``off_plane``:
    :func:`_off_plane` where it is already computed."""
    if off_plane is None:
        off_plane = _off_plane(planes, ink_od)
    if off_plane is None:  # an ink the colour of black: no plane
        return None
    inside = (ink >= JITTER_INK_LEVEL) & ~occlusion
    # away from stroke edges, where the ink's own density falls off over a pixel
    inside = cv2.erode(inside.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    if np.count_nonzero(inside) < JITTER_MIN_PX:
        return None
    fine = off_plane - cv2.GaussianBlur(off_plane, (0, 0), 1.0)
    # the sampled stroke pixels only, for both: the same sample as of their values
    at = spread_sample(np.flatnonzero(inside), DIRECTION_SAMPLE)
    vals = fine.reshape(-1)[at]
    along = _plane_dot([p.reshape(-1)[at] for p in planes], ink_od)
    level = float(np.median(along))
    if level <= 0:
        return None
    return float(np.median(np.abs(vals - np.median(vals)))) / level


#: A printer's screen: the high-pass ink's spectrum is searched from this frequency up to the
#: pixel's own. 3.5 lines per mm (89 lpi) lies below every office printer's screen (100 to
#: 200 lpi) and the second harmonic of a 600-dpi printer's 8 px dither, and above the
#: repeats of a seal's own strokes (parallel strokes of a character about 1 mm apart,
#: whose harmonics fade by the third).
DOTS_MIN_CYCLES_PER_MM = 3.5
#: Where the band would start above this many cycles per px, the capture is too coarse to
#: show dots (150 dpi): nothing is measured.
DOTS_MAX_START = 0.45
#: The window (px, at most) at the imprint's centre, the least number of its pixels that must
#: be strokes, and the ink level of a stroke.
DOTS_WINDOW = 512
DOTS_MIN_PX = 2000
DOTS_INK_LEVEL = 0.3
#: JPEG codes 8 px blocks (16 px for its halved colour), whose edges put energy on the lines
#: k/8 and k/16 of either frequency axis: within this many bins of them a peak cannot be told
#: from compression, and is not looked at.
DOTS_JPEG_BINS = 1.5


def _smooth_size(n: int) -> int:
    """The largest size up to ``n`` with no prime factor above 7: a Fourier transform of a
    size with a large prime factor (a window 431 px wide) takes tens of times longer (23 ms
    against 0.4 ms at 420)."""
    for m in range(n, 0, -1):
        k = m
        for p in (2, 3, 5, 7):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
    return n


@lru_cache(maxsize=16)
def _dots_rings(size: int) -> np.ndarray:
    """(size, size // 2 + 1) int: each frequency's radius in bins, rounded (its ring)."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    return np.rint(np.hypot(fy, fx) * size).astype(np.intp)


@lru_cache(maxsize=16)
def _dots_band(size: int, start: float) -> np.ndarray:
    """(size, size // 2 + 1) bool: the frequencies :func:`dot_periodicity` looks at."""
    fy = np.abs(np.fft.fftfreq(size))[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    band = np.hypot(fy, fx) >= start
    for step in (8, 16):
        for f in (fx, fy):
            band = band & (np.abs(f * step - np.round(f * step)) * size / step > DOTS_JPEG_BINS)
    return band


def dot_periodicity(ink: np.ndarray, known: np.ndarray, centre: tuple[float, float],
                    radius: float, px_per_mm: float) -> float | None:
    """How periodic the ink is at the capture's own resolution: log10 of the strongest peak
    of the high-passed strokes' spectrum over the typical power at its own frequency (the
    geometric mean over the ring of that radius), at frequencies of a printer's screens
    (:data:`DOTS_MIN_CYCLES_PER_MM` and up). A halftone or an ordered dither repeats its dots;
    a stamp pad's ink does not. Each frequency is weighed against its own ring because the
    strokes' edges spread power that falls with frequency: against one median for the whole
    band, a fine capture's lowest screen frequencies stood out by that slope alone (stamped
    imprints read 2.0 to 2.6 at 600 dpi, 1.4 to 2.4 at 300, so measured). Measured before
    the imprint is resampled to the canonical size, which averages a 600-dpi capture's dots
    away. None where the capture is too coarse for dots or too little of the window round
    ``centre`` (px of ``ink``) is known stroke."""
    start = round(DOTS_MIN_CYCLES_PER_MM / px_per_mm, 3)
    h, w = ink.shape
    side = _smooth_size(int(min(2 * radius, DOTS_WINDOW, h, w)))
    if start > DOTS_MAX_START or side < 64:
        return None
    x0 = min(max(int(round(centre[0] - side / 2)), 0), w - side)
    y0 = min(max(int(round(centre[1] - side / 2)), 0), h - side)
    win = ink[y0:y0 + side, x0:x0 + side]
    strokes = (win > DOTS_INK_LEVEL) & known[y0:y0 + side, x0:x0 + side]
    if np.count_nonzero(strokes) < DOTS_MIN_PX:
        return None
    fine = win - cv2.GaussianBlur(win, (0, 0), 2.0)
    near = cv2.dilate(strokes.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    taper = np.hanning(side).astype(np.float32)
    fine = np.where(near, fine, 0).astype(np.float32) * taper[:, None] * taper[None, :]
    # OpenCV's transform in single precision: a quarter of the time of numpy's (in double)
    spectrum = cv2.dft(fine, flags=cv2.DFT_COMPLEX_OUTPUT)[:, :side // 2 + 1]
    power = spectrum[..., 0] ** 2 + spectrum[..., 1] ** 2
    looked = _dots_band(side, start)
    band, rings = power[looked], _dots_rings(side)[looked]
    seen = band > 0  # (a frequency with no power at all is no evidence of a level)
    if not seen.any():
        return None
    if not seen.all():
        band, rings = band[seen], rings[seen]
    level = np.log10(band)
    typical = np.bincount(rings, level) / np.maximum(np.bincount(rings), 1)
    return float((level - typical[rings]).max())


def _separate_tone(grey_od: np.ndarray, strong: np.ndarray) -> Separation:
    """A grey imprint (a photocopy, a fax): no colour to unmix by, but a seal's ink copies as
    a mid grey and black print as black. Black print and its blurred edge are marked as
    covering the seal; the ink is the grey density against the seal's own full density.
    Where the seal copied as dark as the text, all dark ink is the seal's."""
    black = grey_od > BLACK_PRINT_OD
    cover = widen(black, 2) if black.any() else black
    mid = strong & ~cover
    n_strong = int(np.count_nonzero(strong))
    n_mid = np.count_nonzero(mid)
    if n_strong == 0 or (n_mid < MIN_TONE_SHARE * n_strong and n_mid < MIN_TONE_AREA * mid.size):
        full = np.percentile(grey_od[strong], 95) if n_strong else 1.0
        grey = np.clip(grey_od / max(float(full), 1e-3), 0, 1)
        return Separation(grey.astype(np.float32), np.zeros(grey_od.shape, bool),
                          BLACK_OD.copy(), True, print_told_apart=False)
    full = float(np.percentile(grey_od[mid], 95))
    ink = np.clip(grey_od / max(full, 1e-3), 0, 1)
    return Separation(np.where(cover, 0.0, ink).astype(np.float32), cover, BLACK_OD.copy(),
                      True)
