"""What is derived from a master once, kept for the next imprint compared with it.

A master is compared with imprint after imprint (a bank counter's customer seal, a seal
shortlisted by search after search), and much of each comparison is the master's alone: its
ink smoothed and resized, its patches' gradients. Rectified imprints are frozen dataclasses
holding arrays, which cannot be hashed, so :func:`per_imprint` keys on the object itself: a
value is found again for the same object (as the registry's cache of canonical masters hands
out), never for an equal copy, and is dropped with its object.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def per_imprint(maxsize: int) -> Callable[[Callable[[K], V]], Callable[[K], V]]:
    """Decorate a function of one object: its values for the ``maxsize`` objects asked for
    most recently are kept (an object's id can be reused once it is gone: its weak reference
    tells)."""

    def wrap(fn: Callable[[K], V]) -> Callable[[K], V]:
        kept: OrderedDict[int, tuple[weakref.ref, V]] = OrderedDict()
        lock = threading.RLock()  # a weak reference's callback may run inside

        @wraps(fn)
        def cached(obj: K) -> V:
            key = id(obj)
            with lock:
                hit = kept.get(key)
                if hit is not None and hit[0]() is obj:
                    kept.move_to_end(key)
                    return hit[1]
            value = fn(obj)
            with lock:
                kept[key] = (weakref.ref(obj, lambda _r, k=key: _forget(k)), value)
                kept.move_to_end(key)
                while len(kept) > maxsize:
                    kept.popitem(last=False)
            return value

        def _forget(key: int) -> None:
            with lock:
                hit = kept.get(key)
                if hit is not None and hit[0]() is None:
                    del kept[key]

        return cached

    return wrap
