"""The registry store on real SQLite files: filing, masters, append-only events, status over
time, bulk CSV import."""

from __future__ import annotations

import hashlib
import io
import sqlite3
from datetime import date, datetime

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from imprint.errors import ImprintError, InvalidParameterError, OutputError, UnreadableInputError
from index.errors import (
    DuplicateSealError,
    DuplicateUnitError,
    InvalidEventError,
    RegistryIntegrityError,
    UnknownSealError,
    UnknownUnitError,
)
from index.store import EventKind, EventRow, RegistryStore, SealStatus, import_csv

USCC = "91310115MA1H7XK23Q"


def _rgb(seed=0, h=64, w=80):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def store(tmp_path):
    with RegistryStore.open(tmp_path / "reg") as s:
        yield s


@pytest.fixture
def seal(store):
    unit = store.add_unit("北京华信科技发展有限公司", USCC, "李庆国", "北京市海淀区")
    return store.file_seal("110108-0001", unit, "round_official", code="1101080000001",
                           number=1, engraver="海淀刻章厂", chip_serial="CHIP-0001",
                           made_on=date(2020, 1, 9), filed_at=date(2020, 1, 10))


def test_filing_reads_back(store, seal):
    assert store.get_seal("110108-0001") == seal
    assert (seal.unit_name, seal.number, seal.filed_at) == (
        "北京华信科技发展有限公司", "1", datetime(2020, 1, 10))
    assert [u.uscc for u in store.find_units(name="华信")] == [USCC]
    assert store.find_units(uscc=USCC.lower())[0].legal_representative == "李庆国"
    assert store.seal_by_chip("CHIP-0001") == seal
    assert store.search(unit_name="华信") == store.search(code="110108") == [seal]
    assert store.search(seal_id="110108-") == [seal] and store.search(unit_name="%") == []
    assert [e.kind for e in store.events_of(seal.seal_id)] == [EventKind.FILED]
    assert store.status(seal.seal_id) is SealStatus.ACTIVE


def test_refusals_are_typed(store, seal):
    with pytest.raises(DuplicateSealError) as exc:
        store.file_seal(seal.seal_id, seal.unit_id, "round_official")
    assert exc.value.code == "duplicate_seal" and isinstance(exc.value, ImprintError)
    with pytest.raises(DuplicateSealError, match="CHIP-0001") as exc:
        store.file_seal("other", seal.unit_id, "oval_invoice", chip_serial="CHIP-0001")
    assert exc.value.field == "chip_serial"
    with pytest.raises(DuplicateUnitError):
        store.add_unit("另一家公司", USCC)
    with pytest.raises(InvalidParameterError, match="17 characters"):
        store.add_unit("短码公司", USCC[:-1])
    with pytest.raises(UnknownUnitError):
        store.file_seal("x", 999, "square_name")
    with pytest.raises(UnknownSealError):
        store.get_seal("nope")
    with pytest.raises(UnknownSealError):
        store.seal_by_chip("CHIP-9999")
    with pytest.raises(InvalidParameterError, match="made_on"):
        store.file_seal("y", seal.unit_id, "square_name", made_on=date(2021, 1, 2),
                        filed_at=date(2021, 1, 1))
    assert store.counts()["seals"] == 1


def test_seals_are_read_several_at_once_as_each_alone(store, seal):
    other = store.file_seal("110108-0002", store.add_unit("上海华信科技有限公司"), "oval_invoice")
    assert store.get_seals(["110108-0002", "NO-SUCH", "110108-0001", "110108-0002"]) == {
        "110108-0001": seal, "110108-0002": other}
    assert store.get_seals([]) == {}


