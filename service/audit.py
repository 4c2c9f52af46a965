"""The audit trail: every access to the service, appended to a hash chain.

Each row records who (the API key's id and role), why (the stated purpose), what (method,
endpoint, the SHA-256 of each input: never the input itself), the outcome (HTTP status and
``ok`` or the error code) and when (UTC). Rows live in the registry's database, table
``audit_log``, and are append-only three times over:

- the ORM refuses to flush a change or deletion of a row, and bulk ``UPDATE``/``DELETE``;
- database triggers refuse raw ``UPDATE``/``DELETE`` (SQLite and PostgreSQL);
- and, for whoever drops the triggers, each row stores ``prev_hash`` (the previous row's hash,
  :data:`GENESIS` for the first) and ``row_hash``, the SHA-256 of its own content with
  ``prev_hash``. :meth:`AuditTrail.verify` recomputes the chain: an edited row no longer
  hashes to its ``row_hash``, a deleted row breaks the next row's ``prev_hash``, and on SQLite
  a deleted last row leaves the table's highest issued id above the last row.

Rewriting or cutting the whole tail consistently (or, on PostgreSQL, deleting the last rows)
leaves a chain that recomputes; it is caught against the head kept outside the database: the
anchor, a file of one JSON line per head, ``{"id": ..., "hash": ..., "at": ...}``, appended
(and fsynced) by the process that appends rows, at most every :data:`ANCHOR_EVERY_ROWS` rows or
:data:`ANCHOR_EVERY_S` seconds, and when the trail is closed or the process exits. Beside a
SQLite database it is ``<registry>/audit/head.jsonl`` (:func:`anchor_path`). Every anchored row
must still be in the table with its anchored hash: a missing one means the rows after the
table's last were deleted (``truncated``), another hash that the trail was rewritten
(``rewritten``). Several processes (the service, the command line) append to one anchor under
an advisory lock, and a head is written only above the last one written: the file never goes
back.

Appends are serialised (SQLite ``BEGIN IMMEDIATE``; a table lock on PostgreSQL), so the chain
has one order, the order of the ids.
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, Integer, String, Text, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from imprint.errors import InvalidParameterError
from index.store import append_only_ddl, guard_append_only, storable_text

LOG = logging.getLogger(__name__)

GENESIS = "0" * 64
MAX_QUERY_ROWS = 1000
#: The largest row id (a signed 64-bit INTEGER in SQLite, BIGINT in PostgreSQL).
MAX_ROW_ID = 2**63 - 1
#: The head is anchored when this many rows were appended since the last anchor ...
ANCHOR_EVERY_ROWS = 256
#: ... or when the last anchor is this old (s); the first append of a process anchors at once.
ANCHOR_EVERY_S = 1.0
#: Read from the end of the anchor to find the last head written (bytes; a line is ~130).
_ANCHOR_TAIL = 4096
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class _Base(DeclarativeBase):
    pass


class AuditRow(_Base):
    __tablename__ = "audit_log"
    __table_args__ = ({"sqlite_autoincrement": True},)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(32), index=True)  # ISO 8601 UTC, hashed as written
    key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    role: Mapped[str | None] = mapped_column(String(16))
    purpose: Mapped[str | None] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(16))
    endpoint: Mapped[str] = mapped_column(String(200), index=True)
    inputs: Mapped[str] = mapped_column(Text)  # JSON object: input name -> sha256 hex
    status: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


guard_append_only(AuditRow, "row")


@dataclass(frozen=True)
class Access:
    """One access, as the service saw it; ``inputs``: input name -> SHA-256 hex of its bytes."""

    method: str
    endpoint: str
    status: int
    outcome: str
    key_id: str | None = None
    role: str | None = None
    purpose: str | None = None
    inputs: Mapping[str, str] | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    key_id: str | None
    role: str | None
    purpose: str | None
    method: str
    endpoint: str
    inputs: dict[str, str]
    status: int
    outcome: str
    prev_hash: str
    row_hash: str


class Breach(enum.StrEnum):
    """How a trail that does not verify was broken."""

    ALTERED = "altered"  # a row no longer hashes to its recorded hash
    UNLINKED = "unlinked"  # a row does not follow the one before it: that one deleted or altered
    TRUNCATED = "truncated"  # rows at the end deleted (issued ids, or an anchored row, past it)
    REWRITTEN = "rewritten"  # an anchored row gone from within the chain, or with another hash


@dataclass(frozen=True)
class ChainCheck:
    """The chain recomputed: ``intact``, the ``rows`` read, and where it broke: the id of the
    first bad row (``first_bad_id``; for deleted last rows, the first missing id), why
    (``reason``) and how (``breach``). ``head_id`` and ``head_hash``: the last row good so far.
    ``anchors``: the anchored heads found in the table with their hashes; ``anchored_id``: the
    last head anchored outside the database; ``note``: what the check could not cover (no
    anchor, unreadable anchor lines)."""

    intact: bool
    rows: int
    first_bad_id: int | None
    reason: str | None
    head_id: int | None
    head_hash: str | None
    breach: Breach | None = None
    anchors: int = 0
    anchored_id: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class Anchor:
    """One head kept outside the database: row ``id`` had ``hash`` when anchored ``at`` (UTC)."""

    id: int
    hash: str
    at: str


def sha256_hex(data: bytes | str) -> str:
    """The SHA-256 that identifies an input in the trail (text as UTF-8)."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def anchor_path(home: str | os.PathLike[str]) -> Path:
    """Where the registry in directory ``home`` keeps the anchor of its audit trail."""
    return Path(home) / "audit" / "head.jsonl"


