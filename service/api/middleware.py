"""The access middleware: every request is measured against the upload limit, appended to the
audit trail before its response leaves, and counted in the metrics.

A response is held at its start until its audit row is written: an access the trail cannot
record is answered ``503 audit_unavailable`` instead. An error raised below the routes (a body
over the limit while the form is parsed, anything untyped) is answered here in the service's
error format, so no request leaves without a JSON error body and an audit row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imprint.errors import ImprintError
from service.api.deps import AccessNote, Services, utf8_header
from service.audit import Access, sha256_hex
from service.auth import clean_purpose
from service.errors import (
    AuditUnavailableError,
    UploadTooLargeError,
    code_of,
    error_body,
    status_of,
)

LOG = logging.getLogger(__name__)
#: Room for a multipart envelope (boundaries, form fields) around an upload at the limit.
ENVELOPE_BYTES = 64 * 1024
UNMATCHED = "(no route)"


class AccessMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services: Services = scope["app"].state.services
        note = AccessNote(started=time.monotonic())
        scope.setdefault("state", {})["access"] = note
        for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                                     keep_blank_values=True):
            note.inputs[f"query.{name}"] = sha256_hex(value)
        limit = services.settings.max_upload_bytes + ENVELOPE_BYTES
        too_large = UploadTooLargeError(f"the request body is over the upload limit of "
                                        f"{services.settings.max_upload_bytes / 1024**2:.0f} MB")
        body_digest, received = _Digest(), 0
        started = False

        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        # refused at the first read, not here: by then the route is known, for the audit row
        over = declared.isdigit() and int(declared) > limit

        async def receive_counted() -> Message:
            nonlocal received
            if over:
                note.refusal = too_large
                raise too_large
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    note.refusal = too_large
                    raise too_large
                body_digest.update(chunk)
            return message

        async def send_audited(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                if note.refusal is not None:  # the route saw only a parse failure
                    await self._refuse(scope, note, send, services, body=body_digest)
                    started = True
                    return
                started = True
                status = message["status"]
                if not await self._record(scope, note, status, services, body_digest):
                    await self._refuse(scope, note, send, services, audited=True)
                    return
            elif note.refusal is not None or note.outcome == AuditUnavailableError.code:
                return  # the body of a response replaced by a refusal
            await send(message)

        try:
            await self.app(scope, receive_counted, send_audited)
        except Exception as exc:
            if started:
                raise
            if note.refusal is None:
                LOG.exception("unhandled error serving %s %s", scope["method"], scope["path"])
                note.refusal = exc
            await self._refuse(scope, note, send, services, body=body_digest)

    async def _record(self, scope: Scope, note: AccessNote, status: int, services: Services,
                      body: _Digest) -> bool:
        """Append the access to the trail and the metrics; False if the trail refused it."""
        endpoint = _endpoint(scope, note)
        if note.key_id is None:  # refused before the route authenticated: still say who
            await anyio.to_thread.run_sync(_identify, scope, note, services)
        if body.seen:
            note.inputs.setdefault("body", body.hexdigest())
        access = Access(method=scope["method"], endpoint=endpoint, status=status,
                        outcome=note.outcome if status >= 400 else "ok", key_id=note.key_id,
                        role=note.role, purpose=note.purpose, inputs=dict(note.inputs))
        services.metrics.observe(endpoint, scope["method"], status,
                                 time.monotonic() - note.started)
        try:
            await anyio.to_thread.run_sync(services.audit.append, access)
        except Exception:
            LOG.exception("the audit trail refused an access; the response is withheld")
            services.metrics.audit_failures.inc()
            return False
        return True

    async def _refuse(self, scope: Scope, note: AccessNote, send: Send, services: Services, *,
                      body: _Digest | None = None, audited: bool = False) -> None:
        """Answer with the error in ``note.refusal`` (or the audit's own failure)."""
        if audited:
            exc: Exception = AuditUnavailableError("the access could not be recorded in the "
                                                   "audit trail; try again later")
        else:
            exc = note.refusal or AuditUnavailableError("refused")
        status = status_of(exc)
        note.outcome = code_of(exc)
        message = str(exc) if status < 500 or audited else "an internal error occurred"
        if not audited and not await self._record(scope, note, status, services,
                                                  body or _Digest()):
            exc, status = AuditUnavailableError("the access could not be recorded in the audit "
                                                "trail; try again later"), 503
            note.outcome, message = exc.code, str(exc)
        payload = json.dumps(error_body(note.outcome, message), ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


class _Digest:
    """SHA-256 of the request body as it streams in."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.seen = False

    def update(self, chunk: bytes) -> None:
        if chunk:
            self.seen = True
            self._h.update(chunk)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _identify(scope: Scope, note: AccessNote, services: Services) -> None:
    """The key of a request refused before its route authenticated it, if it is a live key."""
    headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    bearer = headers.get(b"authorization", "")
    key = bearer[7:] if bearer.lower().startswith("bearer ") else headers.get(b"x-api-key")
    try:
        info = services.keys.authenticate(key)
        purpose = clean_purpose(utf8_header(headers.get(b"x-purpose")))
    except ImprintError:
        return
    note.key_id, note.role, note.purpose = info.key_id, info.role.value, purpose


def _endpoint(scope: Scope, note: AccessNote) -> str:
    """The route's path template (``/v1/seals/{seal_id}``), its parameters hashed into the
    inputs; an unmatched path is hashed, not written (it may carry anything)."""
    route: Any = scope.get("route")
    if route is None or not getattr(route, "path", None):
        note.inputs.setdefault("path", sha256_hex(scope.get("path", "")))
        return UNMATCHED
    for name, value in (scope.get("path_params") or {}).items():
        note.inputs.setdefault(f"path.{name}", sha256_hex(str(value)))
    return route.path
