"""The ``imprint`` command line.

Exit codes: 0 success; 1 the work ran and found a problem (``detect``: no imprint found;
``identify``: no imprint found, or an imprint that matches no registered seal); 2 bad usage or
bad input (a typed :class:`~imprint.errors.ImprintError` with a one-line message on stderr);
3 an output could not be written.
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
               "registry": str(search.store.home)}
    size = f", {g.size_mm[0]:.1f} x {g.size_mm[1]:.1f} mm" if g.size_mm else ""
    _print(args, payload,
           f"filed master {filed.master.id} of {'new ' if filed.new_seal else ''}seal "
           f"{filed.seal.seal_id} ({filed.seal.kind}, {filed.unit.name}){size}; "
           f"border visible {q.border_visible:.0%}, occluded {q.occluded:.0%}\n"
           f"registry: {search.store.home}")
    return EXIT_OK


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
        found = verify_pages(search, pages, args.seal_id, on=args.date, what=str(args.image))
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
    lines += [f"  - {r}" for r in c.reasons]
    if args.report:
        lines.append(f"  report: {payload['report']}")
    _print(args, payload, "\n".join(lines))
    return EXIT_OK if c.verdict == "genuine" and v.status_flag is None else EXIT_FOUND


def cmd_index(args) -> int:
    search = _search(args)
    with search.store:
        t0 = time.perf_counter()
        index = search.rebuild() if args.index_command == "rebuild" else search.index()
        took = time.perf_counter() - t0
        counts = search.store.counts()
    payload = {"path": str(search.index_path), "model_id": index.model_id,
               "dimension": index.dimension, "factory": index.factory, "count": len(index),
               "masters_in_store": counts["masters"], "seconds": round(took, 2)}
    left_out = counts["masters"] - len(index)
    _print(args, payload,
           f"{search.index_path}: {len(index)} master(s), model {index.model_id}, "
           f"{index.factory}, {took:.1f} s"
           + (f"; {left_out} master(s) hold no usable imprint (see the log)" if left_out else ""))
    return EXIT_OK


def _registry_engine(args):
    from index.store import RegistryStore

    return RegistryStore.open(args.registry)


def _key_record(info) -> dict:
    return {"key_id": info.key_id, "role": info.role.value, "name": info.name,
            "created_at": info.created_at.isoformat(),
            "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None}


def _audit_cli(store, command: str, inputs: dict[str, str]) -> None:
    """Key management is itself an access: it goes on the trail, done from the command line."""
    from service.audit import Access, AuditTrail, sha256_hex

    AuditTrail(store.engine).append(Access(
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
    from service.audit import AuditTrail

    with _registry_engine(args) as store:
        check = AuditTrail(store.engine).verify()
    payload = asdict(check)
    if check.intact:
        human = (f"audit trail intact: {check.rows} row(s); head row {check.head_id}, hash "
                 f"{check.head_hash}" if check.rows else "audit trail intact: no rows yet")
    else:
        human = f"audit trail BROKEN at row {check.first_bad_id}: {check.reason}"
    _print(args, payload, human)
    return EXIT_OK if check.intact else EXIT_FOUND


def cmd_serve(args) -> int:
    import uvicorn

    from service.api import create_app
    from service.settings import ServiceSettings

    overrides = {"registry": args.registry} if args.registry else {}
    if args.embedder:
        overrides["embedder"] = args.embedder
    app = create_app(ServiceSettings(**overrides))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return EXIT_OK


def cmd_demo(args) -> int:
    from service.demo import run_demo

    return run_demo(Path(args.dir), json_out=args.json)


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
    ver.set_defaults(func=cmd_verify)

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
                    help="recompute the hash chain: exit 0 intact, 1 broken (first bad row named)"
                    ).set_defaults(func=cmd_audit)

    serve = sub.add_parser("serve", parents=[registry], help="start the HTTP service (/v1)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_positive, default=8000)
    serve.set_defaults(func=cmd_serve)

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
