"""The format table against NumPy/ml_dtypes, and the reference in every format.

Expected values come from ``np.finfo``/``ml_dtypes.finfo``, from ml_dtypes'
own conversions, from exact rationals rounded by the parameter-free oracle of
``tests/_format_oracle.py``, and from thresholds worked out by hand below.
"""

import math
from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np
import pytest
from _format_oracle import oracle, same

import reference
from stable_softmax.formats import FORMATS, format_of

LOW = ["float16", "bfloat16", "float8_e5m2", "float8_e4m3fn"]


@pytest.mark.parametrize("name", list(FORMATS))
def test_table_matches_finfo(name):
    fmt = FORMATS[name]
    info = np.finfo(fmt.dtype) if fmt.module == "numpy" else ml_dtypes.finfo(fmt.dtype)
    assert fmt.dtype.name == name
    assert fmt.precision == info.nmant + 1
    assert fmt.largest == float(info.max)
    assert fmt.smallest_normal == float(info.tiny)
    assert fmt.smallest_subnormal == float(info.smallest_subnormal)
    assert fmt.eps == float(info.eps)
    assert fmt.emax == info.maxexp - 1
    assert fmt.unit_roundoff == fmt.eps / 2


def test_overflow_rules_match_ml_dtypes():
    # inf, NaN or saturation: what ml_dtypes makes of a huge float64.
    with np.errstate(over="ignore"):
        for fmt in FORMATS.values():
            big = float(np.array([1e300, np.inf])[fmt.emax > 1000 :].astype(fmt.dtype)[0])
            expected = {"inf": math.inf, "saturate": fmt.largest}.get(fmt.overflow, math.nan)
            assert same(big, expected), fmt.name
    # float8_e4m3fn: 448 is the largest, 464 the midpoint to the (NaN) 480; the tie
    # goes to the even significand, 448.
    e4 = FORMATS["float8_e4m3fn"]
    assert e4.overflow_threshold == 464
    x = np.array([448.0, 464.0, 464.0 + 2**-40, -464.0 - 2**-40])
    got = x.astype(e4.dtype).astype(np.float64)
    assert got[0] == got[1] == 448 and np.isnan(got[2]) and np.isnan(got[3])


def test_ml_dtypes_converts_float64_without_double_rounding():
    # 1 + 2**-4 + 2**-40 is just above the float8_e4m3fn midpoint 1 + 2**-4; through
    # float32 it would become the midpoint and round to 1. ml_dtypes converts float64
    # directly (the test oracles rely on it).
    v = np.array([1 + 2**-4 + 2**-40])
    assert v.astype(ml_dtypes.float8_e4m3fn).astype(np.float64)[0] == 1.125
    assert v.astype(np.float32).astype(ml_dtypes.float8_e4m3fn).astype(np.float64)[0] == 1.0


def test_format_of_accepts_names_dtypes_and_types():
    assert format_of("bfloat16") is FORMATS["bfloat16"]
    assert format_of(np.float16) is FORMATS["float16"]
    assert format_of(np.dtype(ml_dtypes.float8_e4m3fn)) is FORMATS["float8_e4m3fn"]
    with pytest.raises(TypeError, match="pass one of float64, float32, float16, bfloat16"):
        format_of("float128")


@pytest.mark.parametrize("name", LOW)
def test_reference_base2_softmax_is_exact_rational_rounded_once(name):
    # With base 2 and integer logits, softmax_j = 2**x_j / sum_k 2**x_k is rational:
    # the reference must agree bit for bit with the oracle's rounding of it.
    fmt, orc = FORMATS[name], oracle(name)
    rng = np.random.default_rng(3)
    for _ in range(25):
        n = int(rng.integers(2, 7))
        x = rng.integers(-12, 4, n).astype(np.float64)
        total = sum(Fraction(2) ** int(v) for v in x)
        exact = [Fraction(2) ** int(v) / total for v in x]
        if any(orc.is_midpoint(q) for q in exact):
            continue  # a true tie: the reference refuses to guess (PrecisionLimitError)
        got = reference.softmax(x, base=2.0, dtype=name)
        assert got.dtype == fmt.dtype
        for g, q in zip(got.astype(np.float64), exact):
            assert same(float(g), orc.round(q)), (name, x, q)


