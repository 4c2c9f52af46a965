"""Detection on close crops: the questioned imprints of the verification bench's held-out test
set (a counter's or an investigator's crop round one seal, genuine or forged, over every
capture), each detected on its own as ``imprint verify`` and ``imprint identify`` detect
their input. Per capture and kind of seal: the seal found (IoU >= 0.5 with its true box),
found with its own shape (round, oval, square), and the other detections on the same crops.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
from tqdm import tqdm

from bench.rates import ci
from bench.verify import SETS, TEST_SEED, dataset
from imprint.boxes import iou
from imprint.io import load_page
from imprint.pipeline import detected
from imprint.synth.dataset import read_manifest

#: The shape each kind of seal is found as.
SHAPES = {"round_official": "round", "round_government": "round", "oval_invoice": "oval",
          "square_name": "square"}
PER_SET = {True: 60, False: 300}  # crops of each query set: --quick, full


def _detect_one(path: str) -> tuple[list[tuple[tuple, str]], float]:
    cv2.setNumThreads(1)
    (page,) = load_page(path)
    t0 = time.perf_counter()
    dets, _ = detected(page.image, dpi=page.dpi[0] if page.dpi else None)
    return [(d.box, d.shape) for d in dets], 1000 * (time.perf_counter() - t0)


def run(out: Path, *, quick: bool = False) -> dict:
    data = dataset(out / "verify_data", "test", TEST_SEED, 300, 300)
    rows = read_manifest(data / "manifest.jsonl")
    rows = [r for s in SETS for r in [q for q in rows if q["set"] == s][:PER_SET[quick]]]
    with ProcessPoolExecutor(2) as pool:
        got = list(tqdm(pool.map(_detect_one, [str(data / r["file"]) for r in rows],
                                 chunksize=8), total=len(rows), desc="crops", unit="crop"))
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # found, shape, other, n
    for row, (dets, _) in zip(rows, got, strict=True):
        truth = row["imprints"][0]
        best = max(dets, key=lambda d: iou(d[0], truth["box"]), default=None)
        found = best is not None and iou(best[0], truth["box"]) >= 0.5
        for tag in ("all", f"capture:{row['capture']}", f"kind:{truth['seal_kind']}"):
            c = counts[tag]
            c[0] += found
            c[1] += found and best[1] == SHAPES[truth["seal_kind"]]
            c[2] += len(dets) - int(found)
            c[3] += 1
    record = {"crops": len(rows), "seed": TEST_SEED,
              "by_condition": {k: {"found": v[0], "with_shape": v[1], "other_detections": v[2],
                                   "n": v[3]} for k, v in sorted(counts.items())},
              "ms_median": statistics.median(ms for _, ms in got)}
    _print(record)
    return record


def _print(r: dict) -> None:
    print(f"\n## crops: {r['crops']} close crops of the verification test set (seed "
          f"{r['seed']}), each detected on its own\n")
    print("| condition | found [95 % interval] | with its shape | other detections | crops |")
    print("|---|---|---|---|---|")
    for k, v in r["by_condition"].items():
        n = v["n"]
        print(f"| {k} | {ci(v['found'], n, percent=False)} ({v['found']}) | "
              f"{ci(v['with_shape'], n, percent=False)} ({v['with_shape']}) | "
              f"{v['other_detections']} | {n} |")
    print(f"\nmedian ms per crop (detection only, one core): {r['ms_median']:.1f}")
