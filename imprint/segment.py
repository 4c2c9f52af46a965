"""Find every seal imprint on a page.

Reads top to bottom: shrink the page to a working size; divide by the paper; mask seal-ink
colours (:mod:`imprint.ink`), leaving out what surrounds a photographed sheet; join each
imprint's strokes into one blob, split by ink where a red and a blue imprint overlap; explain
each blob by one fitted border, or, where several circles fit its ink better and run along
its outline (overlapping imprints), by those circles, found with a bank of ring filters; keep
what looks like a seal (size, shape, ink along the border). Pages with no colour at all
(photocopies, faxes) are searched with the same ring filters on dark ink, and only rings
verified as seal borders count.
"""

from __future__ import annotations

import contextvars
import dataclasses
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from imprint.boxes import fill_outline
from imprint.ink import (
    PEN_LIGHT,
    SEAL_TONE_OD,
    FaintInk,
    InkMasks,
    brightest_channel,
    dark_ink,
    faint_ink,
    ink_masks,
    normalise,
    off_page,
    seal_tones,
    widen,
)
from imprint.sheet import sheet_view
from imprint.sides import square_borders
from imprint.slivers import find_slivers
from imprint.types import Detection

WORK_LONG_SIDE = 1000  # px: pages are searched at about this size (A4 at ~85 dpi)
#: ... and at most this resolution (px/mm) where the dpi is known: a close crop's strokes and
#: the gaps between them stay a few px wide, at a quarter of the pixels of a 300-dpi crop
MAX_WORK_PX_PER_MM = 8.0
SEAL_DIAMETER_MM = (12.0, 75.0)  # smallest name seal to largest government seal
MIN_SEAL_FRACTION = 0.025  # without a dpi: a seal spans at least this much of the long side
STIPPLE_MM = 0.5  # gaps between the dots of starved ink
#: A blob's outline whose inside is inked this sparsely is looked at as starved ink, its border
#: measured where gaps up to :data:`STARVED_GAP_MM` are closed: a seal stamped with little ink
#: or pressure prints a scatter of dots a page's reduced copy resolves as loose specks.
STARVED_DENSITY = 0.1
STARVED_GAP_MM = 1.2
#: Confidence (from the border's support) below which a detection on a close crop's coarse
#: copy is looked for again on the finer one.
WEAK_CONFIDENCE = 0.8
JOIN_MM = 2.2  # gaps an imprint's strokes leave between them (character to border)
MIN_SEAL_PX = 20  # working px: anything smaller is a speck, whatever the scale
WHOLE_VISIBLE = 0.98  # share of its outline on the page from which an imprint is whole
MIN_RING_SUPPORT = 0.45  # fraction of the visible border that must carry ink
MIN_INK_SHARE = 0.2  # a blob with this much of each of two inks holds two imprints
#: A round or oval border wholly on the page but inked along less than this much of its
#: length must show the characters of a seal inside it: at least :data:`MIN_GLYPHS`
#: separate marks. A signature's loops also trace a rough ellipse, but inside it lie a few
#: long strokes, not a legend.
WEAK_BORDER = 0.7
MIN_GLYPHS = 4
#: A round or oval seal's share of inked samples inside its border (star, characters; a
#: starved one's dots): a drawn circle's is nothing.
MIN_INTERIOR_INK = 0.01
GLYPH_MIN_MM = 0.3  # smaller specks are not counted as marks
#: The lighter part of an imprint's ink (the 90th percentile, over its ink pixels, of the
#: brightest channel against the paper) is at least this. Seal ink is a thin film of one dye
#: that passes its own colour: a blue imprint stays bright in blue, a red one in red, however
#: heavily stamped. A ballpoint's or gel pen's dark blue absorbs in every channel; its
#: signatures otherwise trace small blue "imprints" (on generated development pages: signatures
#: 0.26 to 0.52, red, blue and violet imprints on scans and photos 0.77 and above).
MIN_SEAL_INK_LIGHT = 0.6
MIN_PEN_PX = 20  # fewer working px of the other ink than this are not judged by their tone
#: A pen's strokes of the imprint's own hue (darker than :data:`imprint.ink.PEN_LIGHT` in
#: their brightest channel) are split off a blob when they are this share of its ink.
PEN_SHARE = 0.05
#: ... with, or without, this many working px round them (their blurred edge).
PEN_EDGE_PX = 1
MIN_SQUARE_ASPECT = 0.5  # short side over long side of a square or rectangular seal
MONOCHROME_FRACTION = 0.0005  # fewer seal-coloured pixels than this: a grey page
#: Without a dpi, an image is searched again as a close crop about this wide (mm): one seal
#: with a margin, as a bank counter or a phone crops it (not a photograph of a whole sheet).
CROP_SPAN_MM = 60.0
#: ... where an imprint's box spans at least this much of the crop's short side. Its box, not
#: its side: a square seal turned 30 degrees spans a third more than its side (a phone close-up
#: of an 18 mm name seal: its box 0.36 of the frame upright, 0.46 turned 30 degrees), as a
#: counter crops round what it sees. (A smaller share, 0.3, let rings through a page's print
#: replace its seals.)
CROP_FILL = 0.4


@dataclass(frozen=True)
class _Candidate:
    centre: tuple[float, float]
    axes: tuple[float, float]
    angle: float
    shape: str
    box: tuple[float, float, float, float]
    support: float
    visible: float
    sides: bool = False  # a square found by its straight sides (:func:`_with_squares`)
    #: a seal found by its outline beyond a round imprint it was stamped across
    #: (:func:`_beyond_circle`): its centre may lie inside that one's circle
    across: bool = False
    ring: bool = False  # a circle found by the ring filters (:func:`_verify_ring`)
    pieces: bool = False  # ... on ink in pieces that no border joins (:func:`_rings_of_pieces`)


def _estimate_dpi(shape: tuple[int, int]) -> float:
    """Without metadata: assume the page is A4 or smaller (long side 297 mm)."""
    return max(shape) / (297 / 25.4)


def detect_imprints(image: np.ndarray, *, dpi: float | None = None, page: int = 0
                    ) -> list[Detection]:
    """Every seal imprint on ``image`` ``(H, W, 3) uint8`` RGB.

    ``dpi`` (from the file) sets the plausible seal size; without it the image is searched
    both as a page of at most A4 and, unless it is a photograph of a whole sheet, as a close
    crop of one seal. Where nothing is found on a close crop, or without a dpi nothing that
    fills it, a starved seal's faint scatter of dots is looked for (:func:`_faint_imprints`);
    on a page of a known dpi, beside the imprints found (:func:`_with_faint_seals`).
    Returns detections sorted by confidence, highest first; boxes in page px.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("image must be (H, W, 3) RGB")
    h, w = image.shape[:2]
    # every n-th pixel: seal strokes stay a pixel or more wide at this size, and sampling
    # costs a fraction of averaging
    n = max(1, math.ceil(max(h, w) / WORK_LONG_SIDE))
    coarse = max(n, math.ceil(dpi / 25.4 / MAX_WORK_PX_PER_MM)) if dpi else n
    if coarse > n:
        # a close crop: first at the coarser scale; what it misses (starved ink, whose dots
        # only the full resolution resolves) is looked for again at the finer
        found = _detect_at(image, coarse, dpi, page)
        if any(d.confidence >= WEAK_CONFIDENCE for d in found):
            return found
        # only weakly bordered imprints: where the finer copy resolves a starved scatter's
        # dots into one imprint with a clearer border, it is that one (the coarse copy
        # breaks it into pieces)
        finer = _detect_at(image, n, dpi, page)
        best = max((d.confidence for d in found), default=0.0)
        found = finer if max((d.confidence for d in finer), default=0.0) > best else found
    else:
        found = _detect_at(image, n, dpi, page)
    # without a dpi, the image as a close crop (its seal filling it): its own px per mm
    full = max(h, w) / CROP_SPAN_MM
    if dpi is None and found and not any(_fills_crop(d, (h, w)) or d.sheet_sides is not None
                                         for d in found):
        # nothing filling the image as a close crop's seal does, only what a page's scale
        # made of a starved seal's strokes (its characters): the seal is the faint scatter
        # round them all. (On this working copy only: searched on a coarser one first, the
        # whole seals of photographed pages gave way to rings round them.)
        faint = [f for f in _faint_imprints(image, n, full / n, page, CROP_FILL)
                 if max(f.box[2] - f.box[0], f.box[3] - f.box[1]) <= FAINT_MOST * min(h, w)]
        if faint and all(any(_part_of_ring(d, f) for f in faint) for d in found):
            return _one_per_scatter(faint)
    if dpi is not None and max(h, w) / dpi * 25.4 > FAINT_CROP_MM:
        found = _with_faint_seals(image, found, FAINT_PAGE_STEP * coarse, dpi / 25.4, page)
    if found:
        return found
    # nothing found on a close crop: a starved seal's faint scatter
    if dpi is None:
        return _faint_search(image, (max(n, math.ceil(full / MAX_WORK_PX_PER_MM)), n), full,
                             page, CROP_FILL)
    if max(h, w) / dpi * 25.4 <= FAINT_CROP_MM:
        return _faint_search(image, (coarse, n), dpi / 25.4, page, 0.0)
    return found


#: Of an imprint found on a page, the disc (its radius times this) left out of the search for a
#: faint scatter beside it.
NEIGHBOUR_DISC = 1.1


def _with_faint_seals(image: np.ndarray, found: list[Detection], n: int, px_per_mm: float,
                      page: int) -> list[Detection]:
    """``found`` with the seals on a page stamped with too little ink to be found otherwise:
    a scatter of faint dots whose averaged chroma draws a ring (:func:`_faint_imprints`, on
    the copy of every ``n``-th pixel; ``px_per_mm`` the page's own) beside the imprints found,
    each replacing the weakly bordered pieces of it the page's copy held (its characters, a
    stretch of its ring)."""
    sure = [d for d in found if d.confidence >= WEAK_CONFIDENCE]
    out = list(found)
    for f in _faint_imprints(image, n, px_per_mm / n, page, 0.0, beside=sure,
                             least_mm=FAINT_PAGE_MM[0], sheet_only=True):
        across = 2 * max(f.axes) / px_per_mm
        if (f.confidence < FAINT_PAGE_CONFIDENCE
                or not FAINT_PAGE_MM[0] <= across <= FAINT_PAGE_MM[1]):
            continue
        rest = [d for d in out if d.confidence >= WEAK_CONFIDENCE or not _part_of_ring(d, f)]
        if any(math.dist(d.centre, f.centre) < max(d.axes) + max(f.axes) for d in rest):
            continue
        out = [*rest, f]
    return sorted(out, key=lambda d: -d.confidence)


def _faint_search(image: np.ndarray, steps: tuple[int, ...], px_per_mm: float, page: int,
                  fill: float) -> list[Detection]:
    """:func:`_faint_imprints` on the working copy of every ``k``-th pixel for each ``k`` of
    ``steps`` in turn (``px_per_mm`` the image's own), until one finds any: the coarser
    first, where each working pixel averages more of a starved seal's dots and blots a few
    mm apart join into its ring."""
    for k in dict.fromkeys(steps):
        faint = _faint_imprints(image, k, px_per_mm / k, page, fill)
        if faint:
            return _one_per_scatter(faint)
    return []


def _one_per_scatter(rings: list[Detection]) -> list[Detection]:
    """The faint rings of a close crop without those centred inside a larger one: drawn
    through the same scatter (its legend, part of its border; the seal's border is its
    outermost ring), as a close crop holds one starved seal, not two across each other."""
    kept: list[Detection] = []
    for d in sorted(rings, key=lambda d: -max(d.axes)):
        if not any(math.dist(d.centre, k.centre) < min(k.axes) for k in kept):
            kept.append(d)
    return [d for d in rings if any(d is k for k in kept)]


#: A starved seal's faint ring taken for the imprints found inside it spans no more than this
#: share of the image's short side (a page's seal-coloured print, averaged, makes rings as
#: large as the page).
FAINT_MOST = 0.9


#: ... and the imprints found inside it are its characters: none larger than this share of
#: its box (a whole seal found there, smaller than a close crop's, is the seal, not a part).
FAINT_PART_MOST = 0.6


def _part_of_ring(d: Detection, ring: Detection) -> bool:
    """Whether ``d`` is a character of ``ring``'s seal: centred in its box and no larger than
    :data:`FAINT_PART_MOST` of it."""
    x0, y0, x1, y1 = ring.box
    side = min(x1 - x0, y1 - y0)
    return (x0 <= d.centre[0] <= x1 and y0 <= d.centre[1] <= y1
            and max(d.box[2] - d.box[0], d.box[3] - d.box[1]) <= FAINT_PART_MOST * side)


def _fills_crop(d: Detection | _Candidate, shape: tuple[int, int]) -> bool:
    """Whether ``d``'s box spans :data:`CROP_FILL` of the image's short side (a close crop's
    seal)."""
    return min(d.box[2] - d.box[0], d.box[3] - d.box[1]) >= CROP_FILL * min(shape)


#: An image of a known dpi at most this long (mm) is a close crop round one seal, searched for a
#: starved seal's faint scatter where nothing else is found in it; a longer one is a page,
#: searched for a scatter beside the seals found (:func:`_with_faint_seals`).
FAINT_CROP_MM = 2 * CROP_SPAN_MM
#: A page's faint scatter is searched on a copy this many times coarser than its working copy
#: (about 4 px/mm at 300 dpi): its dots, averaged, join into a ring there, at a quarter of the
#: work of the working copy's scale.
FAINT_PAGE_STEP = 2
#: ... and kept only as a ring this confident (its border's support), a seal's size across
#: (mm), and clear of every imprint found but the pieces of it the page's copy held (a ring
#: across another seal is drawn through that seal's own ink).
FAINT_PAGE_CONFIDENCE = 0.9
FAINT_PAGE_MM = (25.0, 65.0)


def _faint_imprints(image: np.ndarray, n: int, px_per_mm: float, page: int, fill: float,
                    beside: Sequence[Detection] = (), least_mm: float = 0.0,
                    sheet_only: bool = False) -> list[Detection]:
    """Round and oval imprints of a close crop where nothing else is found, or nothing but what
    lies inside them (a starved seal's characters, at a page's scale): a seal stamped with too
    little ink, a scatter of faint dots no ink mask holds (:func:`imprint.ink.faint_ink`),
    whose ring the ring filters find on the dots' averaged chroma, on the working copy of
    every ``n``-th pixel at ``px_per_mm``; each spanning ``fill`` of the image's short side.
    The discs of the imprints ``beside`` are left out of the scatter (their rings are theirs),
    and with ``sheet_only`` what surrounds a photographed sheet (a coloured table or cloth);
    where what is left could not ink :data:`MIN_RING_SUPPORT` of a ring ``least_mm`` across,
    no ring is looked for."""
    small = _every_nth(image, n)
    faint = faint_ink(normalise(small), STIPPLE_MM * px_per_mm)
    around = off_page(small, 0, px_per_mm=px_per_mm) if sheet_only else None
    if around is not None:
        faint.mask[widen(around, round(JOIN_MM * px_per_mm))] = False
    for d in beside:
        cv2.circle(faint.mask.view(np.uint8), (round(d.centre[0] / n), round(d.centre[1] / n)),
                   round(NEIGHBOUR_DISC * max(d.axes) / n), 0, -1)
    least_px = MIN_RING_SUPPORT * math.pi * least_mm * px_per_mm
    if cv2.countNonZero(faint.mask.view(np.uint8)) < least_px:
        return []
    h, w = small.shape[:2]
    out = []
    # (an oval seal's ends each hold a ring of its minor axis)
    rings = _ovals_of_pairs(faint.mask, _grey_candidates(faint.mask, px_per_mm),
                            max(1.0, 1.2 * px_per_mm))
    for c in rings:
        x0, y0, x1, y1 = c.box
        if min(x1 - x0, y1 - y0) < fill * min(h, w):
            continue
        out.append(dataclasses.replace(_detection(c, n, _scatter_colour(
            faint, np.s_[int(y0):int(y1) + 1, int(x0):int(x1) + 1]), page), scatter=True))
    return sorted(out, key=lambda d: -d.confidence)


def _scatter_colour(faint: FaintInk, box) -> str:
    """The ink whose averaged chroma is the most in ``box`` (a slice) of a faint scatter."""
    return max(faint.by_colour, key=lambda k: float(faint.by_colour[k][box].mean()))


def _detection(c: _Candidate, n: int, colour: str, page: int, horizon=None, sides=None
               ) -> Detection:
    """A candidate of a working copy of every ``n``-th pixel as a detection in page px."""
    conf = float(np.clip(0.5 * c.support + 0.5 * min(1.0, c.support / 0.8), 0, 1))
    x0, y0, x1, y1 = c.box
    return Detection(
        box=(x0 * n, y0 * n, x1 * n, y1 * n), centre=(c.centre[0] * n, c.centre[1] * n),
        axes=(c.axes[0] * n, c.axes[1] * n), angle=(-c.angle) % 180, shape=c.shape,
        colour=colour, confidence=conf, visible=c.visible, page=page, horizon=horizon,
        sheet_sides=sides)


def _detect_at(image: np.ndarray, n: int, dpi: float | None, page: int) -> list[Detection]:
    """:func:`detect_imprints` on a working copy of every ``n``-th pixel."""
    h, w = image.shape[:2]
    f = 1.0 / n
    small = _every_nth(image, n)
    px_per_mm = (dpi or _estimate_dpi((h, w))) / 25.4 * f
    norm = normalise(small)
    # what surrounds a photographed sheet: its own outline gives the horizon; widened, it is
    # kept out of the ink masks
    around = off_page(small, 0, px_per_mm=px_per_mm)
    horizon, sides = _page_sheet(small, n, around) if around is not None else (None, None)
    if around is not None:
        around = widen(around, round(JOIN_MM * px_per_mm))
    masks = ink_masks(norm, off_page=around)
    # each pixel's brightest channel against the paper, on a page with seal colours (None on
    # a grey page): seal ink passes its own colour, a pen's or print's absorbs in every one
    lightest = (brightest_channel(norm) if masks.any.mean() >= MONOCHROME_FRACTION
                else None)
    colour_of = _colour_vote(masks, lightest) if lightest is not None else None
    sheet = None if around is None else ~around
    token = _ON_SHEET.set(sheet)
    try:
        # a fax's seal dithered into dots that every n-th pixel mostly misses
        dots = (_dither_dots(image, n, small.shape[:2]) if lightest is None and n >= 2
                and around is None and _bilevel(image) else None)
        candidates = _candidates(norm, masks, lightest, around, px_per_mm, dpi is not None,
                                 dots, pieces=True)
        # (a photograph that shows the sheet's four edges is of a page, not a close crop of
        # one seal: no seal fills most of a frame round a whole sheet)
        if dpi is None and sides is None:
            candidates = _as_crop(norm, masks, lightest, around, candidates)
    finally:
        _ON_SHEET.reset(token)
    if sheet is not None:
        candidates = [_box_on_sheet(c, sheet) for c in candidates]
    out = [_detection(c, n, colour_of(c) if colour_of else "grey", page, horizon, sides)
           for c in candidates]
    return sorted(out, key=lambda d: -d.confidence)


#: The working copy's sheet, where a photograph shows what surrounds it (True on the sheet;
#: None: the whole image is the page). An outline's border beyond the sheet's edge is off the
#: page as one beyond the image's edge is: a seal stamped across the sheet's edge is an edge
#: half there too. Set for one working copy's search by :func:`_detect_at`.
_ON_SHEET: contextvars.ContextVar[np.ndarray | None] = contextvars.ContextVar("_ON_SHEET",
                                                                              default=None)


def _bilevel(image: np.ndarray) -> bool:
    """Whether ``image`` is black and white only (a fax, a bilevel scan), judged on a sparse
    sample of its pixels."""
    return bool(np.isin(image[::7, ::7, 0], (0, 255)).mean() >= BILEVEL_SHARE)


def _dither_dots(image: np.ndarray, n: int, shape: tuple[int, int]) -> np.ndarray:
    """``shape`` bool: the working-copy cells (every ``n``-th pixel of a bilevel ``image``,
    each the middle of an ``n`` x ``n`` cell) holding an isolated black pixel. A fax breaks a
    seal's lighter ink into scattered dots (its dither, or its threshold on a starved
    stamping), while print stays solid strokes: a dot is a black pixel with at most
    DITHER_NEIGHBOURS black neighbours, which picking one pixel of each cell mostly misses,
    and which any dot in the cell keeps. (A line one pixel thin counts as dots too: a rule
    or a hairline; a ring of them must still hold a legend.) Read in strips of DOTS_STRIP
    working rows, so that a large page costs a strip's memory."""
    h, w = shape
    height, width = image.shape[:2]
    out = np.empty((h, w), bool)
    for top in range(0, h, DOTS_STRIP):
        rows = min(DOTS_STRIP, h - top)
        # with a row above and below and a column beyond: a dot's neighbours (outside the
        # image, paper)
        y0, y1 = max(top * n - 1, 0), min((top + rows) * n + 1, height)
        x1 = min(w * n + 1, width)
        black = cv2.compare(cv2.extractChannel(image[y0:y1, :x1], 0), 128, cv2.CMP_LT)
        count = cv2.boxFilter(black, cv2.CV_16U, (3, 3), normalize=False,
                              borderType=cv2.BORDER_CONSTANT)  # 255 a black pixel
        dots = cv2.bitwise_and(black, cv2.compare(count, 255 * (DITHER_NEIGHBOURS + 1),
                                                  cv2.CMP_LE))
        own = dots[top * n - y0:top * n - y0 + rows * n, :w * n]
        # the working copy's last row or column may sample a cell cut by the image's edge
        own = cv2.copyMakeBorder(own, 0, rows * n - own.shape[0], 0, w * n - own.shape[1],
                                 cv2.BORDER_CONSTANT, value=0)
        # (the cell's mean, exact in floating point however large the cell: any dot is > 0)
        out[top:top + rows] = cv2.resize(own.astype(np.float32), (w, rows),
                                         interpolation=cv2.INTER_AREA) > 0
    return out


