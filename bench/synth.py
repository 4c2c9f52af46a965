"""Generator speed: imprints/s per seal kind and forgery, A4 pages/s, on one core, at 300 dpi.

Each figure is the median over repeats of a timed batch (after a warm-up that fills the glyph
caches), so a busy machine shows as spread, not as a wrong median.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from imprint.synth.forgery import make_forgery
from imprint.synth.medium import Capture
from imprint.synth.registry import SealRecord, random_spec
from imprint.synth.scene import Stamping, imprint_scene, page_scene
from imprint.synth.stamping import sample_conditions

DPI = 300


def _seal(rng, kind):
    spec = random_spec(rng, kind)
    return SealRecord("B", spec.unit_name, "", spec, "noto-serif-sc", int(rng.integers(2**31)))


def _imprint_case(kind: str, forgery: str):
    def run(rng):
        rec = _seal(rng, kind)
        face = rec.face()
        made = make_forgery(forgery, face, rng) if forgery != "none" else None
        stamped = made.face if made is not None and made.face is not None else face
        st = Stamping(stamped, sample_conditions(rng), "red", None, "B", made)
        imprint_scene(st, dpi=DPI, rng=rng, capture=Capture("scan", 90, 0.4, 0.005))
    return run


def _page_case(rng):
    sts = []
    for _ in range(int(rng.integers(1, 5))):
        rec = _seal(rng, None)
        sts.append(Stamping(rec.face(), sample_conditions(rng), "red", "B", "B"))
    page_scene(sts, dpi=DPI, rng=rng, capture=Capture("scan", 90, 0.4, 0.005))


def _time(fn, n: int, repeats: int, seed: int) -> list[float]:
    rates = []
    for r in range(repeats):
        rng = np.random.default_rng([seed, r])
        t0 = time.perf_counter()
        for _ in range(n):
            fn(rng)
        rates.append(n / (time.perf_counter() - t0))
    return rates


def run(out: Path, *, quick: bool = False) -> dict:
    cv2.setNumThreads(1)
    n, repeats = (3, 2) if quick else (10, 5)
    cases = [(f"imprint {kind}", _imprint_case(kind, "none"))
             for kind in ("round_official", "round_government", "oval_invoice", "square_name")]
    cases += [(f"imprint {f}", _imprint_case("round_official", f))
              for f in ("recarved", "photo_engraved", "printed")]
    rows = []
    for name, fn in cases:
        _time(fn, 2, 1, seed=99)  # warm-up: glyph caches, first allocations
        rates = _time(fn, n, repeats, seed=1)
        rows.append({"case": name, "unit": "imprints/s", "median": statistics.median(rates),
                     "min": min(rates), "max": max(rates), "repeats": repeats, "n": n})
    _time(_page_case, 1, 1, seed=98)
    rates = _time(_page_case, max(2, n // 3), repeats, seed=2)
    rows.append({"case": "A4 page, 1-4 imprints", "unit": "pages/s",
                 "median": statistics.median(rates), "min": min(rates), "max": max(rates),
                 "repeats": repeats, "n": max(2, n // 3)})

    print(f"\n## synth: generator speed at {DPI} dpi, one core (median of {repeats} runs)\n")
    print(f"| {'case':32s} | {'median':>8s} | {'min':>7s} | {'max':>7s} | unit |")
    print(f"|{'-' * 34}|{'-' * 10}|{'-' * 9}|{'-' * 9}|------|")
    for r in rows:
        print(f"| {r['case']:32s} | {r['median']:8.2f} | {r['min']:7.2f} | {r['max']:7.2f} | "
              f"{r['unit']} |")
    _plot(rows, out / "synth.png")
    print(f"\nplot: {out / 'synth.png'}")
    return {"dpi": DPI, "threads": 1, "rows": rows}


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    names = [r["case"] for r in rows]
    med = [r["median"] for r in rows]
    err = [[r["median"] - r["min"] for r in rows], [r["max"] - r["median"] for r in rows]]
    ax.barh(names, med, xerr=err, color="#c0392b", alpha=0.8)
    ax.set_xlabel("items per second (imprints or pages), one core, 300 dpi")
    ax.invert_yaxis()
    ax.set_title("Generator speed (median, min-max bars)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
