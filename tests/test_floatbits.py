"""The float-grid arithmetic against NumPy's own nextafter and a brute-force walk."""

import ml_dtypes
import numpy as np
import pytest

from stable_softmax import floatbits as fb

FORMATS = [
    np.float16,
    np.float32,
    np.float64,
    ml_dtypes.bfloat16,
    ml_dtypes.float8_e5m2,
    ml_dtypes.float6_e2m3fn,  # 6 bits in a byte: the sign is bit 5
    ml_dtypes.float4_e2m1fn,  # 4 bits in a byte: the sign is bit 3
]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_next_up_down_match_nextafter(dtype):
    rng = np.random.default_rng(1)
    tiny = float(np.finfo(dtype).smallest_subnormal)
    with np.errstate(over="ignore"):
        x = np.concatenate(
            [rng.standard_normal(2000) * 10.0 ** rng.integers(-30, 30, 2000), [0.0, -0.0, tiny]]
        ).astype(dtype)
    x = x[np.isfinite(x)]
    inf = dtype(np.inf)
    np.testing.assert_array_equal(fb.next_up(x), np.nextafter(x, inf))
    np.testing.assert_array_equal(fb.next_down(x), np.nextafter(x, -inf))


@pytest.mark.parametrize("dtype", FORMATS)
def test_ordinal_walk_visits_every_float_once(dtype):
    # Every bit pattern of a 1- or 2-byte format, sorted by value, must sit at
    # consecutive ordinals (both zeros sharing 0).
    if np.dtype(dtype).itemsize > 2:
        pytest.skip("exhaustive only for narrow formats")
    width = int(ml_dtypes.finfo(dtype).bits)
    values = fb.from_bits(np.arange(2**width, dtype=np.uint64), dtype)
    with np.errstate(invalid="ignore"):
        values = values[~np.isnan(values.astype(np.float64))]
    order = np.argsort(values.astype(np.float64), kind="stable")
    ordinals = fb.to_ordinal(values[order])
    steps = np.diff(ordinals)
    # one zero step: +0 and -0
    assert np.count_nonzero(steps == 0) == 1
    assert np.all((steps == 0) | (steps == 1))
    np.testing.assert_array_equal(
        fb.from_ordinal(ordinals, dtype).astype(np.float64), values[order].astype(np.float64)
    )


def test_ulp_distance_special_values():
    a = np.array([np.nan, np.nan, np.inf, np.inf, -0.0, 1.0, np.finfo(np.float32).max], np.float32)
    b = np.array([np.nan, 1.0, np.inf, -np.inf, 0.0, 1.0, np.inf], np.float32)
    np.testing.assert_array_equal(fb.ulp_distance(a, b), [0, np.inf, 0, np.inf, 0, 0, np.inf])


def test_ulp_distance_counts_steps_across_zero():
    # From -2 subnormal steps to +3 subnormal steps is 5 steps (zero counted once).
    tiny = np.float64(5e-324)
    assert fb.ulp_distance(np.float64(-2 * tiny), np.float64(3 * tiny)) == 5
    # Extremes of opposite signs: 2 * ordinal(max), exact in float64 after rounding.
    big = np.finfo(np.float64).max
    assert fb.ulp_distance(-big, big) == 2.0 * float(fb.to_ordinal(big))


def test_ulp_distance_rejects_mixed_dtypes():
    with pytest.raises(TypeError, match="same dtype"):
        fb.ulp_distance(np.float32(1), np.float64(1))


def test_first_true_finds_exp_overflow_threshold_float32():
    # float32 exp overflows above ln(max float32) = 88.7228391...: the first
    # float32 with exp(x) = inf is the one after the largest x with
    # exp(x) < max + half an ulp (NumPy's float32 exp, correctly rounded there).
    top = int(fb.to_ordinal(np.float32(np.inf)))
    with np.errstate(over="ignore"):
        o = fb.first_true(lambda o: bool(np.isinf(np.exp(fb.from_ordinal(o, np.float32)))), 0, top)
    t = float(fb.from_ordinal(o, np.float32))
    assert 88.72 < t < 88.73
    assert fb.first_true(lambda o: False, 0, 10) is None


def test_float4_ordinals_by_hand():
    # float4_e2m1fn has the 8 magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6 (OCP MX spec):
    # -1 is 2 steps below 0 and 1 is 2 above, so they are 4 ULPs apart.
    f4 = ml_dtypes.float4_e2m1fn
    np.testing.assert_array_equal(fb.to_ordinal(np.array([-1.0, 1.0, 6.0], f4)), [-2, 2, 7])
    assert fb.ulp_distance(np.array(-1.0, f4), np.array(1.0, f4)) == 4
