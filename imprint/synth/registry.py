"""A generated registry: units and their filed seals, each reproducible from its record.

A :class:`SealRecord` is what a registry row holds about a seal (its words, kind, ink,
typeface and code) plus the seed its physical seal was made from, so the very same seal, with
the same stable defects, can be made again anywhere: ``record.face()``.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, replace

import numpy as np

from imprint.synth import names
from imprint.synth.defects import new_seal
from imprint.synth.design import BUSINESS_LINES, SealSpec, layout
from imprint.synth.render import SealFace

#: Mix of seal kinds in a registry: (kind, weight).
KIND_MIX = (("round_official", 0.6), ("round_government", 0.1), ("oval_invoice", 0.15),
            ("square_name", 0.15))
INK_MIX = (("red", 0.85), ("blue", 0.1), ("violet", 0.05))
TYPEFACE_MIX = (("noto-serif-sc", 0.6), ("uming", 0.25), ("gbsn", 0.15))


@dataclass(frozen=True)
class SealRecord:
    """One seal: registry facts plus the seed of its physical face."""

    seal_id: str
    unit_name: str
    credit_code: str
    spec: SealSpec
    typeface: str
    seal_seed: int
    lookalike_of: str | None = None  # seal whose unit name this one's differs from by 1-2 chars
    sibling_of: str | None = None  # numbered sibling: same unit, same kind, another number

    def face(self) -> SealFace:
        return _face(self.spec, self.typeface, self.seal_seed)

    def to_json(self) -> dict:
        d = asdict(self)
        d["spec"] = asdict(self.spec)
        return d

    @classmethod
    def from_json(cls, d: dict) -> SealRecord:
        return cls(**{**d, "spec": SealSpec(**d["spec"])})


STROKE_WEIGHT_MM = (0.08, 0.2)  # how boldly engravers cut the characters


@functools.lru_cache(maxsize=256)
def _face(spec: SealSpec, typeface: str, seal_seed: int) -> SealFace:
    rng = np.random.default_rng(seal_seed)
    design = replace(layout(spec, typeface), stroke_weight=float(rng.uniform(*STROKE_WEIGHT_MM)))
    return new_seal(design, rng)


def pick(rng: np.random.Generator, mix):
    """One value of ``mix``, a sequence of (value, weight) pairs, drawn by weight."""
    values, weights = zip(*mix, strict=True)
    return values[int(rng.choice(len(values), p=np.array(weights) / sum(weights)))]


def random_spec(rng: np.random.Generator, kind: str | None = None, unit: str | None = None
                ) -> SealSpec:
    """A seal spec of ``kind`` (random by :data:`KIND_MIX` if None) for ``unit``."""
    kind = kind or pick(rng, KIND_MIX)
    ink = pick(rng, INK_MIX)
    if kind == "round_official":
        business = str(rng.choice(BUSINESS_LINES)) if rng.random() < 0.5 else ""
        return SealSpec(kind, unit or names.unit_name(rng), business_line=business,
                        code=names.seal_code(rng) if rng.random() < 0.4 else "",
                        diameter=float(rng.choice([40.0, 42.0, 42.0, 42.0, 45.0])), ink=ink)
    if kind == "round_government":
        return SealSpec(kind, unit or names.government_name(rng),
                        diameter=float(rng.choice([45.0, 50.0, 58.0, 60.0])), ink=ink)
    if kind == "oval_invoice":
        return SealSpec(kind, unit or names.unit_name(rng), tax_number=names.credit_code(rng),
                        diameter=40.0, ink=ink)
    return SealSpec(kind, unit or names.unit_name(rng), person_name=names.person_name(rng),
                    diameter=float(rng.choice([16.0, 18.0, 20.0])), ink=ink)


def make_registry(n_seals: int, rng: np.random.Generator, *, lookalike_rate: float = 0.1,
                  sibling_rate: float = 0.08, prefix: str = "S") -> list[SealRecord]:
    """``n_seals`` filed seals, with look-alike units and numbered siblings among them."""
    records: list[SealRecord] = []
    while len(records) < n_seals:
        i = len(records)
        seal_id = f"{prefix}{i:06d}"
        roll = rng.random()
        # a registry of any size holds at least one look-alike and one numbered pair
        if n_seals >= 6 and lookalike_rate > 0 and i == n_seals - 1 and not any(
                r.lookalike_of for r in records):
            roll = 0.0
        if n_seals >= 6 and sibling_rate > 0 and i == n_seals - 3 and not any(
                r.sibling_of for r in records):
            roll = lookalike_rate + sibling_rate / 2
        companies = [r for r in records if r.spec.kind in ("round_official", "oval_invoice")
                     and r.lookalike_of is None]
        if roll < lookalike_rate and companies:
            base = companies[int(rng.integers(len(companies)))]
            unit = names.look_alike(base.unit_name, rng)
            spec = SealSpec(**{**asdict(base.spec), "unit_name": unit})
            records.append(SealRecord(seal_id, unit, names.credit_code(rng), spec,
                                      base.typeface, int(rng.integers(2**31)),
                                      lookalike_of=base.seal_id))
            continue
        if roll < lookalike_rate + sibling_rate and len(records) + 2 <= n_seals:
            # a unit files 合同专用章(1) and 合同专用章(2): near-identical registered seals
            first = random_spec(rng, "round_official")
            first = SealSpec(**{**asdict(first), "business_line": str(rng.choice(BUSINESS_LINES)),
                                "number": 1})
            typeface, code = pick(rng, TYPEFACE_MIX), names.credit_code(rng)
            records.append(SealRecord(seal_id, first.unit_name, code, first, typeface,
                                      int(rng.integers(2**31))))
            records.append(SealRecord(f"{prefix}{i + 1:06d}", first.unit_name, code,
                                      SealSpec(**{**asdict(first), "number": 2}), typeface,
                                      int(rng.integers(2**31)), sibling_of=seal_id))
            continue
        spec = random_spec(rng)
        unit = spec.unit_name
        records.append(SealRecord(seal_id, unit, names.credit_code(rng), spec,
                                  pick(rng, TYPEFACE_MIX), int(rng.integers(2**31))))
    return records
