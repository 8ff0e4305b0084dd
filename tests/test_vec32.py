"""The 16-lane float32 loops of ``stable_softmax.kernels._vec32`` (through the whole
passes of ``_passes32``) against independent results.

Expected values: the exponential from the scalar kernel ``exp_array`` (the same
arithmetic, compiled by LLVM's own vectorizer), bit for bit; the sum from a
NumPy emulation of the documented order (two 16-lane accumulators over pairs of
vectors, a leftover vector into the first, the two added, the lanes halved
pairwise, then the scalar rest in order), in float32, bit for bit; the maximum
from ``np.nanmax``.
"""

import numpy as np
import pytest
from numba import njit

from stable_softmax.kernels._passes32 import (
    block_exp_store_sum32,
    block_exp_sum32,
    block_max32,
    divide_all_max32,
)
from stable_softmax.kernels.exp import exp_array

LENGTHS = [0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 100, 4096, 4099]


@njit
def _store_sum(x, out, c, m, nonpositive):
    return block_exp_store_sum32(x, out, c, m, nonpositive)


@njit
def _sum(x, c, m):
    return block_exp_sum32(x, c, m)


@njit
def _max(x):
    return block_max32(x)


@njit
def _divide_max(out, s, y):
    return divide_all_max32(out, s, y)


def _emulated_sum(terms):
    f = np.float32
    n = terms.size
    whole = n // 16
    acc = [np.zeros(16, f), np.zeros(16, f)]
    pairs = whole // 2
    for p in range(pairs):
        for u in range(2):
            acc[u] = acc[u] + terms[(2 * p + u) * 16 : (2 * p + u + 1) * 16]
    if whole % 2:
        acc[0] = acc[0] + terms[(whole - 1) * 16 : whole * 16]
    v = acc[0] + acc[1]
    while v.size > 1:
        v = v[: v.size // 2] + v[v.size // 2 :]
    total = f(v[0])
    for t in terms[whole * 16 :]:
        total = f(total + t)
    return total


def _row(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 6.0, n).astype(np.float32)
    if n > 40:  # thresholds of the exp and special values inside the vector part
        x[3] = -np.inf
        x[5] = -110.0
        x[7] = -87.5
    return x


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("c", [1.0, 0.25, -0.5])
def test_exp_store_sum_bits(n, c):
    x = _row(n, n)
    c = np.float32(c)
    # c < 0: m the smallest finite element, so that large terms (and +inf) occur
    m = np.float32(x.max() if c > 0 else x[np.isfinite(x)].min()) if n else np.float32(0.0)
    t = (c * (x - m)).astype(np.float32)
    want = np.empty_like(t)
    exp_array(t, want)
    for nonpositive in {True, False} if c > 0 else {False}:
        out = np.full_like(x, np.nan)
        total = _store_sum(x, out, c, m, nonpositive)
        np.testing.assert_array_equal(out.view(np.int32), want.view(np.int32))
        assert np.float32(total).view(np.int32) == _emulated_sum(want).view(np.int32)
    assert np.float32(_sum(x, c, m)).view(np.int32) == _emulated_sum(want).view(np.int32)


@pytest.mark.parametrize("n", LENGTHS)
def test_in_place_same_bits(n):
    x = _row(n, 100 + n)
    m = np.float32(x.max()) if n else np.float32(0.0)
    out = np.empty_like(x)
    total = _store_sum(x, out, np.float32(1.0), m, True)
    y = x.copy()
    total_in_place = _store_sum(y, y, np.float32(1.0), m, True)
    np.testing.assert_array_equal(y.view(np.int32), out.view(np.int32))
    assert total == total_in_place


@pytest.mark.parametrize("n", LENGTHS)
def test_max(n):
    x = _row(n, 200 + n)
    assert _max(x) == (x.max() if n else -np.inf)
    if n > 40:
        x[20] = np.nan  # ignored: the sum of exponentials carries it
        x[n - 1] = np.nan
        assert _max(x) == np.nanmax(x)
        x[:] = -np.inf
        assert _max(x) == -np.inf
        x[9] = np.inf
        assert _max(x) == np.inf


@pytest.mark.parametrize("n", LENGTHS)
def test_divide_fused_with_the_next_rows_maximum(n):
    """The quotients are NumPy's float32 division (correctly rounded) and the
    maximum is that of the other row, NaN ignored as in :func:`block_max32`.
    """
    out, y = _row(n, 300 + n), _row(n, 400 + n)
    s = np.float32(3.7)
    expected = out / s
    if n > 40:
        y[n - 1] = np.nan
        y[n - 2] = 99.0  # in the scalar rest when n % 16 > 1
    assert _divide_max(out, s, y) == (np.nanmax(y) if n else -np.inf)
    np.testing.assert_array_equal(out, expected)


def test_long_rows_recompute_with_the_same_bits():
    """Rows of ``LONG_ROW32`` elements or more recompute the exponentials in the division
    pass; the split kernel stores them and divides: the same bits, in place too.
    """
    from stable_softmax.kernels.softmax import (
        LONG_ROW32,
        softmax_shifted_row,
        softmax_shifted_split,
    )

    x = np.random.default_rng(7).normal(0.0, 4.0, LONG_ROW32 + 5).astype(np.float32)
    x[11] = -np.inf
    want = np.empty_like(x)
    softmax_shifted_split(x, want, 1.0)
    got = np.empty_like(x)
    softmax_shifted_row(x, got, 1.0)
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))
    softmax_shifted_row(x, x, 1.0)
    np.testing.assert_array_equal(x.view(np.int32), want.view(np.int32))
