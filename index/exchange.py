"""Export and import of a whole registry: units, seals, master images, life events and the
look-alike warnings given at filing, as an archive another registry (or another system) can
read back exactly. The format is described
in ``docs/exchange.md``::

    manifest.json        format and version, row counts, highest ids, sha256 and size of
                         every other file
    units.jsonl          one JSON object per line, by id
    seals.jsonl          by seal_id
    masters.jsonl        by id; "image" names the file below
    events.jsonl         by id (the order they were recorded in)
    lookalike_warnings.jsonl  by id: the look-alike warnings given at filing (version 2;
                         a version 1 archive has none)
    images/<sha256>.png  each master image once, byte for byte as filed

An archive is a directory, or the same files in a ``.zip``. Export reads the store in one
snapshot and writes the archive beside its target, renaming it into place when complete.
Import checks everything before it writes anything: every file against the manifest, every
row against its schema, every reference (seal to unit, master to seal and image, event to
seal, warning to its seals and master), and each seal's events replayed in the order they
were recorded, as :meth:`RegistryStore.record_event` would have accepted them. It then
stores the images and inserts every row, ids and times as they were, in one transaction,
into a registry that must be empty (there is no merge: migrate foreign data with
:func:`index.store.import_csv`). The vector index and canonical imprints are derived data:
rebuild them afterwards (``SealSearch.rebuild``; ``imprint registry import`` does).

Errors (typed, under :class:`~imprint.errors.UnreadableInputError` and
:class:`~index.errors.RegistryError`)::

    ArchiveError              the archive cannot be read as one
    ├── ArchiveFormatError    manifest or row not in the format, a broken reference
    └── ArchiveChecksumError  a file missing, of another size, or not hashing to the manifest
    RegistryNotEmptyError     the target registry already holds records
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Table, func, insert, select, text

from imprint import __version__
from imprint.atomic import fsync_dir
from imprint.errors import OutputError, UnreadableInputError
from index.errors import RegistryError, RegistryIntegrityError
from index.store import (
    _MAY_FOLLOW,
    EventKind,
    EventRow,
    MasterRow,
    RegistryStore,
    SealRow,
    UnitRow,
    _fold,
    table_columns,
)

FORMAT = "imprint.registry-archive"
FORMAT_VERSION = 2
#: Versions read: 1 had no look-alike warnings
READS = (1, 2)
MANIFEST = "manifest.json"
#: The row files, in the order they are written, checked and inserted.
TABLES = ("units", "seals", "masters", "events", "lookalike_warnings")
#: ... of which an archive of an earlier version may lack these (none of their rows)
LATER_TABLES = {"lookalike_warnings": 2}
_ROWS: dict[str, Table] = {"units": UnitRow.__table__, "seals": SealRow.__table__,
                           "masters": MasterRow.__table__, "events": EventRow.__table__}
#: Tables whose highest id the manifest carries
ID_TABLES = ("units", "masters", "events", "lookalike_warnings")
_IMAGE = re.compile(r"images/([0-9a-f]{64})\.png")
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: Rows per INSERT batch on import, rows per fetch on export.
BATCH = 5000
_CHUNK = 1 << 20
MAX_MANIFEST_BYTES = 1 << 30
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so one registry always exports to the same bytes


def _table(name: str) -> Table:
    if name == "lookalike_warnings":  # (its module loads the search: only when needed)
        from index.lookalike import LookalikeRow

        return LookalikeRow.__table__
    return _ROWS[name]


class ArchiveError(UnreadableInputError):
    """The archive cannot be read as a registry archive."""

    code = "archive_invalid"


class ArchiveFormatError(ArchiveError):
    """The manifest or a row is not in the format, or a row refers to what is not there."""

    code = "archive_format"


class ArchiveChecksumError(ArchiveError):
    """A file the manifest lists is missing, of another size, or does not hash to it."""

    code = "archive_checksum"


class RegistryNotEmptyError(RegistryError):
    """An archive is imported only into an empty registry."""

    code = "registry_not_empty"


@dataclass(frozen=True)
class ArchiveSummary:
    """An archive written, checked or imported: ``counts`` of units, seals, masters, events,
    look-alike warnings and images; ``bytes`` of every file but the manifest."""

    archive: Path
    counts: dict[str, int]
    bytes: int


# --- row schema ---------------------------------------------------------------------------------

class _count(int):
    """A whole number, 0 included (an ``int`` field is an id, 1 or more)."""


# field -> (type, required, max length); the store's own limits
_SCHEMA: dict[str, dict[str, tuple[type, bool, int | None]]] = {
    "units": {"id": (int, True, None), "name": (str, True, 200), "uscc": (str, False, 18),
              "legal_representative": (str, False, 100), "address": (str, False, 300),
              "created_at": (datetime, True, None)},
    "seals": {"seal_id": (str, True, 64), "unit_id": (int, True, None), "kind": (str, True, 64),
              "code": (str, False, 32), "number": (str, False, 8), "engraver": (str, False, 200),
              "chip_serial": (str, False, 64), "made_on": (date, False, None),
              "filed_at": (datetime, True, None)},
    "masters": {"id": (int, True, None), "seal_id": (str, True, 64), "sha256": (str, True, 64),
                "image": (str, True, 80), "dpi": (float, False, None),
                "width": (int, True, None), "height": (int, True, None),
                "added_at": (datetime, True, None)},
    "events": {"id": (int, True, None), "seal_id": (str, True, 64), "kind": (str, True, 16),
               "effective": (datetime, True, None), "detail": (str, False, 10_000),
               "replaced_by": (str, False, 64), "recorded_at": (datetime, True, None)},
    "lookalike_warnings": {
        "id": (int, True, None), "seal_id": (str, True, 64), "similar_seal_id": (str, True, 64),
        "similar_unit": (str, True, 200), "similar_master_id": (int, True, None),
        "score": (float, True, None), "threshold": (float, True, None),
        "recorded_at": (datetime, True, None), "name_changes": (_count, False, None),
        "by_name": (bool, False, None)},
}


def _to_json(row: dict[str, Any]) -> bytes:
    out = {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in row.items()}
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _from_json(table: str, line: bytes, where: str) -> dict[str, Any]:
    """One row parsed and typed against :data:`_SCHEMA` (datetimes naive, as stored)."""
    try:
        raw = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveFormatError(f"{where}: not a JSON object ({exc})") from None
    schema = _SCHEMA[table]
    if not isinstance(raw, dict) or set(raw) != set(schema):
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ArchiveFormatError(f"{where}: expected the fields {sorted(schema)}, got {got}")
    row: dict[str, Any] = {}
    for name, (kind, required, max_len) in schema.items():
        value = raw[name]
        if value is None:
            if required:
                raise ArchiveFormatError(f"{where}: {name} is required")
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArchiveFormatError(f"{where}: {name} must be a positive integer")
        elif kind is _count:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ArchiveFormatError(f"{where}: {name} must be a whole number")
        elif kind is bool:
            if not isinstance(value, bool):
                raise ArchiveFormatError(f"{where}: {name} must be true or false")
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ArchiveFormatError(f"{where}: {name} must be a number")
            value = float(value)
        elif kind is str:
            if not isinstance(value, str) or not value.strip() or (
                    max_len is not None and len(value) > max_len):
                raise ArchiveFormatError(f"{where}: {name} must be text of 1..{max_len} "
                                         f"characters")
        else:
            value = _moment(value, kind, f"{where}: {name}")
        row[name] = value
    return row


def _moment(value: Any, kind: type, where: str) -> date | datetime:
    try:
        if not isinstance(value, str):
            raise ValueError
        parsed = (datetime.fromisoformat(value) if kind is datetime
                  else date.fromisoformat(value))
    except ValueError:
        raise ArchiveFormatError(f"{where}: {value!r} is not an ISO "
                                 f"{'date-time' if kind is datetime else 'date'}") from None
    if isinstance(parsed, datetime) and parsed.tzinfo is not None:
        raise ArchiveFormatError(f"{where}: {value!r}: times are naive local times")
    return parsed


# --- export -------------------------------------------------------------------------------------

def export_registry(store: RegistryStore, target: str | os.PathLike[str]) -> ArchiveSummary:
    """Write the whole registry to ``target``: a ``.zip`` file, else a directory. Neither may
    exist yet; the archive appears complete or not at all. A master image that no longer
    matches its hash stops the export (:class:`RegistryIntegrityError`)."""
    target = Path(target)
    if target.exists():
        raise OutputError(f"{target}: already exists; give a new path")
    if not target.parent.is_dir():
        raise OutputError(f"{target.parent}: no such directory")
    sink: _Sink = _ZipSink(target) if target.suffix.lower() == ".zip" else _DirSink(target)
    try:
        files: dict[str, dict[str, Any]] = {}
        counts: dict[str, int] = {}
        with store.engine.connect() as conn, conn.begin():  # one snapshot of every table
            for name in TABLES:
                lines = _export_rows(conn, name, counts)
                files[f"{name}.jsonl"] = sink.write(f"{name}.jsonl", lines, compress=True)
            highest = {name: _highest_id(conn, name) for name in ID_TABLES}
            images = conn.execute(select(MasterRow.sha256, func.min(MasterRow.path))
                                  .group_by(MasterRow.sha256).order_by(MasterRow.sha256)).all()
        for sha, rel in images:
            data = _read_master(store.home / rel, sha)
            files[f"images/{sha}.png"] = sink.write(f"images/{sha}.png", [data], compress=False)
        counts["images"] = len(images)
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                    "created_at": datetime.now().replace(microsecond=0).isoformat(),
                    "imprint_version": __version__, "counts": counts, "highest_ids": highest,
                    "files": files}
        sink.write(MANIFEST, [json.dumps(manifest, ensure_ascii=False, indent=1).encode()],
                   compress=True)
        sink.commit()
    except OSError as exc:
        sink.abort()
        raise OutputError(f"{target}: cannot write the archive ({exc})") from exc
    except BaseException:
        sink.abort()
        raise
    return ArchiveSummary(target, counts, sum(f["bytes"] for f in files.values()))


def _export_rows(conn: Connection, name: str, counts: dict[str, int]) -> Iterator[bytes]:
    t = _table(name)
    counts[name] = 0
    have = table_columns(conn, t.name)
    if not have:  # (a registry that never kept a look-alike warning has no table of them)
        return
    key = t.c.seal_id if name == "seals" else t.c.id
    rows = conn.execution_options(yield_per=BATCH).execute(
        select(*[c for c in t.c if c.name in have]).order_by(key))
    for r in rows.mappings():
        # (columns a table made before them lacks: null)
        row = {c.name: r.get(c.name) for c in t.c}
        if name == "masters":
            del row["path"]  # where this registry keeps it; the archive names its own file
            row["image"] = f"images/{row['sha256']}.png"
            row = {k: row[k] for k in _SCHEMA["masters"]}
        counts[name] += 1
        yield _to_json(row)


def _highest_id(conn: Connection, name: str) -> int:
    """The highest id the table has issued (a deleted last row's too, where the database
    tells), so the importing registry never issues it again."""
    t = _table(name)
    if not table_columns(conn, t.name):
        return 0
    top = conn.execute(select(func.max(t.c.id))).scalar() or 0
    if conn.dialect.name == "sqlite":
        seq = conn.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :t"),
                           {"t": t.name}).scalar()
        top = max(top, seq or 0)
    elif conn.dialect.name == "postgresql":
        seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": t.name}).scalar()
        if seq:
            last, called = conn.execute(text(f"SELECT last_value, is_called FROM {seq}")).one()
            top = max(top, last if called else 0)
    return int(top)


def _read_master(path: Path, sha: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RegistryIntegrityError(f"{path}: master image unreadable ({exc})") from exc
    if hashlib.sha256(data).hexdigest() != sha:
        raise RegistryIntegrityError(f"{path}: master image does not match its hash {sha}")
    return data


class _Sink:
    """Where an archive's files go while it is written."""

    def write(self, name: str, chunks: Any, *, compress: bool) -> dict[str, Any]:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


