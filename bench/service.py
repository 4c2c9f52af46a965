"""The HTTP service under load, on loopback: bank counters verifying while a registrar files.

A registry is built afresh under ``bench/out/service_data`` (:data:`N_FILED` generated round
seals filed through the filing code, untimed; a bank key and a registrar key), and the real
service is started as its own process (``imprint serve``) on a free loopback port. Then, for
60 s (``--quick``: 15 s), :data:`CLIENTS` bank clients, each a thread with its own connection,
call ``POST /v1/verify`` in a closed loop (the next request as soon as the answer is in), each
with a scanner's crop around a genuine imprint of a filed seal (:data:`QUERIES` different
ones, 300 dpi JPEG). :data:`FILING_START_S` into the window a registrar files
:data:`N_FILINGS` new seals (``POST /v1/seals``) from :data:`FILERS` threads of its own.

Every latency is taken at the client, from sending the request to having read the whole
answer; the clients share the machine with the server. The service runs the engine work of
at most ``engine_workers`` requests at once (default: the cores, here 2; a verification in a
worker process of its own), so a request waits behind those queued before it: under a closed
loop of N clients on C cores, latency is about N / C times the processor time of one request
(one request alone, measured first as the untimed warm-up, is printed beside the table).

After the service is stopped, every filing answered 201 is looked up in the store (seal,
master, master image intact) and in the vector index as the service saved it, and the audit
trail is checked: one row per request and the hash chain intact. Errors: any verification
not answered 2xx (transport failures included) and any 5xx. Target: p99 <=
:data:`TARGET_P99_MS` ms, no errors and no filing lost. Writes ``service_latency.png``
(latency over time, histogram).

A run's p99 rests on its slowest dozen requests, which the machine's own noise moves by a
tenth from one minute to the next; so the whole test (a fresh registry, a fresh server) runs
:data:`RUNS` times (``--runs``; ``--quick``: once), each run's table is printed, and the
target is read on the median of the runs' p99, with no error and no filing lost in any run.
Each run writes ``service_latency_N.png``, and ``service_latency.png`` shows the runs side by
side.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from imprint.errors import ImprintError
from imprint.synth.dataset import write_image
from imprint.synth.medium import Capture
from imprint.synth.registry import SealRecord, make_registry
from imprint.synth.scene import genuine_stamping, imprint_scene
from index.errors import RegistryError
from index.filing import file_master
from index.identify import SealSearch
from index.store import RegistryStore
from index.vectors import VectorIndex
from service.audit import AuditTrail
from service.auth import KeyRing, Role

SEED = 20261128
N_FILED = 20  # seals in the registry before the load
N_FILINGS = 20  # new seals filed during the load
QUERIES = 4  # different counter scans, each of a different filed seal
CLIENTS = 8  # concurrent bank clients
FILERS = 2  # registrar threads
FILING_START_S = 5.0
DURATION_S = {True: 15.0, False: 60.0}  # by quick
RUNS = {True: 1, False: 3}  # by quick
TARGET_P99_MS = 500.0
DPI = 300
EMBEDDER = "classical"
SCAN = Capture("scan", 0, 0.3, 0.003)
JPEG_QUALITY = 90  # what a counter scanner sends
TIMEOUT_S = 120.0  # per request, at the client: the service's own default limit
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Upload:
    seal_id: str
    unit: str
    name: str
    data: bytes
    media_type: str


def _imprint(path: Path, record: SealRecord, seed: int, *, quality: str, clutter: bool,
             jpeg_quality: int = 0) -> Upload:
    rng = np.random.default_rng([SEED, seed])
    st = genuine_stamping(record.face(), rng, ink=record.spec.ink, seal_id=record.seal_id,
                          quality=quality)
    image, _ = imprint_scene(st, dpi=DPI, rng=rng, clutter=clutter, capture=SCAN)
    write_image(path, image, DPI, jpeg_quality=jpeg_quality)
    return Upload(record.seal_id, record.unit_name, path.name, path.read_bytes(),
                  "image/jpeg" if jpeg_quality else "image/png")


def _round_seals(n: int) -> list[SealRecord]:
    size = 2 * n
    while True:
        records = [r for r in make_registry(size, np.random.default_rng(SEED), lookalike_rate=0,
                                            sibling_rate=0) if r.spec.kind == "round_official"]
        if len(records) >= n:
            return records[:n]
        size *= 2


def _setup(data: Path, n_filings: int) -> tuple[dict[str, str], list[Upload], list[Upload]]:
    """The registry with its filed seals and keys; the counter scans; the masters to file."""
    if data.exists():
        shutil.rmtree(data)
    images = data / "images"
    images.mkdir(parents=True)
    records = _round_seals(N_FILED + n_filings)
    filed, new = records[:N_FILED], records[N_FILED:]
    masters = [_imprint(images / f"{r.seal_id}_master.png", r, i, quality="clean",
                        clutter=False) for i, r in enumerate(filed)]
    queries = [_imprint(images / f"{r.seal_id}_counter.jpg", r, 1000 + i, quality="typical",
                        clutter=True, jpeg_quality=JPEG_QUALITY)
               for i, r in enumerate(filed[:QUERIES])]
    burst = [_imprint(images / f"{r.seal_id}_master.png", r, 2000 + i, quality="clean",
                      clutter=False) for i, r in enumerate(new)]
    with RegistryStore.open(data / "registry") as store:
        search = SealSearch(store, EMBEDDER)
        for m in masters:
            file_master(search, images / m.name, seal_id=m.seal_id, unit=m.unit)
        ring = KeyRing(store.engine)
        keys = {role.value: ring.create(role, f"bench {role.value}").secret
                for role in (Role.BANK, Role.REGISTRAR)}
    return keys, queries, burst


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, n: int = 20) -> str:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-n:])


class Server:
    """``imprint serve`` as a child process, its output in ``log``."""

    def __init__(self, registry: Path, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--registry", str(registry),
             "--embedder", EMBEDDER, "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.exit_code: int | None = None
        self.clean_stop = False

    def wait_ready(self, timeout: float = 120.0) -> float:
        t0 = time.perf_counter()
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the service exited with {self.proc.returncode}:\n"
                                       f"{_tail(self.log)}")
                try:
                    if client.get("/v1/health").status_code == 200:
                        return time.perf_counter() - t0
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"the service did not answer /v1/health in {timeout:.0f} s:\n"
                           f"{_tail(self.log)}")

    def stop(self) -> None:
        """SIGINT (uvicorn's graceful shutdown), then SIGTERM, then SIGKILL."""
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGINT, 30), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout=wait)
                    self.clean_stop = sig == signal.SIGINT
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.exit_code = self.proc.returncode
        self._log.close()


