"""reference.cross_entropy and reference.cross_entropy_grad against mpmath.

The expected values are the formulas evaluated directly in mpmath at 100
significant digits (no shift, no Ziv loop, no shared code with the reference)
and rounded to nearest by mpmath itself at 24 or 53 bits. The inputs keep the
results in the normal range, where that rounding is the IEEE one; subnormal
cases use values worked out by hand (stated in the test).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import reference

cross_entropy, cross_entropy_grad = reference.cross_entropy, reference.cross_entropy_grad

DTYPES = [np.float32, np.float64]


def _round(value, dtype):
    """Round an mpf to nearest-even at the dtype's precision (normal range only)."""
    with mpmath.workprec(24 if dtype == np.float32 else 53):
        return dtype(float(+value))


def _scale(beta, base):
    return mpmath.mpf(beta) * (1 if base is None else mpmath.log(mpmath.mpf(base)))


def _log_p(row, c):
    """Ln softmax_k for every k, straight from the definition."""
    xs = [mpmath.mpf(float(v)) for v in row]
    log_z = mpmath.log(mpmath.fsum(mpmath.exp(c * v) for v in xs))
    return [c * v - log_z for v in xs]


def _cases(dtype, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 4.0, (6, n)).astype(dtype)
    labels = rng.integers(0, n, 6)
    q = rng.random((6, n)) * (rng.random((6, n)) < 0.7)  # some exact zeros
    q[:, 0] += 0.1
    q = (q / q.sum(axis=1, keepdims=True)).astype(dtype)
    return x, labels, q


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta,base", [(1.0, None), (3.0, None), (1.0, 2.0), (0.75, 10.0)])
def test_cross_entropy_is_correctly_rounded(beta, base, dtype):
    x, labels, q = _cases(dtype, 7, seed=1)
    hard = cross_entropy(x, labels, beta=beta, base=base)
    soft = cross_entropy(x, q, beta=beta, base=base)
    assert hard.dtype == dtype and soft.dtype == dtype
    with mpmath.workdps(100):
        c = _scale(beta, base)
        for i, row in enumerate(x):
            log_p = _log_p(row, c)
            assert hard[i] == _round(-log_p[labels[i]], dtype)
            expected = -mpmath.fsum(
                mpmath.mpf(float(w)) * lp for w, lp in zip(q[i], log_p) if w != 0
            )
            assert soft[i] == _round(expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta,base", [(1.0, None), (1.0, 2.0), (2.5, 3.0)])
def test_gradient_is_correctly_rounded(beta, base, dtype):
    x, labels, q = _cases(dtype, 6, seed=2)
    hard = cross_entropy_grad(x, labels, beta=beta, base=base)
    soft = cross_entropy_grad(x, q, beta=beta, base=base)
    assert hard.shape == x.shape and hard.dtype == dtype
    with mpmath.workdps(100):
        c = _scale(beta, base)
        for i, row in enumerate(x):
            p = [mpmath.exp(lp) for lp in _log_p(row, c)]
            for j in range(x.shape[1]):
                assert hard[i, j] == _round(c * (p[j] - (j == labels[i])), dtype)
                assert soft[i, j] == _round(c * (p[j] - mpmath.mpf(float(q[i, j]))), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_is_the_derivative_of_the_cost(dtype):
    # mpmath.diff of the reference's own cost formula, independent of p - onehot
    x = np.array([[2.0, 4.0, 2.0, 1.0], [0.5, -3.0, 8.0, 1.25]], dtype=dtype)
    grad = cross_entropy_grad(x, [1, 3], base=2.0)
    with mpmath.workdps(60):
        c = mpmath.log(2)
        for i, y in enumerate([1, 3]):
            xs = [mpmath.mpf(float(v)) for v in x[i]]

            def cost(*z, y=y):
                return mpmath.log(mpmath.fsum(mpmath.exp(c * v) for v in z)) - c * z[y]

            for j in range(4):
                d = mpmath.diff(cost, xs, tuple(int(k == j) for k in range(4)))
                assert grad[i, j] == _round(d, dtype)


def test_hard_labels_are_negated_log_softmax():
    x = np.random.default_rng(3).normal(0, 30, (5, 9))
    labels = np.array([0, 8, 3, 3, 5])
    lsm = reference.log_softmax(x, beta=2.0)
    np.testing.assert_array_equal(cross_entropy(x, labels, beta=2.0), -lsm[np.arange(5), labels])


def test_extremes():
    # ln(1 + e^-1e300) + 1e300 rounds to 1e300; e^-800 alone is below float64
    assert cross_entropy(np.array([0.0, -1e300]), 1) == 1e300
    assert cross_entropy(np.array([0.0, -800.0]), 1) == 800.0
    # 1 - p_0 = e^-40 / (1 + e^-40): far below u, still correctly rounded
    with mpmath.workdps(60):
        tail = mpmath.exp(-40) / (1 + mpmath.exp(-40))
    assert cross_entropy_grad(np.array([40.0, 0.0]), 0)[0] == _round(-tail, np.float64)
    # e^-745 = 0.571 * 2^-1074 (ln 2^-1074 = -744.44): rounds to the least
    # subnormal; e^-745.2 = 0.468 * 2^-1074 rounds to -0.
    g = cross_entropy_grad(np.array([0.0, -745.0]), 0)
    assert g[0] == -(2.0**-1074) and g[1] == 2.0**-1074
    g = cross_entropy_grad(np.array([0.0, -745.2]), 0)
    assert g[0] == 0.0 and math.copysign(1, g[0]) == -1 and g[1] == 0.0
    # a lone class: CE = 0, gradient 0
    assert cross_entropy(np.array([[5.0]]), [0])[0] == 0.0
    assert cross_entropy_grad(np.array([[5.0]]), [0])[0, 0] == 0.0
    # uniform logits, float targets 1/3: p - q = 1/3 - RN(1/3), not 0
    with mpmath.workdps(60):
        gap = mpmath.mpf(1) / 3 - mpmath.mpf(1.0 / 3)
    np.testing.assert_array_equal(
        cross_entropy_grad(np.ones(3), np.full(3, 1 / 3)), [_round(gap, np.float64)] * 3
    )
    # and exact targets: p - q = 0 exactly
    np.testing.assert_array_equal(cross_entropy_grad(np.ones(4), np.full(4, 0.25)), np.zeros(4))


def test_special_values_match_the_package():
    import stable_softmax as ss

    inf, nan = np.inf, np.nan
    x = np.array(
        [[0.0, nan, 1.0], [0.0, -inf, 1.0], [inf, 0.0, 1.0], [inf, 0.0, 1.0], [-inf, -inf, -inf]]
    )
    labels = np.array([0, 1, 0, 2, 1])
    np.testing.assert_array_equal(cross_entropy(x, labels), [nan, inf, nan, inf, nan])
    np.testing.assert_array_equal(cross_entropy(x, labels), ss.cross_entropy(x, labels))
    grad = cross_entropy_grad(x, labels, beta=2.0)
    assert np.all(np.isnan(grad[[0, 2, 3, 4]]))
    assert grad[1, 1] == -2.0 and grad[1, 0] > 0
    q = np.array([[0.5, 0.0, 0.5], [0.5, 0.25, 0.25]])
    row = np.array([[0.0, -inf, 0.0]] * 2)
    np.testing.assert_array_equal(cross_entropy(row, q), [math.log(2), inf])


def test_layout_and_errors():
    x = np.random.default_rng(4).normal(0, 1, (3, 4, 2))
    labels = np.array([[0, 3], [1, 1], [2, 0]])
    np.testing.assert_array_equal(
        cross_entropy(x, labels, axis=1), cross_entropy(np.moveaxis(x, 1, -1), labels)
    )
    grad = cross_entropy_grad(x, labels, axis=1)
    np.testing.assert_array_equal(
        grad, np.moveaxis(cross_entropy_grad(np.moveaxis(x, 1, -1), labels), -1, 1)
    )
    assert cross_entropy(x[0, :, 0], 2).shape == ()
    with pytest.raises(ValueError, match=r"labels\[0, 1\] = 4 is out of range"):
        cross_entropy(x, np.array([[0, 4], [0, 0], [0, 0]]), axis=1)
    with pytest.raises(TypeError, match="float16"):
        cross_entropy(np.zeros(2, np.float16), 0)
    assert cross_entropy(x.astype(np.float32), labels, axis=1, dtype=np.float64).dtype == np.float64