def _hashing(out: IO[bytes], chunks: Any) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        out.write(chunk)
    return {"sha256": digest.hexdigest(), "bytes": size}


class _DirSink(_Sink):
    """Files in a hidden sibling directory, renamed to the target when complete."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.partial = target.parent / f".{target.name}.partial-{secrets.token_hex(6)}"
        self.partial.mkdir()
        (self.partial / "images").mkdir()

    def write(self, name: str, chunks: Any, *, compress: bool) -> dict[str, Any]:
        with open(self.partial / name, "xb") as f:
            entry = _hashing(f, chunks)
            f.flush()
            os.fsync(f.fileno())
        return entry

    def commit(self) -> None:
        fsync_dir(self.partial / "images")
        fsync_dir(self.partial)
        os.rename(self.partial, self.target)
        fsync_dir(self.target.parent)

    def abort(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)


class _ZipSink(_Sink):
    """A zip written to a hidden temporary file beside the target, renamed when complete."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.partial = target.parent / f".{target.name}.partial-{secrets.token_hex(6)}"
        self.file = open(self.partial, "xb")  # closed by commit or abort
        self.zip = zipfile.ZipFile(self.file, "w", allowZip64=True)

    def write(self, name: str, chunks: Any, *, compress: bool) -> dict[str, Any]:
        info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
        # PNG is compressed already: stored as it is, the bytes are read back without inflating
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        with self.zip.open(info, "w", force_zip64=True) as out:
            return _hashing(out, chunks)

    def commit(self) -> None:
        self.zip.close()
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.rename(self.partial, self.target)
        fsync_dir(self.target.parent)

    def abort(self) -> None:
        for close in (self.zip.close, self.file.close):
            try:
                close()
            except (OSError, ValueError):
                pass
        self.partial.unlink(missing_ok=True)


