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
  a deleted last row leaves the table's highest issued id above the last row. Rewriting the
  whole tail consistently is caught only against a head hash kept elsewhere, which is why
  :class:`ChainCheck` reports the head.

Appends are serialised (SQLite ``BEGIN IMMEDIATE``; a table lock on PostgreSQL), so the chain
has one order, the order of the ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, Integer, String, Text, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from index.store import append_only_ddl, guard_append_only

GENESIS = "0" * 64
MAX_QUERY_ROWS = 1000


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


@dataclass(frozen=True)
class ChainCheck:
    """The chain recomputed: ``intact``, the ``rows`` read, and where it broke: the id of the
    first bad row (``first_bad_id``; for deleted last rows, the first missing id) and
    why. ``head_id`` and ``head_hash``: the last row, to keep elsewhere as an anchor."""

    intact: bool
    rows: int
    first_bad_id: int | None
    reason: str | None
    head_id: int | None
    head_hash: str | None


def sha256_hex(data: bytes | str) -> str:
    """The SHA-256 that identifies an input in the trail (text as UTF-8)."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


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
    """The audit trail kept in one registry database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.execution_options(sqlite_begin="BEGIN IMMEDIATE").begin() as conn:
            _Base.metadata.create_all(conn)
            ddl = append_only_ddl(AuditRow.__tablename__)
            for stmt in ddl.get(engine.dialect.name, []):
                conn.exec_driver_sql(stmt)
        self._read = sessionmaker(engine)
        # the store's SQLite setup takes the write lock at BEGIN with this option: two appends
        # never read the same previous row
        self._write = sessionmaker(engine.execution_options(sqlite_begin="BEGIN IMMEDIATE"))

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
            return _entry(row)

    def query(self, *, key_id: str | None = None, role: str | None = None,
              endpoint: str | None = None, purpose: str | None = None,
              input_sha256: str | None = None, since: datetime | None = None,
              until: datetime | None = None, after_id: int = 0,
              limit: int = 100) -> list[AuditEntry]:
        """Rows by increasing id after ``after_id`` that meet every filter given; ``since`` and
        ``until`` are UTC (naive values are taken as UTC)."""
        limit = max(1, min(limit, MAX_QUERY_ROWS))
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
        if since:
            q = q.where(AuditRow.at >= _utc_text(since))
        if until:
            q = q.where(AuditRow.at <= _utc_text(until))
        with self._read() as s:
            return [_entry(r) for r in s.scalars(q)]

    def _rows(self) -> Iterator[AuditRow]:
        with self._read() as s:
            q = select(AuditRow).order_by(AuditRow.id).execution_options(yield_per=1000)
            yield from s.scalars(q)

    def verify(self) -> ChainCheck:
        """Recompute the chain from the first row; stop at the first row that breaks it."""
        prev_id, prev_hash, n = None, GENESIS, 0
        for r in self._rows():
            n += 1
            if r.prev_hash != prev_hash:
                after = f"row {prev_id}" if prev_id is not None else "the start of the trail"
                return ChainCheck(False, n, r.id, f"row {r.id} does not follow {after}: a row "
                                  f"before it was deleted or altered", prev_id, prev_hash)
            expected = _row_hash(r.id, r.at, r.key_id, r.role, r.purpose, r.method, r.endpoint,
                                 r.inputs, r.status, r.outcome, r.prev_hash)
            if r.row_hash != expected:
                return ChainCheck(False, n, r.id, f"row {r.id} does not hash to its recorded "
                                  f"hash: its content was altered", prev_id, prev_hash)
            prev_id, prev_hash = r.id, r.row_hash
        issued = self._highest_issued_id()
        if issued is not None and issued > (prev_id or 0):
            return ChainCheck(False, n, (prev_id or 0) + 1, f"ids up to {issued} were issued "
                              f"but the last row is {prev_id}: rows at the end were deleted",
                              prev_id,
                              prev_hash if prev_id else None)
        return ChainCheck(True, n, None, None, prev_id, prev_hash if prev_id else None)

    def _highest_issued_id(self) -> int | None:
        if self.engine.dialect.name != "sqlite":
            return None
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'")
                                ).scalar()

    def count(self) -> int:
        with self._read() as s:
            return s.scalar(select(func.count()).select_from(AuditRow)) or 0


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
