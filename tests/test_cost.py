"""Accuracy against cost: recommendations on synthetic records, timing on a synthetic clock."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stable_softmax.accuracy import cost


def _rec(name, max_ulp, overflow=0.0, nan=0.0, underflow=0.0, unbounded=0.0, error=None, **kw):
    base = {"function": "softmax", "dtype": "float32", "method": name}
    base.update(
        max_ulp=max_ulp,
        overflow=overflow,
        nan=nan,
        underflow=underflow,
        unbounded=unbounded,
        error=error,
    )
    base.update(kw)
    return base


def _cost(name, ratio, function="softmax", dtype="float32"):
    return {"function": function, "dtype": dtype, "implementation": name, "ratio": ratio}


RECORDS = [
    # fast but overflows in one cell: never recommended
    _rec("fast", 0.0),
    _rec("fast", 2.0, overflow=0.25),
    _rec("mid", 3.0),
    _rec("mid", 40.0, underflow=0.01),
    _rec("slow", 1.0),
    _rec("slow", 0.0),
    # cheapest of all, but one of its cells raised
    _rec("broken", 0.0),
    _rec("broken", None, error="ValueError: x"),
    # finite where the exact value overflows: unbounded error
    _rec("wild", 0.0, unbounded=0.5),
]
COSTS = [
    _cost("fast", 1.0),
    _cost("mid", 2.0),
    _cost("slow", 5.0),
    _cost("broken", 0.5),
    _cost("wild", 1.5),
]


def _by_criterion(recs):
    return {r["criterion"]: r for r in recs}


def test_cheapest_within_k_ulp():
    got = _by_criterion(cost.recommend_by_cost(RECORDS, COSTS, ks=(1, 4, 64)))
    assert got["within 1 ULP, no inf/NaN"]["implementation"] == "slow"
    assert got["within 4 ULP, no inf/NaN"]["implementation"] == "slow"  # mid's worst is 40
    assert got["within 64 ULP, no inf/NaN"]["implementation"] == "mid"
    assert got["within 64 ULP, no inf/NaN"]["worst_ulp"] == 40.0
    assert got["within 64 ULP, no inf/NaN"]["underflow"] == 0.01
    assert got["within 64 ULP, no inf/NaN"]["qualifying"] == 2
    # "no inf/NaN" admits the unbounded one: its outputs are finite (the table shows inf ULP)
    assert got["no inf/NaN"]["implementation"] == "wild"
    assert got["no inf/NaN"]["worst_ulp"] == math.inf
    assert got["no inf/NaN"]["qualifying"] == 3


def test_no_candidate_and_missing_costs():
    recs = [_rec("a", 100.0), _rec("b", 0.0, nan=0.1)]
    got = _by_criterion(cost.recommend_by_cost(recs, [_cost("a", 1.0), _cost("b", 1.0)], ks=(1,)))
    assert got["within 1 ULP, no inf/NaN"]["implementation"] is None
    assert got["no inf/NaN"]["implementation"] == "a"
    # an implementation without a measured cost cannot be recommended
    got = _by_criterion(cost.recommend_by_cost(recs, [_cost("b", 1.0)], ks=(1,)))
    assert got["no inf/NaN"]["implementation"] is None


def test_ties_in_cost_go_to_the_smaller_error():
    recs = [_rec("x", 3.0), _rec("y", 1.0)]
    got = cost.recommend_by_cost(recs, [_cost("x", 2.0), _cost("y", 2.0)], ks=(8,))
    assert got[0]["implementation"] == "y"


def test_aggregate_uses_implementation_key_when_present():
    recs = [dict(_rec("ignored", 2.0), implementation="peer")]
    assert list(cost.aggregate(recs)) == [("softmax", "float32", "peer")]
    assert (
        cost.aggregate([_rec("w", 0.0, unbounded=0.1)])[("softmax", "float32", "w")]["worst_ulp"]
        == math.inf
    )


def test_measure_cost_takes_the_median_ratio(monkeypatch):
    # synthetic clock: copy always 1.0; the implementation 3, 100 (a burst of load), 4, 3, 5
    times = iter([1e-3, 1e-3] + [v for pair in zip([1.0] * 5, [3, 100, 4, 3, 5]) for v in pair])
    monkeypatch.setattr(cost, "_seconds", lambda fn, number: float(next(times)))
    x = np.zeros((4, 8), np.float32)
    got = cost.measure_cost(lambda a: a, x, repeats=5)
    assert got["ratio"] == 4.0  # median of 3, 100, 4, 3, 5
    assert got["seconds_per_element"] == pytest.approx(4.0 / 32)
    assert got["copy_seconds_per_element"] == pytest.approx(1.0 / 32)


def test_measure_costs_records_a_raising_implementation():
    from stable_softmax.implementations import Implementation

    def boom(x, *, beta=1.0, base=None):
        raise RuntimeError("no")

    impl = Implementation("boom", "softmax", boom, kind="user")
    (row,) = cost.measure_costs({"softmax": [impl]}, ["float32"], shape=(2, 4), repeats=1)
    assert row["ratio"] is None and row["error"] == "RuntimeError: no"


def test_render_markdown_lists_recommendations():
    recs = cost.recommend_by_cost(RECORDS, COSTS, ks=(1,))
    text = "\n".join(cost.render_markdown(recs, [dict(c, shape=[64, 4096]) for c in COSTS]))
    assert "| softmax | float32 | within 1 ULP, no inf/NaN | slow | 5 | 1 |" in text
    assert "64x4096" in text
