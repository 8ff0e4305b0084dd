"""The division pass of softmax: correctly rounded quotients, checked against IEEE division.

NumPy's ``a / s`` is the correctly rounded quotient (IEEE 754), computed
without the kernels, so every path must give its bits exactly.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from stable_softmax.kernels.division import (
    _divide_once_corrected,
    _divide_twice_corrected,
    divide_by_sum,
)

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
UINT = {F32: np.uint32, F64: np.uint64}
# Smallest term for which the FMA paths are exact, relative to s (module docstring).
GUARD = {F32: 2.0**-100, F64: 2.0**-960}
BITS = {F32: 24, F64: 53}


def reciprocal_error(s, dtype) -> Fraction:
    """``e = 1 - s RN(1/s)`` exactly, with ``RN(1/s)`` from IEEE division."""
    y = dtype.type(1) / dtype.type(s)
    return 1 - Fraction(float(s)) * Fraction(float(y))


def divisors(dtype, rng, count=40):
    """Sums of softmax terms (>= 1) of both kinds (|e| below and above u/4).

    Includes divisors with an all-ones significand.
    """
    s = rng.uniform(1, 2, count).tolist() + np.exp(rng.uniform(0, 30, count)).tolist()
    bits = BITS[dtype]
    all_ones = [(2.0 - 2.0 ** (1 - bits)) * 2.0**k for k in range(0, 20, 3)]
    return np.array(s + all_ones + [1.0, 3.0], dtype)


def terms(dtype, s, rng, n=20_000):
    """Softmax-like terms in (0, 1]: log-uniform down to the guard, plus edges and zeros."""
    lo = np.log2(GUARD[dtype] * float(s))
    a = np.exp2(rng.uniform(lo, 0, n)).astype(dtype)
    edges = np.array([1.0, 0.5, np.nextafter(1.0, 0), np.nextafter(0.5, 1), 0.0], dtype)
    # significands adjacent to the quotient's rounding boundaries: a = s * (q +- ulp/2)
    q = rng.uniform(0.25, 1, 200).astype(dtype)
    near = (q.astype(np.float64) * float(s)).astype(dtype)
    near = near[near <= 1]
    return np.concatenate([a, edges, near, np.nextafter(near, dtype.type(0))])


def assert_same_bits(got, want, dtype):
    bad = got.view(UINT[dtype]) != want.view(UINT[dtype])
    assert not bad.any(), f"{bad.sum()} quotients differ, e.g. {got[bad][:3]} vs {want[bad][:3]}"


@pytest.mark.parametrize("dtype", [F32, F64])
def test_one_correction_is_correctly_rounded_when_the_reciprocal_is_close(dtype):
    rng = np.random.default_rng(1)
    quarter_u = Fraction(1, 2 ** (BITS[dtype] + 2))
    used = 0
    for s in divisors(dtype, rng):
        if abs(reciprocal_error(s, dtype)) >= quarter_u:
            continue
        used += 1
        a = terms(dtype, s, rng)
        got = a.copy()
        _divide_once_corrected(got, s, dtype.type(1) / s)
        assert_same_bits(got, a / s, dtype)
    assert used >= 10  # about half of all divisors qualify


@pytest.mark.parametrize("dtype", [F32, F64])
def test_two_corrections_are_correctly_rounded_for_every_divisor(dtype):
    rng = np.random.default_rng(2)
    far = 0
    for s in divisors(dtype, rng):
        far += abs(reciprocal_error(s, dtype)) >= Fraction(1, 2 ** (BITS[dtype] + 2))
        a = terms(dtype, s, rng)
        got = a.copy()
        _divide_twice_corrected(got, s, dtype.type(1) / s)
        assert_same_bits(got, a / s, dtype)
    assert far >= 10  # the divisors that need the second step are covered


@pytest.mark.parametrize("dtype", [F32, F64])
def test_divide_by_sum_matches_division_on_every_path(dtype):
    rng = np.random.default_rng(3)
    tiny = np.array([GUARD[dtype] / 4, np.finfo(dtype).smallest_subnormal, 0.0], dtype)
    for s in divisors(dtype, rng, count=5):
        a = terms(dtype, s, rng, n=2_000)
        for row in (a, np.concatenate([a, tiny])):  # the second one takes the division fallback
            positive = row[row > 0]
            got = row.copy()
            divide_by_sum(got, s, positive.min())
            assert_same_bits(got, row / s, dtype)
    nan = np.full(3, np.nan, dtype)
    got = np.array([0.5, 1.0, 0.0], dtype)
    divide_by_sum(got, dtype.type(np.nan), dtype.type(0.5))
    assert_same_bits(got, nan, dtype)