#: A page whose sampled pixels are this much pure black or white is bilevel (a fax).
BILEVEL_SHARE = 0.999
#: A black pixel with no more black neighbours than this (of 8) is a dither's dot.
DITHER_NEIGHBOURS = 3
DOTS_STRIP = 128  # working rows of a page read at once for its dots


def _on_page(mask: np.ndarray, xi: np.ndarray, yi: np.ndarray) -> np.ndarray:
    """Which samples (integer px ``xi``, ``yi`` on an image of ``mask``'s shape) lie on the
    page: inside the image, and on the sheet where one is set for that image."""
    h, w = mask.shape
    ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    sheet = _ON_SHEET.get()
    if sheet is not None and sheet.shape == mask.shape:
        ok[ok] = sheet[yi[ok], xi[ok]]
    return ok


def _box_on_sheet(c: _Candidate, sheet: np.ndarray) -> _Candidate:
    """``c`` with its box cut to the part of its outline on the photographed ``sheet`` (a
    seal stamped across the sheet's edge shows only that part)."""
    if c.visible >= WHOLE_VISIBLE:
        return c
    h, w = sheet.shape
    x0, y0 = max(int(math.floor(c.box[0])), 0), max(int(math.floor(c.box[1])), 0)
    x1, y1 = min(int(math.ceil(c.box[2])), w), min(int(math.ceil(c.box[3])), h)
    if x1 <= x0 or y1 <= y0:
        return c
    shape = np.zeros((y1 - y0, x1 - x0), np.uint8)
    fill_outline(shape, (c.centre[0] - x0, c.centre[1] - y0), c.axes, c.angle,
                 c.shape == "square")
    ys, xs = np.nonzero(shape.astype(bool) & sheet[y0:y1, x0:x1])
    if xs.size == 0:
        return c
    return dataclasses.replace(c, box=(float(x0 + xs.min()), float(y0 + ys.min()),
                                       float(x0 + xs.max() + 1), float(y0 + ys.max() + 1)))