@pytest.mark.parametrize("name", LOW)
def test_reference_exp_matches_high_precision_oracle(name):
    # exp at 600 bits, as an exact Fraction, rounded by the oracle: unless exp(x)
    # lies within 2**-590 of a midpoint (it never does for these x), this is the
    # correctly rounded value.
    fmt, orc = FORMATS[name], oracle(name)
    stride = max(1, len(orc.values) // 400)
    xs = np.array([float(v) for v in orc.values[::stride]])
    xs = np.concatenate([xs, -xs])
    got = reference.exp(xs.astype(fmt.dtype)).astype(np.float64)
    for x, g in zip(xs.tolist(), got.tolist()):
        if abs(x) > 200:  # exp(x) > 2**288 or < 2**-288: beyond every narrow format
            assert same(g, orc.round(Fraction(2) ** (300 if x > 0 else -300))), x
            continue
        with mpmath.workprec(600):
            e = mpmath.exp(mpmath.mpf(x))
        man, exp = e.man_exp
        assert same(g, orc.round(Fraction(man) * Fraction(2) ** exp)), x


def test_reference_float16_exp_thresholds_by_hand():
    # float16: largest 65504 = (2**11 - 1) * 2**5; the midpoint to 2**16 is 65520, a
    # tie that goes to the even 2**16, i.e. inf. exp(x) overflows iff
    # x >= ln 65520 = 16 ln 2 + ln(1 - 2**-12) = 11.0903549 - 0.0002442 = 11.0901107.
    # float16 spacing in [8, 16) is 2**-7: the neighbours are 11.0859375 (exp =
    # 65250.1 -> 65248) and 11.09375 (exp = 65766.6 -> inf).
    # Underflow: half the smallest subnormal is 2**-25; exp(x) rounds to 0 iff
    # x <= ln 2**-25 = -17.3286795 (the tie goes to the even 0). Spacing in [16, 32)
    # is 2**-6: -17.328125 (exp = 2**-25 * e**0.00055 -> 2**-24) and -17.34375 (-> 0).
    x = np.array([11.0859375, 11.09375, -17.328125, -17.34375], np.float16)
    got = reference.exp(x)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, np.array([65248, np.inf, 2.0**-24, 0], np.float16))


def test_reference_float8_e4m3fn_overflow_is_nan():
    # e4m3fn: exp(x) > 464 is NaN (no inf); ln 464 = 6.13988..., spacing in [4, 8) is
    # 2**-1 -> 6.0 (exp = 403.4 -> 416) and 6.5 (exp = 665.1 -> NaN).
    got = reference.exp(np.array([6.0, 6.5], ml_dtypes.float8_e4m3fn)).astype(np.float64)
    assert got[0] == 416 and np.isnan(got[1])
    sm = reference.softmax(np.array([0.0, 0.0, 0.0], ml_dtypes.float8_e4m3fn))
    # 1/3: in [0.25, 0.5) the spacing is 2**-2 * 2**-3 = 2**-5: 0.3125 and 0.34375;
    # 0.34375 - 1/3 = 0.0104 < 1/3 - 0.3125 = 0.0208: 0.34375.
    np.testing.assert_array_equal(sm.astype(np.float64), [0.34375] * 3)


def test_reference_cache_keys_distinguish_formats_of_one_byte():
    # float8_e4m3fn and float8_e5m2 share a 1-byte dtype string; results must not mix.
    x = np.array([0.0, -1.0, -2.0])
    a = reference.softmax(x, dtype="float8_e4m3fn").astype(np.float64)
    b = reference.softmax(x, dtype="float8_e5m2").astype(np.float64)
    # 0.665241 -> e4m3fn spacing 2**-4: 0.6875; e5m2 spacing 2**-3: 0.625.
    assert a[0] == 0.6875 and b[0] == 0.625
