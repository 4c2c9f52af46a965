"""1:N identification on generated held-out registries, each embedder side by side.

Two datasets, each from a seed kept for this benchmark: a calibration registry with genuine
and unregistered probes, on which the open-set threshold is set at 1 % of unregistered probes
matched (FPIR); and the test registry (look-alike names and numbered siblings among its seals)
with genuine probes of every condition, look-alike and sibling probes, and unregistered
probes, on which everything is reported at that threshold. Probes go through the whole
engine (detection, rectification, embedding, FAISS shortlist, aligned re-ranking); a probe
whose imprint is not found counts as a miss. Masters and probes are rectified once and kept
under ``bench/out/identify_data``; the registries are real stores with their FAISS index.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.rates import ci
from imprint import archive
from imprint.errors import ImprintError
from imprint.io import load_page
from imprint.pipeline import rectified_imprints
from imprint.synth.dataset import DatasetConfig, build_dataset, read_manifest, reusable
from index.identify import SealSearch, canonical_path
from index.store import RegistryStore
from models.embedder import EMBEDDERS, get_embedder

TEST_SEED = 20261124  # held out: never used while developing or training
CALIBRATION_SEED = 20261125  # sets the open-set threshold, never reported on
TARGET_FPIR = 0.01
REGISTERED_SETS = ("genuine", "genuine_poor", "lookalike", "sibling")
GENUINE_SETS = ("genuine", "genuine_poor")


def _dataset(path: Path, seed: int, n_seals: int, n_queries: int, sets: tuple[str, ...]) -> None:
    if reusable(path):
        return
    build_dataset(path, DatasetConfig(seed=seed, n_seals=n_seals, n_queries=n_queries,
                                      n_pages=0, n_unregistered=max(50, n_queries),
                                      query_sets=sets), workers=2)


def _rectify_one(args: tuple[str, str, list[float] | None]) -> dict:
    """Rectify the imprint of one image: for a probe, the one nearest its true centre."""
    src, dst, centre = args
    out = Path(dst)
    if out.is_file():
        return {"found": True}
    (page,) = load_page(src)
    imps = rectified_imprints(page.image, dpi=page.dpi[0] if page.dpi else None)
    if centre is not None:
        imps = sorted(imps, key=lambda r: np.hypot(r.geometry.centre[0] - centre[0],
                                                   r.geometry.centre[1] - centre[1]))
    else:  # a master: the outermost imprint
        imps = sorted(imps, key=lambda r: -max(r.geometry.axes))
    if not imps:
        return {"found": False}
    archive.save(out, imps[0])
    return {"found": True}


#: The modules of ``imprint`` from page to rectified imprint.
IMAGING_MODULES = ("io", "ink", "segment", "sides", "sheet", "rectify", "pipeline", "boxes")


def code_digest(modules: tuple[str, ...]) -> str:
    """Digest of the source of these ``imprint`` modules: a benchmark cache made by other code
    is not reused."""
    import hashlib

    import imprint
    h = hashlib.sha256()
    for name in modules:
        h.update((Path(imprint.__file__).parent / f"{name}.py").read_bytes())
    return h.hexdigest()[:16]


def _rectify_all(data: Path) -> list[dict]:
    """Manifest rows with ``canonical`` (path of the rectified imprint, or None if missed)."""
    rows = read_manifest(data / "manifest.jsonl")
    jobs = []
    for i, row in enumerate(rows):
        truth = row["imprints"][0]
        row["canonical"] = str(data / "canonical" / f"{i:06d}.npz")
        jobs.append((str(data / row["file"]), row["canonical"],
                     None if row["set"] == "master" else truth["centre"]))
    # imprints rectified by older imaging code are not reused
    version, stamp = code_digest(IMAGING_MODULES), data / "canonical" / ".imaging"
    current = stamp.read_text() if stamp.is_file() else None
    if current != version and (data / "canonical").is_dir():
        shutil.rmtree(data / "canonical")
    (data / "canonical").mkdir(exist_ok=True)
    stamp.write_text(version)
    with ProcessPoolExecutor(2) as pool:
        results = list(tqdm(pool.map(_rectify_one, jobs, chunksize=8), total=len(jobs),
                            desc=f"rectify {data.name}", unit="img"))
    for row, res in zip(rows, results, strict=True):
        if not res["found"]:
            row["canonical"] = None
    return rows


def _registry(data: Path, rows: list[dict], home: Path) -> RegistryStore:
    """A real store holding the dataset's seals and masters, with their canonical imprints
    placed where the engine keeps them; built again when the imaging code has changed since."""
    done, version = home / ".complete", code_digest(IMAGING_MODULES)
    store = RegistryStore.open(home)
    if done.is_file() and done.read_text() == version:
        return store
    store.close()
    shutil.rmtree(home)
    store = RegistryStore.open(home)
    records = {r["seal_id"]: r for r in read_manifest(data / "registry.jsonl")}
    units: dict[str, int] = {}
    for row in tqdm([r for r in rows if r["set"] == "master"], desc="file masters",
                    unit="seal"):
        rec = records[row["imprints"][0]["seal_id"]]
        if rec["credit_code"] not in units:
            units[rec["credit_code"]] = store.add_unit(rec["unit_name"], rec["credit_code"]).id
        store.file_seal(rec["seal_id"], units[rec["credit_code"]], rec["spec"]["kind"],
                        number=rec["spec"]["number"] or None)
        master = store.add_master(rec["seal_id"], (data / row["file"]).read_bytes(),
                                  dpi=row["dpi"])
        if row["canonical"]:
            dst = canonical_path(store.home, master.sha256)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(row["canonical"], dst)
    done.write_text(version)
    return store


def _probe_scores(search: SealSearch, rows: list[dict], sets: tuple[str, ...]) -> list[dict]:
    out = []
    probes = [r for r in rows if r["set"] in sets]
    for row in tqdm(probes, desc=f"identify ({search.embedder.model_id})", unit="probe"):
        truth = row["imprints"][0]
        res = {"set": row["set"], "capture": row["capture"], "truth": truth["seal_id"],
               "found": row["canonical"] is not None, "top": None, "score": -np.inf,
               "in_shortlist": False, "ms": None}
        if res["found"]:
            imp = archive.load(Path(row["canonical"]))
            t0 = time.perf_counter()
            (ident,) = search.identify([imp], top_k=5)
            res["ms"] = 1000 * (time.perf_counter() - t0)
            if ident.candidates:
                res["top"] = ident.candidates[0].seal_id
                res["score"] = ident.score
                res["in_shortlist"] = any(c.seal_id == truth["seal_id"]
                                          for c in ident.candidates)
        out.append(res)
    return out


def _threshold(results: list[dict], fpir: float) -> float:
    """The lowest score threshold at which at most ``fpir`` of unregistered probes match."""
    imp = np.sort([r["score"] for r in results if r["set"] == "unregistered"])
    if not len(imp):
        return float("inf")
    k = int(np.floor(fpir * len(imp)))  # this many may lie at or above the threshold
    return float(np.nextafter(imp[len(imp) - k - 1], np.inf)) if k < len(imp) else -np.inf


def _figures(results: list[dict], threshold: float) -> dict:
    top1, shortlist = defaultdict(list), defaultdict(list)
    for r in results:
        if r["set"] in REGISTERED_SETS:
            ok = r["top"] == r["truth"]
            for tag in (r["set"], f"capture:{r['capture']}", "registered"):
                top1[tag].append(ok)
                shortlist[tag].append(r["in_shortlist"])
    fnir, fpir = _rates(results, threshold)
    errors = _errors(results, threshold)
    ms = [r["ms"] for r in results if r["ms"] is not None]
    # the error that misleads: a registered probe matched, above the threshold, to another
    # filed seal (a sibling, a look-alike), where "no registered seal" would send a person on
    registered = [r for r in results if r["set"] in REGISTERED_SETS]
    return {"top1": {k: float(np.mean(v)) for k, v in top1.items()},
            "top1_counts": {k: [int(np.sum(v)), len(v)] for k, v in top1.items()},
            "matched_to_another": [sum(r["score"] >= threshold and r["top"] != r["truth"]
                                       for r in registered), len(registered)],
            "in_top5": {k: float(np.mean(v)) for k, v in shortlist.items()},
            "found": float(np.mean([r["found"] for r in results])),
            "threshold": threshold, "fnir": fnir, "fpir": fpir,
            "fnir_counts": errors[0], "fpir_counts": errors[1],
            "ms_per_probe": statistics.median(ms) if ms else None}


def _rates(results: list[dict], threshold: float) -> tuple[float, float]:
    """(FNIR over genuine probes, FPIR over unregistered probes) at ``threshold``."""
    (fn, n_gen), (fp, n_unreg) = _errors(results, threshold)
    return fn / max(n_gen, 1), fp / n_unreg if n_unreg else float("nan")


def _errors(results: list[dict], threshold: float) -> tuple[list[int], list[int]]:
    """([misses, genuine probes], [false matches, unregistered probes]) at ``threshold``."""
    gen = [r for r in results if r["set"] in GENUINE_SETS]
    unreg = [r for r in results if r["set"] == "unregistered"]
    # a genuine probe is a hit only when its own seal is the match
    fn = sum(not (r["score"] >= threshold and r["top"] == r["truth"]) for r in gen)
    fp = sum(r["score"] >= threshold for r in unreg)
    return [int(fn), len(gen)], [int(fp), len(unreg)]


def _det(results: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(FPIR, FNIR) at every score the probes reached."""
    ts = np.unique([r["score"] for r in results if r["set"] in (*GENUINE_SETS, "unregistered")])
    rates = np.array([_rates(results, t) for t in ts[np.isfinite(ts)]]).reshape(-1, 2)
    return rates[:, 1], rates[:, 0]


