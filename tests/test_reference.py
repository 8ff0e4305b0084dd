"""The reference against independent evaluations.

Expected values come from (a) the naive formulas evaluated with mpmath's
high-level functions at 3000 bits, then rounded by :func:`nearest`, which
picks the nearest float by exact ``Fraction`` comparisons (a path that shares
nothing with ``reference._rounding``), (b) IEEE-correctly rounded NumPy
operations (``1 / k``), or (c) the special-value table of the design brief.
"""

import math
import re
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from mpmath import libmp

import reference
from reference import _exact

HIGH = 3000  # bits for the independent evaluation


def to_fraction(v: mpmath.mpf) -> Fraction:
    sign, man, exp, _ = v._mpf_  # (mpf.man_exp drops the sign)
    return (-1) ** sign * Fraction(man) * Fraction(2) ** exp


def nearest(v: mpmath.mpf, t, prec: int = HIGH) -> float:
    """The float of dtype ``t`` nearest to ``v`` (no ties), with overflow.

    ``v`` carries about ``prec`` correct bits; Undecided is raised when that
    is not enough to tell which neighbour is nearer.
    """
    if mpmath.isnan(v):
        return math.nan
    if mpmath.isinf(v):
        return float(v)
    sign, man, exp, bc = v._mpf_
    if man and exp + bc < -1100:  # |v| < 2**-1100: far below half of any subnormal
        return -0.0 if sign else 0.0
    if exp + bc > 1100:  # |v| >= 2**1099: far beyond any max_finite
        return -math.inf if sign else math.inf
    f = to_fraction(v)
    big = np.finfo(t).max
    threshold = (
        Fraction(float(big)) + (Fraction(float(big)) - Fraction(float(np.nextafter(big, t(0))))) / 2
    )
    if abs(f) >= threshold:
        return math.inf if f > 0 else -math.inf
    a = t(float(max(-Fraction(float(big)), min(f, Fraction(float(big))))))  # float() would overflow
    candidates = {float(a), float(np.nextafter(a, t(-np.inf))), float(np.nextafter(a, t(np.inf)))}
    ranked = sorted((abs(Fraction(c) - f), c) for c in candidates if math.isfinite(c))
    (d1, best), (d2, _) = ranked[0], ranked[1]
    if not d2 - d1 > abs(f) * Fraction(1, 2 ** (prec - 100)):
        raise Undecided
    if best == 0.0:
        return 0.0 if f > 0 else -0.0
    return best


class Undecided(Exception):
    pass


def oracle(kind, x, beta=1.0, base=None, prec=HIGH):
    """Naive formulas, all entries finite, at ``prec`` bits."""
    with mpmath.workprec(prec):
        c = mpmath.mpf(float(beta)) * (mpmath.log(mpmath.mpf(float(base))) if base else 1)
        xs = [mpmath.mpf(float(v)) for v in np.asarray(x).ravel()]
        terms = [mpmath.exp(c * v) for v in xs]
        total = mpmath.fsum(terms)
        if kind == "softmax":
            return [t / total for t in terms]
        if kind == "log_softmax":
            return [c * v - mpmath.log(total) for v in xs]
        return mpmath.log(total)


def expected(kind, x, t, **kw):
    # A few rows hold values within 2**-7000 of a midpoint (a log_softmax
    # t_j - S with S ~ exp(-5000)); the oracle then retries at more bits.
    for prec in (HIGH, 4 * HIGH):
        value = oracle(kind, x, prec=prec, **kw)
        try:
            if kind == "logsumexp":
                return np.asarray(nearest(value, t, prec), dtype=t)
            return np.array([nearest(v, t, prec) for v in value], dtype=t)
        except Undecided:
            continue
    raise Undecided(f"oracle cannot decide {kind} of {x}")


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)  # exact, NaN == NaN


