"""API keys and roles: who may call which endpoint, and for what purpose.

A key is shown once, when it is created: ``imp_<key_id>_<secret>``. Only the SHA-256 of the
whole key is stored (the secret is 256 random bits, so a plain hash cannot be searched back),
beside its public ``key_id``, role and name, in the registry's database (table ``api_keys``).
A revoked key stays listed, so audit rows that name it can still be read.

Roles, least privilege (:data:`POLICY` is the one table the endpoints are checked against):

- ``registrar``: files seals and masters, records life events, reads and searches seals
  (also by chip serial), reads the registry's statistics, sweeps archives of filings (batches);
- ``investigator``: reads and searches seals, verifies (1:1), identifies (1:N), writes reports,
  files suspect imprints under case numbers and searches and reads them, sweeps archives
  (batches); must state the purpose (a case number) of every access in the ``X-Purpose``
  header;
- ``bank``: verifies (1:1) only, and gets the verdict, the seal's status and the overlay;
- ``auditor``: reads and verifies the audit trail, reads the metrics and the statistics;
- ``admin``: everything the others may do, stating a purpose where an investigator must.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, Engine, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from imprint.errors import InvalidParameterError
from service.errors import (
    ForbiddenError,
    PurposeRequiredError,
    UnauthenticatedError,
    UnknownKeyError,
)

KEY_PREFIX = "imp"
KEY_ID_BYTES = 6  # 12 hex characters: public, names the key in listings and audit rows
SECRET_BYTES = 32
MAX_PURPOSE = 128
_KEY = re.compile(rf"{KEY_PREFIX}_([0-9a-f]{{{2 * KEY_ID_BYTES}}})_([A-Za-z0-9_-]{{20,100}})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Role(enum.StrEnum):
    REGISTRAR = "registrar"
    INVESTIGATOR = "investigator"
    BANK = "bank"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Policy:
    """Who may use an endpoint; ``purpose``: the roles that must state why."""

    roles: frozenset[Role]
    purpose: frozenset[Role] = frozenset()


def _policy(*roles: Role, purpose: bool = False) -> Policy:
    granted = frozenset({*roles, Role.ADMIN})
    return Policy(granted, granted & {Role.INVESTIGATOR, Role.ADMIN} if purpose else frozenset())


_R, _I, _B, _A = Role.REGISTRAR, Role.INVESTIGATOR, Role.BANK, Role.AUDITOR

#: Endpoint name -> who may call it. Health is public and is not listed.
POLICY: dict[str, Policy] = {
    "seals.file": _policy(_R),
    "seals.add_master": _policy(_R),
    "seals.record_event": _policy(_R),
    "seals.search": _policy(_R, _I, purpose=True),
    "seals.read": _policy(_R, _I, purpose=True),
    "seals.events": _policy(_R, _I, purpose=True),
    "seals.by_chip": _policy(_R, _I, purpose=True),
    "verify": _policy(_I, _B, purpose=True),
    "identify": _policy(_I, purpose=True),
    "reports": _policy(_I, purpose=True),
    "documents": _policy(_I, purpose=True),
    "reports.read": _policy(_I, purpose=True),
    "audit.query": _policy(_A),
    "audit.verify": _policy(_A),
    "metrics": _policy(_A),
    "cases.file": _policy(_I, purpose=True),
    "cases.search": _policy(_I, purpose=True),
    "cases.read": _policy(_I, purpose=True),
    "stats": _policy(_R, _A),  # counts only: no seal, unit or caller is named
    # archives swept in the background; each key sees its own batches (admin: all)
    "batches.submit": _policy(_R, _I, purpose=True),
    "batches.read": _policy(_R, _I, purpose=True),
    "batches.cancel": _policy(_R, _I, purpose=True),
}


class _Base(DeclarativeBase):
    pass


class ApiKeyRow(_Base):
    __tablename__ = "api_keys"
    key_id: Mapped[str] = mapped_column(String(2 * KEY_ID_BYTES), primary_key=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


@dataclass(frozen=True)
class KeyInfo:
    """A key as listed: never its secret."""

    key_id: str
    role: Role
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewKey:
    """A key just created: ``secret`` is the whole key, shown this once and never stored."""

    info: KeyInfo
    secret: str


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request, with the purpose it stated (or None)."""

    key: KeyInfo
    purpose: str | None

    @property
    def role(self) -> Role:
        return self.key.role


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _info(row: ApiKeyRow) -> KeyInfo:
    return KeyInfo(row.key_id, Role(row.role), row.name, row.created_at, row.revoked_at)


