"""Rates with their 95 % confidence intervals, as error rates are reported in biometric
practice (ISO/IEC 19795-1): a figure from a few hundred trials is a range, not a point.

The Wilson score interval: it stays inside [0, 1], and with no error in ``n`` trials its upper
end is about ``3.8 / n`` (the rule of three's ``3 / n`` is its one-sided counterpart), so a
rate of zero reads as the bound the trials support. It is the binomial uncertainty of the
trials alone: where a threshold was read off the same trials (APCER at a BPCER of the same
test set), the threshold's own spread is not in it.
"""

from __future__ import annotations

import math

Z95 = 1.959964  # two-sided 95 %


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The interval of a rate of ``k`` in ``n`` trials; (nan, nan) for no trial."""
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def interval(k: int, n: int) -> list[float]:
    """:func:`wilson` as a JSON-ready pair, rounded to what three significant digits of a
    percentage need."""
    lo, hi = wilson(k, n)
    return [round(lo, 5), round(hi, 5)]


def ci(k: int, n: int, *, percent: bool = True) -> str:
    """``k`` of ``n`` as a rate and its interval: ``"96.0 % [94.7, 97.0]"`` (or fractions,
    ``"0.960 [0.947, 0.970]"``)."""
    if n <= 0:
        return "-"
    lo, hi = wilson(k, n)
    if percent:
        return f"{100 * k / n:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]"
    return f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]"
