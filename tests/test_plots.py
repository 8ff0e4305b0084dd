"""The plots' data (not pixels): failed cells are marked, styles are one per implementation."""

from __future__ import annotations

import math

import pytest

from stable_softmax.accuracy import plotdata, plots
from stable_softmax.accuracy.sweep import Block, Grid


def _rec(method, scale, n, max_bits, overflow=0.0, nan=0.0, **kw):
    r = {
        "function": "softmax",
        "dtype": "float32",
        "method": method,
        "family": "gaussian",
        "n": n,
        "scale": scale,
        "beta": 1.0,
        "base": math.e,
        "max_bits": max_bits,
        "overflow": overflow,
        "nan": nan,
        "underflow": 0.0,
        "error": None,
    }
    r.update(kw)
    return r


RECORDS = [
    # naive: 0 bits over its OK outputs at scale 1e4, but half its outputs are NaN
    _rec("naive", 1.0, 16, 1.0),
    _rec("naive", 1e4, 16, 0.0, nan=0.5),
    _rec("naive", 1e4, 256, None, overflow=1.0),
    _rec("shifted", 1.0, 16, 2.0),
    _rec("shifted", 1e4, 16, 3.0),
    _rec("shifted", 1e4, 256, 5.0),
]


def test_failed_points_go_to_the_failure_line_not_to_their_ok_error():
    data = plotdata.series(RECORDS, "scale")
    naive = {p.x: p for p in data[("softmax", "float32", "naive")]}
    assert not naive[1.0].fails and naive[1.0].y("float32") == 1.0
    failing = naive[1e4]
    assert failing.fails and failing.failed == pytest.approx(0.75)
    assert failing.bits == 0.0  # what the old plot showed: naive "best"
    assert failing.y("float32") == plotdata.fail_level("float32") == 34.0
    shifted = {p.x: p for p in data[("softmax", "float32", "shifted")]}
    assert shifted[1e4].y("float32") == 5.0 and shifted[1e4].cells == 2
    # the failure line is above every finite error of the format
    assert plotdata.fail_level("float64") > 64


def test_heatmap_marks_failed_cells():
    scales, ns, bits, failed = plotdata.heatmap_data(RECORDS, "softmax", "float32", "naive")
    assert scales == [1.0, 1e4] and ns == [16, 256]
    assert failed[1, 0] == 0.5 and failed[1, 1] == 1.0 and failed[0, 0] == 0.0
    assert math.isnan(bits[1, 1]) and bits[0, 0] == 1.0


def test_cost_points_mark_failing_implementations():
    costs = [
        {"function": "softmax", "dtype": "float32", "implementation": "naive", "ratio": 2.0},
        {"function": "softmax", "dtype": "float32", "implementation": "shifted", "ratio": 3.0},
    ]
    points = plotdata.cost_points(RECORDS, costs)
    assert points[("softmax", "float32", "naive")].fails
    assert points[("softmax", "float32", "shifted")].x == 3.0
    assert points[("softmax", "float32", "shifted")].bits == 5.0


def test_one_distinct_style_per_implementation():
    names = ["naive", "shifted", "online", "lse", "log1p", "accurate", "scipy", "torch", "jax"]
    styles = [plotdata.style(n) for n in names + ["onnxruntime", "textbook"]]
    assert len({s[0] for s in styles}) == len(styles)  # colours
    assert len({s[1] for s in styles}) == len(styles)  # markers
    assert plotdata.style("pkg.mod:fn") == plotdata.style("pkg.mod:fn")
    # online coincides with shifted: it must differ in line style and position too
    assert plotdata.style("online")[2] != plotdata.style("shifted")[2]
    order = ["shifted", "online"]
    assert plotdata.offset("shifted", order) != plotdata.offset("online", order)


def test_make_plots_writes_the_cost_plot_only_with_costs(tmp_path):
    grid = Grid("t", (Block("scale-n", ("gaussian",), (16, 256), (1.0, 1e4)),))
    assert plots.make_plots(RECORDS, grid, tmp_path) == [
        "error_vs_scale.png",
        "error_vs_n.png",
        "heatmap_scale_n.png",
    ]
    costs = [{"function": "softmax", "dtype": "float32", "implementation": "naive", "ratio": 2.0}]
    assert "error_vs_cost.png" in plots.make_plots(RECORDS, grid, tmp_path, costs=costs)
    assert all(
        (tmp_path / name).stat().st_size > 0
        for name in plotdata.CAPTIONS
        if name != "rates_vs_beta.png"
    )
