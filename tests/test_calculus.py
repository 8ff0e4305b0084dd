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
from numba import njit, prange

import reference
import stable_softmax as ss
from stable_softmax import jit
from stable_softmax.accuracy.metrics import ulp_distance

ref_cross_entropy = reference.cross_entropy
ref_cross_entropy_grad = reference.cross_entropy_grad

DTYPES = [np.float32, np.float64]
COURSE = np.array([2.0, 4.0, 2.0, 1.0])


def _u(dtype):
    return np.finfo(dtype).eps / 2


def _logits(dtype, shape, sigma=3.0, seed=0):
    return np.random.default_rng(seed).normal(0.0, sigma, shape).astype(dtype)


def _exact(values) -> list[Fraction]:
    return [Fraction(float(v)) for v in np.ravel(values)]


def _softmax_bound(x, c=1.0):
    """``n + 2 + 2 c (max - min)`` per row: the shifted softmax bound in ULPs."""
    x = np.asarray(x, dtype=np.float64)
    return x.shape[-1] + 2 + 2 * c * (x.max(axis=-1) - x.min(axis=-1))


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
    x = _logits(dtype, (6, 9), sigma=2.0, seed=1)
    by_base = ss.softmax(x, base=base)
    # The same scale c = RN(ln a): bit-identical by construction.
    np.testing.assert_array_equal(by_base, ss.softmax(x, beta=math.log(base)))
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
    bound = (
        _softmax_bound(x, math.log(base)) + 2 + math.log(base) * np.ptp(x.astype(float), axis=-1)
    )
    assert np.all(ulp_distance(by_base, expected) <= bound[:, None])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("base", [None, 2.0, 10.0])
@pytest.mark.parametrize("beta", [1.0, 7.5])
def test_outputs_are_probabilities_summing_to_one(beta, base, dtype):
    x = _logits(dtype, (8, 300), sigma=2.0, seed=2)
    c = beta * (1.0 if base is None else math.log(base))
    for p in (ss.softmax(x, beta=beta, base=base), ss.hardmax(x)):
        assert np.all((p >= 0) & (p <= 1))
        deviation = np.array([abs(math.fsum(row.astype(np.float64)) - 1.0) for row in p])
        assert np.all(deviation <= _softmax_bound(x, c) * _u(dtype))


# ---------------------------------------------------------------------------
# hardmax
# ---------------------------------------------------------------------------


def _round_to(dtype, value: Fraction):
    """``value`` correctly rounded to ``dtype``, through mpmath at 300 bits (1/k has no midpoints)."""
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
    x = _logits(dtype, (5, 7, 11), seed=3)
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
    x = _logits(dtype, (16, n), seed=n)
    rng = np.random.default_rng(n)
    labels = rng.integers(0, n, 16)
    q = rng.random((16, n))
    q = (q / q.sum(axis=1, keepdims=True)).astype(dtype)
    got, ref = ss.cross_entropy(x, labels), ref_cross_entropy(x, labels)
    # -log p_y has absolute error ~ (n + 2) u from ln(sum): within 2 ULPs
    # where CE >= 1/2, and 2 (n + 2) u absolute below (ln(1 + s), not log1p).
    big = ref >= 0.5
    assert ulp_distance(got, ref)[big].max(initial=0) <= 2
    assert np.all(np.abs(got - ref)[~big] <= 2 * (n + 2) * _u(dtype))
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
    x = _logits(dtype, (2000, 5), seed=4)
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


# ---------------------------------------------------------------------------
# the gradient of the cost
# ---------------------------------------------------------------------------


def _mpmath_gradient(row, label, c):
    """d/dx of ln sum exp(c x_k) - c x_y by mpmath's numerical differentiation, 50 digits."""
    with mpmath.workdps(50):
        xs = [mpmath.mpf(float(v)) for v in row]
        cm = mpmath.mpf(c)

        def cost(*z):
            return mpmath.log(mpmath.fsum(mpmath.exp(cm * v) for v in z)) - cm * z[label]

        unit = [tuple(int(i == j) for i in range(len(xs))) for j in range(len(xs))]
        return [float(mpmath.diff(cost, xs, order)) for order in unit]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta,base", [(1.0, None), (2.0, None), (1.0, 2.0), (0.5, 10.0)])
