"""The audit trail's head, anchored outside the database, shows rows cut from the end or a tail
rewritten consistently; the trail's query refuses values it cannot hold; and the service reads
dates and times as written, never a number as a Unix time."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from imprint.errors import InvalidParameterError
from index.store import RegistryStore
from service import audit as audit_module
from service.audit import (
    Access,
    AuditTrail,
    Breach,
    anchor_path,
    append_anchor,
    sha256_hex,
)
from service.cli import main

ROWS = 6


def _access(i: int) -> Access:
    return Access(method="GET", endpoint="/v1/seals/{seal_id}", status=200, outcome="ok",
                  key_id=f"k{i % 3}", role="investigator", purpose="(2026)0417",
                  inputs={"seal_id": sha256_hex(f"S{i}")})


def _trail(home: Path, rows: int = ROWS, **kwargs) -> AuditTrail:
    """The registry in ``home`` with ``rows`` more rows appended, its head anchored."""
    with RegistryStore.open(home) as store:
        trail = AuditTrail(store.engine, **kwargs)
        for i in range(rows):
            trail.append(_access(i))
        trail.close()
    return trail


def _sql(home: Path, *statements: str) -> None:
    """Raw SQL by someone with access to the database, who drops the triggers first."""
    with sqlite3.connect(home / "registry.sqlite") as db:
        db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        db.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        for sql in statements:
            db.execute(sql)


def _verify(home: Path):
    with RegistryStore.open(home) as store:
        return AuditTrail(store.engine).verify()


def _cli_verify(home: Path, capsys) -> tuple[int, dict]:
    code = main(["audit", "verify", "--registry", str(home), "--json"])
    return code, json.loads(capsys.readouterr().out)


def _anchored_ids(home: Path) -> list[int]:
    """The ids of the heads in the registry's anchor (lines without one left out)."""
    ids = []
    for line in anchor_path(home).read_text().splitlines():
        try:
            ids.append(json.loads(line)["id"])
        except ValueError:
            continue
    return ids


# --- the anchor ---------------------------------------------------------------------------------

