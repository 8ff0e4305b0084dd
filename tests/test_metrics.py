"""Error metrics: ULP distance on nextafter chains, classes, slice checks."""

import math

import numpy as np
import pytest

from stable_softmax.accuracy import metrics as m

TYPES = [np.float32, np.float64]


def chain(start, k, toward):
    """``k`` applications of np.nextafter from ``start`` toward ``toward``."""
    x = start
    for _ in range(k):
        x = np.nextafter(x, toward)
    return x


@pytest.mark.parametrize("t", TYPES)
class TestUlpDistance:
    def test_nextafter_chains(self, t):
        fi = np.finfo(t)
        starts = [t(1), t(-3.5), t(0), fi.smallest_subnormal, -fi.tiny, t(1e-30), fi.max / t(2)]
        for s in starts:
            for k in (1, 2, 7, 100):
                up = chain(s, k, t(np.inf))
                down = chain(s, k, t(-np.inf))
                assert m.ulp_distance(up, s) == k
                assert m.ulp_distance(s, down) == k
                assert m.ulp_distance(up, down) == 2 * k

    def test_across_zero_and_subnormal_boundary(self, t):
        fi = np.finfo(t)
        sub = fi.smallest_subnormal
        # -sub, 0, +sub: two steps, whichever zero is in between
        assert m.ulp_distance(-sub, sub) == 2
        assert m.ulp_distance(t(-0.0), t(0.0)) == 0
        assert m.ulp_distance(t(-0.0), sub) == 1
        # smallest normal is 2**(p-1) quanta above 0 (p = nmant + 1)
        assert m.ulp_distance(fi.tiny, t(0)) == 2**fi.nmant
        assert m.ulp_distance(fi.tiny, chain(fi.tiny, 3, t(0))) == 3
        assert m.ulp_distance(chain(fi.tiny, 5, t(np.inf)), chain(fi.tiny, 5, t(0))) == 10

    def test_to_max_and_extremes_exact(self, t):
        fi = np.finfo(t)
        assert m.ulp_distance(chain(fi.max, 4, t(0)), fi.max) == 4
        # +max to -max: 2 * (number of positive finite floats) = 2 * (2**(bits-1) - 2**nmant - 1)
        bits = 8 * np.dtype(t).itemsize
        positives = 2 ** (bits - 1) - 2**fi.nmant - 1
        assert m.ulp_distance(fi.max, -fi.max) == float(2 * positives)
        assert m.ulp_distance(t(1), t(2)) == 2**fi.nmant

    def test_specials(self, t):
        inf, nan = t(np.inf), t(np.nan)
        fi = np.finfo(t)
        r = np.array([nan, nan, 1, inf, -inf, inf, fi.max, inf, 0], dtype=t)
        ref = np.array([nan, 1, nan, inf, -inf, fi.max, inf, -inf, 0], dtype=t)
        np.testing.assert_array_equal(
            m.ulp_distance(r, ref), [0, np.inf, np.inf, 0, 0, np.inf, np.inf, np.inf, 0]
        )
        assert m.ulp_distance(r, ref).dtype == np.float64

    def test_bits_of_error(self, t):
        np.testing.assert_array_equal(
            m.bits_of_error([0, 1, 3, 2**20 - 1, np.inf]), [0, 1, 2, 20, np.inf]
        )


def test_dtype_rules():
    with pytest.raises(TypeError, match="both be float32 or both be float64"):
        m.ulp_distance(np.float32([1]), np.float64([1]))
    with pytest.raises(TypeError):
        m.classify(np.int64([1]), np.int64([1]))
    with pytest.raises(TypeError):
        m.ulp_distance(np.float16([1]), np.float16([1]))