def _client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                        timeout=TIMEOUT_S)


def _call(client: httpx.Client, path: str, up: Upload, field: str, data: dict,
          t0: float) -> dict:
    start = time.perf_counter()
    try:
        r = client.post(path, files={field: (up.name, up.data, up.media_type)}, data=data)
        status, body = r.status_code, r.json()
    except (httpx.HTTPError, ValueError) as exc:
        status, body = None, {"error": {"code": type(exc).__name__}}
    end = time.perf_counter()
    return {"t": start - t0, "ms": 1000 * (end - start), "end": end - t0, "status": status,
            "seal_id": up.seal_id, "body": body}


def _verifier(url: str, key: str, queries: list[Upload], first: int, t0: float,
              stop_at: float, records: list[dict]) -> None:
    with _client(url, key) as client:
        i = first
        while time.perf_counter() < stop_at:
            up = queries[i % len(queries)]
            i += 1
            rec = _call(client, "/v1/verify", up, "file", {"seal_id": up.seal_id}, t0)
            body = rec.pop("body")
            rec["verdict"] = body.get("verdict")
            rec["error"] = (body.get("error") or {}).get("code")
            records.append(rec)


def _filer(url: str, key: str, burst: list[Upload], t0: float, records: list[dict]) -> None:
    time.sleep(max(0.0, t0 + FILING_START_S - time.perf_counter()))
    with _client(url, key) as client:
        for up in burst:
            rec = _call(client, "/v1/seals", up, "image", {"seal_id": up.seal_id,
                                                            "unit": up.unit}, t0)
            body = rec.pop("body")
            rec["master_id"] = (body.get("master") or {}).get("id")
            rec["error"] = (body.get("error") or {}).get("code")
            records.append(rec)


