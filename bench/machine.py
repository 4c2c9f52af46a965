"""How fast the machine is today, on a fixed workload, printed beside every benchmark.

Shared machines change speed from day to day (the same verification has measured at twice
the time on one day as on another, with nothing else running). Timings from different runs
are only comparable beside the time of the same fixed work: interpreted Python (what the
service's request handling and the engine's bookkeeping are) and image filtering on one core
(what the engine's pixel work is).
"""

from __future__ import annotations

import platform
import statistics
import time

import cv2
import numpy as np

REPEATS = 5


def _python_loop() -> None:
    s = 0
    for i in range(1_000_000):
        s += i


def _image_filters(image: np.ndarray) -> None:
    blurred = cv2.GaussianBlur(image, (0, 0), 2.0)
    cv2.distanceTransform((blurred > 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    np.sqrt(image * image + blurred * blurred)


def speed() -> dict:
    """Median milliseconds of each fixed workload over :data:`REPEATS` runs, on one thread."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    image = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    out = {}
    try:
        for name, work in (("python_loop_ms", _python_loop),
                           ("image_filters_ms", lambda: _image_filters(image))):
            times = []
            for _ in range(REPEATS):
                t = time.perf_counter()
                work()
                times.append(1000 * (time.perf_counter() - t))
            out[name] = round(statistics.median(times), 1)
    finally:
        cv2.setNumThreads(threads)
    return out


def describe() -> tuple[str, dict]:
    """A line for the top of a benchmark's output, and the record it states."""
    s = speed()
    record = {"processor": platform.processor() or platform.machine(),
              "python": platform.python_version(), **s}
    line = (f"machine: {record['processor']}, python {record['python']}; speed today: "
            f"1M-step Python loop {s['python_loop_ms']:.0f} ms, image filters (1024 px, one "
            f"core) {s['image_filters_ms']:.1f} ms (medians of {REPEATS}; compare timings "
            f"between runs only beside these)")
    return line, record