def _every_nth(image: np.ndarray, n: int) -> np.ndarray:
    """Every ``n``-th pixel of ``image`` both ways, from the middle of each ``n`` x ``n``
    cell."""
    if n == 1:
        return image
    h, w = image.shape[:2]
    if n % 2 == 0 and h % n == 0 and w % n == 0:
        # OpenCV's nearest-exact sampling picks the same pixels at a fraction of the time of
        # a strided copy (an A4 page at 300 dpi), where its scale is n exactly and n even
        return cv2.resize(np.ascontiguousarray(image), (w // n, h // n),
                          interpolation=cv2.INTER_NEAREST_EXACT)
    return np.ascontiguousarray(image[n // 2::n, n // 2::n])


def _nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D mask, searched only inside its bounding box: a blob's mask is
    page-sized, its pixels a small part of it."""
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    ys, xs = np.nonzero(mask[y:y + h, x:x + w])
    return ys + y, xs + x


def _candidates(norm: np.ndarray, masks: InkMasks, lightest: np.ndarray | None,
                around: np.ndarray | None, px_per_mm: float, size_known: bool,
                dots: np.ndarray | None = None, pieces: bool = False) -> list[_Candidate]:
    """The imprints of a working copy at an assumed scale: by their ink's colour
    (``lightest`` given: a page with seal colours), or on a page without colour by tone and
    rings (``dots``: a bilevel page's dither dots, :func:`_dither_dots`)."""
    if lightest is not None:
        found = _colour_candidates(masks.any, masks.by_colour["red"], px_per_mm, size_known,
                                   lightest, _bridged(masks.any, px_per_mm), masks.saturated)
        found = [c for c in found
                 if _ink_light(lightest, masks.saturated, c) >= MIN_SEAL_INK_LIGHT]
        if pieces and px_per_mm < CLOSE_CROP_PX_PER_MM:
            # a page's reduced copy (on a close crop the strokes of a seal cut by the crop
            # hold rings and slivers of their own)
            seal_ink = masks.any & (lightest >= PEN_LIGHT)
            found = _with_rings_of_pieces(seal_ink, found, px_per_mm, size_known)
            if around is None and size_known:
                found += _edge_slivers(seal_ink, found, px_per_mm)
        return found
    found = _grey_page_candidates(norm, around, px_per_mm, size_known, dots)
    return found if size_known else _without_print(found)


#: Without a scale, on a page without colour: more than this many imprints of one size (their
#: larger axes within :data:`PRINT_SIZES` of each other) are the characters of print (a close-up
#: of text, where a character spans a seal's share of the image, and its rings, ovals and
#: framed squares pass for seals), not seals: a page holds a few seals, rarely many of one size.
#: Nor is anything of that size or smaller (a character's parts, a pair of characters): a seal
#: is larger than the characters of the print it is stamped on.
MAX_SAME_SIZE = 4
PRINT_SIZES = 0.25


def _without_print(found: list[_Candidate]) -> list[_Candidate]:
    """``found`` without the characters of print: the imprints of a size that more than
    :data:`MAX_SAME_SIZE` of them share, and all no larger (see there)."""
    if len(found) <= MAX_SAME_SIZE:
        return found
    sizes = [max(c.axes) for c in found]
    shared = [r for r in sizes if sum(abs(q - r) <= PRINT_SIZES * r for q in sizes)
              > MAX_SAME_SIZE]
    if not shared:
        return found
    largest = (1 + PRINT_SIZES) * max(shared)
    return [c for c, r in zip(found, sizes, strict=True) if r > largest]


#: Seal ink that no imprint found explains is searched for rings where it spans this much
#: (of the least round seal's diameter, :data:`GREY_RING_MIN_MM`) joined across gaps of
#: PIECES_JOIN_MM.
PIECES_SPAN, PIECES_JOIN_MM = 0.8, 5.0


def _with_rings_of_pieces(ink: np.ndarray, found: list[_Candidate], px_per_mm: float,
                          size_known: bool) -> list[_Candidate]:
    """``found`` with the round imprints whose ink falls apart into pieces
    (:func:`_rings_of_pieces`). Without a scale a seal's legend characters are of a seal's
    smallest size, and make borders and rings of their own: smaller than a ring of pieces,
    they neither cut its ink apart nor stand beside it where it lies round them (unless
    found by four straight sides: a name seal stamped on it). A ring of pieces that runs
    into an imprint found, or into another such ring, is characters itself (the rings
    through a close-up's text)."""
    span = PIECES_SPAN * GREY_RING_MIN_MM * px_per_mm

    def piece_of_legend(c: _Candidate) -> bool:
        return not size_known and not c.sides and 2 * max(c.axes) < span

    rings = _rings_of_pieces(ink, [c for c in found if not piece_of_legend(c)], px_per_mm)
    found = [c for c in found if not (piece_of_legend(c) and any(
        k.axes[0] > 1.3 * max(c.axes)
        and math.dist(c.centre, k.centre) + max(c.axes) <= OUTERMOST_REACH * k.axes[0]
        for k in rings))]
    if not size_known:
        rings = [k for k in rings if not _overlaps_any(
            k.box, found + [o for o in rings if o is not k], 0.1)]
    return found + rings


def _rings_of_pieces(ink: np.ndarray, found: list[_Candidate], px_per_mm: float
                     ) -> list[_Candidate]:
    """Round imprints on a colour page whose ink falls apart into pieces that no border joins
    (a faint seal photographed, its border a dashed line broken wider than the strokes are
    joined across): the seal ink outside every imprint found (``found``), where it makes a
    group of a round seal's size, searched by the ring filters and verified as on a grey page
    (:func:`_grey_candidates`: inked along its border, clearly more than just outside it,
    characters inside)."""
    rest = ink & ~_explained(ink.shape, found, px_per_mm)
    span = PIECES_SPAN * GREY_RING_MIN_MM * px_per_mm
    h, w = ink.shape
    out = []
    # (the pieces are joined on the box of what is left only)
    rx, ry, rw, rh = cv2.boundingRect(rest.view(np.uint8))
    if max(rw, rh) < span:
        return out
    for blob, (bw, bh) in _blobs(rest[ry:ry + rh, rx:rx + rw], round(PIECES_JOIN_MM * px_per_mm),
                                 0.4 * span):
        if max(bw, bh) < span:
            continue
        x, y, bw, bh = cv2.boundingRect(blob)
        x, y = x + rx, y + ry
        pad = round(2 * PIECES_JOIN_MM * px_per_mm)
        x0, y0 = max(x - pad, 0), max(y - pad, 0)
        x1, y1 = min(x + bw + pad, w), min(y + bh + pad, h)
        for c in _grey_candidates(rest[y0:y1, x0:x1], px_per_mm):
            bx0, by0, bx1, by1 = c.box
            out.append(dataclasses.replace(
                c, centre=(c.centre[0] + x0, c.centre[1] + y0),
                box=(bx0 + x0, by0 + y0, bx1 + x0, by1 + y0), pieces=True))
    return _suppress(out)


#: A cross-page sliver's circle is inked along this share of its part on the band of ink
#: (:func:`_edge_slivers`) ...
SLIVER_SUPPORT = 0.6
#: ... and holds at least this many marks there (its border's pieces and characters).
SLIVER_MARKS = 3


def _edge_slivers(ink: np.ndarray, found: list[_Candidate], px_per_mm: float
                  ) -> list[_Candidate]:
    """Cross-page seals cut to a sliver by the page's edge (:mod:`imprint.slivers`) on a
    scanned page of known scale, where no imprint found already holds them: each a round
    candidate whose ``visible`` is the share of its circle on the band of ink along the edge
    (the rest beyond the page, or covered by the next sheet when it was stamped), and whose
    box is the sliver's ink. Its circle is inked along :data:`SLIVER_SUPPORT` of that part,
    clearly more than just outside it, and the band holds marks besides (characters): a
    curve of a seal's size that runs to the edge alone is no seal's."""
    line = max(1.0, 1.2 * px_per_mm)
    out = []
    for sliver in find_slivers(ink, px_per_mm):
        if _overlaps_any(sliver.box, found + out):
            continue
        bx0, by0, bx1, by1 = (round(v) for v in sliver.band)
        band = ink[by0:by1, bx0:bx1]
        if _marks(band, px_per_mm) < SLIVER_MARKS:
            continue
        # each circle weighed on the band, in the band's own px
        weighed = []
        for (cx, cy), r in sliver.circles:
            local = (cx - bx0, cy - by0)
            weighed.append((_Candidate(local, (r, r), 0.0, "round", sliver.box,
                                       *_ring_support(band, local, (r, r), 0.0, line)),
                            (cx, cy)))
        best, centre = max(weighed, key=lambda w: w[0].support)
        if (best.support < SLIVER_SUPPORT
                or best.support - _outside_support(band, best, line) < RING_CONTRAST):
            continue
        out.append(dataclasses.replace(best, centre=centre))
    return out


def _explained(shape: tuple[int, int], found: list[_Candidate], px_per_mm: float
               ) -> np.ndarray:
    """``(H, W) bool``: what the imprints ``found`` explain, each outline grown by 2.5 lines
    (a border's blur and the ink spread round it)."""
    explained = np.zeros(shape, np.uint8)
    grow = 2.5 * max(1.0, 1.2 * px_per_mm)
    for c in found:
        fill_outline(explained, c.centre, (c.axes[0] + grow, c.axes[1] + grow), c.angle,
                     c.shape == "square")
    return explained > 0


def _marks(ink: np.ndarray, px_per_mm: float) -> int:
    """Separate marks of ``ink`` at least a glyph's speck in size (:data:`GLYPH_MIN_MM`)."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    return int((stats[1:, cv2.CC_STAT_AREA] >= max(2.0, (GLYPH_MIN_MM * px_per_mm) ** 2)).sum())


def _bridged(ink: np.ndarray, px_per_mm: float) -> np.ndarray:
    """``ink`` with the gaps of starved ink closed: a seal stamped with too little ink prints
    its strokes as a stipple of dots a few tenths of a mm apart, which a border's support
    and the ring filters would read as mostly paper. Only where the working copy resolves
    the dots (a close crop): on a page's reduced copy a closing would join the print round
    the seal to it instead."""
    k = round(STIPPLE_MM * px_per_mm) | 1
    if k < 3:
        return ink
    return cv2.morphologyEx(ink.astype(np.uint8), cv2.MORPH_CLOSE,
                            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0


def _lighter_part(lightest: np.ndarray) -> float:
    """The lighter part of some ink: the 90th percentile of its pixels' ``lightest`` (each
    one's brightest channel against the paper), what :data:`MIN_SEAL_INK_LIGHT` bounds."""
    return float(np.percentile(lightest, 90))


def _pen_like(lightest: np.ndarray | None, strokes: np.ndarray) -> bool:
    """Whether ``strokes`` (a mask) are dark in their own colour, as a pen's are."""
    if lightest is None or np.count_nonzero(strokes) < MIN_PEN_PX:
        return False
    return _lighter_part(lightest[strokes]) < MIN_SEAL_INK_LIGHT


def _ink_light(lightest: np.ndarray, ink: np.ndarray, c: _Candidate) -> float:
    """:func:`_lighter_part` of the ink pixels in the candidate's box; 1 where it holds
    none."""
    h, w = ink.shape
    x0, y0 = max(int(c.box[0]), 0), max(int(c.box[1]), 0)
    x1, y1 = min(int(c.box[2]) + 1, w), min(int(c.box[3]) + 1, h)
    vals = lightest[y0:y1, x0:x1][ink[y0:y1, x0:x1]]
    return _lighter_part(vals) if vals.size else 1.0


def _as_crop(norm: np.ndarray, masks: InkMasks, lightest: np.ndarray | None,
             around: np.ndarray | None, found: list[_Candidate]) -> list[_Candidate]:
    """Without a dpi the image may also be a close crop round one seal, whose strokes lie
    further apart than a page's scale allows to join: searched again at that scale, an
    imprint filling most of the image, inked along its border more than just outside it,
    replaces what the page's scale made of the same ink."""
    h, w = norm.shape[:2]
    px_per_mm = max(h, w) / CROP_SPAN_MM
    line = max(1.0, 1.2 * px_per_mm)
    ink = masks.any if lightest is not None else dark_ink(norm, off_page=around)
    whole = [c for c in _candidates(norm, masks, lightest, around, px_per_mm, False)
             if _fills_crop(c, (h, w))
             and c.support - _outside_support(ink, c, line) >= RING_CONTRAST
             # a form's or a table's frame is a rectangle too, rarely a square one
             and (c.shape != "square" or _box_aspect(c.box) >= 0.75)]
    return whole + [c for c in found if not (whole and c.pieces) and not any(
        _same_imprint(c, k) or _box_inside(c.box, k.box) >= 0.85 for k in whole)]


def _page_sheet(small: np.ndarray, n: int, around: np.ndarray
                ) -> tuple[tuple[float, float, float] | None, tuple | None]:
    """The photographed sheet's horizon and vanishing points (:class:`imprint.sheet.SheetView`)
    found on the working copy (every ``n``-th pixel from ``n // 2``; ``around`` what surrounds
    the sheet there), in page px: ``(horizon or None, vanishing points or None)``."""
    view = sheet_view(small, around)
    if view is None:
        return None, None
    # T takes page px to the copy's: a line l on the copy is l T on the page, a point p
    # on the copy is T^-1 p there
    t = np.array([[1 / n, 0, -(n // 2) / n], [0, 1 / n, -(n // 2) / n], [0, 0, 1]])
    horizon = None
    if view.horizon is not None:
        a, b, c = np.asarray(view.horizon) @ t
        s = float(np.hypot(a, b))
        horizon = (float(a / s), float(b / s), float(c / s))
    back = np.linalg.inv(t)
    vanishing = tuple(tuple(float(x) for x in q / np.linalg.norm(q))
                      for q in (back @ np.asarray(v) for v in view.vanishing))
    return horizon, vanishing


# --- colour pages ----------------------------------------------------------------------------

def _blobs(mask: np.ndarray, join_px: int, min_side: float
           ) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Each imprint's strokes joined into one filled blob: (mask uint8, (width, height)),
    leaving out specks smaller than ``min_side`` px both ways."""
    k = max(3, join_px | 1)
    joined = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    contours, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contours = [c for c in contours if max(cv2.boundingRect(c)[2:]) >= min_side]
    # merge what lies inside another's hull (the star inside a broken ring)
    hulls = [cv2.convexHull(c) for c in contours]
    areas = [cv2.contourArea(hh) for hh in hulls]
    order = np.argsort(areas)[::-1]
    owner = {}
    for rank, i in enumerate(order):
        m = cv2.moments(contours[i])
        if m["m00"] == 0:
            cx, cy = contours[i][0, 0]
        else:
            cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
        for j in order[:rank]:
            if owner.get(j, j) == j and cv2.pointPolygonTest(hulls[j], (float(cx), float(cy)),
                                                             False) > 0:
                owner[i] = j
                break
        else:
            owner[i] = i
    groups: dict[int, list[int]] = {}
    for i, o in owner.items():
        groups.setdefault(o, []).append(i)
    blobs = []
    for members in groups.values():
        blob = np.zeros(mask.shape, np.uint8)
        cv2.drawContours(blob, [contours[i] for i in members], -1, 1, thickness=cv2.FILLED)
        _, _, bw, bh = cv2.boundingRect(np.concatenate([contours[i] for i in members]))
        blobs.append((blob, (bw, bh)))
    return blobs


_OUTLINE_T = np.linspace(0, 2 * np.pi, 180, endpoint=False)  # samples round an outline
_OUTLINE_COS, _OUTLINE_SIN = np.cos(_OUTLINE_T), np.sin(_OUTLINE_T)
#: Four outlines at once (of the line width, out): the border lies on and just inside the
#: fitted one.
_OUTLINE_OFFSETS = np.linspace(-1.0, 0.5, 4)[:, None]


def _outline_support(mask: np.ndarray, centres, axes, angle_deg: float, line_px: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """For K ellipses at once (``centres`` and ``axes`` (K, 2), one ``angle_deg``): (K,)
    fractions of the in-page border that have ink within ``line_px`` of the ellipse, (K,)
    fractions of the border inside the page."""
    hit, inside = _outline_hits(mask, centres, axes, angle_deg, line_px)
    n_in = inside.sum(axis=1)
    support = np.where(n_in > 0, (hit & inside).sum(axis=1) / np.maximum(n_in, 1), 0.0)
    return support, inside.mean(axis=1)


def _outline_hits(mask: np.ndarray, centres, axes, angle_deg, line_px: float,
                  every: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """For K ellipses at once (``angle_deg`` one for all, or (K,)): (K, n) whether ink lies
    within ``line_px`` of each sample of the border (:data:`_OUTLINE_T`, every ``every``-th),
    (K, n) whether the sample lies on the page."""
    cos_t, sin_t = _OUTLINE_COS[::every], _OUTLINE_SIN[::every]
    c, ax = np.asarray(centres, float), np.asarray(axes, float)
    turn = np.radians(np.broadcast_to(np.asarray(angle_deg, float), (len(c),)))
    ca, sa = np.cos(turn)[:, None, None], np.sin(turn)[:, None, None]
    k = _OUTLINE_OFFSETS
    ra = np.maximum(ax[:, 0, None, None] + k * line_px, 1)  # (K, 4, 1)
    rb = np.maximum(ax[:, 1, None, None] + k * line_px, 1)
    x = c[:, 0, None, None] + ra * cos_t * ca - rb * sin_t * sa
    y = c[:, 1, None, None] + ra * cos_t * sa + rb * sin_t * ca
    xi, yi = np.floor(x).astype(int), np.floor(y).astype(int)
    ok = _on_page(mask, xi, yi)
    inked = np.zeros(ok.shape, bool)
    inked[ok] = mask[yi[ok], xi[ok]] > 0
    return inked.any(axis=1), ok.any(axis=1)  # (K, n)


def _ring_support(mask: np.ndarray, centre, axes, angle_deg, line_px: float) -> tuple[float, float]:
    """:func:`_outline_support` of one ellipse."""
    support, visible = _outline_support(mask, [centre], [axes], angle_deg, line_px)
    return float(support[0]), float(visible[0])


def _outline_points(blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The blob's outer outline, (N, 2) float32 points (x, y), and which of them lie clear
    of the image's edge (more than 2 px in): points on the page's edge are where a
    cross-page half is cut, not its border."""
    h, w = blob.shape
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return np.zeros((0, 2), np.float32), np.zeros(0, bool)
    pts = np.concatenate(contours)[:, 0, :].astype(np.float32)
    clear = (pts[:, 0] > 2) & (pts[:, 0] < w - 3) & (pts[:, 1] > 2) & (pts[:, 1] < h - 3)
    return pts, clear


def _fit_blob(blob: np.ndarray, ink: np.ndarray, px_per_mm: float) -> _Candidate | None:
    h, w = blob.shape
    pts, clear = _outline_points(blob)
    if len(pts) == 0:
        return None
    on_edge = ~clear
    border_pts = pts[clear]
    if len(border_pts) < 12:
        return None
    hull = cv2.convexHull(border_pts)
    x, y, bw, bh = cv2.boundingRect(pts.astype(np.int32))
    box = (float(x), float(y), float(x + bw), float(y + bh))
    rect = cv2.minAreaRect(hull)
    (ex, ey), (ew, eh), eangle = cv2.fitEllipse(hull if len(hull) >= 5 else border_pts)
    a, b = max(ew, eh) / 2, min(ew, eh) / 2
    # major-axis direction in image coordinates (degrees from +x toward +y, i.e. clockwise)
    angle = eangle + 90 if ew < eh else eangle
    hull_area = cv2.contourArea(hull)
    rect_fill = hull_area / max(rect[1][0] * rect[1][1], 1e-6)
    touches = on_edge.any()
    # a square seal is a quadrilateral: a rectangle when scanned, a trapezoid in a photo
    quad = cv2.approxPolyDP(hull, 0.04 * cv2.arcLength(hull, True), True)
    quad_fill = (hull_area / max(cv2.contourArea(quad), 1e-6)) if len(quad) == 4 else 0.0
    # (a square or rectangular seal, not a line of printed text in a form's field)
    squarish = min(rect[1]) >= MIN_SQUARE_ASPECT * max(rect[1])
    if not touches and squarish and (rect_fill > 0.9 or (quad_fill > 0.93 and rect_fill > 0.82)):
        shape = "square"
        side = (rect[1][0] + rect[1][1]) / 4
        a = b = side
        angle = rect[2]
        ex, ey = rect[0]
    else:
        shape = "round" if b / max(a, 1e-6) > 0.82 else "oval"
    line = max(1.0, 1.2 * px_per_mm)
    if shape == "square":
        support, visible = _square_support(ink, rect, line)
    else:
        support, visible = _ring_support(ink, (ex, ey), (a, b), angle, line)
        # turned as the rectangle round the outline off the edge, or as the outline's
        # longest straight side off it (a turned square's cut outline is a pentagon)
        cuts = [c for c in (_cut_square(turn, border_pts, pts[on_edge], (h, w))
                            for turn in (rect[2], _longest_side(hull[:, 0, :], (h, w))))
                if c is not None] if touches else []
        if cuts:
            cut_support, cut_visible, cut = max(
                (*_square_support(ink, c, line), c) for c in cuts)
            # its sides on the page inked along their length, where an ellipse through its
            # corners is not, and clearly more than just outside them (not a solid patch)
            (cx, cy), (side, _), turn = cut
            square = _Candidate((float(cx), float(cy)), (side / 2, side / 2),
                                float(turn % 180), "square", box, cut_support, cut_visible)
            if (cut_support >= CUT_SQUARE_SUPPORT and cut_support > support
                    and cut_support - _outside_support(ink, square, line) >= RING_CONTRAST):
                return square
    return _Candidate((float(ex), float(ey)), (float(a), float(b)), float(angle % 180), shape,
                      box, support, visible)


def _longest_side(hull: np.ndarray, shape: tuple[int, int]) -> float | None:
    """The direction (degrees) of the longest side of a convex hull (K, 2) that does not
    run along the edge of an image of ``shape`` (within :data:`CUT_EDGE_PX`)."""
    h, w = shape
    best, turn = 0.0, None
    for p, q in zip(hull, np.roll(hull, -1, axis=0), strict=True):
        if any(max(abs(p[i] - at), abs(q[i] - at)) <= CUT_EDGE_PX
               for i, at in ((0, 0), (0, w - 1), (1, 0), (1, h - 1))):
            continue
        length = float(np.hypot(*(q - p)))
        if length > best:
            best, turn = length, math.degrees(math.atan2(q[1] - p[1], q[0] - p[0]))
    return turn


def _cut_square(turn: float | None, border: np.ndarray, edge: np.ndarray,
                shape: tuple[int, int]):
    """A square seal cut by the page's edge, turned ``turn`` degrees, as a rotated rectangle
    (OpenCV's), or None: the outline off the edge (``border``; ``edge``: its points on the
    page's edge) spans one way (the side opposite the cut, seen whole) and less the other;
    the square runs that side's length from it toward the edge, and off the page."""
    h, w = shape
    if turn is None or len(edge) == 0:
        return None
    t = math.radians(turn)
    u = np.array([math.cos(t), math.sin(t)])
    v = np.array([-u[1], u[0]])
    along, across = border @ u, border @ v
    if np.ptp(across) > np.ptp(along):
        u, v, along, across = v, -u, across, -along
    side, depth = float(np.ptp(along)), float(np.ptp(across))
    # (what is seen of it no speck either)
    if not max(CUT_SQUARE_LEAST * side, MIN_SEAL_PX) <= depth <= CUT_SQUARE_MOST * side:
        return None
    if float((edge @ v).mean()) > float(across.mean()):
        middle = float(across.min()) + side / 2
    else:
        middle = float(across.max()) - side / 2
    centre = (float(along.min() + along.max()) / 2) * u + middle * v
    rect = ((float(centre[0]), float(centre[1])), (side, side),
            math.degrees(math.atan2(u[1], u[0])))
    corners = cv2.boxPoints(rect)
    off = ((corners[:, 0] < 0) | (corners[:, 0] > w - 1) | (corners[:, 1] < 0)
           | (corners[:, 1] > h - 1))
    return rect if off.any() else None


def _starved(blob: np.ndarray, ink: np.ndarray, c: _Candidate, px_per_mm: float
             ) -> _Candidate | None:
    """``c`` (a blob's outline whose border is inked too little) as a starved imprint: its
    support measured where the gaps of a sparse scatter of ink are closed, kept when the
    inside is sparse (:data:`STARVED_DENSITY`) and the border stands out from just outside it
    by :data:`RING_CONTRAST`; else None."""
    pad = round(STARVED_GAP_MM * px_per_mm) + 2
    h, w = ink.shape
    x0, y0 = max(int(c.box[0]) - pad, 0), max(int(c.box[1]) - pad, 0)
    x1, y1 = min(int(c.box[2]) + pad + 1, w), min(int(c.box[3]) + pad + 1, h)
    part = (ink[y0:y1, x0:x1] & (blob[y0:y1, x0:x1] > 0)).astype(np.uint8)
    local = dataclasses.replace(c, centre=(c.centre[0] - x0, c.centre[1] - y0))
    inside = fill_outline(np.zeros(part.shape, np.uint8), local.centre, c.axes, c.angle,
                          c.shape == "square")
    if not inside.any() or float(part[inside > 0].mean()) >= STARVED_DENSITY:
        return None
    k = round(STARVED_GAP_MM * px_per_mm) | 1
    closed = cv2.morphologyEx(part, cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    line = max(1.0, 1.2 * px_per_mm)
    grown = dataclasses.replace(local, axes=(c.axes[0] + 3 * line, c.axes[1] + 3 * line))
    if c.shape == "square":
        support, _ = _square_support(closed, _square_rect(local), line)
        outside, _ = _square_support(closed, _square_rect(grown), line)
    else:
        support, _ = _ring_support(closed, local.centre, local.axes, c.angle, line)
        outside, _ = _ring_support(closed, grown.centre, grown.axes, c.angle, line)
    if support - outside < RING_CONTRAST:
        return None
    return dataclasses.replace(c, support=support)


_SIDE_T = np.linspace(0.05, 0.95, 30)  # samples along each side of a rectangle
_INWARD_K = np.linspace(0.0, 1.5, 4)  # steps inward (of the line width) toward its centre


def _square_support(mask: np.ndarray, rect, line_px: float) -> tuple[float, float]:
    """(share of the in-image outline of the rotated rectangle ``rect`` with ink within
    ``line_px`` inside it, stepping toward its centre; share of the outline in the image).
    A rectangle, not only a square: a blob's minimum-area rectangle."""
    box = cv2.boxPoints(rect)
    centre = box.mean(axis=0)
    p, q = box, np.roll(box, -1, axis=0)
    pt = p[:, None, :] + (q - p)[:, None, :] * _SIDE_T[None, :, None]  # (4, 30, 2)
    v = centre - pt
    norm = np.maximum(np.sqrt((v * v).sum(axis=-1)), 1e-6)[..., None]
    pk = pt[:, :, None, :] + (v / norm)[:, :, None, :] * _INWARD_K[None, None, :, None] * line_px
    # (truncated toward zero, as int() does)
    xi, yi = pk[..., 0].astype(int), pk[..., 1].astype(int)
    ok = _on_page(mask, xi, yi)
    inked = np.zeros(ok.shape, bool)
    inked[ok] = mask[yi[ok], xi[ok]] > 0
    hits, inside = inked.any(axis=2).ravel(), ok.any(axis=2).ravel()
    return (float(hits[inside].mean()) if inside.any() else 0.0), float(inside.mean())


def seal_sized(diameter_mm: float) -> bool:
    """Whether an outline this long (mm) can be a seal's: :data:`SEAL_DIAMETER_MM`, a fit
    allowed a fifth less (a faded border measures small) and a little more."""
    lo, hi = SEAL_DIAMETER_MM
    return lo * 0.8 <= diameter_mm <= hi * 1.15


def _plausible(c: _Candidate, px_per_mm: float, size_known: bool, page_shape) -> bool:
    lo = SEAL_DIAMETER_MM[0]
    if size_known and not seal_sized(2 * c.axes[0] / px_per_mm):
        return False
    # no seal is narrower than the smallest name seal either way: a whole oval of a seal's
    # length but a few mm across is a stroke's loop or a row of print (not an imprint cut by
    # the page's edge, whose outline may be fitted to what is left of it)
    if size_known and c.visible >= WHOLE_VISIBLE and 2 * c.axes[1] / px_per_mm < lo * 0.8:
        return False
    if 2 * c.axes[0] < MIN_SEAL_PX or (
            not size_known and 2 * c.axes[0] < MIN_SEAL_FRACTION * max(page_shape)):
        return False
    if c.axes[1] / max(c.axes[0], 1e-6) < 0.5:
        return False
    return c.support >= MIN_RING_SUPPORT


def _blob_circles(ink: np.ndarray, blob: np.ndarray, px_per_mm: float) -> list[_Candidate]:
    """Verified round borders on one blob's ink (overlapping round imprints): ring filters
    on a reduced copy of the blob (half size, or smaller so that the blob spans at most
    :data:`RING_BLOB_PX`), each peak verified on the working copy."""
    ys, xs = _nonzero(blob)
    h, w = ink.shape
    extent = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
    # a close-up fills the working copy; the filters need no more than a page's seal gives them
    f = min(0.5, RING_BLOB_PX / extent)
    # radii from the blob's own size (a seal of an overlapping group spans most of it), so
    # that close-up crops without a dpi are searched at their own scale
    n = max(1, math.ceil(math.log(3.0) / math.log(RING_STEP)))
    radii = tuple(round(0.2 * f * extent * RING_STEP ** i, 2) for i in range(n + 1))
    band = max(1.0, 0.8 * px_per_mm * f, 0.024 * f * extent)
    pad = int(0.3 * radii[-1] / f) + 2  # working px
    x0, y0 = max(int(xs.min()) - pad, 0), max(int(ys.min()) - pad, 0)
    x1, y1 = min(int(xs.max()) + 1 + pad, w), min(int(ys.max()) + 1 + pad, h)
    patch = (ink[y0:y1, x0:x1] & (blob[y0:y1, x0:x1] > 0)).astype(np.float32)
    small = cv2.resize(patch, (max(1, int((x1 - x0) * f)), max(1, int((y1 - y0) * f))),
                       interpolation=cv2.INTER_AREA)
    line = max(1.0, 1.2 * px_per_mm, 0.02 * extent)
    touches_edge = xs.min() <= 2 or ys.min() <= 2 or xs.max() >= w - 3 or ys.max() >= h - 3
    sheet = _ON_SHEET.get()
    if not touches_edge and sheet is not None and sheet.shape == blob.shape:
        # (or the photographed sheet's edge)
        near = cv2.dilate(blob[y0:y1, x0:x1].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        touches_edge = bool((near & ~sheet[y0:y1, x0:x1]).any())
    found = []
    for x, y, r, _ in _ring_peaks(small, radii, band, (x0 * f, y0 * f), (h * f, w * f), 20):
        # where the reduced copy is coarser than half size, its peak is a few px off
        cand = _verify_ring(ink, (x / f, y / f), r / f, line, reach=max(2, round(0.5 / f)))
        # a border running off the page needs ink that reaches the page's edge
        if cand is not None and (cand.visible > WHOLE_VISIBLE or touches_edge):
            found.append(cand)
    return _suppress(found)


def _seal_sized_circles(ink: np.ndarray, blob: np.ndarray, px_per_mm: float, rect
                        ) -> list[_Candidate]:
    """Verified round borders of a seal's size on one (large) blob's ink (``rect``: its
    bounding rectangle, x, y, w, h): ring filters of the radii of round seals on a half-size
    copy of the blob, each peak verified on the working copy (inked all round, clearly more
    than just outside it, not filled)."""
    h, w = ink.shape
    radii, band = _ring_radii(px_per_mm / 2, GREY_RING_MIN_MM)
    pad = int(radii[-1]) + 2  # working px
    x0, y0 = max(rect[0] - pad, 0), max(rect[1] - pad, 0)
    x1, y1 = min(rect[0] + rect[2] + pad, w), min(rect[1] + rect[3] + pad, h)
    patch = (ink[y0:y1, x0:x1] & (blob[y0:y1, x0:x1] > 0)).astype(np.float32)
    half = cv2.resize(patch, (max(1, (x1 - x0) // 2), max(1, (y1 - y0) // 2)),
                      interpolation=cv2.INTER_AREA)
    line = max(1.0, 1.2 * px_per_mm)
    found = []
    for x, y, r, _ in _ring_peaks(half, radii, band, (x0 / 2, y0 / 2), (h / 2, w / 2), 20):
        cand = _verify_ring(ink, (2 * x, 2 * y), 2 * r, line)
        if cand is not None and cand.visible > WHOLE_VISIBLE:
            found.append(cand)
    # (inked along nearly all of their border: the print round them holds chance circles,
    # through a legend's letters, inked along most of theirs)
    return [c for c in _ovals_of_pairs(ink, found, line) if c.support >= UNION_CIRCLE_SUPPORT]


def _ovals_of_pairs(ink: np.ndarray, circles: list[_Candidate], line: float
                    ) -> list[_Candidate]:
    """``circles`` with each pair of like circles side by side (radii within 5 %, centres
    less than a radius apart) replaced by the oval round both where its outline is inked
    along more of its length than either circle's: the ends of an oval seal each hold a
    circle of its minor axis."""
    out = list(circles)
    for a, b in itertools.combinations(circles, 2):
        ra, rb = a.axes[0], b.axes[0]
        d = math.dist(a.centre, b.centre)
        if (abs(ra - rb) > 0.05 * max(ra, rb) or not 0.2 * ra < d < ra
                or not any(c is a for c in out) or not any(c is b for c in out)):
            continue
        r = (ra + rb) / 2
        centre = ((a.centre[0] + b.centre[0]) / 2, (a.centre[1] + b.centre[1]) / 2)
        axes = (r + d / 2, r)
        angle = math.degrees(math.atan2(b.centre[1] - a.centre[1], b.centre[0] - a.centre[0]))
        support, visible = _ring_support(ink, centre, axes, angle, line)
        if support > max(a.support, b.support):
            oval = _Candidate(centre, axes, angle % 180, "oval",
                              _ellipse_box(centre, axes, angle, ink.shape), support, visible)
            out = [c for c in out if c is not a and c is not b] + [oval]
    return out


def _ellipse_box(centre, axes, angle_deg: float, shape: tuple[int, int]
                 ) -> tuple[float, float, float, float]:
    """The bounding box of an ellipse (``angle_deg`` of its major axis from +x toward +y),
    clipped to an image of ``shape``."""
    t = math.radians(angle_deg)
    dx = math.hypot(axes[0] * math.cos(t), axes[1] * math.sin(t))
    dy = math.hypot(axes[0] * math.sin(t), axes[1] * math.cos(t))
    h, w = shape
    return (max(centre[0] - dx, 0.0), max(centre[1] - dy, 0.0), min(centre[0] + dx, float(w)),
            min(centre[1] + dy, float(h)))


def _within_square(c: _Candidate, square: _Candidate) -> bool:
    """Whether circle ``c`` is part of the square candidate: centred well inside its border
    and no larger than it (a character's curves, a corner's arcs)."""
    half = min(square.axes)
    return _off_centre(c, square) <= 0.8 * half and c.axes[0] <= half


def _off_centre(c: _Candidate, square: _Candidate) -> float:
    """How far ``c``'s centre lies from the square's along its sides (the larger of the two
    distances): within its half side, inside it."""
    th = math.radians(square.angle)
    dx, dy = c.centre[0] - square.centre[0], c.centre[1] - square.centre[1]
    return max(abs(dx * math.cos(th) + dy * math.sin(th)),
               abs(-dx * math.sin(th) + dy * math.cos(th)))


def _outline_on_circles(blob: np.ndarray, circles: list[_Candidate], tol: float) -> bool:
    """Whether the blob's outline runs along the circles' borders (overlapping imprints), not
    across the inside of some other shape (two circles inside an oval touch it only at its
    ends)."""
    pts, clear = _outline_points(blob)
    pts = pts[::3][clear[::3]]
    if len(pts) == 0:
        return False
    d = np.min([np.abs(np.hypot(pts[:, 0] - c.centre[0], pts[:, 1] - c.centre[1]) - c.axes[0])
                for c in circles], axis=0)
    return float((d <= tol).mean()) >= 0.85


def _suppress(cands: list[_Candidate]) -> list[_Candidate]:
    """Keep the best of candidates that describe the same imprint (not a square seal stamped
    on the middle of a round one, :func:`_stamped_on`)."""
    keep: list[_Candidate] = []
    for c in sorted(cands, key=lambda c: -c.support):
        if not any(_same_imprint(c, k) and not _stamped_on(c, k) for k in keep):
            keep.append(c)
    return keep


#: A round or oval border at least this much larger (its smaller axis, in half sides) than a
#: square round about the same centre is another imprint's: a circle fitted to a square
#: seal's own outline or legend lies between its half side and its half diagonal.
STAMPED_ON = 1.5


def _stamped_on(a: _Candidate, b: _Candidate) -> bool:
    """Whether one of two candidates round about one centre is a square well inside the
    other, a round or oval border well inked (:data:`WEAK_BORDER`; a weaker one round a
    square seal is a chance circle through the print round it): a name seal stamped on the
    middle of a round seal, two imprints (whether they are kept apart is :func:`_outermost`'s
    to say: a square of the other ink, or one found by its four straight sides, which no
    round seal's layout draws)."""
    return any(sq.shape == "square" and other.shape != "square"
               and other.support >= WEAK_BORDER
               and min(other.axes) >= STAMPED_ON * sq.axes[0]
               and _reach(sq) <= OUTERMOST_REACH * other.axes[0]
               for sq, other in ((a, b), (b, a)))


def _colour_candidates(ink: np.ndarray, warm: np.ndarray | None, px_per_mm: float,
                       size_known: bool, lightest: np.ndarray | None = None,
                       bridged: np.ndarray | None = None, saturated: np.ndarray | None = None,
                       squares_across: bool = False, sides: np.ndarray | None = None,
                       sides_keep: Callable[[_Candidate], bool] | None = None
                       ) -> list[_Candidate]:
    """Imprints on an ink mask ``(H, W) bool``: each blob explained by a border or by the
    circles of overlapping imprints; ``warm`` the red part of ``ink`` (None on grey pages),
    by which a red and a blue imprint over each other are told apart; ``lightest`` each
    pixel's brightest channel against the paper, by which a pen's strokes joined to an
    imprint are told from it (:data:`MIN_SEAL_INK_LIGHT`; judged on ``saturated``, the
    part of ``ink`` without the dull edges joined to it, where given); ``bridged`` the ink
    whose borders are fitted and measured, where it is not ``ink`` itself
    (:func:`_bridged`; the blobs and their boxes are ``ink``'s); ``sides`` the ink a square's
    straight sides are looked for on again where they are not found on that, a square found
    there kept where ``sides_keep`` allows it (before it replaces what it covers)."""
    join = round(JOIN_MM * px_per_mm)
    min_d = _smallest_seal(px_per_mm, size_known, ink.shape)
    out = []
    ink_of: dict[int, bool] = {}  # id of a candidate -> whether it was found in red ink
    # a square's sides are drawn in the seal's ink, not by a pen's straight strokes
    sides_ink = ink if bridged is None else bridged
    if lightest is not None:
        sides_ink = sides_ink & (lightest >= PEN_LIGHT)
    for blob, (bw, bh) in _blobs(ink, join, min_side=0.4 * min_d):
        if max(bw, bh) < 0.7 * min_d:
            continue
        # a red and a blue imprint stamped over each other: two blobs, one per ink
        in_blob = blob > 0
        warm_share = (0.0 if warm is None else
                      int((warm & in_blob).sum()) / max(int((ink & in_blob).sum()), 1))
        two_inks = MIN_INK_SHARE <= warm_share <= 1 - MIN_INK_SHARE
        # ... or one imprint and strokes of the other ink joined to it: a blue ballpoint's
        # signature across a red imprint (the pen's ink is dark in every channel), or
        # whatever no border explains together
        other = None if two_inks or not 0.0 < warm_share < 1.0 else (
            (warm if warm_share < 0.5 else ink & ~warm) & in_blob)
        if two_inks:
            # the part of the other ink may be all a navy pen's (a scribble across a red seal)
            cool = ink & ~warm & in_blob
            pen_only = _pen_like(lightest, cool if saturated is None else cool & saturated)
            found, parts = [], ((warm, True),) if pen_only else ((warm, True), (cool, False))
        elif other is not None and _pen_like(
                lightest, other if saturated is None else other & saturated):
            found, parts = [], ((ink & ~other, warm_share >= 0.5),)
        else:
            found = _explain_blob(blob, ink if bridged is None else bridged, px_per_mm,
                                  size_known)
            parts = (((warm, True), (ink & ~warm, False)) if not found and other is not None
                     else ())
            if not parts and warm_share < 0.5:
                # (a red imprint's hue is no pen's: what is dark in it is print over it)
                without = _without_pen(found, blob, ink, lightest, px_per_mm, size_known)
                if without is not None:
                    # the imprint's colour is its own ink's, not the pen's across it (a
                    # navy scribble over a faint red seal outweighs the seal's ink)
                    found, pen = without
                    rest = ink & in_blob & ~pen
                    warm_share = (0.0 if warm is None else
                                  int((warm & rest).sum()) / max(int(rest.sum()), 1))
        with_sides = _with_squares(found, blob, sides_ink, px_per_mm, size_known,
                                   squares_across)
        if sides is not None and not any(c.sides for c in with_sides):
            with_sides = _with_squares(found, blob, sides, px_per_mm, size_known,
                                       squares_across, sides_keep)
        found = with_sides
        ink_of.update((id(c), warm_share >= 0.5) for c in found)
        for part, red in parts:
            more = _explain_ink(part & in_blob, px_per_mm, size_known)
            ink_of.update((id(c), red) for c in more)
            found.extend(more)
        out.extend(found)
    # a square of the other ink inside a round imprint (a red name seal stamped on a blue
    # round seal) is a seal of its own, not part of that one; so is one of the same ink
    # whose four straight sides were found
    kept = _outermost(_suppress(out), lambda c, k: c.across or (
        c.shape == "square" and (c.sides or ink_of[id(c)] != ink_of[id(k)])))
    # a weak border needs a legend; a round or oval one, however well inked, some ink of its
    # own inside (a circle drawn round a word in red holds none; a square name seal's
    # characters may run into its border, and are not asked for)
    return [c for c in kept
            if (c.support >= WEAK_BORDER or c.visible < WHOLE_VISIBLE
                or _glyph_count(ink, c, px_per_mm) >= MIN_GLYPHS)
            and (c.shape == "square"
                 or _interior_density(ink.view(np.uint8), c.centre, min(c.axes))
                 >= MIN_INTERIOR_INK)]


#: How much more a square found by its sides (inside another imprint's ink, where the text
#: round a round seal lines up in rows) is inked along its outline than just outside it: more
#: than a ring's RING_CONTRAST asks of a border found as the outline of its own ink.
SIDES_CONTRAST = 0.4


def _with_squares(found: list[_Candidate], blob: np.ndarray, ink: np.ndarray,
                  px_per_mm: float, size_known: bool, across: bool = False,
                  keep: Callable[[_Candidate], bool] | None = None) -> list[_Candidate]:
    """``found`` (a blob's imprints) with the square borders its straight sides draw
    (:mod:`imprint.sides`): a square stamped across a round imprint of the same ink, or
    under a signature, whose joined ink no outline fitted. Each replaces what was fitted to
    its parts (a piece sticking out of the round imprint, a circle round its characters);
    kept where it is a seal's size, stands out from just outside it and holds a legend."""
    ys, xs = _nonzero(blob)
    if len(xs) == 0:
        return found
    h, w = ink.shape
    line = max(1.0, 1.2 * px_per_mm)
    # ``across``: the blob may be part of a square cut apart by lines of print (a copy's
    # seal grey, the print left out of it): its sides are looked for on all the ink round it
    pad = round(3 * line) + 2 + (round(0.5 * max(np.ptp(xs), np.ptp(ys))) if across else 0)
    x0, y0 = max(int(xs.min()) - pad, 0), max(int(ys.min()) - pad, 0)
    x1, y1 = min(int(xs.max()) + pad + 1, w), min(int(ys.max()) + pad + 1, h)
    part = ink[y0:y1, x0:x1] if across else ink[y0:y1, x0:x1] & (blob[y0:y1, x0:x1] > 0)
    min_d = _smallest_seal(px_per_mm, size_known, ink.shape)
    if max(x1 - x0, y1 - y0) < 0.7 * min_d:
        return found
    hi = SEAL_DIAMETER_MM[1] * px_per_mm if size_known else max(ink.shape)
    out = list(found)
    # no smaller than the smallest seal: an outline's fit is allowed a fifth less (a faded
    # border measures small), a square drawn through rows of characters is not
    for sq in square_borders(part, (min_d, hi), line):
        centre = (sq.centre[0] + x0, sq.centre[1] + y0)
        corners = cv2.boxPoints((centre, (2 * sq.half, 2 * sq.half), sq.angle))
        box = (float(corners[:, 0].min()), float(corners[:, 1].min()),
               float(corners[:, 0].max()), float(corners[:, 1].max()))
        c = _Candidate(centre, (sq.half, sq.half), sq.angle % 180, "square", box, sq.support,
                       1.0, sides=True)
        # (a square cut by the page's edge is fitted by its outline; its sides can't say
        # where its centre is)
        if (box[0] < 0 or box[1] < 0 or box[2] > w - 1 or box[3] > h - 1
                or not _plausible(c, px_per_mm, size_known, ink.shape)
                or c.support - _outside_support(ink, c, line) < SIDES_CONTRAST
                # (its characters may join the other imprint's strokes: not counted apart)
                or _interior_density(ink, centre, sq.half) < RING_MIN_CONTENT
                or (keep is not None and not keep(c))):
            continue
        if any(k.shape == "square" and (
                (_same_imprint(c, k) and abs(k.axes[0] - sq.half) <= 0.15 * sq.half)
                # the blocks of a square seal's legend are squares inside its border
                or (k.axes[0] > sq.half and _part_of_square(c, k))) for k in out):
            continue
        out = [k for k in out if not _part_of_square(k, c)] + [c]
    return out


def _part_of_square(k: _Candidate, square: _Candidate) -> bool:
    """Whether candidate ``k`` was fitted to part of the square's imprint: centred inside
    its border and reaching no further than its corners."""
    return _off_centre(k, square) <= square.axes[0] and _reach(k) <= 1.1 * _reach(square)


def _smallest_seal(px_per_mm: float, size_known: bool, shape: tuple[int, ...]) -> float:
    """The least diameter (working px) of a seal: the smallest name seal's where the scale
    is known, else a share of the image's long side."""
    return max(MIN_SEAL_PX, SEAL_DIAMETER_MM[0] * px_per_mm if size_known
               else MIN_SEAL_FRACTION * max(shape[:2]))


def _explain_ink(ink: np.ndarray, px_per_mm: float, size_known: bool) -> list[_Candidate]:
    """The imprints of each seal-sized blob of ``ink`` (one ink of a blob, or a blob with a
    pen's strokes left out), each blob explained on ``ink`` alone."""
    min_d = _smallest_seal(px_per_mm, size_known, ink.shape)
    found = []
    for blob, (w, h) in _blobs(ink, round(JOIN_MM * px_per_mm), min_side=0.4 * min_d):
        if max(w, h) >= 0.7 * min_d:
            found.extend(_explain_blob(blob, ink, px_per_mm, size_known))
    return found


def _without_pen(found: list[_Candidate], blob: np.ndarray, ink: np.ndarray,
                 lightest: np.ndarray | None, px_per_mm: float, size_known: bool
                 ) -> tuple[list[_Candidate], np.ndarray] | None:
    """A blue or violet blob holding a pen's strokes of that hue (a navy ballpoint across a
    blue seal), dark in every channel where the seal's ink is light in its own
    (:data:`PEN_LIGHT`): the imprints of the blob without those strokes, and the strokes'
    mask, when one of them is well bordered (:data:`WEAK_BORDER`); else None."""
    if lightest is None:
        return None
    in_blob = blob > 0
    pen = in_blob & ink & (lightest < PEN_LIGHT)
    n_pen = np.count_nonzero(pen)
    if n_pen < max(MIN_PEN_PX, PEN_SHARE * np.count_nonzero(in_blob & ink)):
        return None
    # the pen's loops and strokes add chance circles and outlines; without them a border
    # that holds is the imprint's. Without their edge too, where that leaves a larger one:
    # blurred into the paper, a pen's stroke is lighter there and of the seal's hue, and
    # joins the seal's ink to its loops (its characters are then all that is fitted); the
    # edge is left where that loses the border (a starved seal's dots along the strokes)
    tries = [_explain_ink(ink & in_blob & ~p, px_per_mm, size_known)
             for p in (pen, widen(pen, PEN_EDGE_PX))]

    def bordered(cands: list[_Candidate]) -> float:
        return max((max(c.axes) for c in cands if c.support >= WEAK_BORDER), default=0.0)

    better = max(tries, key=bordered)
    if not bordered(better):
        return None
    return better, pen


def _glyph_count(ink: np.ndarray, c: _Candidate, px_per_mm: float) -> int:
    """Separate marks of ink inside the border (within 0.8 of its axes): a seal's characters,
    star and number, each one or more marks; a signature's few long strokes."""
    h, w = ink.shape
    reach = math.ceil(0.8 * max(c.axes)) + 1  # the inner ellipse lies within this of the centre
    x0, y0 = max(round(c.centre[0]) - reach, 0), max(round(c.centre[1]) - reach, 0)
    x1, y1 = min(round(c.centre[0]) + reach + 1, w), min(round(c.centre[1]) + reach + 1, h)
    if x1 <= x0 or y1 <= y0:
        return 0
    inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.ellipse(inside, (round(c.centre[0]) - x0, round(c.centre[1]) - y0),
                (max(1, round(0.8 * c.axes[0])), max(1, round(0.8 * c.axes[1]))), c.angle,
                0, 360, 1, cv2.FILLED)
    return _marks(ink[y0:y1, x0:x1] & (inside > 0), px_per_mm)


def _explain_blob(blob: np.ndarray, ink: np.ndarray, px_per_mm: float, size_known: bool
                  ) -> list[_Candidate]:
    """The imprints of one blob: one border, or the circles of several overlapping round
    imprints; then whatever seal the blob holds outside their outlines (a name seal stamped
    against a round one). A blob far larger than any seal whose outline is no well-inked
    border is print of the seals' own colour joined to them (an e-invoice's red table and
    title): its seals are the round and oval borders of a seal's size found in it
    (:func:`_seal_sized_circles`), not its outline."""
    found = _explain_once(blob, ink, px_per_mm, size_known)
    if not any(c.support >= WEAK_BORDER for c in found):
        rect = cv2.boundingRect(blob)
        if max(rect[2:]) > LARGE_BLOB_SEALS * SEAL_DIAMETER_MM[1] * px_per_mm:
            return _seal_sized_circles(ink, blob, px_per_mm, rect)
    if not found:
        return found
    rest = ink & (blob > 0) & ~_explained(blob.shape, found, px_per_mm)
    min_d = _smallest_seal(px_per_mm, size_known, ink.shape)
    ys, xs = _nonzero(rest)
    if len(xs) == 0 or max(np.ptp(xs), np.ptp(ys)) + 1 < 0.7 * min_d:
        return found
    # the blobs of what is left, joined on its own box only
    join = round(JOIN_MM * px_per_mm)
    x0, y0 = max(int(xs.min()) - join, 0), max(int(ys.min()) - join, 0)
    x1, y1 = int(xs.max()) + join + 1, int(ys.max()) + join + 1
    for part, (w, h) in _blobs(rest[y0:y1, x0:x1], join, 0.4 * min_d):
        if max(w, h) >= 0.7 * min_d:
            # one border for what is left, no circles searched in it: what sticks out of
            # an imprint is a whole seal or nothing
            whole = np.zeros(blob.shape, np.uint8)
            whole[y0:y1, x0:x1] = part
            c = _fit_blob(whole, rest, px_per_mm)
            if c is not None and _plausible(c, px_per_mm, size_known, ink.shape):
                found.append(c)
    return found


def _explain_once(blob: np.ndarray, ink: np.ndarray, px_per_mm: float, size_known: bool
                  ) -> list[_Candidate]:
    """One border for the blob, or the circles of several overlapping imprints, each circle
    that is the end of an oval seal (:func:`_oval_of_end`) replaced by that oval."""
    found = _borders_or_circles(blob, ink, px_per_mm, size_known)
    if not all(c.ring for c in found):
        # (one border, or a round imprint and the seal found beyond it)
        return found
    # (weakest first: an oval's end circle is inked along less of its length than a round
    # imprint's border, and the oval once found counts in the outline that the round
    # imprint's circle, stretched into an oval through both, would have to explain better)
    for c in sorted(found, key=lambda c: c.support):
        if not any(k is c for k in found):
            continue
        oval = _oval_of_end(ink, blob, c, [k for k in found if k is not c], px_per_mm)
        if oval is None or not _plausible(oval, px_per_mm, size_known, ink.shape):
            continue
        # the circles centred inside it, no larger than it, are chance rings through its
        # legend and flat sides, unless one is inked along more of its border than the
        # oval: then the oval is a chance one through that imprint's
        held = [k for k in found if k is not c and k.ring and k.axes[0] <= oval.axes[0]
                and _ellipse_radius(k.centre, oval.centre, oval.axes, oval.angle) < 1.0]
        if all(k.support < oval.support for k in held):
            found = [k for k in found if k is not c and not any(k is h for h in held)]
            found.append(oval)
    return found


def _borders_or_circles(blob: np.ndarray, ink: np.ndarray, px_per_mm: float,
                        size_known: bool) -> list[_Candidate]:
    """One border for the blob, or the circles of several overlapping round imprints."""
    single = _fit_blob(blob, ink, px_per_mm)
    fits = single is not None and _plausible(single, px_per_mm, size_known, ink.shape)
    if single is not None and not fits:
        starved = _starved(blob, ink, single, px_per_mm)
        if starved is not None and _plausible(starved, px_per_mm, size_known, ink.shape):
            single, fits = starved, True
    if fits and single.shape == "square" and single.support >= 0.75:
        return [single]
    # the union of two overlapping round imprints also looks like one round or oval border;
    # two strong circles on its ink say otherwise
    circles = _blob_circles(ink, blob, px_per_mm)
    circles = [c for c in circles if _plausible(c, px_per_mm, size_known, ink.shape)
               # the curves of a square seal's characters make circles inside its border;
               # the union of round imprints is never square
               and not (fits and single.shape == "square" and _within_square(c, single))]
    # a circle inside another is the star, the text line or an inner ring of one imprint
    circles = [c for c in circles if not any(
        k is not c and k.axes[0] >= c.axes[0]
        and math.dist(c.centre, k.centre) + c.axes[0] <= 1.08 * k.axes[0] for k in circles)]
    # several circles explain the blob only if each fits its ink better than the one border
    # (an oval seal also holds two circles, each touching one end); weaker circles are
    # chance rings through the strokes where the imprints cross
    strong = [c for c in circles if not fits or c.support > single.support]
    if len(strong) >= 2 and _outline_on_circles(blob, strong, max(2.0, 2.4 * px_per_mm)):
        return strong
    # a border round the blob inked along little of its length, and two circles inked along
    # nearly all of theirs: overlapping imprints, whatever the outline's ragged edge says
    whole = [c for c in strong if c.support >= UNION_CIRCLE_SUPPORT]
    if len(whole) >= 2 and fits and single.support < UNION_BORDER_SUPPORT:
        return whole
    if circles and not fits:
        return circles[:1]
    if fits and strong and strong[0].support - single.support >= BEYOND_MARGIN:
        # a circle inked all round (the strongest), the blob's one border far less: a round
        # imprint and another seal stamped across it, whose outline is the blob's beyond
        # the circle
        beyond = _beyond_circle(blob, ink, strong[0], px_per_mm)
        if beyond is not None and _plausible(beyond, px_per_mm, size_known, ink.shape):
            return [strong[0], beyond]
    return [single] if fits else []


#: An oval seal whose ink joins another imprint's is fitted by the circle of one end's
#: curvature (radius b**2 / a for axes a > b), which the ring filters find; the ovals
#: ending on such a circle are tried (major over minor axis, the circle's radius against
#: the end's, turns of the major axis), first on a coarse grid, then round its best.
OVAL_ASPECTS = (np.arange(1.2, 1.76, 0.07), np.arange(1.2, 1.76, 0.05))
OVAL_END_SCALES = (np.array([0.88, 1.0, 1.12]), np.array([0.85, 0.92, 1.0, 1.08, 1.16]))
OVAL_TURN_STEP = (10, 5)  # degrees
#: An oval is taken for the seal where it is inked along its border nearly as much as the
#: circle is (OVAL_SLACK less: a round imprint over another is inked all round, the oval
#: through both far less) and along UNION_CIRCLE_SUPPORT at least (as a circle of a union
#: of imprints must be), its border beyond the circle along OVAL_BEYOND_SUPPORT and
#: clearly more (RING_CONTRAST) than just outside it, and the blob's outline runs along
#: it on OVAL_EXPLAINS more of its length than along the circle.
OVAL_SLACK = 0.05
OVAL_BEYOND_SUPPORT = 0.85
OVAL_EXPLAINS = 0.05


@dataclass(frozen=True)
class _OvalFit:
    """One oval ending on a circle: its border samples' ink (:func:`_outline_hits`) and
    which of them lie off the circle (more than two lines out of it) on the page."""

    centre: tuple[float, float]
    axes: tuple[float, float]
    turn: float  # degrees, from the circle toward the oval's centre
    support: float
    hit: np.ndarray
    off: np.ndarray

    @property
    def beyond(self) -> float:
        return float((self.hit & self.off).sum() / max(1, self.off.sum()))


def _ovals_on_end(ink: np.ndarray, circle: _Candidate, turns, scales: np.ndarray,
                  aspects: np.ndarray, line: float, every: int = 1) -> _OvalFit:
    """Of the ovals ending on ``circle`` at the given turns, scales and aspects, the one
    inked most along its border and beyond the circle (judged on every ``every``-th
    sample of its border)."""
    r = circle.axes[0]
    end = np.repeat(r * scales, len(aspects))  # the end's radius of curvature
    q = np.tile(aspects, len(scales))
    turn = np.repeat(np.asarray(turns, float), len(end))
    end, q = np.tile(end, len(turns)), np.tile(q, len(turns))
    minor, major = end * q, end * q * q
    u = np.stack([np.cos(np.radians(turn)), np.sin(np.radians(turn))], axis=1)
    centres = np.asarray(circle.centre) + (major - end)[:, None] * u
    hit, inside = _outline_hits(ink, centres, np.stack([major, minor], axis=1), turn, line,
                                every)
    cos_t, sin_t = _OUTLINE_COS[::every], _OUTLINE_SIN[::every]
    x = (centres[:, 0, None] + major[:, None] * cos_t * u[:, :1]
         - minor[:, None] * sin_t * u[:, 1:])
    y = (centres[:, 1, None] + major[:, None] * cos_t * u[:, 1:]
         + minor[:, None] * sin_t * u[:, :1])
    off = inside & (np.hypot(x - circle.centre[0], y - circle.centre[1]) > r + 2 * line)
    support = (hit & inside).sum(axis=1) / np.maximum(inside.sum(axis=1), 1)
    beyond = (hit & off).sum(axis=1) / np.maximum(off.sum(axis=1), 1)
    k = int(np.argmax(support + beyond))
    return _OvalFit((float(centres[k, 0]), float(centres[k, 1])),
                    (float(major[k]), float(minor[k])), float(turn[k]), float(support[k]),
                    hit[k], off[k])


def _oval_of_end(ink: np.ndarray, blob: np.ndarray, circle: _Candidate,
                 others: list[_Candidate], px_per_mm: float) -> _Candidate | None:
    """The oval border whose end ``circle`` is (an oval seal whose ink joins that of
    another imprint, one of ``others``), or None (see :data:`OVAL_SLACK`)."""
    line = max(1.0, 1.2 * px_per_mm)
    coarse = _ovals_on_end(ink, circle, range(0, 360, OVAL_TURN_STEP[0]), OVAL_END_SCALES[0],
                           OVAL_ASPECTS[0], line, every=3)
    step = OVAL_TURN_STEP[1]
    fit = _ovals_on_end(ink, circle, (coarse.turn - step, coarse.turn, coarse.turn + step),
                        OVAL_END_SCALES[1], OVAL_ASPECTS[1], line)
    if (fit.support < max(circle.support - OVAL_SLACK, UNION_CIRCLE_SUPPORT)
            or fit.beyond < OVAL_BEYOND_SUPPORT):
        return None
    grown = [(fit.axes[0] + k * line, fit.axes[1] + k * line) for k in (2.0, 3.5, 5.0)]
    hit_out, _ = _outline_hits(ink, [fit.centre] * 3, grown, fit.turn, line)
    outside = float((hit_out & fit.off).sum() / max(1, 3 * fit.off.sum()))
    if fit.beyond - outside < RING_CONTRAST:
        return None
    # the blob's outline, with the other imprints' (not a circle whose centre the oval
    # holds: a chance ring through its legend), runs along the oval more than the circle
    pts, clear = _outline_points(blob)
    pts = pts[::2][clear[::2]]
    if len(pts) == 0:
        return None
    tol = max(2.0, 2.4 * px_per_mm)
    rest = np.zeros(len(pts), bool)
    for k in others:
        if not k.ring or _ellipse_radius(k.centre, fit.centre, fit.axes, fit.turn) >= 1.0:
            rest |= _near_ellipse(pts, k.centre, k.axes, k.angle, tol)
    on_circle = (rest | _near_ellipse(pts, circle.centre, circle.axes, 0.0, tol)).mean()
    on_oval = (rest | _near_ellipse(pts, fit.centre, fit.axes, fit.turn, tol)).mean()
    if on_oval < on_circle + OVAL_EXPLAINS:
        return None
    visible = _ring_support(ink, fit.centre, fit.axes, fit.turn, line)[1]
    return _Candidate(fit.centre, fit.axes, fit.turn % 180, "oval",
                      _ellipse_box(fit.centre, fit.axes, fit.turn, ink.shape), fit.support,
                      visible)


def _ellipse_radius(p, centre, axes, angle_deg: float) -> np.ndarray:
    """Points ``p`` ((..., 2), or one (x, y)) in units of the ellipse's axes: 1 on its
    border."""
    p = np.asarray(p, float)
    t = math.radians(angle_deg)
    dx, dy = p[..., 0] - centre[0], p[..., 1] - centre[1]
    return np.hypot((dx * math.cos(t) + dy * math.sin(t)) / axes[0],
                    (-dx * math.sin(t) + dy * math.cos(t)) / axes[1])


def _near_ellipse(pts: np.ndarray, centre, axes, angle_deg: float, tol: float) -> np.ndarray:
    """Which of the points (N, 2) lie within about ``tol`` of the ellipse's border."""
    return np.abs(_ellipse_radius(pts, centre, axes, angle_deg) - 1) * min(axes) <= tol


def _beyond_circle(blob: np.ndarray, ink: np.ndarray, circle: _Candidate, px_per_mm: float
                   ) -> _Candidate | None:
    """The border of a seal stamped across the round imprint ``circle``, fitted to the
    blob's outline where it leaves the circle (the other seal's outer arc), or None: too
    little of the outline off the circle, or a fit that is not inked along its length and
    clearly more than just outside it (a pen's strokes joined to the imprint)."""
    pts, clear = _outline_points(blob)
    off = np.hypot(pts[:, 0] - circle.centre[0], pts[:, 1] - circle.centre[1]) - circle.axes[0]
    arc = pts[clear & (off > max(2.0, 2.4 * px_per_mm))]
    # a seal's arc, not a stroke's end: a quarter of a circle of the smallest seal's
    if len(arc) < max(12, 0.25 * math.pi * SEAL_DIAMETER_MM[0] / 2 * px_per_mm):
        return None
    (ex, ey), (ew, eh), eangle = cv2.fitEllipse(arc)
    a, b = max(ew, eh) / 2, min(ew, eh) / 2
    if not (np.isfinite(a) and np.isfinite(b)) or b <= 0:
        return None
    angle = (eangle + 90 if ew < eh else eangle) % 180
    shape = "round" if b / a > 0.82 else "oval"
    line = max(1.0, 1.2 * px_per_mm)
    support, visible = _ring_support(ink, (ex, ey), (a, b), angle, line)
    c = _Candidate((float(ex), float(ey)), (float(a), float(b)), float(angle), shape,
                   _ellipse_box((ex, ey), (a, b), angle, blob.shape), support, visible,
                   across=True)
    if (_same_imprint(c, circle) or support < RING_COVERAGE
            or support - _outside_support(ink, c, line) < RING_CONTRAST):
        return None
    return c


#: Where the second ink holds this share of the first's px in a candidate's box, the box is
#: shared by two imprints (a name seal stamped on a round seal's middle holds the round
#: seal's star and legend): the ink is read along the candidate's own border
#: (:data:`BORDER_BAND`), which is its own.
CONTESTED_SHARE = 0.3
#: The band round a candidate's outline its border is read in, in shares of its axes.
BORDER_BAND = (0.8, 1.1)


def _colour_vote(masks: InkMasks, lightest: np.ndarray):
    """The ink most of a candidate's box holds, a ballpoint's blue strokes (dark in every
    channel, ``lightest`` < :data:`PEN_LIGHT`) left out: a navy scribble across a faint red
    seal outweighs the seal's own ink. (Red ink is not judged by its tone: where it lies over
    another imprint's, it is dark too.) A box two inks share (:data:`CONTESTED_SHARE`) is
    decided by the ink along the candidate's border."""
    pen = lightest < PEN_LIGHT

    def counts_in(box, where: np.ndarray | None = None) -> dict[str, int]:
        def inked(name: str, m: np.ndarray) -> np.ndarray:
            m = m[box] if name == "red" else m[box] & ~pen[box]
            return m if where is None else m & where
        counts = {name: int(np.count_nonzero(inked(name, m)))
                  for name, m in masks.by_colour.items()}
        if sum(counts.values()) < MIN_PEN_PX:  # all of it dark: the tone does not tell
            counts = {name: int(np.count_nonzero(m[box] if where is None else m[box] & where))
                      for name, m in masks.by_colour.items()}
        return counts

    def colour_of(c: _Candidate) -> str:
        x0, y0, x1, y1 = (int(v) for v in c.box)
        box = np.s_[y0:y1 + 1, x0:x1 + 1]
        counts = counts_in(box)
        first, second = sorted(counts.values(), reverse=True)[:2]
        if second >= CONTESTED_SHARE * first > 0:
            band = _border_band(c, (x0, y0), masks.any[box].shape)
            along = counts_in(box, band)
            if sum(along.values()) >= MIN_PEN_PX:
                counts = along
        return max(counts, key=counts.get)
    return colour_of


def _border_band(c: _Candidate, origin: tuple[int, int], shape: tuple[int, int]
                 ) -> np.ndarray:
    """``shape`` bool, about ``origin`` (page px of its top left): the band
    :data:`BORDER_BAND` round the candidate's outline."""
    centre = (c.centre[0] - origin[0], c.centre[1] - origin[1])
    outer, inner = (fill_outline(np.zeros(shape, np.uint8), centre,
                                 (k * c.axes[0], k * c.axes[1]), c.angle, c.shape == "square")
                    for k in (BORDER_BAND[1], BORDER_BAND[0]))
    return (outer > inner)


# --- ring filters (grey pages, and overlapping imprints on colour pages) ----------------------

RING_STEP = 1.07  # ratio between neighbouring radii of the ring filter bank
RING_BLOB_PX = 100  # a blob is searched for circles on a copy where it spans at most this
#: A square seal cut by the page's edge (:func:`_cut_square`) shows between these shares of
#: its side on the page, and its outline there is inked along this share of its length;
#: sides of its outline within this many px of the page's edge are the cut's.
CUT_SQUARE_LEAST, CUT_SQUARE_MOST, CUT_SQUARE_SUPPORT = 0.3, 0.95, 0.8
CUT_EDGE_PX = 4
#: A blob spanning more than this many of the largest seals, its outline no well-inked border,
#: is searched for circles of a seal's size instead (:func:`_seal_sized_circles`).
LARGE_BLOB_SEALS = 2.0
RING_SCORE = 0.25  # ring coverage minus the coverage just outside it, to be a candidate
RING_COVERAGE = 0.5  # verified: fraction of the visible border that is inked
RING_CONTRAST = 0.3  # ... minus the mean of the bands just outside it
#: share of the inside that is inked (characters, star), for every ring verified, on any page;
#: a fax's dithered legend is a sparse scatter, inked over 0.058 of it on two development
#: faxes (0.06 lost them), a signature's loop or a drawn circle next to nothing
RING_MIN_CONTENT = 0.045
# smaller rings on a grey page are chance circles through text as often as not (measured on
# generated photocopies and faxes); round official seals are 38 mm and more, and small
# personal seals are mostly square
GREY_RING_MIN_MM = 26.0
#: On a grey page the ring bank runs on a half-size copy of the dark ink, where a photocopy's
#: speckled grey border or a fax's broken one thins to a ring filter's answer of 0.2 to 0.25
#: (their rings on the working copy inked along 0.7 to 0.9 of their length): a lower bar for
#: a candidate, each still verified on the working copy (RING_COVERAGE, RING_CONTRAST).
GREY_RING_SCORE = 0.18
#: A fax dithers a seal into a sparse scatter, border and legend alike: such a ring answers
#: 0.15 to 0.18 (three on development pages; 0.12 found none more), and is kept where what
#: it holds is as sparse (inked over at most GREY_SPARSE_CONTENT of the inside: the
#: development faxes' 0.06 to 0.11). A ring as weak through text or another imprint holds
#: them (a 44 mm ring through a copied oval seal and the print round it: 0.3).
GREY_SPARSE_RING_SCORE = 0.15
GREY_SPARSE_CONTENT = 0.15
#: ... but only for rings of a round seal's size (an official seal is 38 mm and more): below
#: RING_SCORE, smaller rings are chance circles through rows of text nine times in ten
#: (fitted radii of 11 to 16 mm on development pages; the seals missed there 17 mm and more).
GREY_WEAK_RING_MIN_MM = 33.0
#: An outline round verified rings is their union (overlapping imprints) when the rings are
#: inked along this much more of their border than it is along its own.
UNION_MARGIN = 0.15
#: One border round a blob inked along less than this share of its length (an oval seal's,
#: above 0.7 on development pages) gives way to two circles inked along this much of theirs.
UNION_BORDER_SUPPORT, UNION_CIRCLE_SUPPORT = 0.7, 0.9
#: One circle of a blob inked along this much more of its border than the blob's one
#: outline: another seal stamped across a round imprint (:func:`_beyond_circle`).
BEYOND_MARGIN = 0.1
#: A ring on less than this share of the image, crossing an imprint wholly on it, is taken
#: for a chance ring (see :func:`_without_chance_rings`).
CHANCE_RING_VISIBLE = 0.75
CHANCE_RING_PEER = 0.5  # ... an imprint at least this large against the ring
GREY_SHAPE_MIN_MM = 14.0  # ... and shapes of all dark ink smaller than this: a signature's


@lru_cache(maxsize=4)
def _torus_distance(shape: tuple[int, int]) -> np.ndarray:
    """Each pixel's distance from the origin on the torus an FFT of ``shape`` wraps round."""
    h, w = shape
    dy = np.minimum(np.arange(h), h - np.arange(h)).astype(np.float32)
    dx = np.minimum(np.arange(w), w - np.arange(w)).astype(np.float32)
    return np.hypot(dy[:, None], dx[None, :])


class _BankCache:
    """Ring filter banks kept by their (shape, radii, band), the least recently used dropped
    beyond ``max_bytes``: a page's bank (megabytes) is reused page after page, and a count
    of entries would let the many small banks of the blobs met between push it out (a blob's
    radii follow its own size, and recur less), or let large ones hold hundreds of MB."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._banks: OrderedDict[tuple, list[np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, shape: tuple[int, int], radii: tuple[float, ...], band: float
            ) -> list[np.ndarray]:
        key = (shape, radii, band)
        with self._lock:
            bank = self._banks.get(key)
            if bank is not None:
                self._banks.move_to_end(key)
                return bank
        bank = _make_ring_bank(shape, radii, band)
        with self._lock:
            if key not in self._banks:
                self._banks[key] = bank
                self._bytes += sum(k.nbytes for k in bank)
            while self._bytes > self.max_bytes and len(self._banks) > 1:
                _, dropped = self._banks.popitem(last=False)
                self._bytes -= sum(k.nbytes for k in dropped)
        return bank


#: Ring filter banks kept (bytes): a page's working copy needs one of 10 to 20 MB.
_RING_BANKS = _BankCache(64 << 20)


def _ring_bank(shape: tuple[int, int], radii: tuple[float, ...], band: float
               ) -> list[np.ndarray]:
    """:func:`_make_ring_bank`, kept (:class:`_BankCache`)."""
    return _RING_BANKS.get(shape, radii, band)


def _make_ring_bank(shape: tuple[int, int], radii: tuple[float, ...], band: float
                    ) -> list[np.ndarray]:
    """Spectra (OpenCV packed, float32) of zero-mean ring filters: +1/area on the border band
    just inside radius r, -1/area on a band outside it. Text and paper noise cover both
    alike and cancel; a seal's border covers only the first."""
    dist = _torus_distance(shape)
    bank = []
    for r in radii:
        # wide enough that a border between two radii of the bank falls in one of them
        inner = min(r - 1.6 * band, r / RING_STEP - band)
        ring = (dist >= inner) & (dist <= r)
        out = (dist >= r + band) & (dist <= r + 3 * band)
        # the two bands are disjoint: each pixel holds one weight or none
        k = np.zeros(shape, np.float32)
        np.copyto(k, np.float32(1) / np.float32(max(np.count_nonzero(ring), 1)), where=ring)
        np.copyto(k, -(np.float32(1) / np.float32(max(np.count_nonzero(out), 1))), where=out)
        bank.append(cv2.dft(k))
    return bank


def _edge_cuts(shape: tuple[int, int], radii: tuple[float, ...], origin, page
               ) -> tuple[np.ndarray, np.ndarray]:
    """For circles of each of ``radii`` centred at each column and each row of an image of
    ``shape`` placed at ``origin`` (x, y) on a page of ``page`` (h, w) px: (n, W) and (n, H)
    fractions of the circle beyond the page's left or right and top or bottom edges."""
    r = np.asarray(radii, float)[:, None]

    def cut(d):  # fraction of the circle beyond an edge at distance d from the centre
        return np.arccos(np.clip(d / r.astype(d.dtype), -1, 1)) / np.pi
    x = np.arange(shape[1], dtype=np.float32) + 0.5 + origin[0]
    y = np.arange(shape[0], dtype=np.float32) + 0.5 + origin[1]
    return cut(x) + cut(page[1] - x), cut(y) + cut(page[0] - y)


def _visible_fraction(fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """(H, W) fraction of the circle centred at each pixel that lies on the page, from one
    radius's cuts (:func:`_edge_cuts`; edges treated independently: exact away from the
    corners)."""
    # (written into one array: the image-sized temporaries cost more than the arithmetic)
    out = np.subtract((1 - fx)[None, :], fy[:, None])
    return np.clip(out, 0, 1, out=out)


def _ring_radii(px_per_mm: float, min_mm: float) -> tuple[tuple[float, ...], float]:
    """The ring filters' radii (px) for seals from ``min_mm`` across, and their band width."""
    r_lo = min_mm / 2 * px_per_mm * 0.9
    r_hi = SEAL_DIAMETER_MM[1] / 2 * px_per_mm * 1.05
    n = max(1, math.ceil(math.log(r_hi / r_lo) / math.log(RING_STEP)))
    return tuple(round(r_lo * RING_STEP ** i, 2) for i in range(n + 1)), max(1.0, 0.8 * px_per_mm)


def _ring_peaks(img: np.ndarray, radii: tuple[float, ...], band: float, origin, page,
                max_peaks: int, min_score: float = RING_SCORE
                ) -> list[tuple[float, float, float, float]]:
    """Centres and radii (page px, for an image placed at ``origin`` on the page) where the
    ring filter bank answers most, strongest first. Parts of a ring beyond the page's edge
    are not held against it (cross-page halves)."""
    h, w = img.shape
    reach = int(radii[-1] + 3 * band) + 1  # zeros beyond the image: no wrap-round
    size = (cv2.getOptimalDFTSize(h + reach), cv2.getOptimalDFTSize(w + reach))
    padded = np.zeros(size, np.float32)
    padded[:h, :w] = img
    spectrum = cv2.dft(padded)
    # the best radius at each pixel, kept as each radius is answered (numpy's argmax across
    # a stack of responses is several times slower, and so are numpy's masked copies against
    # OpenCV's masked operations); the first of equal answers, as argmax
    best = np.full((h, w), -np.inf, np.float32)
    best_i = np.zeros((h, w), np.uint8)  # (a bank holds far fewer than 256 radii)
    better = np.empty((h, w), np.uint8)
    near_edge = (origin[0] < radii[-1] or origin[1] < radii[-1]
                 or origin[0] + w > page[1] - radii[-1] or origin[1] + h > page[0] - radii[-1])
    if near_edge:
        cut_x, cut_y = _edge_cuts((h, w), radii, origin, page)
        hidden = np.empty((h, w), np.uint8)
    for i, k in enumerate(_ring_bank(size, radii, band)):
        out = cv2.idft(cv2.mulSpectrums(spectrum, k, 0), flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
        resp = out[:h, :w]
        if near_edge:
            vis = _visible_fraction(cut_x[i], cut_y[i])
            cv2.compare(vis, 0.3, cv2.CMP_LT, dst=hidden)
            np.divide(resp, np.maximum(vis, 0.3, out=vis), out=resp)
            resp[hidden.view(bool)] = -1
        cv2.compare(resp, best, cv2.CMP_GT, dst=better)
        cv2.max(best, resp, dst=best)
        cv2.bitwise_and(best_i, 0, dst=best_i, mask=better)
        cv2.bitwise_or(best_i, i, dst=best_i, mask=better)
    peaks = (best >= min_score) & (best == cv2.dilate(best, np.ones((5, 5), np.uint8)))
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-best[ys, xs])[:max_peaks]
    return [(float(xs[i] + 0.5 + origin[0]), float(ys[i] + 0.5 + origin[1]),
             float(radii[best_i[ys[i], xs[i]]]), float(best[ys[i], xs[i]])) for i in order]


def _grey_page_candidates(norm: np.ndarray, around: np.ndarray | None, px_per_mm: float,
                          size_known: bool, dots: np.ndarray | None = None
                          ) -> list[_Candidate]:
    """Imprints on a page without colour (a photocopy, a fax). A seal's ink copies as a mid
    grey, black print as black: where the two tones are told apart, the seal's grey is
    searched like a colour page's ink (any shape); rings of all dark ink are searched too,
    for seals copied as dark as the text, and rings of a fax's dither ``dots`` where given."""
    dark = dark_ink(norm, off_page=around)
    # (a fainter grey too: a seal copied too light for a shape, looked for by its ring below)
    tone, faint = seal_tones(norm, (SEAL_TONE_OD, FAINT_TONE_OD), off_page=around)
    rings = _grey_rings(dark, px_per_mm)
    # where black print and the seal are one tone (a fax), the shapes of all dark ink
    shaped = tone if tone.mean() >= MONOCHROME_FRACTION else dark
    if shaped is tone and px_per_mm >= CLOSE_CROP_PX_PER_MM:
        shaped = tone = _across_print(tone, dark, px_per_mm)
    line = max(1.0, 1.2 * px_per_mm)
    # a fax's square seal: its sides dithered into dots, which the line segments a side is
    # found by break into pieces; bridged where a close crop resolves the dots, and looked
    # for there where none are found on the print as it is (fitting the other shapes to
    # the bridged print as well found fewer ovals). A photocopy's square seal under lines
    # of text: the print cuts its grey into strips no side is found on, while its sides run
    # on through the print in all dark ink; looked for there round the grey's pieces
    if shaped is tone:
        sides = dark
    elif px_per_mm >= CLOSE_CROP_PX_PER_MM:
        sides = _bridged(shaped, px_per_mm)
    else:
        sides = None

    def in_grey(c: _Candidate) -> bool:
        # a square's sides found in all dark ink are the seal's grey where no print crosses
        # them: a block of text or a table's rules are black all along
        return _square_support(tone, _square_rect(c), line)[0] >= SIDES_TONE

    # the blurred edges of text left in the grey fall on chance rings too, but inside and
    # outside the ring alike
    toned = [c for c in _colour_candidates(shaped, None, px_per_mm, size_known,
                                           squares_across=shaped is tone, sides=sides,
                                           sides_keep=in_grey if shaped is tone else None)
             if c.support - _outside_support(shaped, c, line) >= RING_CONTRAST
             and (c.visible < WHOLE_VISIBLE or _fills_box(c))
             # in one tone with the text, a signature's loop is as dark as a border: a seal
             # is not that small, and holds a legend
             and (shaped is tone or (_glyph_count(dark, c, px_per_mm) >= MIN_GLYPHS and (
                 not size_known or 2 * c.axes[0] >= px_per_mm * GREY_SHAPE_MIN_MM)))]
    toned = _within_none(toned)
    # (on a fax an oval seal's ends each hold a ring of its minor axis, through the print)
    rings = _ovals_of_pairs(dark, rings, line)
    if shaped is tone:
        for oval in (c for c in toned if c.shape == "oval"):
            rings = _without_ends(rings, oval, tone, line)
        # a copied seal's ring, however dark, holds some of the seal's grey along it (the
        # soft edges of its strokes); a chance ring through rows of black text next to none
        rings = [r for r in rings if _ring_support(tone, r.centre, r.axes, r.angle, line)[0]
                 >= RING_TONE]
    found = _nest(_outermost(rings) + toned, norm.shape[:2])
    if shaped is tone:
        # a seal copied so light that its grey is mostly under SEAL_TONE_OD: a speckle no
        # shape is fitted to, but its ring still stands out of the lighter grey round it
        found += [c for c in _grey_candidates(faint, px_per_mm)
                  if not _overlaps_any(c.box, found)]
    if dots is not None:
        # a fax's seal ink dithered into dots, sampled too sparsely for its ring to show in
        # the dark ink; on the dots alone (print is solid strokes) its ring stands out
        found += [c for c in _grey_rings(dots, px_per_mm) if not _overlaps_any(c.box, found)]
    return found


def _grey_rings(mask: np.ndarray, px_per_mm: float) -> list[_Candidate]:
    """:func:`_grey_candidates` of ``mask``; on a close crop (``px_per_mm``) only those
    mostly on it: a close crop is cut round its seal, and a ring mostly beyond it is a chance
    circle through the print round the seal (a seal cut by a crop's edge is found by its grey
    where it has one)."""
    rings = _grey_candidates(mask, px_per_mm)
    if px_per_mm >= CLOSE_CROP_PX_PER_MM:
        rings = [r for r in rings if r.visible >= CHANCE_RING_VISIBLE]
    return rings


def _without_ends(rings: list[_Candidate], oval: _Candidate, tone: np.ndarray, line: float
                  ) -> list[_Candidate]:
    """``rings`` (found in all dark ink) without a chance circle through the ends of ``oval``
    (an oval border of the seal's grey) and the print across it: the one ring centred on the
    oval, between its axes in size, and inked in the seal's grey along its border less than
    the oval is, and not all round in dark ink either. Two such rings are round imprints
    over each other, whose union's outline is an oval; a round seal whose grey is fitted by
    an oval in part is inked more along its own ring, or copied as dark as the text, all
    round it (a circle through an oval's ends runs over paper beside its flat sides)."""
    inside = [r for r in rings if _same_imprint(r, oval)
              and 0.9 * min(oval.axes) <= r.axes[0] <= 1.1 * max(oval.axes)]
    if len(inside) != 1:
        return rings
    (ring,) = inside
    if (ring.support >= INKED_ALL_ROUND
            or _ring_support(tone, ring.centre, ring.axes, 0.0, line)[0] >= oval.support):
        return rings
    return [r for r in rings if r is not ring]


#: A square's outline found by its straight sides on a photocopy lies in the seal's grey
#: along at least this share of it (development pages: seals 0.42 and 0.6, the blocks of
#: text and tables' rules taken for squares 0.03 to 0.19).
SIDES_TONE = 0.3
#: A ring found in all dark ink on a photocopy lies in the seal's grey along at least this
#: share of it (development pages: seals 0.12 and more, chance rings through text 0.02).
RING_TONE = 0.06
#: Optical density from which a copy's grey may be a faint seal's, looked for by its ring
#: only (:func:`_grey_page_candidates`; a mark this light is too often the paper's own grain
#: or a print's halo for any shape to be fitted to it).
FAINT_TONE_OD = 0.15
#: A ring inked along this share of its border in dark ink is a border, not a chance circle.
INKED_ALL_ROUND = 0.97
#: A working copy this fine (px per mm) is a close crop round one seal, where print across the
#: seal's grey is bridged; on a page's reduced copy the same closing joins a seal's grey to
#: the grey round it (the blurred edges of text, other imprints): on development pages it
#: found no imprint more and made five false detections.
CLOSE_CROP_PX_PER_MM = 5.0
#: Lines of print across a photocopied seal cut its grey into pieces this far apart (mm):
#: bridged across the print between them.
PRINT_ROW_MM = 5.0


def _across_print(tone: np.ndarray, dark: np.ndarray, px_per_mm: float) -> np.ndarray:
    """A photocopied seal's grey (``tone``) joined across the black print that cuts it into
    pieces (``dark`` and not ``tone``): where a closing of the grey reaches over print, the
    seal runs on under it."""
    k = round(PRINT_ROW_MM * px_per_mm) | 1
    closed = cv2.morphologyEx(tone.view(np.uint8), cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    return tone | (closed & dark)


def _nest(cands: list[_Candidate], shape: tuple[int, int]) -> list[_Candidate]:
    """One explanation of each imprint, best inked first. A candidate inside (or no larger
    than) one already kept describes part of it. One round kept ones is the whole imprint
    round its inner ring, or the oval round the circles that fit inside it, unless those
    are inked along far more of their border (:data:`UNION_MARGIN`): then it is the union
    of overlapping imprints. Chance rings round the imprint of a close crop (``shape``, the
    image's) are left out first (:func:`_without_chance_rings`)."""
    cands = _without_chance_rings(cands, shape)
    keep: list[_Candidate] = []
    for c in sorted(cands, key=lambda c: -c.support):
        inner, covered = [], False
        for k in keep:
            if _box_inside(c.box, k.box) >= 0.85:
                covered = True
            elif _box_inside(k.box, c.box) >= 0.85 or _same_imprint(c, k):
                if max(c.axes) > max(k.axes):
                    inner.append(k)
                else:
                    covered = True
        if covered or (inner and min(k.support for k in inner) >= c.support + UNION_MARGIN):
            continue
        keep = [k for k in keep if not any(k is i for i in inner)] + [c]
    return keep


def _without_chance_rings(cands: list[_Candidate], shape: tuple[int, int]
                          ) -> list[_Candidate]:
    """Drop rings mostly beyond the image (``shape``) that run into an imprint wholly on it,
    clear of its edges: chance rings through the text round the imprint of a close crop (a
    cross-page half lies at the page's edge, clear of other imprints). Such a ring cannot
    hold a whole imprint as its inner ring either."""
    h, w = shape
    # (not a seal found across a round imprint: that imprint is the ring it was found by)
    whole = [k for k in cands if k.visible >= WHOLE_VISIBLE and k.box[0] >= 1 and k.box[1] >= 1
             and k.box[2] <= w - 1 and k.box[3] <= h - 1 and not k.across]
    return [c for c in cands if not (
        c.shape == "round" and c.visible < CHANCE_RING_VISIBLE
        and any(math.dist(c.centre, k.centre) < c.axes[0] + _reach(k)
                # an imprint, not a piece of the ring's own legend or star
                and _reach(k) >= CHANCE_RING_PEER * c.axes[0] for k in whole))]


def _reach(c: _Candidate) -> float:
    """Radius of the circle round a candidate's outline (a square's half diagonal)."""
    return max(c.axes) * (math.sqrt(2.0) if c.shape == "square" else 1.0)


def _same_imprint(a: _Candidate, b: _Candidate) -> bool:
    """Whether two candidates describe one imprint (the rule of :func:`_suppress`)."""
    return math.dist(a.centre, b.centre) <= 0.5 * min(a.axes[0], b.axes[0])


def _fills_box(c: _Candidate) -> bool:
    """Whether the ink the candidate was fitted to spans its fitted outline: not a strip of
    an imprint (cut off by a line of text) taken for a whole one."""
    return min(c.box[2] - c.box[0], c.box[3] - c.box[1]) >= 0.75 * 2 * min(c.axes)


def _outside_support(mask: np.ndarray, c: _Candidate, line_px: float) -> float:
    """Mean ink support of the outlines just outside ``c``'s border (2 to 5 lines out)."""
    out = []
    for k in (2.0, 3.5, 5.0):
        if c.shape == "square":
            (cx, cy), (w, h), a = _square_rect(c)
            grown = ((cx, cy), (w + 2 * k * line_px, h + 2 * k * line_px), a)
            out.append(_square_support(mask, grown, line_px)[0])
        else:
            axes = (c.axes[0] + k * line_px, c.axes[1] + k * line_px)
            out.append(_ring_support(mask, c.centre, axes, c.angle, line_px)[0])
    return float(np.mean(out))


def _square_rect(c: _Candidate):
    """A square candidate as an OpenCV rotated rectangle."""
    return (c.centre, (2 * c.axes[0], 2 * c.axes[1]), c.angle)


def _box_aspect(b) -> float:
    return min(b[2] - b[0], b[3] - b[1]) / max(b[2] - b[0], b[3] - b[1], 1e-6)


def _box_area(b) -> float:
    return max(b[2] - b[0], 0) * max(b[3] - b[1], 0)


def _box_inside(a, b) -> float:
    """The share of box ``a`` that lies inside box ``b``."""
    inter = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return _box_area(inter) / max(_box_area(a), 1e-6)


def _overlaps_any(box, cands: list[_Candidate], share: float = 0.3) -> bool:
    """Whether ``share`` of ``box`` lies inside one of ``cands``' boxes, or of one of theirs
    inside it: the imprint a later search finds there is one found already."""
    return any(_box_inside(box, c.box) >= share or _box_inside(c.box, box) >= share
               for c in cands)


def _within_none(cands: list[_Candidate]) -> list[_Candidate]:
    """Drop a candidate whose box lies almost wholly inside a larger one's: a piece of an
    imprint that a line crossing it cut off (overlapping imprints stick out of each other)."""
    return [c for c in cands if not any(
        k is not c and _box_area(k.box) > _box_area(c.box) and _box_inside(c.box, k.box) >= 0.85
        for k in cands)]


def _grey_candidates(dark: np.ndarray, px_per_mm: float) -> list[_Candidate]:
    """Round imprints on a page without colour: rings of ``dark`` ink, found by a bank of
    ring filters on a half-size copy, then verified on the working copy."""
    dark = dark.astype(np.uint8)
    h, w = dark.shape
    half = cv2.resize(dark.astype(np.float32), (max(1, w // 2), max(1, h // 2)),
                      interpolation=cv2.INTER_AREA)
    radii, band = _ring_radii(px_per_mm / 2, GREY_RING_MIN_MM)
    line = max(1.0, 1.2 * px_per_mm)
    found = []
    weak_r = GREY_WEAK_RING_MIN_MM / 2 * px_per_mm
    for x, y, r, score in _ring_peaks(half, radii, band, (0, 0), half.shape, 60,
                                      GREY_SPARSE_RING_SCORE):
        if score < RING_SCORE and 2 * r < weak_r:
            continue
        cand = _verify_ring(dark, (2 * x, 2 * y), 2 * r, line)
        if cand is not None and (score >= GREY_RING_SCORE or _interior_density(
                dark, cand.centre, cand.axes[0]) <= GREY_SPARSE_CONTENT):
            found.append(cand)
    return _outermost(_suppress(_without_chance_rings(found, dark.shape)))


def _outermost(cands: list[_Candidate], apart=None) -> list[_Candidate]:
    """Drop rings well inside a larger one: the star or an inner ring of the same seal,
    centred inside it and reaching no further than OUTERMOST_REACH of its radius (a
    42 mm seal over a 58 mm government seal is smaller by as much, and reaches well
    beyond it) or, beyond that, inked along less than UNION_CIRCLE_SUPPORT of its border (a
    chance ring through the larger one's legend); unless ``apart(inner, outer)`` says they
    are separate imprints."""
    return [c for c in cands if not any(
        k.axes[0] > 1.3 * c.axes[0] and math.dist(c.centre, k.centre) < k.axes[0]
        and (math.dist(c.centre, k.centre) + c.axes[0] <= OUTERMOST_REACH * k.axes[0]
             or c.support < UNION_CIRCLE_SUPPORT)
        and not (apart and apart(c, k)) for k in cands)]


#: A ring reaching no further than this share of a larger one's radius lies within it.
OUTERMOST_REACH = 1.15


def _interior_density(mask: np.ndarray, c, r: float) -> float:
    """Share of dark pixels inside 0.75 r: a seal carries characters and a star there, a
    signature's loop or a drawn circle next to nothing."""
    rho = np.linspace(0.1, 0.75, 12)[:, None] * r
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)[None, :]
    x = np.floor(c[0] + rho * np.cos(t)).astype(int)
    y = np.floor(c[1] + rho * np.sin(t)).astype(int)
    h, w = mask.shape
    ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    return float(mask[y[ok], x[ok]].mean()) if ok.any() else 0.0


def _verify_ring(mask: np.ndarray, c0, r0: float, line: float, *, reach: int = 2
                 ) -> _Candidate | None:
    """Refine a ring candidate on the working copy (centre +-``reach`` px, radius +-4 %) and
    keep it when its border is inked all round and clearly more than just outside it."""
    # radius first, then the centre at that radius
    radii = r0 * np.array([0.96, 0.98, 1.0, 1.02, 1.04])
    support, _ = _outline_support(mask, np.repeat([c0], len(radii), 0),
                                  np.repeat(radii[:, None], 2, 1), 0.0, line)
    r = float(radii[int(np.argmax(support))])
    d = np.array([(dx, dy) for dx in (-reach, 0, reach) for dy in (-reach, 0, reach)], float)
    centres = np.asarray(c0, float) + d
    support, visible = _outline_support(mask, centres, np.full((len(d), 2), r), 0.0, line)
    best = int(np.argmax(support))
    c = (float(centres[best, 0]), float(centres[best, 1]))
    support, visible = float(support[best]), float(visible[best])
    if support < RING_COVERAGE or visible < 0.3:
        return None
    # text round the seal darkens the bands outside it by its own density, about alike
    near_r = r + line * np.array([2.0, 3.5, 5.0, -2.5, -4.0])
    near = _outline_support(mask, np.repeat([c], 5, 0), np.repeat(near_r[:, None], 2, 1), 0.0,
                            line)[0]
    if support - float(near[:3].mean()) < RING_CONTRAST:
        return None
    # a filled shape (the star, a blot) is dark inside its outline too; a seal's border has
    # the gap before the characters and the characters' own gaps
    if float(near[3:].min()) > 0.9 or _interior_density(mask, c, r) < RING_MIN_CONTENT:
        return None
    h, w = mask.shape
    box = (max(c[0] - r, 0), max(c[1] - r, 0), min(c[0] + r, w), min(c[1] + r, h))
    return _Candidate(c, (float(r), float(r)), 0.0, "round", box, support, visible, ring=True)
