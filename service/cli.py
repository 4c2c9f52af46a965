"""The ``imprint`` command line.

Exit codes: 0 success; 1 the work ran and found a problem (``detect``: no imprint found;
``identify``: no imprint found, or an imprint that matches no registered seal; ``sweep``: an
imprint flagged); 2 bad usage or bad input (a typed :class:`~imprint.errors.ImprintError` with a
one-line message on stderr; ``sweep``: some file could not be read or examined); 3 an output
could not be written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from imprint.errors import ImprintError, InputError, InvalidParameterError, OutputError

EXIT_OK, EXIT_FOUND, EXIT_USAGE, EXIT_OUTPUT = 0, 1, 2, 3
EXIT_CODES = {InvalidParameterError: EXIT_USAGE, InputError: EXIT_USAGE,
              OutputError: EXIT_OUTPUT}

DEFAULT_DEMO_DIR = Path("data") / "demo"


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; counts must be >= 0")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _print(args, payload: dict, human: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        print(human)


def cmd_synth_dataset(args) -> int:
    from imprint.synth.dataset import QUERY_SETS, DatasetConfig, build_dataset

    sets = tuple(args.sets.split(",")) if args.sets else QUERY_SETS
    config = DatasetConfig(seed=args.seed, n_seals=args.seals, n_queries=args.queries,
                           n_pages=args.pages, n_unregistered=args.unregistered, dpi=args.dpi,
                           master_dpi=args.master_dpi, query_sets=sets)
    t0 = time.perf_counter()
    summary = build_dataset(args.out, config, workers=args.workers,
                            progress=not args.json and sys.stderr.isatty())
    took = time.perf_counter() - t0
    payload = {**asdict(summary), "seconds": round(took, 2)}
    lines = [f"dataset written to {summary.out_dir} (seed {summary.seed}, {took:.1f} s)",
             f"  registry: {summary.n_seals} seals with masters",
             *(f"  {k:16s} {v} queries" for k, v in summary.queries.items()),
             f"  pages:    {summary.n_pages} with {summary.n_imprints_on_pages} imprints"]
    _print(args, payload, "\n".join(lines))
    return EXIT_OK


def cmd_synth_imprints(args) -> int:
    from imprint.synth.batch import make_imprints

    t0 = time.perf_counter()
    rows = make_imprints(args.out, kind=args.kind, count=args.count, seed=args.seed,
                         forgery=args.forgery, level=args.level, quality=args.quality,
                         capture=args.capture, dpi=args.dpi)
    took = time.perf_counter() - t0
    payload = {"out": args.out, "count": len(rows), "seconds": round(took, 2),
               "manifest": str(Path(args.out) / "manifest.jsonl")}
    _print(args, payload, f"{len(rows)} {args.kind} imprints ({args.forgery}) written to "
                          f"{args.out} in {took:.1f} s; ground truth in manifest.jsonl")
    return EXIT_OK


def cmd_synth_sheet(args) -> int:
    from imprint.synth.contact import contact_sheet

    path = contact_sheet(args.out, seed=args.seed)
    _print(args, {"contact_sheet": str(path)}, f"contact sheet written to {path}")
    return EXIT_OK


def cmd_detect(args) -> int:
    from service.detect import detect_file

    report = detect_file(Path(args.file), debug_dir=Path(args.debug_dir) if args.debug_dir
                         else None, pdf_dpi=args.pdf_dpi)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return EXIT_OK if report["imprints"] else EXIT_FOUND
    for page in report["pages"]:
        print(f"{report['file']} page {page['page'] + 1}: {len(page['imprints'])} imprint(s), "
              f"{page['ms']:.0f} ms")
        if page["dpi"] is not None and page["measured_dpi"] is None:
            print(f"  the file states {page['dpi']:.0f} dpi, which this image cannot have (its "
                  f"seals would be a few mm across): measured without it, in no mm")
        for i, imp in enumerate(page["imprints"], 1):
            box = ", ".join(f"{v:.0f}" for v in imp["box"])
            size = (f", {imp['size_mm'][0]:.1f} x {imp['size_mm'][1]:.1f} mm"
                    if imp.get("size_mm") else "")
            q = imp.get("quality") or {}
            print(f"  {i}. {imp['shape']:6s} {imp['colour']:6s} conf {imp['confidence']:.2f} "
                  f"box [{box}]{size}, rotation {imp.get('rotation', float('nan')):.1f} deg, "
                  f"border visible {q.get('border_visible', 0):.0%}, "
                  f"occluded {q.get('occluded', 0):.0%}")
    if args.debug_dir:
        print(f"crops and overlay written to {args.debug_dir}")
    return EXIT_OK if report["imprints"] else EXIT_FOUND


def _search(args):
    from index.identify import SealSearch
    from index.store import RegistryStore

    store = RegistryStore.open(args.registry)
    show = not getattr(args, "json", False) and sys.stderr.isatty()

    def progress(it, n, desc):
        from tqdm import tqdm

        return tqdm(it, total=n, desc=desc, unit="master", disable=not show or n < 20)

    return SealSearch(store, args.embedder, progress=progress)


def cmd_register(args) -> int:
    from index.filing import file_master
    from index.lookalike import lookalike_record, lookalike_text
    from service.detect import imprint_record

    search = _search(args)
    with search.store:
        filed = file_master(search, args.image, seal_id=args.seal_id, unit=args.unit,
                            kind=args.kind, code=args.code, dpi=args.dpi, uscc=args.uscc)
    g, q = filed.imprint.geometry, filed.imprint.quality
    payload = {"seal_id": filed.seal.seal_id, "unit": filed.unit.name, "kind": filed.seal.kind,
               "new_seal": filed.new_seal, "master_id": filed.master.id,
               "sha256": filed.master.sha256, "dpi": filed.master.dpi,
               **imprint_record(filed.imprint.detection, filed.imprint),
               "warnings": [lookalike_record(w) for w in filed.warnings],
               "registry": str(search.store.home)}
    size = f", {g.size_mm[0]:.1f} x {g.size_mm[1]:.1f} mm" if g.size_mm else ""
    # a look-alike does not stop the filing: the registrar is told, and it is kept on record
    looks = "".join(f"\nwarning: {lookalike_text(w)}" for w in filed.warnings)
    _print(args, payload,
           f"filed master {filed.master.id} of {'new ' if filed.new_seal else ''}seal "
           f"{filed.seal.seal_id} ({filed.seal.kind}, {filed.unit.name}){size}; "
           f"border visible {q.border_visible:.0%}, occluded {q.occluded:.0%}{looks}\n"
           f"registry: {search.store.home}")
    return EXIT_OK


def cmd_cases(args) -> int:
    import hashlib
    import os

    from imprint.io import LoadLimits, iter_pages
    from index.cases import (
        CaseIndex,
        case_imprint_record,
        examine_for_case,
        file_findings,
        finding_record,
    )

    search = _search(args)
    with search.store:
        cases = CaseIndex(search)
        if args.cases_command == "list":
            listed = [case_imprint_record(ci) for ci in cases.imprints(args.case)]
            lines = [f"{ci['case']:16s} #{ci['id']:<5d} {ci['date'] or '-':10s} "
                     f"{ci['document']} p{ci['page'] + 1} claims {ci['claimed_seal_id'] or '-'}"
                     f" ({ci['verdict']})" for ci in listed]
            _print(args, {"imprints": listed},
                   "\n".join(lines) or "no case imprints filed")
            return EXIT_OK
        pages = iter_pages(args.image, limits=LoadLimits(pdf_dpi=args.pdf_dpi))
        findings = examine_for_case(search, cases, pages, on=args.date)
        if args.cases_command == "file":
            who = os.environ.get("USER") or None
            findings = file_findings(cases, findings, case=args.case,
                                     document=Path(args.image).name,
                                     document_sha256=hashlib.sha256(
                                         Path(args.image).read_bytes()).hexdigest(),
                                     on=args.date, filed_by=who and f"cli:{who}")
    out = [finding_record(f) for f in findings]
    lines = [f"{args.image}: {len(out)} imprint(s)"]
    for i, f in enumerate(out, 1):
        what = (f"match {f['match']}, {(f['verdict'] or 'not compared').replace('_', ' ')}"
                if f["match"] else "no registered seal")
        filed = (f"; filed as case imprint #{f['filed']['id']} in case {f['filed']['case']}"
                 if f["filed"] else "; not filed (not suspect)"
                 if args.cases_command == "file" else "")
        lines.append(f"  {i}. page {f['page'] + 1}: {what}{filed}")
        for link in f["linked_cases"]:
            lines.append(f"       the same counterfeit seal as in case {link['case']} "
                         f"({link['document']}, {link['date'] or 'undated'}), score "
                         f"{link['score']:.3f}")
    _print(args, {"file": str(args.image), "imprints": out}, "\n".join(lines))
    return EXIT_FOUND if any(f["linked_cases"] for f in out) or not out else EXIT_OK


def cmd_identify(args) -> int:
    from imprint.io import LoadLimits, iter_pages
    from service.engine import identification_record, identify_pages

    search = _search(args)
    with search.store:
        pages = iter_pages(args.image, limits=LoadLimits(pdf_dpi=args.pdf_dpi))
        out = [identification_record(found) for found in
               identify_pages(search, pages, top_k=args.top_k, on=args.date)]
    payload = {"file": str(args.image), "threshold": search.threshold, "imprints": out}
    lines = [f"{args.image}: {len(out)} imprint(s)"]
    for i, imp in enumerate(out, 1):
        box = ", ".join(f"{v:.0f}" for v in imp["box"])
        verdict = (f"match {imp['match']} ({imp['status']})" if imp["match"]
                   else "no registered seal")
        if imp["verdict"]:
            verdict += (f", {imp['verdict'].replace('_', ' ')} "
                        f"(log10 LR {imp['log10_lr']:+.1f})")
        if imp["status_flag"]:
            verdict += f"; warning: {imp['status_flag']}"
        lines.append(f"  {i}. page {imp['page'] + 1} [{box}] {imp['shape']} {imp['colour']}: "
                     f"{verdict}")
        for c in imp["candidates"]:
            lines.append(f"       {c['seal_id']:20s} score {c['score']:.3f}")
    _print(args, payload, "\n".join(lines))
    return EXIT_OK if out and all(imp["match"] and imp["verdict"] == "genuine"
                                  and not imp["status_flag"] for imp in out) else EXIT_FOUND


def cmd_verify(args) -> int:
    from imprint.io import LoadLimits, iter_pages
    from imprint.report import write_report
    from service.engine import report_context, verification_record, verify_pages

    search = _search(args)
    with search.store:
        pages = iter_pages(args.image, limits=LoadLimits(pdf_dpi=args.pdf_dpi))
        found = verify_pages(search, pages, args.seal_id, on=args.date, what=str(args.image),
                             chip_serial=args.chip)
    v = found.verification
    c = v.comparison
    payload = verification_record(found, file=str(args.image))
    if args.report:
        context = report_context(found, document=Path(args.image).name)
        payload["report"] = str(write_report(c, args.report, context))
    lines = [f"{args.image}: {c.verdict.replace('_', ' ')} against seal {v.seal.seal_id} "
             f"({v.seal.unit_name}), log10 LR {c.log10_lr:+.1f}, registry status "
             f"{v.status.value}"]
    if v.status_flag:
        lines.append(f"  warning: {v.status_flag}")
    if payload["chip_flag"]:
        lines.append(f"  warning: chip {payload['chip_flag'].replace('_', ' ')}")
    lines += [f"  - {r}" for r in payload["reasons"]]
    if args.report:
        lines.append(f"  report: {payload['report']}")
    _print(args, payload, "\n".join(lines))
    return EXIT_OK if (c.verdict == "genuine" and v.status_flag is None
                       and payload["chip_flag"] is None) else EXIT_FOUND


def cmd_index(args) -> int:
    from imprint.pipeline import IMAGING_VERSION

    search = _search(args)
    with search.store:
        t0 = time.perf_counter()
        index = search.rebuild() if args.index_command == "rebuild" else search.index()
        took = time.perf_counter() - t0
        counts = search.store.counts()
    payload = {"path": str(search.index_path), "model_id": search.embedder.model_id,
               "imaging_version": IMAGING_VERSION,
               "dimension": index.dimension, "factory": index.factory, "count": len(index),
               "masters_in_store": counts["masters"], "seconds": round(took, 2)}
    left_out = counts["masters"] - len(index)
    _print(args, payload,
           f"{search.index_path}: {len(index)} master(s), model {search.embedder.model_id} "
           f"on imaging version {IMAGING_VERSION}, "
           f"{index.factory}, {took:.1f} s"
           + (f"; {left_out} master(s) hold no usable imprint (see the log)" if left_out else ""))
    return EXIT_OK


def cmd_sweep(args) -> int:
    from service.sweep import sweep

    summary = sweep(args.paths, args.out, workers=args.workers, resume=args.resume,
                    engine=args.engine, registry=args.registry, embedder=args.embedder,
                    dates=args.dates, date_all=args.date, top_k=args.top_k,
                    pdf_dpi=args.pdf_dpi, ray_address=args.ray_address,
                    progress=False if args.json else None)
    lines = [f"{summary.documents} document(s), {summary.pages} page(s), {summary.imprints} "
             f"imprint(s): {summary.flagged} flagged ({summary.suspicious} suspicious), "
             f"{len(summary.failures)} failed; {summary.examined} examined, {summary.reused} "
             f"from the journal, {summary.pages_per_s:.2f} pages/s",
             *(f"  {flag:22s} {n}" for flag, n in summary.flags.items()),
             *(f"  failed: {f.file}: {f.message}" for f in summary.failures[:20]),
             *([f"  ... and {len(summary.failures) - 20} more"]
               if len(summary.failures) > 20 else []),
             f"results: {summary.outputs.get('html')}"]
    _print(args, summary.to_json(), "\n".join(lines))
    return summary.exit_code


def _registry_engine(args):
    from index.store import RegistryStore

    return RegistryStore.open(args.registry)


def _key_record(info) -> dict:
    return {"key_id": info.key_id, "role": info.role.value, "name": info.name,
            "created_at": info.created_at.isoformat(),
            "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None}


def _audit_cli(store, command: str, inputs: dict[str, str]) -> None:
    """Key management is itself an access: it goes on the trail, done from the command line."""
    from service.audit import Access, AuditTrail, anchor_path, sha256_hex

    AuditTrail(store.engine, anchor=anchor_path(store.home)).append(Access(
        method="CLI", endpoint=f"imprint {command}", status=0, outcome="ok",
        inputs={k: sha256_hex(v) for k, v in inputs.items()}))


def cmd_keys(args) -> int:
    from service.auth import KeyRing

    with _registry_engine(args) as store:
        keys = KeyRing(store.engine)
        if args.keys_command == "create":
            new = keys.create(args.role, args.name)
            _audit_cli(store, "keys create", {"key_id": new.info.key_id,
                                              "role": new.info.role.value})
            payload = {**_key_record(new.info), "key": new.secret}
            _print(args, payload,
                   f"{new.secret}\n"
                   f"key {new.info.key_id} ({new.info.role.value}"
                   f"{', ' + new.info.name if new.info.name else ''}) created; the key above "
                   f"is shown only this once: only its hash is kept")
        elif args.keys_command == "revoke":
            info = keys.revoke(args.key_id)
            _audit_cli(store, "keys revoke", {"key_id": info.key_id})
            _print(args, _key_record(info),
                   f"key {info.key_id} ({info.role.value}) revoked "
                   f"{info.revoked_at:%Y-%m-%d %H:%M} UTC")
        else:
            listed = keys.list()
            lines = [f"{k.key_id}  {k.role.value:12s} created {k.created_at:%Y-%m-%d %H:%M}  "
                     + (f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "live")
                     + (f"  {k.name}" if k.name else "") for k in listed]
            _print(args, {"keys": [_key_record(k) for k in listed]},
                   "\n".join(lines) if lines else "no API keys")
    return EXIT_OK


def cmd_audit(args) -> int:
    from service.audit import AuditTrail, anchor_path

    with _registry_engine(args) as store:
        check = AuditTrail(store.engine, anchor=anchor_path(store.home)).verify()
    payload = asdict(check)
    if check.intact:
        human = (f"audit trail intact: {check.rows} row(s); head row {check.head_id}, hash "
                 f"{check.head_hash}" if check.rows else "audit trail intact: no rows yet")
        if check.anchored_id is not None:
            human += (f"\nanchored outside the database up to row {check.anchored_id} "
                      f"({check.anchors} anchored head(s) found in the trail)")
    else:
        human = (f"audit trail BROKEN ({check.breach}) at row {check.first_bad_id}: "
                 f"{check.reason}")
    if check.note:
        human += f"\nnote: {check.note}"
    _print(args, payload, human)
    return EXIT_OK if check.intact else EXIT_FOUND


def cmd_serve(args) -> int:
    import cv2
    import uvicorn

    from service.api import create_app
    from service.settings import ServiceSettings

    overrides = {"registry": args.registry} if args.registry else {}
    if args.embedder:
        overrides["embedder"] = args.embedder
    app = create_app(ServiceSettings(**overrides))
    # requests already run side by side (``engine_workers``, one per core): OpenCV's own
    # threads inside each would only contend with the others
    cv2.setNumThreads(1)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return EXIT_OK


def cmd_demo(args) -> int:
    from service.demo import run_demo

    return run_demo(Path(args.dir), json_out=args.json)


def cmd_stats(args) -> int:
    from imprint.atomic import write_bytes
    from index.stats import AXES, EXAMINATION_ENDPOINTS, registry_stats, stats_csv, stats_record

    with _registry_engine(args) as store:
        stats = registry_stats(store, by=args.by or AXES, period=args.period, on=args.date,
                               endpoints=None if args.all_endpoints else EXAMINATION_ENDPOINTS)
    payload = stats_record(stats)
    if args.csv:
        try:
            write_bytes(Path(args.csv), stats_csv(stats).encode("utf-8"))
        except OSError as exc:
            raise OutputError(f"{args.csv}: cannot write the CSV ({exc})") from exc
        payload["csv"] = args.csv
    lines = [f"{stats.seals} filed seal(s); statuses on {stats.on:%Y-%m-%d %H:%M}"]
    for axis, tallies in stats.by.items():
        lines.append(f"by {axis}:")
        lines += [f"  {t.value if t.value is not None else '(none on file)':24s} {t.count:>9d}"
                  for t in tallies]
    if "events" in (args.by or AXES):
        lines.append(f"life events by {stats.period}:")
        lines += [f"  {t.period:8s} {t.kind:16s} {t.count:>9d}" for t in stats.events]
    if "accesses" in (args.by or AXES):
        lines.append(f"accesses by {stats.period} (audit trail: endpoint and outcome):")
        lines += [f"  {t.period:8s} {t.endpoint:16s} {t.outcome:20s} {t.count:>9d}"
                  for t in stats.accesses]
    if args.csv:
        lines.append(f"CSV written to {args.csv}")
    _print(args, payload, "\n".join(lines))
    return EXIT_OK


def _summary(summary) -> dict:
    return {"archive": str(summary.archive), "counts": summary.counts, "bytes": summary.bytes}


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in counts.items())


def cmd_registry(args) -> int:
    from index import exchange

    if args.registry_command == "check":
        summary = exchange.check_archive(args.archive)
        _print(args, _summary(summary), f"{args.archive}: intact, {_counted(summary.counts)}")
        return EXIT_OK
    with _registry_engine(args) as store:
        if args.registry_command == "export":
            summary = exchange.export_registry(store, args.target)
            _audit_cli(store, "registry export", {"target": str(args.target)})
            _print(args, _summary(summary), f"registry {store.home} exported to "
                                            f"{args.target}: {_counted(summary.counts)}")
            return EXIT_OK
        summary = exchange.import_registry(store, args.archive)
        _audit_cli(store, "registry import", {"archive": str(args.archive)})
    payload = _summary(summary)
    if not args.no_index:
        payload["index"] = _rebuilt_index(args)
    _print(args, payload, f"{args.archive} imported into {args.registry or 'the registry'}: "
                          f"{_counted(summary.counts)}"
                          + ("" if args.no_index else f"; index of {payload['index']} master(s) "
                                                      f"rebuilt"))
    return EXIT_OK


def _rebuilt_index(args) -> int:
    """Rebuild the vector index (and canonical imprints) from the store just written."""
    search = _search(args)
    with search.store:
        return len(search.rebuild())


def cmd_import_csv(args) -> int:
    from index.store import import_csv

    if not (args.units or args.seals or args.masters):
        raise InvalidParameterError("give at least one of --units, --seals, --masters")
    with _registry_engine(args) as store:
        report = import_csv(store, args.units, args.seals, args.masters,
                            base_dir=args.base_dir, encoding=args.encoding)
        _audit_cli(store, "registry import-csv",
                   {k: str(v) for k, v in (("units", args.units), ("seals", args.seals),
                                           ("masters", args.masters)) if v})
    payload = asdict(report)
    if report.imported and not args.no_index:
        search = _search(args)
        with search.store:
            payload["index"] = len(search.index())  # brought in line with the new masters
    lines = [f"{report.rows_read} row(s) read: {report.imported} imported, {report.skipped} "
             f"refused"]
    lines += [f"  {e.file} line {e.line}" + (f" [{e.column}]" if e.column else "")
              + f": {e.message}" for e in report.errors]
    _print(args, payload, "\n".join(lines))
    return EXIT_OK if not report.errors else EXIT_FOUND


def cmd_seal(args) -> int:
    from index.lookalike import kept_warnings, lookalike_record, lookalike_text

    if (args.seal_id is None) == (args.chip is None):
        raise InvalidParameterError("give a SEAL_ID or --chip SERIAL, one of them")
    with _registry_engine(args) as store:
        seal = store.seal_by_chip(args.chip) if args.chip else store.get_seal(args.seal_id)
        status = store.status(seal.seal_id, args.date)
        events = store.events_of(seal.seal_id)
        masters = store.masters_of(seal.seal_id)
        warnings = kept_warnings(store.engine, seal.seal_id)
    record = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
              for k, v in asdict(seal).items()}
    payload = {**record, "status": status.value,
               "events": [{"id": e.id, "kind": e.kind.value, "effective": e.effective.isoformat(),
                           "detail": e.detail, "replaced_by": e.replaced_by} for e in events],
               "masters": [{"id": m.id, "sha256": m.sha256, "dpi": m.dpi} for m in masters],
               "lookalike_warnings": [lookalike_record(w) for w in warnings]}
    lines = [f"seal {seal.seal_id} ({seal.kind}) of {seal.unit_name}: {status.value}",
             f"  code {seal.code or '-'}, engraver {seal.engraver or '-'}, chip "
             f"{seal.chip_serial or '-'}, filed {seal.filed_at:%Y-%m-%d %H:%M}, "
             f"{len(masters)} master(s)"]
    lines += [f"  {e.effective:%Y-%m-%d %H:%M} {e.kind.value}"
              + (f" -> {e.replaced_by}" if e.replaced_by else "")
              + (f": {e.detail}" if e.detail else "") for e in events]
    lines += [f"  warned at filing: {lookalike_text(w)}" for w in warnings]
    _print(args, payload, "\n".join(lines))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imprint",
        description="Seal imprint forensic comparison engine.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="build the demo registry under data/ and run the engine")
    demo.add_argument("--dir", default=str(DEFAULT_DEMO_DIR), help="demo directory")
    demo.add_argument("--json", action="store_true", help="machine-readable output")
    demo.set_defaults(func=cmd_demo)

    det = sub.add_parser("detect", help="find, separate and rectify every imprint in a file")
    det.add_argument("file", help="image (PNG, JPEG, TIFF, BMP, WebP) or PDF")
    det.add_argument("--json", action="store_true", help="machine-readable output")
    det.add_argument("--debug-dir", help="write each imprint's crop and an annotated overlay")
    det.add_argument("--pdf-dpi", type=_positive, default=300, help="PDF rendering dpi")
    det.set_defaults(func=cmd_detect)

    registry = argparse.ArgumentParser(add_help=False)
    registry.add_argument("--registry", default=None,
                          help="registry directory or database URL (default: $IMPRINT_HOME, "
                               "else ./data/registry)")
    registry.add_argument("--embedder", default=None,
                          help="classical or learned (default: the engine's default)")
    registry.add_argument("--json", action="store_true", help="machine-readable output")

    reg = sub.add_parser("register", parents=[registry],
                         help="file a master imprint (IMAGE holding exactly one imprint)")
    reg.add_argument("image", help="image or one-page PDF holding the seal's imprint")
    reg.add_argument("--seal-id", required=True)
    reg.add_argument("--unit", required=True, help="the owning unit's name")
    reg.add_argument("--kind", default=None, help="seal kind (default: from the imprint's shape)")
    reg.add_argument("--code", default=None, help="the seal's code")
    reg.add_argument("--uscc", default=None, help="the unit's unified social credit code")
    reg.add_argument("--dpi", type=_positive, default=None,
                     help="scan resolution when the file does not record it")
    reg.set_defaults(func=cmd_register)

    cas = sub.add_parser("cases", help="suspect imprints filed under case numbers, and "
                                       "counterfeit seals linked across cases")
    csub = cas.add_subparsers(dest="cases_command", required=True)
    cfile = csub.add_parser("file", parents=[registry],
                            help="examine a document and file its suspect imprints (suspected "
                                 "forgeries, or matching no filed seal) under a case")
    csearch = csub.add_parser("search", parents=[registry],
                              help="examine a document against the registry and the earlier "
                                   "case imprints, filing nothing")
    for p in (cfile, csearch):
        p.add_argument("image", help="image (PNG, JPEG, TIFF, BMP, WebP) or PDF")
        p.add_argument("--date", type=_date, default=None, help="the document's date")
        p.add_argument("--pdf-dpi", type=_positive, default=300, help="PDF rendering dpi")
        p.set_defaults(func=cmd_cases)
    cfile.add_argument("--case", required=True, help="the case number")
    clist = csub.add_parser("list", parents=[registry], help="filed case imprints")
    clist.add_argument("--case", default=None, help="only this case")
    clist.set_defaults(func=cmd_cases)

    ide = sub.add_parser("identify", parents=[registry],
                         help="which filed seal is each imprint in a file meant to be (1:N)")
    ide.add_argument("image", help="image (PNG, JPEG, TIFF, BMP, WebP) or PDF")
    ide.add_argument("--top-k", type=_positive, default=5, help="candidates per imprint")
    ide.add_argument("--date", type=_date, default=None,
                     help="the document's date (YYYY-MM-DD): the seal's status on that day")
    ide.add_argument("--pdf-dpi", type=_positive, default=300, help="PDF rendering dpi")
    ide.set_defaults(func=cmd_identify)

    ver = sub.add_parser("verify", parents=[registry],
                         help="1:1: is the imprint in IMAGE the named seal's, or a forgery?")
    ver.add_argument("image", help="image (PNG, JPEG, TIFF, BMP, WebP) or PDF")
    ver.add_argument("--seal-id", required=True, help="the registered seal it claims to be")
    ver.add_argument("--date", type=_date, default=None,
                     help="the document's date (YYYY-MM-DD): the seal's status on that day")
    ver.add_argument("--report", default=None,
                     help="write the report: .html, .pdf, .png or .json by the suffix")
    ver.add_argument("--pdf-dpi", type=_positive, default=300, help="PDF rendering dpi")
    ver.add_argument("--chip", default=None, metavar="SERIAL",
                     help="the serial read from the seal's chip: flagged unless it is the "
                          "seal's filed chip")
    ver.set_defaults(func=cmd_verify)

    swp = sub.add_parser("sweep", parents=[registry],
                         help="examine every document of an archive; flagged imprints first "
                              "(exit 0 clean, 1 flagged, 2 some file failed)")
    swp.add_argument("paths", nargs="+", metavar="PATH",
                     help="files, directories, globs, PDFs or zip archives")
    swp.add_argument("--out", required=True, help="output directory (journal and results)")
    swp.add_argument("--workers", type=_positive, default=1,
                     help="worker processes or Ray actors (default 1)")
    swp.add_argument("--resume", action="store_true",
                     help="continue the sweep journaled in --out; done documents are kept")
    swp.add_argument("--engine", choices=["local", "ray"], default="local",
                     help="local processes, or Ray actors (pip install 'imprint[ray]')")
    swp.add_argument("--ray-address", default=None,
                     help="Ray cluster to join (default: start a local Ray instance)")
    swp.add_argument("--dates", default=None,
                     help="CSV of file,date (YYYY-MM-DD): each document's date, for its "
                          "seals' status; file is its name, path under the input, file name "
                          "or SHA-256")
    swp.add_argument("--date", type=_date, default=None,
                     help="the date of documents not in --dates (default: status now)")
    swp.add_argument("--top-k", type=_positive, default=5, help="candidates per imprint")
    swp.add_argument("--pdf-dpi", type=_positive, default=300, help="PDF rendering dpi")
    swp.set_defaults(func=cmd_sweep)

    idx = sub.add_parser("index", help="the registry's vector index")
    isub = idx.add_subparsers(dest="index_command", required=True)
    for name, text in (("rebuild", "rebuild it from the registry store"),
                       ("status", "bring it in line with the store and report it")):
        p = isub.add_parser(name, parents=[registry], help=text)
        p.set_defaults(func=cmd_index)

    keys = sub.add_parser("keys", help="API keys of the service (only their hashes are kept)")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    kcreate = ksub.add_parser("create", parents=[registry],
                              help="create a key for a role; the key is shown once")
    # the roles of service.auth.Role, spelled out so the parser needs no database code
    kcreate.add_argument("--role", required=True,
                         choices=["registrar", "investigator", "bank", "auditor", "admin"])
    kcreate.add_argument("--name", default=None, help="who or what holds the key")
    kcreate.set_defaults(func=cmd_keys)
    ksub.add_parser("list", parents=[registry], help="every key, live and revoked"
                    ).set_defaults(func=cmd_keys)
    krevoke = ksub.add_parser("revoke", parents=[registry], help="revoke a key for good")
    krevoke.add_argument("key_id")
    krevoke.set_defaults(func=cmd_keys)

    audit = sub.add_parser("audit", help="the service's audit trail")
    asub = audit.add_subparsers(dest="audit_command", required=True)
    asub.add_parser("verify", parents=[registry],
                    help="recompute the hash chain and check it against the head anchored "
                         "outside the database: exit 0 intact, 1 broken (first bad row named)"
                    ).set_defaults(func=cmd_audit)

    serve = sub.add_parser("serve", parents=[registry], help="start the HTTP service (/v1)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_positive, default=8000)
    serve.set_defaults(func=cmd_serve)

    seal = sub.add_parser("seal", parents=[registry],
                          help="read a filed seal, by its id or by its chip serial")
    seal.add_argument("seal_id", nargs="?", default=None, help="the seal's id")
    seal.add_argument("--chip", default=None, metavar="SERIAL",
                      help="find the seal by the serial of its security chip instead")
    seal.add_argument("--date", type=_date, default=None,
                      help="the status on this date (YYYY-MM-DD; default: now)")
    seal.set_defaults(func=cmd_seal)

    stats = sub.add_parser("stats", parents=[registry],
                           help="count seals by kind, status, engraver, region, period; life "
                                "events and examination accesses by period")
    # the axes of index.stats.AXES, spelled out so the parser needs no database code
    stats.add_argument("--by", action="append", default=None,
                       choices=["kind", "status", "engraver", "region", "period", "events",
                                "accesses"],
                       help="what to count (repeatable; default: everything)")
    stats.add_argument("--period", choices=["month", "year"], default="month",
                       help="period of filing, events and accesses (default: month)")
    stats.add_argument("--date", type=_date, default=None,
                       help="statuses in force at the end of this date (default: now)")
    stats.add_argument("--all-endpoints", action="store_true",
                       help="count accesses to every endpoint, not only examinations")
    stats.add_argument("--csv", default=None, metavar="FILE",
                       help="also write the counts as one CSV table")
    stats.set_defaults(func=cmd_stats)

    rex = sub.add_parser("registry", help="export or import the whole registry; import CSV")
    rsub = rex.add_subparsers(dest="registry_command", required=True)
    rexport = rsub.add_parser("export", parents=[registry],
                              help="write units, seals, masters and events to an archive "
                                   "(a new directory, or a .zip)")
    rexport.add_argument("target", help="a path that does not exist yet; .zip for a zip file")
    rexport.set_defaults(func=cmd_registry)
    rimport = rsub.add_parser("import", parents=[registry],
                              help="import an archive into an empty registry (checked first)")
    rimport.add_argument("archive", help="an archive directory or .zip")
    rimport.add_argument("--no-index", action="store_true",
                         help="do not rebuild the vector index now (it is on next use)")
    rimport.set_defaults(func=cmd_registry)
    rcheck = rsub.add_parser("check", parents=[registry],
                             help="check an archive's checksums and rows; write nothing")
    rcheck.add_argument("archive")
    rcheck.set_defaults(func=cmd_registry)
    rcsv = rsub.add_parser("import-csv", parents=[registry],
                           help="migrate another system's CSV export; a report per refused row "
                                "(exit 1 when any row is refused)")
    rcsv.add_argument("--units", default=None, help="units CSV: name, uscc, ...")
    rcsv.add_argument("--seals", default=None, help="seals CSV: seal_id, unit, kind, ...")
    rcsv.add_argument("--masters", default=None, help="masters CSV: seal_id, path, dpi")
    rcsv.add_argument("--base-dir", default=None,
                      help="where master paths are relative to (default: the masters CSV's "
                           "directory)")
    rcsv.add_argument("--encoding", default="utf-8-sig",
                      help="the CSV files' encoding (e.g. gb18030; default utf-8, BOM or not)")
    rcsv.add_argument("--no-index", action="store_true",
                      help="do not bring the vector index in line now")
    rcsv.set_defaults(func=cmd_import_csv)

    synth = sub.add_parser("synth", help="generate seals, imprints, forgeries and pages")
    ssub = synth.add_subparsers(dest="synth_command", required=True)
    ds = ssub.add_parser("dataset", help="a registry with masters, query sets and pages")
    ds.add_argument("--out", required=True, help="output directory")
    ds.add_argument("--seed", type=_count, required=True)
    ds.add_argument("--seals", type=_positive, default=20, help="filed seals (default 20)")
    ds.add_argument("--queries", type=_count, default=4, help="imprints per query set")
    ds.add_argument("--pages", type=_count, default=4, help="A4 pages")
    ds.add_argument("--unregistered", type=_count, default=10, help="never-filed seals")
    ds.add_argument("--sets", default="", help="comma-separated query sets (default: all)")
    ds.add_argument("--dpi", type=_count, default=0,
                    help="dpi of queries and pages; 0 (default) draws 150-600 per image")
    ds.add_argument("--master-dpi", type=_positive, default=300)
    ds.add_argument("--workers", type=_positive, default=1)
    ds.add_argument("--json", action="store_true")
    ds.set_defaults(func=cmd_synth_dataset)
    imp = ssub.add_parser("imprints", help="imprints of one seal kind, genuine or forged")
    imp.add_argument("--out", required=True, help="output directory")
    imp.add_argument("--kind", default="round_official",
                     help="round_official, round_government, oval_invoice or square_name")
    imp.add_argument("--count", type=_count, default=8)
    imp.add_argument("--seed", type=_count, required=True)
    imp.add_argument("--forgery", default="none",
                     help="none, recarved, photo_engraved or printed")
    imp.add_argument("--level", default="clear", help="re-carving level: clear or subtle")
    imp.add_argument("--quality", default="typical", help="clean, typical or poor")
    imp.add_argument("--capture", default="", help="scan, photocopy, fax or phone (default: mixed)")
    imp.add_argument("--dpi", type=_positive, default=300)
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=cmd_synth_imprints)
    sheet = ssub.add_parser("sheet",
                            help="a labelled contact sheet of kinds, conditions, forgeries")
    sheet.add_argument("--out", required=True, help="PNG path")
    sheet.add_argument("--seed", type=_count, default=2026)
    sheet.add_argument("--json", action="store_true")
    sheet.set_defaults(func=cmd_synth_sheet)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ImprintError as exc:
        print(f"imprint: error: {exc}", file=sys.stderr)
        return next((code for cls, code in EXIT_CODES.items() if isinstance(exc, cls)),
                    EXIT_USAGE)
    except KeyboardInterrupt:
        print("imprint: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
