"""Registry statistics agree with counts taken directly from the store, seal by seal."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text

from imprint.errors import InvalidParameterError
from imprint.synth import names
from index.stats import AXES, OTHER_REGION, SEAL_AXES, registry_stats, stats_csv, stats_record
from index.store import EventKind, RegistryStore
from service.audit import Access, AuditTrail
from tests.index.registries import new_registry, open_registry

KINDS = ("round_official", "round_official", "oval_invoice", "square_name", "round_government")
ENGRAVERS = ("深圳市刻章一厂", "福田印章社", None)
N_SEALS = 240


def _code(rng: np.random.Generator, i: int) -> str | None:
    """Mostly 13-digit codes over a few areas; some missing, some from legacy systems."""
    roll = i % 10
    if roll == 0:
        return None
    if roll == 1:
        return f"L{i:05d}"  # legacy code of another length
    if roll == 2:
        return f"44AB{i:09d}"  # 13 characters, but not the numeric scheme
    return names.seal_code(rng, area=str(rng.choice(["4403", "4401", "1101"])))


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Seals of every kind, filed over three years, with suspensions, losses, resumptions,
    revocations, replacements and backdated events; and accesses on the audit trail."""
    home = tmp_path_factory.mktemp("stats")
    rng = np.random.default_rng(20260417)
    store = open_registry(new_registry(home))
    units = [store.add_unit(f"单位{i}", names.credit_code(rng)) for i in range(12)]
    start = datetime(2023, 1, 1, 9, 0)
    for i in range(N_SEALS):
        filed = start + timedelta(days=int(rng.integers(0, 3 * 365)),
                                  minutes=int(rng.integers(0, 600)))
        store.file_seal(f"S{i:05d}", units[i % len(units)], KINDS[i % len(KINDS)],
                        code=_code(rng, i), engraver=ENGRAVERS[i % len(ENGRAVERS)],
                        chip_serial=f"CHIP{i:06d}" if i % 3 == 0 else None,
                        made_on=filed.date(), filed_at=filed)
        sid, day = f"S{i:05d}", timedelta(days=1)
        match i % 8:
            case 1:
                store.record_event(sid, EventKind.SUSPENDED, filed + 30 * day)
            case 2:
                store.record_event(sid, EventKind.SUSPENDED, filed + 10 * day)
                store.record_event(sid, EventKind.RESUMED, filed + 40 * day)
            case 3:
                store.record_event(sid, EventKind.REPORTED_LOST, filed + 20 * day)
            case 4:
                store.record_event(sid, EventKind.REVOKED, filed + 50 * day, detail="dissolved")
            case 5:
                store.record_event(sid, EventKind.REPLACED_BY, filed + 60 * day,
                                   replaced_by=f"S{i - 1:05d}")
            case 6:
                # a suspension recorded first, then a revocation backdated before it: the seal
                # stays revoked although its latest event is the suspension
                store.record_event(sid, EventKind.SUSPENDED, filed + 90 * day)
                store.record_event(sid, EventKind.REVOKED, filed + 45 * day)
            case 7:
                # an event at the very moment of filing, recorded after it
                store.record_event(sid, EventKind.REPORTED_LOST, filed)
    trail = AuditTrail(store.engine)
    for endpoint, outcome, status, n in (("/v1/verify", "ok", 200, 7),
                                         ("/v1/verify", "no_imprint", 422, 2),
                                         ("/v1/identify", "ok", 200, 3),
                                         ("/v1/documents", "forbidden", 403, 1),
                                         ("/v1/seals", "ok", 201, 4)):
        for _ in range(n):
            trail.append(Access(method="POST", endpoint=endpoint, status=status,
                                outcome=outcome, key_id="k", role="investigator"))
    yield store
    store.close()


def _seals(store: RegistryStore):
    return store.search(limit=10**6)


def _region(code: str | None) -> str | None:
    if code is None:
        return None
    return code[:4] if len(code) == 13 and code[:4].isdigit() else OTHER_REGION


def _as_dict(tallies) -> dict:
    return {t.value: t.count for t in tallies}


@pytest.mark.parametrize("on", [None, date(2023, 6, 30), date(2024, 12, 31),
                                datetime(2025, 3, 1, 12, 0), date(2022, 1, 1)])
def test_statuses_agree_with_the_store_seal_by_seal(registry, on):
    stats = registry_stats(registry, by=["status"], on=on)
    direct = Counter(registry.status(s.seal_id, on).value for s in _seals(registry))
    assert _as_dict(stats.by["status"]) == dict(direct)
    assert stats.seals == N_SEALS == sum(direct.values())


