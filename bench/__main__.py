"""Benchmarks, run on demand: ``python -m bench [SECTION ...] [--quick]``.

Each section prints a table and writes a JSON record and a plot under ``bench/out/``. Later
stages add their own sections to :data:`SECTIONS`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench import cases, crops, detect, identify, machine, service, sweep, synth, vectors, verify

SECTIONS = {"synth": synth.run, "detect": detect.run, "crops": crops.run,
            "vectors": vectors.run, "identify": identify.run, "verify": verify.run,
            "service": service.run, "sweep": sweep.run, "cases": cases.run}
OUT = Path(__file__).resolve().parent / "out"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("sections", nargs="*", default=list(SECTIONS),
                        help=f"sections to run (default all: {', '.join(SECTIONS)})")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    parser.add_argument("--out", default=str(OUT), help="where to write tables and plots")
    parser.add_argument("--seals", type=int, default=None,
                        help="identify: filed seals in the test registry (default 10,000)")
    parser.add_argument("--queries", type=int, default=None,
                        help="identify: probes per query set (default 500)")
    parser.add_argument("--runs", type=int, default=None,
                        help="service: load tests run, each from a fresh server; the target is "
                             "read on their median p99 (default 3, --quick 1)")
    parser.add_argument("--fit", action="store_true",
                        help="verify: refit the evidence fusion on the training sets and "
                             "recalibrate it (writes models/weights/verifier.json)")
    args = parser.parse_args(argv)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    line, speed = machine.describe()
    print(line)
    for name in args.sections:
        sizes = {"seals": args.seals, "queries": args.queries} if name == "identify" else {}
        if name == "verify":
            sizes = {"refit": args.fit}
        if name == "service":
            sizes = {"runs": args.runs}
        record = SECTIONS[name](out, quick=args.quick, **sizes)
        record["machine"] = speed
        (out / f"{name}.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
