"""The audit trail: query it, and recompute its hash chain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator

from service.api.deps import ServicesDep, allow
from service.api.schemas import (
    KEYED,
    AuditEntryOut,
    AuditPageOut,
    ChainCheckOut,
    UtcDateTimeIn,
    error_responses,
)
from service.audit import MAX_QUERY_ROWS, MAX_ROW_ID
from service.auth import Caller

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=error_responses(*KEYED))


def _in_utc(moment: datetime | None) -> datetime | None:
    """``moment`` as a UTC time (a naive one is taken as UTC), refused where UTC cannot hold
    it (year 1 or 9999 with an offset)."""
    if moment is None:
        return None
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise ValueError("outside the range of UTC times") from None


UtcQuery = Annotated[UtcDateTimeIn | None, Query(description="UTC, or with its offset"),
                     AfterValidator(_in_utc)]


@router.get("", response_model=AuditPageOut, summary="Query the audit trail")
def query_audit(services: ServicesDep, _: Annotated[Caller, Depends(allow("audit.query"))],
                key_id: str | None = None, role: str | None = None,
                endpoint: Annotated[str | None, Query(description="a path template, e.g. "
                                                               "/v1/verify")] = None,
                purpose: str | None = None,
                input_sha256: Annotated[str | None, Query(
                    pattern="^[0-9a-fA-F]{64}$",
                    description="rows where any input had this SHA-256 (e.g. of a seal id)")
                ] = None,
                since: UtcQuery = None,
                until: UtcQuery = None,
                after_id: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
                limit: Annotated[int, Query(ge=1, le=MAX_QUERY_ROWS)] = 100) -> AuditPageOut:
    rows = services.audit.query(key_id=key_id, role=role, endpoint=endpoint, purpose=purpose,
                                input_sha256=input_sha256, since=since, until=until,
                                after_id=after_id, limit=limit)
    return AuditPageOut(entries=[AuditEntryOut.of(r) for r in rows],
                        next_after_id=rows[-1].id if len(rows) == limit else None)


@router.get("/verify", response_model=ChainCheckOut,
            summary="Recompute the hash chain: is every row as it was appended?")
async def verify_audit(services: ServicesDep,
                       _: Annotated[Caller, Depends(allow("audit.verify"))]) -> ChainCheckOut:
    """``intact`` false names the first bad row and why. ``head_hash`` is worth keeping
    elsewhere: against it, even a rewritten tail of the trail shows."""
    return ChainCheckOut.of(await anyio.to_thread.run_sync(services.audit.verify))
