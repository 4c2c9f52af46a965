"""Every imprint of an image, found and rectified: what registration, identification and
verification start from."""

from __future__ import annotations

import numpy as np

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