def test_an_intact_trail_with_anchors_verifies(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(audit_module, "ANCHOR_EVERY_S", 3600.0)
    _trail(tmp_path)
    lines = anchor_path(tmp_path).read_text().splitlines()
    # the first append of a process anchors at once, and close anchors the last
    assert [json.loads(line)["id"] for line in lines] == [1, ROWS]
    assert set(json.loads(lines[-1])) == {"id", "hash", "at"}
    check = _verify(tmp_path)
    assert check.intact and check.breach is None and check.note is None
    assert check.anchored_id == ROWS == check.head_id and check.anchors == 2
    assert json.loads(lines[-1])["hash"] == check.head_hash
    code, payload = _cli_verify(tmp_path, capsys)
    assert code == 0 and payload["anchored_id"] == ROWS and payload["breach"] is None


def test_deleting_the_newest_rows_is_found_against_the_anchor(tmp_path, capsys):
    """Whoever deletes the last rows and also winds back SQLite's issued ids leaves a chain
    that recomputes: only the anchor shows the cut."""
    _trail(tmp_path)
    _sql(tmp_path, f"DELETE FROM audit_log WHERE id > {ROWS - 2}",
         f"UPDATE sqlite_sequence SET seq = {ROWS - 2} WHERE name = 'audit_log'")
    check = _verify(tmp_path)
    assert not check.intact and check.breach is Breach.TRUNCATED
    assert check.first_bad_id == ROWS - 1 and check.head_id == ROWS - 2
    assert f"row {ROWS} was anchored" in check.reason
    code, payload = _cli_verify(tmp_path, capsys)
    assert code == 1 and payload["breach"] == "truncated"
    assert payload["first_bad_id"] == ROWS - 1


def test_deleting_every_row_is_found_against_the_anchor(tmp_path):
    _trail(tmp_path)
    _sql(tmp_path, "DELETE FROM audit_log", "DELETE FROM sqlite_sequence")
    check = _verify(tmp_path)
    assert not check.intact and check.breach is Breach.TRUNCATED
    assert check.rows == 0 and check.first_bad_id == 1


def test_a_tail_rewritten_consistently_is_found_against_the_anchor(tmp_path):
    """The last rows deleted and others appended in their place, by a writer that does not
    keep the anchor: the chain recomputes, but an anchored row now has another hash."""
    _trail(tmp_path)
    _sql(tmp_path, f"DELETE FROM audit_log WHERE id > {ROWS - 2}",
         f"UPDATE sqlite_sequence SET seq = {ROWS - 2} WHERE name = 'audit_log'")
    with RegistryStore.open(tmp_path) as store:
        forger = AuditTrail(store.engine, anchor=False)
        for i in range(3):
            forger.append(_access(100 + i))
        assert forger.verify().intact  # without the anchor, nothing shows
    check = _verify(tmp_path)
    assert not check.intact and check.breach is Breach.REWRITTEN
    assert check.first_bad_id == ROWS and "rewritten" in check.reason


def test_an_anchored_row_skipped_by_the_chain_is_found(tmp_path):
    """The chain relinked around an anchored row (ids need not be consecutive to chain)."""
    _trail(tmp_path)
    _sql(tmp_path, "DELETE FROM audit_log WHERE id = 1",
         f"UPDATE audit_log SET prev_hash = '{'0' * 64}' WHERE id = 2")
    # row 2's hash covers its prev_hash: recompute it as a forger would
    with sqlite3.connect(tmp_path / "registry.sqlite") as db:
        row = db.execute("SELECT id, at, key_id, role, purpose, method, endpoint, inputs, "
                         "status, outcome, prev_hash FROM audit_log WHERE id = 2").fetchone()
    _sql(tmp_path, f"UPDATE audit_log SET row_hash = '{audit_module._row_hash(*row)}' "
                   f"WHERE id = 2")
    check = _verify(tmp_path)
    assert not check.intact and check.breach is Breach.REWRITTEN and check.first_bad_id == 1


def test_a_registry_without_an_anchor_verifies_with_a_note(tmp_path, capsys):
    fresh = tmp_path / "fresh"
    with RegistryStore.open(fresh):
        pass
    check = _verify(fresh)
    assert check.intact and check.rows == 0 and check.anchored_id is None
    assert "no anchor" in check.note
    older = tmp_path / "older"  # rows appended before anchoring, or a copy of the database
    _trail(older, anchor=False)
    assert not anchor_path(older).exists()
    check = _verify(older)
    assert check.intact and check.rows == ROWS and "no anchor" in check.note
    code, payload = _cli_verify(older, capsys)
    assert code == 0 and "no anchor" in payload["note"]
    main(["audit", "verify", "--registry", str(older)])
    assert "note: no anchor" in capsys.readouterr().out


def test_rows_before_the_first_anchor_verify(tmp_path):
    _trail(tmp_path, anchor=False)
    _trail(tmp_path, rows=2)
    check = _verify(tmp_path)
    assert check.intact and check.anchored_id == ROWS + 2 and check.anchors == 2


def test_an_unreadable_anchor_line_is_noted_not_failed(tmp_path):
    _trail(tmp_path)
    with open(anchor_path(tmp_path), "a") as f:
        f.write('{"id": 99, "hash": "ab')  # cut short by a crash
    _trail(tmp_path, rows=1)  # the next head goes on a line of its own
    assert _anchored_ids(tmp_path)[-1] == ROWS + 1
    check = _verify(tmp_path)
    assert check.intact and check.anchored_id == ROWS + 1
    assert "1 line(s)" in check.note


def test_the_anchor_never_goes_back(tmp_path):
    path = anchor_path(tmp_path)
    assert append_anchor(path, 5, "a" * 64)
    assert not append_anchor(path, 3, "b" * 64)  # a slower process, behind another
    assert not append_anchor(path, 5, "c" * 64)
    assert append_anchor(path, 6, "d" * 64)
    assert _anchored_ids(tmp_path) == [5, 6]


def test_writers_in_turn_keep_the_anchor_in_order(tmp_path, monkeypatch):
    """Trails opened apart (as the service and the command line open theirs) append at once,
    each anchoring every row: the anchor's heads only go up, and the last is the head."""
    monkeypatch.setattr(audit_module, "ANCHOR_EVERY_S", 0.0)
    with RegistryStore.open(tmp_path) as store:
        trails = [AuditTrail(store.engine) for _ in range(3)]
        threads = [threading.Thread(target=lambda t=t: [t.append(_access(i)) for i in range(15)])
                   for t in trails]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check = AuditTrail(store.engine).verify()
    ids = _anchored_ids(tmp_path)
    assert ids == sorted(set(ids)) and ids[-1] == 45
    assert check.intact and check.rows == 45 and check.anchored_id == 45
    assert check.anchors == len(ids)


def test_the_service_and_the_command_line_anchor_one_trail(empty_server, capsys):
    home = empty_server.services.store.home
    with empty_server.client(empty_server.keys["auditor"]) as client:
        client.get("/v1/health")
        assert main(["keys", "create", "--role", "bank", "--registry", str(home)]) == 0
        client.get("/v1/health")
        check = client.get("/v1/audit/verify").json()
    capsys.readouterr()
    assert check["intact"] and check["breach"] is None and check["anchors"] >= 2
    ids = _anchored_ids(home)
    assert ids == sorted(set(ids))


# --- the query refuses what the trail cannot hold ----------------------------------------------

@pytest.fixture(scope="module")
def trail(tmp_path_factory) -> AuditTrail:
    home = tmp_path_factory.mktemp("registry")
    store = RegistryStore.open(home)
    trail = AuditTrail(store.engine)
    for i in range(ROWS):
        trail.append(_access(i))
    yield trail
    store.close()


@pytest.mark.parametrize("after_id", [2**63, -1, True, 1.5, "3"])
def test_an_after_id_out_of_range_is_refused(trail, after_id):
    with pytest.raises(InvalidParameterError, match="after_id"):
        trail.query(after_id=after_id)


def test_the_last_possible_after_id_is_an_empty_page(trail):
    assert trail.query(after_id=2**63 - 1) == []
    assert [e.id for e in trail.query(after_id=ROWS - 2)] == [ROWS - 1, ROWS]


@pytest.mark.parametrize("bound", [
    {"since": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))},
    {"until": datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1)))}])