def role_of(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise InvalidParameterError(f"role: {text!r} is not one of "
                                    f"{', '.join(r.value for r in Role)}") from None


class KeyRing:
    """The API keys kept in one registry database. Times are UTC."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.execution_options(sqlite_begin="BEGIN IMMEDIATE").begin() as conn:
            _Base.metadata.create_all(conn)
        self._session = sessionmaker(engine, expire_on_commit=False)

    def create(self, role: Role | str, name: str | None = None) -> NewKey:
        role = role if isinstance(role, Role) else role_of(role)
        name = (name or "").strip() or None
        if name is not None and len(name) > 200:
            raise InvalidParameterError("name: longer than 200 characters")
        key_id = secrets.token_hex(KEY_ID_BYTES)
        secret = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
        row = ApiKeyRow(key_id=key_id, key_sha256=_digest(secret), role=role.value, name=name,
                        created_at=_now(), revoked_at=None)
        with self._session.begin() as s:
            s.add(row)
        return NewKey(_info(row), secret)

    def list(self) -> list[KeyInfo]:
        with self._session() as s:
            return [_info(r) for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at,
                                                                           ApiKeyRow.key_id))]

    def revoke(self, key_id: str) -> KeyInfo:
        """Revoke a key for good; revoking it again changes nothing."""
        with self._session.begin() as s:
            row = s.get(ApiKeyRow, key_id.strip())
            if row is None:
                raise UnknownKeyError(f"no API key with id {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = _now()
            return _info(row)

    def authenticate(self, key: str | None) -> KeyInfo:
        """The live key ``key`` is; :class:`UnauthenticatedError` otherwise (one message for
        every failure, so a caller learns nothing about which keys exist)."""
        refused = UnauthenticatedError("a valid API key is required (Authorization: Bearer KEY "
                                       "or X-API-Key: KEY)")
        found = _KEY.fullmatch(key.strip()) if key else None
        if found is None:
            raise refused
        with self._session() as s:
            row = s.get(ApiKeyRow, found.group(1))
            if row is None or not hmac.compare_digest(row.key_sha256, _digest(key.strip())):
                raise refused
            if row.revoked_at is not None:
                raise refused
            return _info(row)


def clean_purpose(text: str | None) -> str | None:
    """The stated purpose, trimmed; refused when it could not be a case reference."""
    purpose = (text or "").strip()
    if not purpose:
        return None
    if len(purpose) > MAX_PURPOSE or _CONTROL.search(purpose):
        raise InvalidParameterError(f"X-Purpose: at most {MAX_PURPOSE} printable characters")
    return purpose


def authorize(key: KeyInfo, endpoint: str, purpose: str | None) -> Caller:
    """The caller, if ``key``'s role may use ``endpoint`` (a name in :data:`POLICY`) for the
    stated ``purpose``."""
    policy = POLICY[endpoint]
    if key.role not in policy.roles:
        raise ForbiddenError(f"the {key.role.value} role may not use {endpoint}")
    if key.role in policy.purpose and purpose is None:
        raise PurposeRequiredError(f"the {key.role.value} role must state the purpose of this "
                                   f"access (a case number) in the X-Purpose header")
    return Caller(key, purpose)
