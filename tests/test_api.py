"""The public functions against SciPy, the brief's special-value table and the input rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sp
from numpy.exceptions import AxisError

import stable_softmax as ss
from stable_softmax.accuracy.metrics import ulp_distance

FUNCTIONS = {"softmax": sp.softmax, "log_softmax": sp.log_softmax, "logsumexp": sp.logsumexp}
CASES = [(f, m) for f, methods in ss.METHODS.items() for m in methods]
DTYPES = [np.float32, np.float64]
GUARDED = [(f, m) for f, m in CASES if m != "naive"]

# Largest ULP distance from SciPy accepted for rows of n <= 64 gaussian(0, 2)
# logits. float32 results are compared with SciPy's float64 result rounded to
# float32; float64 ones with SciPy's float64 result, which carries its own
# error of the same size. The first-order bound of Blanchard, Higham & Higham
# (2021) for shifted softmax, (n + 2 + 2 (max - min)) u relative, is about 90
# ULPs here; measured errors are 10 or less, so 16 leaves room for the
# different summation orders without hiding a real defect (a wrong shift or a
# float32 kernel promoted to float64 and back shows up as 0; a wrong formula
# as millions).
ULP_BOUND = {"softmax": 16, "log_softmax": 16, "logsumexp": 2}


def _rows(dtype, n, rows=16, sigma=2.0, seed=0):
    return np.random.default_rng(seed + n).normal(0.0, sigma, (rows, n)).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function,method", CASES)
@pytest.mark.parametrize("n", [1, 2, 8, 64])
def test_matches_scipy_on_finite_inputs(function, method, dtype, n):
    if (function, method, n) == ("log_softmax", "naive", 1):
        pytest.skip(
            "exact result 0, naive error about u absolute: "
            "see test_naive_log_softmax_of_one_element"
        )
    x = _rows(dtype, n)
    got = getattr(ss, function)(x, method=method)
    expected = np.asarray(FUNCTIONS[function](x.astype(np.float64), axis=-1)).astype(dtype)
    assert got.dtype == dtype
    assert np.all(ulp_distance(got, expected) <= _allowed_ulps(function, x, expected))


def _allowed_ulps(function, x, expected):
    """ULP_BOUND plus, for the log functions, their absolute error in ULPs of the result.

    log_softmax and logsumexp are computed to an absolute error of about
    (|c x| + |lse| + n + 2) u (Blanchard, Higham & Higham 2021); where the
    result is near 0 (a dominant logit, a single element) that absolute error
    is many ULPs of the result, for every method and for SciPy alike.
    """
    if function == "softmax":
        return ULP_BOUND[function]
    dtype = x.dtype.type
    u = np.finfo(dtype).eps / 2
    lse = sp.logsumexp(x.astype(np.float64), axis=-1, keepdims=True)
    scale = (
        np.abs(x) + np.abs(lse)
        if function == "log_softmax"
        else np.abs(lse[..., 0]) + np.abs(x).max(axis=-1)
    )
    absolute = (scale + x.shape[-1] + 2) * u
    ulp_of_result = np.spacing(np.abs(expected).astype(dtype))
    with np.errstate(over="ignore"):  # an exact 0 has a subnormal ULP: any error is allowed there
        return ULP_BOUND[function] + absolute / ulp_of_result


@pytest.mark.parametrize("dtype", DTYPES)
def test_naive_log_softmax_of_one_element(dtype):
    # c x - ln(exp(c x)) is exactly 0; unshifted, the rounding of exp(c x)
    # leaves ln(1 + d) ~ d with |d| <= 1 ULP of exp relative (2u here, the fast
    # exp being within 1 ULP) plus the log's own rounding of a number near c x.
    x = _rows(dtype, 1)
    got = ss.log_softmax(x, method="naive")
    u = np.finfo(dtype).eps / 2
    assert np.all(np.abs(got) <= 2 * u * (1 + np.abs(x)) + 2 * u)
    for method in ("shifted", "lse", "online"):
        np.testing.assert_array_equal(ss.log_softmax(x, method=method), np.zeros_like(x))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", ss.METHODS["softmax"])
@pytest.mark.parametrize("n,sigma", [(2, 1.0), (10, 3.0), (1000, 2.0), (20000, 1.0)])
def test_softmax_sums_to_one_within_n_dependent_bound(method, dtype, n, sigma):
    x = _rows(dtype, n, rows=4, sigma=sigma)
    p = ss.softmax(x, method=method)
    u = np.finfo(dtype).eps / 2
    spread = x.max(axis=-1).astype(float) - x.min(axis=-1)
    lse = np.abs(sp.logsumexp(x.astype(np.float64), axis=-1))
    # Each output has relative error <= (n + 2 + 2 spread) u to first order
    # (Blanchard, Higham & Higham 2021); the lse form adds |lse| u. The sum of
    # the outputs inherits the largest of these relative errors.
    bound = (n + 2 + 2 * spread + lse) * u
    deviation = np.array([abs(math.fsum(row.astype(np.float64)) - 1.0) for row in p])
    assert np.all(deviation <= bound)
    assert np.all((p >= 0) & (p <= 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function", ["softmax", "log_softmax"])
def test_shifted_is_exactly_shift_invariant(function, dtype):
    # Multiples of 1/8 below 64 plus 1024 are exact in float32 and float64, so
    # x - max is the same floating-point number before and after the shift.
    x = np.random.default_rng(1).integers(-512, 512, (8, 33)).astype(dtype) / 8
    f = getattr(ss, function)
    np.testing.assert_array_equal(f(x + 1024, method="shifted"), f(x, method="shifted"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_lse_softmax_shift_invariance_degrades_with_lse(dtype):
    x = np.random.default_rng(2).integers(-512, 512, (8, 33)).astype(dtype) / 8
    shifted = ss.softmax(x + 1024, method="lse")
    reference = sp.softmax(x.astype(np.float64), axis=-1).astype(dtype)
    # exp(x - lse) inherits the absolute rounding error of lse (about
    # |lse| u, with |lse| near 1090 here) as a relative error: about |lse|
    # ULPs, plus the usual few ULPs.
    lse = sp.logsumexp((x + 1024).astype(np.float64), axis=-1, keepdims=True)
    assert np.all(ulp_distance(shifted, reference) <= np.abs(lse) + 16)


inf, nan = math.inf, math.nan
# The special-value table of the design brief (scipy.special's conventions):
# x, softmax, log_softmax, logsumexp.
SPECIAL = [
    ([1.0, nan, 2.0], [nan, nan, nan], [nan, nan, nan], nan),
    ([-inf, -inf], [nan, nan], [nan, nan], -inf),
    ([0.0, -inf, 0.0], [0.5, 0.0, 0.5], [-math.log(2), -inf, -math.log(2)], math.log(2)),
    ([inf, 1.0, -inf], [nan, nan, nan], [nan, -inf, -inf], inf),
    ([inf, inf, 0.0], [nan, nan, nan], [nan, nan, -inf], inf),
    ([inf, nan], [nan, nan], [nan, nan], nan),
    ([-inf, nan], [nan, nan], [nan, nan], nan),
    ([], [], [], -inf),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function,method", GUARDED)
@pytest.mark.parametrize("x,soft,logsoft,lse", SPECIAL)
def test_special_value_table(function, method, dtype, x, soft, logsoft, lse):
    expected = {"softmax": soft, "log_softmax": logsoft, "logsumexp": lse}[function]
    got = getattr(ss, function)(np.array(x, dtype=dtype), method=method)
    np.testing.assert_array_equal(got, np.array(expected, dtype=dtype))


def _apply_per_slice(function, x, axes, **kw):
    """Independent axis bookkeeping: move axes last by hand, call per 1-D slice."""
    kept = [i for i in range(x.ndim) if i not in axes]
    moved = np.transpose(x, kept + list(axes))
    flat = np.ascontiguousarray(moved).reshape(-1, math.prod(x.shape[i] for i in axes))
    rows = [getattr(ss, function)(row, **kw) for row in flat]
    if function == "logsumexp":
        return np.array(rows, dtype=x.dtype).reshape([x.shape[i] for i in kept])
    return np.transpose(
        np.array(rows, dtype=x.dtype).reshape(moved.shape), np.argsort(kept + list(axes))
    )


@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize(
    "axis,axes",
    [
        (0, (0,)),
        (1, (1,)),
        (-1, (2,)),
        (-3, (0,)),
        ((0, 2), (0, 2)),
        ((2, 0), (0, 2)),
        (None, (0, 1, 2)),
    ],
)
def test_axis_forms(function, axis, axes):
    x = np.random.default_rng(3).normal(size=(3, 4, 5))
    got = getattr(ss, function)(x, axis=axis)
    np.testing.assert_array_equal(got, _apply_per_slice(function, x, axes))


@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_logsumexp_keepdims_and_scalar(function):
    x = np.random.default_rng(4).normal(size=(3, 4))
    if function == "logsumexp":
        kept = ss.logsumexp(x, axis=(0, 1), keepdims=True)
        assert kept.shape == (1, 1)
        scalar = ss.logsumexp(x, axis=None)
        assert isinstance(scalar, np.float64) and scalar == kept[0, 0]
        assert ss.logsumexp(x, axis=0, keepdims=True).shape == (1, 4)
    else:
        assert getattr(ss, function)(x, axis=None).shape == x.shape


@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("order", ["F", "strided", "negative"])
@pytest.mark.parametrize("axis", [0, -1, None])
def test_layouts_give_the_contiguous_result(function, order, axis):
    base = np.random.default_rng(5).normal(size=(6, 10)).astype(np.float32)
    x = {
        "F": np.asfortranarray(base),
        "strided": np.repeat(base, 2, axis=1)[:, ::2],
        "negative": base[::-1, ::-1].copy()[::-1, ::-1],
    }[order]
    np.testing.assert_array_equal(x, base)
    f = getattr(ss, function)
    np.testing.assert_array_equal(f(x, axis=axis), f(np.ascontiguousarray(base), axis=axis))


@pytest.mark.parametrize(
    "shape,axis", [((0,), -1), ((3, 0), -1), ((0, 4), -1), ((0, 4), 0), ((3, 0), None)]
)
def test_empty_inputs(shape, axis):
    x = np.empty(shape, dtype=np.float32)
    assert ss.softmax(x, axis=axis).shape == shape
    assert ss.log_softmax(x, axis=axis).shape == shape
    lse = ss.logsumexp(x, axis=axis)
    # numpy's rule for the reduced shape; an empty slice sums to 0, whose log is -inf.
    expected_shape = np.sum(x, axis=axis).shape
    assert np.shape(lse) == expected_shape
    assert np.all(np.asarray(lse) == -np.inf)


def test_zero_dimensional_input_with_axis_none():
    assert ss.softmax(np.float32(3.0), axis=None) == 1.0
    assert ss.log_softmax(2.5, axis=None) == 0.0
    assert ss.logsumexp(np.float64(-7.25), axis=None) == -7.25
    with pytest.raises(AxisError, match="axis=None"):
        ss.softmax(np.float64(1.0))


@pytest.mark.parametrize(
    "x", [[1, 2, 3], np.array([1, 2, 3], dtype=np.int8), np.array([True, False])]
)
def test_ints_and_bools_compute_in_float64(x):
    got = ss.softmax(x)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, ss.softmax(np.asarray(x, dtype=np.float64)))


@pytest.mark.parametrize(
    "bad,hint",
    [
        (np.ones(3, np.longdouble), "float32"),
        (np.ones(3, np.complex128), "real"),
        (np.array([1, "a"], dtype=object), "astype"),
        (np.array(["a", "b"]), "astype"),
    ],
)
@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_unsupported_dtypes_raise_type_error_with_a_hint(function, bad, hint):
    with pytest.raises(TypeError, match=hint):
        getattr(ss, function)(bad)


@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_bad_arguments(function):
    f = getattr(ss, function)
    x = np.ones((2, 3))
    with pytest.raises(AxisError):
        f(x, axis=2)
    with pytest.raises(AxisError):
        f(x, axis=(0, -3))
    with pytest.raises(ValueError, match="repeated"):
        f(x, axis=(1, -1))
    with pytest.raises(TypeError, match="axis"):
        f(x, axis=1.0)
    with pytest.raises(ValueError, match=", ".join(repr(m) for m in ss.METHODS[function])):
        f(x, method="online-ish")
    for beta in (0.0, -1.0):
        with pytest.raises(ValueError, match="beta must be > 0"):
            f(x, beta=beta)
    with pytest.raises(ValueError, match="beta must be finite"):
        f(x, beta=math.inf)
    with pytest.raises(TypeError, match="beta must be a real number"):
        f(x, beta="2")
    for base in (1.0, 0.5, -2.0):
        with pytest.raises(ValueError, match="base must be > 1"):
            f(x, base=base)
    with pytest.raises(ValueError, match="not representable"):
        f(x.astype(np.float32), beta=1e39)


@pytest.mark.parametrize("function", ["softmax", "log_softmax"])
def test_out_validation(function):
    f = getattr(ss, function)
    x = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="shape"):
        f(x, out=np.empty((3, 2), np.float32))
    with pytest.raises(ValueError, match="dtype float64, expected float32"):
        f(x, out=np.empty((2, 3), np.float64))
    with pytest.raises(TypeError, match="ndarray"):
        f(x, out=[[0.0] * 3] * 2)
    readonly = np.empty((2, 3), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        f(x, out=readonly)


@pytest.mark.parametrize("function,method", [c for c in CASES if c[0] != "logsumexp"])
@pytest.mark.parametrize("axis", [-1, 0, None])
def test_out_and_in_place(function, method, axis):
    f = getattr(ss, function)
    x = np.random.default_rng(6).normal(size=(5, 7))
    expected = f(x, axis=axis, method=method)
    out = np.empty_like(x)
    assert f(x, axis=axis, method=method, out=out) is out
    np.testing.assert_array_equal(out, expected)
    in_place = x.copy()
    assert f(in_place, axis=axis, method=method, out=in_place) is in_place
    np.testing.assert_array_equal(in_place, expected)
    # An out that overlaps x in another layout must not corrupt the result.
    buf = np.concatenate([x.ravel(), [0.0]])
    shifted_x = buf[:-1].reshape(x.shape)
    overlapping = buf[1:].reshape(x.shape)
    f(shifted_x, axis=axis, method=method, out=overlapping)
    np.testing.assert_array_equal(overlapping, expected)


@pytest.mark.parametrize("function,method", CASES)
def test_input_is_never_written(function, method):
    x = np.random.default_rng(7).normal(size=(4, 9)).astype(np.float32)
    x[0, 0], x[1, 1], x[2, 2] = np.inf, np.nan, -np.inf
    before = x.copy()
    getattr(ss, function)(x, method=method)
    np.testing.assert_array_equal(x, before)


def test_worked_example_from_the_course_material():
    # The design brief's worked example, given to 4 decimals.
    np.testing.assert_allclose(
        ss.softmax([2, 4, 2, 1]), [0.1025, 0.7573, 0.1025, 0.0377], atol=5e-5
    )
    np.testing.assert_allclose(
        ss.softmax([2, 4, 2, 1], base=2), [0.1538, 0.6154, 0.1538, 0.0769], atol=5e-5
    )
