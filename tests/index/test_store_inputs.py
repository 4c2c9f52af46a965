"""The registry store refuses text no database can hold (a lone surrogate, which has no UTF-8
form; a NUL, which PostgreSQL text cannot hold) with InvalidParameterError naming the field,
before any SQL: both where it stores text and where it looks text up."""

from __future__ import annotations

import numpy as np
import pytest

from imprint.errors import InvalidParameterError
from index.errors import UnknownSealError
from index.store import EventKind, RegistryStore
from tests.index.registries import new_registry, open_registry

UNSTORABLE = ["\ud800", "a\udfffb", "a\x00b"]


@pytest.fixture
def store(tmp_path) -> RegistryStore:
    store = open_registry(new_registry(tmp_path / "registry"))
    unit = store.add_unit("某某科技有限公司")
    store.file_seal("S1", unit, "round_official", code="4403050000001", chip_serial="CHIP-1")
    yield store
    store.close()


@pytest.mark.parametrize("text", UNSTORABLE)
@pytest.mark.parametrize("field", ["name", "legal_representative", "address"])
def test_unit_text_no_database_can_hold_is_refused(store, field, text):
    values = {"name": "某某商贸有限公司", field: text}
    with pytest.raises(InvalidParameterError, match=f"^{field}: "):
        store.add_unit(**values)
    assert [u.name for u in store.find_units()] == ["某某科技有限公司"]


@pytest.mark.parametrize("text", UNSTORABLE)
@pytest.mark.parametrize("field", ["seal_id", "kind", "code", "number", "engraver",
                                   "chip_serial", "detail"])
def test_seal_text_no_database_can_hold_is_refused(store, field, text):
    unit = store.find_units()[0]
    values = {"seal_id": "S2", "kind": "round_official", field: text}
    with pytest.raises(InvalidParameterError, match=f"^{field}: "):
        store.file_seal(unit=unit, **values)
    assert [s.seal_id for s in store.search()] == ["S1"]


def test_the_refusal_says_what_is_wrong(store):
    unit = store.find_units()[0]
    with pytest.raises(InvalidParameterError, match="lone surrogate at position 3"):
        store.file_seal("S2", unit, "round_official", engraver="abc\ud800")
    with pytest.raises(InvalidParameterError, match="NUL"):
        store.file_seal("S2", unit, "round_official", engraver="a\x00")


@pytest.mark.parametrize("text", UNSTORABLE)
def test_a_unit_filed_with_its_seal_is_refused_whole(store, text):
    with pytest.raises(InvalidParameterError, match=r"^name: "):
        store.file_with_master("S2", text, "round_official", np.zeros((8, 8, 3), np.uint8))
    assert len(store.find_units()) == 1


@pytest.mark.parametrize("text", UNSTORABLE)
def test_an_event_detail_no_database_can_hold_is_refused(store, text):
    with pytest.raises(InvalidParameterError, match=r"^detail: "):
        store.record_event("S1", EventKind.SUSPENDED, detail=text)
    assert [e.kind for e in store.events_of("S1")] == [EventKind.FILED]


@pytest.mark.parametrize("text", UNSTORABLE)
def test_a_lookup_no_database_can_hold_is_refused(store, text):
    lookups = {
        "seal_id": [lambda: store.get_seal(text), lambda: store.status(text),
                    lambda: store.events_of(text), lambda: store.masters_of(text),
                    lambda: store.record_event(text, EventKind.SUSPENDED),
                    lambda: store.search(seal_id=text)],
        "chip_serial": [lambda: store.seal_by_chip(text)],
        "replaced_by": [lambda: store.record_event("S1", EventKind.REPLACED_BY,
                                                   replaced_by=text)],
        "unit_name": [lambda: store.search(unit_name=text)],
        "code": [lambda: store.search(code=text)],
        "name": [lambda: store.find_units(name=text)],
        "uscc": [lambda: store.find_units(uscc=text)],
    }
    for field, calls in lookups.items():
        for call in calls:
            with pytest.raises(InvalidParameterError, match=f"^{field}: "):
                call()


def test_a_lookup_that_is_not_text_is_refused(store):
    with pytest.raises(InvalidParameterError, match=r"^seal_id: expected text"):
        store.get_seal(1)


def test_text_a_database_can_hold_still_passes(store):
    """Astral characters (a surrogate pair in UTF-16, one code point here) are not lone."""
    unit = store.add_unit("𠀋记商行", address="深圳市 𠀋 路 1 号")
    sealed = store.file_seal("S-𠀋", unit, "round_official", engraver="𠀋")
    assert store.get_seal("S-𠀋") == sealed and store.find_units(name="𠀋")[0].id == unit.id
    with pytest.raises(UnknownSealError):
        store.get_seal("S-\U0001f600")