# --- reading an archive ---------------------------------------------------------------------

class _Archive:
    """Read access to an archive's files by name, a directory or a zip."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        if path.is_dir():
            return
        try:
            self.zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise ArchiveError(f"{path}: no such archive") from None
        except (OSError, zipfile.BadZipFile) as exc:
            raise ArchiveError(f"{path}: neither a directory nor a readable zip ({exc})"
                               ) from None

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()

    def size(self, name: str) -> int | None:
        if self.zip is not None:
            try:
                return self.zip.getinfo(name).file_size
            except KeyError:
                return None
        try:
            return (self.path / name).stat().st_size
        except OSError:
            return None

    def open(self, name: str) -> IO[bytes]:
        try:
            return self.zip.open(name) if self.zip is not None else open(self.path / name, "rb")
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise ArchiveChecksumError(f"{self.path}: {name} cannot be read ({exc})") from None

    def read(self, name: str, limit: int) -> bytes:
        size = self.size(name)
        if size is None:
            raise ArchiveChecksumError(f"{self.path}: {name} is missing")
        if size > limit:
            raise ArchiveFormatError(f"{self.path}: {name} is larger than {limit} bytes")
        with self.open(name) as f:
            try:
                return f.read(limit + 1)
            except (OSError, zipfile.BadZipFile, EOFError) as exc:
                raise ArchiveChecksumError(f"{self.path}: {name} cannot be read ({exc})"
                                           ) from None


def _manifest(archive: _Archive) -> dict[str, Any]:
    raw = archive.read(MANIFEST, MAX_MANIFEST_BYTES)
    try:
        m = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveFormatError(f"{archive.path}: {MANIFEST} is not JSON ({exc})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ArchiveFormatError(f"{archive.path}: not a registry archive ({MANIFEST} has no "
                                 f"format {FORMAT!r})")
    version = m.get("format_version")
    if isinstance(version, bool) or version not in READS:
        raise ArchiveFormatError(f"{archive.path}: format version {version!r}; this registry "
                                 f"reads versions {', '.join(map(str, READS))}")
    files, counts = m.get("files"), m.get("counts")
    if not isinstance(files, dict) or not isinstance(counts, dict) or not isinstance(
            m.get("highest_ids"), dict):
        raise ArchiveFormatError(f"{archive.path}: {MANIFEST} lacks files, counts or "
                                 f"highest_ids")
    for name, entry in files.items():
        if name not in {f"{t}.jsonl" for t in TABLES} and not _IMAGE.fullmatch(name):
            raise ArchiveFormatError(f"{archive.path}: {MANIFEST} lists {name!r}, not a file "
                                     f"of the format")
        if not (isinstance(entry, dict) and isinstance(entry.get("bytes"), int)
                and isinstance(entry.get("sha256"), str) and _SHA256.fullmatch(entry["sha256"])):
            raise ArchiveFormatError(f"{archive.path}: {MANIFEST}: {name}: needs sha256 and "
                                     f"bytes")
    for t in _tables(m):
        if f"{t}.jsonl" not in files or not isinstance(counts.get(t), int):
            raise ArchiveFormatError(f"{archive.path}: {MANIFEST} lacks {t}.jsonl or its count")
    return m


def _tables(manifest: dict[str, Any]) -> tuple[str, ...]:
    """The row files an archive of this manifest's version holds."""
    return tuple(t for t in TABLES if LATER_TABLES.get(t, 1) <= manifest["format_version"])


