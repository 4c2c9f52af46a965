"""The engine's worker processes: jobs run in another process, with the registry the service
has, and a worker that dies costs its own job only."""

from __future__ import annotations

import os
import sys

import pytest

from index.store import RegistryStore
from service.errors import EngineUnavailableError, status_of
from service.workers import EnginePool, WorkerRegistry


def _worker_pid(_: object) -> int:
    return os.getpid()


def _worker_home(_: object) -> str:
    from service import workers

    return str(workers._search().store.home)


def _die(_: object) -> None:
    os._exit(3)  # as a worker killed for memory would


@pytest.fixture
def pool(tmp_path):
    with RegistryStore.open(tmp_path / "registry") as store:
        registry = WorkerRegistry.of(store, "classical")
    pool = EnginePool(registry, 1)
    yield pool
    pool.close()


def test_a_job_runs_in_a_worker_on_the_same_registry(pool, tmp_path):
    pool.start()
    assert pool.run(_worker_pid, None) != os.getpid()
    assert pool.run(_worker_home, None) == str(tmp_path / "registry")


def _priorities(_: object) -> tuple[int, int]:
    """(the job's own thread's niceness, its write transactions')."""
    from service.workers import writes

    return os.nice(0), writes(lambda: os.nice(0))


def test_the_filing_pool_runs_at_a_lower_priority_but_its_writes_at_the_services(tmp_path,
                                                                                  pool):
    """A filing runs at the lowered priority; on Linux, where priorities are per thread, its
    write transactions run at the service's, so that none holds the database's lock while the
    scheduler keeps it waiting."""
    with RegistryStore.open(tmp_path / "registry") as store:
        registry = WorkerRegistry.of(store, "classical")
    filer = EnginePool(registry, 1, nice=7)
    here, lowered = os.nice(0), min(19, os.nice(0) + 7)
    try:
        written = here if sys.platform.startswith("linux") else lowered
        assert filer.run(_priorities, None) == (lowered, written)
        assert pool.run(_priorities, None) == (here, here)  # the engine workers' own
    finally:
        filer.close()


def test_a_dead_worker_answers_503_and_the_next_job_runs(pool):
    first = pool.run(_worker_pid, None)
    with pytest.raises(EngineUnavailableError) as caught:
        pool.run(_die, None)
    assert status_of(caught.value) == 503
    assert caught.value.code == "engine_unavailable"
    assert pool.run(_worker_pid, None) not in (first, os.getpid())


def test_workers_exit_when_the_service_is_killed(tmp_path):
    """A service killed outright cannot shut its pool down: its workers notice and exit
    rather than live on holding the registry open."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = f"""
import sys
from index.store import RegistryStore
from service.workers import EnginePool, WorkerRegistry
from tests.service.test_workers import _worker_pid
with RegistryStore.open({str(tmp_path / "registry")!r}) as store:
    registry = WorkerRegistry.of(store, "classical")
pool = EnginePool(registry, 1)
print(pool.run(_worker_pid, None), flush=True)
sys.stdin.read()
"""
    root = Path(__file__).resolve().parents[2]
    service = subprocess.Popen([sys.executable, "-c", script], cwd=root, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        worker = int(service.stdout.readline())
        os.kill(worker, 0)  # alive while the service is
        service.send_signal(signal.SIGKILL)
        service.wait(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.kill(worker, signal.SIGKILL)
            pytest.fail("the worker outlived the killed service")
    finally:
        service.kill()