def _row_hash(id_: int, at: str, key_id: str | None, role: str | None, purpose: str | None,
              method: str, endpoint: str, inputs: str, status: int, outcome: str,
              prev_hash: str) -> str:
    content = [id_, at, key_id, role, purpose, method, endpoint, inputs, status, outcome,
               prev_hash]
    return sha256_hex(json.dumps(content, ensure_ascii=False, separators=(",", ":")))


def _entry(r: AuditRow) -> AuditEntry:
    return AuditEntry(r.id, r.at, r.key_id, r.role, r.purpose, r.method, r.endpoint,
                      json.loads(r.inputs), r.status, r.outcome, r.prev_hash, r.row_hash)


class AuditTrail:
    """The audit trail kept in one registry database, its head anchored in a file.

    ``anchor``: the anchor file; ``True`` (default) puts it beside a SQLite file database
    (:func:`anchor_path` of its directory) and keeps none for another database; ``False``
    keeps none. Call :meth:`close` (or let the process exit) to anchor the last rows appended.
    """

    def __init__(self, engine: Engine, *,
                 anchor: str | os.PathLike[str] | bool = True) -> None:
        self.engine = engine
        if anchor is True:
            db = engine.url.database if engine.dialect.name == "sqlite" else None
            self.anchor = anchor_path(Path(db).parent) if db and db != ":memory:" else None
        else:
            self.anchor = Path(anchor) if anchor is not False else None
        with engine.execution_options(sqlite_begin="BEGIN IMMEDIATE").begin() as conn:
            _Base.metadata.create_all(conn)
            ddl = append_only_ddl(AuditRow.__tablename__)
            for stmt in ddl.get(engine.dialect.name, []):
                conn.exec_driver_sql(stmt)
        self._read = sessionmaker(engine)
        # the store's SQLite setup takes the write lock at BEGIN with this option: two appends
        # never read the same previous row
        self._write = sessionmaker(engine.execution_options(sqlite_begin="BEGIN IMMEDIATE"))
        self._heads = _HeadWriter(self.anchor) if self.anchor is not None else None
        if self._heads is not None:
            weakref.finalize(self, self._heads.flush)

    def append(self, access: Access) -> AuditEntry:
        inputs = json.dumps(dict(sorted((access.inputs or {}).items())), separators=(",", ":"))
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        with self._write.begin() as s:
            if self.engine.dialect.name == "postgresql":
                s.execute(text("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE"))
            last = s.execute(select(AuditRow.id, AuditRow.row_hash)
                             .order_by(AuditRow.id.desc()).limit(1)).first()
            id_, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
            row = AuditRow(id=id_, at=at, key_id=access.key_id, role=access.role,
                           purpose=access.purpose, method=access.method,
                           endpoint=access.endpoint, inputs=inputs, status=access.status,
                           outcome=access.outcome, prev_hash=prev,
                           row_hash=_row_hash(id_, at, access.key_id, access.role,
                                              access.purpose, access.method, access.endpoint,
                                              inputs, access.status, access.outcome, prev))
            s.add(row)
            s.flush()
            entry = _entry(row)
        # after the commit: an anchored head is always a row the table holds
        if self._heads is not None:
            self._heads.appended(entry.id, entry.row_hash)
        return entry

    def close(self) -> None:
        """Anchor the last row this trail appended, if it is not anchored yet."""
        if self._heads is not None:
            self._heads.flush()

    def query(self, *, key_id: str | None = None, role: str | None = None,
              endpoint: str | None = None, purpose: str | None = None,
              input_sha256: str | None = None, since: datetime | None = None,
              until: datetime | None = None, after_id: int = 0,
              limit: int = 100) -> list[AuditEntry]:
        """Rows by increasing id after ``after_id`` (``0`` to :data:`MAX_ROW_ID`) that meet every
        filter given; ``since`` and ``until`` are UTC (naive values are taken as UTC), and must
        have a UTC form. An out-of-range value raises :class:`InvalidParameterError`."""
        after_id = _whole(after_id, "after_id", 0, MAX_ROW_ID)
        limit = max(1, min(_whole(limit, "limit"), MAX_QUERY_ROWS))
        filters = {"key_id": key_id, "role": role, "endpoint": endpoint, "purpose": purpose}
        for name, value in filters.items():
            _filter_text(value, name)
        if input_sha256 and not (isinstance(input_sha256, str)
                                 and _SHA256.fullmatch(input_sha256)):
            raise InvalidParameterError(f"input_sha256: {input_sha256!r} is not a SHA-256 "
                                        f"(64 hex digits)")
        since_text = _utc_text(since, "since") if since is not None else None
        until_text = _utc_text(until, "until") if until is not None else None
        q = select(AuditRow).where(AuditRow.id > after_id).order_by(AuditRow.id).limit(limit)
        if key_id:
            q = q.where(AuditRow.key_id == key_id)
        if role:
            q = q.where(AuditRow.role == role)
        if endpoint:
            q = q.where(AuditRow.endpoint == endpoint)
        if purpose:
            q = q.where(AuditRow.purpose == purpose)
        if input_sha256:
            q = q.where(AuditRow.inputs.contains(f'"{input_sha256.lower()}"', autoescape=True))
        if since_text:
            q = q.where(AuditRow.at >= since_text)
        if until_text:
            q = q.where(AuditRow.at <= until_text)
        with self._read() as s:
            return [_entry(r) for r in s.scalars(q)]

    def verify(self) -> ChainCheck:
        """Recompute the chain from the first row, and find every anchored head in it; stop at
        the first row that breaks it."""
        # the anchor is read up to its size now, before the database: every head in that part
        # was anchored after its row was committed, so the table read next holds it
        anchors = _AnchorReader(self.anchor)
        with self._read() as s:  # one transaction: the issued ids and the rows agree
            issued = self._highest_issued_id(s)
            return _check(self._rows(s), issued, anchors)

    @staticmethod
    def _rows(s: Session) -> Iterator[AuditRow]:
        q = select(AuditRow).order_by(AuditRow.id).execution_options(yield_per=1000)
        yield from s.scalars(q)

    def _highest_issued_id(self, s: Session) -> int | None:
        if self.engine.dialect.name != "sqlite":
            return None
        return s.execute(text("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'")
                         ).scalar()

    def count(self) -> int:
        with self._read() as s:
            return s.scalar(select(func.count()).select_from(AuditRow)) or 0