def test_gradient_equals_mpmath_derivative(beta, base, dtype):
    x = _logits(dtype, (3, 6), sigma=2.0, seed=5)
    labels = [0, 3, 5]
    c = float(np.float64(beta * math.log(base)) if base else beta)
    grad = ss.cross_entropy_grad(x, labels, beta=beta, base=base)
    expected = np.array([_mpmath_gradient(row, y, c) for row, y in zip(x, labels)]).astype(dtype)
    # + |c (x_j - m)| for c rounded to the dtype, + 1 for the product with c
    bound = _softmax_bound(x, c) + c * np.ptp(x.astype(float), axis=-1) + 1
    assert np.all(ulp_distance(grad, expected) <= bound[:, None])
    # the label entry is the only negative one, and each row sums to ~0
    assert np.all((grad < 0) == (np.arange(6)[None, :] == np.array(labels)[:, None]))
    assert np.all(
        np.abs(grad.astype(float).sum(axis=-1)) <= c * 6 * _softmax_bound(x, c) * _u(dtype)
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [4, 37])
def test_gradient_against_reference(n, dtype):
    x = _logits(dtype, (12, n), seed=6 + n)
    rng = np.random.default_rng(n)
    labels = rng.integers(0, n, 12)
    got, ref = (
        ss.cross_entropy_grad(x, labels, beta=1.5),
        ref_cross_entropy_grad(x, labels, beta=1.5),
    )
    bound = _softmax_bound(x, 1.5) + 1
    assert np.all(ulp_distance(got, ref) <= bound[:, None])
    # soft labels cancel (p_j - q_j): absolute error c (bound u p_j + u |p_j - q_j|)
    q = rng.random((12, n))
    q = (q / q.sum(axis=1, keepdims=True)).astype(dtype)
    got, ref = ss.cross_entropy_grad(x, q, beta=1.5), ref_cross_entropy_grad(x, q, beta=1.5)
    p = ss.softmax(x, beta=1.5).astype(float)
    limit = 1.5 * _u(dtype) * (2 * bound[:, None] * p + 2 * np.abs(ref.astype(float)) + 2 * q)
    assert np.all(np.abs(got.astype(float) - ref) <= limit)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_keeps_digits_when_the_label_is_almost_certain(dtype):
    # CE'(x)_y = -(1 - p_y) = -e^-30 / (1 + e^-30): p_y - 1 would round to 0.
    x = np.array([30.0, 0.0], dtype=dtype)
    grad = ss.cross_entropy_grad(x, 0)
    assert grad[0] < 0 and ulp_distance(grad, ref_cross_entropy_grad(x, 0)).max() <= 2
    # label on a -inf logit: CE is +inf, the gradient is finite: -c at the label
    g = ss.cross_entropy_grad(np.array([0.0, -np.inf, 1.0], dtype), 1, beta=2.0)
    assert g[1] == -2.0 and np.all(np.isfinite(g))
    assert np.all(np.isnan(ss.cross_entropy_grad(np.array([0.0, np.nan], dtype), 0)))


