"""A sweep, top to bottom (:func:`sweep`):

1. open the engine once here (the registry is checked, its vector index brought in line);
2. walk the inputs (:mod:`~service.sweep.inputs`) and hash every document's content;
3. open the journal (:mod:`~service.sweep.journal`); with ``resume``, keep what it holds;
4. examine what is left (:mod:`~service.sweep.engines`), journaling each result as it arrives;
5. write JSONL, CSV, HTML and the summary from the journal (:mod:`~service.sweep.outputs`).

A caller may listen (``progress_hook``: documents done and in all, at the start and as each
result is journaled) and stop a sweep (``cancel``: an event checked between documents). A
cancelled sweep hands out no more documents, keeps every result journaled (those in the
workers' hands when it was cancelled too), and writes its outputs from what is done; the
summary says ``cancelled`` and how many documents were ``not_examined``; ``--resume`` examines
them.

Same content under several paths: examined once, under the first name in walking order; the
others are listed as ``also_at`` of its records (one filing scanned twice is worth knowing,
and counting its imprints twice would not be).

Exit codes (as ``imprint identify``): 0 every document read, no imprint flagged; 1 every
document read, some imprint flagged (tier 1 or 2, :mod:`~service.sweep.flags`); 2 some input
could not be read or examined (listed, never fatal to the others); 3 the results could not be
written.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path

from imprint.errors import ImprintError, InvalidParameterError
from imprint.pipeline import IMAGING_VERSION
from service.sweep import engines, outputs, summary_page
from service.sweep.flags import is_suspicious
from service.sweep.inputs import DateBook, Document, Inputs, read_dates, walk_inputs
from service.sweep.journal import Journal
from service.sweep.outputs import SweptDocument
from service.sweep.worker import DocumentResult, Examiner, ExaminerSettings, Task

EXIT_CLEAN, EXIT_FLAGGED, EXIT_FAILED = 0, 1, 2

#: ``progress_hook(done, total)``: documents with a result (journaled, or failed before they
#: could be examined) and documents in the sweep.
ProgressHook = Callable[[int, int], None]


@dataclass(frozen=True)
class Failure:
    """A document (or input) that could not be read or examined."""

    file: str
    code: str
    message: str


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep did. ``examined`` documents this run, ``reused`` from the journal
    (``--resume``), ``duplicates`` paths whose content was already listed under another name;
    ``pages`` and ``imprints`` over every document in the results; ``flags`` imprints per
    flag; ``pages_per_s`` pages examined this run per second of this run's examining (workers'
    start included), ``steady_pages_per_s`` the same once every worker is running.
    ``cancelled``: the sweep was stopped before every document was examined; the outputs hold
    the documents done, and ``not_examined`` documents are left for ``--resume``."""

    out_dir: str
    exit_code: int
    documents: int
    examined: int
    reused: int
    duplicates: int
    pages: int
    imprints: int
    flagged: int
    suspicious: int
    flags: dict[str, int]
    failures: tuple[Failure, ...]
    skipped: int
    seconds: float
    pages_per_s: float
    steady_pages_per_s: float | None
    engine: str
    workers: int
    outputs: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False
    not_examined: int = 0

    def to_json(self) -> dict:
        return asdict(self)


def resolve_registry(registry: str | os.PathLike[str] | None) -> str:
    """The registry as every worker will open it: a database URL as given, a directory as an
    absolute path (``None``: ``$IMPRINT_HOME``, else ``./data/registry``, as ``RegistryStore``)."""
    from index.store import DEFAULT_DIR

    target = os.fspath(registry) if registry is not None else (
        os.environ.get("IMPRINT_HOME") or os.fspath(DEFAULT_DIR))
    return target if "://" in target else os.path.abspath(target)