def test_a_time_without_a_utc_form_is_refused(trail, bound):
    with pytest.raises(InvalidParameterError, match="outside the range of UTC"):
        trail.query(**bound)


def test_times_at_the_edge_of_utc_are_kept(trail):
    wide = trail.query(since=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=-1))),
                       until=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert len(wide) == ROWS
    assert len(trail.query(since=datetime(2000, 1, 1))) == ROWS  # naive: UTC


@pytest.mark.parametrize("bound", [{"since": date(2020, 1, 1)}, {"until": "2020-01-01"},
                                   {"since": 0}])
def test_a_time_that_is_not_a_datetime_is_refused(trail, bound):
    with pytest.raises(InvalidParameterError, match="expected a datetime"):
        trail.query(**bound)


@pytest.mark.parametrize("field", ["key_id", "role", "endpoint", "purpose"])
@pytest.mark.parametrize("value", ["a\ud800", "a\x00b", 7])
def test_a_filter_no_row_can_hold_is_refused(trail, field, value):
    with pytest.raises(InvalidParameterError, match=field):
        trail.query(**{field: value})


@pytest.mark.parametrize("value", ["abc", "g" * 64, "\ud800" * 64, 12])
def test_an_input_hash_that_is_not_a_sha256_is_refused(trail, value):
    with pytest.raises(InvalidParameterError, match="input_sha256"):
        trail.query(input_sha256=value)


def test_valid_filters_still_find_their_rows(trail):
    assert [e.id for e in trail.query(key_id="k1")] == [2, 5]
    found = trail.query(input_sha256=sha256_hex("S3").upper())
    assert [e.id for e in found] == [4]


# --- dates and times are read as written --------------------------------------------------------

def _error(response, status: int = 422, code: str = "invalid_request") -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return error


@pytest.mark.parametrize("on", ["0", "1700000000", "20200101", "2020-01-01T00:00:00",
                                "2020-1-1", "1e3"])
def test_a_date_query_given_otherwise_than_yyyy_mm_dd_is_refused(empty_server, on):
    with empty_server.client(empty_server.keys["admin"], "(2026)0417") as client:
        for path in ("/v1/stats", "/v1/seals/S1", "/v1/seals/by-chip/C1"):
            error = _error(client.get(path, params={"on": on}))
            assert error["fields"][0]["field"].startswith("query.on")
            assert "YYYY-MM-DD" in error["message"]


def test_a_date_query_as_written_is_read(empty_server):
    with empty_server.client(empty_server.keys["admin"], "(2026)0417") as client:
        r = client.get("/v1/stats", params={"on": "2020-02-29"})
        assert r.status_code == 200 and r.json()["on"].startswith("2020-02-29")
        _error(client.get("/v1/stats", params={"on": "2021-02-29"}))  # no such day


@pytest.mark.parametrize("moment", ["0", "0.5", "1700000000", "2020-01-01", "2020-01-01T10:00"])
def test_an_audit_time_given_otherwise_than_rfc_3339_is_refused(empty_server, moment):
    with empty_server.client(empty_server.keys["auditor"]) as client:
        for name in ("since", "until"):
            _error(client.get("/v1/audit", params={name: moment}))


@pytest.mark.parametrize("moment", ["2020-01-01T00:00:00", "2020-01-01T00:00:00Z",
                                    "2020-01-01 00:00:00.5+08:00"])
def test_an_audit_time_as_written_is_read(empty_server, moment):
    with empty_server.client(empty_server.keys["auditor"]) as client:
        assert client.get("/v1/audit", params={"since": moment}).status_code == 200


@pytest.mark.parametrize("path", ["/v1/verify", "/v1/identify", "/v1/documents",
                                  "/v1/reports", "/v1/cases/search"])
def test_a_document_date_given_as_a_number_is_refused(empty_server, path):
    with empty_server.client(empty_server.keys["admin"], "(2026)0417") as client:
        r = client.post(path, data={"date": "0", "seal_id": "S1"},
                        files={"file": ("page.png", b"not an image", "image/png")})
    error = _error(r)
    assert any(f["field"] == "body.date" for f in error["fields"])


@pytest.mark.parametrize("effective", [0, 1.5e9, "0", "2020-01-01T10:00:00+01:00", True])
def test_an_event_time_given_as_a_number_is_refused(empty_server, effective):
    with empty_server.client(empty_server.keys["admin"], "(2026)0417") as client:
        r = client.post("/v1/seals/S1/events", json={"kind": "suspended",
                                                     "effective": effective})
    assert _error(r)["fields"][0]["field"] == "body.effective"