# ---------------------------------------------------------------------------
# Jacobian and vector-Jacobian products
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_jacobian_signs_symmetry_and_row_sums(dtype):
    p = ss.softmax(_logits(dtype, (5, 9), sigma=1.5, seed=7))
    J = ss.softmax_jacobian(p)
    assert J.shape == (5, 9, 9) and J.dtype == dtype
    diag = np.diagonal(J, axis1=-2, axis2=-1)
    off = J[:, ~np.eye(9, dtype=bool)]
    assert np.all(diag > 0) and np.all(off < 0)
    np.testing.assert_array_equal(J, np.swapaxes(J, -1, -2))
    # sum_j J_ij = p_i (1 - sum p) exactly; a row of n products adds n u |J|
    row_sums = np.array([[math.fsum(r.astype(float)) for r in m] for m in J])
    scale = np.abs(J.astype(float)).sum(axis=-1)
    assert np.all(np.abs(row_sums) <= (9 + 2) * _u(dtype) * (scale + 1))
    # each entry against the exact value at the float p: at most one rounding
    # of 1 - p_i (exact for p_i >= 1/2) and of the product
    for m, row in zip(J, p):
        q = _exact(row)
        exact = [[q[i] * ((i == j) - q[j]) for j in range(9)] for i in range(9)]
        assert ulp_distance(m, np.array(exact, dtype=float).astype(dtype)).max() <= 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_jacobian_equals_mpmath_derivative_of_softmax(dtype):
    x = _logits(dtype, (6,), sigma=1.0, seed=8)
    J = ss.softmax_jacobian(ss.softmax(x))
    with mpmath.workdps(50):
        xs = [mpmath.mpf(float(v)) for v in x]

        def component(i):
            return lambda *z: mpmath.exp(z[i]) / mpmath.fsum(mpmath.exp(v) for v in z)

        expected = [
            [
                float(mpmath.diff(component(i), xs, tuple(int(k == j) for k in range(6))))
                for j in range(6)
            ]
            for i in range(6)
        ]
    # p carries the softmax error (n + 2 + 2 spread) u, then two roundings
    assert ulp_distance(J, np.array(expected).astype(dtype)).max() <= _softmax_bound(x) * 2 + 2