def test_masters_are_content_addressed(store, seal, tmp_path):
    png = _png(_rgb(1))
    m1 = store.add_master(seal.seal_id, png, dpi=600)
    assert m1.sha256 == hashlib.sha256(png).hexdigest()  # a PNG is kept byte for byte
    assert m1.path == store.home / "masters" / m1.sha256[:2] / f"{m1.sha256}.png"
    assert m1.path.read_bytes() == png and (m1.width, m1.height, m1.dpi) == (80, 64, 600)
    assert store.add_master(seal.seal_id, png) == m1  # the same master twice: one record
    sibling = store.file_seal("110108-0002", seal.unit_id, "round_official", number=2)
    m2 = store.add_master(sibling.seal_id, png)
    assert m2.id != m1.id and m2.path == m1.path
    assert len(list((store.home / "masters").rglob("*.png"))) == 1
    np.testing.assert_array_equal(store.load_master_image(m1), _rgb(1))

    arr = store.add_master(seal.seal_id, _rgb(2))  # arrays and JPEGs are stored as PNG
    np.testing.assert_array_equal(store.load_master_image(arr.id), _rgb(2))
    buf = io.BytesIO()
    Image.fromarray(_rgb(3)).save(buf, "JPEG", dpi=(300, 300))
    jpg = store.add_master(seal.seal_id, buf.getvalue())
    assert jpg.path.read_bytes().startswith(b"\x89PNG") and jpg.dpi == 300
    assert [m.id for m in store.masters_of(seal.seal_id)] == [m1.id, arr.id, jpg.id]

    with pytest.raises(UnreadableInputError):
        store.add_master(seal.seal_id, b"not an image at all")
    with pytest.raises(UnknownSealError):
        store.add_master("nope", _png(_rgb(4)))
    assert len(list((store.home / "masters").rglob("*.png"))) == 3  # nothing for "nope"

    m1.path.write_bytes(_png(_rgb(5)))  # a master altered on disk is detected on load
    with pytest.raises(RegistryIntegrityError):
        store.load_master_image(m1)


def test_master_write_is_atomic_and_leaves_no_temp_files(store, seal):
    store.add_master(seal.seal_id, _rgb(1))
    png = _png(_rgb(2))
    sha = hashlib.sha256(png).hexdigest()
    blocked = store.home / "masters" / sha[:2] / f"{sha}.png"
    (blocked / "x").mkdir(parents=True)  # a directory in the way: the final rename fails
    with pytest.raises(OutputError):
        store.add_master(seal.seal_id, png)
    assert not list((store.home / "masters").rglob(".*.tmp"))
    assert len(store.masters_of(seal.seal_id)) == 1


def test_events_are_append_only_in_the_orm(store, seal):
    store.record_event(seal.seal_id, "suspended", date(2021, 1, 1), "audit")
    with Session(store.engine) as s:
        ev = s.get(EventRow, 2)
        ev.detail = "rewritten"
        with pytest.raises(RegistryIntegrityError, match="append-only"):
            s.commit()
    with Session(store.engine) as s:
        s.delete(s.get(EventRow, 1))
        with pytest.raises(RegistryIntegrityError, match="append-only"):
            s.commit()
    with Session(store.engine) as s:
        for stmt in (update(EventRow).values(detail="x"), delete(EventRow)):
            with pytest.raises(RegistryIntegrityError):
                s.execute(stmt)
    assert [e.detail for e in store.events_of(seal.seal_id)] == [None, "audit"]