def _check_files(archive: _Archive, files: dict[str, dict[str, Any]]) -> None:
    """Every listed file present, of its size, hashing to its sha256 (and an image to its
    name), read in full before any row is believed."""
    for name, entry in files.items():
        size = archive.size(name)
        if size is None:
            raise ArchiveChecksumError(f"{archive.path}: {name} is missing")
        if size != entry["bytes"]:
            raise ArchiveChecksumError(f"{archive.path}: {name} has {size} bytes, the manifest "
                                       f"says {entry['bytes']}")
        digest, read = hashlib.sha256(), 0
        with archive.open(name) as f:
            try:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
                    read += len(chunk)
            except (OSError, zipfile.BadZipFile, EOFError) as exc:
                # a zip checks its own CRC too: a damaged member fails here
                raise ArchiveChecksumError(f"{archive.path}: {name} is damaged ({exc})"
                                           ) from None
        image = _IMAGE.fullmatch(name)
        if read != entry["bytes"] or digest.hexdigest() != entry["sha256"] or (
                image and image.group(1) != entry["sha256"]):
            raise ArchiveChecksumError(f"{archive.path}: {name} does not match its checksum "
                                       f"in the manifest")


def _rows(archive: _Archive, table: str) -> Iterator[dict[str, Any]]:
    name = f"{table}.jsonl"
    with archive.open(name) as f:
        for i, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                raise ArchiveFormatError(f"{name} line {i}: truncated (no end of line)")
            yield _from_json(table, line, f"{name} line {i}")


