"""Every imprint of an image, found and rectified: what registration, identification and
verification start from."""

from __future__ import annotations

import numpy as np

from imprint.errors import NoImprintError, SeveralImprintsError
from imprint.rectify import rectify
from imprint.segment import detect_imprints
from imprint.types import RectifiedImprint


def rectified_imprints(image: np.ndarray, *, dpi: float | None = None, page: int = 0
                       ) -> list[RectifiedImprint]:
    """Detect every imprint on ``image`` (``(H, W, 3) uint8`` RGB) and rectify each; imprints
    whose border cannot be fitted are left out."""
    found = []
    for det in detect_imprints(image, dpi=dpi, page=page):
        r = rectify(image, det, dpi=dpi)
        if r is not None:
            found.append(r)
    return found


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
