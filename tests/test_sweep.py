"""The sweep: records are plain, reproducible and agree with an independent recomputation."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

import reference
import stable_softmax as ss
from stable_softmax.accuracy import sweep
from stable_softmax.accuracy.families import make_inputs
from stable_softmax.accuracy.sweep import (
    RECORD_FIELDS,
    Block,
    Cell,
    Grid,
    build_cells,
    run_cell,
    run_sweep,
)

E = math.e


def _cell(**changes) -> Cell:
    fields = dict(
        function="softmax",
        method="shifted",
        dtype="float32",
        family="gaussian",
        n=16,
        scale=10.0,
        beta=1.0,
        base=E,
        rows=8,
        seed=0,
    )
    fields.update(changes)
    return Cell(**fields)


def _ordinal_ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Test-local ULP distance of finite floats: distance of their sign-magnitude integers."""
    itype = np.int32 if a.dtype == np.float32 else np.int64

    def line(v):
        bits = v.view(itype).astype(np.int64)
        mag = bits & np.int64(np.iinfo(itype).max)
        return np.where(bits < 0, -mag, mag)

    return np.abs(line(a) - line(b)).astype(np.float64)


@pytest.mark.parametrize("function", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_ulp_equals_independent_recomputation(function, dtype):
    method = "lse" if function != "logsumexp" else "naive"
    cell = _cell(function=function, method=method, dtype=dtype, scale=3.0)
    record = run_cell(cell)
    x = make_inputs("gaussian", 16, 3.0, 8, np.dtype(dtype), 0)
    result = np.asarray(getattr(ss, function)(x, method=method))
    exact = getattr(reference, function)(x)
    ok = np.isfinite(result) & (result != 0)
    assert ok.all()  # a benign cell: every element is classed OK
    ulps = _ordinal_ulps(result, exact)
    assert record["max_ulp"] == ulps.max() > 0
    assert record["median_ulp"] == np.median(ulps)
    assert record["overflow"] == record["underflow"] == record["nan"] == 0.0
    assert record["elements"] == result.size


def test_failure_fractions_match_an_independent_count():
    cell = _cell(method="naive", scale=100.0)  # float32 exp overflows above 88.72
    record = run_cell(cell)
    x = make_inputs("gaussian", 16, 100.0, 8, np.float32, 0)
    result = ss.softmax(x, method="naive")
    # inf / inf = NaN where the exact value is finite: an overflow by cause, counted
    # again in the finer overflow_nan column; no inf and no NaN-vs-inf here
    assert record["overflow"] == record["overflow_nan"] == np.mean(np.isnan(result)) > 0
    assert record["overflow_inf"] == record["nan"] == 0.0
    assert record["max_ulp"] is not None  # the rows that did not overflow are still measured


def test_record_is_plain_json_and_picklable():
    cell = _cell(function="logsumexp", method="log1p", beta=1e3, base=2.0)
    record = run_cell(pickle.loads(pickle.dumps(cell)))
    assert tuple(record) == RECORD_FIELDS
    for value in record.values():
        assert value is None or type(value) in (str, int, float)
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    assert run_cell(cell) == record  # reproducible
    assert record["sum_dev_max"] is None and record["argmax_kept"] is None


def test_shifted_softmax_stays_inside_the_bound_and_a_wrong_result_does_not():
    cell = _cell(scale=5.0, n=64, rows=4)
    record = run_cell(cell)
    assert (
        record["bound_checked"] > 0.9
        and record["bound_inside"] == 1.0
        and record["bound_ratio_max"] <= 1.0
    )
    x = sweep.cell_inputs(cell)
    exact, valid = sweep.cell_reference(cell, x)
    wrong = (ss.softmax(x).astype(np.float64) * (1 + 1e-3)).astype(np.float32)
    bad = sweep.measure(cell, x, wrong, exact, valid)
    assert bad["bound_inside"] < 1.0 and bad["bound_ratio_max"] > 1.0


def test_method_without_bound_gets_none(monkeypatch):
    from stable_softmax.accuracy import bounds

    monkeypatch.delitem(bounds.BOUNDS, ("softmax", "shifted"))
    record = run_cell(_cell())
    assert record["bound_inside"] is None and record["bound_ratio_max"] is None


TINY = Grid("tiny", (Block("scale-n", ("gaussian", "ties"), (4, 32), (1.0, 100.0), elements=64),))


def test_build_cells_counts_and_dedups():
    functions = {"softmax": ("naive", "shifted"), "logsumexp": ("log1p",)}
    cells = build_cells(TINY, functions, ["float32", "float64"], None, seed=5)
    # TINY: 2 families x 2 ns x 2 scales = 8 inputs; x 2 dtypes x 3 implementations
    assert len(cells) == 8 * 2 * 3 == 48
    assert len(set(cells)) == len(cells) and all(c.seed == 5 for c in cells)
    # rows = elements // n = 64 // 4 and 64 // 32
    assert {(c.n, c.rows) for c in cells} == {(4, 16), (32, 2)}
    groups = sweep.group_cells(cells)
    # one group per input x dtype x function: 8 x 2 x 2, softmax's of two cells
    assert len(groups) == 32 and sorted(len(g) for g in groups) == [1] * 16 + [2] * 16
    assert all(len({c.group_key for c in g}) == 1 for g in groups)
    assert build_cells(
        Grid("twice", TINY.blocks * 2), {"softmax": ("naive",)}, ["float32"]
    ) == build_cells(TINY, {"softmax": ("naive",)}, ["float32"])


def test_an_implementation_gets_cells_only_in_its_dtypes(monkeypatch):
    from stable_softmax import implementations

    impl = implementations.Implementation(
        "only64", "softmax", lambda x, *, beta, base: x, dtypes=("float64",), kind="user"
    )
    monkeypatch.setitem(implementations._REGISTRY, ("softmax", "only64"), impl)
    cells = build_cells(TINY, {"softmax": ("naive", "only64")}, ["float32", "float64"])
    assert {(c.method, c.dtype) for c in cells} == {
        ("naive", "float32"),
        ("naive", "float64"),
        ("only64", "float64"),
    }


def test_a_user_implementation_is_measured_by_the_sweep(monkeypatch):
    """A registered callable plugs into the sweep unchanged; its record is its own."""
    from stable_softmax import implementations

    def halved(x, *, beta, base):
        return np.asarray(ss.softmax(x, method="shifted", beta=beta, base=base)) / 2

    impl = implementations.Implementation("halved", "softmax", halved, kind="user")
    monkeypatch.setitem(implementations._REGISTRY, ("softmax", "halved"), impl)
    record = run_cell(_cell(method="halved", dtype="float64"))
    assert record["method"] == "halved" and record["error"] is None
    # halving moves every output 2**52 ULPs down (one binade of float64): far off, not failing
    assert record["max_ulp"] >= 2.0**52 and record["overflow"] == record["nan"] == 0.0
    assert record["sum_dev_max"] == pytest.approx(0.5 / np.finfo(np.float64).eps, rel=1e-6)


def test_two_workers_give_the_same_records():
    cells = build_cells(
        TINY, {"softmax": ("naive", "shifted"), "logsumexp": ("log1p",)}, ["float64"]
    )
    seen = []
    assert run_sweep(cells, workers=2, progress=seen.append) == run_sweep(cells, workers=1)
    assert sum(seen) == sum(sweep.group_cost(g) for g in sweep.group_cells(cells))


def test_reference_failure_is_counted_not_fatal(monkeypatch):
    cell = _cell(rows=4)
    real = reference.softmax

    def flaky(x, **kw):
        if x.shape[0] > 1 or x[0, 0] == sweep.cell_inputs(cell)[2, 0]:
            raise reference.PrecisionLimitError("test")
        return real(x, **kw)

    monkeypatch.setattr(reference, "softmax", flaky)
    record = run_cell(cell)
    assert record["ref_failed"] == 0.25 and record["elements"] == 3 * 16


def test_quick_grid_size_by_hand():
    from stable_softmax.accuracy.grids import GRIDS, points, reference_elements

    quick = GRIDS["quick"]
    # scale-n 5 families x 4 n x 5 scales = 100; beta 3 x 2 scales x 7 betas = 42; base 2 x 2 betas
    # x 5 bases = 20, of which the 4 at base e repeat beta's points; edges 2; llm 2
    assert len(list(points(quick))) == 100 + 42 + (20 - 4) + 2 + 2 == 162
    # elements per point: rows = max(1, 1024 // n), so n = 4096 is one row of 4096
    per_function_dtype = (
        5 * 5 * (3 * 1024 + 4096) + 42 * 1024 + 16 * 1024 + 2 * (1536 // 64) * 64 + 2 * 32768
    )
    assert reference_elements(quick) == 6 * per_function_dtype == 1_843_200