def _check(rows: Iterator[AuditRow], issued: int | None, anchors: _AnchorReader) -> ChainCheck:
    """The chain of ``rows`` (by id) against the highest id ``issued`` and the ``anchors``."""
    prev_id, prev_hash, n, found = None, GENESIS, 0, 0
    anchored = next(anchors, None)

    def broken(first_bad: int, breach: Breach, reason: str) -> ChainCheck:
        last = anchors.drain()
        return ChainCheck(False, n, first_bad, reason, prev_id, prev_hash if prev_id else None,
                          breach, found, last.id if last else None, anchors.note())

    for r in rows:
        n += 1
        if r.prev_hash != prev_hash:
            after = f"row {prev_id}" if prev_id is not None else "the start of the trail"
            return broken(r.id, Breach.UNLINKED, f"row {r.id} does not follow {after}: a row "
                          f"before it was deleted or altered")
        expected = _row_hash(r.id, r.at, r.key_id, r.role, r.purpose, r.method, r.endpoint,
                             r.inputs, r.status, r.outcome, r.prev_hash)
        if r.row_hash != expected:
            return broken(r.id, Breach.ALTERED, f"row {r.id} does not hash to its recorded "
                          f"hash: its content was altered")
        if anchored is not None and anchored.id < r.id:
            return broken(anchored.id, Breach.REWRITTEN, f"row {anchored.id}, anchored at "
                          f"{anchored.at}, is no longer in the trail, whose chain skips from "
                          f"row {prev_id} to row {r.id}: the trail was rewritten")
        if anchored is not None and anchored.id == r.id:
            if anchored.hash != r.row_hash:
                return broken(r.id, Breach.REWRITTEN, f"row {r.id} no longer has the hash "
                              f"anchored at {anchored.at} ({anchored.hash[:16]}...): the trail "
                              f"was rewritten up to it")
            found += 1
            anchored = next(anchors, None)
        prev_id, prev_hash = r.id, r.row_hash
    if issued is not None and issued > (prev_id or 0):
        return broken((prev_id or 0) + 1, Breach.TRUNCATED, f"ids up to {issued} were issued "
                      f"but the last row is {prev_id}: rows at the end were deleted")
    if anchored is not None:
        return broken((prev_id or 0) + 1, Breach.TRUNCATED, f"row {anchored.id} was anchored "
                      f"at {anchored.at} but the trail ends at row {prev_id}: rows at the end "
                      f"were deleted")
    return ChainCheck(True, n, None, None, prev_id, prev_hash if prev_id else None, None,
                      found, anchors.last.id if anchors.last else None, anchors.note())


