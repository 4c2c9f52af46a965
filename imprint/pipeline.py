"""Every imprint of an image, found and rectified: what registration, identification and
verification start from."""

from __future__ import annotations

import math

import cv2
import numpy as np

from imprint.errors import NoImprintError, SeveralImprintsError
from imprint.ink import brightest_channel, normalise
from imprint.rectify import rectify
from imprint.segment import FAINT_CROP_MM, detect_imprints, seal_sized
from imprint.types import Detection, RectifiedImprint

#: What the imaging stages (loading, detection, ink separation, rectification) make of an
#: image, as a number: raised with every change that moves a rectified imprint (its centre,
#: scale, turn or ink map) for the same image. Rectified imprints kept by a registry (each
#: master's canonical imprint) and the vectors embedded from them are derived data made
#: again when it changes, so that imprints rectified now are never compared with masters
#: rectified by other code. ``tests/imaging/test_imaging_version.py`` holds what this
#: version makes of a few fixed images and fails where the code's output has moved from it.
IMAGING_VERSION = 3


def found_imprints(image: np.ndarray, *, dpi: float | None = None, page: int = 0
                   ) -> list[tuple[Detection, RectifiedImprint | None]]:
    """Every imprint detected on ``image`` (``(H, W, 3) uint8`` RGB), in the detector's order,
    with its rectification (None where its border could not be fitted). Where the ``dpi`` is
    one the image cannot have, the imprints are found without it
    (:func:`detected`), and measured in no mm."""
    return found_and_measured(image, dpi=dpi, page=page)[0]


def found_and_measured(image: np.ndarray, *, dpi: float | None = None, page: int = 0
                       ) -> tuple[list[tuple[Detection, RectifiedImprint | None]], float | None]:
    """:func:`found_imprints`, and the dpi they are measured at (:func:`detected`: None where
    ``dpi`` is one the image cannot have)."""
    dets, dpi = detected(image, dpi=dpi, page=page)
    return once_each(dets, rectify_all(image, dets, dpi=dpi)), dpi


def detected(image: np.ndarray, *, dpi: float | None = None, page: int = 0
             ) -> tuple[list[Detection], float | None]:
    """The imprints detected on ``image`` and the dpi they are measured at: ``dpi``, or None
    where it is one the image cannot have (:func:`_under_a_false_dpi`)."""
    dets = detect_imprints(image, dpi=dpi, page=page)
    if not dets and dpi is not None:
        dets, dpi = _under_a_false_dpi(image, dpi, page)
    return dets, dpi


#: Printed characters are no smaller than this (mm; the tallest marks of dark ink, a tenth of
#: them: whole characters, not their parts or specks): body text is 2.5 to 5 mm high, the
#: smallest print of a form 1.5 mm.
PRINT_MIN_MM = 1.2
#: Dark ink: the brightest channel against the paper under this (print blurred into the paper
#: of a shrunk page is grey, not black).
PRINT_DARK = 0.75
#: Marks of print counted: at least this many, each this many px high or more (the dots of a
#: fax's dither, the specks of a JPEG, are smaller).
PRINT_MIN_MARKS, MARK_MIN_PX = 30, 3


def _under_a_false_dpi(image: np.ndarray, dpi: float, page: int
                       ) -> tuple[list[Detection], float | None]:
    """Where nothing is found at the dpi a file states, and at that dpi the image is no
    larger than a close crop (:data:`FAINT_CROP_MM`) yet its print is smaller than any
    (:func:`print_height_mm`): a page shrunk for a web form or a message that kept its
    scanner's dpi (at it the page is 45 mm long, its characters under a mm, its seals 8 mm
    across). The imprints found without the dpi, where none of them could be a seal at it
    and all are of a seal's colour, their size then unknown (None); else nothing, and the
    dpi. A page's size at its dpi is trusted (a rendered PDF's, a scanner's): a page without
    seals is searched once."""
    if max(image.shape[:2]) / dpi * 25.4 > FAINT_CROP_MM:
        return [], dpi
    height = print_height_mm(image, dpi)
    if height is None or height >= PRINT_MIN_MM:
        return [], dpi
    dets = detect_imprints(image, dpi=None, page=page)
    # (a fax's or a copy's grey is not judged so: their dither dots and the specks a copy
    # leaves are marks of print under a mm, on crops of their true dpi)
    if dets and not any(d.colour == "grey" or seal_sized(2 * max(d.axes) / dpi * 25.4)
                        for d in dets):
        return dets, None
    return [], dpi


def print_height_mm(image: np.ndarray, dpi: float) -> float | None:
    """The height (mm, at ``dpi``) of the characters of print on ``image``: the 90th
    percentile of the heights of its marks of dark ink (dark in every channel,
    :data:`PRINT_DARK`: a seal's ink passes its own colour) at least :data:`MARK_MIN_PX`
    high; None where there are fewer than :data:`PRINT_MIN_MARKS` of them."""
    lightest = brightest_channel(normalise(image))
    dark = (lightest < PRINT_DARK).astype(np.uint8)
    stats = cv2.connectedComponentsWithStats(dark, connectivity=8)[2]
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    heights = heights[heights >= MARK_MIN_PX]
    if len(heights) < PRINT_MIN_MARKS:
        return None
    return float(np.percentile(heights, 90)) / dpi * 25.4


