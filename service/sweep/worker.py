"""Examining one document of a sweep: its pages in, one :class:`DocumentResult` out.

An :class:`Examiner` holds the registry store and its search (the vector index, the model and
the masters' canonical imprints), opened once per worker process or Ray actor and kept for
every document it is given. The registry is only read during a sweep.

A document that cannot be used (unreadable, unsupported, over a limit) comes back ``failed``
with the engine's error code and is not tried again on ``--resume`` (the same content would
fail the same way); any other failure is marked ``retry`` and is tried again. Imprints found
on the pages before a failure are kept.
"""

from __future__ import annotations

import base64
import ctypes
import multiprocessing
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import date

import cv2
import numpy as np

from imprint.errors import ImprintError, InputError
from imprint.io import LoadLimits, Page
from imprint.types import Detection
from service.sweep.flags import imprint_flags
from service.sweep.inputs import Document, document_pages

#: Longest side of an imprint's thumbnail, px; its JPEG quality; margin round the box, as a
#: fraction of the box's longer side.
THUMBNAIL_PX = 112
THUMBNAIL_QUALITY = 80
THUMBNAIL_MARGIN = 0.08


@dataclass(frozen=True)
class ExaminerSettings:
    """What a worker needs to examine documents: ``registry`` a directory or database URL,
    resolved by the driver (workers may run elsewhere, with another working directory)."""

    registry: str
    embedder: str | None = None
    top_k: int = 5
    pdf_dpi: float = 300.0


@dataclass(frozen=True)
class Task:
    """One document to examine, with its content hash and its date (None: the seals' status
    now)."""

    document: Document
    sha256: str
    on: date | None


@dataclass(frozen=True)
class CandidateScore:
    """A filed seal the imprint may be: ``score`` the aligned correlation (the ranking),
    ``similarity`` the cosine of the embeddings (the shortlist's order), ``agreement`` what
    decides the match once compared (None: not compared)."""

    seal_id: str
    score: float
    similarity: float
    agreement: float | None = None

    @classmethod
    def from_record(cls, c: dict) -> CandidateScore:
        """From a candidate record (journals written before ``agreement`` lack it)."""
        return cls(c["seal_id"], c["score"], c["similarity"], c.get("agreement"))


@dataclass(frozen=True)
class SweptImprint:
    """One imprint found in a sweep: the identification record of ``imprint identify --json``
    and its :mod:`flags <service.sweep.flags>`. ``box`` (x0, y0, x1, y1) page px of the page
    as loaded (PDFs at the sweep's dpi); ``thumbnail_jpeg`` the imprint's crop from the page,
    at most :data:`THUMBNAIL_PX` on its longer side."""

    page: int
    box: tuple[float, float, float, float]
    shape: str
    colour: str
    candidates: tuple[CandidateScore, ...]
    match: str | None
    status: str | None
    verdict: str | None
    log10_lr: float | None
    status_flag: str | None
    flags: tuple[str, ...]
    thumbnail_jpeg: bytes = field(repr=False)

    def to_json(self, *, thumbnail: bool = False) -> dict:
        out = {"page": self.page, "box": list(self.box), "shape": self.shape,
               "colour": self.colour,
               "candidates": [asdict(c) for c in self.candidates],
               "match": self.match, "status": self.status, "verdict": self.verdict,
               "log10_lr": self.log10_lr, "status_flag": self.status_flag,
               "flags": list(self.flags)}
        if thumbnail:
            out["thumbnail_jpeg"] = base64.b64encode(self.thumbnail_jpeg).decode("ascii")
        return out

    @classmethod
    def from_json(cls, d: dict) -> SweptImprint:
        return cls(int(d["page"]), tuple(d["box"]), d["shape"], d["colour"],
                   tuple(CandidateScore.from_record(c) for c in d["candidates"]),
                   d["match"], d["status"], d["verdict"], d["log10_lr"], d["status_flag"],
                   tuple(d["flags"]), base64.b64decode(d.get("thumbnail_jpeg") or b""))


@dataclass(frozen=True)
class SweepError:
    """Why a document failed: the engine's error ``code``, a one-line ``message``, and whether
    ``--resume`` should try it again."""

    code: str
    message: str
    retry: bool


@dataclass(frozen=True)
class DocumentResult:
    """Everything a sweep learned from one document. ``state`` ``done`` or ``failed``;
    ``pages`` read; ``date`` the document's date used for the seals' status (ISO, or None)."""

    sha256: str
    name: str
    date: str | None
    state: str
    pages: int
    imprints: tuple[SweptImprint, ...]
    error: SweepError | None
    seconds: float

    def to_json(self) -> dict:
        return {"sha256": self.sha256, "file": self.name, "date": self.date,
                "state": self.state, "pages": self.pages,
                "imprints": [i.to_json(thumbnail=True) for i in self.imprints],
                "error": None if self.error is None else {
                    "code": self.error.code, "message": self.error.message,
                    "retry": self.error.retry},
                "seconds": self.seconds}

    @classmethod
    def from_json(cls, d: dict) -> DocumentResult:
        e = d.get("error")
        return cls(d["sha256"], d["file"], d["date"], d["state"], int(d["pages"]),
                   tuple(SweptImprint.from_json(i) for i in d["imprints"]),
                   SweepError(e["code"], e["message"], bool(e["retry"])) if e else None,
                   float(d.get("seconds") or 0.0))