@dataclass
class _Keys:
    """What pass one learns of the rows, to check references and to import."""

    units: set[int]
    seals: set[str]
    images: dict[str, str]  # file name -> sha256
    counts: dict[str, int]


def _check_rows(archive: _Archive, manifest: dict[str, Any]) -> _Keys:
    """Pass one over the rows: schema, uniqueness, references, counts and each seal's life
    replayed in recording order."""
    files = manifest["files"]
    keys = _Keys(set(), set(), {n: e["sha256"] for n, e in files.items() if _IMAGE.fullmatch(n)},
                 {})
    usccs: set[str] = set()
    chips: set[str] = set()
    for u in _rows(archive, "units"):
        _unique(keys.units, u["id"], f"unit id {u['id']}")
        if u["uscc"] is not None:
            _unique(usccs, u["uscc"], f"unit uscc {u['uscc']}")
    for s in _rows(archive, "seals"):
        _unique(keys.seals, s["seal_id"], f"seal {s['seal_id']}")
        if s["unit_id"] not in keys.units:
            raise ArchiveFormatError(f"seal {s['seal_id']}: unit {s['unit_id']} is not in "
                                     f"units.jsonl")
        if s["chip_serial"] is not None:
            _unique(chips, s["chip_serial"], f"chip serial {s['chip_serial']}")
    master_ids: set[int] = set()
    pairs: set[tuple[str, str]] = set()
    for m in _rows(archive, "masters"):
        _unique(master_ids, m["id"], f"master id {m['id']}")
        _unique(pairs, (m["seal_id"], m["sha256"]), f"master {m['id']} (same image twice for "
                                                    f"seal {m['seal_id']})")
        if m["seal_id"] not in keys.seals:
            raise ArchiveFormatError(f"master {m['id']}: seal {m['seal_id']} is not in "
                                     f"seals.jsonl")
        if keys.images.get(m["image"]) != m["sha256"]:
            raise ArchiveFormatError(f"master {m['id']}: image {m['image']} is not in the "
                                     f"archive under its sha256")
    lives: dict[str, list[tuple[int, str, datetime, str | None]]] = defaultdict(list)
    event_ids: set[int] = set()
    for e in _rows(archive, "events"):
        _unique(event_ids, e["id"], f"event id {e['id']}")
        for ref in (e["seal_id"], e["replaced_by"]):
            if ref is not None and ref not in keys.seals:
                raise ArchiveFormatError(f"event {e['id']}: seal {ref} is not in seals.jsonl")
        lives[e["seal_id"]].append((e["id"], e["kind"], e["effective"], e["replaced_by"]))
    for seal_id in keys.seals:
        _replay(seal_id, lives.get(seal_id, []))
    warning_ids: set[int] = set()
    if "lookalike_warnings" in _tables(manifest):
        for w in _rows(archive, "lookalike_warnings"):
            _unique(warning_ids, w["id"], f"look-alike warning id {w['id']}")
            for ref in (w["seal_id"], w["similar_seal_id"]):
                if ref not in keys.seals:
                    raise ArchiveFormatError(f"look-alike warning {w['id']}: seal {ref} is not "
                                             f"in seals.jsonl")
            if w["similar_master_id"] not in master_ids:
                raise ArchiveFormatError(f"look-alike warning {w['id']}: master "
                                         f"{w['similar_master_id']} is not in masters.jsonl")
    keys.counts = {"units": len(keys.units), "seals": len(keys.seals),
                   "masters": len(master_ids), "events": len(event_ids),
                   "lookalike_warnings": len(warning_ids)}
    for t in _tables(manifest):
        if manifest["counts"][t] != keys.counts[t]:
            raise ArchiveFormatError(f"{t}.jsonl holds {keys.counts[t]} rows, the manifest "
                                     f"says {manifest['counts'][t]}")
    keys.counts["images"] = len(keys.images)
    return keys


