"""Chip seals: a seal found by the serial of its security chip, and a verification that is told
the serial read at the counter flags a chip that is not the claimed seal's."""

from __future__ import annotations

import json

import pytest

from index.filing import file_master
from index.identify import SealSearch
from index.store import RegistryStore
from service.cli import main
from service.settings import ServiceSettings
from tests.service.conftest import DPI, PURPOSE, LiveServer, generated_seals

SERIAL = "SN-4403-0001"
OTHER_SERIAL = "SN-4403-0002"


@pytest.fixture(scope="module")
def seals(tmp_path_factory):
    """CHIPPED carries chip SERIAL; PLAIN has no chip on file; SPARE carries OTHER_SERIAL."""
    root = tmp_path_factory.mktemp("chip")
    chipped, plain = generated_seals(root, 2, seed=4400)
    home = root / "registry"
    with RegistryStore.open(home) as store:
        search = SealSearch(store, "classical")
        file_master(search, plain.master, seal_id="PLAIN", unit=plain.unit)
        unit = store.add_unit(chipped.unit)
        store.file_seal("CHIPPED", unit, "round_official", chip_serial=SERIAL)
        store.add_master("CHIPPED", chipped.master.read_bytes(), dpi=DPI)
        store.file_seal("SPARE", unit, "round_official", chip_serial=OTHER_SERIAL)
    return home, chipped, plain


@pytest.fixture(scope="module")
def server(seals):
    home, _, _ = seals
    live = LiveServer(ServiceSettings(registry=str(home), embedder="classical"))
    yield live
    live.stop()


def _verify(client, probe, seal_id: str, chip: str | None):
    data = {"seal_id": seal_id} | ({"chip_serial": chip} if chip is not None else {})
    r = client.post("/v1/verify", files={"file": (probe.name, probe.read_bytes(), "image/png")},
                    data=data)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_seal_is_found_by_its_chip_serial(server):
    with server.client(server.keys["registrar"]) as client:
        r = client.get(f"/v1/seals/by-chip/{SERIAL}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["seal_id"] == "CHIPPED" and body["chip_serial"] == SERIAL
        assert body["status"] == "active" and body["masters"] and body["events"]
        missing = client.get("/v1/seals/by-chip/NO-SUCH-CHIP")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "unknown_seal"
        # a serial that looks like a route below /v1/seals/{seal_id} is still a serial
        assert client.get("/v1/seals/by-chip/events").status_code == 404
    with server.client(server.keys["investigator"]) as client:  # registry data: a purpose
        assert client.get(f"/v1/seals/by-chip/{SERIAL}").status_code == 400
    with server.client(server.keys["investigator"], PURPOSE) as client:
        assert client.get(f"/v1/seals/by-chip/{SERIAL}").json()["seal_id"] == "CHIPPED"
    with server.client(server.keys["bank"]) as client:
        assert client.get(f"/v1/seals/by-chip/{SERIAL}").status_code == 403


def test_the_chip_read_at_the_counter_is_checked_against_the_claimed_seal(server, seals):
    _, chipped, plain = seals
    with server.client(server.keys["investigator"], PURPOSE) as client:
        agrees = _verify(client, chipped.probe, "CHIPPED", f" {SERIAL} ")
        assert agrees["chip_flag"] is None and agrees["chip_serial"] == SERIAL
        assert not any("chip" in reason for reason in agrees["reasons"])
        assert agrees["verdict"] == "genuine"

        other = _verify(client, chipped.probe, "CHIPPED", OTHER_SERIAL)
        assert other["chip_flag"] == "mismatch" and other["verdict"] == "genuine"
        assert any("not the chip filed for seal CHIPPED" in r and "filed for seal SPARE" in r
                   for r in other["reasons"])

        none = _verify(client, plain.probe, "PLAIN", SERIAL)
        assert none["chip_flag"] == "not_on_file"
        assert any("has no chip serial on file" in r for r in none["reasons"])

        unasked = _verify(client, plain.probe, "PLAIN", None)
        assert unasked["chip_flag"] is None and unasked["chip_serial"] is None


def test_the_bank_gets_the_chip_flag(server, seals):
    _, chipped, _ = seals
    with server.client(server.keys["bank"]) as client:
        body = _verify(client, chipped.probe, "CHIPPED", "SN-FORGED-9")
    assert set(body) == {"verdict", "status", "chip_flag", "overlay_png"}
    assert body["chip_flag"] == "mismatch" and body["status"] == "active"


def test_the_command_line_looks_up_chips_and_flags_a_mismatch(server, seals, capsys):
    home, chipped, _ = seals
    assert main(["seal", "--chip", SERIAL, "--registry", str(home), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["seal_id"] == "CHIPPED"
    assert main(["seal", "--chip", "NO-SUCH-CHIP", "--registry", str(home)]) == 2
    assert "no seal filed with chip serial" in capsys.readouterr().err

    code = main(["verify", str(chipped.probe), "--seal-id", "CHIPPED", "--chip", OTHER_SERIAL,
                 "--registry", str(home), "--embedder", "classical", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1  # genuine, but the chip is another seal's
    assert out["verdict"] == "genuine" and out["chip_flag"] == "mismatch"
    code = main(["verify", str(chipped.probe), "--seal-id", "CHIPPED", "--chip", SERIAL,
                 "--registry", str(home), "--embedder", "classical"])
    assert code == 0 and "warning: chip" not in capsys.readouterr().out
