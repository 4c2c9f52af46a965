"""A page whose edge carries a sliver of a seal stamped across two sheets (骑缝章)."""

from __future__ import annotations

import numpy as np

from imprint.synth.defects import new_seal
from imprint.synth.design import SealSpec, layout
from imprint.synth.medium import Capture
from imprint.synth.scene import Stamping, imprint_scene
from imprint.synth.stamping import StampConditions


def sliver_page(kind: str, seed: int = 3) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A 300-dpi scanned A4 page whose right edge carries a sliver of a 42 mm red round seal: of
    sheets laid side by side (``"side"``: the centre 0.55 of a radius beyond the edge) or of
    fanned-out sheets (``"fanned"``: the centre 0.8 of a radius inside the edge, ink only on
    the band 0.35 of a radius wide along it): (page, box of the seal's ink on the page)."""
    seal = new_seal(layout(SealSpec("round_official", "江苏宏达机械制造有限公司",
                                    code="3201050123456")), np.random.default_rng(seed))
    image, truth = imprint_scene(Stamping(seal, StampConditions(angle=30.0, seed=seed), "red",
                                          "S", "S"), dpi=300, rng=np.random.default_rng(seed),
                                 capture=Capture("scan", 95, 0.3, 0.003), clutter=False)
    r = truth.axes[0]
    rim = np.concatenate([image[:10].reshape(-1, 3), image[-10:].reshape(-1, 3),
                          image[:, :10].reshape(-1, 3), image[:, -10:].reshape(-1, 3)])
    blank = np.median(rim, axis=0).astype(np.uint8)  # the paper round the seal
    h, w = 3508, 2480  # A4
    page = np.empty((h, w, 3), np.uint8)
    page[:] = blank
    cx = w + 0.55 * r if kind == "side" else w - 0.8 * r
    cy = h / 2
    x0, y0 = round(cx - truth.centre[0]), round(cy - truth.centre[1])
    ih, iw = image.shape[:2]
    px0, py0, px1, py1 = max(x0, 0), max(y0, 0), min(x0 + iw, w), min(y0 + ih, h)
    # the ink laid on this sheet's paper (the imprint's own paper is lighter in the middle)
    page[py0:py1, px0:px1] = np.minimum(page[py0:py1, px0:px1],
                                        image[py0 - y0:py1 - y0, px0 - x0:px1 - x0])
    if kind == "fanned":
        page[:, :round(w - 0.35 * r)] = blank  # under the next sheet when it was stamped
    inked = np.nonzero(np.abs(page.astype(int) - blank.astype(int)).sum(axis=2) > 60)
    box = (inked[1].min(), inked[0].min(), inked[1].max() + 1, inked[0].max() + 1)
    return page, (int(box[0]), int(box[1]), int(box[2]), int(box[3]))
