"""How the benchmarks state their rates: intervals, and APCER at a BPCER read on verdicts."""

import math

import pytest

from bench.rates import ci, wilson
from bench.verify import apcer_at_bpcer


def test_wilson_intervals_match_their_textbook_values():
    lo, hi = wilson(5, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and round(hi, 4) == 0.2775
    # no error in n trials: about the rule of three's bound, not zero
    assert 3 / 1000 < wilson(0, 1000)[1] < 4 / 1000
    assert all(math.isnan(v) for v in wilson(0, 0))
    assert ci(45, 65) == "69.2 % [57.2, 79.1]"
    assert ci(9, 10, percent=False) == "0.900 [0.596, 0.982]"


def _pair(verdict: str, llr: float, *, passable: bool, flaggable: bool) -> dict:
    return {"verdict": verdict, "llr": llr if passable else -math.inf, "passable": passable,
            "flaggable": flaggable}


def _genuine(llrs: list[float]) -> list[dict]:
    return [_pair("genuine", v, passable=True, flaggable=True) for v in llrs]


def test_apcer_is_read_where_at_most_the_stated_share_of_genuine_imprints_is_flagged():
    gen = _genuine([float(v) for v in range(1, 101)])  # 100 genuine, log10 LR 1 to 100
    forg = [_pair("genuine", v, passable=True, flaggable=True) for v in (1.5, 2.5, 50.0)]
    # 1 % of 100: the threshold may flag the lowest genuine imprint, not the second
    apcer, bpcer = apcer_at_bpcer(gen, forg, 0.01)
    assert bpcer == pytest.approx(0.01)
    assert apcer == pytest.approx(2 / 3)  # 2.5 and 50 pass a threshold at 2


def test_an_inconclusive_genuine_imprint_is_not_flagged_but_another_seal_is():
    base = _genuine([float(v) for v in range(1, 99)])
    forg = [_pair("genuine", v, passable=True, flaggable=True) for v in (1.5, 2.5, 50.0)]
    # too poor to decide on, and a marginal one that a low LR leaves inconclusive: neither
    # counts against the genuine imprints, so the threshold stays where it was
    undecided = [_pair("inconclusive", 0.0, passable=False, flaggable=False),
                 _pair("inconclusive", -5.0, passable=True, flaggable=False)]
    apcer, bpcer = apcer_at_bpcer(base + undecided, forg, 0.01)
    assert (apcer, bpcer) == (pytest.approx(2 / 3), pytest.approx(0.01))
    # a genuine imprint judged another seal is refused at every threshold: it takes the 1 %
    other = [_pair("different_seal", 0.0, passable=False, flaggable=False),
             _pair("genuine", 200.0, passable=True, flaggable=True)]
    apcer, bpcer = apcer_at_bpcer(base + other, forg, 0.01)
    assert bpcer == pytest.approx(0.01)
    assert apcer == 1.0  # nothing flagged beyond it: every forgery that reaches the fusion
    # a forgery judged another seal or inconclusive is not passed at any threshold
    refused = [_pair("different_seal", 0.0, passable=False, flaggable=False),
               _pair("inconclusive", 0.0, passable=False, flaggable=False)]
    assert apcer_at_bpcer(base + undecided, forg + refused, 0.01)[0] == pytest.approx(2 / 5)


def test_the_detection_bench_counts_the_imprints_over_each_rectification_target():
    """A heavy tail: 6 of 100 orientations off by a star's tip put the 95th percentile in the
    tail, the share over the target says by how much."""
    from bench.detect import TARGETS, _over_line, _stats

    angles = _stats([0.2] * 94 + [72.0] * 6, TARGETS["angle_error_deg"])
    assert angles["p95"] > 3.0 and angles["over_target"] == [6, 100]
    centre = _stats([0.001] * 99 + [0.02], TARGETS["centre_error_rel"])
    assert centre["p95"] <= 0.01 and centre["over_target"] == [1, 100]
    line = _over_line({"centre_error_rel": centre, "scale_error_rel": {},
                       "angle_error_deg": angles, "angle_error_deg_not_recarved": angles})
    assert "centre over 1 % 1 / 100" in line and "orientation over 3° 6 / 100" in line
    assert "scale" not in line  # no scale measured (phone photos only): none stated
