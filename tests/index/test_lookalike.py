"""The look-alike warning at filing: a seal of another unit whose name differs in a character,
with the same layout, is named; an unrelated seal is not; the warning is kept with the
record, and the filing stands."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import numpy as np
import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import DatabaseError

from imprint.synth import names
from imprint.synth.dataset import write_image
from imprint.synth.design import SealSpec
from imprint.synth.medium import Capture
from imprint.synth.registry import make_registry
from imprint.synth.scene import genuine_stamping, imprint_scene
from index.filing import file_master
from index.identify import SealSearch
from index.lookalike import (
    LOOKALIKE_THRESHOLD,
    Lookalike,
    LookalikeLog,
    name_changes,
    names_alike,
)
from index.store import RegistryStore
from service.cli import main

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


def test_a_one_character_lookalike_is_warned_and_kept_with_the_record(registry, capsys):
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
        assert warning.by_name and warning.name_changes == 1 and "name" in warning.reasons
        kept = LookalikeLog(store.engine).of(look.seal_id)
        assert [(w.seal_id, round(w.score, 6), w.name_changes, w.reasons) for w in kept] == [
            (original.seal_id, round(warning.score, 6), 1, warning.reasons)]
        with pytest.raises(DatabaseError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text("DELETE FROM lookalike_warnings"))
    # ... and shown with the seal's record
    capsys.readouterr()
    assert main(["seal", look.seal_id, "--registry", str(registry["home"]), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["lookalike_warnings"]
    assert [(w["seal_id"], w["name_changes"], w["reasons"]) for w in shown] == [
        (original.seal_id, 1, list(warning.reasons))]


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


def test_a_copied_face_under_an_unrelated_name_is_warned_by_its_face(registry):
    """The original's face (another stamping of it) filed for a unit of another name: no name
    route, the faces alone."""
    original = registry["original"]
    copy = replace(original, seal_id="COPY", unit_name="宁夏远景农业机械股份有限公司")
    assert not names_alike(copy.unit_name, original.unit_name)
    with RegistryStore.open(registry["home"]) as store:
        search = SealSearch(store, "classical")
        filed = file_master(search, _master(registry["files"] / "copy.png", original, 50),
                            seal_id=copy.seal_id, unit=copy.unit_name)
    # (the look-alike, where an earlier test filed it, shares most of that face too)
    assert filed.warnings[0].seal_id == original.seal_id
    assert all(w.reasons == ("face",) for w in filed.warnings)
    assert filed.warnings[0].score >= LOOKALIKE_THRESHOLD


def test_a_lookalike_name_on_a_seal_of_another_kind_is_not_warned(registry):
    """The name route asks for the same kind of seal (the same layout): an invoice seal of a
    unit whose name differs from a filed official seal's in one character is not warned."""
    original = registry["original"]
    unit = names.look_alike(original.unit_name, np.random.default_rng(7), n_changes=1)
    spec = SealSpec("oval_invoice", unit, tax_number=names.credit_code(np.random.default_rng(8)),
                    diameter=40.0)
    invoice = replace(original, seal_id="INVOICE", unit_name=unit, spec=spec, seal_seed=13579)
    assert names_alike(unit, original.unit_name)
    with RegistryStore.open(registry["home"]) as store:
        search = SealSearch(store, "classical")
        filed = file_master(search, _master(registry["files"] / "invoice.png", invoice, 60),
                            seal_id=invoice.seal_id, unit=unit, kind="oval_invoice")
    assert filed.new_seal and filed.warnings == ()


@pytest.mark.parametrize(("a", "b", "changes", "alike"), [
    ("天津光明印刷工作室", "天津光康图刷工作室", 2, True),  # two characters of nine
    ("贵州省教育局", "贵州省民政局", 2, False),  # two of six: a bureau of its own
    ("湖北省人民法院", "河北省人民法院", 1, False),  # each province has its court
    ("广州市新区税务局", "郑州市新区税务局", 1, False),
    ("广州市宏达科技有限公司", "广州市宏远科技有限公司", 1, True),
    ("大连银河农业发展工作室", "大连联创农业发展工作室", 2, True),
    ("天津华信建筑工程股份有限公司", "天津华信建筑工程股份有限公司", 0, False),  # the unit itself
    ("杭州宏达（集团）有限公司", "杭州宏达 (集团) 有限公司", 0, False),  # full width, spaces
    ("杭州宏达有限公司", "杭州宏达科技有限公司", 2, True),  # two characters inserted
    # one trade name in two places, neither written with 省 or 市
    ("常州建业信息技术有限责任公司", "广东建业信息技术有限责任公司", 2, False),
    ("徐州华信电子有限公司", "常州华信电子有限公司", 1, False),  # two cities a character apart
    ("北京华信科技有限公司", "北京市华信科技有限公司", 1, True),  # one place written two ways
    ("吉林省人民政府", "吉林市人民政府", 1, False),  # a province and a city of one name
    ("昆山市华信电子有限公司", "苏州华信电子有限公司", 3, False),
    ("华信超市有限公司", "华新超市有限公司", 1, True),  # 超市: a shop, no city
    ("郑州市城关区财政局", "郑州市新区财政局", 2, False),  # two districts' bodies
    ("石家庄市开发区自然资源局", "石家庄市高新区自然资源局", 2, False),
    ("郑州市城关区财政局", "郑州市城关区财务局", 1, True),  # one district, a title changed
    ("西宁市城东区财政局", "西宁市城西区财政局", 1, False),  # as 湖北 and 河北: two places
    ("桐庐县分水镇人民政府", "桐庐县横村镇人民政府", 2, False),  # two towns' governments
    ("杭州市西湖区北山街道办事处", "杭州市西湖区灵隐街道办事处", 2, False),
])
def test_names_alike_counts_characters_as_the_name_reads(a, b, changes, alike):
    assert name_changes(a, b) == changes
    assert names_alike(a, b) is alike


def test_a_warning_table_made_before_names_were_compared_gets_their_columns(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE lookalike_warnings (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "seal_id VARCHAR(64), similar_seal_id VARCHAR(64), similar_unit VARCHAR(200), "
            "similar_master_id INTEGER, score FLOAT, threshold FLOAT, recorded_at DATETIME)")
        conn.exec_driver_sql(
            "INSERT INTO lookalike_warnings (seal_id, similar_seal_id, similar_unit, "
            "similar_master_id, score, threshold, recorded_at) VALUES ('NEW', 'OLD', '甲公司', 3, "
            "0.9, 0.8, '2026-01-05 10:00:00')")
    log = LookalikeLog(engine)
    log.record("NEW", [Lookalike("OTHER", "乙公司", 4, 0.7, 0.8, 1, True)])
    assert [(w.seal_id, w.name_changes, w.reasons) for w in log.of("NEW")] == [
        ("OLD", None, ("face",)), ("OTHER", 1, ("name",))]
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("UPDATE lookalike_warnings SET score = 1")
    engine.dispose()


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
