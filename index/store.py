"""The registry store: units, their filed seals, master imprints and each seal's life events.

One SQLite file ``registry.sqlite`` (WAL, foreign keys, busy timeout) in the registry directory,
or a PostgreSQL database; master images live beside it, content-addressed, under
``<dir>/masters/ab/<sha256>.png``. Public methods return frozen dataclasses, never ORM objects,
so callers never hold a session.

Rules the store keeps, because the regulations keep them:

- seal events are append-only (production records may never be altered or deleted): the ORM
  refuses to flush a change or deletion of an event, and database triggers refuse raw
  ``UPDATE``/``DELETE``. A seal's status is never stored; it is derived from its events, so
  a status can be asked for any date (e.g. the date on a document).
- a master's integer id is its id in the vector index downstream: ids only grow and are never
  reused (SQLite ``AUTOINCREMENT``; PostgreSQL sequences never go back).

Times are naive wall-clock times of the registry's zone: documents and registrars give local
dates, so no conversion is attempted. A ``date`` given as an effective time means 00:00 of
that day; a ``date`` asked of :meth:`RegistryStore.status` means the end of that day, so a
document dated on the day of a revocation reads as revoked (flagged, not cleared).
"""

from __future__ import annotations

import contextlib
import csv
import enum
import hashlib
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import (
    CheckConstraint,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    inspect,
    make_url,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
    sessionmaker,
)

from imprint.atomic import write_bytes
from imprint.errors import InvalidParameterError, OutputError, UnreadableInputError
from imprint.io import IMAGE_FORMATS, LoadLimits
from index.errors import (
    DuplicateSealError,
    DuplicateUnitError,
    InvalidEventError,
    RegistryError,
    RegistryIntegrityError,
    UnknownMasterError,
    UnknownSealError,
    UnknownUnitError,
)

T = TypeVar("T")


class Runner(Protocol):
    """Runs a piece of work and returns its result: in this thread, or in another (a filing
    process runs its write transactions in a thread at the service's priority)."""

    def __call__(self, work: Callable[[], T]) -> T: ...


def here(work: Callable[[], T]) -> T:
    """:class:`Runner` in the calling thread."""
    return work()


DEFAULT_DIR = Path("data/registry")
DB_NAME = "registry.sqlite"
BUSY_TIMEOUT_MS = 10_000
# GB 32100-2015: digits and capitals without I, O, S, V, Z (they read as digits).
_USCC = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


class EventKind(enum.StrEnum):
    FILED = "filed"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    REVOKED = "revoked"  # cancelled (注销): damaged, unit renamed or dissolved
    REPORTED_LOST = "reported_lost"  # 挂失
    REPLACED_BY = "replaced_by"  # cancelled in favour of a new, separately filed seal


class SealStatus(enum.StrEnum):
    NOT_FILED = "not_filed"  # asked before the seal was filed: its imprint cannot be genuine use
    ACTIVE = "active"
    SUSPENDED = "suspended"
    LOST = "lost"
    REVOKED = "revoked"
    REPLACED = "replaced"


_EFFECT = {
    EventKind.FILED: SealStatus.ACTIVE, EventKind.SUSPENDED: SealStatus.SUSPENDED,
    EventKind.RESUMED: SealStatus.ACTIVE, EventKind.REVOKED: SealStatus.REVOKED,
    EventKind.REPORTED_LOST: SealStatus.LOST, EventKind.REPLACED_BY: SealStatus.REPLACED,
}
_TERMINAL = {SealStatus.REVOKED, SealStatus.REPLACED}
# The status an event may follow. A lost seal that turns up may be resumed.
_MAY_FOLLOW = {
    EventKind.SUSPENDED: {SealStatus.ACTIVE},
    EventKind.RESUMED: {SealStatus.SUSPENDED, SealStatus.LOST},
    EventKind.REPORTED_LOST: {SealStatus.ACTIVE, SealStatus.SUSPENDED},
    EventKind.REVOKED: {SealStatus.ACTIVE, SealStatus.SUSPENDED, SealStatus.LOST},
    EventKind.REPLACED_BY: {SealStatus.ACTIVE, SealStatus.SUSPENDED, SealStatus.LOST},
}


# --- tables -------------------------------------------------------------------------------------

class Base(DeclarativeBase):
    pass


class UnitRow(Base):
    __tablename__ = "units"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)  # unified social credit code
    legal_representative: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class SealRow(Base):
    __tablename__ = "seals"
    seal_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # chosen by the registrar
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))  # round_official, oval_invoice, ... or free text
    code: Mapped[str | None] = mapped_column(String(32), index=True)  # not unique: legacy data
    number: Mapped[str | None] = mapped_column(String(8))  # "1" in 合同专用章(1)
    engraver: Mapped[str | None] = mapped_column(String(200))
    chip_serial: Mapped[str | None] = mapped_column(String(64), unique=True)
    made_on: Mapped[date | None]
    filed_at: Mapped[datetime] = mapped_column(DateTime)
    unit: Mapped[UnitRow] = relationship(lazy="joined")