def test_events_are_append_only_in_the_database(store, seal):
    store.close()
    con = sqlite3.connect(store.home / "registry.sqlite")
    try:
        for sql in ("UPDATE seal_events SET kind = 'revoked'", "DELETE FROM seal_events"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                con.execute(sql)
        con.execute("INSERT INTO seal_events (seal_id, kind, effective, recorded_at) VALUES "
                    "(?, 'suspended', '2022-01-01 00:00:00', '2022-01-01 00:00:00')",
                    (seal.seal_id,))  # appending stays allowed
        con.commit()
        assert con.execute("SELECT count(*) FROM seal_events").fetchone() == (2,)
    finally:
        con.close()


def test_status_over_time(store, seal):
    sid = seal.seal_id  # filed 2020-01-10
    store.record_event(sid, EventKind.SUSPENDED, date(2021, 3, 1), "under investigation")
    store.record_event(sid, EventKind.RESUMED, date(2021, 6, 1))
    store.record_event(sid, EventKind.REVOKED, datetime(2023, 5, 1, 9, 30), "unit renamed")
    expected = {
        date(2020, 1, 9): SealStatus.NOT_FILED, date(2020, 1, 10): SealStatus.ACTIVE,
        date(2021, 2, 28): SealStatus.ACTIVE, date(2021, 3, 1): SealStatus.SUSPENDED,
        date(2021, 5, 31): SealStatus.SUSPENDED, date(2021, 6, 1): SealStatus.ACTIVE,
        date(2023, 4, 30): SealStatus.ACTIVE,  # a document dated before the revocation
        date(2023, 5, 1): SealStatus.REVOKED, date(2025, 1, 1): SealStatus.REVOKED,
    }
    assert {d: store.status(sid, on=d) for d in expected} == expected
    # the verification's single read says the same
    assert {d: store.seal_view(sid, on=d).status for d in expected} == expected
    assert store.status(sid, on=datetime(2023, 5, 1, 9, 29)) is SealStatus.ACTIVE
    assert store.status(sid) is SealStatus.REVOKED
    with pytest.raises(InvalidEventError):
        store.record_event(sid, "resumed", date(2024, 1, 1))  # nothing after a revocation
    with pytest.raises(InvalidEventError):
        store.record_event(sid, "resumed", date(2022, 1, 1))  # it was not suspended then
    with pytest.raises(InvalidEventError):
        store.record_event(sid, "filed")
    with pytest.raises(InvalidEventError):
        store.record_event(sid, "burned")
    assert len(store.events_of(sid)) == 4


def test_a_seal_view_is_the_seal_its_masters_and_its_status(store, seal):
    first = store.add_master(seal.seal_id, _png(_rgb(1)), dpi=300)
    second = store.add_master(seal.seal_id, _png(_rgb(2)), dpi=600)
    store.record_event(seal.seal_id, EventKind.SUSPENDED, date(2021, 3, 1))
    view = store.seal_view(seal.seal_id, on=date(2021, 2, 1))
    assert view.seal == store.get_seal(seal.seal_id)
    assert view.masters == store.masters_of(seal.seal_id) == [first, second]
    assert view.status is SealStatus.ACTIVE
    assert store.seal_view(seal.seal_id).status is SealStatus.SUSPENDED
    with pytest.raises(UnknownSealError):
        store.seal_view("110108-9999")


def test_lost_then_replaced(store, seal):
    new = store.file_seal("110108-0003", seal.unit_id, "round_official", filed_at=date(2022, 3, 2))
    store.record_event(seal.seal_id, "reported_lost", date(2022, 2, 1))
    with pytest.raises(InvalidEventError):
        store.record_event(seal.seal_id, "replaced_by", date(2022, 3, 2))  # replaced by what?
    with pytest.raises(UnknownSealError):
        store.record_event(seal.seal_id, "replaced_by", date(2022, 3, 2), replaced_by="nope")
    ev = store.record_event(seal.seal_id, "replaced_by", date(2022, 3, 2), replaced_by=new.seal_id)
    assert ev.replaced_by == new.seal_id
    assert store.status(seal.seal_id, on=date(2022, 2, 15)) is SealStatus.LOST
    assert store.status(seal.seal_id, on=date(2022, 3, 2)) is SealStatus.REPLACED
    assert store.status(new.seal_id, on=date(2022, 3, 1)) is SealStatus.NOT_FILED


def test_csv_import_reports_bad_rows_and_keeps_good_ones(store, tmp_path):
    src = tmp_path / "legacy"
    (src / "img").mkdir(parents=True)
    (src / "units.csv").write_text(
        "name,uscc,legal_representative,address\n"
        f"上海明达贸易有限公司,{USCC},王明,上海市\n"             # line 2: good
        "河南森源重工有限公司,91410000MA40ABCD1,,\n"             # 3: uscc 17 characters
        ",91110000MA01ABCD2X,,\n"                              # 4: no name
        f"重复公司,{USCC},,\n"                                  # 5: duplicate uscc
        "江苏宏达机械制造有限公司,,,\n", encoding="utf-8")        # 6: good, no uscc
    (src / "seals.csv").write_text(
        "seal_id,unit,kind,code,number,engraver,chip_serial,made_on,filed_on\n"
        f"SH-1,{USCC},round_official,3101150000001,,,C1,2019-05-01,2019-05-02\n"  # 2: good
        "JS-1,江苏宏达机械制造有限公司,oval_invoice,,,,,2019-06-01,\n"             # 3: good
        "XX-1,不存在的公司,round_official,,,,,2019-01-01,2019-01-01\n"            # 4: unknown
        f"SH-2,{USCC},round_official,,,,,2019-13-01,\n"                           # 5: bad date
        f"SH-1,{USCC},round_official,,,,,2019-05-01,2019-05-02\n"                 # 6: duplicate
        f"SH-3,{USCC},,,,,,2019-05-01,\n"                                         # 7: no kind
        f"SH-4,{USCC},square_name,,,,C1,2019-05-01,\n", encoding="utf-8")         # 8: chip taken
    (src / "img" / "sh1.png").write_bytes(_png(_rgb(7)))
    (src / "img" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (src / "masters.csv").write_text(
        "seal_id,path,dpi\n"
        "SH-1,img/sh1.png,600\n"      # 2: good
        "JS-1,img/missing.png,\n"     # 3: no such file
        "JS-1,img/broken.png,\n"      # 4: unreadable image
        "XX-9,img/sh1.png,\n"         # 5: unknown seal
        "SH-1,img/sh1.png,abc\n",     # 6: bad dpi
        encoding="utf-8")

    report = import_csv(store, src / "units.csv", src / "seals.csv", src / "masters.csv")

    got = {(e.file, e.line, e.column) for e in report.errors}
    assert got == {
        ("units.csv", 3, "uscc"), ("units.csv", 4, "name"), ("units.csv", 5, "uscc"),
        ("seals.csv", 4, "unit"), ("seals.csv", 5, "made_on"), ("seals.csv", 6, "seal_id"),
        ("seals.csv", 7, "kind"), ("seals.csv", 8, "chip_serial"),
        ("masters.csv", 3, "path"), ("masters.csv", 4, "path"), ("masters.csv", 5, "seal_id"),
        ("masters.csv", 6, "dpi"),
    }, report.errors
    assert (report.rows_read, report.imported, report.skipped) == (17, 5, 12)
    assert {s.seal_id for s in store.search()} == {"SH-1", "JS-1"}
    assert store.get_seal("JS-1").filed_at == datetime(2019, 6, 1)  # filed_on from made_on
    assert store.masters_of("SH-1")[0].dpi == 600
    assert store.status("SH-1", on=date(2019, 5, 2)) is SealStatus.ACTIVE


def test_csv_import_refuses_a_file_without_required_columns(store, tmp_path):
    path = tmp_path / "units.csv"
    path.write_text("uscc,address\nX,Y\nZ,W\n", encoding="utf-8")
    report = import_csv(store, units_csv=path)
    assert (report.rows_read, report.imported, report.skipped) == (2, 0, 2)
    assert [(e.line, e.column) for e in report.errors] == [(1, "name")]


def test_imprint_home_is_the_default_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("IMPRINT_HOME", str(tmp_path / "home"))
    with RegistryStore.open() as store:
        store.add_unit("测试单位")
        assert store.home == (tmp_path / "home").resolve()
    assert (tmp_path / "home" / "registry.sqlite").is_file()


def test_reopening_sees_the_data(tmp_path):
    with RegistryStore.open(tmp_path) as store:
        unit = store.add_unit("北京华信科技发展有限公司", USCC)
        store.file_seal("S1", unit, "round_official", filed_at=date(2020, 1, 1))
        master = store.add_master("S1", _rgb(1), dpi=300)
        store.record_event("S1", "suspended", date(2021, 1, 1))
    with RegistryStore.open(tmp_path) as store:
        assert store.get_seal("S1").unit_name == "北京华信科技发展有限公司"
        assert store.masters_of("S1") == [master]
        np.testing.assert_array_equal(store.load_master_image(master.id), _rgb(1))
        assert store.status("S1") is SealStatus.SUSPENDED
        with store.engine.connect() as conn:
            pragmas = [conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                       for p in ("journal_mode", "foreign_keys", "busy_timeout")]
        assert pragmas[0] == "wal" and pragmas[1] == 1 and pragmas[2] > 0


def test_master_ids_only_grow_and_are_never_reused(store, seal):
    ids = [store.add_master(seal.seal_id, _rgb(i)).id for i in range(4)]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert [m for m, _, _ in store.iter_masters()] == ids
    assert [m for m, _, _ in store.iter_masters(after_id=ids[1])] == ids[2:]
    assert all(sid == seal.seal_id and p.is_file() for _, sid, p in store.iter_masters())
    with store.engine.begin() as conn:  # even a row removed behind the store's back ...
        conn.exec_driver_sql("DELETE FROM masters WHERE id = ?", (ids[-1],))
    assert store.add_master(seal.seal_id, _rgb(9)).id > ids[-1]  # ... leaves its id unused


def test_a_new_seal_is_filed_with_its_master_or_not_at_all(store, seal):
    unit, filed, master = store.file_with_master("110108-0002", "上海某某贸易有限公司",
                                                 "round_official", _png(_rgb(3)), dpi=300)
    assert (unit.name, filed.seal_id, master.seal_id) == ("上海某某贸易有限公司", "110108-0002",
                                                          "110108-0002")
    assert [m.id for m in store.masters_of("110108-0002")] == [master.id]
    assert store.status("110108-0002") is SealStatus.ACTIVE
    before = store.counts()
    # refused after the unit would have been added: the transaction takes the unit back too
    with pytest.raises(DuplicateSealError):
        store.file_with_master("110108-0001", "广州某某物流有限公司", "round_official",
                               _png(_rgb(4)))
    with pytest.raises(ImprintError):  # an image that cannot be stored: nothing is filed
        store.file_with_master("110108-0003", "深圳某某电子有限公司", "round_official",
                               b"not an image")
    assert store.counts() == before
    assert store.find_units(name="广州某某") == [] and store.find_units(name="深圳某某") == []


def test_what_derives_from_a_master_is_prepared_before_its_record(store, seal):
    """``prepare`` runs once the image is stored and before the master's row is written (what
    another process sees); if it fails, nothing is recorded."""
    seen = []

    def prepare(sha):
        seen.append((sha, store.master_extent(), store.counts()["seals"]))

    png = _png(_rgb(1))
    extent, seals = store.master_extent(), store.counts()["seals"]
    master = store.add_master(seal.seal_id, png, prepare=prepare)
    assert seen == [(master.sha256, extent, seals)] and master.path.read_bytes() == png
    extent = store.master_extent()
    _, _, first = store.file_with_master("110108-0002", "上海某某贸易有限公司", "round_official",
                                         _png(_rgb(2)), prepare=prepare)
    assert seen[-1] == (first.sha256, extent, seals)

    def refuse(_sha):
        raise OutputError("the derived file cannot be written")

    before = store.counts()
    with pytest.raises(OutputError):
        store.add_master(seal.seal_id, _png(_rgb(3)), prepare=refuse)
    with pytest.raises(OutputError):
        store.file_with_master("110108-0003", "深圳某某电子有限公司", "round_official",
                               _png(_rgb(4)), prepare=refuse)
    assert store.counts() == before and len(store.masters_of(seal.seal_id)) == 1


def test_sibling_masters_are_the_units_other_seals_of_the_same_kind(store, seal):
    other_unit = store.add_unit("上海华信科技发展有限公司", "91310115MA1H7XK24R")
    second = store.file_seal("110108-0002", seal.unit_id, "round_official", number=2)
    store.file_seal("110108-0003", seal.unit_id, "finance", number=1)
    store.file_seal("310115-0001", other_unit, "round_official", number=1)
    first_master = store.add_master(seal.seal_id, _png(_rgb(1)))
    masters = [store.add_master(second.seal_id, _png(_rgb(s))) for s in (2, 3)]
    store.add_master("110108-0003", _png(_rgb(4)))
    store.add_master("310115-0001", _png(_rgb(5)))
    assert store.sibling_masters(seal.seal_id) == masters
    assert store.sibling_masters(second.seal_id) == [first_master]
    assert store.sibling_masters(second.seal_id, limit=0) == []
    with pytest.raises(UnknownSealError):
        store.sibling_masters("no-such-seal")
