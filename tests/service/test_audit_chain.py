"""The audit trail is append-only: the ORM and the database refuse changes, and a row edited or
deleted with raw SQL after dropping the triggers is found by ``imprint audit verify`` and by
``GET /v1/audit/verify``, which name the first bad row."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from index.errors import RegistryIntegrityError
from service.audit import AuditRow, _row_hash
from service.cli import main

ROWS = 8


@pytest.fixture(scope="module")
def trail(empty_server) -> Path:
    """The registry of a live service whose trail holds at least ``ROWS`` rows."""
    with empty_server.client(empty_server.keys["bank"]) as client:
        for _ in range(ROWS // 2):
            client.get("/v1/health")
            client.get("/v1/audit")  # forbidden to a bank, recorded all the same
    return empty_server.services.store.home


def _copy(home: Path, to: Path) -> Path:
    """A copy of the registry database (WAL included), to tamper with."""
    to.mkdir()
    with sqlite3.connect(home / "registry.sqlite") as src, \
            sqlite3.connect(to / "registry.sqlite") as dst:
        src.backup(dst)
    return to


def _tamper(home: Path, *statements: str) -> None:
    with sqlite3.connect(home / "registry.sqlite") as db:
        db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        db.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        for sql in statements:
            db.execute(sql)


def _cli_verify(home: Path, capsys) -> tuple[int, dict]:
    code = main(["audit", "verify", "--registry", str(home), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_an_intact_trail_verifies(trail, capsys):
    code, check = _cli_verify(trail, capsys)
    assert code == 0 and check["intact"] and check["rows"] >= ROWS
    assert check["first_bad_id"] is None and len(check["head_hash"]) == 64


@pytest.mark.parametrize("sql", ["UPDATE audit_log SET status = 200 WHERE id = 2",
                                 "DELETE FROM audit_log WHERE id = 2"])
def test_the_database_refuses_raw_changes(trail, sql):
    with sqlite3.connect(trail / "registry.sqlite") as db, \
            pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute(sql)


def test_the_orm_refuses_changes(empty_server, trail):
    engine = empty_server.services.audit.engine
    with Session(engine) as s:
        row = s.scalars(select(AuditRow).where(AuditRow.id == 2)).one()
        row.outcome = "tampered"
        with pytest.raises(RegistryIntegrityError):
            s.flush()
    with Session(engine) as s:
        s.delete(s.get(AuditRow, 3))
        with pytest.raises(RegistryIntegrityError):
            s.flush()


def test_an_edited_row_is_found(trail, tmp_path, capsys):
    home = _copy(trail, tmp_path / "edited")
    _tamper(home, "UPDATE audit_log SET status = 200, outcome = 'ok' WHERE id = 4")
    code, check = _cli_verify(home, capsys)
    assert code == 1 and not check["intact"]
    assert check["first_bad_id"] == 4 and "altered" in check["reason"]


def test_an_edited_row_whose_hash_was_recomputed_is_found(trail, tmp_path, capsys):
    """Whoever also recomputes the edited row's own hash breaks its link to the next row."""
    home = _copy(trail, tmp_path / "rehashed")
    with sqlite3.connect(home / "registry.sqlite") as db:
        row = db.execute("SELECT id, at, key_id, role, purpose, method, endpoint, inputs, "
                         "status, outcome, prev_hash FROM audit_log WHERE id = 4").fetchone()
    forged = list(row)
    forged[8], forged[9] = 200, "ok"  # status, outcome
    _tamper(home, f"UPDATE audit_log SET status = 200, outcome = 'ok', "
                  f"row_hash = '{_row_hash(*forged)}' WHERE id = 4")
    code, check = _cli_verify(home, capsys)
    assert code == 1 and check["first_bad_id"] == 5
    assert "row 4" in check["reason"]


def test_a_deleted_row_is_found(trail, tmp_path, capsys):
    home = _copy(trail, tmp_path / "deleted")
    _tamper(home, "DELETE FROM audit_log WHERE id = 3")
    code, check = _cli_verify(home, capsys)
    assert code == 1 and check["first_bad_id"] == 4
    assert "row 2" in check["reason"]


def test_a_deleted_last_row_is_found(trail, tmp_path, capsys):
    home = _copy(trail, tmp_path / "truncated")
    _tamper(home, "DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)")
    code, check = _cli_verify(home, capsys)
    assert code == 1 and "deleted" in check["reason"]


def test_the_endpoint_finds_tampering_in_the_live_trail(empty_server, trail):
    _tamper(trail, "UPDATE audit_log SET purpose = 'a different case' WHERE id = 5")
    with empty_server.client(empty_server.keys["auditor"]) as client:
        check = client.get("/v1/audit/verify").json()
    assert check["intact"] is False and check["first_bad_id"] == 5
