"""The load test's verdict over several runs (``python -m bench service --runs N``): read on the
median p99, and failed by any run's error, lost filing or broken audit trail."""

from __future__ import annotations

import pytest

from bench.service import TARGET_P99_MS, _over_runs, run


def _run(p99: float | None, *, errors: int = 0, lost: int = 0, intact: bool = True) -> dict:
    return {"p99_ms": p99, "p50_ms": None if p99 is None else p99 - 80.0,
            "throughput_rps": 21.0, "errors": errors, "filings_lost": lost,
            "check": {"audit_intact": intact}}


def test_target_is_read_on_the_median_p99():
    s = _over_runs([_run(510.0), _run(423.0), _run(439.0)])
    assert s["p99_ms_median"] == 439.0
    assert s["p99_ms_runs"] == [510.0, 423.0, 439.0]
    assert s["runs_within_target"] == 2
    assert s["passed"]


def test_median_over_the_target_fails():
    s = _over_runs([_run(TARGET_P99_MS + 10), _run(TARGET_P99_MS + 1), _run(420.0)])
    assert s["p99_ms_median"] == TARGET_P99_MS + 1
    assert not s["passed"]


@pytest.mark.parametrize("bad", [{"errors": 1}, {"lost": 1}, {"intact": False}])
def test_one_unsound_run_fails_the_whole(bad):
    s = _over_runs([_run(420.0), _run(430.0, **bad), _run(440.0)])
    assert s["p99_ms_median"] == 430.0
    assert not s["passed"]


def test_a_run_without_answers_leaves_the_median_to_the_others():
    s = _over_runs([_run(None), _run(430.0), _run(450.0)])
    assert s["p99_ms_median"] == 440.0
    assert s["runs_within_target"] == 2


def test_runs_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="at least 1"):
        run(tmp_path, runs=0)
