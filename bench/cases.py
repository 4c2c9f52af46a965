"""Cases beyond one document, on generated held-out data: (a) linking counterfeit seals across
cases, (b) the look-alike warning when a seal is filed.

(a) Linking. Counterfeit seals are made against seals of a generated registry: re-carved
imitations (clear and subtle), photo-engraved copies and printed imitations (one scan of a
genuine imprint printed on every document). Half of the imitated seals are imitated twice,
by two counterfeiters, so that "another fake of the same seal" is among the imprints a link
must refuse. Each counterfeit seal is used on 3 to 5 documents, each in a different case;
genuine imprints (of the imitated seals and of others) are filed as case imprints among them,
as happens when an examiner files a suspect document's imprints. Every imprint goes through
detection and rectification like a document and is identified in the registry of the filed
seals (the seal it claims to be is its match, else its best candidate, as ``imprint cases``
files it); then the case imprints are filed one after the other in a real case index beside
that registry, each searched before it is filed. A pair of imprints is a true link when both
come from one physical seal; every linked pair is counted, against all pairs.

(b) Look-alikes. Of a generated registry (look-alike units among its seals, marked by the
generator's ``lookalike_of``), the ordinary seals are filed; then every look-alike seal and a
held-out set of ordinary seals are searched as new filings: a look-alike should be warned
about its filed original (by its name on a seal of the same kind, or by its face), an
unrelated seal about nothing.

Thresholds (the deviation agreement that links two imprints claimed to be one seal, and the
face score at which at most 1 % of unrelated filings are warned by either route) are set on a
calibration seed and reported on a test seed. Writes
``cases.json`` and ``cases.png``.
"""

from __future__ import annotations

import functools
import shutil
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import date, timedelta
from itertools import combinations
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.identify import _rectify_all, _registry
from bench.rates import ci
from imprint import archive
from imprint.synth.dataset import (
    QUERY_DPIS,
    DatasetConfig,
    build_dataset,
    file_dpi,
    mark_format,
    read_manifest,
    reusable,
    write_image,
    write_jsonl,
)
from imprint.synth.forgery import Forgery, make_forgery
from imprint.synth.medium import sample_capture
from imprint.synth.registry import SealRecord, pick
from imprint.synth.scene import Stamping, genuine_stamping, imprint_scene
from imprint.synth.stamping import sample_conditions

TEST_SEED = 20261132  # reported on, never tuned on
CALIBRATION_SEED = 20261131  # sets the link and look-alike thresholds
TARGET_FALSE_LINKS = 0.01  # of pairs of imprints from different physical seals
TARGET_FALSE_WARNINGS = 0.01  # of unrelated filings
#: Kinds of counterfeit seal: (kind, level, weight).
FAKE_KINDS = (("recarved", "clear", 0.25), ("recarved", "subtle", 0.25),
              ("photo_engraved", "", 0.25), ("printed", "", 0.25))
USES = (3, 5)  # documents per counterfeit seal, each in its own case
STREAM_FAKE, STREAM_USE, STREAM_GENUINE, STREAM_PLAN = 101, 102, 103, 104


# --- data ------------------------------------------------------------------------------------

def _registry_data(root: Path, seed: int, n_seals: int) -> tuple[Path, list[dict]]:
    """A generated registry with its masters, rectified (look-alike units among its seals)."""
    path = root / f"registry_{seed}_{n_seals}"
    if not reusable(path):
        build_dataset(path, DatasetConfig(seed=seed, n_seals=n_seals, n_queries=0, n_pages=0,
                                          n_unregistered=0, query_sets=()), workers=2,
                      progress=False)
    return path, _rectify_all(path)


