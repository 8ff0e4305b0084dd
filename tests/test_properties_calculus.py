"""Property-based tests (hypothesis) of the softmax calculus: hardmax, cross-entropy,
the Jacobian, the vector-Jacobian products and the inverse, over the inputs of
:mod:`property_cases` (shapes, layouts, special values, both dtypes).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from property_cases import (
    BASES,
    BETAS,
    DTYPES,
    as_rows,
    assert_untouched,
    axes_for,
    elementwise_cases,
    examples,
    laid_out,
    normalized,
    scale,
    values,
)

import stable_softmax as ss
from stable_softmax.accuracy import metrics

# ---------------------------------------------------------------------------
# the softmax calculus
# ---------------------------------------------------------------------------


@st.composite
def class_axis_cases(draw, *, finite=False, max_side=5):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    x, buf = draw(
        laid_out(dtype, values(dtype, finite=finite), min_dims=1, max_dims=3, max_side=max_side)
    )
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    return x, buf, axis


@examples(150)
@given(case=elementwise_cases())
def test_hardmax(case):
    x, buf, axis, _, _ = case
    snapshot = buf.tobytes()
    y = ss.hardmax(x, axis)
    assert_untouched(buf, snapshot)
    assert y.dtype == x.dtype and y.shape == x.shape
    axes = normalized(axis, x.ndim)
    xr, yr = as_rows(x, axes), as_rows(y, axes)
    if xr.shape[1] == 0:
        return
    nan_row = np.isnan(xr).any(axis=1)
    assert np.isnan(yr[nan_row]).all()
    m = np.max(xr[~nan_row], axis=1, keepdims=True)
    ties = xr[~nan_row] == m
    share = (1.0 / ties.sum(axis=1, keepdims=True)).astype(x.dtype)
    np.testing.assert_array_equal(yr[~nan_row], np.where(ties, share, x.dtype.type(0)), strict=True)


@examples(150)
@given(
    case=class_axis_cases(),
    data=st.data(),
    beta=st.sampled_from(BETAS),
    base=st.sampled_from(BASES),
)
def test_cross_entropy_is_minus_log_softmax_at_the_label(case, data, beta, base):
    x, buf, axis = case
    n = x.shape[axis]
    assume(n > 0)
    kept = x.shape[: axis % x.ndim] + x.shape[axis % x.ndim + 1 :]
    labels = data.draw(hnp.arrays(np.int64, kept, elements=st.integers(0, n - 1)))
    snapshot, label_snapshot = buf.tobytes(), labels.tobytes()
    ce = ss.cross_entropy(x, labels, axis, beta=beta, base=base)
    grad = ss.cross_entropy_grad(x, labels, axis, beta=beta, base=base)
    total = ss.cross_entropy(
        x, labels, axis, beta=beta, base=base, reduction=data.draw(st.sampled_from(["mean", "sum"]))
    )
    assert_untouched(buf, snapshot)
    assert labels.tobytes() == label_snapshot
    assert np.asarray(ce).dtype == x.dtype and np.shape(ce) == kept
    assert np.ndim(total) == 0 and np.asarray(total).dtype == x.dtype
    assert grad.dtype == x.dtype and grad.shape == x.shape
    # documented: equal to -log_softmax(logits)[label] bit for bit
    logp = ss.log_softmax(x, axis, beta=beta, base=base)
    at_label = np.take_along_axis(logp, np.expand_dims(labels, axis % x.ndim), axis).squeeze(
        axis % x.ndim
    )
    np.testing.assert_array_equal(ce, x.dtype.type(0) - at_label, strict=False)
    with np.errstate(invalid="ignore"):
        assert not (np.asarray(ce) < 0).any()
    # gradient: c p off the label, in [-c, 0] at it; NaN exactly where softmax is
    c = scale(beta, base, x.dtype)
    p = ss.softmax(x, axis, beta=beta, base=base)
    onehot = np.zeros(x.shape, bool)
    np.put_along_axis(onehot, np.expand_dims(labels, axis % x.ndim), True, axis)
    np.testing.assert_array_equal(grad[~onehot], c * p[~onehot])
    g = grad[onehot]
    nan = np.isnan(p[onehot])
    assert np.isnan(g[nan]).all()
    assert ((g[~nan] <= 0) & (g[~nan] >= -c)).all()


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_cross_entropy_grad_of_one_class_is_nan_where_softmax_is(value):
    x = np.array([value])
    assert np.isnan(ss.softmax(x)).all()
    assert np.isnan(ss.cross_entropy_grad(x, 0)).all()


@examples(100)
@given(case=class_axis_cases(max_side=4))
def test_softmax_jacobian(case):
    x, buf, axis = case
    snapshot = buf.tobytes()
    J = ss.softmax_jacobian(x, axis)
    assert_untouched(buf, snapshot)
    ax = axis % x.ndim
    n = x.shape[ax]
    kept = x.shape[:ax] + x.shape[ax + 1 :]
    assert J.dtype == x.dtype and J.shape == kept + (n, n)
    p = np.moveaxis(x, ax, -1)
    with np.errstate(all="ignore"):  # IEEE arithmetic of the formula, inf and NaN included
        outer = -(p[..., :, None] * p[..., None, :])
        idx = np.arange(n)
        outer[..., idx, idx] = p * (x.dtype.type(1) - p)
    np.testing.assert_array_equal(J, outer, strict=True)
    np.testing.assert_array_equal(J, np.swapaxes(J, -1, -2))


@st.composite
def pair_cases(draw, on_simplex: bool):
    """``(p or logp, g, axis, buffers)``: finite moderate ``g``, ``p = softmax(z)`` or arbitrary."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    z, zbuf = draw(
        laid_out(dtype, values(dtype, finite=on_simplex), min_dims=1, max_dims=3, max_side=5)
    )
    axis = draw(axes_for(z.ndim)) if z.ndim else None
    gdtype = np.dtype(draw(st.sampled_from(DTYPES)))
    g = draw(
        hnp.arrays(
            gdtype,
            z.shape,
            elements=st.floats(-1e3, 1e3, width=32) if on_simplex else values(gdtype),
        )
    )
    return z, zbuf, g, axis


