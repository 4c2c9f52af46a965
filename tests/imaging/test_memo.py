"""Values kept per master object: found again for the same object, not for an equal copy,
and dropped with their object."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import numpy as np

from imprint.memo import per_imprint


@dataclass(frozen=True)
class Held:
    ink: np.ndarray


def test_a_value_is_kept_per_object_not_per_equal_copy():
    calls: list[int] = []

    @per_imprint(2)
    def total(h: Held) -> float:
        calls.append(id(h))
        return float(h.ink.sum())

    a, b = Held(np.ones(4)), Held(np.ones(4))
    assert total(a) == total(a) == 4.0
    assert len(calls) == 1
    assert total(b) == 4.0
    assert len(calls) == 2  # an equal copy is another object


def test_the_least_recent_is_dropped_beyond_the_size_and_a_dead_object_is_forgotten():
    calls: list[float] = []

    @per_imprint(2)
    def first(h: Held) -> float:
        calls.append(float(h.ink[0]))
        return float(h.ink[0])

    held = [Held(np.full(3, float(i))) for i in range(3)]
    for h in held:
        first(h)
    first(held[2])
    first(held[1])
    assert calls == [0.0, 1.0, 2.0]
    first(held[0])  # dropped for the two more recent
    assert calls == [0.0, 1.0, 2.0, 0.0]

    gone = Held(np.full(3, 7.0))
    assert first(gone) == 7.0
    del gone
    gc.collect()
    # whatever object now has its id, its value is its own
    fresh = [Held(np.full(3, 9.0)) for _ in range(50)]
    assert all(first(h) == 9.0 for h in fresh)
