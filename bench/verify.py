"""1:1 forensic verification on generated held-out sets: genuine imprints (typical and poor)
against forgeries of each kind, and zero-effort impostors (other filed seals).

Three kinds of data, each from its own seeds and seals: training sets (:data:`TRAIN_SEEDS`)
on which the evidence fusion is fitted; a calibration set (:data:`CALIBRATION_SEED`) on
which it is mapped to log10 likelihood ratios and every threshold is set (the thresholds
that say how many genuine imprints are refused on :data:`CALIBRATION_GENUINE` genuine
imprints of that seed, of which the calibration set's are the first); and the test set
(:data:`TEST_SEED`) on which everything is reported. ``--fit`` refits and calibrates the
model (``models/weights/verifier.json``); without it the committed model is evaluated.

Queries go through detection and rectification like any document; one whose imprint is not
found is counted apart (it never reaches verification). Per set: the verdicts at the
calibrated thresholds, and APCER at BPCER 1 % read off the test DET curve; impostors: FNMR at
the FMR the impostor count supports. Writes ``verify_det.png``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from bench.identify import IMAGING_MODULES, _rectify_all, code_digest
from bench.rates import ci, interval, wilson
from imprint import archive
from imprint.align import align
from imprint.compare import compare
from imprint.evidence import measure
from imprint.synth.dataset import DatasetConfig, build_dataset, read_manifest, reusable
from imprint.verdict import (
    COMPARED_MIN,
    FORGERY_KINDS,
    FUSION_FEATURES,
    MARGINAL,
    QUALITY_GATE,
    SUBSCORES,
    VerifierModel,
    decide,
    derived,
    fit_logistic,
    platt,
    quality_reasons,
)

TEST_SEED = 20261126  # held out: never used while developing or fitting
CALIBRATION_SEED = 20261127  # thresholds and the LR mapping only
TRAIN_SEEDS = ((558, 100, 100), (559, 150, 150))  # (seed, seals, queries per set)
GENUINE_SETS = ("genuine", "genuine_poor")
FORGERY_SETS = FORGERY_KINDS
SETS = GENUINE_SETS + FORGERY_SETS
TARGET_BPCER = 0.01
#: Genuine imprints a sweep's review threshold sends to a person (its ``weak_evidence`` flag):
#: a registry sweeping its archive would rather look at more imprints than miss an imitation.
REVIEW_BPCER = 0.05
DIFFERENT_SEAL_BPCER = 0.005  # genuine imprints a substituted character may refuse
#: Genuine imprints of the calibration seed on which the forgery threshold and the sub-scores'
#: are set: the 1 % quantile of the 176 of the calibration set that reach the fusion is its
#: second lowest, which a bootstrap puts anywhere from -0.73 to -0.39 (log10 LR; 90 %), the
#: spread of a genuine imprint's own LR across captures; of 1,000, the tenth lowest.
CALIBRATION_GENUINE = 1000
TARGET_APCER = {"recarved_clear": 0.005, "recarved_subtle": 0.05, "printed": 0.02,
                "photo_engraved": 0.10}


def dataset(out: Path, name: str, seed: int, n_seals: int, n_queries: int,
            query_sets: tuple[str, ...] = SETS) -> Path:
    """The directory of one generated set (the query sets ``query_sets``, by default every
    one of :data:`SETS`), built there when missing."""
    path = out / f"{name}_{seed}_{n_seals}x{n_queries}"
    if not reusable(path):
        build_dataset(path, DatasetConfig(seed=seed, n_seals=n_seals, n_queries=n_queries,
                                          n_pages=0, n_unregistered=0, query_sets=query_sets),
                      workers=2)
    return path


def _data(out: Path, name: str, seed: int, n_seals: int, n_queries: int) -> tuple[Path, list]:
    path = dataset(out, name, seed, n_seals, n_queries)
    return path, _rectify_all(path)


def _genuine_pairs(out: Path, seed: int, n_seals: int, n_queries: int) -> list[dict]:
    """Features of ``n_queries`` genuine imprints of seed ``seed``'s registry against their
    masters (the same registry and, for as many as it has, the same imprints as a full set
    of that seed and size: each item has its own random stream)."""
    path = dataset(out, "genuine", seed, n_seals, n_queries, query_sets=("genuine",))
    return _pairs(path, _rectify_all(path), 0, seed)


def _measure_pair(args: tuple[str, str]) -> dict:
    q, m = archive.load(Path(args[0])), archive.load(Path(args[1]))
    t0 = time.perf_counter()
    f = measure(q, m, align(q, m))
    out = dict(f.features)
    out["ms"] = 1000 * (time.perf_counter() - t0)
    return out


def _compute(path: Path, name: str, key: dict, meta: list[dict], jobs: list) -> list[dict]:
    """``meta`` rows with the features of their ``jobs`` (None: no pair), cached by key and
    by the version of the evidence code."""
    key = {**key, "evidence": code_digest((*IMAGING_MODULES, "align", "evidence"))}
    cache = path / f"{name}.json"
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("key") == key:
            return cached["pairs"]
    todo = [j for j in jobs if j is not None]
    with ProcessPoolExecutor(2) as pool:
        got = iter(tqdm(pool.map(_measure_pair, todo, chunksize=4), total=len(todo),
                        desc=f"{name} {path.name}", unit="pair"))
        pairs = [dict(m, features=next(got) if j is not None else None)
                 for m, j in zip(meta, jobs, strict=True)]
    cache.write_text(json.dumps({"key": key, "pairs": pairs}))
    return pairs


def _pairs(path: Path, rows: list, n_impostors: int, seed: int,
           per_set: int | None = None) -> list[dict]:
    """Features of every query (the first ``per_set`` of each set) against the master of the
    seal it claims, and of ``n_impostors`` genuine queries against another seal's master
    (zero-effort impostors); cached."""
    masters = {r["imprints"][0]["seal_id"]: r["canonical"] for r in rows if r["set"] == "master"}
    queries = [r for r in rows if r["set"] in SETS]
    if per_set is not None:
        queries = [r for s in SETS for r in [q for q in queries if q["set"] == s][:per_set]]
    meta, jobs = [], []
    for r in queries:
        claimed = masters.get(r["imprints"][0]["claimed_seal_id"])
        meta.append({"set": r["set"], "capture": r["capture"], "found": bool(r["canonical"]),
                     "file": r["file"]})
        jobs.append((r["canonical"], claimed) if r["canonical"] and claimed else None)
    pairs = _compute(path, "pairs", {"per_set": per_set}, meta, jobs)
    rng = np.random.default_rng(seed)
    # drawn over every genuine query, found or not, so that the pairs drawn do not change
    # with what the imaging code finds; the pairs of queries not found are not measured
    genuine = [r for r in queries if r["set"] == "genuine"]
    ids = sorted(k for k, v in masters.items() if v)
    meta, jobs = [], []
    for i in range(n_impostors):
        r = genuine[i % len(genuine)]
        other = r["imprints"][0]["seal_id"]
        while other == r["imprints"][0]["seal_id"]:
            other = ids[int(rng.integers(len(ids)))]
        if not r["canonical"]:
            continue
        meta.append({"set": "impostor", "capture": r["capture"], "found": True,
                     "file": r["file"], "master": other})
        jobs.append((r["canonical"], masters[other]))
    pairs += _compute(path, "impostors", {"n": n_impostors, "per_set": per_set,
                                          "drawn_over": "all genuine queries"}, meta, jobs)
    return pairs + _lookalike_pairs(path, genuine, masters)


def _lookalike_pairs(path: Path, genuine: list, masters: dict) -> list[dict]:
    """Every genuine query of a seal that has a look-alike (a name one or two characters
    apart) or a numbered sibling in the registry, against that seal's master: the impostor
    a correlation cannot tell."""
    partners: dict[str, set[str]] = defaultdict(set)
    for rec in read_manifest(path / "registry.jsonl"):
        for other in (rec.get("lookalike_of"), rec.get("sibling_of")):
            if other:
                partners[rec["seal_id"]].add(other)
                partners[other].add(rec["seal_id"])
    meta, jobs = [], []
    for r in genuine:
        for other in sorted(partners.get(r["imprints"][0]["seal_id"], ())):
            if r["canonical"] and masters.get(other):
                meta.append({"set": "lookalike", "capture": r["capture"], "found": True,
                             "file": r["file"], "master": other})
                jobs.append((r["canonical"], masters[other]))
    return _compute(path, "lookalikes", {"n": len(jobs)}, meta, jobs)


def _gated(p: dict) -> bool:
    """Measured, and the questioned imprint good enough to decide on."""
    return p["features"] is not None and not quality_reasons(derived(p["features"]),
                                                             QUALITY_GATE)


def _usable(p: dict) -> bool:
    """Gated, and enough of the seal compared for a genuine-or-forged call."""
    return _gated(p) and p["features"]["known"] >= COMPARED_MIN


def fit(train: list[dict], calibration: list[dict],
        calibration_genuine: list[dict] | None = None) -> VerifierModel:
    """Fusion on the training pairs, one per forgery kind; LR mapping and thresholds on the
    calibration pairs, the forgery threshold and the sub-scores' on ``calibration_genuine``
    (genuine pairs of the calibration seed; default: the calibration set's). Genuine
    imprints of typical quality against forgeries: poor imprints are the gates' business, and
    teaching the fusion that starved ink means genuine would let starved forgeries through.
    Other seals are the correlation's and the substituted character's business, decided
    before the fusion is asked."""
    use = [p for p in train if _usable(p) and p["set"] in ("genuine", *FORGERY_SETS)]
    x = np.array([[derived(p["features"]).get(k, np.nan) for k in FUSION_FEATURES]
                  for p in use], float)
    genuine = np.array([p["set"] == "genuine" for p in use])
    # centred on genuine imprints (a feature not measured counts as typical of them), scaled
    # by the spread over the whole mix
    median = np.nanmedian(x[genuine], axis=0)
    scale = np.nanstd(x, axis=0) + 1e-6
    model = VerifierModel(list(FUSION_FEATURES), median.tolist(), scale.tolist())
    z = np.array([model.vector(p["features"]) for p in use])
    per_kind = {}
    for kind in FORGERY_KINDS:
        rows = genuine | np.array([p["set"] == kind for p in use])
        w, b = fit_logistic(z[rows], genuine[rows].astype(float), l2=1e-2)
        model.kinds[kind] = {"weights": w.tolist(), "bias": b, "platt": [1.0, 0.0]}
        per_kind[kind] = int(rows.sum())
    cal = [p for p in calibration if _usable(p)]
    # every impostor the gate lets through is decided on its correlation, whatever the area
    imp = [derived(p["features"]) for p in calibration if p["set"] == "impostor" and _gated(p)]
    gen = [derived(p["features"]) for p in cal if p["set"] == "genuine"]
    # another character: above what all but 0.5 % of the calibration genuine imprints
    # (typical and poor, gated) show among those that correlate above every impostor (one
    # that does not is not laid on the master well enough for its windows to mean anything),
    # and whose black print was told from the seal's ink (where it was not, a fax, lines of
    # text add strokes to every window they cross: the rule would be set by the text)
    corr_all = float(max(f["correlation"] for f in imp)) + 0.01
    sub = [f["substituted_ink"] for f in (derived(p["features"]) for p in calibration
                                          if p["set"] in GENUINE_SETS and _gated(p))
           if f["correlation"] >= corr_all and f.get("print_told_apart", 1.0)]
    sub_t = float(np.quantile(sub, 1 - DIFFERENT_SEAL_BPCER))
    # different seal by correlation: above every calibration impostor that the substituted
    # character does not already refuse (FMR <= 1/N there)
    corr_t = float(max(f["correlation"] for f in imp if f["substituted_ink"] < sub_t)) + 0.01
    # starved ink correlates below it too, but its strokes lie on the master's: fewer of the
    # questioned strokes off the master's than every calibration impostor refused on its
    # correlation shows is too little ink to call another seal
    sparse_t = float(min(f["extra_ink"] for f in imp if f["correlation"] < corr_t))
    # faxes: print reads as strokes, so a genuine fax can fall below both rules; above every
    # calibration fax of another seal it is undecided, not another seal
    fax = [f["correlation"] for f in imp if not f.get("print_told_apart", 1.0)]
    model.thresholds = {"different_seal_correlation": corr_t,
                        "different_seal_substitution": sub_t, "sparse_extra_ink": sparse_t,
                        "fax_other_seal_correlation": float(max(fax)) + 0.01 if fax else 1.0}

    def compared(f: dict) -> bool:  # not refused as another seal
        return f["correlation"] >= corr_t and f["substituted_ink"] < sub_t

    same = [p for p in cal if p["set"] in ("genuine", *FORGERY_SETS) and
            compared(derived(p["features"]))]
    scores = [model.kind_scores(p["features"]) for p in same]
    for kind in FORGERY_KINDS:
        rows = [k for k, p in enumerate(same) if p["set"] in ("genuine", kind)]
        s = np.array([scores[k][kind] for k in rows])
        ys = np.array([same[k]["set"] == "genuine" for k in rows], float)
        model.kinds[kind]["platt"] = list(platt(s, ys))
    # the forgery threshold, like the substituted character's, from imprints whose print was
    # told from their ink: where it was not, a fax, would-be forgeries are inconclusive
    # (MARGINAL) whatever the threshold, and their print would set it for every capture
    if calibration_genuine is not None:
        gen = [derived(p["features"]) for p in calibration_genuine
               if p["set"] == "genuine" and _usable(p)]
    llr_gen = np.sort([model.log10_lr(f) for f in gen
                       if compared(f) and f.get("print_told_apart", 1.0)])
    model.thresholds["forgery_log10_lr"] = float(np.quantile(llr_gen, TARGET_BPCER))
    model.thresholds["review_log10_lr"] = float(np.quantile(llr_gen, REVIEW_BPCER))
    for name, (side, _, _) in SUBSCORES.items():
        v = np.array([f.get(name, np.nan) for f in gen], float)
        v = v[~np.isnan(v)]
        model.subscore_thresholds[name] = float(np.quantile(v, 0.99 if side == "above"
                                                            else 0.01))
    # a substituted character is shown against the rule that decides on it
    model.subscore_thresholds["substituted_ink"] = sub_t
    model.provenance = {
        "fusion_fitted_on": {"seeds": [s[0] for s in TRAIN_SEEDS], "pairs": len(use),
                             "per_kind": per_kind},
        "calibrated_on": {"seed": CALIBRATION_SEED, "genuine": len(gen), "impostors": len(imp),
                          "pairs": len(same)},
        "operating_points": {
            "different_seal_correlation": f"above all {len(imp)} calibration impostor "
                                          "comparisons that no substituted character refuses "
                                          "(FMR <= 1/N there)",
            "fax_other_seal_correlation": f"above all {len(fax)} calibration impostor "
                                          "comparisons whose print was not told from their "
                                          "ink (faxes): a fax refused by either rule but "
                                          "correlating above it is inconclusive",
            "sparse_extra_ink": "below every calibration impostor refused on its "
                                "correlation: less ink off the master's strokes is too little "
                                "ink to decide (inconclusive), not another seal",
            "different_seal_substitution": f"{DIFFERENT_SEAL_BPCER:.1%} of {len(sub)} "
                                           "calibration genuine imprints (typical and poor) "
                                           "that correlate above every impostor and whose "
                                           "print was told from their ink, above it",
            "forgery_log10_lr": f"{TARGET_BPCER:.0%} of {len(llr_gen)} calibration genuine "
                                "imprints (typical quality, print told from their ink) below "
                                "it",
            "review_log10_lr": f"{REVIEW_BPCER:.0%} of the same calibration genuine imprints "
                               "below it: a sweep flags a genuine verdict below it for review "
                               "(weak_evidence)",
            "subscores": "each at the value 1 % of calibration genuine imprints pass; "
                         "substituted_ink at its different-seal threshold",
        },
        "quality_gate": QUALITY_GATE, "compared_min": COMPARED_MIN, "marginal": MARGINAL,
    }
    return model


def _apcer_at_bpcer(gen: np.ndarray, forg: np.ndarray, bpcer: float) -> tuple[float, float]:
    """The earlier reading, every refusal counted as flagged: (APCER, the BPCER it is read
    at) on log10 LRs where a pair judged neither genuine nor a suspected forgery sits at
    -inf; where more genuine imprints than ``bpcer`` sit there, at that floor, every genuine
    imprint with a finite LR accepted."""
    finite = gen[np.isfinite(gen)]
    if not forg.size or not finite.size:
        return float("nan"), float("nan")
    t = max(float(np.sort(gen)[int(np.floor(bpcer * gen.size))]), float(finite.min()))
    return float((forg >= t).mean()), float((gen < t).mean())


def _det(gen: list[dict], forg: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, BPCER, APCER) over every forgery threshold (log10 LR) where either
    changes. BPCER: the share of ``gen`` flagged, judged another seal or reaching the fusion
    below the threshold where the imprint is good enough to be flagged (a marginal one is
    inconclusive there, see :data:`MARGINAL`); APCER: the share of ``forg`` judged genuine,
    reaching the fusion at or above it. An imprint judged inconclusive (too poor, too little
    compared, a marginal one below the threshold) is neither: the inconclusive rates are
    reported beside them."""
    def arrays(rs: list[dict]) -> tuple[np.ndarray, ...]:
        return (np.array([r["llr"] for r in rs], float),
                np.array([r["passable"] for r in rs], bool),
                np.array([r["flaggable"] for r in rs], bool),
                np.array([r["verdict"] == "different_seal" for r in rs], bool))
    g_llr, _, g_flag, g_other = arrays(gen)
    f_llr, f_pass, _, _ = arrays(forg)
    ts = np.unique(np.concatenate([g_llr[g_flag], f_llr[f_pass], [np.inf]]))
    ts = ts[np.isfinite(ts) | (ts == np.inf)]
    b = (g_other[None, :] | (g_flag[None, :] & (g_llr[None, :] < ts[:, None]))).mean(1)
    a = (f_pass[None, :] & (f_llr[None, :] >= ts[:, None])).mean(1)
    return ts, b, a


def apcer_at_bpcer(gen: list[dict], forg: list[dict], bpcer: float) -> tuple[float, float]:
    """(APCER, BPCER) at the highest forgery threshold flagging at most ``bpcer`` of the
    genuine imprints ``gen`` (each with ``verdict``, ``llr``, ``passable``, ``flaggable``,
    see :func:`_verdicts`); nan where either set is empty."""
    if not gen or not forg:
        return float("nan"), float("nan")
    _, b, a = _det(gen, forg)
    ok = np.flatnonzero(b <= bpcer + 1e-12)
    if not ok.size:  # more genuine imprints than that are judged another seal
        return float(a[0]), float(b[0])
    return float(a[ok[-1]]), float(b[ok[-1]])


def _verdicts(pairs: list[dict], model: VerifierModel) -> list[dict]:
    """Each pair's verdict at the calibrated thresholds, its log10 LR where it reaches the
    fusion, and what any forgery threshold could make of it: ``passable`` (judged genuine
    at a low enough one) and ``flaggable`` (a suspected forgery at a high enough one)."""
    lowest = replace(model, thresholds={**model.thresholds, "forgery_log10_lr": -np.inf})
    highest = replace(model, thresholds={**model.thresholds, "forgery_log10_lr": np.inf})
    out = []
    for p in pairs:
        if p["features"] is None:
            out.append({**p, "verdict": "not_found", "llr": -np.inf, "passable": False,
                        "flaggable": False})
            continue
        d = decide(p["features"], model, [])
        passable = decide(p["features"], lowest, []).verdict == "genuine"
        flaggable = decide(p["features"], highest, []).verdict == "suspected_forgery"
        llr = model.log10_lr(derived(p["features"])) if passable else -np.inf
        # the earlier reading: a pair judged neither way sits at -inf
        old = llr if d.verdict in ("genuine", "suspected_forgery") else -np.inf
        out.append({**p, "verdict": d.verdict, "llr": llr, "llr_refusals_flagged": old,
                    "passable": passable, "flaggable": flaggable})
    return out


def _det_plot(results: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 6))
    ax = fig.add_subplot()
    gen = [r for r in results if r["set"] == "genuine" and r["usable"]]
    for kind in (*FORGERY_SETS, "impostor"):
        forg = [r for r in results if r["set"] == kind and r["usable"]]
        if not forg or not gen:
            continue
        _, b, a = _det(gen, forg)
        ax.step(np.clip(b, 1e-4, 1), np.clip(a, 1e-4, 1), where="post", label=kind)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axvline(TARGET_BPCER, color="grey", ls=":")
    ax.set_xlabel("BPCER: genuine imprints flagged (suspected forgery or another seal)")
    ax.set_ylabel("APCER: forgeries judged genuine")
    ax.set_title("1:1 verification, test set (log10 LR of the fusion)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.savefig(path, dpi=120)


def run(out: Path, *, quick: bool = True, refit: bool = False) -> dict:
    data = out / "verify_data"
    data.mkdir(parents=True, exist_ok=True)
    n_test = (300, 300) if quick else (1000, 2000)
    if refit:
        train = []
        for seed, ns, nq in TRAIN_SEEDS:
            path, rows = _data(data, "train", seed, ns, nq)
            train += _pairs(path, rows, 0, seed)
        path, rows = _data(data, "calibration", CALIBRATION_SEED, 200, 200)
        calibration = _pairs(path, rows, 300, CALIBRATION_SEED)
        model = fit(train, calibration,
                    _genuine_pairs(data, CALIBRATION_SEED, 200, CALIBRATION_GENUINE))
        model.save()
    model = VerifierModel.load()
    path, rows = _data(data, "test", TEST_SEED, *n_test)
    pairs = (_pairs(path, rows, 600, TEST_SEED, per_set=200) if quick
             else _pairs(path, rows, 30000, TEST_SEED))
    results = _verdicts(pairs, model)
    for r in results:
        r["usable"] = _gated(r)
    gen = [r for r in results if r["set"] == "genuine" and r["usable"]]
    gen_old = np.array([r["llr_refusals_flagged"] for r in gen])
    table = []
    for kind in (*SETS, "impostor", "lookalike"):
        rs = [r for r in results if r["set"] == kind]
        counts = Counter(r["verdict"] for r in rs)
        row = {"set": kind, "n": len(rs), **{v: counts.get(v, 0) / max(len(rs), 1)
                                             for v in ("genuine", "suspected_forgery",
                                                       "different_seal", "inconclusive",
                                                       "not_found")}}
        if kind in (*FORGERY_SETS, "impostor", "lookalike"):
            forg = [r for r in rs if r["usable"]]
            row["apcer_at_bpcer_1pct"], row["at_bpcer"] = apcer_at_bpcer(gen, forg,
                                                                        TARGET_BPCER)
            passed = round(row["apcer_at_bpcer_1pct"] * len(forg)) if forg else 0
            row["apcer_counts"] = [passed, len(forg)]
            row["apcer_ci95"] = interval(passed, len(forg))
            row["apcer_refusals_flagged"], row["at_bpcer_refusals_flagged"] = _apcer_at_bpcer(
                gen_old, np.array([r["llr_refusals_flagged"] for r in forg]), TARGET_BPCER)
            row["target"] = TARGET_APCER.get(kind)
        table.append(row)
    imp = np.array([r["features"]["correlation"] for r in results if r["set"] == "impostor"])
    gen_c = np.array([r["features"]["correlation"] for r in results
                      if r["set"] == "genuine" and r["usable"]])
    fmr_t = float(imp.max()) if imp.size else float("nan")
    fnmr = float((gen_c <= fmr_t).mean()) if gen_c.size else float("nan")
    fnmr_counts = [int((gen_c <= fmr_t).sum()), int(gen_c.size)]
    ms = [r["features"]["ms"] for r in results if r["features"] is not None]
    # one whole comparison (align, measure, decide) on one core, timed alone (the pool's
    # figures share the cores), the imprints already in memory
    ts = []
    cv2.setNumThreads(1)
    for q, m in _sample_pairs(rows, 40):
        q, m = archive.load(Path(q)), archive.load(Path(m))
        t0 = time.perf_counter()
        compare(q, m, model)
        ts.append(1000 * (time.perf_counter() - t0))
    _det_plot(results, out / "verify_det.png")
    summary = {"table": table, "impostors": int(imp.size),
               "fnmr_at_max_impostor": fnmr, "fnmr_counts": fnmr_counts,
               "fnmr_ci95": interval(*fnmr_counts), "impostor_max_correlation": fmr_t,
               "ms_median_single": statistics.median(ts) if ts else None,
               "ms_median_pool": statistics.median(ms) if ms else None,
               "thresholds": model.thresholds}
    print_table(summary)
    return summary


def _sample_pairs(rows: list, n: int) -> list[tuple[str, str]]:
    masters = {r["imprints"][0]["seal_id"]: r["canonical"] for r in rows if r["set"] == "master"}
    out = []
    for r in rows:
        if r["set"] == "genuine" and r["canonical"]:
            m = masters.get(r["imprints"][0]["claimed_seal_id"])
            if m:
                out.append((r["canonical"], m))
        if len(out) == n:
            break
    return out


def print_table(summary: dict) -> None:
    print(f"{'set':18s}{'n':>6s}{'genuine':>9s}{'forgery':>9s}{'diff':>7s}{'inconc':>8s}"
          f"{'missed':>8s}{'APCER':>8s}{'95 % interval':>16s}{'@BPCER':>8s}{'target':>8s}"
          f"{'refusals':>10s}{'@BPCER':>8s}")
    for r in summary["table"]:
        ap = r.get("apcer_at_bpcer_1pct")
        tg = r.get("target")
        old = r.get("apcer_refusals_flagged")
        print(f"{r['set']:18s}{r['n']:6d}{r['genuine']:9.1%}{r['suspected_forgery']:9.1%}"
              f"{r['different_seal']:7.1%}{r['inconclusive']:8.1%}{r['not_found']:8.1%}"
              f"{'' if ap is None else f'{ap:8.1%}' + _interval(r) + format(r['at_bpcer'], '8.1%')}"
              f"{'' if ap is None else ('' if tg is None else f'{tg:8.1%}').rjust(8)}"
              f"{'' if old is None else f'{old:10.1%}'}"
              f"{'' if old is None else format(r['at_bpcer_refusals_flagged'], '8.1%')}")
    print("APCER: judged genuine at the forgery threshold flagging at most 1 % of usable genuine "
          "imprints (suspected forgery or another seal; inconclusive is neither); 'refusals': "
          "the earlier reading, every genuine imprint not judged genuine or forged counted as "
          "flagged")
    fnmr = summary.get("fnmr_counts")
    print(f"impostors {summary['impostors']}: FNMR "
          f"{ci(*fnmr) if fnmr else format(summary['fnmr_at_max_impostor'], '.1%')} at "
          f"FMR < 1/{summary['impostors']} (highest impostor correlation "
          f"{summary['impostor_max_correlation']:.3f})")
    print(f"one 1:1 comparison of rectified imprints: median "
          f"{summary['ms_median_single']:.0f} ms (one core)")


def _interval(row: dict) -> str:
    """A table row's APCER interval (:mod:`bench.rates`), blank where not recorded."""
    k = row.get("apcer_counts")
    if not k or not k[1]:
        return " " * 16
    lo, hi = wilson(*k)
    return f"{100 * lo:7.1f} to {100 * hi:4.1f}"