@pytest.mark.parametrize("vjp", ["softmax_vjp", "log_softmax_vjp"])
@examples(100)
@given(case=pair_cases(on_simplex=False))
def test_vjp_structure(vjp, case):
    z, zbuf, g, axis = case
    snapshots = zbuf.tobytes(), g.tobytes()
    out = getattr(ss, vjp)(z, g, axis)
    assert (zbuf.tobytes(), g.tobytes()) == snapshots
    assert out.shape == z.shape and out.dtype == np.result_type(z, g)


@pytest.mark.parametrize("vjp", ["softmax_vjp", "log_softmax_vjp"])
@examples(100)
@given(case=pair_cases(on_simplex=True))
def test_vjp_is_orthogonal_to_ones(vjp, case):
    """On the simplex the VJP of softmax and of log_softmax sums to 0 (a constant shift of
    the logits changes nothing), up to the rounding of ``p`` and of the products.
    """
    z, _, g, axis = case
    dtype = np.result_type(z, g)
    p = ss.softmax(z, axis).astype(dtype)
    first = p if vjp == "softmax_vjp" else ss.log_softmax(z, axis).astype(dtype)
    out = getattr(ss, vjp)(first, g, axis)
    axes = normalized(axis, z.ndim)
    pr, gr, outr = as_rows(p, axes), as_rows(g.astype(dtype), axes), as_rows(out, axes)
    if pr.shape[1] == 0:
        return
    assert np.isfinite(outr).all()
    eps = float(np.finfo(z.dtype).eps)  # p carries the rounding of z's dtype
    n = pr.shape[1]
    scale_ = np.sum(np.abs(gr.astype(np.float64)), axis=1) + np.abs(outr.astype(np.float64)).sum(
        axis=1
    )
    total = np.array([math.fsum(row) for row in outr.astype(np.float64)])
    underflow = n * float(np.finfo(dtype).tiny)  # products and sums in the subnormal range
    assert (np.abs(total) <= 4 * (n + 2) * eps * scale_ + underflow).all()


@examples(150)
@given(case=elementwise_cases())
def test_inverse_softmax(case):
    x, buf, axis, _, _ = case
    snapshot = buf.tobytes()
    with np.errstate(invalid="ignore"):
        negative = (x < 0).any()
    if negative:
        with pytest.raises(ValueError, match="negative"):
            ss.inverse_softmax(x, axis)
        assert_untouched(buf, snapshot)
        x = np.abs(x)
    z = ss.inverse_softmax(x, axis)
    assert_untouched(buf, snapshot)
    assert z.dtype == x.dtype and z.shape == x.shape
    with np.errstate(divide="ignore"):
        expected = np.log(x.astype(np.float64)).astype(x.dtype)
    assert (metrics.ulp_distance(z, expected) <= 1).all()


@examples(60)
@given(case=elementwise_cases(), C=st.sampled_from([0.0, -3.5, 100.0]))
def test_inverse_softmax_round_trip(case, C):
    """``softmax(inverse_softmax(w, C)) == w / sum(w)``: finite weights >= 0, positive sum."""
    x, _, axis, _, _ = case
    with np.errstate(invalid="ignore", over="ignore"):
        w = np.where(np.isfinite(x), np.abs(x), 1).astype(x.dtype)
    axes = normalized(axis, x.ndim)
    wr = as_rows(w, axes).astype(np.float64)
    with np.errstate(over="ignore"):
        sums = wr.sum(axis=1)
    assume(wr.size and (sums > 0).all() and np.isfinite(sums).all())
    back = as_rows(ss.softmax(ss.inverse_softmax(w, axis, C=C), axis), axes)
    want = wr / wr.sum(axis=1, keepdims=True)
    eps = float(np.finfo(x.dtype).eps)
    n = wr.shape[1]
    # ln w rounds to 1/2 ulp of |ln w|, which exp turns into a relative error
    # of |ln w| u; the shifted softmax adds its (n + 2 + 2 spread) u.
    with np.errstate(divide="ignore"):
        logs = np.abs(np.log(wr)) + abs(C)
    logs[~np.isfinite(logs)] = 0
    rel = (n + 4 + 4 * logs.max(axis=1, keepdims=True)) * eps
    tiny = float(np.finfo(x.dtype).tiny) / eps
    assert (np.abs(back - want) <= rel * want + tiny).all()
