"""A server killed (SIGKILL) in the middle of filing a seal (``POST /v1/seals``) leaves the
registry consistent: after a restart every filed seal has its master, the index holds exactly
the store's masters, and each killed filing either exists whole or not at all; the uploads the
killed servers held are removed when the service starts again.

The kill lands at a known point: the server runs in a subprocess (:func:`serve_paused`) whose
filing process has one step of the filing wrapped to leave a marker file and then stall
(:func:`open_paused`); the test waits for the marker and kills the server, and its filing
process exits with it. The points, in filing order:

- ``in_transaction``: the master's image written, the unit, seal and master rows inserted but
  not committed (the seal must not exist after the restart);
- ``before_index``: the rows committed, the master not yet in the vector index (the seal must
  exist, and the index be brought in line when it is opened);
- ``before_response``: filed and indexed, the response not yet sent (the seal must exist).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from index.identify import SealSearch
from index.store import RegistryStore
from service.auth import KeyRing, Role
from service.engine import PARTIAL_REPORT_AGE_S, REPORTS_DIR, clear_partial_reports
from service.uploads import UPLOADS_DIR
from tests.service.conftest import generated_seals

ROOT = Path(__file__).resolve().parents[2]
PHASE_ENV = "IMPRINT_CRASH_PHASE"
MARKER_ENV = "IMPRINT_CRASH_MARKER"
#: Where each killed filing must stand after the restart: filed (True) or not at all (False).
PHASES = {"in_transaction": False, "before_index": True, "before_response": True}
STALL_S = 120.0  # far longer than the test waits: the kill always comes first
START_TIMEOUT_S = 90.0


def serve_paused(fd: int, registry: str) -> None:
    """Run the service on the listening socket ``fd``, its engine processes started by
    :func:`open_paused`. Runs in the subprocess the test kills."""
    import uvicorn

    from service import workers
    from service.api import create_app
    from service.settings import ServiceSettings

    workers._open = open_paused  # the pools name their initializer when they start
    app = create_app(ServiceSettings(registry=registry, embedder="classical"))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.run(sockets=[socket.socket(fileno=fd)])


def open_paused(*args) -> None:
    """An engine process's initializer with the filing step named by ``$IMPRINT_CRASH_PHASE``
    stalled after writing ``$IMPRINT_CRASH_MARKER`` (no phase: as it is)."""
    from service import workers

    phase, marker = os.environ.get(PHASE_ENV), Path(os.environ.get(MARKER_ENV, os.devnull))

    def stall(step, *, before: bool):
        def stalled(*args, **kwargs):
            if before:
                marker.write_text(phase)
                time.sleep(STALL_S)
            out = step(*args, **kwargs)
            if not before:
                marker.write_text(phase)
                time.sleep(STALL_S)
            return out
        return stalled

    if phase == "in_transaction":  # inside file_with_master's transaction, rows flushed
        RegistryStore._insert_seal = staticmethod(stall(RegistryStore._insert_seal,
                                                        before=False))
    elif phase == "before_index":
        SealSearch.follow = stall(SealSearch.follow, before=True)
    elif phase == "before_response":
        SealSearch.follow = stall(SealSearch.follow, before=False)
    workers._open(*args)


class ServerProcess:
    """``serve_paused`` in a subprocess on a loopback socket the test bound."""

    def __init__(self, registry: Path, phase: str | None, marker: Path) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        env = {**os.environ, MARKER_ENV: str(marker), "PYTHONPATH": str(ROOT)}
        env.pop(PHASE_ENV, None)
        if phase:
            env[PHASE_ENV] = phase
        code = (f"from tests.service.test_crash import serve_paused; "
                f"serve_paused({self.sock.fileno()}, {str(registry)!r})")
        self.proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                                     pass_fds=[self.sock.fileno()])
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(self.url + "/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("the service did not start")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.sock.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.sock.close()


def _file(url: str, key: str, seal, answers: list) -> None:
    try:
        r = httpx.post(url + "/v1/seals", headers={"Authorization": f"Bearer {key}"},
                       files={"image": (seal.master.name, seal.master.read_bytes(), "image/png")},
                       data={"seal_id": seal.seal_id, "unit": seal.unit}, timeout=STALL_S)
        answers.append(r.status_code)
    except httpx.TransportError as exc:  # the server died under the request, as meant
        answers.append(type(exc).__name__)


def _wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, "the server exited before the filing reached its stall"
        assert time.monotonic() < deadline, "the filing never reached its stall"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def seals(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    return generated_seals(root, len(PHASES) + 1, seed=4300)


def test_a_filing_killed_midway_leaves_the_registry_consistent(seals, tmp_path):
    home = tmp_path / "registry"
    with RegistryStore.open(home) as store:
        keys = KeyRing(store.engine)
        key = keys.create(Role.REGISTRAR, "crash test").secret
        auditor = keys.create(Role.AUDITOR, "crash test").secret

    # one seal filed normally first, so the index is not empty when the crashes come
    plain = ServerProcess(home, None, tmp_path / "unused")
    answers: list = []
    _file(plain.url, key, seals[-1], answers)
    assert answers == [201]
    plain.stop()

    uploads = home / UPLOADS_DIR
    for (phase, _), seal in zip(PHASES.items(), seals, strict=False):
        marker = tmp_path / f"{phase}.marker"
        server = ServerProcess(home, phase, marker)
        answers = []
        filing = threading.Thread(target=_file, args=(server.url, key, seal, answers))
        filing.start()
        _wait_for(marker, server.proc)
        server.kill()  # SIGKILL: no clean-up of any kind runs
        filing.join(timeout=30)
        assert answers and answers[0] != 201, f"{phase}: the filing was answered: {answers}"
        # the killed server left the upload it was filing (a customer's document); the ones
        # before it were removed when this server started
        assert len(list(uploads.glob("*/request-*/*"))) == 1, phase

    # restarted: the service opens the registry and brings the index in line with the store
    restarted = ServerProcess(home, None, tmp_path / "unused")
    try:
        # ... which the restarted service removed as it started
        assert not list(uploads.glob("*/request-*/*"))
        with httpx.Client(base_url=restarted.url,
                          headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
            for (phase, filed), seal in zip(PHASES.items(), seals, strict=False):
                r = client.get(f"/v1/seals/{seal.seal_id}")
                assert r.status_code == (200 if filed else 404), f"{phase}: {r.text}"
                if filed:
                    assert len(r.json()["masters"]) == 1, phase
                # filing it again: refused as a duplicate when it exists, accepted when it
                # left nothing behind
                again = client.post("/v1/seals", files={"image": (
                    seal.master.name, seal.master.read_bytes(), "image/png")},
                    data={"seal_id": seal.seal_id, "unit": seal.unit})
                assert again.status_code == (409 if filed else 201), f"{phase}: {again.text}"
        # the killed requests left no audit row, and the trail's chain is whole
        chain = httpx.get(restarted.url + "/v1/audit/verify", timeout=60,
                          headers={"Authorization": f"Bearer {auditor}"}).json()
        assert chain["intact"], chain
    finally:
        restarted.stop()
    assert not list(uploads.glob("server-*"))  # stopped cleanly: its own folder gone too

    with RegistryStore.open(home) as store:
        filed_seals = store.search(limit=1000)
        assert sorted(s.seal_id for s in filed_seals) == sorted(s.seal_id for s in seals)
        master_ids = set()
        for s in filed_seals:
            masters = store.masters_of(s.seal_id)
            assert len(masters) == 1, s.seal_id  # no seal without its master, none twice
            for m in masters:
                assert hashlib.sha256(m.path.read_bytes()).hexdigest() == m.sha256
                master_ids.add(m.id)
            units = [u for u in store.find_units(name=s.unit_name) if u.name == s.unit_name]
            assert len(units) == 1, s.unit_name  # a killed filing left no unit behind
        assert {mid for mid, _, _ in store.iter_masters()} == master_ids
        index = SealSearch(store, "classical").index()
        assert set(index.ids().tolist()) == master_ids


def test_partial_reports_left_by_a_dead_writer_are_cleared_at_start(tmp_path):
    """A report cut short leaves a hidden folder; the service removes those old enough that no
    live writer can own them, and leaves finished reports and fresh partial ones alone."""
    shelf = tmp_path / REPORTS_DIR
    stale, fresh, done = shelf / ".partial-aa", shelf / ".partial-bb", shelf / ("c" * 32)
    for folder in (stale, fresh, done):
        folder.mkdir(parents=True)
        (folder / "report.html").write_text("<html></html>", encoding="utf-8")
    long_ago = time.time() - 2 * PARTIAL_REPORT_AGE_S
    os.utime(stale, (long_ago, long_ago))
    assert clear_partial_reports(tmp_path) == 1
    assert not stale.exists() and fresh.is_dir() and done.is_dir()
