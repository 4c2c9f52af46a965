"""Schemathesis against the service's OpenAPI spec, over HTTP to a live server on loopback:
every operation, called as each role that may use it and with no key, answers without a 5xx,
with a status its spec declares, and with a body that matches the declared schema; and refuses
every request that its spec does not allow.

``IMPRINT_FUZZ_EXAMPLES`` sets the generated examples per operation (a deeper run:
``IMPRINT_FUZZ_EXAMPLES=250 pytest tests/service/test_openapi_fuzz.py``).
"""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from index.store import EventKind, RegistryStore
from service.api import create_app
from service.auth import Role
from service.settings import ServiceSettings
from tests.service.conftest import PURPOSE, LiveServer

EXAMPLES = int(os.environ.get("IMPRINT_FUZZ_EXAMPLES", "25"))
# Seals filed without a master (verifying against one reaches no_master); half the seal ids,
# codes, chip serials and event kinds sent are real, so those calls get past the lookups.
FILED_SEALS, FILED_CODE, FILED_CHIP = ("S1", "S2"), "4403050000001", "CHIP-0001"
KNOWN = 0.5
# Left out: positive_data_acceptance (generated uploads are never images and generated ids are
# mostly unknown, so schema-valid requests are rightly answered 415 or 404).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]
ANONYMOUS = None
#: Generated uploads are never images: refused before any imaging, well within this.
TIMEOUT_S = 20
pytestmark = pytest.mark.slow

# The spec of the app the live server runs, read at collection so that each operation is a test
# of its own (create_app opens no registry); test_the_served_spec_is_the_one_fuzzed holds it
# to the served /v1/openapi.json.
SPEC = create_app(ServiceSettings(registry="unused")).openapi()
schema = schemathesis.openapi.from_dict(SPEC, config=schemathesis.Config.from_dict({
    "generation": {"mode": "all", "with-security-parameters": False},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
               "fuzzing": {"enabled": True}},
    "dictionaries": {"seal": {"values": list(FILED_SEALS)}, "code": {"values": [FILED_CODE]},
                     "chip": {"values": [FILED_CHIP]},
                     "event": {"values": [k.value for k in EventKind]}},
    "parameters": {
        **{f"{where}.{name}": {"dictionary": "seal", "probability": KNOWN}
           for where, name in (("path", "seal_id"), ("query", "seal_id"), ("body", "seal_id"),
                               ("body", "replaced_by"))},
        "body.kind": {"dictionary": "event", "probability": KNOWN},
        **{f"{where}.{name}": {"dictionary": "code", "probability": KNOWN}
           for where, name in (("query", "code"), ("body", "seal_code"), ("body", "code"))},
        **{f"{where}.{name}": {"dictionary": "chip", "probability": KNOWN}
           for where, name in (("path", "serial"), ("body", "chip_serial"))},
    },
}))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("registry")
    with RegistryStore.open(home) as store:
        unit = store.add_unit("某某科技有限公司", uscc="91440300MA5F000000")
        store.file_seal(FILED_SEALS[0], unit, "round_official", code=FILED_CODE,
                        chip_serial=FILED_CHIP)
        store.file_seal(FILED_SEALS[1], unit, "round_official")
    live = LiveServer(ServiceSettings(registry=str(home), embedder="classical"))
    yield live
    live.stop()


def test_the_served_spec_is_the_one_fuzzed(server):
    with server.client() as client:
        assert client.get("/v1/openapi.json").json() == SPEC


@pytest.fixture(scope="module")
def callers(server) -> dict[tuple[str, str], list[Role | None]]:
    """(method, path) -> the roles the live server lets call the operation, then no key: a role
    is left out where a bare call is refused ``403 forbidden`` (before the request is read)."""
    found: dict[tuple[str, str], list[Role | None]] = {}
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            roles: list[Role | None] = []
            if operation.get("security"):
                for role in Role:
                    with server.client(server.keys[role.value], PURPOSE) as client:
                        r = client.request(method, re.sub(r"{[^}]+}", "x", path))
                    if r.status_code != 403 or r.json()["error"]["code"] != "forbidden":
                        roles.append(role)
            found[(method.upper(), path)] = [*roles, ANONYMOUS]
    return found


def test_every_operation_but_health_needs_a_key_and_has_callers(callers):
    public = {op for op, who in callers.items() if who == [ANONYMOUS]}
    assert public == {("GET", "/v1/health")}
    assert all(Role.ADMIN in who for op, who in callers.items() if op not in public)


#: Codes of a request refused before its key is looked at: a body that cannot be parsed, or is
#: over the limit, and a method the path does not have.
REFUSED_UNREAD = {"bad_request", "upload_too_large", "method_not_allowed"}


def _anonymous_refused(response) -> bool:
    """An anonymous call of an operation that needs a key is answered 401, unless its request
    was refused before the key was looked at."""
    if response.status_code == 401:
        return True
    error = response.json()["error"]
    return error["code"] in REFUSED_UNREAD or (
        error["code"] == "invalid_request" and "JSON decode error" in error["message"])


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_operation_answers_with_a_server_error(case, server, callers):
    operation = (case.operation.method.upper(), case.operation.path)
    for role in callers[operation]:
        headers = {} if role is ANONYMOUS else {
            "Authorization": f"Bearer {server.keys[role.value]}",
            # the case number's UTF-8 bytes, as a client sends them (requests sends Latin-1)
            "X-Purpose": PURPOSE.encode().decode("latin-1")}
        try:
            response = case.call_and_validate(base_url=server.url, headers=headers,
                                              checks=CHECKS, timeout=TIMEOUT_S)
            if role is ANONYMOUS and callers[operation] != [ANONYMOUS]:
                assert _anonymous_refused(response), response.text
        except Exception as failure:
            failure.add_note(f"called as {role or 'no key'}")
            raise
