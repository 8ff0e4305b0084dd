"""The bench's timing loop: implementations take turns (the figures themselves are not tested)."""

from __future__ import annotations

import math

from stable_softmax import bench


def test_best_times_interleaves_the_calls(monkeypatch):
    monkeypatch.setattr(bench, "PAUSE", 0.0)
    order = []
    calls = {name: (lambda name=name: order.append(name)) for name in ("ours", "peer", "copy")}
    best = bench.best_times(calls, budget=0.0, rounds=4)
    # one warm-up each, then one run per turn (a zero budget still runs once): round robin
    assert order == ["ours", "peer", "copy"] * 5
    assert set(best) == set(calls) and all(math.isfinite(t) and t >= 0.0 for t in best.values())