KINDS = ["softmax", "log_softmax", "logsumexp"]
rng = np.random.default_rng(20240601)
CASES = {
    "gauss1": (rng.standard_normal(12), {}),
    "gauss10": (10 * rng.standard_normal(12), {}),
    "spread1e4": (rng.uniform(-1e4, 1e4, 8), {}),
    "subnormal64": (np.array([0.0, -709.0, -720.5, -740.0, -744.0, -745.1]), {}),
    "subnormal32": (np.array([0.0, -88.0, -95.5, -100.0, -103.0, -103.9], np.float32), {}),
    "beta1e3": (0.01 * rng.standard_normal(10), {"beta": 1e3}),
    "base2": (rng.standard_normal(10), {"base": 2.0}),
    "base10": (3 * rng.standard_normal(10), {"base": 10.0}),
    "base10_beta": (rng.standard_normal(6), {"base": 10.0, "beta": 7.5}),
    "huge_logits": (np.array([1e30, 1e30 - 1e15, -1e30]), {"beta": 1e6}),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("t", [np.float32, np.float64])
def test_agrees_with_high_precision(kind, case, t):
    x, kw = CASES[case]
    x = x.astype(t)
    got = getattr(reference, kind)(x, **kw)
    same(got, expected(kind, x, t, **kw))


def test_design_worked_example():
    # Four-decimal figures quoted in the design brief.
    x = [2, 4, 2, 1]
    np.testing.assert_allclose(reference.softmax(x), [0.1025, 0.7573, 0.1025, 0.0377], atol=5e-5)
    np.testing.assert_allclose(
        reference.softmax(x, base=2.0), [0.1538, 0.6154, 0.1538, 0.0769], atol=5e-5
    )


@pytest.mark.parametrize("t", [np.float32, np.float64])
def test_softmax_of_zero_and_ln2(t):
    # Closed form: [1/(1+e^x), e^x/(1+e^x)] with x the float nearest ln 2.
    ln2 = t(math.log(2.0))
    with mpmath.workprec(HIGH):
        el = mpmath.exp(mpmath.mpf(float(ln2)))
        closed = [1 / (1 + el), el / (1 + el)]
    same(
        reference.softmax(np.array([0, ln2], dtype=t)),
        np.array([nearest(v, t) for v in closed], dtype=t),
    )


@pytest.mark.parametrize("k", [2, 3, 5, 7, 10])
@pytest.mark.parametrize("t", [np.float32, np.float64])
def test_ties_give_one_over_k(k, t):
    one_over_k = t(1) / t(k)  # IEEE division is correctly rounded
    x = np.full(k, 3.25, dtype=t)
    same(reference.softmax(x), np.full(k, one_over_k, dtype=t))
    with_neg_inf = np.concatenate([x, np.full(2, -np.inf, dtype=t)])
    same(
        reference.softmax(with_neg_inf), np.concatenate([np.full(k, one_over_k), [0, 0]]).astype(t)
    )
    # logsumexp of k equal values v is v + ln k
    with mpmath.workprec(HIGH):
        lse = mpmath.mpf(3.25) + mpmath.log(k)
    same(reference.logsumexp(x), np.asarray(nearest(lse, t), dtype=t))


def test_huge_cancellation_is_exact():
    # c*x_j - logsumexp cancels 120 bits here; the exact shift keeps it.
    p = Fraction(1e30) * Fraction(1e6)  # exact product of the two floats
    with mpmath.workprec(HIGH):
        ls = mpmath.mpf(-p.numerator)  # -1e30 * 1e6 exactly (an integer)
        assert ls == -p
    got = reference.log_softmax([0.0, 1e30], beta=1e6)
    assert got[0] == nearest(ls, np.float64)
    # -log1p(exp(-1e36)) is a negative number far below the least subnormal.
    assert got[1] == 0.0 and np.signbit(got[1])
    same(reference.softmax([0.0, 1e30], beta=1e6), np.array([0.0, 1.0]))


def test_overflow_rounds_to_inf():
    assert reference.logsumexp(np.float32([1e38, 1e38]), beta=10) == np.float32(np.inf)
    got = reference.log_softmax([0.0, -1e308], beta=10)
    assert got[1] == -np.inf and got[0] == 0.0
    assert reference.logsumexp([1e308, 0.0], beta=1e10) == np.inf


def test_single_finite_entry_is_exact():
    # logsumexp([v]) = beta * v exactly; here beta*v is a float32 midpoint
    # (25 significant bits) and must round to even, not drift.
    v = np.float32(1 + 2.0**-23)  # 24 bits: 1.000...01
    midpoint = Fraction(float(v)) * Fraction(3, 2)
    assert midpoint == Fraction(3, 2) + Fraction(3, 2**24)  # 25 bits: a tie
    got = reference.logsumexp(np.array([v, -np.inf], np.float32), beta=1.5)
    assert got == np.float32(1.5 + 2.0**-22)  # the even neighbour
    same(reference.log_softmax(np.array([v, -np.inf], np.float32)), np.float32([0, -np.inf]))


def test_precision_limit_raises_instead_of_guessing(monkeypatch):
    # Base 2: 2**-1 + ... + 2**-150 + 2**-150 = 1, so the last two softmax
    # values are exactly 2**-150, half the float32 quantum: a tie no finite
    # precision can resolve by bracketing.
    x = np.array([-float(i) for i in range(1, 151)] + [-150.0], np.float32)
    monkeypatch.setattr(_exact, "MAX_PRECISION", 700)
    with pytest.raises(reference.PrecisionLimitError):
        reference.softmax(x, base=2.0)


NAN, INF = np.nan, np.inf
SPECIAL = [
    # x, softmax, log_softmax, logsumexp  (the design brief's table)
    ([1.0, NAN, 2.0], [NAN, NAN, NAN], [NAN, NAN, NAN], NAN),
    ([INF, NAN], [NAN, NAN], [NAN, NAN], NAN),
    ([-INF, -INF], [NAN, NAN], [NAN, NAN], -INF),
    ([1.0, INF, 2.0], [NAN, NAN, NAN], [-INF, NAN, -INF], INF),
    ([INF, INF], [NAN, NAN], [NAN, NAN], INF),
    ([-INF, INF], [NAN, NAN], [-INF, NAN], INF),
    ([-INF, 5.0], [0.0, 1.0], [-INF, 0.0], 5.0),
    ([], [], [], -INF),
]


@pytest.mark.parametrize("t", [np.float32, np.float64])
@pytest.mark.parametrize("row", range(len(SPECIAL)))
def test_special_values(row, t):
    x, sm, lsm, lse = SPECIAL[row]
    x = np.array(x, dtype=t)
    same(reference.softmax(x), np.array(sm, dtype=t))
    same(reference.log_softmax(x), np.array(lsm, dtype=t))
    same(reference.logsumexp(x), t(lse))


@pytest.mark.parametrize("t", [np.float32, np.float64])
def test_neg_inf_among_finite(t):
    x = np.array([0.0, -np.inf, 0.0], dtype=t)
    with mpmath.workprec(HIGH):
        ln2 = mpmath.log(2)
    same(reference.softmax(x), np.array([0.5, 0.0, 0.5], dtype=t))
    same(reference.log_softmax(x), np.array([nearest(-ln2, t), -np.inf, nearest(-ln2, t)], dtype=t))
    same(reference.logsumexp(x), t(nearest(ln2, t)))


class TestAxes:
    x = np.random.default_rng(3).integers(-3, 4, size=(2, 3, 4)).astype(np.float64)

    def test_int_axis_matches_rows(self):
        got = reference.softmax(self.x, axis=1)
        for i in range(2):
            for k in range(4):
                same(got[i, :, k], reference.softmax(self.x[i, :, k]))
        same(reference.log_softmax(self.x, axis=-1), reference.log_softmax(self.x, axis=2))

    def test_tuple_and_none(self):
        got = reference.softmax(self.x, axis=(0, 2))
        lse = reference.logsumexp(self.x, axis=(2, 0))
        assert lse.shape == (3,)
        for j in range(3):
            same(got[:, j, :], reference.softmax(self.x[:, j, :], axis=None))
            same(lse[j], reference.logsumexp(self.x[:, j, :].ravel()))
        flat = reference.softmax(self.x.ravel())
        same(reference.softmax(self.x, axis=None), flat.reshape(self.x.shape))
        same(reference.softmax(self.x, axis=(0, 1, 2)), flat.reshape(self.x.shape))

    def test_keepdims_and_scalars(self):
        assert reference.logsumexp(self.x, axis=1, keepdims=True).shape == (2, 1, 4)
        assert reference.logsumexp(self.x, axis=(0, 2), keepdims=True).shape == (1, 3, 1)
        total = reference.logsumexp(self.x, axis=None)
        assert isinstance(total, np.float64) and np.ndim(total) == 0
        scalar = reference.logsumexp(np.float32(2.5), axis=None)
        assert isinstance(scalar, np.float32) and scalar == np.float32(2.5)
        zero_d = reference.softmax(np.float64(-7.0), axis=None)
        assert zero_d.shape == () and zero_d == 1.0
        assert reference.logsumexp(self.x, axis=()).shape == self.x.shape
        with pytest.raises(np.exceptions.AxisError):
            reference.softmax(np.float64(1.0))

    def test_empty_arrays(self):
        assert reference.softmax(np.zeros((0, 3))).shape == (0, 3)
        same(reference.logsumexp(np.zeros((2, 0))), np.array([-np.inf, -np.inf]))

    @pytest.mark.parametrize("axis", [3, -4, (0, 3)])
    def test_out_of_range(self, axis):
        with pytest.raises(np.exceptions.AxisError):
            reference.softmax(self.x, axis=axis)

    @pytest.mark.parametrize("axis", [(1, 1), (1, -2)])
    def test_duplicates(self, axis):
        with pytest.raises(ValueError, match="more than once"):
            reference.logsumexp(self.x, axis=axis)


class TestDtypes:
    def test_float_dtypes_kept_and_ints_to_float64(self):
        assert reference.softmax(np.float32([1, 2])).dtype == np.float32
        assert reference.softmax(np.float64([1, 2])).dtype == np.float64
        same(reference.softmax(np.int32([1, 2, 3])), reference.softmax(np.float64([1, 2, 3])))
        same(reference.log_softmax(np.array([True, False])), reference.log_softmax([1.0, 0.0]))
        assert reference.logsumexp([1, 2]).dtype == np.float64

    def test_dtype_argument(self):
        x = np.array([0.1, 0.7, -2.0])
        got = reference.softmax(x, dtype=np.float32)
        same(got, expected("softmax", x, np.float32))
        assert reference.log_softmax(np.float32([1, 2]), dtype="float64").dtype == np.float64

    @pytest.mark.parametrize(
        "x, hint",
        [
            (np.longdouble([1, 2]), r"astype\(np.float64\)"),  # float16 is a format now
            (np.complex128([1, 2]), r"x.real"),
            (np.array([1.0, 2.0], dtype=object), r"np.asarray\(x, dtype=np.float64\)"),
            (np.array(["1", "2"]), r"np.asarray\(x, dtype=np.float64\)"),
        ],
    )
    def test_rejected_inputs(self, x, hint):
        for f in (reference.softmax, reference.log_softmax, reference.logsumexp, reference.exp):
            with pytest.raises(TypeError, match=hint):
                f(x)

    @pytest.mark.parametrize("dtype", [np.longdouble, int, "complex64", "nonsense"])
    def test_rejected_dtype(self, dtype):
        with pytest.raises(TypeError, match="dtype must be None or one of float64, float32"):
            reference.softmax([1.0], dtype=dtype)

    def test_input_not_modified(self):
        x = np.array([[3.0, -np.inf, 1e300], [0.5, 0.25, 0.125]])
        before = x.copy()
        x.setflags(write=False)
        reference.softmax(x, axis=0)
        reference.log_softmax(x, beta=3.0, base=2.0)
        reference.logsumexp(x, axis=None)
        same(x, before)


@pytest.mark.parametrize("beta", [0.0, -1.0, np.nan, np.inf, "2", None, True, 1 + 2j])
def test_bad_beta(beta):
    with pytest.raises(
        ValueError, match=r"beta must be a finite real number > 0; got " + re.escape(repr(beta))
    ):
        reference.softmax([1.0, 2.0], beta=beta)


@pytest.mark.parametrize("base", [1.0, 0.5, 0, -2.0, np.nan, np.inf, "e"])
def test_bad_base(base):
    with pytest.raises(
        ValueError, match=r"base must be a finite real number > 1; got .*Pass base=None"
    ):
        reference.logsumexp([1.0, 2.0], base=base)


def test_beta_and_base_are_exact_binary_values():
    # beta = float32(0.1) differs from 0.1; the reference must use its exact value.
    x = np.array([0.0, 1.0, 2.0])
    same(
        reference.softmax(x, beta=np.float32(0.1)),
        expected("softmax", x, np.float64, beta=float(np.float32(0.1))),
    )
    same(reference.softmax(x, beta=3), reference.softmax(x, beta=3.0))


class TestExp:
    @pytest.mark.parametrize("t, lo, hi", [(np.float64, -745.2, 709.8), (np.float32, -104.0, 88.8)])
    def test_random_and_edges(self, t, lo, hi):
        r = np.random.default_rng(5)
        ln_max = math.log(float(np.finfo(t).max))
        x = np.concatenate(
            [
                r.uniform(lo, hi, 150),
                r.standard_normal(50),
                [0.0, -0.0, 1.0, ln_max, lo, hi, -700.0, -100.0],
            ]
        ).astype(t)
        x = np.concatenate([x, np.nextafter(x[-8:-4], t(np.inf))])
        with mpmath.workprec(400):
            want = np.array([nearest(mpmath.exp(mpmath.mpf(float(v))), t) for v in x], dtype=t)
        same(reference.exp(x), want)

    def test_specials_shape_dtype(self):
        same(
            reference.exp(np.array([np.nan, np.inf, -np.inf, 1000.0, -1000.0])),
            np.array([np.nan, np.inf, 0, np.inf, 0]),
        )
        assert reference.exp(np.float32([[1, 2]])).shape == (1, 2)
        assert isinstance(reference.exp(np.float32(0)), np.float32)
        assert reference.exp([1, 2]).dtype == np.float64
        assert reference.exp([1.0], dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("func", [libmp.mpf_exp, libmp.mpf_log])
def test_mpmath_error_model_assumption(func):
    # reference._exact assumes mpmath's exp/log are within 4 ulps; check
    # they are within 1 ulp of a result at 4x the precision on samples.
    r = np.random.default_rng(7)
    for v in np.concatenate([r.uniform(-700, 700, 100), r.uniform(1e-300, 10, 100)]):
        if func is libmp.mpf_log and v <= 0:
            continue
        x = libmp.from_float(float(v))
        for w in (56, 85, 113):
            lo_prec = func(x, w, "n")
            hi_prec = func(x, 4 * w, "n")
            with mpmath.workprec(8 * w):
                diff = abs(mpmath.mpf(lo_prec) - mpmath.mpf(hi_prec))
                assert diff <= abs(mpmath.mpf(hi_prec)) * mpmath.mpf(2) ** (1 - w)