def _throughput(search: SealSearch, rows: list[dict], n: int = 200) -> float:
    imps = [archive.load(Path(r["canonical"])) for r in rows if r["canonical"]][:n]
    search.embedder.embed(imps[:8])  # warm up
    t0 = time.perf_counter()
    search.embedder.embed(imps)
    return len(imps) / (time.perf_counter() - t0)


def run(out: Path, *, quick: bool = False, seals: int | None = None,
        queries: int | None = None) -> dict:
    n_seals = seals or (300 if quick else 10_000)
    n_queries = queries or (60 if quick else 500)
    root = out / "identify_data"
    test = root / f"test_{TEST_SEED}_{n_seals}_{n_queries}"
    calib = root / f"calibration_{CALIBRATION_SEED}"
    _dataset(calib, CALIBRATION_SEED, 500, 200, ("genuine", "genuine_poor", "unregistered"))
    _dataset(test, TEST_SEED, n_seals, n_queries, (*REGISTERED_SETS, "unregistered"))
    calib_rows, test_rows = _rectify_all(calib), _rectify_all(test)
    calib_store = _registry(calib, calib_rows, calib / "registry")
    test_store = _registry(test, test_rows, test / "registry")
    record = {"seals": n_seals, "probes_per_set": n_queries, "embedders": {}}
    curves = {}
    for name in EMBEDDERS:
        try:
            embedder = get_embedder(name)
        except (ImprintError, ImportError) as exc:  # a model not built yet is reported
            record["embedders"][name] = {"error": str(exc)}
            continue
        # every candidate confirmable is compared: the score is the best agreement of them
        cal = SealSearch(calib_store, embedder, threshold=np.inf)
        cal.index()
        threshold = _threshold(_probe_scores(cal, calib_rows, ("genuine", "genuine_poor",
                                                                "unregistered")), TARGET_FPIR)
        search = SealSearch(test_store, embedder, threshold=threshold)
        t0 = time.perf_counter()
        search.rebuild()
        build_s = time.perf_counter() - t0
        results = _probe_scores(search, test_rows, (*REGISTERED_SETS, "unregistered"))
        figs = _figures(results, threshold)
        figs.update({"model_id": embedder.model_id, "dimension": embedder.dimension,
                     "index_build_s": build_s,
                     "embed_per_s": _throughput(search, test_rows)})
        record["embedders"][name] = figs
        curves[name] = _det(results)
    _print(record)
    _plot(curves, out / "identify_det.png", record)
    return record