# --- the anchor ---------------------------------------------------------------------------------

class _HeadWriter:
    """Anchors the head appended by one process, at most every :data:`ANCHOR_EVERY_ROWS` rows
    or :data:`ANCHOR_EVERY_S` seconds (the threads of the process share it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._head: tuple[int, str] | None = None
        self._unanchored = 0
        self._last_try = -math.inf  # time.monotonic() of the last write, or attempt

    def appended(self, id_: int, row_hash: str) -> None:
        with self._lock:
            if self._head is None or id_ > self._head[0]:
                self._head = (id_, row_hash)
            self._unanchored += 1
            if (self._unanchored >= ANCHOR_EVERY_ROWS
                    or time.monotonic() - self._last_try >= ANCHOR_EVERY_S):
                self._write()

    def flush(self) -> None:
        with self._lock:
            if self._unanchored:
                self._write()

    def _write(self) -> None:
        self._last_try = time.monotonic()
        try:
            append_anchor(self.path, *self._head)
        except OSError as exc:  # the row stands; the next append (or close) tries again
            LOG.error("cannot anchor the audit trail's head in %s: %s", self.path, exc)
            return
        self._unanchored = 0


def append_anchor(path: str | os.PathLike[str], id_: int, row_hash: str) -> bool:
    """Append head ``(id_, row_hash)`` to the anchor at ``path`` and fsync it, unless a head at
    or above ``id_`` is already there (another process got further first): the anchor never
    goes back. Processes take turns under an advisory lock on the file. ``True``: appended."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd is closed
        size = os.fstat(fd).st_size
        tail = os.pread(fd, min(size, _ANCHOR_TAIL), max(0, size - _ANCHOR_TAIL))
        last = next((a for a in map(_anchor_of, reversed(tail.split(b"\n"))) if a), None)
        if last is not None and last.id >= id_:
            return False
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        line = json.dumps({"id": id_, "hash": row_hash, "at": at}, separators=(",", ":"))
        # a line cut short by a crash is ended first, so that it stays one unreadable line
        os.write(fd, (("\n" if tail and not tail.endswith(b"\n") else "") + line + "\n"
                      ).encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    if size == 0:  # a new file: its directory entry made durable too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return True


def _anchor_of(line: bytes) -> Anchor | None:
    """The head on one line of the anchor, or ``None`` where the line holds none."""
    try:
        record = json.loads(line)
        id_, hash_, at = record["id"], record["hash"], record["at"]
    except (ValueError, TypeError, KeyError):
        return None
    if (not isinstance(id_, int) or isinstance(id_, bool) or not 0 < id_ <= MAX_ROW_ID
            or not isinstance(hash_, str) or not _SHA256.fullmatch(hash_)
            or not isinstance(at, str)):
        return None
    return Anchor(id_, hash_.lower(), at)


class _AnchorReader:
    """The heads of an anchor in increasing id, up to its size when opened; ``last``: the
    last head read; lines without a head, or not above the head before, are counted in
    ``skipped`` (they cannot come from :func:`append_anchor`)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.last: Anchor | None = None
        self.skipped = 0
        self._lines: Iterator[bytes] = iter(())
        try:
            self.missing = path is None or not path.is_file()
            if path is not None and not self.missing:
                self._lines = self._read(path, path.stat().st_size)
        except OSError:
            self.missing = True

    @staticmethod
    def _read(path: Path, size: int) -> Iterator[bytes]:
        with open(path, "rb") as f:
            read = 0
            for line in f:
                read += len(line)
                if read > size:  # appended after the check began
                    return
                yield line

    def __iter__(self) -> _AnchorReader:
        return self

    def __next__(self) -> Anchor:
        for line in self._lines:
            if not line.strip():
                continue
            anchor = _anchor_of(line)
            if anchor is None or (self.last is not None and anchor.id <= self.last.id):
                self.skipped += 1
                continue
            self.last = anchor
            return anchor
        raise StopIteration

    def drain(self) -> Anchor | None:
        """Read to the end; the last head."""
        for _ in self:
            pass
        return self.last

    def note(self) -> str | None:
        if self.path is None:
            return ("no anchor is kept for this trail (its database is not a SQLite file, and "
                    "no anchor file was given): the head was checked against nothing outside "
                    "the database")
        if self.missing:
            return (f"no anchor at {self.path} (a registry from before anchoring, or a copy of "
                    f"its database): the head was checked against nothing outside the database")
        if self.skipped:
            return (f"{self.skipped} line(s) of the anchor at {self.path} hold no head above "
                    f"the one before, and were not checked")
        if self.last is None:
            return f"the anchor at {self.path} holds no head yet"
        return None


def _whole(value: object, name: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(f"{name}: expected a whole number, got {value!r}")
    if low is not None and high is not None and not low <= value <= high:
        raise InvalidParameterError(f"{name}: {value} is outside {low}..{high}")
    return value


def _filter_text(value: object, name: str) -> None:
    """Refuse a filter that no row can hold: not text, with a NUL, or without a UTF-8 form (a
    lone surrogate)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidParameterError(f"{name}: expected text, got {type(value).__name__}")
    storable_text(value, name)


def _utc_text(moment: object, name: str) -> str:
    """``moment`` in UTC as the trail writes times; naive is taken as UTC."""
    if not isinstance(moment, datetime):
        raise InvalidParameterError(f"{name}: expected a datetime, got "
                                    f"{type(moment).__name__}")
    try:
        utc = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise InvalidParameterError(f"{name}: {moment.isoformat()} is outside the range of UTC "
                                    f"times") from None
    return utc.isoformat(timespec="microseconds")
