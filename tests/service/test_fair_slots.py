"""The engine slots serve waiting requests in the order they came, and time out cleanly."""

from __future__ import annotations

import threading
import time

import pytest

from service.api.deps import FairSlots


def _wait_until(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_waiters_get_a_slot_in_arrival_order_not_a_newcomer():
    slots = FairSlots(1)
    assert slots.acquire()
    served: list[int] = []

    def wait(k: int) -> None:
        slots.acquire()
        served.append(k)
        slots.release()

    threads = []
    for k in range(5):
        t = threading.Thread(target=wait, args=(k,))
        t.start()
        threads.append(t)
        _wait_until(lambda k=k: len(slots._waiting) == k + 1)
    slots.release()
    # a newcomer arriving while others wait does not take the slot before them
    assert not slots.acquire(blocking=False)
    for t in threads:
        t.join(5)
    assert served == [0, 1, 2, 3, 4]
    assert slots.acquire(blocking=False)  # every slot back once they are done
    slots.release()


def test_a_wait_that_runs_out_leaves_the_queue_and_the_count_intact():
    slots = FairSlots(2)
    assert slots.acquire() and slots.acquire()
    t0 = time.monotonic()
    assert not slots.acquire(timeout=0.1)
    assert time.monotonic() - t0 >= 0.09
    assert not slots._waiting
    slots.release()
    with slots:  # the slot given back is free again
        assert not slots.acquire(blocking=False)
    slots.release()
    with pytest.raises(ValueError):
        slots.release()
