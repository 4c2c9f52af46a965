"""``/v1/batches`` over a live server: files and a zip swept to JSONL and CSV, a running batch
cancelled with nothing lost, the queue's bound, who may do what, whose batches a key sees,
and a batch left running by a dead service resumed when it starts again."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from index.filing import file_master
from index.identify import SealSearch
from index.store import RegistryStore
from service.api.routes.batches import MAX_ATTEMPTS, MAX_QUEUED_BATCHES
from service.settings import ServiceSettings
from service.sweep.journal import JOURNAL_NAME
from tests.service.conftest import PURPOSE, LiveServer, generated_seals

FINAL = {"done", "failed", "cancelled"}
ROLES = ("registrar", "investigator", "bank", "auditor", "admin")
ALLOWED = {"registrar", "investigator", "admin"}


@pytest.fixture(scope="module")
def seals(tmp_path_factory):
    """A and B filed (below), C never filed."""
    return dict(zip("ABC", generated_seals(tmp_path_factory.mktemp("seals"), 3), strict=True))


@pytest.fixture(scope="module")
def template(seals, tmp_path_factory):
    """A registry with A and B filed, copied for each server."""
    home = tmp_path_factory.mktemp("template")
    with RegistryStore.open(home) as store:
        search = SealSearch(store, "classical")
        for name in "AB":
            file_master(search, seals[name].master, seal_id=seals[name].seal_id,
                        unit=seals[name].unit)
    return home


def _server(template: Path, home: Path) -> LiveServer:
    if not home.exists():
        shutil.copytree(template, home)
    return LiveServer(ServiceSettings(registry=str(home), embedder="classical",
                                      engine_workers=2))


@pytest.fixture(scope="module")
def server(template, tmp_path_factory):
    live = _server(template, tmp_path_factory.mktemp("live") / "registry")
    yield live
    live.stop()


def _client(server: LiveServer, role: str, *, purpose: bool = True) -> httpx.Client:
    return server.client(server.keys[role], PURPOSE if purpose else None)


def _submit(client: httpx.Client, files: list[tuple[str, bytes]], **data) -> httpx.Response:
    return client.post("/v1/batches", data=data,
                       files=[("files", (name, content, "application/octet-stream"))
                              for name, content in files])


def _wait(client: httpx.Client, batch_id: str, until=lambda b: b["state"] in FINAL,
          timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/v1/batches/{batch_id}")
        assert r.status_code == 200, r.text
        if until(r.json()):
            return r.json()
        assert time.monotonic() < deadline, r.json()
        time.sleep(0.05)


def _variants(content: bytes, n: int) -> list[tuple[str, bytes]]:
    """``n`` documents of one scan with distinct content (bytes after the PNG's end)."""
    return [(f"scan_{i:02d}.png", content + f"copy {i}".encode()) for i in range(n)]


@contextmanager
def _engine_held(server: LiveServer):
    """Every engine slot taken (the way busy interactive requests take them): a batch waits
    before its next document until they are given back."""
    slots = server.services.engine_slots
    workers = server.services.settings.engine_workers
    for _ in range(workers):
        slots.acquire()
    try:
        yield
    finally:
        for _ in range(workers):
            slots.release()


def _jsonl(response: httpx.Response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines()]


def _csv(response: httpx.Response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_files_and_a_zip_are_swept_into_jsonl_and_csv(server, seals):
    a, b, c = seals["A"], seals["B"], seals["C"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("box/b.png", b.probe.read_bytes())
        z.writestr("box/readme.txt", "not a document")
    uploads = [("a.png", a.probe.read_bytes()), ("unfiled.png", c.probe.read_bytes()),
               ("filings.zip", archive.getvalue())]
    with _client(server, "investigator") as client:
        r = _submit(client, uploads, date="2000-03-01")
        assert r.status_code == 202, r.text
        queued = r.json()
        assert r.headers["location"] == f"/v1/batches/{queued['id']}"
        assert queued["state"] in {"queued", "running"} and queued["documents_total"] == 3
        assert queued["purpose"] == PURPOSE and queued["date"] == "2000-03-01"
        assert [(i["name"], i["kind"]) for i in queued["inputs"]] == [
            ("a.png", "image"), ("unfiled.png", "image"), ("filings.zip", "zip")]
        batch = _wait(client, queued["id"])
        jsonl = client.get(batch["links"]["results_jsonl"])
        table = client.get(batch["links"]["results_csv"])
    assert batch["state"] == "done", batch
    assert batch["documents_done"] == batch["documents_total"] == 3
    assert batch["imprints"] == 3 and batch["failures"] == [] and batch["results_ready"]
    # judged on the documents' date, before the seals were filed
    assert batch["flagged"] == 3
    assert batch["flags"] == {"no_registered_seal": 1, "seal_not_filed": 2}
    assert batch["finished_at"] >= batch["started_at"] >= batch["created_at"]

    assert jsonl.status_code == 200 and jsonl.headers["content-type"].startswith(
        "application/x-ndjson")
    records = {r["file"]: r for r in _jsonl(jsonl)}
    # named as the client named them, never by their place on the server
    assert set(records) == {"a.png", "unfiled.png", "filings.zip/box/b.png"}
    assert records["a.png"]["match"] == a.seal_id
    assert records["a.png"]["flags"] == ["seal_not_filed"]
    assert records["filings.zip/box/b.png"]["match"] == b.seal_id
    assert records["unfiled.png"]["match"] is None
    assert records["unfiled.png"]["flags"] == ["no_registered_seal"]
    assert all(r["date"] == "2000-03-01" for r in records.values())
    assert records["a.png"]["status"] == "not_filed"

    assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
    rows = {row["file"]: row for row in _csv(table)}
    assert set(rows) == set(records)
    assert rows["unfiled.png"]["flags"] == "no_registered_seal"
    assert {row["state"] for row in rows.values()} == {"done"}


def test_the_uploads_are_audited_by_their_hashes(server, seals):
    content = seals["B"].probe.read_bytes() + b"audited"
    with _client(server, "registrar") as client:
        r = _submit(client, [("b.png", content)])
        assert r.status_code == 202, r.text
        _wait(client, r.json()["id"])
    with _client(server, "auditor") as client:
        rows = client.get("/v1/audit", params={
            "input_sha256": hashlib.sha256(content).hexdigest()}).json()["entries"]
    assert [(e["method"], e["endpoint"], e["status"]) for e in rows] == [
        ("POST", "/v1/batches", 202)]
    assert rows[0]["role"] == "registrar" and rows[0]["purpose"] == PURPOSE


def test_a_running_batch_is_cancelled_with_its_results_so_far(server, seals):
    documents = _variants(seals["A"].probe.read_bytes(), 20)
    with _client(server, "investigator") as client:
        with _engine_held(server):
            r = _submit(client, documents)
            assert r.status_code == 202, r.text
            batch_id = r.json()["id"]
            _wait(client, batch_id, lambda b: b["state"] == "running")
            early = client.get(f"/v1/batches/{batch_id}/results.jsonl")
            assert early.status_code == 404
            assert early.json()["error"]["code"] == "results_not_ready"
        _wait(client, batch_id, lambda b: b["documents_done"] >= 2)
        with _engine_held(server):  # taken once the document in hand is done
            r = client.post(f"/v1/batches/{batch_id}/cancel")
            assert r.status_code == 200, r.text
            assert r.json()["cancel_requested"] and r.json()["state"] == "running"
        batch = _wait(client, batch_id)
        jsonl = client.get(f"/v1/batches/{batch_id}/results.jsonl")
        table = client.get(f"/v1/batches/{batch_id}/results.csv")
        again = client.post(f"/v1/batches/{batch_id}/cancel")
    assert batch["state"] == "cancelled", batch
    done = batch["documents_done"]
    assert 2 <= done < 20 and batch["not_examined"] == 20 - done
    assert batch["documents_total"] == 20 and batch["failures"] == []
    assert batch["imprints"] == done and batch["results_ready"]
    # nothing lost: every document journaled is in the results, and only those
    journal = (server.services.store.home / "batches" / batch_id / "out" / JOURNAL_NAME)
    journaled = {json.loads(line)["file"] for line in journal.read_text().splitlines()[1:]}
    assert len(journaled) == done
    assert {r["file"] for r in _jsonl(jsonl)} == journaled
    assert {row["file"] for row in _csv(table)} == journaled
    assert again.status_code == 200 and again.json()["state"] == "cancelled"


def test_the_queue_is_bounded_and_a_queued_batch_cancels_at_once(server, seals):
    document = [("a.png", seals["A"].probe.read_bytes())]
    with _client(server, "admin") as client, _engine_held(server):
        running = _submit(client, document).json()["id"]
        _wait(client, running, lambda b: b["state"] == "running")
        queued = [_submit(client, document) for _ in range(MAX_QUEUED_BATCHES)]
        assert [r.status_code for r in queued] == [202] * MAX_QUEUED_BATCHES
        full = _submit(client, document)
        assert full.status_code == 429, full.text
        assert full.json()["error"]["code"] == "batch_queue_full"
        assert int(full.headers["retry-after"]) > 0
        ids = [r.json()["id"] for r in queued]
        for batch_id in ids:
            r = client.post(f"/v1/batches/{batch_id}/cancel")
            assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
            assert r.json()["finished_at"] is not None
        results = client.get(f"/v1/batches/{ids[0]}/results.csv")
        assert results.status_code == 404
        assert results.json()["error"]["code"] == "results_not_ready"
        assert _submit(client, document).status_code == 202  # room again
        client.post(f"/v1/batches/{running}/cancel")
    with _client(server, "admin") as client:
        for batch in client.get("/v1/batches").json()["batches"]:
            client.post(f"/v1/batches/{batch['id']}/cancel")
            _wait(client, batch["id"])


def test_what_is_not_a_document_is_refused_before_anything_is_queued(server, seals):
    empty_zip = io.BytesIO()
    with zipfile.ZipFile(empty_zip, "w") as z:
        z.writestr("readme.txt", "nothing to examine")
    with _client(server, "investigator") as client:
        before = len(client.get("/v1/batches").json()["batches"])
        text = _submit(client, [("a.png", seals["A"].probe.read_bytes()),
                                ("notes.png", b"not an image at all")])
        no_docs = _submit(client, [("docs.zip", empty_zip.getvalue())])
        no_files = client.post("/v1/batches", data={"top_k": "3"})
        after = len(client.get("/v1/batches").json()["batches"])
    assert text.status_code == 415 and text.json()["error"]["code"] == "unsupported_format"
    assert "notes.png" in text.json()["error"]["message"]
    assert no_docs.status_code == 422 and no_docs.json()["error"]["code"] == "invalid_parameter"
    assert no_files.status_code == 422
    assert after == before
    assert not list((server.services.store.home / "batches").glob(".staging-*"))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_the_batches_only_if_it_may(server, seals, role):
    with _client(server, "admin") as admin:
        someone = _submit(admin, [("a.png", seals["A"].probe.read_bytes())]).json()["id"]
        _wait(admin, someone)
    with _client(server, role) as client:
        submitted = _submit(client, [("b.png", seals["B"].probe.read_bytes())])
        own = submitted.json()["id"] if submitted.status_code == 202 else someone
        if submitted.status_code == 202:
            _wait(client, own)
        answers = {"submit": submitted, "list": client.get("/v1/batches"),
                   "read": client.get(f"/v1/batches/{own}"),
                   "jsonl": client.get(f"/v1/batches/{own}/results.jsonl"),
                   "csv": client.get(f"/v1/batches/{own}/results.csv"),
                   "cancel": client.post(f"/v1/batches/{own}/cancel")}
    for what, r in answers.items():
        if role in ALLOWED:
            assert r.status_code < 300, (what, r.text)
        else:
            assert r.status_code == 403, (what, r.text)
            assert r.json()["error"]["code"] == "forbidden"
    if role in ALLOWED:
        assert answers["cancel"].json()["state"] == "done"  # over: answered as it is


def test_investigators_state_a_purpose_and_keys_are_needed(server, seals):
    document = [("a.png", seals["A"].probe.read_bytes())]
    with _client(server, "investigator", purpose=False) as client:
        r = _submit(client, document)
        assert r.status_code == 400 and r.json()["error"]["code"] == "purpose_required"
        assert client.get("/v1/batches").status_code == 400
    with _client(server, "registrar", purpose=False) as client:  # registrars need none
        assert client.get("/v1/batches").status_code == 200
    with server.client() as client:
        assert _submit(client, document).status_code == 401
        assert client.get("/v1/batches").status_code == 401


def test_a_key_sees_only_its_own_batches_and_an_admin_every_one(server, seals):
    with _client(server, "registrar") as client:
        mine = _submit(client, [("a.png", seals["A"].probe.read_bytes())]).json()["id"]
        _wait(client, mine)
        listed = [b["id"] for b in client.get("/v1/batches").json()["batches"]]
    assert listed[0] == mine  # newest first
    other = server.services.keys.create("registrar", "another registrar").secret
    for key in (other, server.keys["investigator"]):
        with server.client(key, PURPOSE) as client:
            for r in (client.get(f"/v1/batches/{mine}"),
                      client.get(f"/v1/batches/{mine}/results.jsonl"),
                      client.post(f"/v1/batches/{mine}/cancel")):
                assert r.status_code == 404, r.text
                assert r.json()["error"]["code"] == "unknown_batch"
            assert mine not in [b["id"] for b in client.get("/v1/batches").json()["batches"]]
    with _client(server, "admin") as client:
        registrar_key_id = server.keys["registrar"].split("_")[1]
        assert client.get(f"/v1/batches/{mine}").json()["owner"] == registrar_key_id
        assert mine in [b["id"] for b in client.get("/v1/batches").json()["batches"]]
        assert client.get(f"/v1/batches/{mine}/results.csv").status_code == 200
        assert client.get("/v1/batches/not..an.id").status_code == 422
        assert client.get("/v1/batches/unknownid").json()["error"]["code"] == "unknown_batch"


def test_a_batch_left_running_by_a_dead_service_is_resumed(template, seals, tmp_path):
    """As after a kill -9 mid-batch: the record says running, the journal holds two documents
    (and a torn line), no outputs. The next service resumes it, examining only the rest; a
    batch that was already started MAX_ATTEMPTS times fails instead."""
    home = tmp_path / "registry"
    first = _server(template, home)
    try:
        with _client(first, "investigator") as client:
            ids = [_submit(client, _variants(seals["A"].probe.read_bytes(), 4)).json()["id"],
                   _submit(client, [("b.png", seals["B"].probe.read_bytes())]).json()["id"]]
            for batch_id in ids:
                assert _wait(client, batch_id)["state"] == "done"
    finally:
        first.stop()
    resumed, hopeless = (home / "batches" / batch_id for batch_id in ids)
    for folder, attempts in ((resumed, 1), (hopeless, MAX_ATTEMPTS)):
        record = json.loads((folder / "job.json").read_text())
        record.update(state="running", finished_at=None, results_ready=False,
                      documents_done=0, attempts=attempts)
        (folder / "job.json").write_text(json.dumps(record))
    lines = (resumed / "out" / JOURNAL_NAME).read_bytes().splitlines(keepends=True)
    (resumed / "out" / JOURNAL_NAME).write_bytes(b"".join(lines[:3]) + lines[3][:40])
    for name in ("imprints.jsonl", "documents.csv", "sweep.json", "summary.html"):
        (resumed / "out" / name).unlink()

    second = _server(template, home)
    try:
        with second.client(first.keys["investigator"], PURPOSE) as client:
            batch = _wait(client, ids[0])
            hopeless_batch = client.get(f"/v1/batches/{ids[1]}").json()
            jsonl = client.get(f"/v1/batches/{ids[0]}/results.jsonl")
    finally:
        second.stop()
    assert batch["state"] == "done" and batch["attempts"] == 2, batch
    assert batch["documents_done"] == 4 and batch["imprints"] == 4
    assert len(_jsonl(jsonl)) == 4
    summary = json.loads((resumed / "out" / "sweep.json").read_text())
    assert summary["reused"] == 2 and summary["examined"] == 2
    assert hopeless_batch["state"] == "failed"
    assert hopeless_batch["error"]["code"] == "interrupted"



def test_a_batch_running_when_the_service_stops_goes_on_when_it_starts(template, seals,
                                                                       tmp_path):
    home = tmp_path / "registry"
    first = _server(template, home)
    runner = first.services.batch_runner
    with _client(first, "registrar") as client, _engine_held(first):
        batch_id = _submit(client, _variants(seals["B"].probe.read_bytes(), 6)).json()["id"]
        _wait(client, batch_id, lambda b: b["state"] == "running")
        stopping = threading.Thread(target=first.stop)
        stopping.start()
        while not runner._stopping.is_set():  # the service is stopping: the sweep is told
            time.sleep(0.01)
    stopping.join()
    record = json.loads((home / "batches" / batch_id / "job.json").read_text())
    assert record["state"] == "queued" and not record["results_ready"]
    assert record["documents_done"] < 6 and record["attempts"] == 1

    second = _server(template, home)
    try:
        with second.client(first.keys["registrar"]) as client:
            batch = _wait(client, batch_id)
    finally:
        second.stop()
    assert batch["state"] == "done" and batch["attempts"] == 2
    assert batch["documents_done"] == batch["imprints"] == 6
