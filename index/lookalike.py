"""Look-alike warning at filing: before a new seal is filed, the registry is searched with its
master's imprint; filed seals of other units whose imprint is confusable with it (a name that
differs in a character or two, the same layout) are named with their scores. The registrar may
file all the same; the warning is kept with the record, append-only (table
``lookalike_warnings``).

The search is the identification's: embedding shortlist, then the aligned polar correlation
of each shortlisted master's canonical imprint with the new one
(:meth:`index.identify.SealSearch.rerank`). Seals of the same unit (numbered siblings such as
合同专用章(1) and (2)) are not look-alikes: they are the unit's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Engine, Float, Integer, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from imprint.types import RectifiedImprint
from index.identify import SHORTLIST, SealSearch
from index.store import append_only_ddl, guard_append_only

#: Aligned polar correlation of two masters at or above which a filed seal of another unit is
#: a look-alike: the operating point of 1 % of unrelated filings warned on the calibration
#: registry of ``python -m bench cases`` (seed 20261131), never on the test seed (20261132).
LOOKALIKE_THRESHOLD = 0.778


class _Base(DeclarativeBase):
    pass


class LookalikeRow(_Base):
    __tablename__ = "lookalike_warnings"
    __table_args__ = ({"sqlite_autoincrement": True},)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seal_id: Mapped[str] = mapped_column(String(64), index=True)  # the seal filed
    similar_seal_id: Mapped[str] = mapped_column(String(64), index=True)
    similar_unit: Mapped[str] = mapped_column(String(200))
    similar_master_id: Mapped[int]
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(DateTime)


guard_append_only(LookalikeRow, "look-alike warning")


@dataclass(frozen=True)
class Lookalike:
    """A filed seal of another unit confusable with the seal being filed. ``score`` aligned
    polar correlation of the two masters; ``threshold`` the look-alike threshold it reached."""

    seal_id: str
    unit_name: str
    master_id: int
    score: float
    threshold: float


def find_lookalikes(search: SealSearch, imprint: RectifiedImprint, *, unit: str,
                    threshold: float = LOOKALIKE_THRESHOLD, shortlist: int = SHORTLIST
                    ) -> list[Lookalike]:
    """Filed seals of units other than ``unit`` whose master scores at or above ``threshold``
    against ``imprint`` (the master of a seal about to be filed), best first."""
    index = search.index()
    if len(index) == 0:
        return []
    found = index.search(search.embedder.embed([imprint]), shortlist)
    ranked = search.rerank(imprint, [(int(i), float(s)) for i, s in
                                     zip(found.ids[0], found.scores[0], strict=True) if i >= 0])
    own = unit.strip()
    out: dict[str, Lookalike] = {}
    for c in ranked:
        if c.score < threshold or c.seal_id in out:
            continue
        seal = search.store.get_seal(c.seal_id)
        if seal.unit_name == own:
            continue
        out[c.seal_id] = Lookalike(c.seal_id, seal.unit_name, c.master_id, c.score, threshold)
    return sorted(out.values(), key=lambda w: (-w.score, w.seal_id))


class LookalikeLog:
    """The look-alike warnings kept in one registry database."""

    def __init__(self, engine: Engine) -> None:
        with engine.execution_options(sqlite_begin="BEGIN IMMEDIATE").begin() as conn:
            _Base.metadata.create_all(conn)
            for stmt in append_only_ddl(LookalikeRow.__tablename__).get(engine.dialect.name,
                                                                         []):
                conn.exec_driver_sql(stmt)
        self._session = sessionmaker(engine.execution_options(sqlite_begin="BEGIN IMMEDIATE"),
                                     expire_on_commit=False)

    def record(self, seal_id: str, warnings: list[Lookalike]) -> None:
        now = datetime.now().replace(microsecond=0)
        with self._session.begin() as s:
            s.add_all(LookalikeRow(seal_id=seal_id, similar_seal_id=w.seal_id,
                                   similar_unit=w.unit_name, similar_master_id=w.master_id,
                                   score=float(w.score),
                                   threshold=float(w.threshold), recorded_at=now)
                      for w in warnings)

    def of(self, seal_id: str) -> list[Lookalike]:
        """The warnings given when ``seal_id`` was filed, best first."""
        with self._session() as s:
            rows = s.scalars(select(LookalikeRow).where(LookalikeRow.seal_id == seal_id)
                             .order_by(LookalikeRow.score.desc(), LookalikeRow.id))
            return [Lookalike(r.similar_seal_id, r.similar_unit, r.similar_master_id, r.score,
                              r.threshold)
                    for r in rows]


def lookalike_record(w: Lookalike) -> dict:
    return {"seal_id": w.seal_id, "unit": w.unit_name, "score": round(w.score, 4),
            "threshold": w.threshold}
