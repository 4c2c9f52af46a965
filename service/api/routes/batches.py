"""Batches: many documents (image and PDF files, or zip archives of them) swept in the
background by the sweep engine (:mod:`service.sweep`), their progress read, their results
fetched as JSON Lines and CSV, and the batch cancelled.

- **Storage.** ``<registry home>/batches/<id>/``: ``job.json`` (the batch's record, replaced
  atomically at each change of state and every :data:`PROGRESS_SAVE_S` of progress),
  ``inputs/`` (the uploads, under the names their client gave them, made safe), ``out/`` (the
  sweep's journal and outputs). A batch is put together in a hidden staging folder and renamed
  into place whole, so a batch on disk always has its record and all its inputs.
- **Running.** One batch sweeps at a time, in one background thread of the service process,
  over the service's own search (the index and the model are not loaded a second time). Each
  document holds one of the engine slots that the interactive requests share while it is
  examined, so a batch takes at most one slot and interactive verifications keep the others.
  At most :data:`MAX_QUEUED_BATCHES` batches wait; a submission beyond is answered
  ``429 batch_queue_full``.
- **Restarts.** On shutdown the running sweep is stopped between documents and its batch
  queued again. A batch found queued or running when the service starts (the process died) is
  resumed: the sweep's ``--resume`` keeps every result journaled and examines the rest. A batch
  started :data:`MAX_ATTEMPTS` times fails ``interrupted`` instead (a document that kills the
  process would otherwise do so for ever).
- **Access.** The key that submitted a batch sees it, and admins see every batch; to any other
  key it does not exist (``404 unknown_batch``).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import threading
import time
import warnings
import zipfile
from collections import deque
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi import Path as FastAPIPath
from fastapi.responses import FileResponse, JSONResponse
from PIL import Image

from imprint.atomic import fsync_dir, write_bytes
from imprint.errors import (
    ImprintError,
    InvalidParameterError,
    OutputError,
    UnreadableInputError,
    UnsupportedFormatError,
)
from imprint.io import IMAGE_FORMATS, PDF_MAGIC
from index.errors import UnknownRecordError
from service.api.deps import (
    SavedUpload,
    Services,
    ServicesDep,
    access_note,
    allow,
    note_inputs,
    save_upload,
)
from service.api.routes.examine import DateForm, TopKForm, check_top_k
from service.api.schemas import (
    KEYED,
    BatchFailureOut,
    BatchInputOut,
    BatchLinksOut,
    BatchListOut,
    BatchOut,
    BatchState,
    ErrorDetail,
    error_responses,
)
from service.auth import Caller, Role
from service.errors import ServiceError, UploadTooLargeError, code_of, error_body, status_of
from service.sweep import sweep
from service.sweep.inputs import walk_inputs
from service.sweep.outputs import DOCUMENTS_NAME, IMPRINTS_NAME
from service.sweep.worker import DocumentResult, Examiner, ExaminerSettings, Task

LOG = logging.getLogger(__name__)

BATCHES_DIR = "batches"
RECORD_NAME = "job.json"
INPUTS_DIR = "inputs"
OUT_DIR = "out"
STAGING_PREFIX = ".staging-"
FORMAT = "imprint.batch/1"

#: Batches waiting while one runs; a submission beyond is answered 429.
MAX_QUEUED_BATCHES = 4
#: Documents in one batch (files, and image and PDF members of zip archives).
MAX_BATCH_DOCUMENTS = 1000
#: The members of a batch's zip archives, unpacked, bytes in all (each member is also held to
#: the upload limit).
MAX_UNPACKED_BYTES = 2 * 1024**3
#: A batch started this many times without finishing fails ``interrupted``.
MAX_ATTEMPTS = 3
#: Seconds between saves of a running batch's progress.
PROGRESS_SAVE_S = 2.0
#: Seconds the service waits at shutdown for the running sweep to stop between documents.
STOP_WAIT_S = 30.0
#: Staging folders older than this, s, were left by a process that died while a batch was
#: uploaded: removed when the service starts.
STAGING_AGE_S = 3600.0
#: Random bytes of a batch id (URL-safe base64: 16 characters).
ID_BYTES = 12
#: Batches listed at most per call.
MAX_LISTED = 200
#: A batch that is over, one way or the other.
FINAL = frozenset({BatchState.DONE, BatchState.FAILED, BatchState.CANCELLED})
#: What a batch id looks like (checked before it comes near a file path).
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class UnknownBatchError(UnknownRecordError):
    """No batch with that id that this key may see."""

    code = "unknown_batch"


class ResultsNotReadyError(UnknownRecordError):
    """The batch has no results (yet): it is queued or running, or ended without them."""

    code = "results_not_ready"


class BatchQueueFullError(ServiceError):
    """As many batches wait as the service takes; answered 429 with ``Retry-After`` by the
    route that submits (the status table has no row for it: no other error carries a header)."""

    code = "batch_queue_full"


# --- the record of a batch ----------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Batch:
    """A batch as the service keeps it (``job.json``); changed under the runner's lock only.
    ``inputs``: per uploaded file its ``name`` (also its file name under ``inputs/``),
    ``sha256``, ``size`` and ``kind`` (image, pdf or zip)."""

    id: str
    owner: str
    purpose: str | None
    date: str | None
    top_k: int
    inputs: list[dict]
    created_at: datetime
    documents_total: int
    state: BatchState = BatchState.QUEUED
    documents_done: int = 0
    imprints: int | None = None
    flagged: int | None = None
    flags: dict[str, int] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    not_examined: int = 0
    cancel_requested: bool = False
    attempts: int = 0
    error: dict | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    results_ready: bool = False
    #: set to stop the sweep between documents (a cancel, or the service stopping)
    halt: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def to_json(self) -> dict:
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "halt"}
        for key in ("created_at", "started_at", "finished_at"):
            record[key] = record[key].isoformat() if record[key] else None
        return {"format": FORMAT, **record, "state": self.state.value}

    @classmethod
    def from_json(cls, record: dict) -> Batch:
        if record.get("format") != FORMAT:
            raise ValueError(f"not a batch record ({record.get('format')!r})")
        given = {k: v for k, v in record.items() if k != "format"}
        for key in ("created_at", "started_at", "finished_at"):
            given[key] = datetime.fromisoformat(given[key]) if given.get(key) else None
        given["state"] = BatchState(given["state"])
        return cls(**given)

    def out(self) -> BatchOut:
        base = f"/v1/batches/{self.id}"
        return BatchOut(
            id=self.id, state=self.state, owner=self.owner, purpose=self.purpose,
            date=self.date, top_k=self.top_k, inputs=[BatchInputOut(**i) for i in self.inputs],
            documents_total=self.documents_total, documents_done=self.documents_done,
            imprints=self.imprints, flagged=self.flagged, flags=dict(self.flags),
            failures=[BatchFailureOut(**f) for f in self.failures],
            not_examined=self.not_examined, cancel_requested=self.cancel_requested,
            attempts=self.attempts, error=ErrorDetail(**self.error) if self.error else None,
            created_at=self.created_at, started_at=self.started_at,
            finished_at=self.finished_at, results_ready=self.results_ready,
            links=BatchLinksOut(self=base, results_jsonl=f"{base}/results.jsonl",
                                results_csv=f"{base}/results.csv", cancel=f"{base}/cancel"))


# --- the engine a batch is swept with -----------------------------------------------------------


class _ServiceExaminer(Examiner):
    """The service's own search examining a batch's documents: one engine slot held per
    document, the service's load limits, error messages naming the documents as the batch does
    (never by their path on the server). Not closed by the sweep: the service owns the search."""

    def __init__(self, services: Services, top_k: int, inputs: Path) -> None:
        # deliberately not Examiner.__init__: that opens a second copy of the registry
        self.settings = ExaminerSettings(str(services.store.home), services.settings.embedder,
                                         top_k, services.settings.pdf_dpi)
        self.limits = services.settings.load_limits()
        self.search = services.search
        self._slots = services.engine_slots
        self._inputs = os.path.join(str(inputs), "")

    def close(self) -> None:
        pass

    def examine(self, task: Task) -> DocumentResult:
        with self._slots:
            result = super().examine(task)
        if result.error is not None and self._inputs in result.error.message:
            result = replace(result, error=replace(
                result.error, message=result.error.message.replace(self._inputs, "")))
        return result


# --- the runner ---------------------------------------------------------------------------------


class BatchRunner:
    """Every batch of one registry, and the thread that sweeps them one at a time."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.root = services.store.home / BATCHES_DIR
        self._lock = threading.Condition()
        self._batches: dict[str, Batch] = {}
        self._queue: deque[str] = deque()
        self._stopping = threading.Event()
        self._current: Batch | None = None
        self._thread: threading.Thread | None = None

    # the service's life

    def start(self) -> None:
        """Load the batches on disk, queue again those a stopped or dead process left queued
        or running, and start sweeping."""
        self._clear_staging()  # the folder itself is made by the first batch
        for path in sorted(self.root.glob(f"*/{RECORD_NAME}")):
            if path.parent.name.startswith(STAGING_PREFIX):
                continue  # never put into place: the upload did not finish
            try:
                batch = Batch.from_json(json.loads(path.read_bytes()))
                if batch.id != path.parent.name:
                    raise ValueError(f"the record is that of batch {batch.id!r}")
            except (OSError, ValueError, TypeError, KeyError) as exc:
                LOG.warning("%s: an unreadable batch record is left out (%s)", path, exc)
                continue
            self._batches[batch.id] = batch
        for batch in sorted(self._batches.values(), key=lambda b: (b.created_at, b.id)):
            if batch.state in FINAL:
                continue
            if batch.state is BatchState.RUNNING and batch.attempts >= MAX_ATTEMPTS:
                self._end(batch, BatchState.FAILED, error={
                    "code": "interrupted",
                    "message": f"the service stopped {batch.attempts} times while this batch "
                               f"ran; it is not tried again"})
                continue
            if batch.state is BatchState.RUNNING:
                LOG.warning("batch %s was running when the service stopped; resuming it",
                            batch.id)
            batch.state = BatchState.QUEUED
            if batch.cancel_requested:
                batch.halt.set()  # its sweep writes the outputs of what is done, no more
            self._save(batch)
            self._queue.append(batch.id)
        self._thread = threading.Thread(target=self._loop, name="imprint-batches", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """Stop the running sweep between documents (its batch is queued again) and the
        thread."""
        with self._lock:
            self._stopping.set()
            if self._current is not None:
                self._current.halt.set()
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                LOG.warning("the running batch did not stop within %.0f s; it is resumed when "
                            "the service starts again", timeout)

    def _clear_staging(self) -> None:
        cutoff = time.time() - STAGING_AGE_S
        for staging in self.root.glob(f"{STAGING_PREFIX}*"):
            try:
                if staging.stat().st_mtime < cutoff:
                    shutil.rmtree(staging)
            except OSError:
                continue

    # what the routes call

    def check_room(self) -> None:
        with self._lock:
            self._check_room()

    def _check_room(self) -> None:
        if self._thread is None or self._stopping.is_set():
            raise OutputError("batches are not being run by this service")
        if len(self._queue) >= MAX_QUEUED_BATCHES:
            raise BatchQueueFullError(f"{len(self._queue)} batches are waiting, as many as the "
                                      f"service takes; submit again when one has started")

    def staging(self, batch_id: str) -> Path:
        """A new, private staging folder for a batch being uploaded."""
        folder = self.root / f"{STAGING_PREFIX}{batch_id}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            folder.mkdir(mode=0o700)
        except OSError as exc:
            raise OutputError(f"{folder}: cannot stage a batch ({exc})") from exc
        return folder

    def submit(self, batch: Batch, staging: Path) -> None:
        """Put the staged batch into place, record and all, and queue it."""
        with self._lock:
            self._check_room()
            try:
                write_bytes(staging / RECORD_NAME, _record_bytes(batch), mode=0o600)
                os.rename(staging, self.root / batch.id)
                fsync_dir(self.root)
            except OSError as exc:
                raise OutputError(f"{self.root}: cannot store the batch ({exc})") from exc
            self._batches[batch.id] = batch
            self._queue.append(batch.id)
            self._lock.notify_all()

    def get(self, batch_id: str, caller: Caller) -> BatchOut:
        with self._lock:
            return self._visible(batch_id, caller).out()

    def listing(self, caller: Caller, limit: int) -> list[BatchOut]:
        with self._lock:
            batches = [b for b in self._batches.values() if _may_see(caller, b)]
            batches.sort(key=lambda b: (b.created_at, b.id), reverse=True)
            return [b.out() for b in batches[:limit]]

    def cancel(self, batch_id: str, caller: Caller) -> BatchOut:
        """Cancel a batch: a queued one is cancelled now; a running one stops after the
        document in hand, its results so far kept; one that is over is left as it is."""
        with self._lock:
            batch = self._visible(batch_id, caller)
            if batch.state in FINAL or batch.cancel_requested:
                return batch.out()
            batch.cancel_requested = True
            if batch.state is BatchState.QUEUED:
                self._queue.remove(batch.id)
                self._end(batch, BatchState.CANCELLED)
            else:
                batch.halt.set()
                self._save(batch)
            return batch.out()

    def results(self, batch_id: str, caller: Caller, name: str) -> Path:
        with self._lock:
            batch = self._visible(batch_id, caller)
            path = self.root / batch.id / OUT_DIR / name
            if not batch.results_ready or not path.is_file():
                why = (f"it ended ({batch.state.value}) without them" if batch.state in FINAL
                       else f"it is {batch.state.value}; they are written when it is over")
                raise ResultsNotReadyError(f"batch {batch.id} has no results: {why}")
            return path

    def _visible(self, batch_id: str, caller: Caller) -> Batch:
        batch = self._batches.get(batch_id)
        if batch is None or not _may_see(caller, batch):
            raise UnknownBatchError(f"no batch {batch_id!r}", field="batch_id")
        return batch

    # the sweeping thread

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping.is_set():
                    self._lock.wait()
                if self._stopping.is_set():
                    return
                batch = self._batches[self._queue.popleft()]
                batch.state = BatchState.RUNNING
                batch.attempts += 1
                batch.started_at = batch.started_at or _now()
                self._current = batch
                self._save(batch)
            try:
                self._sweep(batch)
            except Exception:  # the thread must outlive any one batch
                LOG.exception("batch %s: the runner failed", batch.id)
            finally:
                with self._lock:
                    self._current = None

    def _sweep(self, batch: Batch) -> None:
        folder = self.root / batch.id
        inputs = folder / INPUTS_DIR
        saved = [0.0]

        def progress(done: int, total: int) -> None:
            with self._lock:
                batch.documents_done, batch.documents_total = done, total
                if time.monotonic() - saved[0] >= PROGRESS_SAVE_S:
                    saved[0] = time.monotonic()
                    self._save(batch)

        try:
            summary = sweep([str(inputs / i["name"]) for i in batch.inputs], folder / OUT_DIR,
                            resume=True, registry=str(self.services.store.home),
                            date_all=date.fromisoformat(batch.date) if batch.date else None,
                            top_k=batch.top_k, pdf_dpi=self.services.settings.pdf_dpi,
                            progress=False, progress_hook=progress, cancel=batch.halt,
                            examiner=_ServiceExaminer(self.services, batch.top_k, inputs),
                            name_root=inputs)
        except Exception as exc:
            if self._stopping.is_set():  # the registry closing under it: resumed at start
                LOG.warning("batch %s stopped with the service (%s)", batch.id, exc)
                return
            if status_of(exc) >= 500:
                LOG.error("batch %s failed: %s", batch.id, exc, exc_info=not isinstance(
                    exc, ImprintError))
                message = "the batch could not be completed; the service's log says why"
            else:
                message = str(exc)
            with self._lock:
                self._end(batch, BatchState.FAILED, error={"code": code_of(exc),
                                                           "message": message})
            return
        with self._lock:
            batch.documents_done = summary.documents
            batch.documents_total = summary.documents + summary.not_examined
            if summary.cancelled and not batch.cancel_requested:  # the service is stopping
                batch.state = BatchState.QUEUED  # and goes on when it starts again
                self._save(batch)
                return
            batch.imprints, batch.flagged = summary.imprints, summary.flagged
            batch.flags = dict(summary.flags)
            batch.failures = [{"file": f.file, "code": f.code, "message": f.message}
                              for f in summary.failures]
            batch.not_examined = summary.not_examined
            batch.results_ready = True
            self._end(batch, BatchState.CANCELLED if summary.cancelled else BatchState.DONE)

    def _end(self, batch: Batch, state: BatchState, *, error: dict | None = None) -> None:
        batch.state, batch.error, batch.finished_at = state, error, _now()
        self._save(batch)

    def _save(self, batch: Batch) -> None:
        """Replace the batch's record (atomically); a failure is logged, the batch goes on."""
        try:
            write_bytes(self.root / batch.id / RECORD_NAME, _record_bytes(batch), mode=0o600)
        except OSError as exc:
            LOG.error("batch %s: cannot save its record (%s)", batch.id, exc)


def _record_bytes(batch: Batch) -> bytes:
    return json.dumps(batch.to_json(), ensure_ascii=False, indent=1).encode()


def _may_see(caller: Caller, batch: Batch) -> bool:
    return caller.role is Role.ADMIN or batch.owner == caller.key.key_id


_RUNNERS_LOCK = threading.Lock()


def start(services: Services) -> BatchRunner:
    """The batch runner of ``services``, started now (when the service starts) if it is not."""
    with _RUNNERS_LOCK:
        held = vars(services)  # the services live as long as the process serves
        if "batch_runner" not in held:
            held["batch_runner"] = runner = BatchRunner(services)
            runner.start()
        return held["batch_runner"]


def stop(services: Services) -> None:
    """Stop the batch runner of ``services``, if it was started."""
    runner = vars(services).get("batch_runner")
    if runner is not None:
        runner.stop()


# --- admitting the uploads ----------------------------------------------------------------------


_UNSAFE_CHARS = str.maketrans({c: "_" for c in '/\\:*?"<>|'})


def _safe_name(name: str, kind: str, used: set[str]) -> str:
    """A file name for an upload under ``inputs/``: the client's, without path, control or
    reserved characters, not hidden, unique in the batch; a zip archive ends in ``.zip`` (so
    the sweep opens it)."""
    base = "".join(c for c in Path(name).name if c.isprintable()).translate(_UNSAFE_CHARS)
    base = base.strip(" .")[:120] or "upload"
    if kind == "zip" and not base.lower().endswith(".zip"):
        base += ".zip"
    stem, suffix = os.path.splitext(base)
    candidate, n = base, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{stem} ({n}){suffix}"
    used.add(candidate.lower())
    return candidate


def _kind(path: Path, name: str) -> str:
    """image, pdf or zip, from the content (what the engine will be able to open)."""
    with path.open("rb") as f:
        head = f.read(1024)
    if PDF_MAGIC in head:
        return "pdf"
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                fmt = img.format
    except Image.DecompressionBombError:
        return "image"  # an image all the same: the sweep lists it as too large
    except Exception:  # any decoder's complaint about bytes that are no image
        fmt = None
    if fmt in IMAGE_FORMATS:
        return "image"
    raise UnsupportedFormatError(f"{name}: not an image (PNG, JPEG, TIFF, BMP, WebP), a PDF or "
                                 f"a zip archive of them")


def _zip_documents(path: Path, name: str, max_member_bytes: int) -> tuple[int, int]:
    """(documents in the archive as the sweep will list them, their unpacked bytes)."""
    listed = walk_inputs([str(path)])
    if listed.unreadable:
        raise UnreadableInputError(f"{name}: not a readable zip archive")
    sizes = {}
    with zipfile.ZipFile(path) as archive:
        for doc in listed.documents:
            sizes[doc.member] = archive.getinfo(doc.member).file_size
    for member, size in sizes.items():
        if size > max_member_bytes:
            raise UploadTooLargeError(f"{name}/{member}: {size / 1024**2:.1f} MB unpacked, over "
                                      f"the upload limit of {max_member_bytes / 1024**2:.0f} MB")
    return len(listed.documents), sum(sizes.values())


def _admit(uploads: list[SavedUpload], inputs: Path, max_bytes: int) -> tuple[list[dict], int]:
    """Move the uploads under ``inputs/`` by their safe names; refuse what the engine cannot
    open and batches over the limits. Returns the inputs' records and the documents they
    hold."""
    inputs.mkdir()
    used: set[str] = set()
    records, documents, unpacked = [], 0, 0
    for up in uploads:
        kind = _kind(up.path, up.name)
        name = _safe_name(up.name, kind, used)
        os.rename(up.path, inputs / name)
        if kind == "zip":
            found, size = _zip_documents(inputs / name, up.name, max_bytes)
            if not found:
                raise InvalidParameterError(f"{up.name}: the archive holds no image or PDF")
            documents, unpacked = documents + found, unpacked + size
        else:
            documents += 1
        records.append({"name": name, "sha256": up.sha256, "size": up.size, "kind": kind})
    if documents > MAX_BATCH_DOCUMENTS:
        raise InvalidParameterError(f"the batch holds {documents} documents, over the limit of "
                                    f"{MAX_BATCH_DOCUMENTS}; split it")
    if unpacked > MAX_UNPACKED_BYTES:
        raise UploadTooLargeError(f"the archives unpack to {unpacked / 1024**3:.1f} GB, over "
                                  f"the limit of {MAX_UNPACKED_BYTES / 1024**3:.0f} GB; split "
                                  f"the batch")
    return records, documents


# --- the routes ---------------------------------------------------------------------------------


router = APIRouter(prefix="/v1/batches", tags=["batches"], responses=error_responses(*KEYED))

BatchIdPath = Annotated[str, FastAPIPath(pattern=ID_PATTERN, max_length=64,
                                         description="the batch's id, as submitting it answered")]
BatchFiles = Annotated[list[UploadFile], File(
    description="the documents: images (PNG, JPEG, TIFF, BMP, WebP), PDFs, or zip archives "
                "of them; one field per file")]
UNKNOWN = {404: "unknown_batch: no batch with that id that this key may see"}
NOT_READY = {404: "unknown_batch, or results_not_ready: the batch is queued or running, or "
                  "ended without results (cancelled while queued, or failed)"}


def runner_of(services: Services) -> BatchRunner:
    return start(services)


def _queue_full(request: Request, exc: BatchQueueFullError) -> JSONResponse:
    access_note(request).outcome = exc.code
    return JSONResponse(error_body(exc.code, str(exc)), status_code=429,
                        headers={"Retry-After": "60"})


@router.post("", status_code=202, response_model=BatchOut,
             summary="Submit a batch: many documents or zip archives, swept in the background",
             responses={202: {"description": "queued; poll the batch at its Location",
                              "headers": {"Location": {"description": "the batch",
                                                       "schema": {"type": "string"}}}},
                        **error_responses(413, 415, 422, 429, meaning={
                            413: "upload_too_large: the request, or a member of a zip "
                                 "archive unpacked, is over the upload limit",
                            415: "unsupported_format: a file that is not an image, a PDF or "
                                 "a zip archive",
                            422: "invalid_request (see fields), invalid_parameter (top_k; "
                                 "more than 1000 documents; a zip with no document in it), "
                                 "unreadable_input (a damaged zip archive)",
                            429: "batch_queue_full: as many batches wait as the service "
                                 "takes; try again after Retry-After seconds"})})
async def submit_batch(request: Request, response: Response, services: ServicesDep,
                       caller: Annotated[Caller, Depends(allow("batches.submit"))],
                       files: BatchFiles, top_k: TopKForm = 5,
                       date: DateForm = None) -> BatchOut | JSONResponse:
    """Every imprint on every page of every document is found, identified, compared with the
    matched seal's masters and judged on the documents' ``date`` (as ``imprint sweep`` does);
    the batch runs when the ones before it are done, one document at a time. Answers at once
    with the batch (``202``, ``Location``); ``GET`` it for its progress, and its results once
    it is over."""
    check_top_k(services, top_k)
    note_inputs(request, top_k=str(top_k), date=date.isoformat() if date else None)
    runner = runner_of(services)
    try:
        runner.check_room()
    except BatchQueueFullError as exc:
        return _queue_full(request, exc)
    batch_id = secrets.token_urlsafe(ID_BYTES)
    staging = await anyio.to_thread.run_sync(runner.staging, batch_id)
    try:
        (staging / "uploads").mkdir()
        uploads = [await save_upload(request, f, staging / "uploads", input_name=f"files.{i}")
                   for i, f in enumerate(files)]
        inputs, documents = await anyio.to_thread.run_sync(
            _admit, uploads, staging / INPUTS_DIR, services.settings.max_upload_bytes)
        shutil.rmtree(staging / "uploads")
        batch = Batch(id=batch_id, owner=caller.key.key_id, purpose=caller.purpose,
                      date=date.isoformat() if date else None, top_k=top_k, inputs=inputs,
                      created_at=_now(), documents_total=documents)
        await anyio.to_thread.run_sync(runner.submit, batch, staging)
    except BatchQueueFullError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        return _queue_full(request, exc)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    response.headers["Location"] = f"/v1/batches/{batch_id}"
    return runner.get(batch_id, caller)


@router.get("", response_model=BatchListOut, summary="The caller's batches, newest first")
def list_batches(services: ServicesDep,
                 caller: Annotated[Caller, Depends(allow("batches.read"))],
                 limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 50) -> BatchListOut:
    """The batches the caller's key submitted (an admin's: every batch)."""
    return BatchListOut(batches=runner_of(services).listing(caller, limit))


@router.get("/{batch_id}", response_model=BatchOut,
            summary="A batch: its state, progress, counts and links to its results",
            responses=error_responses(404, meaning=UNKNOWN))
def read_batch(batch_id: BatchIdPath, services: ServicesDep,
               caller: Annotated[Caller, Depends(allow("batches.read"))]) -> BatchOut:
    """``state`` queued, running, done, failed or cancelled; ``documents_done`` of
    ``documents_total``; once it is over, the imprints found and flagged, the flags, the
    documents that failed, and ``results_ready``."""
    return runner_of(services).get(batch_id, caller)


@router.get("/{batch_id}/results.jsonl", response_class=FileResponse,
            summary="A batch's results: one JSON line per imprint",
            responses={200: {"content": {"application/x-ndjson": {}},
                             "description": "the sweep's imprints.jsonl: the identification "
                                            "record of each imprint with its file, score and "
                                            "flags, documents in the order submitted"},
                       **error_responses(404, meaning=NOT_READY)})
def batch_imprints(batch_id: BatchIdPath, services: ServicesDep,
                   caller: Annotated[Caller, Depends(allow("batches.read"))]) -> FileResponse:
    """Written when the batch is over (done, or cancelled: the documents examined until
    then)."""
    path = runner_of(services).results(batch_id, caller, IMPRINTS_NAME)
    return FileResponse(path, media_type="application/x-ndjson",
                        filename=f"batch-{batch_id}-imprints.jsonl")


@router.get("/{batch_id}/results.csv", response_class=FileResponse,
            summary="A batch's results: one CSV row per document",
            responses={200: {"content": {"text/csv": {}},
                             "description": "the sweep's documents.csv: file, sha256, date, "
                                            "state, pages, imprints, flagged, flags, also_at, "
                                            "error_code, error (UTF-8 with a byte order mark)"},
                       **error_responses(404, meaning=NOT_READY)})
def batch_documents(batch_id: BatchIdPath, services: ServicesDep,
                    caller: Annotated[Caller, Depends(allow("batches.read"))]) -> FileResponse:
    """Written when the batch is over (done, or cancelled: the documents examined until
    then)."""
    path = runner_of(services).results(batch_id, caller, DOCUMENTS_NAME)
    return FileResponse(path, media_type="text/csv; charset=utf-8",
                        filename=f"batch-{batch_id}-documents.csv")


@router.post("/{batch_id}/cancel", response_model=BatchOut, summary="Cancel a batch",
             responses=error_responses(404, meaning=UNKNOWN))
def cancel_batch(batch_id: BatchIdPath, services: ServicesDep,
                 caller: Annotated[Caller, Depends(allow("batches.cancel"))]) -> BatchOut:
    """A queued batch is cancelled at once. A running one stops after the document in hand:
    ``cancel_requested`` is true until it is ``cancelled``, with the results of the documents
    examined until then. A batch that is over is answered as it is; cancelling twice changes
    nothing."""
    return runner_of(services).cancel(batch_id, caller)
