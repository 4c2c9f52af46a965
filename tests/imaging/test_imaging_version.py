"""What this imaging version makes of a few fixed images (a scan, a photocopy, a fax and a phone
photo of round, oval and square seals, under ``tests/data/imaging_version``): where the code's
output moves from what is recorded, :data:`imprint.pipeline.IMAGING_VERSION` must be raised,
or registries would keep comparing new imprints with masters rectified by the old code.

After a deliberate change of the imaging code's output, raise the version and record the new
output: ``python -m tests.imaging.test_imaging_version --record``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from imprint import pipeline
from imprint.io import load_page

DATA = Path(__file__).resolve().parents[1] / "data" / "imaging_version"
RECORD = DATA / "output.json"
#: px on the page (centre, axes), degrees, and ink density on a 16 x 16 grid: far below any
#: change that moves an imprint, far above rounding
TOLERANCE = {"px": 1e-3, "deg": 1e-3, "ink": 1e-3}


def made_of(path: Path) -> list[dict]:
    """Each imprint found on the image at ``path``: where and what, and its canonical ink
    map averaged over a 16 x 16 grid."""
    (page,) = load_page(path)
    out = []
    found = pipeline.found_imprints(page.image, dpi=page.dpi[0] if page.dpi else None)
    for det, r in found:
        item = {"box": [round(float(v), 4) for v in det.box], "shape": det.shape,
                "colour": det.colour}
        if r is not None:
            g = r.geometry
            grid = cv2.resize(r.ink.astype(np.float32), (16, 16), interpolation=cv2.INTER_AREA)
            item |= {"centre": [round(float(v), 4) for v in g.centre],
                     "axes": [round(float(v), 4) for v in g.axes],
                     "rotation": round(float(g.rotation), 4),
                     "occluded": round(float(r.occlusion.mean()), 4),
                     "ink": np.round(grid, 4).ravel().tolist()}
        out.append(item)
    return out


def _images() -> list[Path]:
    return sorted(p for p in DATA.iterdir() if p.suffix in (".png", ".jpg"))


def test_the_images_are_of_every_shape_and_capture():
    names = {p.stem for p in _images()}
    assert {"round_scan", "round_photocopy", "round_fax", "oval_phone", "square_scan"} <= names
    recorded = json.loads(RECORD.read_text())
    assert set(recorded["images"]) == {p.name for p in _images()}
    # every image shows its seal, rectified
    assert all(any("centre" in i for i in v) for v in recorded["images"].values())


@pytest.mark.parametrize("path", _images(), ids=lambda p: p.stem)
def test_the_output_is_the_one_recorded_for_this_version(path):
    recorded = json.loads(RECORD.read_text())
    assert recorded["imaging_version"] == pipeline.IMAGING_VERSION, (
        "IMAGING_VERSION changed: record its output (python -m "
        "tests.imaging.test_imaging_version --record)")
    want, got = recorded["images"][path.name], made_of(path)
    moved = (f"the imaging code's output for {path.name} moved from what version "
             f"{pipeline.IMAGING_VERSION} made: raise IMAGING_VERSION in imprint/pipeline.py "
             f"and record the new output (python -m tests.imaging.test_imaging_version "
             f"--record)")
    assert len(got) == len(want), moved
    for g, w in zip(got, want, strict=True):
        assert (g["shape"], g["colour"], "centre" in g) == (w["shape"], w["colour"],
                                                            "centre" in w), moved
        np.testing.assert_allclose(g["box"], w["box"], atol=TOLERANCE["px"], err_msg=moved)
        if "centre" not in w:
            continue
        np.testing.assert_allclose(g["centre"] + g["axes"], w["centre"] + w["axes"],
                                   atol=TOLERANCE["px"], err_msg=moved)
        turn = (g["rotation"] - w["rotation"] + 180) % 360 - 180
        assert abs(turn) <= TOLERANCE["deg"], moved
        np.testing.assert_allclose([g["occluded"], *g["ink"]], [w["occluded"], *w["ink"]],
                                   atol=TOLERANCE["ink"], err_msg=moved)


def record() -> None:
    cv2.setNumThreads(1)
    images = {p.name: made_of(p) for p in _images()}
    RECORD.write_text(json.dumps({"imaging_version": pipeline.IMAGING_VERSION,
                                  "images": images}, indent=1) + "\n")
    print(f"recorded version {pipeline.IMAGING_VERSION}: {len(images)} images -> {RECORD}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit(__doc__)
    record()
