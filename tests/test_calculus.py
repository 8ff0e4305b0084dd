"""The softmax calculus: hardmax, cross-entropy and its gradient, Jacobian, VJPs, inverse.

Expected values come from exact rational arithmetic (``fractions``), mpmath at
50 digits, the correctly rounded :mod:`reference`, or the course material's
worked example (stated where used). ULP bounds follow the first-order bound of
Blanchard, Higham & Higham (2021) for shifted softmax, ``(n + 2 + 2 c (max -
min)) u`` relative, which is at most that many ULPs.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from calculus_cases import COURSE, DTYPES, logits, softmax_bound, unit_roundoff

import reference
import stable_softmax as ss
from stable_softmax.accuracy.metrics import ulp_distance

ref_cross_entropy = reference.cross_entropy
ref_cross_entropy_grad = reference.cross_entropy_grad

# ---------------------------------------------------------------------------
# the course's worked examples and bases
# ---------------------------------------------------------------------------


def test_worked_example_base_e():
    # Course material: softmax([2, 4, 2, 1]) = [0.1025, 0.7573, 0.1025, 0.0377].
    p = ss.softmax(COURSE)
    np.testing.assert_array_equal(np.round(p, 4), [0.1025, 0.7573, 0.1025, 0.0377])
    assert ulp_distance(p, reference.softmax(COURSE)).max() <= 1
    np.testing.assert_array_equal(ss.hardmax(COURSE), [0.0, 1.0, 0.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_worked_example_base_2(dtype):
    # 2^[2, 4, 2, 1] = [4, 16, 4, 2], sum 26: exactly [2, 8, 2, 1] / 13. The
    # course rounds these to [0.1538, 0.6154, 0.1538, 0.0769].
    p = ss.softmax(COURSE.astype(dtype), base=2)
    exact = np.array([float(Fraction(k, 13)) for k in (2, 8, 2, 1)]).astype(dtype)
    assert ulp_distance(p, exact).max() <= 2
    np.testing.assert_array_equal(np.round(p.astype(float), 4), [0.1538, 0.6154, 0.1538, 0.0769])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("base", [2.0, math.e, 3.0, 4.0, 10.0])
def test_base_a_equals_beta_ln_a(base, dtype):
    x = logits(dtype, (6, 9), sigma=2.0, seed=1)
    by_base = ss.softmax(x, base=base)
    # Against a^x_j / sum_k a^x_k by mpmath's power function (not exp).
    with mpmath.workdps(50):
        a = mpmath.mpf(base)
        expected = []
        for row in x:
            powers = [mpmath.power(a, mpmath.mpf(float(v))) for v in row]
            total = mpmath.fsum(powers)
            expected.append([float(w / total) for w in powers])
    expected = np.array(expected).astype(dtype)
    # Rounding c = ln a to the dtype adds |c (x_j - m)| u to the shifted bound.
    bound = softmax_bound(x, math.log(base)) + 2 + math.log(base) * np.ptp(x.astype(float), axis=-1)
    assert np.all(ulp_distance(by_base, expected) <= bound[:, None])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("base", [None, 2.0, 10.0])
@pytest.mark.parametrize("beta", [1.0, 7.5])
def test_outputs_are_probabilities_summing_to_one(beta, base, dtype):
    x = logits(dtype, (8, 300), sigma=2.0, seed=2)
    c = beta * (1.0 if base is None else math.log(base))
    for p in (ss.softmax(x, beta=beta, base=base), ss.hardmax(x)):
        assert np.all((p >= 0) & (p <= 1))
        deviation = np.array([abs(math.fsum(row.astype(np.float64)) - 1.0) for row in p])
        assert np.all(deviation <= softmax_bound(x, c) * unit_roundoff(dtype))


# ---------------------------------------------------------------------------
# hardmax
# ---------------------------------------------------------------------------


def _round_to(dtype, value: Fraction):
    """``value`` correctly rounded to ``dtype`` through mpmath at 300 bits (1/k: no midpoints)."""
    from reference._rounding import format_of, round_mpf

    with mpmath.workprec(300):
        return dtype(round_mpf(mpmath.mpf(value.numerator) / value.denominator, format_of(dtype)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 2, 3, 7, 10])
def test_beta_to_infinity_reaches_hardmax_exactly(k, dtype):
    # k tied maxima and other logits at least 0.01 below them: at beta = 1e6
    # every other term is exp(-1e4) = 0, so softmax is exactly 1/k (rounded).
    rng = np.random.default_rng(k)
    x = np.concatenate([np.full(k, 3.0), 3.0 - rng.uniform(0.01, 5.0, 12)])
    x = rng.permutation(x).astype(dtype)
    limit = ss.hardmax(x)
    share = _round_to(dtype, Fraction(1, k))
    np.testing.assert_array_equal(limit, np.where(x == x.max(), share, dtype(0)))
    np.testing.assert_array_equal(ss.softmax(x, beta=1e6), limit)
    # ... and on the way the mass off the maxima, R / (k + R) with
    # R = sum exp(beta (x_j - max)), falls monotonically to 0.
    rest = [
        ss.softmax(x, beta=b)[x < x.max()].astype(float).sum()
        for b in (0.5, 1, 4, 16, 64, 1e3, 1e6)
    ]
    assert all(a > b for a, b in zip(rest, rest[1:-1])) and rest[-1] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_hardmax_special_values(dtype):
    inf, nan = np.inf, np.nan
    x = np.array(
        [
            [1.0, nan, 3.0, 0.0],  # NaN anywhere: all NaN
            [inf, 1.0, inf, -inf],  # the +inf entries are the maxima
            [-inf, -inf, -inf, -inf],  # every entry is a maximum: 1/n
            [-inf, 2.0, -inf, 2.0],
        ],
        dtype=dtype,
    )
    h = ss.hardmax(x)
    assert h.dtype == dtype
    assert np.all(np.isnan(h[0]))
    np.testing.assert_array_equal(h[1:], [[0.5, 0, 0.5, 0], [0.25] * 4, [0, 0.5, 0, 0.5]])
    assert ss.hardmax(np.empty((3, 0), dtype)).shape == (3, 0)
    # axis=None: one distribution over every element
    np.testing.assert_array_equal(ss.hardmax([[1, 5], [5, 2]], axis=None), [[0, 0.5], [0.5, 0]])
    np.testing.assert_array_equal(ss.hardmax(x[1:], axis=0)[:, 1], [0, 0, 1])  # [1, -inf, 2]


# ---------------------------------------------------------------------------
# cross-entropy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype,far", [(np.float64, 800.0), (np.float32, 200.0)])
def test_cross_entropy_is_finite_where_the_true_value_is(dtype, far):
    # CE = ln(1 + e^-far) + far, which rounds to far; -log(softmax) is
    # -log(0) = inf because e^-far underflows (float32 below e^-103.97).
    x = np.array([0.0, -far], dtype=dtype)
    assert ss.cross_entropy(x, 1) == dtype(far)
    with np.errstate(divide="ignore"):
        assert -np.log(ss.softmax(x)[1]) == np.inf
    # the same through beta: c = 10 makes 10 * -far / 10
    assert ss.cross_entropy(np.array([0.0, -far / 10], dtype=dtype), 1, beta=10.0) == dtype(far)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_is_negated_log_softmax(dtype):
    x = logits(dtype, (5, 7, 11), seed=3)
    labels = np.random.default_rng(3).integers(0, 7, (5, 11))
    ce = ss.cross_entropy(x, labels, axis=1, beta=2.0, base=3.0)
    lsm = ss.log_softmax(x, axis=1, beta=2.0, base=3.0)
    np.testing.assert_array_equal(ce, -np.take_along_axis(lsm, labels[:, None, :], axis=1)[:, 0, :])
    # one-hot probability targets give the same values
    onehot = (np.arange(7)[None, :, None] == labels[:, None, :]).astype(dtype)
    soft = ss.cross_entropy(x, onehot, axis=1, beta=2.0, base=3.0)
    np.testing.assert_array_equal(soft, ce)
    # uint8 labels, and a 1-D row gives a numpy scalar
    np.testing.assert_array_equal(
        ss.cross_entropy(x, labels.astype(np.uint8), axis=1, beta=2.0, base=3.0), ce
    )
    scalar = ss.cross_entropy(x[0, :, 0], labels[0, 0])
    assert isinstance(scalar, np.floating) and scalar.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [4, 37])
def test_cross_entropy_against_reference(n, dtype):
    x = logits(dtype, (16, n), seed=n)
    rng = np.random.default_rng(n)
    labels = rng.integers(0, n, 16)
    q = rng.random((16, n))
    q = (q / q.sum(axis=1, keepdims=True)).astype(dtype)
    got, ref = ss.cross_entropy(x, labels), ref_cross_entropy(x, labels)
    # -log p_y has absolute error ~ (n + 2) u from ln(sum): within 2 ULPs
    # where CE >= 1/2, and 2 (n + 2) u absolute below (ln(1 + s), not log1p).
    big = ref >= 0.5
    assert ulp_distance(got, ref)[big].max(initial=0) <= 2
    assert np.all(np.abs(got - ref)[~big] <= 2 * (n + 2) * unit_roundoff(dtype))
    # soft labels: a compensated sum of non-negative terms
    assert ulp_distance(ss.cross_entropy(x, q), ref_cross_entropy(x, q)).max() <= 4


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_special_values(dtype):
    inf, nan = np.inf, np.nan
    x = np.array(
        [
            [0.0, nan, 1.0],  # NaN in the row: NaN
            [0.0, -inf, 1.0],  # label on -inf among finite ones: +inf
            [inf, 0.0, 1.0],  # label on +inf: NaN (log_softmax is NaN there)
            [inf, 0.0, 1.0],  # +inf elsewhere: +inf (log_softmax is -inf)
            [-inf, -inf, -inf],  # all -inf: NaN
        ],
        dtype=dtype,
    )
    ce = ss.cross_entropy(x, [0, 1, 0, 2, 1])
    np.testing.assert_array_equal(ce, [nan, inf, nan, inf, nan])
    # soft labels: q_k = 0 on a -inf logit contributes nothing; q_k > 0 gives +inf
    row = np.array([[0.0, -inf, 0.0]], dtype=dtype)
    assert ss.cross_entropy(row, [[0.5, 0.0, 0.5]])[0] == dtype(math.log(2))
    assert ss.cross_entropy(row, [[0.5, 0.25, 0.25]])[0] == inf
    # a certain, correct prediction costs exactly +0 (not -0)
    zero = ss.cross_entropy(np.array([0.0, -1000.0], dtype), 0)
    assert zero == 0 and math.copysign(1.0, zero) == 1.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_reductions(dtype):
    x = logits(dtype, (2000, 5), seed=4)
    labels = np.random.default_rng(4).integers(0, 5, 2000)
    each = ss.cross_entropy(x, labels)
    total = ss.cross_entropy(x, labels, reduction="sum")
    mean = ss.cross_entropy(x, labels, reduction="mean")
    assert isinstance(total, np.floating) and total.dtype == dtype and mean.dtype == dtype
    # compensated float64 summation, rounded once: the correctly rounded sum
    # of the float64 sum (math.fsum is exact then rounded) within 1 ULP
    exact = math.fsum(each.astype(np.float64))
    assert ulp_distance(total, dtype(exact)) <= 1
    assert ulp_distance(mean, dtype(exact / each.size)) <= 1
    assert np.isnan(ss.cross_entropy(np.empty((0, 3)), np.empty(0, int), reduction="mean"))
    assert ss.cross_entropy(np.empty((0, 3)), np.empty(0, int), reduction="sum") == 0


def test_cross_entropy_label_errors():
    x = np.zeros((2, 3, 4))
    with pytest.raises(
        ValueError, match=r"labels\[1, 2\] = -1 .*\[0, 3\).*negative indices are not allowed"
    ):
        ss.cross_entropy(x, np.array([[0, 0, 0, 0], [0, 1, -1, 2]]), axis=1)
    with pytest.raises(ValueError, match=r"labels\[0, 2\] = 4 .*\[0, 4\).*only 4 classes"):
        ss.cross_entropy(x, np.array([[0, 0, 4], [0, 0, 0]], np.int16), axis=2)
    with pytest.raises(TypeError, match=r"class indices and need an integer dtype, got float64"):
        ss.cross_entropy(x, np.zeros((2, 3)))
    with pytest.raises(
        ValueError, match=r"labels has shape \(3,\); expected \(2, 3\) .* or \(2, 3, 4\)"
    ):
        ss.cross_entropy(x, np.zeros(3, int))
    q = np.full((2, 3, 4), 0.25)
    q[1, 2, 3] = 0.3
    with pytest.raises(
        ValueError, match=r"labels\[1, 2, :\] sums to 1.05, not 1 \(tolerance 1.5e-08"
    ):
        ss.cross_entropy(x, q)
    q[1, 2, 3] = -0.25
    with pytest.raises(ValueError, match=r"labels\[1, 2, 3\] = -0.25 is not a probability"):
        ss.cross_entropy(x, q)
    # float32 targets get float32's tolerance, sqrt(eps) = 3.5e-4
    q32 = np.full((2, 4), 0.25, np.float32)
    q32[0, 0] += 1e-4
    ss.cross_entropy(np.zeros((2, 4), np.float32), q32)
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        ss.cross_entropy(x, np.zeros((2, 3), int), reduction="avg")
    with pytest.raises(TypeError, match="axis must be a single int"):
        ss.cross_entropy(x, np.zeros((2,), int), axis=(1, 2))
    with pytest.raises(ValueError, match="0-d"):
        ss.cross_entropy(1.0, 0)
    with pytest.raises(TypeError, match="float16"):
        ss.cross_entropy(np.zeros(3, np.float16), 0)
