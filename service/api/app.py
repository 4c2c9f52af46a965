"""The HTTP service: :func:`create_app` composes the routers, the access middleware (limits,
audit, metrics) and the error format over one registry opened at start-up."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from imprint import __version__
from imprint.errors import ImprintError
from index.identify import SealSearch
from index.store import RegistryStore
from service.api.deps import Services, access_note
from service.api.middleware import AccessMiddleware
from service.api.routes import audit, batches, cases, documents, examine, ops, seals, stats
from service.api.schemas import error_responses
from service.audit import AuditTrail, anchor_path
from service.auth import KeyRing
from service.engine import clear_partial_reports
from service.errors import code_of, error_body, status_of
from service.metrics import Metrics
from service.settings import ServiceSettings
from service.uploads import UploadShelf
from service.web import router as web_router
from service.web import static_files
from service.workers import EnginePool, WorkerRegistry

LOG = logging.getLogger(__name__)
_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
               413: "upload_too_large", 415: "unsupported_media_type"}
DESCRIPTION = """Seal imprint forensic comparison: file seals with their master imprints,
verify a document's seal against one filed seal (1:1), identify the seals on a document
(1:N), examine a whole document (every seal identified, verified and its report stored), read
the reports, and read the audit trail. The examiner's web page is at `/`.

Every call but `/v1/health` needs an API key (`Authorization: Bearer KEY` or `X-API-Key`),
created with `imprint keys create --role ROLE`. Investigators and admins state the purpose of
each access to registry data (a case number) in `X-Purpose`. Errors are
`{"error": {"code": "...", "message": "..."}}`."""


def open_services(settings: ServiceSettings) -> Services:
    """The registry, its search (index loaded now, not by the first request), keys and audit."""
    store = RegistryStore.open(settings.registry)
    search = SealSearch(store, settings.embedder)
    search.index()
    clear_partial_reports(store.home)
    # the trail's anchor under the registry's home, for a PostgreSQL registry too
    audit = AuditTrail(store.engine, anchor=anchor_path(store.home))
    registry = WorkerRegistry.of(store, settings.embedder)
    pool = EnginePool(registry, settings.engine_workers)
    filer = EnginePool(registry, 1, nice=settings.filing_nice)
    # uploads under the registry's home: a killed server's are removed when one starts again
    uploads = UploadShelf(store.home)
    if uploads.cleared:
        LOG.warning("removed the uploads of %d server(s) that stopped without clearing them",
                    uploads.cleared)
    return Services(settings, store, search, KeyRing(store.engine), audit, Metrics(), pool,
                    filer, uploads)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = open_services(settings)
        app.state.services.pool.start()
        app.state.services.filer.start()
        batches.start(app.state.services)  # batches left by a stopped service are resumed
        try:
            yield
        finally:
            batches.stop(app.state.services)
            app.state.services.pool.close()
            app.state.services.filer.close()
            app.state.services.uploads.close()
            app.state.services.audit.close()  # the last rows anchored
            app.state.services.store.close()

    app = FastAPI(title="imprint", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, docs_url="/v1/docs", redoc_url=None,
                  openapi_url="/v1/openapi.json",
                  responses=error_responses(503))
    app.add_middleware(AccessMiddleware)
    app.add_exception_handler(ImprintError, _imprint_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    for module in (seals, examine, documents, audit, ops, stats, cases, batches):
        app.include_router(module.router)
    app.include_router(web_router)
    app.mount("/web", static_files(), name="web")
    return app


def _error(request: Request, status: int, code: str, message: str, **detail: object
           ) -> JSONResponse:
    access_note(request).outcome = code
    return JSONResponse(error_body(code, message, **detail), status_code=status)


async def _imprint_error(request: Request, exc: Exception) -> JSONResponse:
    status = status_of(exc)
    if status < 500:
        message = str(exc)
    else:  # the server's own storage or resources: logged here, not told to the client
        LOG.error("%s %s: %s", request.method, request.url.path, exc)
        message = "the service cannot do this now; try again later"
    return _error(request, status, code_of(exc), message)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
              for e in exc.errors()]
    first = fields[0] if fields else {"field": "", "message": "invalid request"}
    return _error(request, 422, "invalid_request", f"{first['field']}: {first['message']}",
                  fields=fields)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if isinstance(exc.__cause__, ImprintError):
        return await _imprint_error(request, exc.__cause__)
    return _error(request, exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"),
                  str(exc.detail))