def sweep(paths: str | os.PathLike[str] | list[str | os.PathLike[str]],
          out: str | os.PathLike[str], *, workers: int = 1, resume: bool = False,
          engine: str = "local", registry: str | os.PathLike[str] | None = None,
          embedder: str | None = None, dates: str | os.PathLike[str] | Mapping[str, date]
          | None = None, date_all: date | None = None, top_k: int = 5,
          pdf_dpi: float = 300.0, ray_address: str | None = None,
          progress: bool | None = None, progress_hook: ProgressHook | None = None,
          cancel: threading.Event | None = None, examiner: Examiner | None = None,
          name_root: str | os.PathLike[str] | None = None) -> SweepSummary:
    """Sweep every document under ``paths`` (files, directories, globs, PDFs, zip archives)
    into ``out``; see the module docstring for the steps and the outputs.

    Parameters
    ----------
    workers
        Worker processes (``engine="local"``) or Ray actors (``engine="ray"``); each opens
        the registry and the model once. Local workers are started with ``spawn``: from a
        script, call :func:`sweep` under ``if __name__ == "__main__":`` (notebooks need
        nothing).
    resume
        Continue the sweep journaled in ``out``: documents done are not examined again,
        unfinished ones are; without it, an ``out`` holding a sweep is refused.
    dates
        Documents' dates: a CSV of ``file,date`` (:func:`~service.sweep.inputs.read_dates`),
        or a mapping of the same keys to dates. The seal's status is judged on a document's
        date; ``date_all`` for documents not named; without either, the status now.
    progress
        A progress bar on stderr (default: when stderr is a terminal).
    progress_hook
        Called as ``progress_hook(done, total)`` once before the first document is examined
        and after each result is journaled, in the sweep's thread (an exception it raises
        stops the sweep).
    cancel
        Checked between documents: once set, no more documents are handed out; see the module
        docstring.
    examiner
        An engine already open in this process (a service's), used instead of opening one;
        only with ``engine="local"`` and one worker. Its owner closes it.
    name_root
        Documents under this directory are named by their path below it (a service's uploads
        as their client named them); by default, by the paths as given.

    Returns the :class:`SweepSummary`; ``exit_code`` as in the module docstring.
    """
    t0 = time.perf_counter()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidParameterError(f"workers must be a positive integer, got {workers!r}")
    if engine not in engines.ENGINES:
        raise InvalidParameterError(f"engine must be one of {engines.ENGINES}, got {engine!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InvalidParameterError(f"top_k must be a positive integer, got {top_k!r}")
    if not pdf_dpi or not 50 <= pdf_dpi <= 1200:
        raise InvalidParameterError(f"pdf_dpi must be in 50..1200, got {pdf_dpi!r}")
    if examiner is not None and (engine != "local" or workers != 1):
        raise InvalidParameterError("an examiner of the caller's serves a local sweep with one "
                                    "worker only")
    book = (read_dates(dates, default=date_all) if isinstance(dates, str | os.PathLike)
            else DateBook(dict(dates or {}), date_all))
    out_dir = Path(out)
    settings = ExaminerSettings(resolve_registry(registry), embedder, top_k, float(pdf_dpi))
    listed = walk_inputs([paths] if isinstance(paths, str | os.PathLike) else list(paths))
    if name_root is not None:
        listed = _named_under(listed, os.fspath(name_root))

    own = examiner is None
    if examiner is None:
        examiner = Examiner(settings)  # checks the registry and brings its index in line once
    try:
        header = {"registry": settings.registry, "model_id": examiner.search.embedder.model_id,
                  "imaging": IMAGING_VERSION, "threshold": examiner.search.threshold,
                  "top_k": top_k, "pdf_dpi": pdf_dpi}
        with Journal.open(out_dir, header, resume=resume) as journal:
            show = sys.stderr.isatty() if progress is None else progress
            docs, tasks, reused = _plan(listed.documents, journal, book, show)
            bar = _progress_bar(len(tasks), show)
            state = {"pages": 0, "flagged": 0}
            arrivals: list[tuple[float, int]] = []  # (monotonic time, pages) per result
            handled: set[str] = set()  # content hashes journaled this run
            total = len(docs) + len(listed.unreadable)
            if progress_hook is not None:
                progress_hook(total - len(tasks), total)

            def handle(result: DocumentResult) -> None:
                journal.append(result)  # durable before it counts as done
                handled.add(result.sha256)
                if progress_hook is not None:
                    progress_hook(total - len(tasks) + len(handled), total)
                arrivals.append((time.perf_counter(), result.pages))
                state["pages"] += result.pages
                state["flagged"] += sum(1 for i in result.imprints if i.flags)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(pages=state["pages"], flagged=state["flagged"],
                                    refresh=False)

            t_examine = time.perf_counter()
            try:
                engines.run(tasks, settings, handle, workers=workers, engine=engine,
                            examiner=examiner, ray_address=ray_address, cancel=cancel)
            finally:
                if bar is not None:
                    bar.close()
            examine_s = time.perf_counter() - t_examine
            # cancelled: documents never examined are left out (the journal's older result of
            # one, examined on another date, would not be this sweep's)
            left = {t.sha256 for t in tasks} - handled
            swept = [SweptDocument(name, sha, tuple(also), journal.entries.get(sha) if sha
                                   else None, *(error or (None, None)))
                     for name, sha, also, error in docs if sha not in left]
            # inputs that could not even be listed (a missing path, a damaged zip) fail too
            swept += [SweptDocument(u.name, None, (), None, u.code, u.message)
                      for u in listed.unreadable]
            return _finish(out_dir, swept, header, len(handled), reused, state["pages"],
                           examine_s, _steady_rate(arrivals, workers),
                           time.perf_counter() - t0, engine, workers, listed.skipped,
                           not_examined=len(left))
    finally:
        if own:
            examiner.close()


def _named_under(listed: Inputs, root: str) -> Inputs:
    """``listed`` with the documents under ``root`` named by their path below it."""
    prefix = os.path.join(os.path.abspath(root), "")

    def name(path: str) -> str:
        full = os.path.abspath(path)
        return full[len(prefix):] if full.startswith(prefix) else path

    return Inputs(tuple(replace(d, name=name(d.name)) for d in listed.documents),
                  tuple(replace(u, name=name(u.name), message=u.message.replace(prefix, ""))
                        for u in listed.unreadable), listed.skipped)


def _plan(documents: tuple[Document, ...], journal: Journal, book: DateBook, show: bool):
    """The documents in walking order as (name, sha256, also_at, error), the tasks left to do
    and how many results the journal already holds."""
    docs: list[tuple[str, str | None, list[str], tuple[str, str] | None]] = []
    first: dict[str, list[str]] = {}  # sha256 -> also_at of its first document
    tasks: list[Task] = []
    reused = 0
    if show and len(documents) > 100:  # reading a large archive once takes a while too
        from tqdm import tqdm

        documents = tqdm(documents, desc="hashing", unit="doc", leave=False)
    for doc in documents:
        try:
            sha = doc.sha256()
        except ImprintError as exc:
            docs.append((doc.name, None, [], (exc.code, str(exc))))
            continue
        if sha in first:
            first[sha].append(doc.name)
            continue
        first[sha] = []
        docs.append((doc.name, sha, first[sha], None))
        on = book.date_of(doc, sha)
        done = journal.entries.get(sha)
        if done is not None and done.date == (on.isoformat() if on else None) and not (
                done.state == "failed" and done.error is not None and done.error.retry):
            reused += 1
            continue
        tasks.append(Task(doc, sha, on))
    return docs, tasks, reused


def _progress_bar(total: int, progress: bool):
    if not progress or not total:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="sweep", unit="doc", dynamic_ncols=True)


