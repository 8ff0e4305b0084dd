"""Kernel-level checks: where naive overflows, and calls from user @njit code."""

from __future__ import annotations

import mpmath
import numba
import numpy as np
import pytest
from numba import njit, prange

import stable_softmax as ss
from stable_softmax import jit


def _first_float_above_log_max(dtype):
    """The smallest float of ``dtype`` above ln(max finite), from mpmath at 200 digits."""
    with mpmath.workdps(200):
        log_max = mpmath.log(mpmath.mpf(float(np.finfo(dtype).max)))
        below = dtype(float(log_max))  # within one ulp of ln(max); fix the side below
        while mpmath.mpf(float(below)) > log_max:
            below = np.nextafter(below, dtype(0))
        while mpmath.mpf(float(np.nextafter(below, dtype(np.inf)))) <= log_max:
            below = np.nextafter(below, dtype(np.inf))
    return below, np.nextafter(below, dtype(np.inf))


@pytest.mark.parametrize("dtype,known", [(np.float32, 88.72283), (np.float64, 709.7827)])
def test_naive_softmax_overflows_exactly_above_log_max(dtype, known):
    below, above = _first_float_above_log_max(dtype)
    assert below < known + 1e-4 < above + 1e-3  # the brief's decimal thresholds
    ok = ss.softmax(np.array([below, 0.0], dtype=dtype), method="naive")
    assert np.all(np.isfinite(ok)) and ok[0] > 0.99
    broken = ss.softmax(np.array([above, 0.0], dtype=dtype), method="naive")
    assert np.isnan(broken[0])
    for method in ("shifted", "lse"):
        for top in (above, dtype(1e30), np.finfo(dtype).max):
            p = ss.softmax(np.array([top, 0.0], dtype=dtype), method=method)
            # exp(-top) is at most a subnormal: the first output rounds to 1.
            assert p[0] == 1.0 and 0.0 <= p[1] < np.finfo(dtype).smallest_normal
    assert ss.logsumexp(np.array([above, 0.0], dtype=dtype), method="naive") == np.inf
    assert np.isfinite(ss.logsumexp(np.array([above, 0.0], dtype=dtype), method="shifted"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_naive_softmax_underflows_to_nan_when_every_term_vanishes(dtype):
    # exp(x) is 0 for x below the subnormal range (-103.97 in float32,
    # -745.13 in float64): the naive quotient becomes 0 / 0.
    x = np.array([-800.0, -801.0], dtype=dtype) * (1 if dtype == np.float64 else 0.2)
    assert np.all(np.isnan(ss.softmax(x, method="naive")))
    assert np.all(np.isfinite(ss.softmax(x, method="shifted")))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_kernels_stay_float32(dtype):
    # 1 + 2^-30 rounds to 1 in float32 but not in float64: a kernel promoting
    # float32 to float64 inside would see two different logits here.
    x = np.array([1.0 + 2.0**-30, 1.0], dtype=np.float64).astype(dtype)
    p = ss.softmax(x)
    assert p.dtype == dtype
    if dtype == np.float32:
        assert p[0] == p[1] == np.float32(0.5)
    else:
        assert p[0] > p[1]


def _row_kernels():
    for function, methods in ss.METHODS.items():
        for method in methods:
            yield function, method


@njit(parallel=True)
def _user_rows(kernel, x, out, beta):
    for r in prange(x.shape[0]):
        kernel(x[r], out[r], beta)


@njit(parallel=True)
def _user_lse_rows(kernel, x, out, beta):
    for r in prange(x.shape[0]):
        out[r] = kernel(x[r], beta)


@njit
def _user_table(kernel, x, out, beta, method_id):
    kernel(x, out, beta, method_id)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("function,method", list(_row_kernels()))
def test_jit_kernels_from_user_parallel_code(function, method, dtype):
    x = np.random.default_rng(8).normal(0, 3, (64, 37)).astype(dtype)
    x[3, 5] = -np.inf
    beta = 1.5
    expected = getattr(ss, function)(x, method=method, beta=beta)
    row_kernel = getattr(jit, f"{function}_{method}_row")
    method_id = jit.METHOD_IDS[method]
    shape = x.shape[:1] if function == "logsumexp" else x.shape
    out = np.empty(shape, dtype)
    (_user_lse_rows if function == "logsumexp" else _user_rows)(row_kernel, x, out, beta)
    np.testing.assert_array_equal(out, expected)
    for table in ("rows", "rows_parallel"):
        out = np.empty(shape, dtype)
        _user_table(getattr(jit, f"{function}_{table}"), x, out, beta, method_id)
        np.testing.assert_array_equal(out, expected)


def test_jit_module_exports_every_method():
    names = {f"{f}_{m}_row" for f, ms in ss.METHODS.items() for m in ms}
    names |= {f"{f}_{table}" for f in ss.METHODS for table in ("rows", "rows_parallel")}
    assert names <= set(jit.__all__)
    for function, methods in ss.METHODS.items():
        assert getattr(jit, f"{function.upper()}_METHODS") == methods


GUARDED = [(f, m) for f, ms in ss.METHODS.items() for m in ms if m != "naive"]


def _call(function, method, x):
    return getattr(ss, function)(x, method=method)


@pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2,
    reason="Numba has one thread here: the parallel paths would compare serial with serial",
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("function,method", list(_row_kernels()))
@pytest.mark.parametrize("shape", [(64, 2500), (1, (1 << 17) + 4099)])
def test_threads_give_the_serial_bits(function, method, dtype, shape):
    # Rows are independent and split rows combine their blocks in the serial
    # order, so 1 and 2 threads must agree to the last bit.
    x = np.random.default_rng(9).normal(0, 5, shape).astype(dtype)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = _call(function, method, x)
        numba.set_num_threads(2)
        parallel = _call(function, method, x)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(parallel, serial)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("function,method", GUARDED)
@pytest.mark.parametrize("where", [0, 5000, 9000])
def test_special_values_in_long_rows(function, method, dtype, where):
    # Rows longer than a block (4096) exercise the blocked and online merges:
    # a special value in the first, a middle or the last block.
    n = 9001
    base = np.random.default_rng(10).normal(0, 2, n).astype(dtype)
    f = getattr(ss, function)

    # NaN with either sign bit: the maximum is taken on integer keys where a
    # NaN sorts above +inf or below -inf, and both must poison the row.
    for nan in (np.float64(np.nan), -np.float64(np.nan)):
        x = base.copy()
        x[where] = nan
        assert np.signbit(x[where]) == np.signbit(nan)
        assert np.all(np.isnan(f(x, method=method)))

    x = base.copy()
    x[where] = np.inf
    got = f(x, method=method)
    if function == "softmax":
        assert np.all(np.isnan(got))
    elif function == "log_softmax":
        assert np.isnan(got[where]) and np.all(np.delete(got, where) == -np.inf)
    else:
        assert got == np.inf

    # A whole block of -inf among finite values: those outputs are exactly
    # 0 / -inf and the rest is the result of the finite part alone.
    x = base.copy()
    x[4096:8192] = -np.inf
    got = f(x, method=method)
    finite = np.delete(x, np.s_[4096:8192])
    expected_rest = f(finite, method=method)
    if function == "logsumexp":
        assert got == expected_rest
    else:
        assert np.all(got[4096:8192] == (0.0 if function == "softmax" else -np.inf))
        np.testing.assert_array_equal(np.delete(got, np.s_[4096:8192]), expected_rest)

    # NaN hidden in a block that is otherwise all -inf still poisons the row.
    x[6000] = np.nan
    assert np.all(np.isnan(f(x, method=method)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [100, 3 * 4096 + 5])
def test_negative_scale_from_jit_code(dtype, n):
    # The public functions require beta > 0; jit callers may pass c < 0 (a
    # softmin). Then c (x - max) >= 0, and the kernels must take the exp with
    # its overflow clamp, not the variant for nonpositive arguments.
    import reference
    from stable_softmax.accuracy.metrics import ulp_distance

    x = np.random.default_rng(11).normal(0, 2, n).astype(dtype)
    out = np.empty_like(x)
    jit.softmax_shifted_row(x, out, -1.0)
    want = reference.softmax(-x.astype(np.float64), dtype=dtype)
    spread = float(x.max() - x.min())
    # Blanchard, Higham & Higham (2021): relative error <= (n + 2 + 2 spread) u <= that many ULPs.
    assert ulp_distance(out, want).max() <= n + 2 + 2 * spread


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 1000, 2048, 2049])
def test_rows_whose_maximum_comes_from_the_row_before(n, threads):
    """float32 shifted softmax finds a row's maximum in the division pass of the row
    before (rows up to FUSED_MAX_ROW32). Special rows (NaN, +inf, all -inf) between
    ordinary ones, first and last included, must give each row's own result: the
    special-value table (all NaN; -inf among finite values exactly 0) and, for the
    ordinary rows, the bits of the same row computed alone. The largest entries sit
    at the ends of some rows (the vector part and the scalar rest of the fused loop).
    """
    rng = np.random.default_rng(n)
    rows = 12
    x = (rng.standard_normal((rows, n)) * 4).astype(np.float32)
    x[1, -1] = 40.0  # the maximum in the scalar rest (n % 16 elements)
    x[2, 0] = 40.0
    specials = {0: np.nan, 3: np.inf, 4: -np.inf, 7: np.nan, rows - 1: np.inf}
    for r, value in specials.items():
        if value == -np.inf:
            x[r] = -np.inf
        else:
            x[r, rng.integers(n)] = value
    if n > 1:
        x[5, : n // 2] = -np.inf  # -inf among finite values
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        whole = ss.softmax(x)
        for r in range(rows):
            alone = ss.softmax(x[r])  # one row: no row before it
            if r in specials:
                assert np.all(np.isnan(whole[r])), r
                continue
            np.testing.assert_array_equal(whole[r], alone)
            row = x[r].astype(np.float64)
            expected = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
            np.testing.assert_allclose(whole[r], expected, rtol=1e-5, atol=0)
            if r == 5 and n > 1:
                assert np.all(whole[r, : n // 2] == 0.0)
    finally:
        numba.set_num_threads(previous)
