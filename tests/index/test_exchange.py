"""Exporting a registry and importing it into an empty one gives the same records, events,
images and identifications; a damaged or inconsistent archive is refused having written
nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from imprint.errors import OutputError
from imprint.io import load_page
from imprint.pipeline import single_imprint
from imprint.synth.registry import make_registry
from index.exchange import (
    MANIFEST,
    ArchiveChecksumError,
    ArchiveFormatError,
    RegistryNotEmptyError,
    check_archive,
    export_registry,
    import_registry,
)
from index.filing import file_master
from index.identify import SealSearch
from index.lookalike import Lookalike, LookalikeLog, kept_warnings
from index.store import EventKind, RegistryStore
from service.cli import main
from tests.index.registries import (
    DPI,
    imprint_file,
    new_registry,
    open_registry,
    registry_locator,
)

TABLE_FILES = ("units.jsonl", "seals.jsonl", "masters.jsonl", "events.jsonl")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A registry of four round seals with masters (one with two), a seal filed without a
    master, a unit without seals, life events of every kind; and a probe of each seal and of
    one never filed."""
    root = tmp_path_factory.mktemp("exchange")
    records = [r for r in make_registry(30, np.random.default_rng(4300), lookalike_rate=0,
                                        sibling_rate=0) if r.spec.kind == "round_official"][:5]
    home = root / "source"
    new_registry(home)
    with open_registry(home) as store:
        search = SealSearch(store, "classical")
        for i, r in enumerate(records[:4]):
            file_master(search, imprint_file(root / f"m{i}.png", r, 10 + i, "clean"),
                        seal_id=r.seal_id, unit=r.unit_name, code=f"440305{i:03d}0000{i}",
                        uscc=r.credit_code)
        first = records[0]
        file_master(search, imprint_file(root / "m0b.png", first, 99, "clean"),
                    seal_id=first.seal_id, unit=first.unit_name)  # a second master
        unit = store.find_units(name=first.unit_name)[0]
        store.file_seal("CHIP-1", unit, "round_official", code="4403051230001", number="1",
                        engraver="福田印章社", chip_serial="A1B2C3D4E5", made_on=date(2024, 3, 1),
                        filed_at=datetime(2024, 3, 2, 10, 30, 15, 250_000), detail="新刻")
        store.add_unit("无印章单位", None, "张三", "深圳市福田区")
        ids = [r.seal_id for r in records[:4]]
        store.record_event(ids[1], EventKind.SUSPENDED, datetime(2030, 1, 1), detail="调查")
        store.record_event(ids[1], EventKind.RESUMED, datetime(2030, 2, 1))
        store.record_event(ids[2], EventKind.REPORTED_LOST, datetime(2030, 3, 1))
        store.record_event(ids[3], EventKind.SUSPENDED, datetime(2031, 1, 1))
        store.record_event(ids[3], EventKind.REVOKED, datetime(2030, 6, 1))  # backdated
        store.record_event("CHIP-1", EventKind.REPLACED_BY, datetime(2030, 7, 1),
                           replaced_by=ids[0])
        # a look-alike warning kept with a filing (one by the name, one by the face)
        master = store.masters_of(ids[0])[0]
        LookalikeLog(store.engine).record(ids[2], [
            Lookalike(ids[0], first.unit_name, master.id, 0.8125, 0.873, 1, True),
            Lookalike(ids[1], records[1].unit_name, store.masters_of(ids[1])[0].id, 0.9,
                      0.873, 7, False)])
    probes = [imprint_file(root / f"p{i}.png", r, 20 + i, "typical")
              for i, r in enumerate(records)]
    return home, probes