def _unique(seen: set, key: Any, what: str) -> None:
    if key in seen:
        raise ArchiveFormatError(f"{what} appears twice")
    seen.add(key)


def _replay(seal_id: str, events: list[tuple[int, str, datetime, str | None]]) -> None:
    """The seal's events in recording (id) order, each as the store would have accepted it:
    one ``filed`` first, then each event following the status in force at its effective time."""
    events = sorted(events)
    if not events or events[0][1] != EventKind.FILED:
        raise ArchiveFormatError(f"seal {seal_id}: its first event is not its filing")
    for i, (event_id, kind, effective, replaced_by) in enumerate(events[1:], 1):
        try:
            k = EventKind(kind)
        except ValueError:
            raise ArchiveFormatError(f"event {event_id}: kind {kind!r} is unknown") from None
        if k is EventKind.FILED or (k is EventKind.REPLACED_BY) != (replaced_by is not None):
            raise ArchiveFormatError(f"event {event_id}: {kind} cannot be recorded for seal "
                                     f"{seal_id} (replaced_by given with replaced_by only)")
        before = sorted(((e[2], e[0]), e[1]) for e in events[:i])
        now = _fold(((kind_, at) for (at, _), kind_ in before), effective)
        if now not in _MAY_FOLLOW[k]:
            raise ArchiveFormatError(f"event {event_id}: seal {seal_id} is {now} on "
                                     f"{effective:%Y-%m-%d %H:%M}; {kind} cannot follow")


def check_archive(archive: str | os.PathLike[str]) -> ArchiveSummary:
    """Check an archive as :func:`import_registry` does, writing nothing."""
    path = Path(archive)
    reader = _Archive(path)
    try:
        manifest = _manifest(reader)
        _check_files(reader, manifest["files"])
        keys = _check_rows(reader, manifest)
    finally:
        reader.close()
    return ArchiveSummary(path, keys.counts,
                          sum(e["bytes"] for e in manifest["files"].values()))


# --- import -------------------------------------------------------------------------------------

