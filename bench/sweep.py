"""Batch sweeps: throughput on 300-dpi A4 JPEG pages, and a planted archive.

(a) **Throughput.** Stamped 300-dpi A4 JPEG pages of the archive (one or two imprints each),
swept with 1 and 2 local workers; pages/s once every worker is running, and as a ratio to
decoding the same JPEGs alone on one core: the median of three runs of 120 pages each.

(b) **A planted archive** from seed :data:`BENCH_SEED` over a generated registry (filed in
2015): filings as single-page JPEG scans and three-page PDFs (the seal on the last page),
dated 2019-2025 (a ``--dates`` CSV). Among the stamped pages: genuine imprints of active seals,
genuine imprints of seals revoked or reported lost dated *before* the event (lawful, not to be
flagged), and the planted items: re-carved and photo-engraved forgeries and printed
imitations of filed seals, imprints of seals never filed, and genuine imprints of revoked or
lost seals dated *after* the event. The whole archive is swept with 2 workers; each planted
imprint counts as flagged when a flagged record's box overlaps it (IoU >= 0.3). Reported:
recall per planted kind (any flag, and tier 1: suspicious), and the precision of the flagged
list (flagged records that are planted items).

Pages are composed quickly for an archive of this size: a few generated A4 backgrounds (text,
tables, signatures), each page one of them with its tone varied, the imprints stamped onto it
(:func:`imprint.synth.stamping.stamp`, at any rotation, with the conditions of
:func:`imprint.synth.stamping.sample_conditions`) and saved as a JPEG scan. The archive and its
registry are kept under ``bench/out/sweep_data`` and reused.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import statistics
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from bench.rates import ci
from imprint import archive as rectified_archive
from imprint.boxes import iou
from imprint.errors import ImprintError
from imprint.io import iter_pages
from imprint.pipeline import single_imprint
from imprint.synth import names
from imprint.synth.dataset import write_image
from imprint.synth.design import INKS
from imprint.synth.forgery import make_forgery, print_imitation
from imprint.synth.medium import Capture, InkLayer, compose
from imprint.synth.registry import SealRecord, make_registry, random_spec
from imprint.synth.render import MM_PER_INCH, canvas_for
from imprint.synth.scene import genuine_stamping, imprint_scene, page_scene
from imprint.synth.stamping import sample_conditions, stamp
from index.identify import SealSearch, canonical_path
from index.store import RegistryStore
from service.sweep import sweep

BENCH_SEED = 20261130  # this benchmark's own archive
DPI = 300
FILED = date(2015, 1, 1)
REVOKED_ON = date(2024, 6, 30)
LOST_ON = date(2023, 9, 30)
FIRST_DAY, LAST_DAY = date(2019, 1, 1), date(2025, 12, 31)
#: Generated A4 backgrounds the pages are drawn from (each page's tone varied): enough that
#: a false detection in one background's signatures does not repeat over much of the archive.
N_BACKGROUNDS = 40
#: What is stamped on a stamped page, with its weight.
PAGE_KINDS = (("genuine", 0.62), ("genuine_before_event", 0.06), ("recarved", 0.06),
              ("photo_engraved", 0.04), ("printed", 0.04), ("unregistered", 0.08),
              ("revoked_after", 0.06), ("lost_after", 0.04))
PLANTED = ("recarved", "photo_engraved", "printed", "unregistered", "revoked_after",
           "lost_after")
SECOND_IMPRINT = 0.15  # a second party's genuine seal on the same page
PDF_SHARE = 0.3  # filings that are three-page PDFs
PDF_PAGES = 3
MATCH_IOU = 0.3
STREAM_PLAN, STREAM_BACKGROUND, STREAM_PAGE, STREAM_MASTER = 1, 2, 3, 4


# --- the archive ---------------------------------------------------------------------------


def _seals(n_seals: int, n_unregistered: int) -> tuple[list[SealRecord], list[SealRecord]]:
    rng = np.random.default_rng([BENCH_SEED, STREAM_PLAN])
    filed = make_registry(n_seals, rng)
    strangers = []
    for i in range(n_unregistered):
        spec = random_spec(rng)
        strangers.append(SealRecord(f"U{i:06d}", spec.unit_name, names.credit_code(rng), spec,
                                    "noto-serif-sc", int(rng.integers(2**31))))
    return filed, strangers


def _plan(n_pages: int, filed: list[SealRecord], strangers: list[SealRecord]) -> dict:
    """Which seal goes where, and each filing's date: drawn once, in this process."""
    rng = np.random.default_rng([BENCH_SEED, STREAM_PLAN, 1])
    order = rng.permutation(len(filed))
    n_revoked, n_lost = max(2, len(filed) // 10), max(2, len(filed) // 20)
    revoked = [filed[i].seal_id for i in order[:n_revoked]]
    lost = [filed[i].seal_id for i in order[n_revoked:n_revoked + n_lost]]
    active = [filed[i].seal_id for i in order[n_revoked + n_lost:]]
    kinds, weights = zip(*PAGE_KINDS, strict=True)
    weights = np.array(weights) / np.sum(weights)
    filings, pages = [], 0
    while pages < n_pages:
        i = len(filings)
        n = PDF_PAGES if rng.random() < PDF_SHARE and pages + PDF_PAGES <= n_pages else 1
        kind = str(rng.choice(kinds, p=weights))
        if kind in ("revoked_after", "lost_after", "genuine_before_event"):
            pool = revoked if kind == "revoked_after" else lost if kind == "lost_after" else (
                revoked + lost)
            seal = pool[int(rng.integers(len(pool)))]
            event = REVOKED_ON if seal in revoked else LOST_ON
            day = (_day(rng, event + timedelta(days=1), LAST_DAY) if kind.endswith("after")
                   else _day(rng, FIRST_DAY, event - timedelta(days=1)))
        elif kind == "unregistered":
            seal, day = strangers[int(rng.integers(len(strangers)))].seal_id, _day(rng)
        else:  # genuine or a forgery of an active seal
            seal, day = active[int(rng.integers(len(active)))], _day(rng)
        imprints = [{"kind": kind, "seal_id": seal}]
        if rng.random() < SECOND_IMPRINT:
            other = active[int(rng.integers(len(active)))]
            if other != seal:
                imprints.append({"kind": "genuine", "seal_id": other})
        filings.append({"index": i, "pages": n, "date": day.isoformat(),
                        "file": f"{day.year}/filing_{i:05d}.{'pdf' if n > 1 else 'jpg'}",
                        "imprints": imprints, "background": int(rng.integers(N_BACKGROUNDS))})
        pages += n
    return {"filings": filings, "revoked": revoked, "lost": lost, "active": active}


def _day(rng: np.random.Generator, first: date = FIRST_DAY, last: date = LAST_DAY) -> date:
    return first + timedelta(days=int(rng.integers((last - first).days + 1)))


_SEALS: dict[str, SealRecord] = {}
_DATA: Path | None = None


def _init(data: str, seals: list[SealRecord]) -> None:
    global _DATA
    _DATA = Path(data)
    _SEALS.update({s.seal_id: s for s in seals})
    cv2.setNumThreads(1)


def _background(index: int) -> None:
    rng = np.random.default_rng([BENCH_SEED, STREAM_BACKGROUND, index])
    page, _, _ = page_scene([], dpi=DPI, rng=rng, capture=Capture("scan", 0, 0.3, 0.0))
    np.save(_DATA / "backgrounds" / f"{index}.npy", page)


def _master(seal_id: str) -> None:
    rec = _SEALS[seal_id]
    rng = np.random.default_rng([BENCH_SEED, STREAM_MASTER, int(seal_id[1:])])
    st = genuine_stamping(rec.face(), rng, ink=rec.spec.ink, seal_id=seal_id, quality="clean")
    image, _ = imprint_scene(st, dpi=DPI, rng=rng, clutter=False,
                             capture=Capture("scan", 0, 0.3, 0.003))
    write_image(_DATA / "masters" / f"{seal_id}.png", image, DPI)


def _stamp_onto(page: np.ndarray, imprint: dict, rng: np.random.Generator,
                placed: list[tuple[float, float, float]]) -> dict:
    """Stamp one imprint onto ``page`` (uint8 RGB, in place) in the lower half, away from the
    imprints already there; returns its ground truth (centre, box)."""
    rec = _SEALS[imprint["seal_id"]]
    face, forgery = rec.face(), None
    if imprint["kind"] in ("recarved", "photo_engraved", "printed"):
        forgery = make_forgery(imprint["kind"], face, rng, "clear")
        face = forgery.face if forgery.face is not None else face
    conditions = sample_conditions(rng)
    h, w = page.shape[:2]
    px = DPI / MM_PER_INCH
    local = canvas_for(face.design, DPI, margin_mm=1.0)[0]
    radius = max(face.design.extent) / 2 * px
    for _ in range(50):
        cx = float(rng.uniform(radius + 15 * px, w - radius - 15 * px))
        cy = float(rng.uniform(0.5 * h, h - radius - 15 * px))
        if all(math.dist((cx, cy), p[:2]) > radius + p[2] + 5 * px for p in placed):
            break
    placed.append((cx, cy, radius))
    x0, y0 = int(round(cx - local / 2)), int(round(cy - local / 2))
    density, _ = stamp(face, conditions, dpi=DPI, shape=(local, local),
                       centre=(cx - x0, cy - y0))
    if imprint["kind"] == "printed":
        layers, _ = print_imitation(density, DPI, rng)
    else:
        layers = [InkLayer(density, INKS[rec.spec.ink])]
    region = page[y0:y0 + local, x0:x0 + local].astype(np.float32) / 255
    page[y0:y0 + local, x0:x0 + local] = np.clip(compose(region, layers) * 255 + 0.5, 0,
                                                 255).astype(np.uint8)
    ys, xs = np.nonzero(density > 0.05)
    box = ((x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1) if len(xs)
           else (cx - radius, cy - radius, cx + radius, cy + radius))
    return {**imprint, "centre": [cx, cy], "box": [float(v) for v in box]}


def _page_image(background: int, rng: np.random.Generator) -> np.ndarray:
    """One of the backgrounds, its tone varied (every page's bytes its own)."""
    base = np.load(_DATA / "backgrounds" / f"{background}.npy", mmap_mode="r")
    gain, lift = rng.uniform(0.93, 1.0), rng.uniform(0, 8)
    lut = np.clip(np.arange(256) * gain + lift, 0, 255).astype(np.uint8)
    return cv2.LUT(np.asarray(base), lut)


def _filing(filing: dict) -> dict:
    """Compose and write one filing; returns its ground truth (imprints on the last page)."""
    rng = np.random.default_rng([BENCH_SEED, STREAM_PAGE, filing["index"]])
    quality = int(rng.choice([95, 85, 75]))
    stamped = _page_image(filing["background"], rng)
    placed: list[tuple[float, float, float]] = []
    truths = [_stamp_onto(stamped, imp, rng, placed) for imp in filing["imprints"]]
    path = _DATA / "archive" / filing["file"]
    path.parent.mkdir(parents=True, exist_ok=True)
    if filing["pages"] == 1:
        write_image(path, stamped, DPI, quality)
    else:
        others = [Image.fromarray(_page_image(int(rng.integers(N_BACKGROUNDS)), rng))
                  for _ in range(filing["pages"] - 1)]
        tmp = path.with_suffix(".part")
        others[0].save(tmp, "PDF", resolution=DPI, save_all=True, quality=quality,
                       append_images=[*others[1:], Image.fromarray(stamped)])
        tmp.rename(path)
    return {**filing, "imprints": truths, "page_of_imprints": filing["pages"] - 1}


def build_archive(data: Path, n_pages: int, n_seals: int) -> dict:
    """The archive, its registry and its ground truth under ``data`` (reused when complete)."""
    done = data / "truth.json"
    if done.is_file():
        return json.loads(done.read_text())
    if data.exists():
        shutil.rmtree(data)
    for sub in ("backgrounds", "masters", "archive"):
        (data / sub).mkdir(parents=True)
    filed, strangers = _seals(n_seals, max(20, n_seals // 4))
    plan = _plan(n_pages, filed, strangers)
    with ProcessPoolExecutor(2, initializer=_init, initargs=(str(data), filed + strangers)
                             ) as pool:
        list(tqdm(pool.map(_background, range(N_BACKGROUNDS)), total=N_BACKGROUNDS,
                  desc="backgrounds"))
        list(tqdm(pool.map(_master, [s.seal_id for s in filed], chunksize=4),
                  total=len(filed), desc="masters"))
        truths = list(tqdm(pool.map(_filing, plan["filings"], chunksize=4),
                           total=len(plan["filings"]), desc="filings"))
    _file_registry(data, filed, plan)
    with open(data / "dates.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["file", "date"])
        out.writerows((t["file"], t["date"]) for t in truths)
    shutil.rmtree(data / "backgrounds")
    truth = {"seed": BENCH_SEED, "pages": sum(t["pages"] for t in truths), "seals": n_seals,
             "revoked": plan["revoked"], "lost": plan["lost"], "filings": truths}
    done.write_text(json.dumps(truth))
    return truth


def _file_registry(data: Path, filed: list[SealRecord], plan: dict) -> None:
    """File every seal in 2015 with its master, then revoke and report lost on their dates."""
    store = RegistryStore.open(data / "registry")
    search = SealSearch(store)
    units: dict[str, int] = {}
    for rec in tqdm(filed, desc="file masters"):
        if rec.credit_code not in units:
            units[rec.credit_code] = store.add_unit(rec.unit_name, rec.credit_code).id
        store.file_seal(rec.seal_id, units[rec.credit_code], rec.spec.kind,
                        number=rec.spec.number or None, filed_at=FILED)
        path = data / "masters" / f"{rec.seal_id}.png"
        master = store.add_master(rec.seal_id, path.read_bytes(), dpi=DPI)
        (page,) = iter_pages(path)
        try:
            rectified_archive.save(canonical_path(store.home, master.sha256),
                                   single_imprint(page.image, dpi=DPI, what=str(path)))
        except ImprintError as exc:  # the index leaves such a master out, and says so
            print(f"master of {rec.seal_id}: {exc}")
    for seal_id in plan["revoked"]:
        store.record_event(seal_id, "revoked", REVOKED_ON)
    for seal_id in plan["lost"]:
        store.record_event(seal_id, "reported_lost", LOST_ON)
    search.index()
    store.close()


# --- measuring ----------------------------------------------------------------------------


def _decode_rate(files: list[Path]) -> float:
    cv2.setNumThreads(1)
    t0 = time.perf_counter()
    n = sum(1 for f in files for _ in iter_pages(f))
    return n / (time.perf_counter() - t0)


def _throughput(data: Path, out: Path, n: int, repeats: int) -> dict:
    """Stamped single-page JPEG filings swept with 1 and 2 workers, ``repeats`` times each
    (alternating), and the median of the runs: one run of a few dozen pages moves by a tenth
    with what else the machine is doing."""
    files = sorted((data / "archive").rglob("*.jpg"))[:n]
    record = {"pages": len(files), "repeats": repeats,
              "decode_pages_per_s": statistics.median(_decode_rate(files)
                                                      for _ in range(repeats))}
    runs: dict[int, list[tuple[float, float, float]]] = {1: [], 2: []}
    for _ in range(repeats):
        for workers in (1, 2):
            target = out / f"sweep_throughput_{workers}"
            shutil.rmtree(target, ignore_errors=True)
            t0 = time.perf_counter()
            s = sweep([str(f) for f in files], target, workers=workers,
                      registry=data / "registry", progress=False)
            runs[workers].append((s.steady_pages_per_s or s.pages_per_s, s.pages_per_s,
                                  time.perf_counter() - t0))
            shutil.rmtree(target, ignore_errors=True)
    for workers, got in runs.items():
        steady = statistics.median(g[0] for g in got)
        record[f"workers_{workers}"] = {
            "pages_per_s": steady, "runs_pages_per_s": [round(g[0], 3) for g in got],
            "pages_per_s_with_start": statistics.median(g[1] for g in got),
            "wall_s": round(statistics.median(g[2] for g in got), 1),
            "ratio_to_decode": steady / record["decode_pages_per_s"]}
    return record


def _score(truth: dict, records: list[dict]) -> dict:
    """Recall of every planted kind in the flagged list, and the list's precision."""
    by_page = defaultdict(list)
    for r in records:
        by_page[(Path(r["file"]).name, r["page"])].append(r)
    found, planted = Counter(), Counter()
    found_t1 = Counter()
    claimed: set[int] = set()  # flagged records that are a planted item
    for f in truth["filings"]:
        recs = by_page[(Path(f["file"]).name, f["page_of_imprints"])]
        for t in f["imprints"]:
            hits = [r for r in recs if iou(r["box"], t["box"]) >= MATCH_IOU]
            flagged = [r for r in hits if r["flags"]]
            if t["kind"] in PLANTED:
                planted[t["kind"]] += 1
                found[t["kind"]] += bool(flagged)
                found_t1[t["kind"]] += any(r["tier"] == 1 for r in flagged)
                claimed.update(id(r) for r in flagged)
            else:
                planted[t["kind"]] += 1
                found[t["kind"]] += bool(flagged)  # flagged, though lawful
    flagged = [r for r in records if r["flags"]]
    tier1 = [r for r in flagged if r["tier"] == 1]
    right = sum(id(r) in claimed for r in flagged)
    right_t1 = sum(id(r) in claimed for r in tier1)
    return {
        "planted": dict(planted), "flagged": dict(found), "flagged_tier1": dict(found_t1),
        "recall": {k: found[k] / planted[k] for k in PLANTED if planted[k]},
        "recall_tier1": {k: found_t1[k] / planted[k] for k in PLANTED if planted[k]},
        "recall_all_planted": sum(found[k] for k in PLANTED) / max(1, sum(planted[k]
                                                                         for k in PLANTED)),
        "flagged_records": len(flagged), "tier1_records": len(tier1),
        "precision": right / max(1, len(flagged)),
        "precision_tier1": right_t1 / max(1, len(tier1)),
        "precision_counts": [right, len(flagged)],
        "precision_tier1_counts": [right_t1, len(tier1)],
        "flags_on_lawful": {k: found[k] / planted[k] for k in planted if k not in PLANTED},
        "records": len(records),
        "flag_counts": dict(Counter(f for r in flagged for f in r["flags"])),
    }


def run(out: Path, *, quick: bool = False) -> dict:
    from service.sweep.flags import is_suspicious

    n_pages, n_seals = (150, 40) if quick else (2000, 150)
    data = out / "sweep_data" / f"{BENCH_SEED}_{n_pages}_{n_seals}"
    t0 = time.perf_counter()
    truth = build_archive(data, n_pages, n_seals)
    build_s = time.perf_counter() - t0
    record = {"seed": BENCH_SEED, "archive_pages": truth["pages"],
              "filings": len(truth["filings"]), "seals": n_seals, "build_s": round(build_s, 1)}
    record["throughput"] = _throughput(data, out, *((12, 1) if quick else (120, 3)))

    target = out / "sweep_archive"
    shutil.rmtree(target, ignore_errors=True)
    t0 = time.perf_counter()
    s = sweep([str(data / "archive")], target, workers=2, registry=data / "registry",
              dates=data / "dates.csv", progress=True)
    record["archive_sweep"] = {"wall_s": round(time.perf_counter() - t0, 1),
                               "pages": s.pages, "imprints": s.imprints,
                               "pages_per_s": s.pages_per_s, "exit_code": s.exit_code,
                               "failures": len(s.failures), "flags": s.flags}
    records = [json.loads(line) for line in (target / "imprints.jsonl").read_text().splitlines()]
    for r in records:
        r["tier"] = 1 if is_suspicious(r["flags"]) else 2 if r["flags"] else 0
    record["planted"] = _score(truth, records)
    record["seconds_per_page_median"] = statistics.median(
        [json.loads(line)["seconds"] for line in
         (target / "journal.jsonl").read_text().splitlines()[1:]])
    _print(record)
    _plot(record, out / "sweep.png")
    return record


def _print(r: dict) -> None:
    t = r["throughput"]
    print(f"\n## sweep: throughput on {t['pages']} stamped 300-dpi A4 JPEG pages (median of "
          f"{t.get('repeats', 1)} runs)\n")
    print("| engine | pages/s (workers running) | runs | ratio to JPEG decode alone | pages/s "
          "(workers' start included) | wall s |")
    print("|---|---|---|---|---|---|")
    print(f"| JPEG decode alone, 1 core | {t['decode_pages_per_s']:.2f} | | 1 | - | - |")
    for w in (1, 2):
        x = t[f"workers_{w}"]
        runs = ", ".join(f"{v:.2f}" for v in x.get("runs_pages_per_s", []))
        print(f"| sweep, {w} worker{'s' if w > 1 else ''} | {x['pages_per_s']:.2f} | {runs} | "
              f"{x['ratio_to_decode']:.3f} | {x['pages_per_s_with_start']:.2f} | "
              f"{x['wall_s']} |")
    p, a = r["planted"], r["archive_sweep"]
    print(f"\n## sweep: planted archive (seed {r['seed']}): {r['archive_pages']} pages in "
          f"{r['filings']} filings, {r['seals']} filed seals; swept with 2 workers in "
          f"{a['wall_s']} s ({a['pages_per_s']:.2f} pages/s)\n")
    print("| planted kind | planted | in the flagged list | recall [95 % interval] | "
          "recall, tier 1 |")
    print("|---|---|---|---|---|")
    for k in PLANTED:
        if p["planted"].get(k):
            print(f"| {k} | {p['planted'][k]} | {p['flagged'][k]} | "
                  f"{ci(p['flagged'][k], p['planted'][k], percent=False)} | "
                  f"{p['recall_tier1'][k]:.3f} |")
    print(f"| all planted | {sum(p['planted'][k] for k in PLANTED if k in p['planted'])} | "
          f"{sum(p['flagged'].get(k, 0) for k in PLANTED)} | {p['recall_all_planted']:.3f} | |")
    for k, v in p["flags_on_lawful"].items():
        print(f"| (lawful) {k}: flagged anyway | {p['planted'][k]} | {p['flagged'][k]} | "
              f"{v:.3f} | |")
    pc, pt = p.get("precision_counts"), p.get("precision_tier1_counts")
    print(f"\nflagged list: {p['flagged_records']} records, precision "
          f"{ci(*pc, percent=False) if pc else format(p['precision'], '.3f')}; "
          f"tier 1 (suspicious): {p['tier1_records']} records, precision "
          f"{ci(*pt, percent=False) if pt else format(p['precision_tier1'], '.3f')}; "
          f"flags {p['flag_counts']}")


def _plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    t = r["throughput"]
    labels = ["decode alone", "sweep, 1 worker", "sweep, 2 workers"]
    values = [t["decode_pages_per_s"], t["workers_1"]["pages_per_s"],
              t["workers_2"]["pages_per_s"]]
    ax1.bar(labels, values, color=["#888", "#4a7", "#27a"])
    ax1.axhline(8, color="#b00020", ls="--", lw=1, label="target 8 pages/s")
    ax1.set_ylabel("300-dpi A4 JPEG pages/s")
    ax1.legend()
    p = r["planted"]
    kinds = [k for k in PLANTED if k in p["recall"]]
    x = np.arange(len(kinds))
    ax2.bar(x - 0.2, [p["recall"][k] for k in kinds], 0.4, label="any flag")
    ax2.bar(x + 0.2, [p["recall_tier1"][k] for k in kinds], 0.4, label="tier 1")
    ax2.set_xticks(x, kinds, rotation=30, ha="right")
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("planted items in the flagged list")
    ax2.set_title(f"precision {p['precision']:.2f} (tier 1: {p['precision_tier1']:.2f})")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