def _records(store: RegistryStore) -> dict:
    """Every record of the registry, as the store hands them out (paths as image bytes)."""
    seals = store.search(limit=10**6)
    return {
        "units": store.find_units(),
        "seals": seals,
        "masters": [(m.id, m.seal_id, m.sha256, m.dpi, m.width, m.height, m.added_at,
                     m.path.read_bytes()) for s in seals for m in store.masters_of(s.seal_id)],
        "events": [e for s in seals for e in store.events_of(s.seal_id)],
        "statuses": [(s.seal_id, store.status(s.seal_id, on))
                     for s in seals for on in (None, date(2030, 2, 15), date(2030, 8, 1))],
        "counts": store.counts(),
        "lookalike_warnings": [(s.seal_id, kept_warnings(store.engine, s.seal_id))
                               for s in seals],
    }


def _identifications(home: Path, probes: list[Path]):
    with open_registry(home) as store:
        search = SealSearch(store, "classical")
        imprints = []
        for probe in probes:
            page = load_page(probe)[0]
            imprints.append(single_imprint(page.image, dpi=DPI))
        found = search.identify(imprints, top_k=3, on=date(2030, 8, 1))
    return [(f.match, f.status, [(c.seal_id, c.master_id, round(c.score, 6))
                                 for c in f.candidates]) for f in found]


@pytest.mark.parametrize("suffix", ["", ".zip"])
def test_export_then_import_gives_the_same_registry(source, tmp_path, suffix):
    home, probes = source
    archive = tmp_path / f"archive{suffix}"
    with open_registry(home) as store:
        exported = export_registry(store, archive)
        before = _records(store)
    assert exported.counts == {"units": 5, "seals": 5, "masters": 5, "events": 11,
                               "lookalike_warnings": 2, "images": 5}
    assert check_archive(archive).counts == exported.counts
    assert not list(tmp_path.glob(".*partial*"))  # nothing left beside it

    target = tmp_path / "target"
    new_registry(target)
    with open_registry(target) as store:
        imported = import_registry(store, archive)
        assert imported.counts == exported.counts
        after = _records(store)
        SealSearch(store, "classical").rebuild()
        # ids go on above the archive's, as they would have in the source
        assert store.add_unit("新单位").id > max(u.id for u in before["units"])
        active = next(s.seal_id for s in before["seals"]
                      if store.status(s.seal_id, date(2035, 1, 1)).value == "active")
        event = store.record_event(active, EventKind.SUSPENDED, datetime(2035, 1, 1))
        assert event.id > max(e.id for e in before["events"])
    assert after == before
    assert sum(len(w) for _, w in after["lookalike_warnings"]) == 2
    assert _identifications(target, probes) == _identifications(home, probes)
    matched = [m for m, _, _ in _identifications(target, probes)]
    assert sum(m is not None for m in matched[:4]) >= 3  # the comparison is not vacuous


def test_a_reexport_is_byte_for_byte_the_same(source, tmp_path):
    home, _ = source
    with open_registry(home) as store:
        export_registry(store, tmp_path / "first")
    with open_registry(new_registry(tmp_path / "copy")) as store:
        import_registry(store, tmp_path / "first")
        export_registry(store, tmp_path / "second")
    first, second = (json.loads((tmp_path / d / MANIFEST).read_text()) for d in ("first",
                                                                                 "second"))
    assert first["files"] == second["files"]  # every row file and image, by sha256
    assert first["counts"] == second["counts"] and first["highest_ids"] == second[
        "highest_ids"]


def _copy(archive: Path, tmp_path: Path) -> Path:
    out = tmp_path / "damaged"
    shutil.copytree(archive, out)
    return out