def import_registry(store: RegistryStore, archive: str | os.PathLike[str], *,
                    progress: Callable[[str, int], None] | None = None) -> ArchiveSummary:
    """Import an archive into ``store``, which must hold no unit, seal, master or event.

    Everything is checked first (:func:`check_archive`), so a damaged or inconsistent archive
    is refused with an :class:`ArchiveError` having written nothing. Then the images are
    stored at their content addresses and every row inserted, ids and times as exported, in
    one transaction: a failure there leaves the registry empty (and at most unreferenced
    images, which are harmless). ``progress(table, rows)`` is called as rows are inserted.
    """
    path = Path(archive)
    _refuse_non_empty(store)
    reader = _Archive(path)
    try:
        manifest = _manifest(reader)
        _check_files(reader, manifest["files"])
        keys = _check_rows(reader, manifest)
        stored = {name: store._store_blob(sha, _image(reader, name, sha, manifest))
                  for name, sha in keys.images.items()}
        if keys.counts["lookalike_warnings"]:
            from index.lookalike import LookalikeLog

            LookalikeLog(store.engine)  # its table, made (and brought up to date) where missing
        with store._writing() as s:
            _refuse_non_empty(store, s.connection())
            for table in _tables(manifest):
                batch: list[dict[str, Any]] = []
                done = 0
                for row in _rows(reader, table):
                    if table == "masters":
                        row["path"] = stored[row.pop("image")]
                    batch.append(row)
                    if len(batch) == BATCH:
                        s.execute(insert(_table(table)), batch)
                        done += len(batch)
                        batch = []
                        if progress:
                            progress(table, done)
                if batch:
                    s.execute(insert(_table(table)), batch)
                    if progress:
                        progress(table, done + len(batch))
            _continue_ids(s.connection(), manifest["highest_ids"])
    finally:
        reader.close()
    return ArchiveSummary(path, keys.counts, sum(e["bytes"] for e in manifest["files"].values()))


def _image(reader: _Archive, name: str, sha: str, manifest: dict[str, Any]) -> bytes:
    """An image's bytes, hashed again as they are stored (a directory may change under us)."""
    data = reader.read(name, manifest["files"][name]["bytes"])
    if hashlib.sha256(data).hexdigest() != sha:
        raise ArchiveChecksumError(f"{reader.path}: {name} changed while it was imported")
    return data


def _refuse_non_empty(store: RegistryStore, conn: Connection | None = None) -> None:
    def held(c: Connection) -> dict[str, int]:
        return {name: c.execute(select(func.count()).select_from(_table(name))).scalar() or 0
                for name in TABLES if name in _ROWS or table_columns(c, _table(name).name)}

    if conn is None:
        with store.engine.connect() as c:
            counts = held(c)
    else:
        counts = held(conn)
    if any(counts.values()):
        found = ", ".join(f"{n} {t}" for t, n in counts.items() if n)
        raise RegistryNotEmptyError(f"the registry at {store.home} already holds {found}; an "
                                    f"archive is imported only into an empty registry")


def _continue_ids(conn: Connection, highest: dict[str, Any]) -> None:
    """Make the registry issue ids above the archive's highest, as the exporting one would."""
    for name in ID_TABLES:
        top = highest.get(name, 0 if name in LATER_TABLES else None)
        if not isinstance(top, int) or isinstance(top, bool) or top < 0:
            raise ArchiveFormatError(f"{MANIFEST}: highest_ids.{name} must be a whole number")
        t = _table(name)
        if not table_columns(conn, t.name):
            continue  # (no table: none of its ids were ever issued here)
        table = t.name
        top = max(top, conn.execute(select(func.max(t.c.id))).scalar() or 0)
        if conn.dialect.name == "sqlite" and name != "units":  # AUTOINCREMENT tables
            if not conn.execute(text("UPDATE sqlite_sequence SET seq = MAX(seq, :n) "
                                     "WHERE name = :t"), {"n": top, "t": table}).rowcount:
                conn.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :n)"),
                             {"n": top, "t": table})
        elif conn.dialect.name == "postgresql" and top > 0:
            conn.execute(text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :n)"),
                         {"t": table, "n": top})
