"""Round-to-nearest-even of exact binary numbers, on hand-built hard cases.

Inputs are built exactly from integers and exponents;
expected floats come from ``math.ldexp`` of integers, ``np.finfo`` and
``np.nextafter``, never from the code under test.
"""

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from _format_oracle import oracle, same
from mpmath import libmp

from reference._rounding import FLOAT32, FLOAT64, round_mpf, round_rational, round_within
from stable_softmax.formats import FORMATS as FMT_TABLE


def mpf2(man, exp):
    """The exact number man * 2**exp.

    ``mpmath.mpf((man, exp))`` would round to the context's 53 bits, so the
    raw value is built with ``from_man_exp`` (exact when prec is 0).
    """
    return mpmath.mp.make_mpf(libmp.from_man_exp(man, exp))


FORMATS = [(FLOAT32, np.float32, 24, -149), (FLOAT64, np.float64, 53, -1074)]


@pytest.mark.parametrize("fmt, t, p, qmin", FORMATS)
class TestHandBuilt:
    def test_ties_to_even_both_directions(self, fmt, t, p, qmin):
        # 1 + 2**-p is halfway between 1 (even) and 1 + 2**(1-p) (odd): down.
        assert round_mpf(mpf2(2**p + 1, -p), fmt) == 1.0
        # 1 + 3*2**-p is halfway between 1 + 2**(1-p) (odd) and 1 + 2**(2-p): up.
        assert round_mpf(mpf2(2**p + 3, -p), fmt) == math.ldexp(2 ** (p - 1) + 2, 1 - p)
        # Just off the ties, the nearer neighbour wins.
        assert round_mpf(mpf2(2 ** (p + 8) + 2**8 + 1, -p - 8), fmt) == math.ldexp(
            2 ** (p - 1) + 1, 1 - p
        )
        assert round_mpf(mpf2(2 ** (p + 8) + 2**8 - 1, -p - 8), fmt) == 1.0

    def test_negative_values_mirror(self, fmt, t, p, qmin):
        assert round_mpf(mpf2(-(2**p + 1), -p), fmt) == -1.0
        assert round_mpf(mpf2(-(2**p + 3), -p), fmt) == -math.ldexp(2 ** (p - 1) + 2, 1 - p)
        assert round_mpf(mpf2(-1, qmin - 1), fmt) == 0.0
        assert math.copysign(1.0, round_mpf(mpf2(-1, qmin - 1), fmt)) == -1.0  # -0
        assert round_mpf(mpf2(-1, 10**6), fmt) == -math.inf

    def test_subnormals(self, fmt, t, p, qmin):
        smallest = float(np.finfo(t).smallest_subnormal)
        tiny = float(np.finfo(t).tiny)
        assert smallest == math.ldexp(1, qmin)
        assert round_mpf(mpf2(1, qmin), fmt) == smallest
        # half the smallest subnormal is a tie between 0 (even) and it.
        assert round_mpf(mpf2(1, qmin - 1), fmt) == 0.0
        # slightly above half rounds up; slightly below rounds down.
        assert round_mpf(mpf2(2**200 + 1, qmin - 201), fmt) == smallest
        assert round_mpf(mpf2(2**200 - 1, qmin - 201), fmt) == 0.0
        assert round_mpf(mpf2(1, qmin - 5000), fmt) == 0.0
        # 1.5 quanta: tie between 1 (odd) and 2 (even) quanta.
        assert round_mpf(mpf2(3, qmin - 1), fmt) == 2 * smallest
        # largest subnormal, and the tie above it going up to the smallest normal
        largest_sub = float(np.nextafter(t(tiny), t(0)))
        assert round_mpf(mpf2(2 ** (p - 1) - 1, qmin), fmt) == largest_sub
        assert round_mpf(mpf2(2**p - 1, qmin - 1), fmt) == tiny
        assert round_mpf(mpf2(1, qmin + p - 1), fmt) == tiny

    def test_overflow_threshold(self, fmt, t, p, qmin):
        big = float(np.finfo(t).max)
        emax = int(np.finfo(t).maxexp) - 1
        assert big == math.ldexp(2**p - 1, emax - p + 1)
        # max + half an ulp = (2**(p+1) - 1) * 2**(emax - p): a tie, to inf.
        threshold = mpf2(2 ** (p + 1) - 1, emax - p)
        assert round_mpf(threshold, fmt) == math.inf
        assert round_mpf(mpf2(-(2 ** (p + 1) - 1), emax - p), fmt) == -math.inf
        below = 2 ** (p + 101) - 2**100 - 1  # threshold minus 2**-100 ulp
        assert round_mpf(mpf2(below, emax - p - 100), fmt) == big
        assert round_mpf(mpf2(-below, emax - p - 100), fmt) == -big
        assert round_mpf(mpf2(1, emax + 1), fmt) == math.inf

    def test_specials_and_exact(self, fmt, t, p, qmin):
        assert math.isnan(round_mpf(mpmath.nan, fmt))
        assert round_mpf(mpmath.inf, fmt) == math.inf
        assert round_mpf(-mpmath.inf, fmt) == -math.inf
        assert round_mpf(mpmath.mpf(0), fmt) == 0.0
        rng = np.random.default_rng(1)
        for v in rng.standard_normal(50).astype(t):
            assert round_mpf(mpmath.mpf(float(v)), fmt) == float(v)

    def test_round_within(self, fmt, t, p, qmin):
        mid = mpf2(2**p + 1, -p)._mpf_
        # An interval around a midpoint cannot be decided ...
        assert round_within(mid, -200, fmt) is None
        # ... but a point a quarter ulp off it can, with a small enough error.
        near = mpf2(2 ** (p + 2) + 3, -p - 2)._mpf_  # 1 + 3/8 ulp, 1/8 ulp below the midpoint
        assert round_within(near, -p - 6, fmt) == 1.0  # radius 1/32 ulp
        assert round_within(near, -p, fmt) is None  # radius 1 ulp
        # An absolute interval around 0 below half the least subnormal: zero.
        assert round_within(mpmath.mpf(0)._mpf_, qmin - 3, fmt, relative=False) == 0.0
        assert round_within(mpmath.mpf(0)._mpf_, qmin, fmt, relative=False) is None


