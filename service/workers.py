"""Engine work in worker processes, so that the requests examined at once each have a core.

Threads of one process share the interpreter's lock: two 1:1 verifications run side by side in
threads get about a sixth less done than in two processes (measured with the engine alone, on
two cores). Each worker opens the registry once, with its own connection; the database is the
source of truth, so a seal filed or a status changed through the service is what the next job
reads. The pool starts its workers on first use (:meth:`EnginePool.start` starts them ahead),
and a fresh pool replaces one whose worker died: the job it was doing answers
:class:`~service.errors.EngineUnavailableError`, the next one runs.

A job is a plain function of picklable arguments run in a worker (:func:`verify_document`,
:func:`file_document`), and answers picklable data: the service does the rest (audit,
metrics, the response).

Filings run in a pool of their own, one process at a lower scheduling priority (``nice``): a
registrar's filing waits a little longer for the processor while a bank counter's
verification, with a customer at the counter, is not held up by it. It takes no engine slot,
so the verifications keep every core. Its write transactions run in a thread of their own at
the service's priority (Linux sets priorities per thread): a transaction holds the database's
write lock, and the service appends an audit row before every answer; a filing the scheduler
kept waiting mid-transaction kept every answer waiting with it (under load, a transaction of
2 to 5 ms held the lock for up to 45 ms at ``nice`` 10, 160 ms at 19).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

from imprint.io import LoadLimits
from imprint.report import overlay_png
from index.filing import file_master
from index.identify import SealSearch
from index.lookalike import Lookalike
from index.store import MasterInfo, RegistryStore, SealInfo, UnitInfo
from service.detect import imprint_record
from service.engine import verification_record, verify_upload
from service.errors import EngineUnavailableError
from service.sweep.worker import exit_with_parent, keep_heap, single_threaded

T = TypeVar("T")
J = TypeVar("J")


@dataclass(frozen=True)
class WorkerRegistry:
    """What a worker opens: the registry's database ``url`` (password included), the
    directory of its files, and the embedder the service runs."""

    url: str
    home: str
    embedder: str | None

    @classmethod
    def of(cls, store: RegistryStore, embedder: str | None) -> WorkerRegistry:
        return cls(store.engine.url.render_as_string(hide_password=False), str(store.home),
                   embedder)


_SEARCH: SealSearch | None = None
#: Where a worker at a lowered priority runs its write transactions: a thread started before
#: the priority was lowered, which keeps the service's (None: in the job's own thread).
_WRITER: ThreadPoolExecutor | None = None


def _open(registry: WorkerRegistry, nice: int = 0) -> None:
    """Pool initializer: one thread for each library (the parallelism is the workers'), the
    heap kept between requests, the scheduling priority lowered by ``nice`` (on Linux all but
    the write transactions', :func:`writes`), and the registry opened once."""
    global _SEARCH, _WRITER
    single_threaded()
    exit_with_parent()
    keep_heap()
    # (opening the registry writes: its tables made where missing)
    store = RegistryStore.open(registry.url, masters_dir=registry.home)
    if nice > 0:
        if sys.platform.startswith("linux"):
            _WRITER = ThreadPoolExecutor(1, thread_name_prefix="store-writes")
            _WRITER.submit(int).result()  # its thread started now, before the priority falls
        os.nice(nice)  # on Linux this thread's alone
    _SEARCH = SealSearch(store, registry.embedder)


def writes(work: Callable[[], T]) -> T:
    """``work()``, a write transaction, at the service's priority where this worker keeps a
    thread for them, else here; its errors raised here."""
    if _WRITER is None:
        return work()
    return _WRITER.submit(work).result()


def _ready() -> bool:
    return _SEARCH is not None


def _search() -> SealSearch:
    if _SEARCH is None:
        raise RuntimeError("the engine worker was not initialised")
    return _SEARCH


@dataclass(frozen=True)
class VerifyJob:
    """A saved upload to verify against a seal named by id or code (see
    :func:`service.engine.verify_pages`); ``name`` the file as the client named it."""

    path: str
    name: str
    seal_id: str | None
    seal_code: str | None
    on: date | None
    chip_serial: str | None
    limits: LoadLimits
    deadline: float


@dataclass(frozen=True)
class VerifyAnswer:
    """A verified document: its ``record`` (:func:`service.engine.verification_record`), the
    parts a bank counter is given, and the overlay as PNG bytes."""

    record: dict
    verdict: str
    status: str
    chip_flag: str | None
    overlay_png: bytes


def verify_document(job: VerifyJob) -> VerifyAnswer:
    """Run in a worker: the 1:1 verification of ``POST /v1/verify``."""
    found = verify_upload(_search(), Path(job.path), name=job.name, seal_id=job.seal_id,
                          seal_code=job.seal_code, on=job.on, limits=job.limits,
                          deadline=job.deadline, chip_serial=job.chip_serial)
    c = found.verification.comparison
    return VerifyAnswer(verification_record(found, file=job.name), c.verdict,
                        found.verification.status.value,
                        found.chip.flag if found.chip else None, overlay_png(c))


@dataclass(frozen=True)
class FileJob:
    """A saved upload to file as a master of seal ``seal_id``: a new seal of ``unit`` (with
    its ``kind``, ``code`` and ``uscc``) when ``new``, else one more master of a filed seal.
    The upload is loaded under the service's ``limits``."""

    path: str
    seal_id: str
    unit: str
    new: bool
    limits: LoadLimits
    kind: str | None = None
    code: str | None = None
    uscc: str | None = None
    dpi: float | None = None


@dataclass(frozen=True)
class FiledAnswer:
    """What a filing did (:class:`index.filing.Filed`), the imprint as its JSON record."""

    unit: UnitInfo
    seal: SealInfo
    master: MasterInfo
    new_seal: bool
    imprint: dict
    warnings: tuple[Lookalike, ...]


def file_document(job: FileJob) -> FiledAnswer:
    """Run in the filing worker: ``POST /v1/seals`` and ``POST /v1/seals/{id}/masters``."""
    filed = file_master(_search(), job.path, seal_id=job.seal_id, unit=job.unit,
                        kind=job.kind, code=job.code, dpi=job.dpi, uscc=job.uscc,
                        limits=job.limits, write=writes)
    return FiledAnswer(filed.unit, filed.seal, filed.master, filed.new_seal,
                       imprint_record(filed.imprint.detection, filed.imprint), filed.warnings)


class EnginePool:
    """``workers`` engine processes over one registry, at scheduling priority ``nice``
    (0: the service's own)."""

    def __init__(self, registry: WorkerRegistry, workers: int, *, nice: int = 0) -> None:
        self.registry = registry
        self.workers = workers
        self.nice = nice
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # spawned, not forked: the service's threads and open connections stay behind
                self._executor = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_open, initargs=(self.registry, self.nice))
            return self._executor

    def start(self) -> None:
        """Start every worker now (opening the registry), so that the first requests do not
        wait for them; returns at once."""
        pool = self._pool()
        for _ in range(self.workers):
            pool.submit(_ready)

    def run(self, job: Callable[[J], T], arg: J) -> T:
        """``job(arg)`` in a worker, waited for; the job's own errors are raised here."""
        pool = self._pool()
        try:
            return pool.submit(job, arg).result()
        except BrokenProcessPool as exc:
            with self._lock:
                if self._executor is pool:
                    self._executor = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise EngineUnavailableError("an engine worker stopped while doing this request "
                                         "(out of memory?); send it again") from exc

    def close(self) -> None:
        with self._lock:
            pool, self._executor = self._executor, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
