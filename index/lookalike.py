"""Look-alike warning at filing: before a new seal is filed, the registry is searched with its
master's imprint; filed seals of other units that are confusable with it (a name that differs
in a character or two, the same layout) are named with their scores. The registrar may file
all the same; the warning is kept with the record, append-only (table
``lookalike_warnings``).

Two routes, each enough:

- the name: a seal of the same kind (the same layout) among the faces nearest the new master's
  (:data:`NAME_NEIGHBOURS` embedding neighbours) whose unit's name differs from the new one in
  at most :data:`NAME_CHANGES` characters, and in at most :data:`NAME_SHARE` of them. Faces of
  one kind share their border, star, form words and title; one character among twenty moves
  the aligned correlation less than the other words of an unrelated unit of that kind do, so
  the image alone warns about only part of them (``python -m bench cases``);
- the face: the aligned polar correlation of a shortlisted master's canonical imprint with the
  new one (:meth:`index.identify.SealSearch.rerank`) at or above :data:`LOOKALIKE_THRESHOLD`,
  whatever the names (characters alike in shape, a layout copied).

Seals of the same unit (numbered siblings such as 合同专用章(1) and (2)) are not look-alikes:
they are the unit's own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Engine, Float, Integer, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from imprint.types import RectifiedImprint
from index.identify import SHORTLIST, SealSearch
from index.places import leading_place
from index.store import append_only_ddl, guard_append_only, table_columns

#: Aligned polar correlation of two masters at or above which a filed seal of another unit is
#: a look-alike whatever its name: the operating point of 1 % of unrelated filings warned on
#: the calibration registry of ``python -m bench cases`` (seed 20261131, 400 seals), never on
#: the test seed (20261132).
LOOKALIKE_THRESHOLD = 0.873
#: A unit name differing from another's in at most this many characters (replaced, inserted
#: or deleted) ...
NAME_CHANGES = 2
#: ... and in at most this share of the longer name's characters is a look-alike name: two
#: characters of 天津光明印刷工作室 are, two of 贵州省教育局 (a bureau of its own) are not.
NAME_SHARE = 0.25
#: The province or city a name begins with, written out (广东省, 昆明市, 内蒙古自治区) or not
#: (广东…, 常州…: :mod:`index.places`): units of different places (every province's 人民检察院,
#: every city's 税务局, one trade name in two cities) are told apart by it and are not
#: look-alikes by their names; a name without one is compared whole. (市 in 超市, 城市,
#: 门市, 都市, 股市 or 夜市 is not a city's: 华信超市有限公司 names no place.)
_PLACE = re.compile(r"^([\u4e00-\u9fff]{2,4}?)(?:省|(?<![超城门都股夜])市|自治区|特别行政区)")
#: Embedding neighbours of the new master whose units' names are compared with the new one:
#: the nearest faces, wider than the re-ranking's shortlist (a name costs no comparison).
NAME_NEIGHBOURS = 100


def _normal(name: str) -> str:
    # full-width and half-width brackets and digits alike, no spaces: how the name reads
    return "".join(unicodedata.normalize("NFKC", name).split())


def name_changes(a: str, b: str) -> int:
    """Characters replaced, inserted or deleted to turn unit name ``a`` into ``b``
    (Levenshtein distance of the names as they read)."""
    a, b = _normal(a), _normal(b)
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


#: A government body's name: its jurisdiction (a province, a city, a district or county, a
#: town or a street, down to the last of them) and its title (税务局, 人民法院, 卫生健康委员会,
#: 人民政府 of a town, 办事处 of a street).
_BODY = re.compile(r"^(.*(?:[省市区县州旗盟镇乡]|街道))(人民政府|人民法院|人民检察院"
                   r"|[\u4e00-\u9fff]{0,8}?(?:局|厅|委员会|办公室|办事处))$")


def _place(name: str) -> tuple[str | None, str | None]:
    """(the place a normalised name begins with, in its short form; the same as written,
    with its 省, 市 or 自治区, where it is): 北京市… ("北京", "北京市"), 北京… ("北京", None),
    广西壮族自治区… ("广西", "广西壮族自治区"), 昆山市… ("昆山", "昆山市")."""
    written = _PLACE.match(name)
    short = leading_place(name) or (written.group(1) if written else None)
    return short, written.group() if written else None


def names_alike(a: str, b: str) -> bool:
    """Two units' names of one place that differ, in at most :data:`NAME_CHANGES`
    characters and :data:`NAME_SHARE` of the longer one's. Places differ where both are
    written out and differ (吉林省, 吉林市), or where their short forms differ (广东省 and
    常州…); one written with 市 and one without (北京市…, 北京…) are one place. Government
    bodies of one title are of one place only where their whole jurisdictions are one
    (郑州市城关区财政局 and 郑州市新区财政局 are two districts' bodies)."""
    a, b = _normal(a), _normal(b)
    (sa, wa), (sb, wb) = _place(a), _place(b)
    if (wa and wb and wa != wb) or (sa and sb and sa != sb):
        return False
    ba, bb = _BODY.match(a), _BODY.match(b)
    if ba and bb and ba.group(2) == bb.group(2) and ba.group(1) != bb.group(1):
        return False  # one body's title in two jurisdictions: every district has its 财政局
    n = name_changes(a, b)
    return 0 < n <= min(NAME_CHANGES, NAME_SHARE * max(len(a), len(b)))


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
    # (null on warnings recorded before names were compared)
    name_changes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    by_name: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


guard_append_only(LookalikeRow, "look-alike warning")


@dataclass(frozen=True)
class Lookalike:
    """A filed seal of another unit confusable with the seal being filed. ``score`` aligned
    polar correlation of the two masters; ``threshold`` the face's look-alike threshold;
    ``name_changes`` characters between the two units' names (None: not recorded);
    ``by_name``: a look-alike name on a seal of the same kind."""

    seal_id: str
    unit_name: str
    master_id: int
    score: float
    threshold: float
    name_changes: int | None = None
    by_name: bool = False

    @property
    def reasons(self) -> tuple[str, ...]:
        return (("name",) if self.by_name else ()) + (
            ("face",) if self.score >= self.threshold else ())


def find_lookalikes(search: SealSearch, imprint: RectifiedImprint, *, unit: str,
                    kind: str | None = None, threshold: float = LOOKALIKE_THRESHOLD,
                    shortlist: int = SHORTLIST) -> list[Lookalike]:
    """Filed seals of units other than ``unit`` confusable with ``imprint`` (the master of a
    seal of ``kind`` about to be filed; None: any kind): a look-alike name on a seal of that
    kind among the faces nearest it, or a master scoring at or above ``threshold``; best
    first."""
    index = search.index()
    if len(index) == 0:
        return []
    found = index.search(search.embedder.embed([imprint]), max(shortlist, NAME_NEIGHBOURS))
    hits = [(int(i), float(s)) for i, s in zip(found.ids[0], found.scores[0], strict=True)
            if i >= 0]
    masters = search.store.get_masters(i for i, _ in hits)
    own = unit.strip()
    seals = search.store.get_seals(m.seal_id for m in masters.values())
    named = {s for s, seal in seals.items() if seal.unit_name != own
             and (kind is None or seal.kind == kind) and names_alike(own, seal.unit_name)}
    ranked = search.rerank(imprint, [h for k, h in enumerate(hits) if k < shortlist
                                     or (h[0] in masters and masters[h[0]].seal_id in named)],
                           masters)
    out: dict[str, Lookalike] = {}
    for c in ranked:
        seal = seals[c.seal_id]
        if seal.unit_name == own or c.seal_id in out or (
                c.score < threshold and c.seal_id not in named):
            continue
        out[c.seal_id] = Lookalike(c.seal_id, seal.unit_name, c.master_id, c.score, threshold,
                                   name_changes(own, seal.unit_name), c.seal_id in named)
    return sorted(out.values(), key=lambda w: (-w.score, w.seal_id))


class LookalikeLog:
    """The look-alike warnings kept in one registry database."""

    def __init__(self, engine: Engine) -> None:
        with engine.execution_options(sqlite_begin="BEGIN IMMEDIATE").begin() as conn:
            _Base.metadata.create_all(conn)
            # a table made before names were compared gets their columns (nullable: its rows
            # keep what they recorded)
            have = table_columns(conn, LookalikeRow.__tablename__)
            for col in ("name_changes", "by_name"):
                if col not in have:
                    kind = LookalikeRow.__table__.c[col].type.compile(conn.dialect)
                    conn.exec_driver_sql(f"ALTER TABLE {LookalikeRow.__tablename__} "
                                         f"ADD COLUMN {col} {kind}")
            for stmt in append_only_ddl(LookalikeRow.__tablename__).get(engine.dialect.name,
                                                                         []):
                conn.exec_driver_sql(stmt)
        self._engine = engine
        self._session = sessionmaker(engine.execution_options(sqlite_begin="BEGIN IMMEDIATE"),
                                     expire_on_commit=False)

    def record(self, seal_id: str, warnings: list[Lookalike]) -> None:
        now = datetime.now().replace(microsecond=0)
        with self._session.begin() as s:
            s.add_all(LookalikeRow(seal_id=seal_id, similar_seal_id=w.seal_id,
                                   similar_unit=w.unit_name, similar_master_id=w.master_id,
                                   score=float(w.score), threshold=float(w.threshold),
                                   recorded_at=now, name_changes=w.name_changes,
                                   by_name=w.by_name)
                      for w in warnings)

    def of(self, seal_id: str) -> list[Lookalike]:
        """The warnings given when ``seal_id`` was filed, best first."""
        return kept_warnings(self._engine, seal_id)


def kept_warnings(engine: Engine, seal_id: str) -> list[Lookalike]:
    """The warnings given when ``seal_id`` was filed, best first, read without writing
    anything (none where the registry has kept none; a table made before names were compared
    reads its rows without them)."""
    table = LookalikeRow.__table__
    have = table_columns(engine, table.name)
    if not have:
        return []
    cols = [c for c in table.c if c.name in have]
    with engine.connect() as conn:
        rows = conn.execute(select(*cols).where(table.c.seal_id == seal_id)
                            .order_by(table.c.score.desc(), table.c.id)).mappings().all()
    return [Lookalike(r["similar_seal_id"], r["similar_unit"], r["similar_master_id"],
                      r["score"], r["threshold"], r.get("name_changes"), bool(r.get("by_name")))
            for r in rows]


def lookalike_record(w: Lookalike) -> dict:
    return {"seal_id": w.seal_id, "unit": w.unit_name, "score": round(w.score, 4),
            "threshold": w.threshold, "name_changes": w.name_changes,
            "reasons": list(w.reasons)}


def lookalike_text(w: Lookalike) -> str:
    """One line for a person: which seal, and why."""
    why = []
    if w.by_name:
        why.append(f"name {w.name_changes} character{'s' if w.name_changes != 1 else ''} "
                   f"apart, same kind")
    why.append(f"faces score {w.score:.3f}, look-alike threshold {w.threshold:.3f}")
    return f"looks like seal {w.seal_id} of {w.unit_name} ({'; '.join(why)})"