def test_jacobian_layout_for_other_axes():
    p = ss.softmax(_logits(np.float64, (3, 4, 5), seed=9), axis=1)
    J = ss.softmax_jacobian(p, axis=1)
    assert J.shape == (3, 5, 4, 4)
    np.testing.assert_array_equal(J[2, 3], ss.softmax_jacobian(p[2, :, 3]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_vjp_equals_jacobian_transpose_times_g(dtype):
    rng = np.random.default_rng(10)
    p = ss.softmax(_logits(dtype, (4, 12), seed=10))
    g = rng.normal(0, 1, (4, 12)).astype(dtype)
    vjp = ss.softmax_vjp(p, g)
    assert vjp.dtype == dtype
    for out, prow, grow in zip(vjp, p, g):
        pe, ge = _exact(prow), _exact(grow)
        dot = sum(a * b for a, b in zip(pe, ge))
        exact = np.array([float(a * (b - dot)) for a, b in zip(pe, ge)])
        # |error| <= 3 u |p_j| (|g_j| + sum |g_k p_k|): compensated dot, one
        # subtraction, one product
        limit = (
            3 * _u(dtype) * np.abs(prow.astype(float)) * (np.abs(grow) + np.abs(grow * prow).sum())
        )
        assert np.all(np.abs(out - exact) <= limit)
    matrix = np.einsum("rij,ri->rj", ss.softmax_jacobian(p).astype(float), g.astype(float))
    np.testing.assert_allclose(vjp, matrix, rtol=0, atol=20 * _u(dtype))
    # float32 only when both are float32
    assert ss.softmax_vjp(p, g.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_vjp(dtype):
    rng = np.random.default_rng(11)
    x = _logits(dtype, (4, 10), seed=11)
    logp = ss.log_softmax(x)
    g = rng.normal(0, 1, (4, 10)).astype(dtype)
    vjp = ss.log_softmax_vjp(logp, g)
    with mpmath.workdps(50):
        exact = []
        for ls, gs in zip(logp, g):
            total = mpmath.fsum(map(float, gs))
            exact.append(
                [float(mpmath.mpf(float(b)) - mpmath.exp(float(a)) * total) for a, b in zip(ls, gs)]
            )
        exact = np.array(exact)
    limit = 4 * _u(dtype) * (np.abs(g) + np.abs(g).sum(axis=-1, keepdims=True))
    assert np.all(np.abs(vjp - exact) <= limit)
    # the VJP of log_softmax is the VJP of softmax with g / p (chain rule)
    p = np.exp(logp.astype(float))
    np.testing.assert_allclose(
        vjp, ss.softmax_vjp(p, g / p), rtol=0, atol=50 * _u(dtype) * np.abs(g).sum()
    )


def test_vjp_shape_errors():
    with pytest.raises(
        ValueError, match=r"g has shape \(3,\), expected \(2, 3\) \(the shape of p\)"
    ):
        ss.softmax_vjp(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="the shape of logp"):
        ss.log_softmax_vjp(np.zeros((2, 3)), np.zeros((3, 2)))


# ---------------------------------------------------------------------------
# inverse
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_inverse_recovers_logits_up_to_one_constant_per_row(dtype):
    z = _logits(dtype, (6, 20), sigma=2.0, seed=12)
    back = ss.inverse_softmax(ss.softmax(z))
    shift = (back - z).astype(float)
    # ln p_j = z_j - lse: each ln carries the softmax error relative to p
    # (absolute in ln) plus one rounding of |ln p| u
    limit = (_softmax_bound(z)[:, None] + np.abs(back.astype(float)) + np.abs(z)) * _u(dtype) * 2
    assert np.all(np.abs(shift - shift[:, :1]) <= limit + limit[:, :1])
    # C = logsumexp(z) removes the constant
    again = ss.inverse_softmax(ss.softmax(z), C=ss.logsumexp(z))
    assert np.all(np.abs(again - z) <= limit)
    np.testing.assert_array_equal(
        again, ss.inverse_softmax(ss.softmax(z), C=ss.logsumexp(z, keepdims=True))
    )
    # and softmax undoes it: softmax(ln w) = w / sum(w) for weights w
    w = np.abs(z) + 0.5
    assert (
        ulp_distance(ss.softmax(ss.inverse_softmax(w)), w / w.sum(axis=-1, keepdims=True)).max()
        <= 24
    )


def test_inverse_special_values_and_errors():
    np.testing.assert_array_equal(
        ss.inverse_softmax([0.0, 1.0, np.inf], C=2.0), [-np.inf, 2.0, np.inf]
    )
    assert np.isnan(ss.inverse_softmax([np.nan, 0.5])[0])
    assert ss.inverse_softmax(np.array([0.5], np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match=r"p\[1, 0\] = -0.5 is negative"):
        ss.inverse_softmax([[0.5, 0.5], [-0.5, 1.5]])
    with pytest.raises(
        ValueError, match=r"C has shape \(3,\); expected a scalar, \(2,\) or \(2, 1\)"
    ):
        ss.inverse_softmax(np.full((2, 2), 0.5), C=np.zeros(3))
    with pytest.raises(ValueError, match="C must be finite"):
        ss.inverse_softmax([0.5, 0.5], C=np.inf)


# ---------------------------------------------------------------------------
# the kernels from user code
# ---------------------------------------------------------------------------


@njit(parallel=True)
def _user_cross_entropy(x, labels, beta):
    out = np.empty(x.shape[0], x.dtype)
    for r in prange(x.shape[0]):
        out[r] = jit.cross_entropy_row(x[r], labels[r], beta)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_from_user_parallel_code(dtype):
    x = _logits(dtype, (32, 9), seed=13)
    labels = np.random.default_rng(13).integers(0, 9, 32)
    np.testing.assert_array_equal(
        _user_cross_entropy(x, labels, 2.0), ss.cross_entropy(x, labels, beta=2.0)
    )
    out = np.empty_like(x)
    jit.hardmax(x, out)
    np.testing.assert_array_equal(out, ss.hardmax(x))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("base", [2.0, 3.0, 10.0])
def test_naive_base_a_overflows_at_log_max_over_ln_a_shifted_never(base, dtype):
    # a^z overflows once z > ln(max float) / ln a (1024 for base 2 in float64)
    edge = math.log(float(np.finfo(dtype).max)) / math.log(base)
    below, above = (np.array([f * edge, 0.0], dtype=dtype) for f in (0.999, 1.001))
    assert np.all(np.isfinite(ss.softmax(below, base=base, method="naive")))
    assert np.isnan(ss.softmax(above, base=base, method="naive")[0])
    for z in (above, np.array([np.finfo(dtype).max, 0.0], dtype=dtype)):
        p = ss.softmax(z, base=base, method="shifted")
        # a^-z is at most about 1 / max float: a subnormal or 0
        assert p[0] == 1.0 and 0.0 <= p[1] < np.finfo(dtype).smallest_normal