class MasterRow(Base):
    __tablename__ = "masters"
    __table_args__ = (UniqueConstraint("seal_id", "sha256"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(primary_key=True)  # the FAISS id: never reused
    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.seal_id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(200))  # relative to the registry directory
    dpi: Mapped[float | None]
    width: Mapped[int]
    height: Mapped[int]
    added_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class EventRow(Base):
    __tablename__ = "seal_events"
    __table_args__ = (
        CheckConstraint(f"kind IN ({', '.join(repr(k.value) for k in EventKind)})",
                        name="seal_event_kind"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.seal_id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    effective: Mapped[datetime] = mapped_column(DateTime)
    detail: Mapped[str | None] = mapped_column(Text)
    replaced_by: Mapped[str | None] = mapped_column(ForeignKey("seals.seal_id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


def table_columns(bind: Engine | Connection, table: str) -> set[str]:
    """The columns ``table`` has in this database (none where there is no such table): a
    table made by an earlier version may lack columns added since."""
    found = inspect(bind)
    return {c["name"] for c in found.get_columns(table)} if found.has_table(table) else set()


def append_only_ddl(table: str) -> dict[str, list[str]]:
    """Triggers (per database dialect) refusing UPDATE and DELETE on ``table``: the rule holds
    for raw SQL too, not only through the ORM."""
    msg = f"{table} is append-only"
    return {
        "sqlite": [f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON "
                   f"{table} BEGIN SELECT RAISE(ABORT, '{msg}'); END"
                   for op in ("UPDATE", "DELETE")],
        "postgresql": [
            f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{msg}'; END $$",
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"],
    }


def guard_append_only(row_type: type, noun: str) -> None:
    """Refuse, in every Session (any a caller may open too), changing or deleting rows of
    ``row_type`` and bulk UPDATE or DELETE of its table."""
    table = row_type.__tablename__
    msg = f"{table} is append-only"

    @event.listens_for(Session, "before_flush")
    def _refuse_changes(session: Session, _ctx: Any, _instances: Any) -> None:
        for obj in session.deleted:
            if isinstance(obj, row_type):
                raise RegistryIntegrityError(f"{msg}: {noun} {obj.id} cannot be deleted")
        for obj in session.dirty:
            if isinstance(obj, row_type) and session.is_modified(obj):
                raise RegistryIntegrityError(f"{msg}: {noun} {obj.id} cannot be changed")

    @event.listens_for(Session, "do_orm_execute")
    def _refuse_bulk_changes(state: Any) -> None:
        if state.is_update or state.is_delete:
            if getattr(getattr(state.statement, "table", None), "name", None) == table:
                raise RegistryIntegrityError(f"{msg}: bulk UPDATE/DELETE refused")


guard_append_only(EventRow, "event")


# --- records handed out -------------------------------------------------------------------------

@dataclass(frozen=True)
class UnitInfo:
    id: int
    name: str
    uscc: str | None
    legal_representative: str | None
    address: str | None
    created_at: datetime


@dataclass(frozen=True)
class SealInfo:
    seal_id: str
    unit_id: int
    unit_name: str
    kind: str
    code: str | None
    number: str | None
    engraver: str | None
    chip_serial: str | None
    made_on: date | None
    filed_at: datetime


@dataclass(frozen=True)
class MasterInfo:
    """``id``: stable, also the vector-index id; ``path``: absolute path of the stored PNG."""

    id: int
    seal_id: str
    sha256: str
    path: Path
    dpi: float | None
    width: int
    height: int
    added_at: datetime


@dataclass(frozen=True)
class SealView:
    """What a verification reads of one seal, from one snapshot: the seal, its masters and
    its status at the moment asked."""

    seal: SealInfo
    masters: list[MasterInfo]
    status: SealStatus


@dataclass(frozen=True)
class EventInfo:
    id: int
    seal_id: str
    kind: EventKind
    effective: datetime
    detail: str | None
    replaced_by: str | None
    recorded_at: datetime


def _unit_info(r: UnitRow) -> UnitInfo:
    return UnitInfo(r.id, r.name, r.uscc, r.legal_representative, r.address, r.created_at)


def _seal_info(r: SealRow) -> SealInfo:
    return SealInfo(r.seal_id, r.unit_id, r.unit.name, r.kind, r.code, r.number, r.engraver,
                    r.chip_serial, r.made_on, r.filed_at)


def _event_info(r: EventRow) -> EventInfo:
    return EventInfo(r.id, r.seal_id, EventKind(r.kind), r.effective, r.detail, r.replaced_by,
                     r.recorded_at)


# --- validation helpers -------------------------------------------------------------------------

def _text(value: Any, name: str, *, required: bool = False, max_len: int = 200) -> str | None:
    s = "" if value is None else str(value).strip()
    if not s:
        if required:
            raise InvalidParameterError(f"{name}: required")
        return None
    if len(s) > max_len:
        raise InvalidParameterError(f"{name}: longer than {max_len} characters")
    return storable_text(s, name)


def storable_text(s: str, name: str) -> str:
    """``s``, refused where a database cannot hold it: a lone surrogate has no UTF-8 form (a
    JSON ``\\ud800`` escape carries one), and PostgreSQL text holds no NUL."""
    if "\x00" in s:
        raise InvalidParameterError(f"{name}: contains a NUL character")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidParameterError(f"{name}: not valid Unicode text (a lone surrogate at "
                                    f"position {exc.start})") from None
    return s


def _key(value: Any, name: str) -> str:
    """A key looked up as given (a seal id, a chip serial, a search term): text a database can
    hold, else :class:`InvalidParameterError`."""
    if not isinstance(value, str):
        raise InvalidParameterError(f"{name}: expected text, got {type(value).__name__}")
    return storable_text(value, name)


def _uscc(value: Any) -> str | None:
    s = _text(value, "uscc", max_len=64)
    if s is None:
        return None
    s = s.upper()
    if len(s) != 18:
        raise InvalidParameterError(f"uscc: {s!r} has {len(s)} characters, not 18")
    if not _USCC.fullmatch(s):
        raise InvalidParameterError(f"uscc: {s!r} has characters outside GB 32100 (no I O S V Z)")
    return s


def _moment(value: date | datetime | None, name: str) -> datetime:
    if value is None:
        return _now()
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise InvalidParameterError(f"{name}: give a naive local time, not {value!r}")
        return value
    if isinstance(value, date):
        return datetime.combine(value, time.min)
    raise InvalidParameterError(f"{name}: expected a date or datetime, got {type(value).__name__}")


def status_moment(on: date | datetime | None) -> datetime:
    """The moment a status is taken at: now, a naive datetime as given, or the end of a date
    (a document's date: the seal's status that whole day)."""
    if on is None:
        return _now()
    if isinstance(on, datetime):
        return _moment(on, "on")
    if isinstance(on, date):
        return datetime.combine(on, time.max)
    raise InvalidParameterError(f"on: expected a date or datetime, got {type(on).__name__}")


def _fold(events: Iterable[tuple[str, datetime]], until: datetime) -> SealStatus:
    """The status in force at ``until`` from events sorted by (effective, id)."""
    status = SealStatus.NOT_FILED
    for kind, effective in events:
        if effective > until or status in _TERMINAL:
            break
        if status is SealStatus.NOT_FILED and kind != EventKind.FILED:
            continue
        status = _EFFECT[EventKind(kind)]
    return status


def _encode_master(image: bytes | np.ndarray, dpi: float | None
                   ) -> tuple[bytes, int, int, float | None]:
    """PNG bytes, width, height and dpi of a master. PNG input is kept byte for byte (the filed
    file, unaltered); other formats are re-encoded losslessly as PNG."""
    limits = LoadLimits()
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3
                                                               and image.shape[2] in (3, 4))):
            raise InvalidParameterError(
                f"image: expected uint8 (H, W), (H, W, 3) RGB or (H, W, 4) RGBA, got "
                f"{image.dtype} {image.shape}")
        if image.shape[0] * image.shape[1] == 0:
            raise InvalidParameterError("image: empty array")
        img = Image.fromarray(np.ascontiguousarray(image))
        data = None
    else:
        if not image:
            raise UnreadableInputError("master image: empty (0 bytes)")
        if len(image) > limits.max_bytes:
            raise InvalidParameterError(f"master image: {len(image)} bytes is over the limit")
        try:
            img = Image.open(io.BytesIO(image))
            fmt = img.format
            if img.width * img.height <= limits.max_page_pixels:
                img.load()
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError,
                ValueError) as exc:
            raise UnreadableInputError(f"master image: not a readable image ({exc})") from exc
        if img.width * img.height > limits.max_page_pixels:
            raise InvalidParameterError(f"master image: {img.width}x{img.height} is too large")
        if fmt not in IMAGE_FORMATS:
            raise UnreadableInputError(f"master image: format {fmt} is not accepted")
        with contextlib.suppress(TypeError, ValueError, IndexError):
            file_dpi = float(img.info.get("dpi", (0,))[0])
            if dpi is None and 50 <= file_dpi <= 9600:  # metadata dpi, where plausible
                dpi = file_dpi
        data = bytes(image) if fmt == "PNG" else None
        img = ImageOps.exif_transpose(img)  # as loaded back, so width and height agree
    if data is None:
        buf = io.BytesIO()
        img.save(buf, "PNG")  # no dpi in the file: the same pixels hash the same whatever the dpi
        data = buf.getvalue()
    if dpi is not None and not 50 <= dpi <= 9600:
        raise InvalidParameterError(f"dpi: {dpi} is outside 50..9600")
    return data, img.width, img.height, dpi


# --- the store ----------------------------------------------------------------------------------

def _seal_rows(seal_id: str, unit_id: int, kind: str, code: str | None,
               number: str | int | None, engraver: str | None, chip_serial: str | None,
               made_on: date | None, filed_at: date | datetime | None,
               detail: str | None) -> tuple[SealRow, EventRow]:
    """A new seal's row and its ``filed`` event, checked."""
    filed = _moment(filed_at, "filed_at")
    if made_on is not None and made_on > filed.date():
        raise InvalidParameterError(f"made_on: {made_on} is after the filing {filed:%Y-%m-%d}")
    row = SealRow(seal_id=_text(seal_id, "seal_id", required=True, max_len=64),
                  unit_id=unit_id, kind=_text(kind, "kind", required=True, max_len=64),
                  code=_text(code, "code", max_len=32),
                  number=_text(number, "number", max_len=8),
                  engraver=_text(engraver, "engraver"),
                  chip_serial=_text(chip_serial, "chip_serial", max_len=64),
                  made_on=made_on, filed_at=filed)
    event = EventRow(seal_id=row.seal_id, kind=EventKind.FILED.value, effective=filed,
                     detail=_text(detail, "detail", max_len=10_000))
    return row, event


class RegistryStore:
    """The seal registry. Open with :meth:`open`; close with :meth:`close` or a ``with`` block."""

    def __init__(self, engine: Engine, home: Path) -> None:
        self.engine = engine
        self.home = home
        self._read = sessionmaker(engine, expire_on_commit=False)
        # Writers take SQLite's write lock at BEGIN: a deferred read-then-write transaction
        # gets SQLITE_BUSY at once (no busy wait) if another writer got in between.
        self._write = sessionmaker(engine.execution_options(sqlite_begin="BEGIN IMMEDIATE"),
                                   expire_on_commit=False)

    @classmethod
    def open(cls, url_or_dir: str | os.PathLike[str] | None = None, *,
             masters_dir: str | os.PathLike[str] | None = None) -> RegistryStore:
        """Open (creating if need be) the registry in a directory, or at a database URL.

        ``None``: the directory in ``$IMPRINT_HOME``, else ``./data/registry``. A directory
        holds ``registry.sqlite`` and ``masters/``. A URL (``postgresql://...``,
        ``sqlite:///...``) keeps masters in ``masters_dir``, else in the SQLite file's directory,
        else in the default directory.
        """
        default = Path(os.environ.get("IMPRINT_HOME") or DEFAULT_DIR)
        target = os.fspath(url_or_dir) if url_or_dir is not None else None
        if target is not None and "://" in target:
            url = make_url(target)
            home = Path(masters_dir) if masters_dir else (
                Path(url.database).parent if url.get_backend_name() == "sqlite" and url.database
                and url.database != ":memory:" else default)
        else:
            home = Path(target) if target is not None else default
            url = make_url(f"sqlite:///{(home.resolve() / DB_NAME).as_posix()}")
            if masters_dir:
                home = Path(masters_dir)
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{home}: cannot create the registry directory ({exc})") from exc
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            _sqlite_setup(engine)
        # Under the write lock, so two processes creating the same new registry do not race.
        with engine.execution_options(sqlite_begin="BEGIN IMMEDIATE").begin() as conn:
            Base.metadata.create_all(conn)
            ddl = append_only_ddl(EventRow.__tablename__)
            for stmt in ddl.get(engine.dialect.name, []):
                conn.exec_driver_sql(stmt)
        return cls(engine, home.resolve())

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> RegistryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Session]:
        """One write transaction; database refusals become typed errors."""
        try:
            with self._write.begin() as s:
                yield s
        except IntegrityError as exc:
            raise RegistryIntegrityError(f"the database refused the write: {exc.orig}") from exc

    # units --------------------------------------------------------------------------------------

    def add_unit(self, name: str, uscc: str | None = None, legal_representative: str | None = None,
                 address: str | None = None) -> UnitInfo:
        row = UnitRow(name=_text(name, "name", required=True), uscc=_uscc(uscc),
                      legal_representative=_text(legal_representative, "legal_representative"),
                      address=_text(address, "address", max_len=300))
        with self._writing() as s:
            return _unit_info(self._insert_unit(s, row))

    @staticmethod
    def _insert_unit(s: Session, row: UnitRow) -> UnitRow:
        if row.uscc and s.scalar(select(UnitRow.id).where(UnitRow.uscc == row.uscc)):
            raise DuplicateUnitError(f"a unit with uscc {row.uscc} is already registered",
                                     field="uscc")
        s.add(row)
        s.flush()
        return row

    def get_unit(self, unit_id: int) -> UnitInfo:
        with self._read() as s:
            row = s.get(UnitRow, unit_id)
            if row is None:
                raise UnknownUnitError(f"no unit with id {unit_id}", field="unit")
            return _unit_info(row)

    def find_units(self, name: str | None = None, uscc: str | None = None) -> list[UnitInfo]:
        """Units whose name contains ``name`` and/or whose code is ``uscc``."""
        q = select(UnitRow).order_by(UnitRow.id)
        if name:
            q = q.where(UnitRow.name.contains(_key(name, "name"), autoescape=True))
        if uscc:
            q = q.where(UnitRow.uscc == _key(uscc, "uscc").strip().upper())
        with self._read() as s:
            return [_unit_info(r) for r in s.scalars(q)]

    # seals --------------------------------------------------------------------------------------

    def file_seal(self, seal_id: str, unit: int | UnitInfo, kind: str, code: str | None = None,
                  number: str | int | None = None, engraver: str | None = None,
                  chip_serial: str | None = None, made_on: date | None = None,
                  filed_at: date | datetime | None = None, detail: str | None = None) -> SealInfo:
        """File a seal for a unit, and append its ``filed`` event effective at ``filed_at``."""
        unit_id = unit.id if isinstance(unit, UnitInfo) else unit
        row, event = _seal_rows(seal_id, unit_id, kind, code, number, engraver, chip_serial,
                                made_on, filed_at, detail)
        with self._writing() as s:
            return _seal_info(self._insert_seal(s, row, event))

    def file_with_master(self, seal_id: str, unit: UnitInfo | str, kind: str,
                         image: bytes | np.ndarray, *, dpi: float | None = None,
                         code: str | None = None, uscc: str | None = None,
                         prepare: Callable[[str], None] | None = None,
                         write: Runner = here) -> tuple[UnitInfo, SealInfo, MasterInfo]:
        """File a new seal with its first master, and its unit when ``unit`` is the name of one
        not yet registered, in one transaction: a refusal or a crash leaves none of them (at
        most an unreferenced image file at its content address, which is harmless).
        ``prepare``: called with the image's sha256 once the image is stored and before the
        records are written (see :meth:`add_master`); ``write`` runs the transaction."""
        data, width, height, dpi = _encode_master(image, dpi)
        sha = hashlib.sha256(data).hexdigest()
        unit_row = (None if isinstance(unit, UnitInfo) else
                    UnitRow(name=_text(unit, "name", required=True), uscc=_uscc(uscc)))
        rel = self._store_blob(sha, data)
        if prepare is not None:
            prepare(sha)

        def records() -> tuple[UnitInfo, SealInfo, MasterInfo]:
            with self._writing() as s:
                if unit_row is not None:
                    self._insert_unit(s, unit_row)
                unit_id = unit_row.id if unit_row is not None else unit.id
                row, event = _seal_rows(seal_id, unit_id, kind, code, None, None, None, None,
                                        None, None)
                self._insert_seal(s, row, event)
                master = MasterRow(seal_id=row.seal_id, sha256=sha, path=rel, dpi=dpi,
                                   width=width, height=height)
                s.add(master)
                s.flush()
                return (_unit_info(s.get(UnitRow, unit_id)), _seal_info(row),
                        self._master_info(master))

        return write(records)

    @staticmethod
    def _insert_seal(s: Session, row: SealRow, event: EventRow) -> SealRow:
        if s.get(UnitRow, row.unit_id) is None:
            raise UnknownUnitError(f"no unit with id {row.unit_id}", field="unit")
        if s.get(SealRow, row.seal_id) is not None:
            raise DuplicateSealError(f"seal {row.seal_id} is already filed", field="seal_id")
        if row.chip_serial and (other := s.scalar(
                select(SealRow.seal_id).where(SealRow.chip_serial == row.chip_serial))):
            raise DuplicateSealError(f"chip {row.chip_serial} is already filed for seal "
                                     f"{other}", field="chip_serial")
        s.add(row)
        s.flush()  # the seal before its event: no ORM relationship orders the two inserts
        s.add(event)
        s.flush()
        return row

    def get_seal(self, seal_id: str) -> SealInfo:
        with self._read() as s:
            return _seal_info(self._seal(s, seal_id))

    def get_seals(self, seal_ids: Iterable[str]) -> dict[str, SealInfo]:
        """The seals of those ids that are filed, by id, in one query (and one for their
        units)."""
        ids = list(dict.fromkeys(seal_ids))
        with self._read() as s:
            rows = s.scalars(select(SealRow).where(SealRow.seal_id.in_(ids))
                             .options(selectinload(SealRow.unit))) if ids else []
            return {r.seal_id: _seal_info(r) for r in rows}

    def seal_by_chip(self, serial: str) -> SealInfo:
        with self._read() as s:
            row = s.scalar(select(SealRow).where(
                SealRow.chip_serial == _key(serial, "chip_serial").strip()))
            if row is None:
                raise UnknownSealError(f"no seal filed with chip serial {serial}",
                                       field="chip_serial")
            return _seal_info(row)

    def search(self, unit_name: str | None = None, code: str | None = None,
               seal_id: str | None = None, limit: int = 100) -> list[SealInfo]:
        """Seals whose unit name contains ``unit_name``, whose code and seal_id start with
        ``code`` and ``seal_id`` (all that are given), at most ``limit``."""
        q = select(SealRow).join(SealRow.unit).order_by(SealRow.seal_id).limit(limit)
        if unit_name:
            q = q.where(UnitRow.name.contains(_key(unit_name, "unit_name"), autoescape=True))
        if code:
            q = q.where(SealRow.code.startswith(_key(code, "code"), autoescape=True))
        if seal_id:
            q = q.where(SealRow.seal_id.startswith(_key(seal_id, "seal_id"), autoescape=True))
        with self._read() as s:
            return [_seal_info(r) for r in s.scalars(q).unique()]

    @staticmethod
    def _seal(s: Session, seal_id: str) -> SealRow:
        row = s.get(SealRow, _key(seal_id, "seal_id"))
        if row is None:
            raise UnknownSealError(f"no seal {seal_id!r} is filed", field="seal_id")
        return row

    # masters ------------------------------------------------------------------------------------

    def add_master(self, seal_id: str, image: bytes | np.ndarray,
                   dpi: float | None = None, *, prepare: Callable[[str], None] | None = None,
                   write: Runner = here) -> MasterInfo:
        """Store a master imprint of a filed seal; the same image twice for a seal returns the
        first record. ``image``: encoded bytes, or a uint8 array (RGB, RGBA or grey).
        ``prepare``: called with the image's sha256 once the image is stored and before the
        record is written, for what derives from the image (its rectified imprint) to be in
        place when another process sees the master; if it raises, nothing is recorded.
        ``write`` runs the transaction."""
        data, width, height, dpi = _encode_master(image, dpi)
        sha = hashlib.sha256(data).hexdigest()
        with self._read() as s:
            self._seal(s, seal_id)  # before writing a file for a seal that does not exist
        rel = self._store_blob(sha, data)
        if prepare is not None:
            prepare(sha)

        def record() -> MasterInfo:
            with self._writing() as s:
                self._seal(s, seal_id)
                row = s.scalar(select(MasterRow).where(MasterRow.seal_id == seal_id,
                                                       MasterRow.sha256 == sha))
                if row is None:
                    row = MasterRow(seal_id=seal_id, sha256=sha, path=rel, dpi=dpi,
                                    width=width, height=height)
                    s.add(row)
                    s.flush()
                return self._master_info(row)

        return write(record)

    def _store_blob(self, sha: str, data: bytes) -> str:
        """Write ``data`` at its content address, atomically; return the relative path."""
        rel = f"masters/{sha[:2]}/{sha}.png"
        final = self.home / rel
        with contextlib.suppress(OSError):  # already stored (and intact): nothing to write
            if hashlib.sha256(final.read_bytes()).hexdigest() == sha:
                return rel
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(final, data)
        except OSError as exc:
            raise OutputError(f"{final}: cannot store the master ({exc})") from exc
        return rel

    def _master_info(self, r: MasterRow) -> MasterInfo:
        return MasterInfo(r.id, r.seal_id, r.sha256, self.home / r.path, r.dpi, r.width, r.height,
                          r.added_at)

    def get_master(self, master_id: int) -> MasterInfo:
        with self._read() as s:
            row = s.get(MasterRow, master_id)
            if row is None:
                raise UnknownMasterError(f"no master with id {master_id}")
            return self._master_info(row)

    def get_masters(self, master_ids: Iterable[int]) -> dict[int, MasterInfo]:
        """The masters of those ids that exist, by id, in one query."""
        ids = list(master_ids)
        with self._read() as s:
            rows = s.scalars(select(MasterRow).where(MasterRow.id.in_(ids))) if ids else []
            return {r.id: self._master_info(r) for r in rows}

    def masters_of(self, seal_id: str) -> list[MasterInfo]:
        with self._read() as s:
            self._seal(s, seal_id)
            return self._masters_in(s, seal_id)

    def sibling_masters(self, seal_id: str, limit: int = 8) -> list[MasterInfo]:
        """The masters of the unit's other seals of the same kind (numbered siblings:
        合同专用章(1) and (2)), at most ``limit``."""
        with self._read() as s:
            seal = self._seal(s, seal_id)
            rows = s.scalars(select(MasterRow).join(SealRow, MasterRow.seal_id == SealRow.seal_id)
                             .where(SealRow.unit_id == seal.unit_id, SealRow.kind == seal.kind,
                                    SealRow.seal_id != seal.seal_id)
                             .order_by(MasterRow.id).limit(limit))
            return [self._master_info(r) for r in rows]

    def _masters_in(self, s: Session, seal_id: str) -> list[MasterInfo]:
        rows = s.scalars(select(MasterRow).where(MasterRow.seal_id == seal_id)
                         .order_by(MasterRow.id))
        return [self._master_info(r) for r in rows]

    def iter_masters(self, after_id: int = 0) -> Iterator[tuple[int, str, Path]]:
        """``(master_id, seal_id, path)`` by increasing id, from one consistent snapshot; give
        ``after_id`` to fetch only masters added since an index was built."""
        q = (select(MasterRow.id, MasterRow.seal_id, MasterRow.path)
             .where(MasterRow.id > after_id).order_by(MasterRow.id))
        with self._read() as s, s.begin():
            for mid, seal_id, rel in s.execute(q.execution_options(yield_per=1000)):
                yield mid, seal_id, self.home / rel

    def master_extent(self) -> tuple[int, int]:
        """(number of masters, highest master id): enough to tell, without listing them, that
        an index built from the store is still in line with it (ids are never reused)."""
        with self._read() as s:
            n, top = s.execute(select(func.count(MasterRow.id), func.max(MasterRow.id))).one()
            return int(n or 0), int(top or 0)

    def load_master_image(self, master: int | MasterInfo) -> np.ndarray:
        """The master as ``(H, W, 3) uint8`` RGB (transparency on white), after checking that
        the file still hashes to its record."""
        info = master if isinstance(master, MasterInfo) else self.get_master(master)
        try:
            data = info.path.read_bytes()
        except OSError as exc:
            raise UnreadableInputError(f"{info.path}: master {info.id} unreadable ({exc})") from exc
        if hashlib.sha256(data).hexdigest() != info.sha256:
            raise RegistryIntegrityError(f"{info.path}: master {info.id} does not match its hash")
        img = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
        if "A" in img.mode or "transparency" in img.info:
            rgba = img.convert("RGBA")
            img = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img.alpha_composite(rgba)
        return np.asarray(img.convert("RGB"))

    # events -------------------------------------------------------------------------------------

    def record_event(self, seal_id: str, kind: EventKind | str,
                     effective: date | datetime | None = None, detail: str | None = None,
                     replaced_by: str | None = None) -> EventInfo:
        """Append a life event. It must follow the status in force at ``effective`` (a
        backdated event is checked against the events before it): suspend an active seal, resume
        a suspended or lost one, revoke / report lost / replace one not already cancelled."""
        try:
            kind = EventKind(kind)
        except ValueError:
            raise InvalidEventError(f"kind: {kind!r} is not one of {[k.value for k in EventKind]}",
                                    field="kind") from None
        when = _moment(effective, "effective")
        if kind is EventKind.FILED:
            raise InvalidEventError("a seal is filed once, by file_seal", field="kind")
        if (kind is EventKind.REPLACED_BY) != (replaced_by is not None):
            raise InvalidEventError("replaced_by: given with, and only with, a replaced_by event",
                                    field="replaced_by")
        with self._writing() as s:
            self._seal(s, seal_id)
            if replaced_by is not None:
                _key(replaced_by, "replaced_by")
                if replaced_by == seal_id:
                    raise InvalidEventError("a seal cannot replace itself", field="replaced_by")
                if s.get(SealRow, replaced_by) is None:
                    raise UnknownSealError(f"replacement seal {replaced_by!r} is not filed",
                                           field="replaced_by")
            now = _fold(self._event_keys(s, seal_id), when)
            if now not in _MAY_FOLLOW[kind]:
                raise InvalidEventError(f"seal {seal_id} is {now} on {when:%Y-%m-%d %H:%M}: "
                                        f"cannot record {kind}", field="kind")
            row = EventRow(seal_id=seal_id, kind=kind.value, effective=when,
                           detail=_text(detail, "detail", max_len=10_000), replaced_by=replaced_by)
            s.add(row)
            s.flush()
            return _event_info(row)

    @staticmethod
    def _event_keys(s: Session, seal_id: str) -> list[tuple[str, datetime]]:
        q = (select(EventRow.kind, EventRow.effective).where(EventRow.seal_id == seal_id)
             .order_by(EventRow.effective, EventRow.id))
        return [(k, e) for k, e in s.execute(q)]

    def events_of(self, seal_id: str) -> list[EventInfo]:
        """The seal's events in effective order (recording order within one instant)."""
        with self._read() as s:
            self._seal(s, seal_id)
            rows = s.scalars(select(EventRow).where(EventRow.seal_id == seal_id)
                             .order_by(EventRow.effective, EventRow.id))
            return [_event_info(r) for r in rows]

    def status(self, seal_id: str, on: date | datetime | None = None) -> SealStatus:
        """The status in force now, at a datetime, or at the end of a date (a document's date)."""
        until = status_moment(on)
        with self._read() as s:
            self._seal(s, seal_id)
            return _fold(self._event_keys(s, seal_id), until)

    def seal_view(self, seal_id: str, on: date | datetime | None = None) -> SealView:
        """The seal, its masters and its status (as :meth:`status`) in one read: a
        verification needs all three, and each read of its own costs a transaction."""
        until = status_moment(on)
        with self._read() as s:
            row = self._seal(s, seal_id)
            return SealView(_seal_info(row), self._masters_in(s, seal_id),
                            _fold(self._event_keys(s, seal_id), until))

    def counts(self) -> dict[str, int]:
        """Rows per table, for health checks and reports."""
        with self._read() as s:
            return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
                    for m in (UnitRow, SealRow, MasterRow, EventRow)}


def _sqlite_setup(engine: Engine) -> None:
    """WAL so readers never wait for the writer; foreign keys (off by default in SQLite); a busy
    timeout so concurrent writers wait instead of failing; and SQLAlchemy, not the sqlite3
    module, emits BEGIN, so transactions (and savepoints) really span every statement."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))


# --- bulk import --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowError:
    """One refused row: ``line`` is the line in the file (the header is line 1)."""

    file: str
    line: int
    column: str | None
    message: str


@dataclass
class ImportReport:
    rows_read: int = 0
    imported: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)


_COLUMNS = {
    "units": (("name",), ("uscc", "legal_representative", "address")),
    "seals": (("seal_id", "unit", "kind"),
              ("code", "number", "engraver", "chip_serial", "made_on", "filed_on")),
    "masters": (("seal_id", "path"), ("dpi",)),
}


def import_csv(store: RegistryStore, units_csv: str | os.PathLike[str] | None = None,
               seals_csv: str | os.PathLike[str] | None = None,
               masters_csv: str | os.PathLike[str] | None = None,
               base_dir: str | os.PathLike[str] | None = None,
               encoding: str = "utf-8-sig") -> ImportReport:
    """Migrate a historical registry from CSV files (units, then seals, then masters).

    Each row is its own transaction: a bad row is reported (file, line, column, message) and
    skipped, and never undoes the rows around it. Columns (header names; * required):

    - units: ``name``\\*, ``uscc`` (18 characters, GB 32100), ``legal_representative``,
      ``address``. A unit already registered (same uscc; without one, same name) is a duplicate.
    - seals: ``seal_id``\\*, ``unit``\\* (the unit's uscc, or its exact name where only one unit
      bears it), ``kind``\\*, ``code``, ``number``, ``engraver``, ``chip_serial``, ``made_on``
      (YYYY-MM-DD), ``filed_on`` (YYYY-MM-DD or ISO date-time; the made_on date if empty,
      seals being filed within a day; one of the two is required).
    - masters: ``seal_id``\\*, ``path``\\* (relative to ``base_dir``, by default the masters
      file's directory), ``dpi``.

    A master file whose row then fails stays in the store unreferenced: content-addressed, it is
    harmless and is reused if the same image is filed again.
    """
    report = ImportReport()
    jobs = [("units", units_csv, _import_unit), ("seals", seals_csv, _import_seal),
            ("masters", masters_csv, _import_master)]
    for table, path, handler in jobs:
        if path is None:
            continue
        path = Path(path)
        base = Path(base_dir) if base_dir is not None else path.parent
        required, optional = _COLUMNS[table]

        def refuse(line: int, column: str | None, message: str, *, _name: str = path.name) -> None:
            report.errors.append(RowError(_name, line, column, message))

        try:
            with path.open(newline="", encoding=encoding) as f:
                reader = csv.DictReader(f)
                header = [h.strip() for h in reader.fieldnames or []]
                missing = [c for c in required if c not in header]
                if missing:
                    refuse(1, missing[0], f"header lacks required column(s) {missing}")
                    n = sum(1 for _ in reader)
                    report.rows_read += n
                    report.skipped += n
                    continue
                reader.fieldnames = header
                for raw in reader:
                    report.rows_read += 1
                    row = {k: (v or "").strip() for k, v in raw.items()
                           if k in required or k in optional}
                    gap = next((c for c in required if not row.get(c)), None)
                    try:
                        if gap:
                            raise InvalidParameterError(f"{gap}: required")
                        handler(store, row, base)
                    except (RegistryError, InvalidParameterError, UnreadableInputError) as exc:
                        # (an OutputError, e.g. a full disk, is no fault of the row: it aborts)
                        column = gap or getattr(exc, "field", None) or _field_of(exc, table)
                        refuse(reader.line_num, column, str(exc))
                        report.skipped += 1
                    else:
                        report.imported += 1
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            refuse(0, None, f"cannot read the file: {exc}")
    return report


def _field_of(exc: Exception, table: str) -> str | None:
    """The column a validation message names (the store's messages start with ``field:``)."""
    head = str(exc).split(":", 1)[0].strip()
    return head if head in _COLUMNS[table][0] + _COLUMNS[table][1] else None


def _parse_date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidParameterError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def _import_unit(store: RegistryStore, row: dict[str, str], _base: Path) -> None:
    uscc = _uscc(row.get("uscc"))
    if uscc is None:
        same = [u for u in store.find_units(name=row["name"]) if u.name == row["name"]]
        if any(u.uscc is None for u in same):
            raise DuplicateUnitError(f"unit {row['name']!r} (no uscc) is already registered",
                                     field="name")
    store.add_unit(row["name"], uscc, row.get("legal_representative"), row.get("address"))


def _import_seal(store: RegistryStore, row: dict[str, str], _base: Path) -> None:
    ref = row["unit"]
    units = store.find_units(uscc=ref) if len(ref) == 18 else []
    if not units:
        units = [u for u in store.find_units(name=ref) if u.name == ref]
    if len(units) != 1:
        why = "no unit has" if not units else f"{len(units)} units have"
        raise UnknownUnitError(f"unit: {why} the uscc or name {ref!r}", field="unit")
    made_on = _parse_date(row.get("made_on", ""), "made_on")
    filed_raw = row.get("filed_on", "")
    if filed_raw:
        try:
            filed: date | datetime = (datetime.fromisoformat(filed_raw) if len(filed_raw) > 10
                                      else date.fromisoformat(filed_raw))
        except ValueError:
            raise InvalidParameterError(f"filed_on: {filed_raw!r} is not a date") from None
    elif made_on is not None:
        filed = made_on
    else:
        raise InvalidParameterError("filed_on: required where made_on is empty")
    store.file_seal(row["seal_id"], units[0], row["kind"], row.get("code"), row.get("number"),
                    row.get("engraver"), row.get("chip_serial"), made_on, filed)


def _import_master(store: RegistryStore, row: dict[str, str], base: Path) -> None:
    dpi_raw = row.get("dpi", "")
    try:
        dpi = float(dpi_raw) if dpi_raw else None
    except ValueError:
        raise InvalidParameterError(f"dpi: {dpi_raw!r} is not a number") from None
    path = base / row["path"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableInputError(f"path: {path}: cannot read ({exc.strerror or exc})") from exc
    store.get_seal(row["seal_id"])  # an unknown seal is named before the image is judged
    try:
        store.add_master(row["seal_id"], data, dpi)
    except UnreadableInputError as exc:
        raise UnreadableInputError(f"path: {path}: {exc}") from exc