#: A round seal measures the perspective left on its sheet where this much of its border is
#: seen (its outline fitted all round).
SHEET_BORDER_SEEN = 0.9


def rectify_all(image: np.ndarray, dets: list[Detection], *, dpi: float | None = None
                ) -> list[RectifiedImprint | None]:
    """Each detection rectified, the others on the page passed along (an imprint over it is
    kept out of its orientation). On a photographed sheet, an oval seal is rectified again
    by the nearest whole round seal's outline (what the sheet's horizon leaves of the
    perspective, which the oval's own outline cannot tell from its shape)."""
    rects = [rectify(image, d, dpi=dpi, others=dets[:k] + dets[k + 1:])
             for k, d in enumerate(dets)]
    rounds = [r for r in rects if r is not None and r.detection.shape == "round"
              and r.detection.horizon is not None
              and r.quality.border_visible >= SHEET_BORDER_SEEN]
    for k, (d, r) in enumerate(zip(dets, rects, strict=True)):
        if not rounds or r is None or r.detection.shape != "oval" or d.horizon is None:
            continue
        near = min(rounds, key=lambda o: math.dist(o.geometry.centre, r.geometry.centre))
        rects[k] = rectify(image, d, dpi=dpi, others=dets[:k] + dets[k + 1:],
                           sheet=near) or r
    return rects


def once_each(dets: list[Detection], rects: list[RectifiedImprint | None]
              ) -> list[tuple[Detection, RectifiedImprint | None]]:
    """The detections with their rectifications, an imprint found twice (its fitted borders
    coinciding) kept once, by its more confident detection; each detection as its
    rectification refined it."""
    kept: dict[int, RectifiedImprint | None] = {}
    for k in sorted(range(len(dets)), key=lambda k: -dets[k].confidence):
        r = rects[k]
        if r is None or not any(f is not None and _same_border(r, f) for f in kept.values()):
            kept[k] = r
    # a rectified imprint's detection holds its fitted border (a circle found round an oval or
    # a square seal is that oval or square)
    return [(dets[k] if kept[k] is None else kept[k].detection, kept[k]) for k in sorted(kept)]


def rectified_imprints(image: np.ndarray, *, dpi: float | None = None, page: int = 0
                       ) -> list[RectifiedImprint]:
    """Every imprint on ``image`` found and rectified; imprints whose border cannot be fitted
    are left out."""
    return [r for _, r in found_imprints(image, dpi=dpi, page=page) if r is not None]


#: Two fitted borders this close (centres, in radii) and this alike (each axis, relative) are
#: one imprint found twice: two circles found inside an oval by the ring filters both fit the
#: oval's border, one a little off. (Two strikes of a seal this close over each other could
#: not be told apart and compared anyway.)
SAME_CENTRE, SAME_AXES = 0.25, 0.15


def _same_border(a: RectifiedImprint, b: RectifiedImprint) -> bool:
    ga, gb = a.geometry, b.geometry
    r = max(max(ga.axes), max(gb.axes))
    return (np.hypot(ga.centre[0] - gb.centre[0], ga.centre[1] - gb.centre[1]) < SAME_CENTRE * r
            and all(abs(x - y) < SAME_AXES * max(x, y)
                    for x, y in zip(sorted(ga.axes), sorted(gb.axes), strict=True)))


def _inside(inner: RectifiedImprint, outer: RectifiedImprint) -> bool:
    (x, y), (cx, cy) = inner.geometry.centre, outer.geometry.centre
    return (inner is not outer and max(inner.geometry.axes) < max(outer.geometry.axes)
            and np.hypot(x - cx, y - cy) < min(outer.geometry.axes))


def single_imprint(image: np.ndarray, *, dpi: float | None = None, what: str = "the image"
                   ) -> RectifiedImprint:
    """The one imprint on ``image`` (a master to file, a crop to verify). A ring found inside
    another imprint (its inner circle or star) is part of that imprint, not a second one.
    Raises :class:`NoImprintError` or :class:`SeveralImprintsError`."""
    found = rectified_imprints(image, dpi=dpi)
    outer = [r for r in found if not any(_inside(r, o) for o in found)]
    if not outer:
        raise NoImprintError(f"no seal imprint found in {what}")
    if len(outer) > 1:
        boxes = "; ".join("[" + ", ".join(f"{v:.0f}" for v in r.detection.box) + "]"
                          for r in outer)
        raise SeveralImprintsError(
            f"{len(outer)} seal imprints found in {what} (boxes {boxes}); crop the image to "
            f"the one imprint meant")
    return outer[0]
