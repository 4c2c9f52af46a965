"""``imprint demo``: the main job end to end on an embedded default.

It builds a small generated registry under ``data/demo`` (filed seals with their masters,
query imprints of every kind, A4 pages), writes a contact sheet, and reports what ran. Each
stage of the engine adds its step here as it lands.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from pathlib import Path

from imprint.boxes import match
from imprint.synth.contact import contact_sheet
from imprint.synth.dataset import DatasetConfig, build_dataset, read_manifest
from service.detect import detect_file

DEMO_SEED = 2026
DEMO_CONFIG = dict(n_seals=12, n_queries=2, n_pages=3, n_unregistered=4)


def run_demo(root: Path, *, json_out: bool = False) -> int:
    t0 = time.perf_counter()
    config = DatasetConfig(seed=DEMO_SEED, **DEMO_CONFIG)
    summary = build_dataset(root, config, progress=not json_out)
    sheet = contact_sheet(root / "contact_sheet.png", seed=DEMO_SEED)
    took = time.perf_counter() - t0
    registry = [json.loads(line) for line in (root / "registry.jsonl").read_text(
        encoding="utf-8").splitlines()]
    manifest = read_manifest(root / "manifest.jsonl")
    found, total, n_det, ms = _detect_pages(root, manifest)
    ident = _identify_queries(root, manifest, registry)
    stages = {
        "generate registry, masters, queries, pages": "ran",
        "detect and rectify imprints on pages": (
            f"ran: {found} of {total} planted imprints found, {n_det - found} other "
            f"detections, median {ms:.0f} ms per page"),
        "file masters in the registry (SQLite, FAISS index)": (
            f"ran: {ident['filed']} seals filed under {ident['home']}; look-alike warnings at "
            f"filing: {ident['lookalikes_warned']} of {ident['lookalikes']} look-alike seals "
            f"warned about the seal they resemble, {ident['others_warned']} other filings "
            f"warned"),
        "identify against the registry (1:N)": (
            f"ran: {ident['right']} of {ident['registered']} imprints of filed seals ranked "
            f"their own seal first; {ident['matched']} declared a match; "
            f"{ident['false']} of {ident['unregistered']} imprints of unregistered seals "
            f"matched a filed one"),
        "verify against the claimed master (1:1)": (
            "ran: " + "; ".join(f"{qset}: " + ", ".join(f"{n} {v.replace('_', ' ')}"
                                                       for v, n in sorted(c.items()))
                                for qset, c in ident["verdicts"].items())
            + f"; reports under {root / 'reports'}"),
    }
    if json_out:
        print(json.dumps({"dir": str(root), "seconds": round(took, 2), "stages": stages,
                          "registry": registry, "queries": summary.queries,
                          "filing": {k: ident[k] for k in ("filed", "lookalikes",
                                                           "lookalikes_warned",
                                                           "others_warned")},
                          "pages": summary.n_pages, "contact_sheet": str(sheet)},
                         ensure_ascii=False, indent=2))
        return 0
    print(f"\nDemo registry under {root}  ({took:.1f} s)\n")
    print(f"{'seal id':10s} {'kind':17s} {'ink':7s} unit / text")
    for r in registry:
        spec = r["spec"]
        words = spec["unit_name"] + (" " + spec["business_line"] if spec["business_line"] else "")
        if spec["number"]:
            words += f"({spec['number']})"
        if spec["person_name"]:
            words = spec["person_name"]
        note = (f"  [look-alike of {r['lookalike_of']}]" if r["lookalike_of"] else
                f"  [sibling of {r['sibling_of']}]" if r["sibling_of"] else "")
        print(f"{r['seal_id']:10s} {spec['kind']:17s} {spec['ink']:7s} {words}{note}")
    by_set = Counter(row["set"] for row in manifest)
    print("\nImages written (ground truth in manifest.jsonl):")
    for name, n in by_set.items():
        print(f"  {name:16s} {n}")
    print(f"\nContact sheet: {sheet}")
    print("\nStages:")
    for stage, state in stages.items():
        print(f"  [{'x' if state.startswith('ran') else ' '}] {stage}: {state}")
    return 0


def _identify_queries(root: Path, manifest: list[dict], registry: list[dict]) -> dict:
    """File every master in a SQLite registry under ``root``, then identify the query
    imprints of filed and of unregistered seals."""
    import shutil

    from imprint.errors import ImprintError
    from imprint.io import load_page
    from imprint.pipeline import rectified_imprints
    from index.filing import file_master
    from index.identify import SealSearch
    from index.store import RegistryStore

    home = root / "registry"
    shutil.rmtree(home, ignore_errors=True)  # the demo's registry is rebuilt every run
    records = {r["seal_id"]: r for r in registry}
    filed = right = matched = registered = false = unregistered = 0
    lookalikes = lookalikes_warned = others_warned = 0
    with RegistryStore.open(home) as store:
        search = SealSearch(store)
        for row in (r for r in manifest if r["set"] == "master"):
            rec = records[row["imprints"][0]["seal_id"]]
            try:
                done = file_master(search, root / row["file"], seal_id=rec["seal_id"],
                                   unit=rec["unit_name"], kind=rec["spec"]["kind"])
                filed += 1
            except ImprintError:
                continue
            warned = {w.seal_id for w in done.warnings}
            if rec["lookalike_of"]:
                lookalikes += 1
                lookalikes_warned += rec["lookalike_of"] in warned
            else:
                others_warned += bool(warned)
        for row in (r for r in manifest if r["set"] in ("genuine", "unregistered")):
            truth = row["imprints"][0]
            page = load_page(root / row["file"])[0]
            imps = rectified_imprints(page.image, dpi=page.dpi[0] if page.dpi else None)
            idents = search.identify(imps[:1])
            top = idents[0].candidates[0].seal_id if idents and idents[0].candidates else None
            match = idents[0].match if idents else None
            if row["set"] == "genuine":
                registered += 1
                right += top == truth["seal_id"]
                matched += match == truth["seal_id"]
            else:
                unregistered += 1
                false += match is not None
        verdicts = _verify_queries(root, manifest, search)
    return {"home": str(home), "filed": filed, "lookalikes": lookalikes,
            "lookalikes_warned": lookalikes_warned, "others_warned": others_warned,
            "right": right, "matched": matched,
            "registered": registered, "false": false, "unregistered": unregistered,
            "verdicts": verdicts}


VERIFY_SETS = ("genuine", "recarved_clear", "recarved_subtle", "photo_engraved", "printed")


def _verify_queries(root: Path, manifest: list[dict], search) -> dict:
    """Verify genuine and forged query imprints against the seal each claims to be; write one
    report (HTML) per query set."""
    import shutil

    from imprint.errors import ImprintError
    from imprint.io import load_page
    from imprint.pipeline import rectified_imprints
    from imprint.report import ReportContext, write_report
    from index.verify import verify

    out: dict[str, Counter] = {}
    shutil.rmtree(root / "reports", ignore_errors=True)  # one report per set, of this run
    (root / "reports").mkdir()
    for row in (r for r in manifest if r["set"] in VERIFY_SETS):
        claimed = row["imprints"][0]["claimed_seal_id"]
        page = load_page(root / row["file"])[0]
        imps = rectified_imprints(page.image, dpi=page.dpi[0] if page.dpi else None)
        counts = out.setdefault(row["set"], Counter())
        if not imps:
            counts["not found"] += 1
            continue
        try:
            v = verify(search, imps[0], claimed)
        except ImprintError:
            counts["master unusable"] += 1
            continue
        counts[v.comparison.verdict] += 1
        report = root / "reports" / f"{row['set']}.html"
        if not report.exists():
            write_report(v.comparison, report, ReportContext(
                seal_id=claimed, unit_name=v.seal.unit_name, status=v.status.value,
                status_note=v.status_flag, document=row["file"], master_id=v.master_id))
    return out


def _detect_pages(root: Path, manifest: list[dict]) -> tuple[int, int, int, float]:
    """Run detection and rectification on the demo pages; compare with the ground truth."""
    found = total = n_det = 0
    times = []
    for row in (r for r in manifest if r["set"] == "page"):
        report = detect_file(root / row["file"])
        times += [p["ms"] for p in report["pages"]]
        truth = [t["box"] for t in row["imprints"]]
        found += len(match(truth, [imp["box"] for imp in report["imprints"]]))
        total += len(truth)
        n_det += len(report["imprints"])
    return found, total, n_det, statistics.median(times) if times else 0.0
