"""Registry statistics: seals counted by kind, status, engraver, region and period of filing,
life events and examination accesses by period (:mod:`index.stats`), as JSON or CSV."""

from __future__ import annotations

import enum
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Response

from index.stats import AXES, registry_stats, stats_csv, stats_record
from service.api.deps import ServicesDep, allow
from service.api.schemas import KEYED, DateIn, StatsOut, error_responses
from service.auth import Caller

router = APIRouter(prefix="/v1", tags=["statistics"], responses=error_responses(*KEYED))

StatsAxis = enum.StrEnum("StatsAxis", {a.upper(): a for a in AXES})


class StatsPeriod(enum.StrEnum):
    MONTH = "month"
    YEAR = "year"


class StatsFormat(enum.StrEnum):
    JSON = "json"
    CSV = "csv"


@router.get("/stats", response_model=StatsOut, summary="Registry statistics (JSON or CSV)",
            responses={200: {"content": {"text/csv": {}},
                             "description": "the counts; format=csv: one CSV table of axis, "
                                            "value, period, endpoint, outcome, count"}})
async def read_stats(services: ServicesDep, _: Annotated[Caller, Depends(allow("stats"))],
                     by: Annotated[list[StatsAxis] | None, Query(
                         description="what to count, repeatable (default: everything)")] = None,
                     period: Annotated[StatsPeriod, Query(
                         description="periods of filing, events and accesses")
                     ] = StatsPeriod.MONTH,
                     on: Annotated[DateIn | None, Query(
                         description="statuses in force at the end of this date (default: "
                                     "now)")] = None,
                     format: Annotated[StatsFormat, Query()] = StatsFormat.JSON
                     ) -> StatsOut | Response:
    """Counts only, never a seal or a caller: every count is one query over the registry's
    database. Accesses are those to the examination endpoints, by outcome (the audit trail
    records the outcome of a verification, not its verdict)."""
    axes = [a.value for a in by] if by else list(AXES)
    stats = await anyio.to_thread.run_sync(
        lambda: registry_stats(services.store, by=axes, period=period.value, on=on))
    if format is StatsFormat.CSV:
        return Response(stats_csv(stats), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="registry-stats.csv"'})
    return StatsOut(**stats_record(stats))
