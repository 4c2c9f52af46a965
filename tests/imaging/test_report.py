"""The comparison report: a hand-built comparison of a drawn seal with a shifted, partly erased
copy is written in every format, each a valid file, with data from outside escaped."""

from __future__ import annotations

import base64
import json
import math
import warnings
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from imprint import report as report_module
from imprint.errors import InvalidParameterError, OutputError
from imprint.rectify import CANONICAL_RADIUS, CANONICAL_SIZE
from imprint.report import ReportContext, comparison_record, render_figure, write_report
from imprint.types import (
    Alignment,
    Comparison,
    Detection,
    Displacement,
    Evidence,
    Geometry,
    Measurement,
    Quality,
    RectifiedImprint,
    SubScore,
)

SEAL_MM = 42.0
MM_PER_PX = SEAL_MM / (2 * CANONICAL_RADIUS)
C = CANONICAL_SIZE / 2


def _seal_ink() -> np.ndarray:
    """A seal-like ink map: the outer ring, a star, a few character strokes."""
    img = np.zeros((CANONICAL_SIZE, CANONICAL_SIZE), np.uint8)
    cv2.circle(img, (256, 256), 233, 255, 14, cv2.LINE_AA)
    star = [(256 + r * math.sin(math.radians(36 * k)), 256 - r * math.cos(math.radians(36 * k)))
            for k, r in zip(range(10), [62, 24] * 5, strict=True)]
    cv2.fillPoly(img, [np.round(star).astype(np.int32)], 255, cv2.LINE_AA)
    for a in range(-150, 151, 30):  # characters along the arc
        t = math.radians(a)
        x, y = 256 + 180 * math.sin(t), 256 - 180 * math.cos(t)
        cv2.line(img, (round(x - 14), round(y)), (round(x + 14), round(y)), 255, 5)
        cv2.line(img, (round(x), round(y - 16)), (round(x), round(y + 16)), 255, 5)
    cv2.putText(img, "3201050123456", (150, 400), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    return (cv2.GaussianBlur(img, (0, 0), 0.8) / 255.0).astype(np.float32)


def _imprint(ink: np.ndarray, occlusion: np.ndarray, quality: Quality) -> RectifiedImprint:
    scale = 1.5
    h = np.array([[scale, 0, 900 - C * scale], [0, scale, 1200 - C * scale], [0, 0, 1]])
    geometry = Geometry(centre=(900.0, 1200.0), axes=(360.0, 358.0), rotation=12.0, scale=scale,
                        homography=h, size_mm=(SEAL_MM, SEAL_MM))
    detection = Detection(box=(540.0, 840.0, 1260.0, 1560.0), centre=(900.0, 1200.0),
                          axes=(360.0, 358.0), angle=0.0, shape="round", colour="red",
                          confidence=0.97, visible=1.0, page=1)
    return RectifiedImprint(ink=ink, occlusion=occlusion, geometry=geometry, quality=quality,
                            detection=detection)


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    rng = np.random.default_rng(7)
    master_ink = _seal_ink()
    # the questioned imprint: slightly shifted, one side weakly inked, one character moved
    query = cv2.warpAffine(master_ink, np.float32([[1, 0, 1.5], [0, 1, -1.0]]),
                           (CANONICAL_SIZE, CANONICAL_SIZE))
    query[300:420, 40:160] *= 0.2
    query[60:110, 330:380] = np.roll(master_ink[60:110, 330:380], 4, axis=1)
    occlusion = np.zeros_like(master_ink, bool)
    occlusion[240:262, 60:460] = True  # a line of black text across it
    yy, xx = np.mgrid[0:CANONICAL_SIZE, 0:CANONICAL_SIZE]
    unknown = occlusion | (np.hypot(xx + 0.5 - C, yy + 0.5 - C) > 1.02 * CANONICAL_RADIUS)
    difference = np.where(unknown, np.nan, query - master_ink).astype(np.float32)

    displacements = []
    for k in range(30):
        clock = 12.0 * k
        r = 80 + 100 * (k % 2)
        centre = (C + r * math.sin(math.radians(clock)), C - r * math.cos(math.radians(clock)))
        shift = tuple(rng.normal(0, 0.4, 2)) if k not in (3, 4) else (4.0 - k / 2, 0.5)
        displacements.append(Displacement(centre, clock, (float(shift[0]), float(shift[1])),
                                          math.hypot(*shift) * MM_PER_PX,
                                          float(rng.uniform(0.3, 1.0))))
    scores = (
        SubScore("stroke_overlap", 0.81, 0.70, "fraction", "below", False,
                 "share of the master's strokes found in the questioned imprint"),
        SubScore("local_shift_max", 0.31, 0.20, "mm", "above", True,
                 "largest residual shift of a character after the elastic allowance"),
        SubScore("edge_blur", 1.1, 2.5, "px", "above", False, "edge spread against the master"),
    )
    measurements = (
        Measurement("outer diameter", 42.0, 42.06, "mm"),
        Measurement("star size", 14.0, 13.82, "mm"),
        Measurement("border width", 1.2, None, "mm"),
        Measurement("star angle", 0.0, 0.6, "deg"),
    )
    evidence = Evidence(scores=scores, measurements=measurements,
                        displacements=tuple(displacements), difference=difference,
                        deformation_percent=2.7, deformation_band="suspect",
                        features={"overlap": 0.81})
    alignment = Alignment(warp=np.eye(3), rotation=-0.8, scale=1.004, shift=(1.5, -1.0),
                          correlation=0.87, elastic_mm=0.12, query_ink=query.astype(np.float32),
                          unknown=unknown)
    master = _imprint(master_ink, np.zeros_like(occlusion), Quality(1.0, 0.21, 1.2, 0.0))
    questioned = _imprint(query, occlusion, Quality(0.93, 0.18, 1.6, 0.05))
    return Comparison(verdict="suspected_forgery", score=np.float64(0.083),
                      log10_lr=np.float32(-1.04),
                      reasons=("one character sits 0.31 mm from where the master has it",
                               "deformation 2.7 % is in the GA 241.8 suspect band"),
                      alignment=alignment, evidence=evidence, master=master, query=questioned,
                      against_forgeries={"recarved_subtle": np.float64(-1.31),
                                         "printed": np.float32(0.4)})


@pytest.fixture(scope="module")
def context() -> ReportContext:
    return ReportContext(seal_id='3201050123456<script>alert("x")</script>',
                         unit_name="江苏宏达机械制造有限公司 & Co", status="revoked",
                         status_note="seal revoked on 2025-03-01, before the document's date",
                         document="contract_0412.pdf", page=1, box=(540.0, 840.0, 1260.0, 1560.0),
                         master_id=17, document_date="2025-04-12")


def test_record_is_json_ready(comparison):
    rec = comparison_record(comparison)
    json.dumps(rec, allow_nan=False)
    assert rec["verdict"] == "suspected_forgery"
    assert type(rec["score"]) is float and type(rec["log10_lr"]) is float
    assert set(rec) == {"verdict", "score", "log10_lr", "log10_lr_against", "reasons",
                        "evidence", "alignment", "quality"}
    assert rec["log10_lr_against"] == {"recarved_subtle": -1.31, "printed": 0.4}
    assert all(type(v) is float for v in rec["log10_lr_against"].values())
    ev = rec["evidence"]
    assert set(ev["scores"]["local_shift_max"]) == {"value", "threshold", "unit", "forgery_side",
                                                    "flags", "meaning"}
    assert ev["scores"]["local_shift_max"]["flags"] is True
    border = next(m for m in ev["measurements"] if m["name"] == "border width")
    assert border["query"] is None and border["difference"] is None
    assert ev["measurements"][0]["difference"] == pytest.approx(0.06)
    assert ev["deformation_band"] == "suspect"
    d = ev["displacement"]
    assert d["patches"] == 30 and d["max_mm"] == pytest.approx(0.22, abs=0.01)
    assert [p["hour"] for p in d["flagged_patches"]] == ["1 o'clock"]
    assert set(rec["alignment"]) == {"rotation_deg", "scale", "shift_px", "correlation",
                                     "elastic_mm"}
    assert set(rec["quality"]["query"]) == {"border_visible", "ink_coverage", "blur", "occluded",
                                            "print_told_apart", "colour_jitter",
                                            "dot_periodicity"}


def test_every_format_is_written_whole(comparison, context, tmp_path: Path):
    paths = {s: write_report(comparison, tmp_path / f"report{s}", context)
             for s in (".html", ".png", ".pdf", ".json")}

    page = paths[".html"].read_text(encoding="utf-8")
    assert "SUSPECTED FORGERY" in page
    assert "&lt;script&gt;alert(" in page and "<script>alert" not in page
    assert "江苏宏达机械制造有限公司 &amp; Co" in page
    assert "a finely re-carved seal -1.31" in page  # the ratio against each kind of forgery
    images = page.count('src="data:image/png;base64,')
    assert images >= 3
    first = page.split('src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    assert cv2.imdecode(np.frombuffer(base64.b64decode(first), np.uint8), cv2.IMREAD_COLOR) \
        is not None
    assert "http://" not in page and "https://" not in page  # self-contained

    png = cv2.imread(str(paths[".png"]))
    assert png is not None and png.shape[1] > png.shape[0] > 1000  # A4 landscape at ~150 dpi
    assert paths[".pdf"].read_bytes().startswith(b"%PDF")
    rec = json.loads(paths[".json"].read_text(encoding="utf-8"))
    assert rec["verdict"] == "suspected_forgery"
    assert rec["context"]["seal_id"] == context.seal_id and rec["context"]["page"] == 1

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())


def test_unknown_suffix_is_refused(comparison, tmp_path: Path):
    with pytest.raises(InvalidParameterError, match=r"report\.docx"):
        write_report(comparison, tmp_path / "report.docx")
    assert list(tmp_path.iterdir()) == []


def test_sparse_evidence_still_renders(comparison, tmp_path: Path):
    # an inconclusive comparison: nothing measured locally, no scores, no context
    bare = replace(comparison, verdict="inconclusive", reasons=(),
                   evidence=replace(comparison.evidence, scores=(), measurements=(),
                                    displacements=()))
    fig = render_figure(bare)
    assert any("INCONCLUSIVE" in t.get_text() for t in fig.texts)
    path = write_report(bare, tmp_path / "bare.json")
    rec = json.loads(path.read_text(encoding="utf-8"))
    assert rec["evidence"]["displacement"] == {"max_mm": None, "median_mm": None, "patches": 0,
                                               "flag_threshold_mm": 0.2, "flagged_patches": []}
    fig.savefig(tmp_path / "bare.png", dpi=40)


def test_unknown_verdict_is_refused(comparison):
    with pytest.raises(InvalidParameterError, match="verdict"):
        comparison_record(replace(comparison, verdict="probably fine"))


def test_unwritable_place_is_an_output_error(comparison, tmp_path: Path):
    with pytest.raises(OutputError, match="cannot write the report"):
        write_report(comparison, tmp_path / "no such folder" / "report.json")


def test_overlay_png_is_the_overlay_in_a_palette(comparison):
    """The overlay sent as PNG is the drawn overlay to within a step of ink, in 256 colours;
    each ink alone likewise."""
    from io import BytesIO

    from PIL import Image

    from imprint.report import aligned_query_rgb, inks_png, master_rgb, overlay_rgb

    a, m = comparison.alignment, comparison.master
    for png, drawn in ((inks_png(m.ink, a.query_ink, a.unknown), overlay_rgb(comparison)),
                       (inks_png(m.ink, None, m.occlusion.astype(bool)), master_rgb(comparison)),
                       (inks_png(None, a.query_ink, a.unknown), aligned_query_rgb(comparison))):
        image = Image.open(BytesIO(png))
        assert image.mode == "P" and image.size == (CANONICAL_SIZE, CANONICAL_SIZE)
        got = np.asarray(image.convert("RGB"), np.float32) / 255
        err = np.abs(got - drawn)
        assert err.max() < 0.08 and err.mean() < 0.01
    with pytest.raises(InvalidParameterError):
        inks_png(None, None, a.unknown)


def test_a_unit_name_in_chinese_is_drawn_without_an_installed_cjk_font(comparison, tmp_path):
    """Where the machine has no CJK font, the report page draws the unit's name and the
    reasons with the Song face bundled with the engine, not as boxes (matplotlib warns of
    each glyph it cannot draw)."""
    assert report_module.BUNDLED_CJK_FONT.is_file()
    context = ReportContext(seal_id="3201050123456", unit_name="徐州汇丰印刷有限公司合同专用章",
                            status="active", document="合同.pdf")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_report(comparison, tmp_path / "r.png", context)
    assert (tmp_path / "r.png").stat().st_size > 0