def _rewrite(archive: Path, name: str, data: bytes) -> None:
    """Replace a file and its manifest entry consistently: only the rows' checks can tell."""
    (archive / name).write_bytes(data)
    manifest = json.loads((archive / MANIFEST).read_text())
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (archive / MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def archive(source, tmp_path_factory):
    home, _ = source
    path = tmp_path_factory.mktemp("archive") / "registry"
    with open_registry(home) as store:
        export_registry(store, path)
    return path


def _refused(archive: Path, tmp_path: Path, error: type[Exception], match: str) -> None:
    """Importing ``archive`` fails with ``error`` and leaves the target as it was: empty."""
    target = tmp_path / "target"
    with pytest.raises(error, match=match):
        check_archive(archive)
    with open_registry(new_registry(target)) as store:
        with pytest.raises(error, match=match):
            import_registry(store, archive)
        assert set(store.counts().values()) == {0}
    masters = target / "masters"
    assert not masters.exists() or not any(masters.rglob("*.png"))


def test_a_flipped_byte_in_an_image_is_refused(archive, tmp_path):
    damaged = _copy(archive, tmp_path)
    image = sorted((damaged / "images").iterdir())[0]
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0x01
    image.write_bytes(bytes(data))
    _refused(damaged, tmp_path, ArchiveChecksumError, "does not match its checksum")


def test_a_truncated_row_file_is_refused(archive, tmp_path):
    damaged = _copy(archive, tmp_path)
    events = damaged / "events.jsonl"
    events.write_bytes(events.read_bytes()[:-40])
    _refused(damaged, tmp_path, ArchiveChecksumError, "events.jsonl has")
    # truncated and its manifest entry rewritten to match: the rows themselves tell
    _rewrite(damaged, "events.jsonl", (archive / "events.jsonl").read_bytes()[:-40])
    _refused(damaged, tmp_path, ArchiveFormatError, "truncated|not a JSON")


def test_a_damaged_zip_is_refused(archive, source, tmp_path):
    home, _ = source
    path = tmp_path / "registry.zip"
    with open_registry(home) as store:
        export_registry(store, path)
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.startswith("images/"))
    data = bytearray(path.read_bytes())
    at = info.header_offset  # the local header: 30 bytes, then its name and extra field
    start = at + 30 + int.from_bytes(data[at + 26:at + 28], "little") + int.from_bytes(
        data[at + 28:at + 30], "little")
    data[start + info.compress_size // 2] ^= 0xFF  # inside the stored PNG
    path.write_bytes(bytes(data))
    _refused(path, tmp_path, ArchiveChecksumError, "damaged|checksum")


def test_rows_that_break_the_registry_rules_are_refused(archive, tmp_path):
    damaged = _copy(archive, tmp_path)
    events = [json.loads(line) for line in (archive / "events.jsonl").read_text().splitlines()]
    # a resumption of a seal that is active: record_event would have refused it
    bad = dict(events[-1], id=max(e["id"] for e in events) + 1, kind="resumed",
               effective="2040-01-01T00:00:00", replaced_by=None)
    rows = [*events, bad]
    _rewrite(damaged, "events.jsonl",
             "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in rows).encode())
    manifest = json.loads((damaged / MANIFEST).read_text())
    manifest["counts"]["events"] += 1
    (damaged / MANIFEST).write_text(json.dumps(manifest))
    _refused(damaged, tmp_path, ArchiveFormatError, "cannot follow")

    seals = (archive / "seals.jsonl").read_text().splitlines()
    orphan = json.loads(seals[0]) | {"unit_id": 999}
    _rewrite(damaged, "seals.jsonl", ("\n".join([json.dumps(orphan), *seals[1:]]) + "\n").encode())
    _refused(damaged, tmp_path, ArchiveFormatError, "unit 999 is not in units.jsonl")


def test_not_an_archive_or_another_version_is_refused(archive, tmp_path):
    damaged = _copy(archive, tmp_path)
    manifest = json.loads((damaged / MANIFEST).read_text())
    (damaged / MANIFEST).write_text(json.dumps(manifest | {"format_version": 99}))
    _refused(damaged, tmp_path, ArchiveFormatError, "format version 99")
    (damaged / MANIFEST).unlink()
    _refused(damaged, tmp_path, ArchiveChecksumError, "manifest.json is missing")


def test_an_archive_of_the_first_version_without_warnings_is_read(archive, source, tmp_path):
    """Version 1 archives had no look-alike warnings: one is imported with none."""
    old = _copy(archive, tmp_path)
    manifest = json.loads((old / MANIFEST).read_text())
    (old / "lookalike_warnings.jsonl").unlink()
    del manifest["files"]["lookalike_warnings.jsonl"], manifest["counts"]["lookalike_warnings"]
    del manifest["highest_ids"]["lookalike_warnings"]
    (old / MANIFEST).write_text(json.dumps(manifest | {"format_version": 1}))
    target = tmp_path / "from_v1"
    new_registry(target)
    with open_registry(target) as store:
        imported = import_registry(store, old)
        assert imported.counts["seals"] == 5 and imported.counts["lookalike_warnings"] == 0
        assert all(kept_warnings(store.engine, s.seal_id) == [] for s in store.search())


def test_only_an_empty_registry_takes_an_archive(archive, source, tmp_path):
    home, _ = source
    with open_registry(home) as store, pytest.raises(RegistryNotEmptyError,
                                                     match="already holds"):
        import_registry(store, archive)
    with open_registry(home) as store, pytest.raises(OutputError, match="already exists"):
        export_registry(store, archive)


def test_the_command_line_exports_checks_and_imports(source, tmp_path, capsys, monkeypatch):
    home, _ = source
    monkeypatch.setenv("IMPRINT_HOME", str(home))  # where a database URL's masters are

    def run(*argv: str) -> tuple[int, dict]:
        code = main([*argv, "--json"])
        return code, json.loads(capsys.readouterr().out)

    code, out = run("registry", "export", str(tmp_path / "a.zip"), "--registry",
                    registry_locator(home))
    assert code == 0 and out["counts"]["seals"] == 5
    code, out = run("registry", "check", str(tmp_path / "a.zip"))
    assert code == 0 and out["counts"]["images"] == 5
    code, out = run("registry", "import", str(tmp_path / "a.zip"), "--registry",
                    str(tmp_path / "b"), "--embedder", "classical")
    assert code == 0 and out["index"] == 5 and out["counts"]["events"] == 11
    with open_registry(home) as a, RegistryStore.open(tmp_path / "b") as b:
        assert _records(a) == _records(b)
    # into a registry that is not empty: refused, exit 2, one line on stderr
    assert main(["registry", "import", str(tmp_path / "a.zip"), "--registry",
                 str(tmp_path / "b")]) == 2
    assert "already holds" in capsys.readouterr().err


def test_the_command_line_imports_another_systems_csv(source, tmp_path, capsys):
    _, probes = source
    (tmp_path / "units.csv").write_text("name,uscc\n某某商贸有限公司,91440300MA5FXXXX0X\n"
                                        "另一家公司,\n", encoding="utf-8")
    (tmp_path / "seals.csv").write_text(
        "seal_id,unit,kind,code,chip_serial,filed_on\n"
        "M-1,某某商贸有限公司,round_official,4403050000101,CHIP-M1,2021-05-06\n"
        "M-2,没有这个单位,round_official,,,2021-05-06\n"
        "M-3,另一家公司,oval_invoice,,,not-a-date\n", encoding="utf-8")
    shutil.copy(probes[4], tmp_path / "m1.png")
    (tmp_path / "masters.csv").write_text("seal_id,path,dpi\nM-1,m1.png,200\nM-9,m1.png,\n",
                                          encoding="utf-8")
    code = main(["registry", "import-csv", "--units", str(tmp_path / "units.csv"),
                 "--seals", str(tmp_path / "seals.csv"), "--masters",
                 str(tmp_path / "masters.csv"), "--registry", str(tmp_path / "reg"),
                 "--embedder", "classical", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1  # some rows were refused
    assert (report["rows_read"], report["imported"], report["skipped"]) == (7, 4, 3)
    refused = {(e["file"], e["line"], e["column"]) for e in report["errors"]}
    assert refused == {("seals.csv", 3, "unit"), ("seals.csv", 4, "filed_on"),
                       ("masters.csv", 3, "seal_id")}
    assert report["index"] == 1
    with RegistryStore.open(tmp_path / "reg") as store:
        assert store.seal_by_chip("CHIP-M1").seal_id == "M-1"