def test_float32_no_double_rounding():
    # 1 + 2**-24 + 2**-60 lies above the float32 midpoint 1 + 2**-24 by less
    # than half a float64 ulp of 1 (2**-53): through float64 it becomes the
    # midpoint and ties-to-even picks 1.0; the exact value rounds up.
    v = mpf2(2**60 + 2**36 + 1, -60)
    assert float(np.float32(float(v))) == 1.0  # the trap is real
    assert round_mpf(v, FLOAT32) == 1.0 + 2.0**-23
    # mirrored: just below a midpoint whose even neighbour is above.
    w = mpf2(2**60 + 3 * 2**36 - 1, -60)  # 1 + 3*2**-24 - 2**-60
    assert float(np.float32(float(w))) == 1.0 + 2.0**-22
    assert round_mpf(w, FLOAT32) == 1.0 + 2.0**-23


def test_float32_subnormal_no_double_rounding():
    # Half the float32 quantum 2**-149 plus a hair far below float64's ulp.
    v = mpf2(2**100 + 1, -149 - 1 - 100)
    assert float(np.float32(float(v))) == 0.0
    assert round_mpf(v, FLOAT32) == math.ldexp(1, -149)


# ---------------------------------------------------------------------------
# Every format of the table against an independent exact rounding
# (tests/_format_oracle.py: a sorted list of every finite value, no parameters).

NARROW = ["float16", "bfloat16", "float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz"]
NARROW += ["float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn"]


def probes(values, stride):
    """Values of the grid, midpoints, and rationals a hair either side (every ``stride``-th)."""
    out = []
    vals = values[::stride] if stride > 1 else values
    tops = values[1:][::stride]
    for lo, hi in zip(vals, tops):
        mid = (lo + hi) / 2
        hair = (hi - lo) / 2**70
        out += [lo, mid, mid + hair, mid - hair, lo + (hi - lo) / 3, hi - (hi - lo) / 7]
    top, step = values[-1], values[-1] - values[-2]
    for k in (
        Fraction(1, 2),
        Fraction(1, 2) + Fraction(1, 2**80),
        Fraction(1, 2) - Fraction(1, 2**80),
    ):
        out.append(top + k * step)
    out += [top + step, top * 2**10, Fraction(1, 2**2000), values[1] / 2, values[1] / 3]
    return out


@pytest.mark.parametrize("name", NARROW)
def test_round_rational_matches_grid_oracle(name):
    fmt, orc = FMT_TABLE[name], oracle(name)
    stride = 1 if len(orc.values) < 300 else 97
    for q in probes(orc.values, stride):
        for v in (q, -q):
            expected = orc.round(v)
            assert same(round_rational(v, fmt), expected), (name, v, expected)
            if v.denominator & (v.denominator - 1) == 0:  # dyadic: also through mpmath
                raw = libmp.from_man_exp(v.numerator, -(v.denominator.bit_length() - 1))
                assert same(round_mpf(raw, fmt), expected), (name, v)


@pytest.mark.parametrize("name", NARROW)
def test_round_matches_ml_dtypes_conversion(name):
    # Third source: ml_dtypes/NumPy convert float64 directly (no double rounding:
    # checked on 1 + 2**-4 + 2**-40 -> float8_e4m3fn in test_formats).
    fmt, orc = FMT_TABLE[name], oracle(name)
    stride = 1 if len(orc.values) < 300 else 13
    qs = [q for q in probes(orc.values, stride) if abs(q) < 2**1000 and abs(q) > 2**-1000]
    qs = [q for q in qs if Fraction(float(q)) == q]
    x = np.array([float(q) for q in qs] + [-float(q) for q in qs])
    with np.errstate(over="ignore"):
        theirs = x.astype(fmt.dtype).astype(np.float64)
    ours = np.array([round_rational(Fraction(v), fmt) for v in x.tolist()])
    np.testing.assert_array_equal(ours, theirs)
    signed = ~np.isnan(ours)  # NaN's sign carries no meaning
    np.testing.assert_array_equal(np.signbit(ours[signed]), np.signbit(theirs[signed]))


def test_round_rational_float32_float64_non_dyadic():
    # 1/3 and friends against the oracle-free identity: the rounded value is the
    # float nearest to q, i.e. |q - r| <= |q - neighbour| for both neighbours.
    rng = np.random.default_rng(7)
    for fmt, t in ((FLOAT32, np.float32), (FLOAT64, np.float64)):
        for _ in range(300):
            q = Fraction(int(rng.integers(1, 2**62)), int(rng.integers(1, 2**62))) * Fraction(
                2
            ) ** int(rng.integers(-140, 120))
            r = t(round_rational(q, fmt))
            for nb in (np.nextafter(r, t(np.inf)), np.nextafter(r, t(0))):
                if np.isfinite(nb):
                    assert abs(q - Fraction(float(r))) <= abs(q - Fraction(float(nb)))


def test_round_within_nan_overflow_same_side_only():
    e4 = FMT_TABLE["float8_e4m3fn"]
    big = mpmath.mpf(1000)._mpf_
    assert math.isnan(round_within(big, -10, e4))
    # an absolute interval around 0 wider than the overflow threshold: undecided
    assert round_within(mpmath.mpf(0)._mpf_, 10, e4, relative=False) is None