def _steady_rate(arrivals: list[tuple[float, int]], workers: int) -> float | None:
    """Pages/s once every worker is running: over the results after the first ``workers``
    (their time includes starting the workers), or None when there are too few."""
    if len(arrivals) <= workers:
        return None
    took = arrivals[-1][0] - arrivals[workers - 1][0]
    return round(sum(p for _, p in arrivals[workers:]) / took, 3) if took > 0 else None


def _finish(out_dir: Path, swept: list[SweptDocument], header: dict, examined: int,
            reused: int, pages_examined: int, examine_s: float, steady: float | None,
            seconds: float, engine: str, workers: int, skipped: int, *,
            not_examined: int = 0) -> SweepSummary:
    failures = []
    for d in swept:
        if d.failed:
            err = d.result.error if d.result else None
            failures.append(Failure(d.name, err.code if err else d.error_code or "",
                                    err.message if err else d.error or ""))
    imprints = [imp for d in swept for imp in d.imprints]
    flags: dict[str, int] = {}
    for imp in imprints:
        for f in imp.flags:
            flags[f] = flags.get(f, 0) + 1
    flagged = sum(1 for imp in imprints if imp.flags)
    code = EXIT_FAILED if failures else EXIT_FLAGGED if flagged else EXIT_CLEAN
    summary = SweepSummary(
        out_dir=str(out_dir), exit_code=code, documents=len(swept),
        examined=examined, reused=reused,
        duplicates=sum(len(d.also_at) for d in swept),
        pages=sum(d.result.pages for d in swept if d.result), imprints=len(imprints),
        flagged=flagged, suspicious=sum(1 for imp in imprints if is_suspicious(imp.flags)),
        flags=dict(sorted(flags.items())), failures=tuple(failures), skipped=skipped,
        seconds=round(seconds, 2),
        pages_per_s=round(pages_examined / examine_s, 3) if examine_s > 0 else 0.0,
        steady_pages_per_s=steady,
        engine=engine, workers=workers, cancelled=not_examined > 0, not_examined=not_examined)
    record = {**summary.to_json(), **header}
    html = summary_page.render(swept, record)
    paths = outputs.write_outputs(out_dir, swept, record, html)
    return SweepSummary(**{**asdict(summary), "failures": summary.failures, "outputs": paths})
