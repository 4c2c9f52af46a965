"""A real contract page (../shared/data/real, Joran1101_YOLOv5-CBAM-Seal-Detection,
data-gen_img_00005) holding a company's seal whole and, further down, a seal cut in half by a
sheet's edge inside the image. The whole one, filed, is judged genuine against itself; the
half is not judged another seal for the ink it cannot show: its part beyond the edge is
marked covered, and the half is inconclusive (or genuine) against that master, not
``different_seal`` (it had been, correlating at 0.33 with the missing half read as paper)."""

from __future__ import annotations

import cv2

from imprint.boxes import iou
from imprint.io import load_page
from imprint.pipeline import rectified_imprints
from index.filing import file_master
from index.identify import SealSearch
from index.store import RegistryStore
from index.verify import verify
from tests.real import REAL, needs_real

PAGE = REAL / "Joran1101_YOLOv5-CBAM-Seal-Detection" / "data-gen_img_00005.jpeg"
WHOLE = (339, 1131, 708, 1497)  # the company's seal, whole (page px, labelled by eye)
HALF = (1186, 1388, 1574, 1756)  # the seal cut by the sheet's edge: its right half

pytestmark = needs_real


def test_a_seal_cut_by_a_sheets_edge_is_not_judged_another_seal(tmp_path):
    (page,) = load_page(PAGE)
    x0, y0, x1, y1 = WHOLE
    crop = tmp_path / "whole.png"
    cv2.imwrite(str(crop), page.image[y0 - 40:y1 + 40, x0 - 40:x1 + 40][..., ::-1])
    found = rectified_imprints(page.image)
    whole = max(found, key=lambda r: iou(r.detection.box, WHOLE))
    half = max(found, key=lambda r: iou(r.detection.box, HALF))
    assert iou(half.detection.box, HALF) >= 0.5
    assert half.quality.occluded > 0.4  # the cut-away half, at least
    with RegistryStore.open(tmp_path / "registry") as store:
        search = SealSearch(store)
        file_master(search, crop, seal_id="company", unit="company")
        assert verify(search, whole, "company").comparison.verdict == "genuine"
        assert verify(search, half, "company").comparison.verdict in ("inconclusive",
                                                                      "genuine")
