"""What the routes depend on: the services opened once per process, the caller of a request
(authenticated and authorised), uploads saved within the limits, and engine work run off the
event loop under the request's time limit."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Header, Request, Security, UploadFile
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from imprint.errors import ImprintError
from index.identify import SealSearch
from index.store import RegistryStore
from service.audit import AuditTrail, sha256_hex
from service.auth import Caller, KeyRing, authorize, clean_purpose
from service.errors import RequestTimeoutError, UploadTooLargeError
from service.metrics import Metrics
from service.settings import ServiceSettings
from service.uploads import UploadShelf
from service.workers import EnginePool

T = TypeVar("T")
CHUNK = 1024**2


class FairSlots:
    """A bounded semaphore that serves its waiters in the order they came: a slot given back
    goes to the longest waiting, never to a request that arrives just then. (Python's own
    lets a newcomer take it first, so under a steady load a few requests wait through many
    turns while others pass straight through.)"""

    def __init__(self, n: int) -> None:
        self._n = self._free = n
        self._lock = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return True
            if not blocking:
                return False
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        if turn.acquire(timeout=timeout if timeout is not None and timeout >= 0 else -1):
            return True
        with self._lock:
            if turn in self._waiting:
                self._waiting.remove(turn)
                return False
        return True  # handed a slot just as the wait ran out: it is this caller's

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()  # the slot passes straight to the next
            elif self._free < self._n:
                self._free += 1
            else:
                raise ValueError("slot released more times than taken")

    def __enter__(self) -> FairSlots:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


@dataclass
class Services:
    """Opened once when the service starts (the registry, its search index, keys, audit trail,
    metrics, the engine's worker processes, the filing process, the folder for uploads).
    ``engine_slots`` bounds the requests doing engine work at once (the rest wait their turn
    within their time limit); ``filing_lock`` files one seal at a time, so that two filings of
    one new seal cannot both pass the check that it is new."""

    settings: ServiceSettings
    store: RegistryStore
    search: SealSearch
    keys: KeyRing
    audit: AuditTrail
    metrics: Metrics
    pool: EnginePool
    filer: EnginePool
    uploads: UploadShelf
    engine_slots: FairSlots = field(init=False)
    filing_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.engine_slots = FairSlots(self.settings.engine_workers)


@dataclass
class AccessNote:
    """What the audit row of one request will say, filled in as the request is served."""

    started: float
    key_id: str | None = None
    role: str | None = None
    purpose: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    outcome: str = "ok"
    refusal: ImprintError | None = None  # raised below the routes (body over the limit)


def services_of(request: Request) -> Services:
    return request.app.state.services


def access_note(request: Request) -> AccessNote:
    return request.scope["state"]["access"]


def note_inputs(request: Request, **values: str | bytes | None) -> None:
    """Record the SHA-256 of named inputs in the request's audit row (never the values)."""
    note = access_note(request)
    for name, value in values.items():
        if value is not None:
            note.inputs[name] = sha256_hex(value)


ServicesDep = Annotated[Services, Depends(services_of)]

_bearer = HTTPBearer(auto_error=False, description="API key: Authorization: Bearer KEY")
_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
# a plain header, not a security scheme: it names why, not who (checked by clean_purpose,
# after the key)
PURPOSE_DOC = ("purpose of the access (a case number, UTF-8); required of investigators and "
               "admins on registry data")


def allow(endpoint: str) -> Callable[..., Caller]:
    """A dependency that authenticates the request's key and checks its role against
    :data:`service.auth.POLICY` for ``endpoint``."""

    def caller(request: Request,
               bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
               api_key: Annotated[str | None, Security(_key_header)],
               purpose: Annotated[str | None, Header(alias="X-Purpose",
                                                     description=PURPOSE_DOC)] = None
               ) -> Caller:
        services = services_of(request)
        note = access_note(request)
        key = services.keys.authenticate(bearer.credentials if bearer else api_key)
        note.key_id, note.role = key.key_id, key.role.value
        note.purpose = clean_purpose(utf8_header(purpose))
        return authorize(key, endpoint, note.purpose)

    caller.__name__ = f"allow_{endpoint.replace('.', '_')}"
    return caller


def utf8_header(value: str | None) -> str | None:
    """A header sent as UTF-8 bytes (a case number in Chinese), which ASGI hands over decoded
    as Latin-1; a value that is not UTF-8 is kept as it came."""
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


@dataclass(frozen=True)
class SavedUpload:
    """An upload written to a private temporary file: ``name`` as the client sent it."""

    path: Path
    name: str
    sha256: str
    size: int


async def upload_folder(request: Request) -> AsyncIterator[Path]:
    """A private folder for one request's uploads, removed after the response (under the
    registry's home: :class:`service.uploads.UploadShelf`)."""
    with services_of(request).uploads.folder() as folder:
        yield folder


UploadFolder = Annotated[Path, Depends(upload_folder)]


async def save_upload(request: Request, upload: UploadFile, folder: Path, *,
                      input_name: str = "file") -> SavedUpload:
    """Write ``upload`` under ``folder`` in chunks, hashing it for the audit row; refuse it past
    the upload limit."""
    limit = services_of(request).settings.max_upload_bytes
    name = Path(upload.filename or "upload").name[:200] or "upload"
    path = folder / f"{input_name}.bin"  # the loaders sniff the format; the name plays no part
    digest, size = hashlib.sha256(), 0
    with path.open("wb") as out:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise UploadTooLargeError(f"{name}: the upload is over the limit of "
                                          f"{limit / 1024**2:.0f} MB")
            digest.update(chunk)
            out.write(chunk)
    access_note(request).inputs[input_name] = digest.hexdigest()
    return SavedUpload(path, name, digest.hexdigest(), size)


async def run_engine(request: Request, work: Callable[[float], T], *,
                     uploads: Iterable[SavedUpload] = (), files: bool = False,
                     slot: bool = True) -> T:
    """Run ``work(deadline)`` in a worker thread once an engine slot is free (and, for work
    that ``files`` a seal, the filing lock), within the request's time limit (``deadline`` is a
    :func:`time.monotonic` value that the work checks between imprints). Work handed to the
    filing process takes no engine slot (``slot=False``). Messages name each upload as the
    client did, not by its temporary path."""
    services = services_of(request)
    deadline = access_note(request).started + services.settings.request_timeout_s
    late = RequestTimeoutError(f"the work ran past the limit of "
                               f"{services.settings.request_timeout_s:g} s; send fewer pages "
                               f"or a crop of the seal")

    def locked() -> T:
        with contextlib.ExitStack() as held:
            locks = [*([services.engine_slots] if slot else []),
                     *([services.filing_lock] if files else [])]
            for lock in locks:
                if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                    raise late
                held.callback(lock.release)
            return work(deadline)

    try:
        with anyio.fail_after(max(1e-3, deadline - time.monotonic())):
            # abandoned on time-out: the thread stops at its next deadline check
            return await anyio.to_thread.run_sync(locked, abandon_on_cancel=True)
    except TimeoutError:
        raise late from None
    except ImprintError as exc:
        for up in uploads:
            exc.args = tuple(str(a).replace(str(up.path), up.name) for a in exc.args)
        raise
