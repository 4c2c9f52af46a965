"""``imprint keys`` (a key is shown once, only its hash is kept) and ``imprint serve``."""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest

from service.cli import main


def _run(capsys, *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def test_keys_are_created_listed_and_revoked(tmp_path, capsys):
    home = str(tmp_path / "registry")
    code, made = _run(capsys, "keys", "create", "--role", "investigator", "--name",
                      "李警官", "--json", "--registry", home)
    assert code == 0 and made["role"] == "investigator" and made["name"] == "李警官"
    secret = made["key"]
    assert secret.startswith(f"imp_{made['key_id']}_")

    with sqlite3.connect(tmp_path / "registry" / "registry.sqlite") as db:
        rows = db.execute("SELECT * FROM api_keys").fetchall()
    assert len(rows) == 1 and secret not in repr(rows)  # the key itself is never stored
    assert hashlib.sha256(secret.encode()).hexdigest() in rows[0]

    code, listed = _run(capsys, "keys", "list", "--json", "--registry", home)
    assert [k["key_id"] for k in listed["keys"]] == [made["key_id"]]
    assert "key" not in listed["keys"][0]

    code, revoked = _run(capsys, "keys", "revoke", made["key_id"], "--json", "--registry", home)
    assert code == 0 and revoked["revoked_at"]
    code, listed = _run(capsys, "keys", "list", "--json", "--registry", home)
    assert listed["keys"][0]["revoked_at"] == revoked["revoked_at"]

    # managing keys is on the audit trail, and the trail is intact
    code, check = _run(capsys, "audit", "verify", "--json", "--registry", home)
    assert code == 0 and check["rows"] == 2


def test_bad_key_commands_are_refused(tmp_path, capsys):
    home = str(tmp_path / "registry")
    with pytest.raises(SystemExit) as exc:
        main(["keys", "create", "--role", "superuser", "--registry", home])
    assert exc.value.code == 2
    assert main(["keys", "revoke", "000000000000", "--registry", home]) == 2
    assert "no API key" in capsys.readouterr().err


def test_serve_starts_the_service(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port),
                             "--registry", str(tmp_path / "registry")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/v1/seals").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
