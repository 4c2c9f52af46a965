"""Registry statistics: filed seals counted by kind, status, engraver, region and period of
filing; life events by period and kind; and the service's accesses by period, endpoint and
outcome.

Every count is one ``GROUP BY`` in the database (portable SQL: SQLite and PostgreSQL), never a
loop over the seals in Python, so the cost grows with the number of groups, not of seals.

Conventions:

- **status** is never stored: it is derived from the seal's events (``index.store._fold``), in
  SQL. Events at or before the moment asked are ranked per seal by a window function: the
  first terminal event (``revoked``, ``replaced_by``) by ``(effective, id)`` if there is one
  (a cancelled seal stays cancelled whatever was recorded after it), else the latest event by
  ``(effective, id)``; its kind gives the status. A seal with no event by then is
  ``not_filed``. The moment is now, a datetime, or the end of a date (as
  :meth:`RegistryStore.status` reads a document's date).
- **region** is the 4-digit area at the head of a 13-character seal code (area + 3-digit
  engraver + 6-digit serial, the common description of the code; not an official source);
  ``"other"`` for a code outside that scheme, ``None`` for a seal filed without a code.
- **period** is the month (``YYYY-MM``) or year (``YYYY``) of filing (``filed_at``) for
  seals, of ``effective`` for events, and of the UTC time of the access for accesses.
- **accesses** come from the audit trail (table ``audit_log``, written by ``service.audit``
  and read here by name, so this floor does not import the service). Its rows hold the
  endpoint and the outcome (``ok`` or the error code), not the verdict or the status flag of a
  verification: those are not counted here.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    case,
    column,
    extract,
    func,
    inspect,
    select,
    table,
)

from imprint.errors import InvalidParameterError
from index.store import (
    _EFFECT,
    _TERMINAL,
    EventKind,
    EventRow,
    RegistryStore,
    SealRow,
    SealStatus,
    status_moment,
)

#: Ways of grouping filed seals.
SEAL_AXES = ("kind", "status", "engraver", "region", "period")
#: Everything :func:`registry_stats` can count: the seal axes, life events, service accesses.
AXES = (*SEAL_AXES, "events", "accesses")
PERIODS = ("month", "year")
#: The endpoints whose accesses are examinations of documents (1:1, 1:N, whole documents,
#: reports): the activity counted by default.
EXAMINATION_ENDPOINTS = ("/v1/verify", "/v1/identify", "/v1/documents", "/v1/reports")
#: Region of a seal code outside the 13-character scheme.
OTHER_REGION = "other"
CODE_LENGTH = 13
AREA_DIGITS = 4
#: Columns of :func:`stats_csv`, one row per count.
CSV_COLUMNS = ("axis", "value", "period", "endpoint", "outcome", "count")

_TERMINAL_KINDS = [k.value for k, s in _EFFECT.items() if s in _TERMINAL]
# the audit table as the service writes it (service.audit.AuditRow): only what is counted
_AUDIT = table("audit_log", column("at"), column("endpoint"), column("outcome"))
_AUDIT_PERIOD_CHARS = {"month": 7, "year": 4}  # "2026-03-01T..." -> "2026-03" / "2026"


@dataclass(frozen=True)
class Tally:
    """Seals in one group: ``value`` the kind, status, engraver, region or period; None where
    the registry holds no value (no engraver or no code on file)."""

    value: str | None
    count: int


@dataclass(frozen=True)
class EventTally:
    """Life events of one kind taking effect in one period."""

    period: str
    kind: str
    count: int


@dataclass(frozen=True)
class AccessTally:
    """Requests to one endpoint with one outcome (``ok`` or an error code) in one period."""

    period: str
    endpoint: str
    outcome: str
    count: int


@dataclass(frozen=True)
class RegistryStats:
    """What :func:`registry_stats` counted. ``on``: the moment statuses are taken at;
    ``seals``: every filed seal; ``by``: seal axis -> tallies (periods in time order, the other
    axes largest first); ``events`` and ``accesses`` in period order, empty unless asked for."""

    on: datetime
    period: str
    seals: int
    by: dict[str, tuple[Tally, ...]]
    events: tuple[EventTally, ...]
    accesses: tuple[AccessTally, ...]


def registry_stats(store: RegistryStore, *, by: Iterable[str] = AXES, period: str = "month",
                   on: date | datetime | None = None,
                   endpoints: Sequence[str] | None = EXAMINATION_ENDPOINTS) -> RegistryStats:
    """Count the registry along each axis in ``by`` (see :data:`AXES`).

    ``period``: ``month`` or ``year``; ``on``: statuses in force then (default now; a date
    means its end); ``endpoints``: the accesses counted (None: every endpoint).
    """
    axes = _axes(by)
    if period not in PERIODS:
        raise InvalidParameterError(f"period: {period!r} is not one of {', '.join(PERIODS)}")
    until = status_moment(on)
    with store.engine.connect() as conn, conn.begin():  # one snapshot for every count
        total = conn.execute(select(func.count()).select_from(SealRow)).scalar() or 0
        tallies = {axis: _seal_tallies(conn, axis, period, until)
                   for axis in axes if axis in SEAL_AXES}
        events = _event_tallies(conn, period) if "events" in axes else ()
        accesses = (_access_tallies(conn, period, endpoints)
                    if "accesses" in axes and inspect(conn).has_table(_AUDIT.name) else ())
    return RegistryStats(until, period, int(total), tallies, events, accesses)


# --- seals ------------------------------------------------------------------------------------

def _status_column(until: datetime) -> tuple[ColumnElement[str], Any]:
    """``(status, join)``: each seal's status in force at ``until`` as a SQL expression over
    ``seals`` outer-joined to the subquery ``join`` on ``seal_id`` (see the module's note)."""
    e = EventRow
    terminal = e.kind.in_(_TERMINAL_KINDS)
    rank = func.row_number().over(partition_by=e.seal_id, order_by=(
        case((terminal, 0), else_=1),
        case((terminal, e.effective)).asc(), case((terminal, e.id)).asc(),  # first terminal
        e.effective.desc(), e.id.desc()))  # else the latest
    ranked = (select(e.seal_id, e.kind, rank.label("rank")).where(e.effective <= until)
              .subquery("ranked"))
    last = (select(ranked.c.seal_id, ranked.c.kind).where(ranked.c.rank == 1)
            .subquery("last_event"))
    status = case(*((last.c.kind == kind.value, effect.value) for kind, effect in _EFFECT.items()),
                  else_=SealStatus.NOT_FILED.value)
    return status, last


def _seal_tallies(conn: Any, axis: str, period: str, until: datetime) -> tuple[Tally, ...]:
    s = SealRow
    inner: Select
    if axis == "period":
        parts = [extract("year", s.filed_at).label("y")]
        if period == "month":
            parts.append(extract("month", s.filed_at).label("m"))
        inner = select(*parts)
    elif axis == "status":
        status, last = _status_column(until)
        inner = (select(status.label("v")).select_from(s)
                 .outerjoin(last, last.c.seal_id == s.seal_id))
    elif axis == "region":
        inner = select(case((func.length(s.code) == CODE_LENGTH,
                             func.substr(s.code, 1, AREA_DIGITS)),
                            (s.code.is_not(None), OTHER_REGION)).label("v"))
    else:
        inner = select(getattr(s, axis).label("v"))
    # grouped outside the subquery: PostgreSQL will not match a GROUP BY expression whose bound
    # parameters differ from the SELECT's
    sub = inner.subquery("per_seal")
    keys = list(sub.c)
    rows = conn.execute(select(*keys, func.count().label("n")).group_by(*keys)).all()
    if axis == "period":
        found = [Tally(_period_text(r[0], r[1] if period == "month" else None), int(r[-1]))
                 for r in rows]
        return tuple(sorted(found, key=lambda t: t.value or ""))
    counts: Counter[str | None] = Counter()
    for value, n in rows:
        if axis == "region" and value not in (None, OTHER_REGION) and not (
                len(value) == AREA_DIGITS and value.isdigit()):
            value = OTHER_REGION  # 13 characters, but not a number: outside the scheme
        counts[value] += int(n)
    return tuple(Tally(v, n) for v, n in sorted(counts.items(),
                                                key=lambda kv: (-kv[1], kv[0] is None,
                                                                kv[0] or "")))


def _period_text(year: Any, month: Any | None) -> str:
    return f"{int(year):04d}" if month is None else f"{int(year):04d}-{int(month):02d}"


# --- events and accesses ----------------------------------------------------------------------

def _event_tallies(conn: Any, period: str) -> tuple[EventTally, ...]:
    e = EventRow
    parts = [extract("year", e.effective).label("y")]
    if period == "month":
        parts.append(extract("month", e.effective).label("m"))
    sub = select(*parts, e.kind.label("kind")).subquery("per_event")
    keys = list(sub.c)
    rows = conn.execute(select(*keys, func.count()).group_by(*keys)).all()
    found = [EventTally(_period_text(r[0], r[1] if period == "month" else None), r[-2],
                        int(r[-1])) for r in rows]
    order = {k.value: i for i, k in enumerate(EventKind)}
    return tuple(sorted(found, key=lambda t: (t.period, order.get(t.kind, len(order)), t.kind)))


def _access_tallies(conn: Any, period: str, endpoints: Sequence[str] | None
                    ) -> tuple[AccessTally, ...]:
    a = _AUDIT.c
    inner = select(func.substr(a.at, 1, _AUDIT_PERIOD_CHARS[period]).label("period"),
                   a.endpoint, a.outcome)
    if endpoints is not None:
        inner = inner.where(a.endpoint.in_(list(endpoints)))
    sub = inner.subquery("per_access")
    keys = list(sub.c)
    rows = conn.execute(select(*keys, func.count()).group_by(*keys)
                        .order_by(*keys)).all()
    return tuple(AccessTally(p, ep, out, int(n)) for p, ep, out, n in rows)


# --- helpers and output -----------------------------------------------------------------------

def _axes(by: Iterable[str]) -> tuple[str, ...]:
    axes = tuple(dict.fromkeys(by))
    unknown = [a for a in axes if a not in AXES]
    if unknown or not axes:
        raise InvalidParameterError(f"by: {', '.join(unknown) or 'nothing'} given; choose "
                                    f"from {', '.join(AXES)}")
    return axes


def stats_record(stats: RegistryStats) -> dict:
    """The statistics as JSON-ready data (``imprint stats --json``, ``GET /v1/stats``)."""
    return {
        "on": stats.on.isoformat(), "period": stats.period, "seals": stats.seals,
        "by": {axis: [{"value": t.value, "count": t.count} for t in tallies]
               for axis, tallies in stats.by.items()},
        "events": [{"period": t.period, "kind": t.kind, "count": t.count} for t in stats.events],
        "accesses": [{"period": t.period, "endpoint": t.endpoint, "outcome": t.outcome,
                      "count": t.count} for t in stats.accesses]}


def stats_csv(stats: RegistryStats) -> str:
    """The statistics as one CSV table of :data:`CSV_COLUMNS`, a row per count: seal axes as
    ``(axis, value)`` (the period axis's value is the period), events as ``("events", kind,
    period)``, accesses as ``("accesses", "", period, endpoint, outcome)``; a value the
    registry does not hold is empty."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for axis, tallies in stats.by.items():
        for t in tallies:
            w.writerow((axis, t.value or "", "", "", "", t.count))
    for e in stats.events:
        w.writerow(("events", e.kind, e.period, "", "", e.count))
    for a in stats.accesses:
        w.writerow(("accesses", "", a.period, a.endpoint, a.outcome, a.count))
    return out.getvalue()