def _plan(records: list[SealRecord], seed: int, n_fakes: int) -> dict:
    """Which seals are imitated by which counterfeit seal, the documents each is used on
    (each in a case of its own among the others), and the genuine imprints filed with them."""
    rng = np.random.default_rng([seed, STREAM_PLAN])
    pool = [r.seal_id for r in records if r.lookalike_of is None and r.sibling_of is None]
    n_targets = int(np.ceil(n_fakes / 1.5))
    targets = [str(s) for s in rng.choice(pool, size=n_targets, replace=False)]
    fakes = []
    for k in range(n_fakes):
        target = targets[k % n_targets]  # the second round imitates the first targets again
        kind, level = pick(rng, [((kd, lv), w) for kd, lv, w in FAKE_KINDS])
        if k >= n_targets and rng.random() < 0.5:  # the same method as the first fake of it
            kind, level = fakes[k - n_targets]["kind"], fakes[k - n_targets]["level"]
        fakes.append({"fake": f"F{k:04d}", "target": target, "kind": kind, "level": level,
                      "uses": int(rng.integers(USES[0], USES[1] + 1))})
    others = [s for s in pool if s not in targets]
    genuine = targets[: n_fakes // 2] + [str(s) for s in rng.choice(
        others, size=min(len(others), n_fakes - n_fakes // 2), replace=False)]
    items = [{"physical": f["fake"], "target": f["target"], "kind": f["kind"],
              "level": f["level"], "fake_index": k}
             for k, f in enumerate(fakes) for _ in range(f["uses"])]
    items += [{"physical": s, "target": s, "kind": "genuine", "level": "", "fake_index": None}
              for s in genuine]
    order = rng.permutation(len(items))
    items = [items[i] for i in order]
    # cases: each document goes to an open case that holds no other use of its seal
    cases: list[set[str]] = []
    start = date(2025, 1, 6)
    for i, item in enumerate(items):
        open_ = [c for c, held in enumerate(cases) if len(held) < 3
                 and item["physical"] not in held and c >= len(cases) - 4]
        c = int(rng.choice(open_)) if open_ and rng.random() < 0.5 else len(cases)
        if c == len(cases):
            cases.append(set())
        cases[c].add(item["physical"])
        item.update(index=i, case=f"{seed % 10000}-{c + 1:04d}",
                    date=(start + timedelta(days=3 * i)).isoformat())
    return {"fakes": fakes, "items": items}


_RECORDS: dict[str, SealRecord] = {}


@functools.lru_cache(maxsize=8)
def _fake(seed: int, fake_index: int, target: str, kind: str, level: str) -> tuple:
    """The counterfeit seal: its forgery record, and for a printed imitation the stamping of
    the one genuine imprint the forger scanned (printed again on every document)."""
    rng = np.random.default_rng([seed, STREAM_FAKE, fake_index])
    record = _RECORDS[target]
    forgery = make_forgery(kind, record.face(), rng, level or "clear")
    source = sample_conditions(rng, "clean") if kind == "printed" else None
    return forgery, source


def _build_item(args: tuple) -> dict:
    out, seed, item, records = args
    if not _RECORDS:
        _RECORDS.update({r["seal_id"]: SealRecord.from_json(r) for r in records})
    rng = np.random.default_rng([seed, STREAM_USE, item["index"]])
    record = _RECORDS[item["target"]]
    if item["kind"] == "genuine":
        st = genuine_stamping(record.face(), rng, ink=record.spec.ink, seal_id=record.seal_id)
    else:
        forgery, source = _fake(seed, item["fake_index"], item["target"], item["kind"],
                                item["level"])
        if item["kind"] == "printed":
            # the same scan printed each time: a fresh halftone, the same imprint under it
            st = Stamping(record.face(), replace(source, angle=float(rng.uniform(0, 360))),
                          record.spec.ink, None, record.seal_id,
                          Forgery(forgery.kind, forgery.level, dict(forgery.params)))
        else:
            st = Stamping(forgery.face, sample_conditions(rng), record.spec.ink, None,
                          record.seal_id, forgery)
    capture = sample_capture(rng)
    dpi = pick(rng, QUERY_DPIS)
    image, truth = imprint_scene(st, dpi=dpi, rng=rng, capture=capture)
    ext = "jpg" if capture.jpeg_quality else "png"
    rel = f"documents/doc_{item['index']:05d}.{ext}"
    stated = file_dpi(capture, dpi)
    write_image(Path(out) / rel, image, stated, capture.jpeg_quality)
    return {"set": "document", "file": rel, "dpi": stated, "page_dpi": dpi,
            "capture": capture.mode,
            "imprints": [truth.to_json()], **item}


def _link_data(root: Path, seed: int, n_fakes: int, registry: Path) -> list[dict]:
    """The case documents of one seed: generated once, rectified once (cached)."""
    path = root / f"links_{seed}_{n_fakes}"
    records = read_manifest(registry / "registry.jsonl")
    if not reusable(path):
        plan = _plan([SealRecord.from_json(r) for r in records], seed, n_fakes)
        path.mkdir(parents=True, exist_ok=True)
        # the uses of one counterfeit seal together: each worker makes the seal once
        items = sorted(plan["items"], key=lambda it: (it["fake_index"] is None,
                                                      it["fake_index"] or 0))
        jobs = [(str(path), seed, item, records) for item in items]
        with ProcessPoolExecutor(2) as pool:
            rows = list(tqdm(pool.map(_build_item, jobs, chunksize=3), total=len(jobs),
                             desc=f"documents {seed}", unit="doc"))
        rows.sort(key=lambda r: r["index"])
        write_jsonl(path / "manifest.jsonl", rows)
        mark_format(path, seed=seed, fakes=n_fakes)
    return _rectify_all(path)


# --- (a) linking -----------------------------------------------------------------------------

def _link_scores(rows: list[dict], data: Path, masters: list[dict], home: Path
                 ) -> tuple[dict, dict]:
    """File the found imprints one after the other in a fresh case index beside a registry
    of the filed seals, each identified there and scored against the earlier ones first:
    ``{(earlier, later): (score, basis)}`` of every pair compared, and timing."""
    from index.cases import CaseIndex, claimed_seal, seals_of
    from index.identify import SealSearch

    if home.exists():
        shutil.rmtree(home)
    scores: dict[tuple[int, int], tuple[float, str]] = {}
    ms = []
    claimed_right = 0
    with _registry(data, masters, home) as store:
        search = SealSearch(store, "classical")
        search.index()
        cases = CaseIndex(search, threshold=-np.inf, deviation_threshold=-np.inf)
        by_id: dict[int, int] = {}
        for row in tqdm([r for r in rows if r["canonical"]], desc="file and link", unit="imp"):
            imp = archive.load(row["canonical"])
            ident = search.identify([imp])[0]
            claimed = claimed_seal(ident)
            claimed_right += claimed == row["target"]
            t0 = time.perf_counter()
            for link in cases.scored(imp, seal_ids=seals_of(ident)):
                scores[(by_id[link.imprint.id], row["index"])] = (link.score, link.basis)
            ms.append(1000 * (time.perf_counter() - t0))
            filed = cases.file(imp, case=row["case"], document=row["file"],
                               on=date.fromisoformat(row["date"]), claimed_seal_id=claimed,
                               verdict=row["kind"])
            by_id[filed.id] = row["index"]
        rebuilt = len(cases.rebuild())
    return scores, {"ms_per_search": float(np.median(ms)) if ms else None,
                    "filed": len(by_id), "rebuilt_index": rebuilt,
                    "claimed_right": [claimed_right, len(by_id)]}


def _pair_kinds(rows: list[dict]) -> list[tuple[int, int, str]]:
    """Every pair of documents: ``same`` (one physical seal), ``hard`` (different physical
    seals imitating, or being, one filed seal) or ``other``."""
    out = []
    for a, b in combinations(rows, 2):
        kind = ("same" if a["physical"] == b["physical"] else
                "hard" if a["target"] == b["target"] else "other")
        out.append((a["index"], b["index"], kind))
    return out


def _linked(scores: dict, pair: tuple[int, int], thresholds: dict[str, float]) -> bool:
    score, basis = scores.get(pair, (-np.inf, "registration"))
    return score >= thresholds[basis]


def _link_figures(rows: list[dict], scores: dict, thresholds: dict[str, float]) -> dict:
    found = {r["index"] for r in rows if r["canonical"]}
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_fake: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    kind_of = {r["index"]: r["kind"] + (f"_{r['level']}" if r["level"] else "") for r in rows}
    for i, j, kind in _pair_kinds(rows):
        linked = _linked(scores, (min(i, j), max(i, j)), thresholds)
        both = i in found and j in found
        groups = [f"{kind}_all"] + ([kind] if both else [])
        if kind in ("hard", "other"):
            groups.append("different" if both else "different_all")
        for g in groups:
            tally[g][0] += int(linked)
            tally[g][1] += 1
        if kind == "same":
            by_fake[kind_of[i]][0] += int(linked)
            by_fake[kind_of[i]][1] += 1
    rate = {k: v[0] / v[1] if v[1] else None for k, v in tally.items()}
    links = tally["same"][0] + tally["different"][0]
    return {"thresholds": thresholds, "counts": {k: list(v) for k, v in tally.items()},
            "rates": rate,
            "recall": rate.get("same_all"), "recall_found": rate.get("same"),
            "false_links": rate.get("different"), "false_links_hard": rate.get("hard"),
            "precision": tally["same"][0] / links if links else None,
            "recall_by_kind": {k: [v[0], v[1]] for k, v in sorted(by_fake.items())},
            "found": [len(found), len(rows)]}


def _link_thresholds(rows: list[dict], scores: dict, target: float) -> dict[str, float]:
    """The deviation threshold that links at most ``target`` of the pairs of different
    physical seals (both imprints found), counting those the registration fallback links at
    its own threshold (:data:`index.cases.LINK_THRESHOLD`) against the same budget. The
    fallback's threshold is not refitted here: it scores only pairs with no filed seal in
    common, too few on a seed to set a threshold from."""
    from index.cases import LINK_THRESHOLD

    found = {r["index"] for r in rows if r["canonical"]}
    pairs = [((i, j), kind) for i, j, kind in _pair_kinds(rows) if i in found and j in found]
    diff = [scores[p] for p, kind in pairs if kind != "same" and p in scores]
    budget = int(np.floor(target * sum(kind != "same" for _, kind in pairs)))
    budget -= sum(b == "registration" and v >= LINK_THRESHOLD for v, b in diff)
    s = sorted((v for v, b in diff if b == "deviation"), reverse=True)
    if not s or budget < 0:
        deviation = np.inf
    elif budget < len(s):
        deviation = float(np.nextafter(s[budget], np.inf))
    else:
        deviation = float(s[-1])
    return {"registration": LINK_THRESHOLD, "deviation": deviation}


# --- (b) look-alikes -------------------------------------------------------------------------

def _lookalike_scores(data: Path, rows: list[dict], seed: int, home: Path) -> list[dict]:
    """Each look-alike seal and each held-out ordinary seal searched as a new filing against
    the registry of the other seals: the score of its original (look-alikes) and whether the
    name route names it, its best score against any seal of another unit, and the seals the
    name route names."""
    from index.identify import SealSearch
    from index.lookalike import find_lookalikes

    records = {r["seal_id"]: SealRecord.from_json(r)
               for r in read_manifest(data / "registry.jsonl")}
    lookalikes = [r for r in records.values() if r.lookalike_of]
    originals = {r.lookalike_of for r in lookalikes}
    ordinary = sorted(s for s, r in records.items() if r.lookalike_of is None
                      and r.sibling_of is None and s not in originals
                      and not any(o.sibling_of == s for o in records.values()))
    rng = np.random.default_rng([seed, 105])
    held = {str(s) for s in rng.choice(ordinary, size=len(ordinary) // 3, replace=False)}
    masters = {r["imprints"][0]["seal_id"]: r for r in rows if r["set"] == "master"}
    filed = [m for s, m in masters.items() if s not in held and not records[s].lookalike_of]
    store = _registry(data, filed, home)
    search = SealSearch(store, "classical")
    search.index()
    out = []
    for s in tqdm([r.seal_id for r in lookalikes] + sorted(held), desc="look-alike search",
                  unit="seal"):
        rec, row = records[s], masters[s]
        res = {"seal_id": s, "lookalike_of": rec.lookalike_of, "found": bool(row["canonical"]),
               "original": -np.inf, "original_by_name": False, "best": -np.inf,
               "by_name": []}
        if row["canonical"]:
            # every candidate, with its score: the face threshold is set afterwards
            got = find_lookalikes(search, archive.load(row["canonical"]), unit=rec.unit_name,
                                  kind=rec.spec.kind, threshold=-np.inf)
            res["best"] = max((w.score for w in got), default=-np.inf)
            orig = next((w for w in got if w.seal_id == rec.lookalike_of), None)
            if orig is not None:
                res["original"], res["original_by_name"] = orig.score, orig.by_name
            res["by_name"] = [w.seal_id for w in got if w.by_name]
        out.append(res)
    store.close()
    return out


def _lookalike_threshold(results: list[dict], target: float) -> float:
    """The face threshold at which at most ``target`` of the unrelated filings are warned by
    either route: those the name route warns use up the allowance first."""
    neg = [r for r in results if r["lookalike_of"] is None]
    allowed = int(np.floor(target * len(neg))) - sum(bool(r["by_name"]) for r in neg)
    faces = np.sort([r["best"] for r in neg if not r["by_name"]])
    if len(faces) == 0:
        return np.inf  # (every unrelated filing warned by its name: none by the face)
    k = min(max(allowed, 0), len(faces))
    return float(np.nextafter(faces[len(faces) - k - 1], np.inf)) if k < len(faces) else -np.inf


def _lookalike_figures(results: list[dict], threshold: float) -> dict:
    pos = [r for r in results if r["lookalike_of"]]
    neg = [r for r in results if r["lookalike_of"] is None]
    return {"threshold": threshold,
            "lookalikes_warned": [sum(r["original_by_name"] or r["original"] >= threshold
                                      for r in pos), len(pos)],
            "lookalikes_by_name": [sum(r["original_by_name"] for r in pos), len(pos)],
            "lookalikes_by_face": [sum(r["original"] >= threshold for r in pos), len(pos)],
            "unrelated_warned": [sum(bool(r["by_name"]) or r["best"] >= threshold
                                     for r in neg), len(neg)],
            "unrelated_by_name": [sum(bool(r["by_name"]) for r in neg), len(neg)],
            "unrelated_by_face": [sum(r["best"] >= threshold for r in neg), len(neg)],
            "lookalike_rate": (sum(r["original_by_name"] or r["original"] >= threshold
                                   for r in pos) / len(pos)) if pos else None,
            "masters_found": sum(r["found"] for r in results)}


# --- the section -----------------------------------------------------------------------------

def _seed_run(root: Path, seed: int, n_seals: int, n_fakes: int) -> dict:
    data, rows = _registry_data(root, seed, n_seals)
    docs = _link_data(root, seed, n_fakes, data)
    scores, timing = _link_scores(docs, data, rows,
                                  root / f"links_{seed}_{n_fakes}" / "registry")
    looks = _lookalike_scores(data, rows, seed, data / "lookalike_registry")
    return {"docs": docs, "scores": scores, "timing": timing, "looks": looks}


def run(out: Path, *, quick: bool = False) -> dict:
    n_seals, n_fakes = (200, 12) if quick else (400, 36)
    root = out / "cases_data"
    cal = _seed_run(root, CALIBRATION_SEED, n_seals, n_fakes)
    test = _seed_run(root, TEST_SEED, n_seals, n_fakes)
    link_t = _link_thresholds(cal["docs"], cal["scores"], TARGET_FALSE_LINKS)
    look_t = _lookalike_threshold(cal["looks"], TARGET_FALSE_WARNINGS)
    record = {
        "seeds": {"calibration": CALIBRATION_SEED, "test": TEST_SEED},
        "registry_seals": n_seals, "counterfeit_seals": n_fakes,
        "linking": {"calibration": _link_figures(cal["docs"], cal["scores"], link_t),
                    "test": _link_figures(test["docs"], test["scores"], link_t),
                    "timing": test["timing"], "calibration_timing": cal["timing"]},
        "lookalike": {"calibration": _lookalike_figures(cal["looks"], look_t),
                      "test": _lookalike_figures(test["looks"], look_t)},
    }
    _print(record)
    _plot(test, link_t, look_t, out / "cases.png", record)
    return record


def _pct(pair: list[int]) -> str:
    """A rate with its 95 % interval and its counts."""
    return f"{ci(*pair)} ({pair[0]}/{pair[1]})" if pair[1] else "-"


def _print(r: dict) -> None:
    lt, lc = r["linking"]["test"], r["linking"]["calibration"]
    print(f"\n## cases: {r['counterfeit_seals']} counterfeit seals, 3-5 documents each in "
          f"different cases, among genuine imprints; thresholds on seed "
          f"{r['seeds']['calibration']}, reported on seed {r['seeds']['test']}\n")
    print("| linking | calibration | test |")
    print("|---|---|---|")
    rows = (("imprints found", "found"),)
    for label, key in rows:
        print(f"| {label} | {_pct(lc[key])} | {_pct(lt[key])} |")
    for label, key in (("recall, all pairs of one fake", "same_all"),
                       ("recall, both imprints found", "same"),
                       ("false links, different seals", "different"),
                       ("false links, different fakes of one seal or its genuine imprints",
                        "hard"),
                       ("false links, unrelated seals", "other")):
        print(f"| {label} | {_pct(lc['counts'][key])} | {_pct(lt['counts'][key])} |")
    for basis in ("deviation", "registration"):
        print(f"| link threshold ({basis}) | {lc['thresholds'][basis]:.3f} | |")
    for kind, pair in lt["recall_by_kind"].items():
        print(f"| test recall, {kind} (both found) | | {_pct(pair)} |")
    tc, tt = r["linking"]["calibration_timing"], r["linking"]["timing"]
    print(f"| claimed seal = the imitated seal | {_pct(tc['claimed_right'])} | "
          f"{_pct(tt['claimed_right'])} |")
    print(f"| ms per search (median) | | {tt['ms_per_search']:.0f} |")
    kt, kc = r["lookalike"]["test"], r["lookalike"]["calibration"]
    print("\n| look-alike warning | calibration | test |")
    print("|---|---|---|")
    for label, key in (("look-alikes warned about their original", "lookalikes_warned"),
                       ("... by the name (a seal of the same kind)", "lookalikes_by_name"),
                       ("... by the face alone", "lookalikes_by_face"),
                       ("unrelated filings warned", "unrelated_warned"),
                       ("... by the name", "unrelated_by_name"),
                       ("... by the face", "unrelated_by_face")):
        print(f"| {label} | {_pct(kc[key])} | {_pct(kt[key])} |")
    print(f"| face threshold (aligned polar correlation) | {kc['threshold']:.3f} | "
          f"{kt['threshold']:.3f} |")


def _plot(test: dict, link_t: dict[str, float], look_t: float, path: Path, record: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    found = {r["index"] for r in test["docs"] if r["canonical"]}
    by_kind = defaultdict(list)
    for i, j, kind in _pair_kinds(test["docs"]):
        if i in found and j in found:
            score, basis = test["scores"].get((i, j), (None, None))
            if basis == "deviation":
                by_kind[kind].append(score)
    bins = np.linspace(-0.3, 1.0, 40)
    for kind, colour in (("same", "tab:green"), ("hard", "tab:orange"), ("other", "tab:grey")):
        ax1.hist(by_kind[kind], bins=bins, alpha=0.6, color=colour,
                 label=f"{kind} ({len(by_kind[kind])} compared)")
    ax1.axvline(link_t["deviation"], color="k", ls="--", lw=0.8,
                label="threshold (calibration)")
    ax1.set_xlabel("agreement of two case imprints' deviations from the claimed seal")
    ax1.set_ylabel("pairs")
    ax1.set_title("Linking, test seed: pairs claimed to be one seal")
    ax1.legend(fontsize=8)
    bins = np.linspace(0.0, 1.0, 41)
    for label, colour, scores in (
            ("unrelated filings", "tab:grey",
             [r["best"] for r in test["looks"] if r["lookalike_of"] is None]),
            ("look-alikes vs original", "tab:red",
             [r["original"] for r in test["looks"] if r["lookalike_of"]]),
            ("... of them warned by the name", "tab:purple",
             [r["original"] for r in test["looks"] if r["original_by_name"]])):
        ax2.hist(np.clip(scores, 0, 1), bins=bins, alpha=0.6, color=colour,
                 label=f"{label} ({len(scores)})")
    ax2.axvline(look_t, color="k", ls="--", lw=0.8, label="face threshold (calibration)")
    ax2.set_xlabel("aligned polar correlation of the masters")
    ax2.set_title("Look-alike warning at filing, test seed")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