def _print(r: dict) -> None:
    print(f"\n## identify: registry of {r['seals']} seals, {r['probes_per_set']} probes per "
          f"set; open-set threshold at FPIR {TARGET_FPIR:.0%} on the calibration registry; "
          "rates with their 95 % intervals\n")
    names = [n for n, f in r["embedders"].items() if "error" not in f]
    print("| figure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    keys = sorted({k for n in names for k in r["embedders"][n]["top1"]})
    for k in keys:
        cells = []
        for n in names:
            m, t = r["embedders"][n]["top1_counts"].get(k, [0, 0])
            cells.append(f"{ci(m, t, percent=False)} ({m}/{t})" if t else "-")
        print(f"| top-1 {k} | " + " | ".join(cells) + " |")
    for label, key in (("registered probes matched to another filed seal",
                        "matched_to_another"), ("FNIR (genuine)", "fnir_counts"),
                       ("FPIR (unregistered)", "fpir_counts")):
        cells = []
        for n in names:
            f = r["embedders"][n]
            m, t = f.get(key) or (0, 0)
            rate = f.get(key.removesuffix("_counts"))  # a record without the counts
            cells.append(f"{ci(m, t, percent=False)} ({m}/{t})" if t
                         else "-" if rate is None else f"{rate:.4g}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    for label, key in (("threshold", "threshold"), ("imprint found", "found"),
                       ("ms per probe (median)", "ms_per_probe"),
                       ("embeddings per s", "embed_per_s"), ("index build s", "index_build_s")):
        print(f"| {label} | " + " | ".join(
            f"{r['embedders'][n][key]:.4g}" if r["embedders"][n][key] is not None else "-"
            for n in names) + " |")
    for n, f in r["embedders"].items():
        if "error" in f:
            print(f"\n{n}: not measured ({f['error']})")


def _plot(curves: dict, path: Path, record: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    for name, (fpir, fnir) in curves.items():
        ax.plot(np.maximum(fpir, 1e-4), np.maximum(fnir, 1e-4), label=name)
    ax.axvline(TARGET_FPIR, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("FPIR (unregistered probes matched)")
    ax.set_ylabel("FNIR (genuine probes not matched to their seal)")
    ax.set_title(f"Open-set identification, {record['seals']} filed seals")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
