"""Simulated arithmetic against exact rationals, the reference, and hand-derived values.

The exhaustive version (every unary input, every 8-bit pair, 10**7 random
16-bit pairs) is ``scripts/check_lowprec.py``; here a strided sample of it.
"""

import math
from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np
import pytest
from _format_oracle import oracle, same

import reference
from stable_softmax.formats import FORMATS
from stable_softmax.lowprec import Arithmetic
from stable_softmax.lowprec._tables import grid_values

NARROW = ["float16", "bfloat16", "float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz"]


def same_arrays(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    ok = (np.isnan(got) & np.isnan(want)) | ((got == want) & (np.signbit(got) == np.signbit(want)))
    return bool(ok.all()), np.flatnonzero(~ok)


def sample_values(name, stride):
    v = grid_values(FORMATS[name])[::stride]
    return np.concatenate([v, -v])


@pytest.mark.parametrize("name", NARROW)
def test_binary_ops_match_exact_rationals(name):
    # Fractions rounded by the parameter-free oracle; pairs drawn from the whole grid
    # and from nearby values (cancellation, ties).
    fmt, orc = FORMATS[name], oracle(name)
    rng = np.random.default_rng(11)
    grid = sample_values(name, 1)
    a = rng.choice(grid, 1500)
    b = np.concatenate([rng.choice(grid, 750), a[750:] * rng.choice([-1, 1], 750)])
    b[750:] = Arithmetic(name).round(b[750:] * (1 + rng.integers(-8, 9, 750) * fmt.eps))
    b = np.where(np.isfinite(b), b, a)  # rounding up past the largest value
    ops = {
        "add": lambda x, y: x + y,
        "sub": lambda x, y: x - y,
        "mul": lambda x, y: x * y,
        "div": lambda x, y: x / y,
    }
    ar = Arithmetic(name)
    for op, f in ops.items():
        got = getattr(ar, op)(a, b)
        for x, y, g in zip(a.tolist(), b.tolist(), got.tolist()):
            if op == "div" and y == 0:
                continue  # no rational; IEEE rules, checked below
            q = f(Fraction(x), Fraction(y))
            want = orc.round(q)
            if q == 0:  # the sign of an exact zero follows IEEE (float64 does it)
                want = math.copysign(0.0, f(x, y)) if fmt.signed_zero else 0.0
            assert same(g, want), (name, op, x, y, g, want)


def test_ties_and_subnormals_by_hand():
    f16 = Arithmetic("float16")
    # 1 + 2**-11 is the midpoint of 1 and 1 + 2**-10: to the even 1.
    # 1 + 3 * 2**-11 (from 1 + 2**-10 plus 2**-11) is a midpoint: to 1 + 2**-9.
    got = f16.add([1.0, 1 + 2**-10], [2.0**-11, 2.0**-11])
    np.testing.assert_array_equal(got, [1.0, 1 + 2**-9])
    # Subnormal products: 2**-14 * 2**-10 = 2**-24 (smallest subnormal) and
    # 2**-14 * 2**-11 = 2**-25, a tie between 0 (even) and 2**-24: 0.
    np.testing.assert_array_equal(f16.mul([2.0**-14] * 2, [2.0**-10, 2.0**-11]), [2.0**-24, 0.0])
    # 65504 + 16 = 65520 = the overflow midpoint, a tie to the even 2**16: inf.
    # 65504 + 8 rounds back to 65504.
    np.testing.assert_array_equal(f16.add([65504.0] * 2, [16.0, 8.0]), [np.inf, 65504.0])
    e4 = Arithmetic("float8_e4m3fn")
    # e4m3fn: 448 + 16 = 464 ties to 448 (even); 448 + 32 = 480 is NaN (no inf).
    got = e4.add([448.0, 448.0], [16.0, 32.0])
    assert got[0] == 448 and np.isnan(got[1])
    assert np.isnan(e4.div([1.0], [0.0])[0])  # 1/0 = inf -> NaN in e4m3fn
    # The NaN of an overflow keeps the sign, as ml_dtypes' astype does (0xFF below -464).
    assert np.signbit(e4.add([-448.0], [-32.0])[0]) and not np.signbit(got[1])
    fnuz = Arithmetic("float8_e4m3fnuz")
    assert not np.signbit(fnuz.mul([-(2.0**-10)], [2.0**-10])[0])  # no -0: +0


def test_exp_thresholds_float16_by_hand():
    # float16: largest 65504; the midpoint to 2**16 is 65520 and ties go to the even
    # 2**16 = inf, so exp(x) is inf iff x >= ln 65520 = 16 ln 2 + ln(1 - 2**-12)
    # = 11.0903549 - 0.0002442 = 11.0901107. Spacing in [8, 16) is 2**-7, so the last
    # finite result is at 11.0859375 (exp = 65250.1 -> 65248) and 11.09375 overflows.
    # exp(x) rounds to 0 iff exp(x) <= 2**-25 (half the least subnormal, a tie to 0):
    # x <= -25 ln 2 = -17.3286795. Spacing in [16, 32) is 2**-6: -17.328125 gives
    # 2**-25 e**0.000555 -> 2**-24 and -17.34375 gives 0.
    f16 = Arithmetic("float16")
    got = f16.exp([11.0859375, 11.09375, -17.328125, -17.34375])
    np.testing.assert_array_equal(got, [65248.0, np.inf, 2.0**-24, 0.0])
    # bfloat16 keeps float32's range: exp overflows iff x >= ln(2**128 - 2**119)
    # = 88.7228391 - 2**-9 ~ 88.7208; spacing in [64, 128) is 2**-1: 88.5 (exp =
    # 2.7e38 -> finite) and 89.0 (-> inf).
    bf = Arithmetic("bfloat16")
    got = bf.exp([88.5, 89.0])
    assert np.isfinite(got[0]) and got[1] == np.inf


@pytest.mark.parametrize("name", NARROW)
def test_unary_ops_strided_sample_against_reference(name):
    fmt = FORMATS[name]
    stride = 61 if fmt.dtype.itemsize == 2 else 1
    x = np.concatenate([sample_values(name, stride), [0.0, -0.0, 1.0, -1.0]])
    if fmt.has_inf:
        x = np.concatenate([x, [np.inf, -np.inf, np.nan]])
    ar = Arithmetic(name)
    ok, bad = same_arrays(ar.exp(x), reference.exp(x.astype(fmt.dtype)).astype(np.float64))
    assert ok, x[bad]
    for op in ("log", "log1p"):
        got = getattr(ar, op)(x)
        want = []
        for v in x.tolist():
            with mpmath.workprec(256):
                if v != v or (op == "log" and v < 0) or (op == "log1p" and v < -1):
                    w = math.nan
                elif v == 0 and op == "log1p":
                    w = v if fmt.signed_zero else 0.0
                else:
                    y = mpmath.log(v) if op == "log" else mpmath.log1p(v)
                    w = reference._rounding.round_mpf(y, fmt) if v not in (0, -1) else -math.inf
            if math.isinf(w) and not fmt.has_inf:
                w = math.nan  # the overflow of these formats (no saturating one here)
            want.append(w)
        ok, bad = same_arrays(got, want)
        assert ok, (op, x[bad])


# Stochastic rounding is unbiased: for N independent roundings of the same exact z
# between lo and hi, Hoeffding's inequality bounds
# P(|mean - z| >= t) <= 2 exp(-2 N t**2 / (hi - lo)**2). With N = 400000 and
# t = 0.0062 (hi - lo) the bound is 2 exp(-30.75) < 1e-13 per case, so the five
# cases below fail by chance with probability below 1e-12. A biased rounding is
# caught: round to nearest is off by min(f, 1 - f) (hi - lo) >= 0.125 (hi - lo) here.
SR_CASES = [
    ("bfloat16", "add", 1.0, 2.0**-10, Fraction(1) + Fraction(1, 2**10), 2.0**-7),
    ("float16", "div", 1.0, 3.0, Fraction(1, 3), 2.0**-12),
    ("float8_e4m3fn", "mul", 1.125, 1.125, Fraction(81, 64), 2.0**-3),
    ("float8_e5m2", "sub", 1.0, 2.0**-6, Fraction(63, 64), 2.0**-3),
    ("float16", "add", -1.0, -(2.0**-13), -Fraction(1) - Fraction(1, 2**13), 2.0**-10),
]


@pytest.mark.parametrize("name, op, a, b, exact, spacing", SR_CASES)
def test_stochastic_rounding_unbiased(name, op, a, b, exact, spacing):
    n = 400_000
    ar = Arithmetic(name, rounding="stochastic", seed=12345)
    got = getattr(ar, op)(np.full(n, a), np.full(n, b))
    values = np.unique(got)
    assert values.size == 2 and values[1] - values[0] == spacing  # the two neighbours
    assert values[0] < exact < values[1]
    mean_error = abs(Fraction(float(got.mean())) - exact)
    assert mean_error < Fraction(0.0062) * Fraction(spacing) + Fraction(2.0**-40)
    # round to nearest on the same input is biased by at least 1/8 of the spacing
    nearest = getattr(Arithmetic(name), op)([a], [b])[0]
    assert abs(Fraction(float(nearest)) - exact) >= Fraction(spacing) / 8


def test_stochastic_rounding_keeps_exact_results_and_repeats_with_seed():
    ar = Arithmetic("bfloat16", rounding="stochastic", seed=1)
    x = np.array([1.0, 3.0, 0.5, -2.0])
    np.testing.assert_array_equal(ar.add(x, x), 2 * x)  # exact sums never move
    np.testing.assert_array_equal(ar.exp([0.0, -0.0]), [1.0, 1.0])
    a = Arithmetic("float16", rounding="stochastic", seed=7).div(np.ones(50), np.full(50, 3.0))
    b = Arithmetic("float16", rounding="stochastic", seed=7).div(np.ones(50), np.full(50, 3.0))
    np.testing.assert_array_equal(a, b)


def test_clear_errors():
    with pytest.raises(ValueError, match="needs a seed"):
        Arithmetic("float16", rounding="stochastic")
    with pytest.raises(ValueError, match="rounding must be one of"):
        Arithmetic("float16", rounding="up")
    with pytest.raises(ValueError, match="at most 16 bits"):
        Arithmetic("float32")
    with pytest.raises(ValueError, match=r"not a float16 value; round it first"):
        Arithmetic("float16").add([0.1], [0.2])
    with pytest.raises(TypeError, match="pass one of"):
        Arithmetic("float7")
    # values of the format's own dtype are accepted as they are
    x = np.array([0.1, 0.2], ml_dtypes.bfloat16)
    assert Arithmetic("bfloat16").add(x, x).dtype == np.float64