@pytest.mark.parametrize("t", TYPES)
def test_classify(t):
    fi = np.finfo(t)
    nan, inf, sub, tiny = t(np.nan), t(np.inf), fi.smallest_subnormal, fi.tiny
    cases = [
        # (result, reference, class)
        (t(1), t(1), m.OK),
        (np.nextafter(t(1), t(2)), t(1), m.OK),  # inaccurate, but neither class
        (nan, nan, m.OK),
        (inf, inf, m.OK),
        (t(0), t(0), m.OK),
        (t(1e-3), t(0), m.OK),  # reference zero: an ulp question
        (sub, sub, m.OK),  # a subnormal reference reproduced exactly
        (fi.max, inf, m.OK),  # finite where the reference overflowed: inf ulps, not a class
        (nan, t(0.5), m.OVERFLOW),  # NaN where the exact value is finite: overflow by cause
        (nan, inf, m.NAN),
        (nan, -inf, m.NAN),
        (inf, t(3), m.OVERFLOW),
        (-inf, -fi.max, m.OVERFLOW),
        (-inf, inf, m.OVERFLOW),
        (t(0), sub, m.UNDERFLOW),
        (t(-0.0), t(-1e-5), m.UNDERFLOW),
        (2 * sub, 3 * sub, m.UNDERFLOW),  # subnormal result lost a bit
        (np.nextafter(tiny, t(0)), tiny, m.UNDERFLOW),  # reference normal, result subnormal
        (tiny, np.nextafter(tiny, t(0)), m.UNDERFLOW),  # reference subnormal, result off
        (np.nextafter(tiny, t(1)), tiny, m.OK),  # both normal
    ]
    r = np.array([c[0] for c in cases], dtype=t)
    ref = np.array([c[1] for c in cases], dtype=t)
    got = m.classify(r, ref)
    np.testing.assert_array_equal(got, [c[2] for c in cases])
    inf_mask, nan_mask = m.nonfinite_split(r, ref)
    np.testing.assert_array_equal(np.flatnonzero(nan_mask), [8])  # the NaN for 0.5
    np.testing.assert_array_equal(np.flatnonzero(inf_mask), [11, 12, 13])
    assert [m.CLASS_NAMES[c] for c in (m.OK, m.OVERFLOW, m.UNDERFLOW, m.NAN)] == [
        "ok",
        "overflow",
        "underflow",
        "nan",
    ]


def test_sum_deviation_eps():
    # float32: 3 * float32(1/3) = 1 + 2**-25 exactly (0x3EAAAAAB * 3), i.e. eps/4.
    p32 = np.full((2, 3), np.float32(1) / np.float32(3))
    np.testing.assert_array_equal(m.sum_deviation_eps(p32), [0.25, 0.25])
    # float64: 0.1 * 10 summed exactly is 1 + 2**-54 * 10 * ... : compare with Fraction
    from fractions import Fraction

    p = np.full(10, 0.1)
    exact = abs(sum(Fraction(v) for v in p) - 1) / Fraction(np.finfo(np.float64).eps)
    assert m.sum_deviation_eps(p) == float(exact)
    # naive summation would give a different answer here: the metric is exact
    assert m.sum_deviation_eps(np.array([1.0, 1e-17, -1e-17, 1e-16])) == pytest.approx(
        1e-16 / 2**-52, rel=1e-15
    )
    assert m.sum_deviation_eps(np.array([0.5, 0.5])) == 0.0
    assert np.isnan(m.sum_deviation_eps(np.array([np.nan, 1.0])))
    # axis forms
    q = np.array([[0.25, 0.5], [0.25, 0.5]])
    np.testing.assert_array_equal(m.sum_deviation_eps(q, axis=0), [0.5 / 2**-52, 0.0])
    assert m.sum_deviation_eps(q, axis=None) == 0.5 / 2**-52
    assert m.sum_deviation_eps(q, axis=(0, 1)).shape == ()


def test_argmax_kept():
    ref = np.array([[0.1, 0.7, 0.2], [0.4, 0.2, 0.4], [0.3, 0.3, 0.4], [np.nan, np.nan, np.nan]])
    res = np.array([[0.1, 0.69, 0.2], [0.3, 0.2, 0.5], [0.5, 0.3, 0.2], [np.nan, np.nan, np.nan]])
    np.testing.assert_array_equal(m.argmax_kept(res, ref), [True, True, False, True])
    # NaN in the result loses the argmax
    assert not m.argmax_kept(np.array([0.1, np.nan]), np.array([0.2, 0.1]))
    # NaN at the reference maximum is still a lost argmax.
    assert not m.argmax_kept(np.array([np.nan, np.nan]), np.array([0.7, 0.3]))
    # ties in the result: np.argmax takes the first, which must be a reference maximum
    assert m.argmax_kept(np.array([0.5, 0.5]), np.array([0.4, 0.6])) == False  # noqa: E712
    assert m.argmax_kept(ref.T, ref.T, axis=0).all()
    assert m.argmax_kept(ref[:3], ref[:3], axis=None).shape == ()


def test_float64_distance_is_exact_beyond_int64():
    # +max and -max are 2 * 0x7FEFFFFFFFFFFFFF apart: more than int64 holds.
    d = m.ulp_distance(np.float64(np.finfo(np.float64).max), -np.finfo(np.float64).max)
    assert d == float(2 * 0x7FEFFFFFFFFFFFFF)
    assert math.isfinite(d)