class Examiner:
    """The engine for a sweep's documents, opened once per worker."""

    def __init__(self, settings: ExaminerSettings) -> None:
        from index.identify import SealSearch
        from index.store import RegistryStore

        self.settings = settings
        self.limits = LoadLimits(pdf_dpi=settings.pdf_dpi)
        store = RegistryStore.open(settings.registry)
        try:
            self.search = SealSearch(store, settings.embedder)
            self.search.index()  # loaded (and brought in line with the store) once, here
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        self.search.store.close()

    def examine(self, task: Task) -> DocumentResult:
        """Every imprint on every page of the document, identified, verified and flagged;
        failures come back as a ``failed`` result, never raised."""
        t0 = time.perf_counter()
        imprints: list[SweptImprint] = []
        pages = 0
        error = None
        try:
            with document_pages(task.document, self.limits) as loaded:
                for page in loaded:
                    pages += 1
                    imprints.extend(self._page(page, task.on))
        except InputError as exc:
            error = SweepError(exc.code, str(exc), retry=False)
        except (ImprintError, OSError, MemoryError) as exc:
            code = exc.code if isinstance(exc, ImprintError) else "internal_error"
            error = SweepError(code, f"{type(exc).__name__}: {exc}", retry=True)
        except Exception as exc:  # one bad document must not stop a sweep of thousands
            error = SweepError("internal_error", f"{type(exc).__name__}: {exc}", retry=True)
        return DocumentResult(task.sha256, task.document.name,
                              task.on.isoformat() if task.on else None,
                              "failed" if error else "done", pages, tuple(imprints), error,
                              round(time.perf_counter() - t0, 3))

    def _page(self, page: Page, on: date | None) -> list[SweptImprint]:
        from imprint.compare import default_model
        from service.engine import identification_record, identify_pages

        out = []
        for found in identify_pages(self.search, [page], top_k=self.settings.top_k, on=on):
            rec = identification_record(found)
            out.append(SweptImprint(
                rec["page"], tuple(rec["box"]), rec["shape"], rec["colour"],
                tuple(CandidateScore.from_record(c) for c in rec["candidates"]),
                rec["match"], rec["status"], rec["verdict"], rec["log10_lr"],
                rec["status_flag"],
                imprint_flags(rec["match"], rec["status"], rec["verdict"], rec["log10_lr"],
                              default_model().thresholds.get("review_log10_lr")),
                imprint_thumbnail(page.image, found.identification.imprint.detection)))
        return out


def imprint_thumbnail(image: np.ndarray, detection: Detection) -> bytes:
    """JPEG of the imprint's box (with a small margin) cut from ``image`` (``(H, W, 3) uint8``
    RGB), scaled to at most :data:`THUMBNAIL_PX` on its longer side."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = detection.box
    pad = THUMBNAIL_MARGIN * max(x1 - x0, y1 - y0)
    c0, r0 = max(0, int(x0 - pad)), max(0, int(y0 - pad))
    c1, r1 = min(w, int(np.ceil(x1 + pad))), min(h, int(np.ceil(y1 + pad)))
    crop = image[r0:max(r1, r0 + 1), c0:max(c1, c0 + 1)]
    scale = min(1.0, THUMBNAIL_PX / max(crop.shape[:2]))
    if scale < 1.0:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)),
                                 max(1, round(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
    return buf.tobytes() if ok else b""


# --- one examiner per worker process --------------------------------------------------------

_EXAMINER: Examiner | None = None


def single_threaded() -> None:
    """One thread per worker for OpenCV, torch and FAISS: the parallelism is the workers'."""
    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:  # pragma: no cover - faiss is a dependency
        pass


#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: A worker keeps freed memory up to this size for its next request instead of handing it
#: back: a job's page-sized arrays, mapped afresh each time, cost a page fault per 4 KiB.
KEPT_HEAP_BYTES = 512 * 1024**2


def keep_heap() -> None:
    """Large arrays from the heap, and the heap not trimmed after each job (glibc; a no-op
    elsewhere): the page faults of mapping them afresh were a tenth of a verification's
    processor time. A worker's memory stays at its largest job's."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(KEPT_HEAP_BYTES // 2))
        libc.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(KEPT_HEAP_BYTES))
    except (OSError, AttributeError):
        pass


def exit_with_parent() -> None:
    """Make this worker process exit when the process that started it is gone, even if it
    died before this ran. A service or sweep that is killed cannot shut its pool down; its
    workers would otherwise live on, idle, holding the registry open."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not a worker
        return

    def watch() -> None:
        parent.join()  # returns when the parent's end of the pipe closes: it has exited
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def init_worker(settings: ExaminerSettings) -> None:
    """Process-pool initializer: open the engine once for this worker."""
    global _EXAMINER
    single_threaded()
    exit_with_parent()
    keep_heap()
    _EXAMINER = Examiner(settings)


def examine_in_worker(task: Task) -> DocumentResult:
    if _EXAMINER is None:
        raise RuntimeError("the worker was not initialised")
    return _EXAMINER.examine(task)
