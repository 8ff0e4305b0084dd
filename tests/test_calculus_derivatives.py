"""The softmax calculus, derivatives and inverse: the gradient of the cost, the Jacobian,
the VJPs, the inverse, and the calculus kernels from user code.

Expected values come from mpmath at 50 digits, the correctly rounded
:mod:`reference`, or exact identities (stated where used); ULP bounds as in
``test_calculus.py``.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from calculus_cases import DTYPES, as_fractions, logits, softmax_bound, unit_roundoff
from numba import njit, prange

import reference
import stable_softmax as ss
from stable_softmax import jit
from stable_softmax.accuracy.metrics import ulp_distance

ref_cross_entropy = reference.cross_entropy
ref_cross_entropy_grad = reference.cross_entropy_grad

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
    x = logits(dtype, (3, 6), sigma=2.0, seed=5)
    labels = [0, 3, 5]
    c = float(np.float64(beta * math.log(base)) if base else beta)
    grad = ss.cross_entropy_grad(x, labels, beta=beta, base=base)
    expected = np.array([_mpmath_gradient(row, y, c) for row, y in zip(x, labels)]).astype(dtype)
    # + |c (x_j - m)| for c rounded to the dtype, + 1 for the product with c
    bound = softmax_bound(x, c) + c * np.ptp(x.astype(float), axis=-1) + 1
    assert np.all(ulp_distance(grad, expected) <= bound[:, None])
    # the label entry is the only negative one, and each row sums to ~0
    assert np.all((grad < 0) == (np.arange(6)[None, :] == np.array(labels)[:, None]))
    assert np.all(
        np.abs(grad.astype(float).sum(axis=-1))
        <= c * 6 * softmax_bound(x, c) * unit_roundoff(dtype)
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [4, 37])
def test_gradient_against_reference(n, dtype):
    x = logits(dtype, (12, n), seed=6 + n)
    rng = np.random.default_rng(n)
    labels = rng.integers(0, n, 12)
    got, ref = (
        ss.cross_entropy_grad(x, labels, beta=1.5),
        ref_cross_entropy_grad(x, labels, beta=1.5),
    )
    bound = softmax_bound(x, 1.5) + 1
    assert np.all(ulp_distance(got, ref) <= bound[:, None])
    # soft labels cancel (p_j - q_j): absolute error c (bound u p_j + u |p_j - q_j|)
    q = rng.random((12, n))
    q = (q / q.sum(axis=1, keepdims=True)).astype(dtype)
    got, ref = ss.cross_entropy_grad(x, q, beta=1.5), ref_cross_entropy_grad(x, q, beta=1.5)
    p = ss.softmax(x, beta=1.5).astype(float)
    limit = (
        1.5
        * unit_roundoff(dtype)
        * (2 * bound[:, None] * p + 2 * np.abs(ref.astype(float)) + 2 * q)
    )
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
    p = ss.softmax(logits(dtype, (5, 9), sigma=1.5, seed=7))
    J = ss.softmax_jacobian(p)
    assert J.shape == (5, 9, 9) and J.dtype == dtype
    diag = np.diagonal(J, axis1=-2, axis2=-1)
    off = J[:, ~np.eye(9, dtype=bool)]
    assert np.all(diag > 0) and np.all(off < 0)
    np.testing.assert_array_equal(J, np.swapaxes(J, -1, -2))
    # sum_j J_ij = p_i (1 - sum p) exactly; a row of n products adds n u |J|
    row_sums = np.array([[math.fsum(r.astype(float)) for r in m] for m in J])
    scale = np.abs(J.astype(float)).sum(axis=-1)
    assert np.all(np.abs(row_sums) <= (9 + 2) * unit_roundoff(dtype) * (scale + 1))
    # each entry against the exact value at the float p: at most one rounding
    # of 1 - p_i (exact for p_i >= 1/2) and of the product
    for m, row in zip(J, p):
        q = as_fractions(row)
        exact = [[q[i] * ((i == j) - q[j]) for j in range(9)] for i in range(9)]
        assert ulp_distance(m, np.array(exact, dtype=float).astype(dtype)).max() <= 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_jacobian_equals_mpmath_derivative_of_softmax(dtype):
    x = logits(dtype, (6,), sigma=1.0, seed=8)
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
    assert ulp_distance(J, np.array(expected).astype(dtype)).max() <= softmax_bound(x) * 2 + 2


def test_jacobian_layout_for_other_axes():
    p = ss.softmax(logits(np.float64, (3, 4, 5), seed=9), axis=1)
    J = ss.softmax_jacobian(p, axis=1)
    assert J.shape == (3, 5, 4, 4)
    np.testing.assert_array_equal(J[2, 3], ss.softmax_jacobian(p[2, :, 3]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_vjp_equals_jacobian_transpose_times_g(dtype):
    rng = np.random.default_rng(10)
    p = ss.softmax(logits(dtype, (4, 12), seed=10))
    g = rng.normal(0, 1, (4, 12)).astype(dtype)
    vjp = ss.softmax_vjp(p, g)
    assert vjp.dtype == dtype
    for out, prow, grow in zip(vjp, p, g):
        pe, ge = as_fractions(prow), as_fractions(grow)
        dot = sum(a * b for a, b in zip(pe, ge))
        exact = np.array([float(a * (b - dot)) for a, b in zip(pe, ge)])
        # |error| <= 3 u |p_j| (|g_j| + sum |g_k p_k|): compensated dot, one
        # subtraction, one product
        limit = (
            3
            * unit_roundoff(dtype)
            * np.abs(prow.astype(float))
            * (np.abs(grow) + np.abs(grow * prow).sum())
        )
        assert np.all(np.abs(out - exact) <= limit)
    matrix = np.einsum("rij,ri->rj", ss.softmax_jacobian(p).astype(float), g.astype(float))
    np.testing.assert_allclose(vjp, matrix, rtol=0, atol=20 * unit_roundoff(dtype))
    # float32 only when both are float32
    assert ss.softmax_vjp(p, g.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_vjp(dtype):
    rng = np.random.default_rng(11)
    x = logits(dtype, (4, 10), seed=11)
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
    limit = 4 * unit_roundoff(dtype) * (np.abs(g) + np.abs(g).sum(axis=-1, keepdims=True))
    assert np.all(np.abs(vjp - exact) <= limit)
    # the VJP of log_softmax is the VJP of softmax with g / p (chain rule)
    p = np.exp(logp.astype(float))
    np.testing.assert_allclose(
        vjp, ss.softmax_vjp(p, g / p), rtol=0, atol=50 * unit_roundoff(dtype) * np.abs(g).sum()
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
    z = logits(dtype, (6, 20), sigma=2.0, seed=12)
    back = ss.inverse_softmax(ss.softmax(z))
    shift = (back - z).astype(float)
    # ln p_j = z_j - lse: each ln carries the softmax error relative to p
    # (absolute in ln) plus one rounding of |ln p| u
    limit = (
        (softmax_bound(z)[:, None] + np.abs(back.astype(float)) + np.abs(z))
        * unit_roundoff(dtype)
        * 2
    )
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
    x = logits(dtype, (32, 9), seed=13)
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
