"""The HTTP service over a live uvicorn server: every endpoint against every role, what each
answer holds, and how bad input is refused."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from collections import Counter

import httpx
import numpy as np
import pytest
from PIL import Image

from imprint.io import load_page
from imprint.pipeline import single_imprint
from imprint.synth.registry import make_registry
from imprint.types import VERDICTS
from index.cases import CaseIndex
from index.filing import file_master
from index.identify import SealSearch
from index.store import EventKind, RegistryStore
from service.settings import ServiceSettings
from tests.service.conftest import PURPOSE, LiveServer, generated_seals, imprint_png

CODE_A = "4403050000001"
CODE_SHARED = "4403050000002"  # two filed seals carry it (legacy data)
CHIP = "SN-API-0001"
CASE = "(2026)0417"
ROLES = ("registrar", "investigator", "bank", "auditor", "admin")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def seals(tmp_path_factory):
    """A, B, C filed; D filed as seal REV and revoked; E never filed (filed by the tests)."""
    return dict(zip("ABCDE", generated_seals(tmp_path_factory.mktemp("seals"), 5), strict=True))


@pytest.fixture(scope="module")
def server(seals, tmp_path_factory):
    home = tmp_path_factory.mktemp("registry")
    with RegistryStore.open(home) as store:
        search = SealSearch(store, "classical")
        for name, code in (("A", CODE_A), ("B", CODE_SHARED), ("C", CODE_SHARED)):
            s = seals[name]
            file_master(search, s.master, seal_id=s.seal_id, unit=s.unit, code=code)
        file_master(search, seals["D"].master, seal_id="REV", unit=seals["D"].unit)
        store.record_event("REV", EventKind.REVOKED, detail="unit dissolved")
        unit = store.find_units(name=seals["A"].unit)[0]
        for role in ("registrar", "admin"):  # one seal per role whose events a call changes
            store.file_seal(f"EV-{role}", unit, "round_official")
        store.file_seal("CHIP-SEAL", unit, "round_official", chip_serial=CHIP)
        # a case with one imprint on file, for the role matrix's reads
        CaseIndex(search).file(single_imprint(load_page(seals["B"].probe)[0].image, dpi=200),
                               case=CASE, document="letter.png")
    live = LiveServer(ServiceSettings(registry=str(home), embedder="classical"))
    yield live
    live.stop()


def _file(path) -> tuple[str, bytes, str]:
    return (path.name, path.read_bytes(), "image/png")


def _request(client: httpx.Client, seals, endpoint: str, role: str) -> httpx.Response:
    """One call of ``endpoint`` that succeeds for a role allowed to make it."""
    a, b, e = seals["A"], seals["B"], seals["E"]
    match endpoint:
        case "seals.file":
            return client.post("/v1/seals", files={"image": _file(e.master)},
                               data={"seal_id": f"NEW-{role}", "unit": e.unit})
        case "seals.add_master":
            return client.post(f"/v1/seals/{b.seal_id}/masters", files={"image": _file(b.probe)})
        case "seals.record_event":
            return client.post(f"/v1/seals/EV-{role}/events", json={"kind": "suspended"})
        case "seals.search":
            return client.get("/v1/seals", params={"unit_name": a.unit[:4]})
        case "seals.read":
            return client.get(f"/v1/seals/{a.seal_id}")
        case "seals.events":
            return client.get(f"/v1/seals/{a.seal_id}/events")
        case "verify":
            return client.post("/v1/verify", files={"file": _file(a.probe)},
                               data={"seal_id": a.seal_id})
        case "identify":
            return client.post("/v1/identify", files={"file": _file(a.probe)})
        case "reports":
            return client.post("/v1/reports", files={"file": _file(a.probe)},
                               data={"seal_id": a.seal_id, "format": "png"})
        case "documents":
            return client.post("/v1/documents", files={"file": _file(a.probe)})
        case "reports.read":
            return client.get(f"/v1/reports/{_report_id(client, a)}", params={"format": "json"})
        case "audit.query":
            return client.get("/v1/audit")
        case "audit.verify":
            return client.get("/v1/audit/verify")
        case "metrics":
            return client.get("/v1/metrics")
        case "seals.by_chip":
            return client.get(f"/v1/seals/by-chip/{CHIP}")
        case "cases.file":
            return client.post(f"/v1/cases/MATRIX-{role}/imprints",
                               files={"file": _file(a.probe)})
        case "cases.search":
            return client.post("/v1/cases/search", files={"file": _file(a.probe)})
        case "cases.read":
            return client.get(f"/v1/cases/{CASE}")
        case "stats":
            return client.get("/v1/stats", params={"by": ["kind", "status"],
                                                   "format": "csv" if role == "auditor"
                                                   else "json"})
    raise AssertionError(endpoint)


_REPORTS: dict[str, str] = {}


def _report_id(client: httpx.Client, seal) -> str:
    """The id of a report stored by examining ``seal``'s probe (once, with the caller's key
    where it may; a made-up id for the others, who are refused before any lookup)."""
    if seal.seal_id not in _REPORTS:
        r = client.post("/v1/documents", files={"file": _file(seal.probe)})
        if r.status_code != 200:
            return "0" * 32
        _REPORTS[seal.seal_id] = next(i["report_id"] for i in r.json()["imprints"]
                                      if i.get("report_id"))
    return _REPORTS[seal.seal_id]


#: Who may call what: the policy, written out independently of service.auth.POLICY.
ALLOWED = {
    "seals.file": {"registrar", "admin"},
    "seals.add_master": {"registrar", "admin"},
    "seals.record_event": {"registrar", "admin"},
    "seals.search": {"registrar", "investigator", "admin"},
    "seals.read": {"registrar", "investigator", "admin"},
    "seals.events": {"registrar", "investigator", "admin"},
    "verify": {"investigator", "bank", "admin"},
    "identify": {"investigator", "admin"},
    "reports": {"investigator", "admin"},
    "documents": {"investigator", "admin"},
    "reports.read": {"investigator", "admin"},
    "audit.query": {"auditor", "admin"},
    "audit.verify": {"auditor", "admin"},
    "metrics": {"auditor", "admin"},
    "seals.by_chip": {"registrar", "investigator", "admin"},
    "stats": {"registrar", "auditor", "admin"},
    "cases.file": {"investigator", "admin"},
    "cases.search": {"investigator", "admin"},
    "cases.read": {"investigator", "admin"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(ALLOWED))
def test_each_role_reaches_only_its_endpoints(server, seals, endpoint, role):
    with server.client(server.keys[role], PURPOSE) as client:
        r = _request(client, seals, endpoint, role)
    if role in ALLOWED[endpoint]:
        assert r.status_code < 300, r.text
    else:
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("endpoint", sorted(ALLOWED))
def test_no_key_or_a_wrong_key_is_refused(server, seals, endpoint):
    for client in (server.client(), server.client("imp_0123456789ab_" + "x" * 43, PURPOSE)):
        with client:
            r = _request(client, seals, endpoint, "admin")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthenticated"


def test_a_revoked_key_is_refused(server, seals):
    new = server.services.keys.create("auditor")
    with server.client(new.secret) as client:
        assert client.get("/v1/audit/verify").status_code == 200
        server.services.keys.revoke(new.info.key_id)
        assert client.get("/v1/audit/verify").status_code == 401


@pytest.mark.parametrize("endpoint", ["seals.search", "seals.read", "verify", "identify",
                                      "reports"])
def test_investigators_must_state_a_purpose(server, seals, endpoint):
    with server.client(server.keys["investigator"]) as client:
        r = _request(client, seals, endpoint, "investigator")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "purpose_required"


def test_the_bank_gets_the_verdict_the_status_and_the_overlay_only(server, seals):
    a = seals["A"]
    with server.client(server.keys["bank"]) as client:  # no purpose asked of a bank
        r = client.post("/v1/verify", files={"file": _file(a.probe)},
                        data={"seal_code": CODE_A})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"verdict", "status", "chip_flag", "overlay_png"}
    assert body["chip_flag"] is None  # no chip serial was read
    assert body["verdict"] == "genuine" and body["status"] == "active"
    overlay = Image.open(io.BytesIO(base64.b64decode(body["overlay_png"])))
    assert overlay.format == "PNG" and overlay.size[0] == overlay.size[1]


def test_an_investigator_gets_the_whole_verification(server, seals):
    a = seals["A"]
    with server.client(server.keys["investigator"], PURPOSE) as client:
        r = client.post("/v1/verify", files={"file": _file(a.probe)},
                        data={"seal_id": a.seal_id, "date": "2000-03-01"})
    body = r.json()
    assert r.status_code == 200, body
    assert body["seal_id"] == a.seal_id and body["unit"] == a.unit
    # a document dated before the seal was filed: genuine, but not a lawful use
    assert body["verdict"] == "genuine" and body["status"] == "not_filed"
    assert "not yet filed" in body["status_flag"]
    assert body["file"] == a.probe.name and body["date"] == "2000-03-01"
    assert {"reasons", "evidence", "alignment", "quality", "log10_lr"} <= set(body)


def test_a_revoked_seal_is_flagged(server, seals):
    with server.client(server.keys["bank"]) as client:
        r = client.post("/v1/verify", files={"file": _file(seals["D"].probe)},
                        data={"seal_id": "REV"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked"


def test_identify_names_the_filed_seal(server, seals):
    a = seals["A"]
    with server.client(server.keys["investigator"], PURPOSE) as client:
        r = client.post("/v1/identify", files={"file": _file(a.probe)}, data={"top_k": "3"})
    body = r.json()
    assert r.status_code == 200, body
    [imp] = body["imprints"]
    assert imp["match"] == a.seal_id and imp["verdict"] in VERDICTS
    assert 1 <= len(imp["candidates"]) <= 3


@pytest.mark.parametrize(("fmt", "media", "magic"), [
    ("html", "text/html", b"<!DOCTYPE html"), ("pdf", "application/pdf", b"%PDF-"),
    ("png", "image/png", PNG_MAGIC)])
def test_reports_in_each_format(server, seals, fmt, media, magic):
    a = seals["A"]
    with server.client(server.keys["investigator"], PURPOSE) as client:
        r = client.post("/v1/reports", files={"file": _file(a.probe)},
                        data={"seal_id": a.seal_id, "format": fmt})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith(media)
    assert r.content[:len(magic)].lower() == magic.lower()
    assert f"verification-{a.seal_id}.{fmt}" in r.headers["content-disposition"]


def test_seals_are_read_and_searched(server, seals):
    a = seals["A"]
    with server.client(server.keys["registrar"]) as client:
        seal = client.get(f"/v1/seals/{a.seal_id}").json()
        assert seal["code"] == CODE_A and seal["status"] == "active"
        assert seal["masters"] and seal["events"][0]["kind"] == "filed"
        assert seal["lookalike_warnings"] == []  # (filed first: nothing to look like)
        by_code = client.get("/v1/seals", params={"code": CODE_SHARED}).json()["seals"]
        assert {s["seal_id"] for s in by_code} == {seals["B"].seal_id, seals["C"].seal_id}
        by_id = client.get("/v1/seals", params={"seal_id": a.seal_id}).json()["seals"]
        assert [s["seal_id"] for s in by_id] == [a.seal_id]
        revoked = client.get("/v1/seals/REV").json()
        assert revoked["status"] == "revoked"
        assert client.get("/v1/seals/REV", params={"on": "2000-01-01"}).json()["status"] == (
            "not_filed")


def _error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text
    assert r.json()["error"]["message"]


def _png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return buf.getvalue()


def test_bad_input_gets_a_4xx_with_its_code(server, seals, tmp_path):
    a, e = seals["A"], seals["E"]
    blank = ("blank.png", _png_bytes(np.full((300, 300, 3), 255, np.uint8)), "image/png")
    with server.client(server.keys["admin"], PURPOSE) as client:
        def verify(file, **data):
            return client.post("/v1/verify", files={"file": file}, data=data)

        _error(verify(_file(a.probe), seal_id="NO-SUCH-SEAL"), 404, "unknown_seal")
        _error(verify(_file(a.probe), seal_code="0000000000000"), 404, "unknown_seal")
        _error(verify(_file(a.probe), seal_code=CODE_SHARED), 409, "ambiguous_seal_code")
        _error(verify(_file(a.probe), seal_id=a.seal_id, seal_code=CODE_A), 422,
               "invalid_parameter")
        _error(verify(_file(a.probe)), 422, "invalid_parameter")
        _error(verify(("notes.png", b"just some text, not an image", "image/png"),
                      seal_id=a.seal_id), 415, "unsupported_format")
        r = verify(("empty.png", b"", "image/png"), seal_id=a.seal_id)
        _error(r, 422, "unreadable_input")
        assert "empty.png" in r.json()["error"]["message"]  # the upload's name, not a path
        assert "/tmp" not in r.json()["error"]["message"]
        _error(verify(blank, seal_id=a.seal_id), 422, "no_imprint")
        _error(verify(_file(a.probe), seal_id=a.seal_id, date="yesterday"), 422,
               "invalid_request")
        _error(client.post("/v1/identify", files={"file": _file(a.probe)},
                           data={"top_k": "0"}), 422, "invalid_request")
        _error(client.post("/v1/reports", files={"file": _file(a.probe)},
                           data={"seal_id": a.seal_id, "format": "docx"}), 422,
               "invalid_request")
        # filing
        _error(client.post("/v1/seals", files={"image": _file(e.master)},
                           data={"seal_id": a.seal_id, "unit": a.unit}), 409, "duplicate_seal")
        _error(client.post("/v1/seals", files={"image": blank},
                           data={"seal_id": "BLANK", "unit": "某某公司"}), 422, "no_imprint")
        _error(client.post("/v1/seals/NO-SUCH-SEAL/masters", files={"image": _file(e.master)}),
               404, "unknown_seal")
        # events and reads
        _error(client.post(f"/v1/seals/{a.seal_id}/events", json={"kind": "resumed"}), 422,
               "invalid_event")
        _error(client.post(f"/v1/seals/{a.seal_id}/events", json={"kind": "exploded"}), 422,
               "invalid_event")
        _error(client.get("/v1/seals/NO-SUCH-SEAL"), 404, "unknown_seal")
        _error(client.get("/v1/seals"), 422, "invalid_parameter")
        _error(client.get("/v1/audit", params={"input_sha256": "xyz"}), 422, "invalid_request")
        _error(client.get("/v1/no-such-endpoint"), 404, "not_found")
        _error(client.delete(f"/v1/seals/{a.seal_id}"), 405, "method_not_allowed")
    with server.client(server.keys["investigator"], "x" * 200) as client:
        _error(client.get(f"/v1/seals/{a.seal_id}"), 422, "invalid_parameter")
    # nothing was filed by the refused filings
    assert "BLANK" not in {s.seal_id for s in server.services.store.search(seal_id="BLANK")}


def test_every_access_is_audited_with_hashes_of_its_inputs(server, seals):
    a = seals["A"]
    with server.client(server.keys["investigator"], PURPOSE) as client:
        client.post("/v1/verify", files={"file": _file(a.probe)}, data={"seal_id": a.seal_id})
        client.get("/v1/audit")  # forbidden: audited all the same
        # its own unmatched path: under -n 2 the other tests may run in another worker
        client.get("/v1/no-such-endpoint")
    with server.client(server.keys["auditor"]) as client:
        seal_hash = hashlib.sha256(a.seal_id.encode()).hexdigest()
        rows = client.get("/v1/audit", params={"endpoint": "/v1/verify",
                                               "input_sha256": seal_hash,
                                               "purpose": PURPOSE}).json()["entries"]
        assert rows, "the verification is not on the trail"
        row = rows[-1]
        assert row["role"] == "investigator" and row["method"] == "POST"
        assert row["status"] == 200 and row["outcome"] == "ok"
        assert row["inputs"]["file"] == hashlib.sha256(a.probe.read_bytes()).hexdigest()
        assert row["inputs"]["seal_id"] == seal_hash
        assert a.seal_id not in str(row)  # hashes only
        refused = client.get("/v1/audit", params={"endpoint": "/v1/audit",
                                                  "role": "investigator"}).json()["entries"]
        assert refused and refused[-1]["status"] == 403
        assert refused[-1]["outcome"] == "forbidden"
        # a path that matches no route is hashed, not written
        unmatched = client.get("/v1/audit", params={"endpoint": "(no route)"}).json()["entries"]
        assert unmatched and all("path" in e["inputs"] for e in unmatched)
        assert "no-such-endpoint" not in str(unmatched)
        check = client.get("/v1/audit/verify").json()
        assert check["intact"] and check["rows"] > 10


def test_health_metrics_and_docs(server):
    with server.client() as client:
        from imprint.pipeline import IMAGING_VERSION
        health = client.get("/v1/health").json()
        assert health == {"status": "ok", "version": health["version"],
                          "imaging_version": IMAGING_VERSION}
        assert "/v1/verify" in client.get("/v1/openapi.json").json()["paths"]
        assert client.get("/v1/docs").status_code == 200
    with server.client(server.keys["auditor"]) as client:
        text = client.get("/v1/metrics").text
    assert "imprint_requests_total" in text and 'endpoint="/v1/health"' in text


def test_stats_count_the_registry_as_json_and_csv(server):
    store = server.services.store
    with server.client(server.keys["registrar"]) as client:
        body = client.get("/v1/stats").json()
        table = client.get("/v1/stats", params={"format": "csv", "by": "kind"})
        bad = client.get("/v1/stats", params={"by": "colour"})
    seals = store.search(limit=10**6)
    assert body["seals"] == len(seals)
    assert {t["value"]: t["count"] for t in body["by"]["status"]} == dict(
        Counter(store.status(s.seal_id).value for s in seals))
    assert {e["endpoint"] for e in body["accesses"]} <= {"/v1/verify", "/v1/identify",
                                                         "/v1/documents", "/v1/reports"}
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert {r["value"]: int(r["count"]) for r in rows} == dict(Counter(s.kind for s in seals))
    _error(bad, 422, "invalid_request")


def test_a_seal_filed_nowhere_is_linked_across_cases(server, tmp_path):
    """Two documents stamped with one seal that was never filed: the first is filed under a
    case, the second names that case; the case reads back; the registrar may not file one."""
    (ghost,) = [r for r in make_registry(12, np.random.default_rng(4700), lookalike_rate=0,
                                         sibling_rate=0) if r.spec.kind == "round_official"][:1]
    first = imprint_png(tmp_path / "first.png", ghost, 71)
    second = imprint_png(tmp_path / "second.png", ghost, 72)
    with server.client(server.keys["investigator"], PURPOSE) as client:
        r = client.post("/v1/cases/(2026)0500/imprints", files={"file": _file(first)},
                        data={"date": "2025-04-01"})
        assert r.status_code == 201, r.text
        [imp] = r.json()["imprints"]
        assert imp["match"] is None and imp["suspect"] and imp["linked_cases"] == []
        assert imp["filed"]["case"] == "(2026)0500" and imp["filed"]["verdict"] == "no_match"
        assert imp["filed"]["document"] == "first.png" and imp["filed"]["date"] == "2025-04-01"
        assert imp["filed"]["filed_by"].startswith("key:")
        r = client.post("/v1/cases/search", files={"file": _file(second)})
        assert r.status_code == 200, r.text
        [imp] = r.json()["imprints"]
        assert imp["filed"] is None
        assert [(c["case"], c["document"], c["date"]) for c in imp["linked_cases"]] == [
            ("(2026)0500", "first.png", "2025-04-01")]
        assert imp["linked_cases"][0]["score"] >= r.json()["link_threshold"]
        case = client.get("/v1/cases/(2026)0500").json()
        assert [i["document"] for i in case["imprints"]] == ["first.png"]
        assert client.get("/v1/cases/(2026)0501").json()["error"]["code"] == "unknown_case"
    with server.client(server.keys["registrar"]) as client:
        r = client.post("/v1/cases/(2026)0500/imprints", files={"file": _file(second)})
        assert r.status_code == 403


def test_audit_bounds_past_what_the_trail_can_hold_are_refused(server):
    """Regression: an ``after_id`` past SQLite's INTEGER, and a ``since``/``until`` that UTC
    cannot hold (year 1 ahead of UTC, year 9999 behind it), were answered 500."""
    with server.client(server.keys["auditor"]) as client:
        for params in ({"after_id": str(2**63)}, {"since": "0001-01-01T00:00:00+01:00"},
                       {"until": "9999-12-31T23:59:59-01:00"}):
            _error(client.get("/v1/audit", params=params), 422, "invalid_request")
        last = client.get("/v1/audit", params={"after_id": str(2**63 - 1)})
        assert last.status_code == 200 and last.json()["entries"] == []
        east = client.get("/v1/audit", params={"since": "0001-01-01T00:00:00-01:00",
                                               "until": "9999-12-31T23:59:59+01:00"})
        assert east.status_code == 200 and east.json()["entries"]


def test_event_text_without_a_utf8_form_is_refused(server, seals):
    """Regression: a lone surrogate (JSON ``\\ud800``) in ``replaced_by`` reached the database,
    which cannot encode it: 500."""
    seal_id = seals["A"].seal_id
    events = len(server.services.store.events_of(seal_id))
    with server.client(server.keys["registrar"]) as client:
        for body, field in ((b'{"kind": "replaced_by", "replaced_by": "\\ud800"}', "replaced_by"),
                            (b'{"kind": "suspended\\udfff"}', "kind")):
            r = client.post(f"/v1/seals/{seal_id}/events", content=body,
                            headers={"Content-Type": "application/json"})
            _error(r, 422, "invalid_request")
            assert r.json()["error"]["fields"][0]["field"] == f"body.{field}"
    assert len(server.services.store.events_of(seal_id)) == events


def test_registry_times_are_declared_as_they_are_sent(server, seals):
    """Regression: naive local times were declared RFC 3339 ``date-time``, which needs an
    offset, so every seal, master and event broke its own schema."""
    with server.client(server.keys["registrar"]) as client:
        schemas = client.get("/v1/openapi.json").json()["components"]["schemas"]
        seal = client.get(f"/v1/seals/{seals['A'].seal_id}").json()
    for value, (model, name) in ((seal["filed_at"], ("SealDetailOut", "filed_at")),
                                 (seal["masters"][0]["added_at"], ("MasterOut", "added_at")),
                                 (seal["events"][0]["effective"], ("EventOut", "effective")),
                                 (seal["events"][0]["recorded_at"], ("EventOut", "recorded_at"))):
        declared = schemas[model]["properties"][name]
        assert "format" not in declared, (model, name)
        assert re.fullmatch(declared["pattern"], value), (model, name, value)


def test_the_spec_declares_the_errors_each_endpoint_answers(server):
    """Regression: 404, 408, 409, 413 and 415 were answered but not in the spec, which
    declared only 400, 401, 403 and 422 for every endpoint (health included)."""
    with server.client() as client:
        paths = client.get("/v1/openapi.json").json()["paths"]
    error = {"$ref": "#/components/schemas/ErrorOut"}
    declared = {(method.upper(), path): {s for s, r in op["responses"].items()
                                         if r.get("content", {}).get("application/json", {})
                                         .get("schema") == error}
                for path, ops in paths.items() for method, op in ops.items()}
    assert {"401", "403", "404", "408", "409", "413", "415", "422"} <= declared[
        ("POST", "/v1/verify")]
    assert {"404", "408", "409", "413", "415"} <= declared[("POST", "/v1/seals/{seal_id}/masters")]
    assert {"404", "409", "413", "422"} <= declared[("POST", "/v1/seals/{seal_id}/events")]
    assert "404" in declared[("GET", "/v1/seals/{seal_id}")]
    assert "404" in declared[("GET", "/v1/reports/{report_id}")]
    assert declared[("GET", "/v1/health")] == {"503"}
