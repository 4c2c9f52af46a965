"""Where a sweep's documents are examined: in this process, in a pool of worker processes on
this machine, or in Ray actors on a cluster. Each engine feeds :class:`Task` s to examiners that
each hold the engine opened once, and hands every :class:`DocumentResult` to ``handle`` in the
driver as it arrives (the driver journals it before anything else).

Work in flight is bounded (:data:`IN_FLIGHT_PER_WORKER` documents per worker), so memory stays
bounded however large the archive. Once ``cancel`` is set no more documents are handed out:
those not yet started are taken back (the pool's pending futures cancelled), and those in a
worker's hands are waited for and handed to ``handle`` like any other. A worker that dies
(killed, out of memory) fails the documents it may have held with ``retry`` set, and a fresh
worker takes its place.

Ray: with no ``address`` a local Ray instance is started with ``workers`` CPUs and stopped
again afterwards; with one (``auto``, ``ray://head:10001``) the sweep joins that cluster. The
documents and the registry must then be reachable from every node under the same paths (a
shared file system; or the registry at a database URL).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from imprint.errors import InvalidParameterError, ResourceError
from service.sweep.worker import (
    DocumentResult,
    Examiner,
    ExaminerSettings,
    SweepError,
    Task,
    examine_in_worker,
    init_worker,
    single_threaded,
)

LOG = logging.getLogger(__name__)

ENGINES = ("local", "ray")
#: Documents handed to one worker at a time: one being examined and one waiting, so that a
#: worker never idles while the driver journals.
IN_FLIGHT_PER_WORKER = 2
#: Pools (or actors) replaced after dying before any document came back: then the workers
#: cannot start at all, and the sweep stops instead of trying for ever.
MAX_FRESH_DEATHS = 3
#: How often a pool or Ray driver waiting for results looks at ``cancel``, s.
CANCEL_POLL_S = 0.2

Handle = Callable[[DocumentResult], None]


def run(tasks: Sequence[Task], settings: ExaminerSettings, handle: Handle, *, workers: int,
        engine: str = "local", examiner: Examiner | None = None,
        ray_address: str | None = None, cancel: threading.Event | None = None) -> None:
    """Examine every task (until ``cancel`` is set); ``examiner`` (already open in this
    process) serves a local sweep with one worker."""
    if engine not in ENGINES:
        raise InvalidParameterError(f"engine must be one of {ENGINES}, got {engine!r}")
    if workers < 1:
        raise InvalidParameterError(f"workers must be at least 1, got {workers}")
    if not tasks:
        return
    halted = cancel.is_set if cancel is not None else _never
    if engine == "ray":
        _run_ray(tasks, settings, handle, workers=workers, address=ray_address, halted=halted)
    elif workers == 1:
        _run_here(tasks, settings, handle, examiner, halted=halted)
    else:
        _run_pool(tasks, settings, handle, workers=workers, halted=halted)


def _never() -> bool:
    return False


def _died(task: Task, why: str) -> DocumentResult:
    return DocumentResult(task.sha256, task.document.name,
                          task.on.isoformat() if task.on else None, "failed", 0, (),
                          SweepError("worker_died", f"{why}; --resume tries it again",
                                     retry=True), 0.0)


def _run_here(tasks: Sequence[Task], settings: ExaminerSettings, handle: Handle,
              examiner: Examiner | None, *, halted: Callable[[], bool] = _never) -> None:
    import cv2
    import torch

    before = cv2.getNumThreads(), torch.get_num_threads()
    own = examiner is None
    examiner = examiner or Examiner(settings)
    single_threaded()  # as in a worker, so one worker here measures what one worker does
    try:
        for task in tasks:
            if halted():
                break
            handle(examiner.examine(task))
    finally:
        cv2.setNumThreads(before[0])
        torch.set_num_threads(before[1])
        if own:
            examiner.close()


def _run_pool(tasks: Sequence[Task], settings: ExaminerSettings, handle: Handle, *,
              workers: int, halted: Callable[[], bool] = _never) -> None:
    # spawn: a fresh interpreter per worker, safe whatever threads the caller (a notebook,
    # torch) has started; the engine is opened once per worker by the initializer
    context = multiprocessing.get_context("spawn")
    queue = list(reversed(tasks))
    fresh_deaths = 0
    poll = None if halted is _never else CANCEL_POLL_S
    while queue and not halted():
        got_one = False
        in_flight: dict[Future, Task] = {}
        with ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker,
                                 initargs=(settings,)) as pool:
            broken = None
            while queue or in_flight:
                if halted():  # take back what no worker has started; wait for the rest
                    queue.clear()
                    for future in [f for f in in_flight if f.cancel()]:
                        del in_flight[future]
                while queue and not broken and len(in_flight) < IN_FLIGHT_PER_WORKER * workers:
                    task = queue.pop()
                    try:
                        in_flight[pool.submit(examine_in_worker, task)] = task
                    except BrokenProcessPool as exc:
                        queue.append(task)
                        broken = exc
                if not in_flight:
                    break
                done, _ = wait(in_flight, timeout=poll, return_when=FIRST_COMPLETED)
                for future in done:
                    task = in_flight.pop(future)
                    try:
                        result = future.result()
                        got_one = True
                    except BrokenProcessPool as exc:
                        broken = exc
                        result = _died(task, "a worker process died while this document was "
                                             "in its hands")
                    handle(result)
        if broken is not None and not halted():
            fresh_deaths = 0 if got_one else fresh_deaths + 1
            if fresh_deaths >= MAX_FRESH_DEATHS:
                raise ResourceError(f"the sweep's worker processes die before examining any "
                                    f"document ({broken})")
            LOG.warning("a sweep worker died (%s); starting a fresh pool", broken)


class _RayExaminer:
    """A Ray actor holding one :class:`Examiner`."""

    def __init__(self, settings: ExaminerSettings) -> None:
        single_threaded()
        self.examiner = Examiner(settings)

    def examine(self, task: Task) -> DocumentResult:
        return self.examiner.examine(task)


def _run_ray(tasks: Sequence[Task], settings: ExaminerSettings, handle: Handle, *,
             workers: int, address: str | None, halted: Callable[[], bool] = _never) -> None:
    try:
        import ray
        from ray.exceptions import RayActorError, RayTaskError
    except ImportError:
        raise InvalidParameterError(
            "--engine ray needs Ray: pip install 'imprint[ray]'") from None
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        started = True
    actor_class = ray.remote(num_cpus=1, max_restarts=0)(_RayExaminer)
    try:
        actors = [actor_class.remote(settings) for _ in range(workers)]
        load = {a: 0 for a in actors}
        queue = list(reversed(tasks))
        in_flight: dict = {}  # ObjectRef -> (actor, task)
        fresh_deaths = 0
        poll = None if halted is _never else CANCEL_POLL_S
        while in_flight or (queue and not halted()):
            for actor in list(load):
                while queue and not halted() and load[actor] < IN_FLIGHT_PER_WORKER:
                    task = queue.pop()
                    in_flight[actor.examine.remote(task)] = (actor, task)
                    load[actor] += 1
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=poll)
            if not ready:
                continue
            (ref,) = ready
            actor, task = in_flight.pop(ref)
            try:
                result = ray.get(ref)
                load[actor] -= 1
                fresh_deaths = 0
            except RayActorError as exc:
                result = _died(task, f"the Ray actor examining it died ({exc.__class__.__name__})")
                if actor in load:  # replace it once; its other tasks fail the same way
                    del load[actor]
                    fresh_deaths += 1
                    if fresh_deaths >= MAX_FRESH_DEATHS:
                        raise ResourceError(
                            f"the sweep's Ray actors die before examining any document ({exc})"
                        ) from exc
                    load[actor_class.remote(settings)] = 0
            except RayTaskError as exc:  # examine() returns failures; this is the actor's own
                load[actor] -= 1
                result = DocumentResult(task.sha256, task.document.name,
                                        task.on.isoformat() if task.on else None, "failed", 0,
                                        (), SweepError("internal_error", str(exc).splitlines()[0],
                                                       retry=True), 0.0)
            handle(result)
    finally:
        if started:
            ray.shutdown()