def test_a_revocation_backdated_before_a_later_suspension_counts_as_revoked(registry):
    # seals i % 8 == 6: suspended, then revoked effective before the suspension; their latest
    # event is the suspension, yet they are revoked, as the store reads them
    assert registry.status("S00006").value == "revoked"
    revoked = _as_dict(registry_stats(registry, by=["status"]).by["status"])["revoked"]
    assert revoked == sum(1 for i in range(N_SEALS) if i % 8 in (4, 6))


def test_kind_engraver_region_and_period_agree_with_the_store(registry):
    seals = _seals(registry)
    for period, fmt in (("month", "%Y-%m"), ("year", "%Y")):
        stats = registry_stats(registry, by=SEAL_AXES, period=period)
        assert _as_dict(stats.by["kind"]) == dict(Counter(s.kind for s in seals))
        assert _as_dict(stats.by["engraver"]) == dict(Counter(s.engraver for s in seals))
        assert _as_dict(stats.by["region"]) == dict(Counter(_region(s.code) for s in seals))
        assert _as_dict(stats.by["period"]) == dict(Counter(s.filed_at.strftime(fmt)
                                                            for s in seals))
        periods = [t.value for t in stats.by["period"]]
        assert periods == sorted(periods)
        for tallies in (stats.by[a] for a in ("kind", "engraver", "region")):
            counts = [t.count for t in tallies]
            assert counts == sorted(counts, reverse=True)
    # and against plain SQL for the columns stored as they are counted
    with registry.engine.connect() as conn:
        kinds = dict(conn.execute(text("SELECT kind, COUNT(*) FROM seals GROUP BY kind")).all())
    assert _as_dict(stats.by["kind"]) == kinds
    assert {"4403", "4401", "1101", OTHER_REGION, None} == set(_as_dict(stats.by["region"]))


def test_events_agree_with_each_seals_events(registry):
    direct: Counter[tuple[str, str]] = Counter()
    for s in _seals(registry):
        for e in registry.events_of(s.seal_id):
            direct[(e.effective.strftime("%Y-%m"), e.kind.value)] += 1
    stats = registry_stats(registry, by=["events"])
    assert {(t.period, t.kind): t.count for t in stats.events} == dict(direct)
    assert stats.by == {} and stats.accesses == ()


def test_accesses_are_counted_from_the_audit_trail(registry):
    rows = AuditTrail(registry.engine).query(limit=1000)
    every = Counter((r.at[:7], r.endpoint, r.outcome) for r in rows)
    stats = registry_stats(registry, by=["accesses"], endpoints=None)
    assert {(t.period, t.endpoint, t.outcome): t.count for t in stats.accesses} == dict(every)
    examinations = registry_stats(registry, by=["accesses"]).accesses
    assert {t.endpoint for t in examinations} == {"/v1/verify", "/v1/identify", "/v1/documents"}
    assert sum(t.count for t in examinations if t.endpoint == "/v1/verify") == 9
    yearly = registry_stats(registry, by=["accesses"], period="year").accesses
    assert {t.period for t in yearly} == {r.at[:4] for r in rows}


def test_an_empty_registry_counts_nothing(tmp_path):
    with open_registry(new_registry(tmp_path)) as store:
        stats = registry_stats(store)
    assert stats.seals == 0 and all(t == () for t in stats.by.values())
    assert stats.events == () and stats.accesses == ()  # no audit table yet


def test_json_and_csv_hold_the_same_counts(registry):
    stats = registry_stats(registry, period="year")
    record = stats_record(stats)
    assert set(record["by"]) == set(SEAL_AXES) and record["seals"] == N_SEALS
    rows = list(csv.DictReader(io.StringIO(stats_csv(stats))))
    for axis in SEAL_AXES:
        from_csv = {r["value"]: int(r["count"]) for r in rows if r["axis"] == axis}
        assert from_csv == {t["value"] or "": t["count"] for t in record["by"][axis]}
    assert sum(int(r["count"]) for r in rows if r["axis"] == "events") == sum(
        e["count"] for e in record["events"])
    assert [(r["period"], r["endpoint"], r["outcome"]) for r in rows if r["axis"] == "accesses"
            ] == [(a["period"], a["endpoint"], a["outcome"]) for a in record["accesses"]]


def test_bad_axes_and_periods_are_refused(registry):
    with pytest.raises(InvalidParameterError, match="colour"):
        registry_stats(registry, by=["colour"])
    with pytest.raises(InvalidParameterError, match="period"):
        registry_stats(registry, period="week")
    assert set(AXES) > set(SEAL_AXES)
