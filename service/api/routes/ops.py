"""Health and metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from imprint import __version__
from imprint.pipeline import IMAGING_VERSION
from service.api.deps import ServicesDep, allow
from service.api.schemas import HealthOut, error_responses
from service.auth import Caller
from service.metrics import CONTENT_TYPE

router = APIRouter(prefix="/v1", tags=["operations"])


@router.get("/health", response_model=HealthOut, summary="Is the service up? (no key needed)")
def health(services: ServicesDep) -> HealthOut:
    """Reads the registry database, so a service that cannot reach it does not report ok."""
    services.store.master_extent()
    return HealthOut(status="ok", version=__version__, imaging_version=IMAGING_VERSION)


@router.get("/metrics", response_class=Response, summary="Prometheus metrics",
            responses={200: {"content": {CONTENT_TYPE: {}}}, **error_responses(401, 403, 422)})
def metrics(services: ServicesDep, _: Annotated[Caller, Depends(allow("metrics"))]) -> Response:
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE)
