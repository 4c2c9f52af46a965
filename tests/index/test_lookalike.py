"""The look-alike warning at filing: a seal of another unit whose name differs in a character,
with the same layout, is named; an unrelated seal is not; the warning is kept with the
record, and the filing stands."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DatabaseError

from imprint.synth import names
from imprint.synth.dataset import write_image
from imprint.synth.design import SealSpec
from imprint.synth.medium import Capture
from imprint.synth.registry import make_registry
from imprint.synth.scene import genuine_stamping, imprint_scene
from index.filing import file_master
from index.identify import SealSearch
from index.lookalike import LookalikeLog
from index.store import RegistryStore

DPI = 200
SCAN = Capture("scan", 0, 0.3, 0.003)


def _master(path, record, seed: int):
    rng = np.random.default_rng(seed)
    st = genuine_stamping(record.face(), rng, ink=record.spec.ink, seal_id=record.seal_id,
                          quality="clean")
    image, _ = imprint_scene(st, dpi=DPI, rng=rng, clutter=False, capture=SCAN)
    write_image(path, image, DPI)
    return path


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Three filed seals of three units; a look-alike of the first (one character of its
    name changed, same layout, another physical seal) and an unrelated seal, not yet filed."""
    root = tmp_path_factory.mktemp("lookalike")
    records = [r for r in make_registry(30, np.random.default_rng(4400), lookalike_rate=0,
                                        sibling_rate=0) if r.spec.kind == "round_official"]
    original, *others = records[:4]
    unit = names.look_alike(original.unit_name, np.random.default_rng(5), n_changes=1)
    lookalike = replace(original, seal_id="LOOK", unit_name=unit, seal_seed=987654,
                        spec=SealSpec(**{**asdict(original.spec), "unit_name": unit}))
    home = root / "registry"
    with RegistryStore.open(home) as store:
        search = SealSearch(store, "classical")
        for i, r in enumerate([original, *others[:2]]):
            filed = file_master(search, _master(root / f"{r.seal_id}.png", r, 10 + i),
                                seal_id=r.seal_id, unit=r.unit_name)
            assert filed.warnings == ()
    return {"home": home, "original": original, "lookalike": lookalike,
            "unrelated": others[2], "files": root}


def test_a_one_character_lookalike_is_warned_and_kept_with_the_record(registry):
    look, original = registry["lookalike"], registry["original"]
    assert sum(a != b for a, b in zip(look.unit_name, original.unit_name, strict=True)) == 1
    with RegistryStore.open(registry["home"]) as store:
        search = SealSearch(store, "classical")
        filed = file_master(search, _master(registry["files"] / "look.png", look, 30),
                            seal_id=look.seal_id, unit=look.unit_name)
        assert filed.new_seal and store.get_seal(look.seal_id)  # the filing stands
        assert [w.seal_id for w in filed.warnings] == [original.seal_id]
        warning = filed.warnings[0]
        assert warning.unit_name == original.unit_name
        assert warning.score >= warning.threshold
        kept = LookalikeLog(store.engine).of(look.seal_id)
        assert [(w.seal_id, round(w.score, 6)) for w in kept] == [
            (original.seal_id, round(warning.score, 6))]
        with pytest.raises(DatabaseError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text("DELETE FROM lookalike_warnings"))


def test_an_unrelated_seal_and_a_further_master_are_not_warned(registry):
    other = registry["unrelated"]
    with RegistryStore.open(registry["home"]) as store:
        search = SealSearch(store, "classical")
        filed = file_master(search, _master(registry["files"] / "other.png", other, 40),
                            seal_id=other.seal_id, unit=other.unit_name)
        assert filed.new_seal and filed.warnings == ()
        assert LookalikeLog(store.engine).of(other.seal_id) == []
        # a second master of a filed seal is no new filing: nothing is searched
        again = file_master(search, _master(registry["files"] / "orig2.png",
                                            registry["original"], 41),
                            seal_id=registry["original"].seal_id,
                            unit=registry["original"].unit_name)
        assert not again.new_seal and again.warnings == ()


def test_a_filings_write_transactions_run_through_write(registry):
    """``write`` runs every statement of a filing that writes to the database (the seal with
    its master, the warnings kept, a further master), and only transactions: a service's
    filing process runs them at its own priority while the imaging runs at a lower one."""
    look = replace(registry["lookalike"], seal_id="LOOK-W")
    inside, runs, writes = [False], [], []

    def write(work):
        inside[0] = True
        try:
            runs.append(1)
            return work()
        finally:
            inside[0] = False

    def statement(conn, cursor, sql, params, context, many):
        # (a write transaction takes the lock at its BEGIN IMMEDIATE; a read's BEGIN does not)
        words = sql.split(None, 3)[:3]
        if (words[0].upper() in ("INSERT", "UPDATE", "DELETE", "CREATE", "DROP")
                or [w.upper() for w in words[:2]] == ["BEGIN", "IMMEDIATE"]):
            writes.append((inside[0], words))

    with RegistryStore.open(registry["home"]) as store:
        search = SealSearch(store, "classical")
        event.listen(store.engine, "before_cursor_execute", statement)
        filed = file_master(search, _master(registry["files"] / "look_w.png", look, 32),
                            seal_id=look.seal_id, unit=look.unit_name, write=write)
        again = file_master(search, _master(registry["files"] / "look_w2.png", look, 33),
                            seal_id=look.seal_id, unit=look.unit_name, write=write)
        event.remove(store.engine, "before_cursor_execute", statement)
    assert filed.warnings and not again.new_seal and len(runs) == 3
    inserted = {w[1][2] for w in writes if w[1][:2] == ["INSERT", "INTO"]}
    assert {"seals", "masters", "lookalike_warnings"} <= inserted
    assert writes and all(w[0] for w in writes), [w for w in writes if not w[0]]