def _load(server: Server, keys: dict[str, str], queries: list[Upload], burst: list[Upload],
          duration: float) -> tuple[list[dict], list[dict], list[dict]]:
    warm = []
    with _client(server.url, keys["bank"]) as client:  # untimed: caches, imports, first use
        for up in queries:
            rec = _call(client, "/v1/verify", up, "file", {"seal_id": up.seal_id}, 0.0)
            if rec["status"] != 200:
                raise RuntimeError(f"warm-up verification of {up.name} answered "
                                   f"{rec['status']}: {rec['body']}")
            warm.append({"seal_id": up.seal_id, "ms": rec["ms"],
                         "verdict": rec["body"]["verdict"]})
    verifies: list[dict] = []
    filings: list[dict] = []
    t0 = time.perf_counter()
    stop_at = t0 + duration
    threads = [threading.Thread(target=_verifier, args=(server.url, keys["bank"], queries, i,
                                                        t0, stop_at, verifies), daemon=True)
               for i in range(CLIENTS)]
    threads += [threading.Thread(target=_filer, args=(server.url, keys["registrar"],
                                                      burst[i::FILERS], t0, filings),
                                 daemon=True) for i in range(FILERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return warm, verifies, filings


def _check(registry: Path, filings: list[dict], n_verifies: int) -> dict:
    """Each filing answered 201 in the store (seal, master, its image) and in the vector index
    as the service saved it (loaded as saved, not brought in line with the store, which would
    add what is missing); the audit trail."""
    confirmed, lost, missing = 0, [], {}
    with RegistryStore.open(registry) as store:
        search = SealSearch(store, EMBEDDER)
        saved = VectorIndex.load(search.index_path, expect_model_id=search.embedder.model_id,
                                 expect_dimension=search.embedder.dimension)
        in_index = set(saved.ids().tolist())
        for f in filings:
            if f["status"] != 201:
                continue
            problems = []
            try:
                masters = {m.id: m for m in store.masters_of(f["seal_id"])}
            except RegistryError:
                masters = {}
                problems.append("seal not in the store")
            if f["master_id"] not in masters:
                problems.append("master not in the store")
            else:
                try:
                    store.load_master_image(masters[f["master_id"]])
                except (ImprintError, OSError) as exc:
                    problems.append(f"master image unreadable: {exc}")
            if f["master_id"] not in in_index:
                problems.append("master not in the index")
            if problems:
                lost.append(f["seal_id"])
                missing[f["seal_id"]] = problems
            else:
                confirmed += 1
        counts = store.counts()
        trail = AuditTrail(store.engine)
        check = trail.verify()
        rows = Counter()
        after = 0
        while page := trail.query(after_id=after, limit=1000):
            rows.update((r.method, r.endpoint, r.role) for r in page)
            after = page[-1].id
    return {"confirmed": confirmed, "lost": lost, "problems": missing,
            "index_size": len(in_index), "store_masters": counts["masters"],
            "store_seals": counts["seals"],
            "audit_intact": check.intact, "audit_rows": check.rows,
            "audit_reason": check.reason,
            "audit_verify_rows": rows[("POST", "/v1/verify", "bank")],
            "audit_filing_rows": rows[("POST", "/v1/seals", "registrar")],
            "verify_answered": n_verifies}


def _pct(ms: np.ndarray, q: float) -> float | None:
    return float(np.percentile(ms, q)) if ms.size else None


def run(out: Path, *, quick: bool = True, duration: float | None = None,
        filings: int | None = None, runs: int | None = None) -> dict:
    """The load test :data:`RUNS` times (``runs``), each from a fresh registry and server;
    with more than one, the record holds every run and the target is read on their median
    p99."""
    runs = RUNS[quick] if runs is None else runs
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    if runs == 1:
        return _run_once(out, quick=quick, duration=duration, filings=filings,
                         plot=out / "service_latency.png")
    done = []
    for k in range(1, runs + 1):
        print(f"\n# run {k} of {runs}")
        done.append(_run_once(out, quick=quick, duration=duration, filings=filings,
                              plot=out / f"service_latency_{k}.png"))
    summary = _over_runs(done)
    _print_runs(summary)
    _plot_runs(summary, out / "service_latency.png")
    print(f"\nplot of the runs: {out / 'service_latency.png'}")
    return summary


def _over_runs(done: list[dict]) -> dict:
    """The runs' figures side by side, their medians, and the target read on the median p99
    (every run without an error, a lost filing or a broken audit trail)."""
    def median(key: str) -> float | None:
        vals = [d[key] for d in done if d[key] is not None]
        return float(np.median(vals)) if vals else None

    p99 = median("p99_ms")
    sound = all(d["errors"] == 0 and d["filings_lost"] == 0 and d["check"]["audit_intact"]
                for d in done)
    return {"runs": done, "n_runs": len(done),
            "p99_ms_runs": [d["p99_ms"] for d in done],
            "p50_ms_runs": [d["p50_ms"] for d in done],
            "throughput_rps_runs": [d["throughput_rps"] for d in done],
            "p99_ms_median": p99, "p50_ms_median": median("p50_ms"),
            "throughput_rps_median": median("throughput_rps"),
            "runs_within_target": sum(d["p99_ms"] is not None
                                      and d["p99_ms"] <= TARGET_P99_MS for d in done),
            "errors": sum(d["errors"] for d in done),
            "filings_lost": sum(d["filings_lost"] for d in done),
            "target_p99_ms": TARGET_P99_MS,
            "passed": bool(p99 is not None and p99 <= TARGET_P99_MS and sound)}


def _print_runs(s: dict) -> None:
    print(f"\n## service: {s['n_runs']} runs\n")
    print("| run | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | "
          "filings lost |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k, d in enumerate(s["runs"], 1):
        rps = "-" if d["throughput_rps"] is None else f"{d['throughput_rps']:.2f}"
        print(f"| {k} | {d['requests']} | {rps} | {_ms(d['p50_ms'])} | {_ms(d['p90_ms'])} | "
              f"{_ms(d['p99_ms'])} | {_ms(d['max_ms'])} | {d['errors']} | "
              f"{d['filings_lost']} of {d['filings_sent']} |")
    rps = s["throughput_rps_median"]
    print(f"| median | | {'-' if rps is None else f'{rps:.2f}'} | {_ms(s['p50_ms_median'])} | "
          f"| {_ms(s['p99_ms_median'])} | | {s['errors']} | {s['filings_lost']} |")
    print(f"\ntarget: median p99 over the runs <= {s['target_p99_ms']:.0f} ms "
          f"({s['runs_within_target']} of {s['n_runs']} runs within it), no errors, no filing "
          f"lost, audit trail intact in every run: {'PASS' if s['passed'] else 'FAIL'}")


def _run_once(out: Path, *, quick: bool, duration: float | None, filings: int | None,
              plot: Path) -> dict:
    """One load test: a fresh registry and server, the load, the checks; its table printed
    and its plot written to ``plot``."""
    duration = DURATION_S[quick] if duration is None else duration
    n_filings = N_FILINGS if filings is None else filings
    data = out / "service_data"
    t_setup = time.perf_counter()
    keys, queries, burst = _setup(data, n_filings)
    setup_s = time.perf_counter() - t_setup
    server = Server(data / "registry", data / "server.log")
    try:
        startup_s = server.wait_ready()
        warm, verifies, filed = _load(server, keys, queries, burst, duration)
    finally:
        server.stop()
    check = _check(data / "registry", filed,
                   len(warm) + sum(v["status"] is not None for v in verifies))
    log_text = server.log.read_text(encoding="utf-8", errors="replace")

    ms = np.array([v["ms"] for v in verifies])
    span = max((v["end"] for v in verifies), default=0.0)
    verify_errors = [v for v in verifies if v["status"] is None or not 200 <= v["status"] < 300]
    server_errors = [r for r in verifies + filed if r["status"] is not None and r["status"] >= 500]
    filing_errors = [f for f in filed if f["status"] != 201]
    errors = len(verify_errors) + sum(f["status"] is None or f["status"] >= 500
                                      for f in filing_errors)
    if filed:
        burst_from = min(f["t"] for f in filed)
        burst_to = max(f["end"] for f in filed)
    else:
        burst_from = burst_to = 0.0
    during = np.array([v["ms"] for v in verifies if burst_from <= v["t"] < burst_to])
    outside = np.array([v["ms"] for v in verifies if not burst_from <= v["t"] < burst_to])
    filing_ms = np.array([f["ms"] for f in filed])
    p99 = _pct(ms, 99)
    passed = bool(p99 is not None and p99 <= TARGET_P99_MS and errors == 0
                  and not check["lost"])
    summary = {
        "duration_s": duration, "clients": CLIENTS, "filers": FILERS, "seals_filed": N_FILED,
        "query_files": QUERIES, "dpi": DPI, "embedder": EMBEDDER, "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "setup_s": setup_s, "startup_s": startup_s,
        "warm_up": warm, "alone_ms_median": float(np.median([w["ms"] for w in warm])),
        "requests": len(verifies), "span_s": span,
        "throughput_rps": len(verifies) / span if span else None,
        "p50_ms": _pct(ms, 50), "p90_ms": _pct(ms, 90), "p99_ms": p99,
        "max_ms": float(ms.max()) if ms.size else None,
        "p50_ms_during_filings": _pct(during, 50), "p50_ms_outside_filings": _pct(outside, 50),
        "requests_during_filings": int(during.size),
        "statuses": dict(Counter(str(v["status"]) for v in verifies)),
        "verdicts": dict(Counter(str(v["verdict"]) for v in verifies if v["status"] == 200)),
        "errors": errors, "verify_errors": len(verify_errors),
        "server_errors_5xx": len(server_errors),
        "error_codes": dict(Counter(str(r["error"]) for r in verify_errors + filing_errors)),
        "filings_sent": len(filed), "filings_201": sum(f["status"] == 201 for f in filed),
        "filings_confirmed": check["confirmed"], "filings_lost": len(check["lost"]),
        "filings_refused": {f["seal_id"]: [f["status"], f["error"]] for f in filing_errors},
        "filing_window_s": [burst_from, burst_to],
        "filing_p50_ms": _pct(filing_ms, 50),
        "filing_max_ms": float(filing_ms.max()) if filing_ms.size else None,
        "check": check,
        "server_exit_code": server.exit_code, "server_clean_stop": server.clean_stop,
        "server_log_error_lines": sum(line.startswith("ERROR") or "Traceback" in line
                                      for line in log_text.splitlines()),
        "target_p99_ms": TARGET_P99_MS, "passed": passed,
        "timeline": {"verify": [[round(v["t"], 3), round(v["ms"], 1), v["status"]]
                                for v in verifies],
                     "filing": [[round(f["t"], 3), round(f["ms"], 1), f["status"]]
                                for f in filed]},
    }
    _print(summary)
    _plot(summary, plot)
    print(f"\nplot: {plot}")
    return summary


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def _print(s: dict) -> None:
    print(f"\n## service: {s['clients']} bank clients on POST /v1/verify for "
          f"{s['duration_s']:g} s (closed loop, {s['query_files']} counter scans at "
          f"{s['dpi']} dpi), {s['filings_sent']} filings by {s['filers']} registrar threads "
          f"from {FILING_START_S:g} s; registry of {s['seals_filed']} seals; loopback, "
          f"{s['cpus']} CPUs, load average {s['load_average'] or float('nan'):.1f} at the end\n")
    print("| requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | filings sent | "
          "confirmed | lost |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rps = "-" if s["throughput_rps"] is None else f"{s['throughput_rps']:.2f}"
    print(f"| {s['requests']} | {rps} | {_ms(s['p50_ms'])} | {_ms(s['p90_ms'])} | "
          f"{_ms(s['p99_ms'])} | {_ms(s['max_ms'])} | {s['errors']} | {s['filings_sent']} | "
          f"{s['filings_confirmed']} | {s['filings_lost']} |")
    print(f"\none verification alone (warm-up, before the load): median "
          f"{_ms(s['alone_ms_median'])} ms")
    print(f"verify p50 while filings ran: {_ms(s['p50_ms_during_filings'])} ms "
          f"({s['requests_during_filings']} requests), otherwise "
          f"{_ms(s['p50_ms_outside_filings'])} ms; filing p50 {_ms(s['filing_p50_ms'])} ms, "
          f"max {_ms(s['filing_max_ms'])} ms")
    print(f"statuses {s['statuses']}, verdicts {s['verdicts']}")
    if s["error_codes"]:
        print(f"errors by code: {s['error_codes']}")
    if s["filings_refused"]:
        print(f"filings not answered 201: {s['filings_refused']}")
    c = s["check"]
    if c["problems"]:
        print(f"filings lost: {c['problems']}")
    trail = "intact" if c["audit_intact"] else f"BROKEN: {c['audit_reason']}"
    print(f"audit trail {trail}, {c['audit_rows']} rows; {c['audit_verify_rows']} verify rows "
          f"for {c['verify_answered']} answered (warm-up included), "
          f"{c['audit_filing_rows']} filing rows for {s['filings_sent']} sent; server stopped "
          f"{'cleanly' if s['server_clean_stop'] else 'by force'} (exit {s['server_exit_code']}),"
          f" {s['server_log_error_lines']} error lines in its log")
    print(f"target: p99 <= {s['target_p99_ms']:.0f} ms, no errors: "
          f"{'PASS' if s['passed'] else 'FAIL'}")


def _plot_runs(s: dict, path: Path) -> None:
    """Each run's latencies as a distribution (the share of requests answered within a
    time) and each run's p50 and p99 against the target, with their medians."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cx, bx) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    target = s["target_p99_ms"]
    lows = []
    for k, d in enumerate(s["runs"], 1):
        ms = np.sort([row[1] for row in d["timeline"]["verify"]])
        if ms.size:
            cx.plot(ms, np.arange(1, ms.size + 1) / ms.size, lw=1.2,
                    label=f"run {k}: p99 {_ms(d['p99_ms'])} ms")
            lows.append(np.percentile(ms, 40))
    cx.axvline(target, color="grey", ls=":", label="p99 target")
    cx.axhline(0.99, color="0.7", lw=0.8)
    if lows:
        cx.set_xlim(left=0.95 * min(lows))
    cx.set_ylim(0.5, 1.002)
    cx.set_xlabel("latency at the client (ms)")
    cx.set_ylabel("share of verifications answered within it")
    cx.set_title(f"{s['n_runs']} runs, each {s['runs'][0]['clients']} bank clients for "
                 f"{s['runs'][0]['duration_s']:g} s")
    cx.legend(fontsize=7, loc="lower right")
    cx.grid(True, alpha=0.3)
    x = np.arange(1, s["n_runs"] + 1)
    p50 = [np.nan if v is None else v for v in s["p50_ms_runs"]]
    p99 = [np.nan if v is None else v for v in s["p99_ms_runs"]]
    bx.bar(x - 0.2, p50, 0.4, label="p50")
    bx.bar(x + 0.2, p99, 0.4, label="p99")
    bx.axhline(target, color="grey", ls=":", label="p99 target")
    if s["p99_ms_median"] is not None:
        bx.axhline(s["p99_ms_median"], color="tab:orange", ls="--", lw=1,
                   label=f"median p99 {_ms(s['p99_ms_median'])} ms")
    bx.set_ylim(0, 1.3 * max([target, *[v for v in p99 if v == v]]))
    bx.set_xticks(x)
    bx.set_xlabel("run")
    bx.set_ylabel("ms")
    bx.set_title("PASS" if s["passed"] else "FAIL")
    bx.legend(fontsize=7, loc="upper right", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot(s: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, hx) = plt.subplots(1, 2, figsize=(11, 4.5),
                                 gridspec_kw={"width_ratios": [2, 1]})
    v = np.array([[t, ms] for t, ms, st in s["timeline"]["verify"] if st is not None
                  and 200 <= st < 300]).reshape(-1, 2)
    bad = np.array([[t, ms] for t, ms, st in s["timeline"]["verify"] if st is None
                    or not 200 <= st < 300]).reshape(-1, 2)
    f = np.array([[t, ms] for t, ms, _ in s["timeline"]["filing"]]).reshape(-1, 2)
    lo, hi = s["filing_window_s"]
    if hi > lo:
        ax.axvspan(lo, hi, color="0.9", label="filings in flight")
    ax.scatter(v[:, 0], v[:, 1], s=6, label="verify (bank)")
    if bad.size:
        ax.scatter(bad[:, 0], bad[:, 1], s=14, marker="x", color="red", label="verify error")
    if f.size:
        ax.scatter(f[:, 0], f[:, 1], s=14, marker="^", color="tab:orange",
                   label="filing (registrar)")
    ax.axhline(s["target_p99_ms"], color="grey", ls=":", label="p99 target")
    ax.set_xlabel("request sent at (s into the load)")
    ax.set_ylabel("latency at the client (ms)")
    ax.set_title(f"{s['clients']} bank clients, closed loop, {s['duration_s']:g} s")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, alpha=0.3)
    ms = np.array([row[1] for row in s["timeline"]["verify"]])
    if ms.size:
        hx.hist(ms, bins=40, color="tab:blue")
        for q, style in (("p50_ms", "-"), ("p99_ms", "--")):
            hx.axvline(s[q], color="black", ls=style, label=f"{q[:3]} {s[q]:.0f} ms")
    hx.axvline(s["target_p99_ms"], color="grey", ls=":", label="p99 target")
    hx.set_xlabel("verify latency (ms)")
    hx.set_ylabel("requests")
    hx.set_title(f"{s['requests']} verifications, {s['errors']} errors")
    hx.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
