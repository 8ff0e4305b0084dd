"""SciPy parity: logsumexp's ``b=`` and ``return_sign``, ``where=`` masks, numpy.ma arrays,
the default logsumexp keeping small terms, and the log1p form of log_softmax.

Expected values come from the correctly rounded :mod:`reference` (errors in
ULPs per dtype), from ``scipy.special``'s own outputs where SciPy defines the
result (special values, signs), or from constants whose origin is stated.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sp

import reference
import stable_softmax as ss
from stable_softmax.floatbits import ulp_distance

DTYPES = [np.float32, np.float64]
FUNCTIONS = ["softmax", "log_softmax", "logsumexp"]


def _u(dtype) -> float:
    return float(np.finfo(dtype).eps) / 2


def _logits(dtype, shape, seed=0, sigma=3.0):
    return np.random.default_rng(seed).normal(0.0, sigma, shape).astype(dtype)


# --- the default logsumexp keeps the digits of small terms ---


def test_default_logsumexp_keeps_a_small_term():
    # SciPy 1.17's value, equal to log1p(exp(-40)) (both round the exact 4.2483542552915889e-18)
    assert ss.logsumexp([0.0, -40.0]) == 4.248354255291589e-18
    assert ss.logsumexp([0.0, -40.0]) == sp.logsumexp([0.0, -40.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_default_logsumexp_of_a_dominant_term_against_reference(dtype):
    x = np.array([[0.0, -20.0], [0.0, -40.0], [0.0, -60.0], [1.0, -30.0]], dtype)
    got = ss.logsumexp(x)
    ref = reference.logsumexp(x)
    assert np.all(got[:3] != 0)
    # log1p form: c m + log1p(s) with s = exp(-g) within 1 ULP (exp) and log1p's rounding
    assert ulp_distance(got, ref).max() <= 2


# --- weights b= and return_sign ---


def _weighted_bound(x, b, ref, dtype, method):
    """Absolute error bound of the fast weighted methods: (|c m| + n + 4) u times the
    condition number sum |b e| / |sum b e| of the sum (1 for weights >= 0).
    """
    xf, bf = x.astype(np.float64), b.astype(np.float64)
    m = xf.max(axis=-1, keepdims=True)
    terms = bf * np.exp(xf - m)
    cond = np.abs(terms).sum(-1) / np.abs(terms.sum(-1))
    return (np.abs(m[:, 0]) + x.shape[-1] + 4) * _u(dtype) * cond + 2 * _u(dtype) * np.abs(ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", ["naive", "shifted", "log1p", "accurate"])
@pytest.mark.parametrize("signs", ["positive", "mixed"])
def test_weighted_logsumexp_against_reference(dtype, method, signs):
    x = _logits(dtype, (12, 7), seed=1)
    rng = np.random.default_rng(2)
    b = rng.uniform(0.1, 2.0, x.shape)
    if signs == "mixed":
        b *= rng.choice([-1.0, 1.0], x.shape)
    b = b.astype(dtype)
    got, sign = ss.logsumexp(x, b=b, method=method, return_sign=True)
    ref, ref_sign = reference.logsumexp(x, b=b, return_sign=True)
    np.testing.assert_array_equal(sign, ref_sign)
    assert got.dtype == sign.dtype == dtype
    if method == "accurate":
        xf, bf = x.astype(np.float64), b.astype(np.float64)
        terms = bf * np.exp(xf - xf.max(-1, keepdims=True))
        cond = np.abs(terms).sum(-1) / np.abs(terms.sum(-1))
        well = cond < 2.0**8  # the documented range of the 1 ULP claim
        assert well.sum() >= 6
        assert ulp_distance(got[well], ref[well]).max() <= 1
    else:
        bound = _weighted_bound(x, b, ref, dtype, method)
        assert np.all(np.abs(got.astype(np.float64) - ref) <= bound)
    # without return_sign: the value where the total is positive, NaN where it is negative
    plain = ss.logsumexp(x, b=b, method=method)
    np.testing.assert_array_equal(plain, np.where(sign < 0, np.nan, got))


@pytest.mark.parametrize("dtype", DTYPES)
def test_weighted_dominant_term_keeps_its_digits(dtype):
    # b = [1, 1]: ln(1 + exp(-50)); b = [1, -1]: ln(1 - exp(-50)), both tiny and nonzero
    x = np.array([[0.0, -50.0], [0.0, -50.0]], dtype)
    b = np.array([[1.0, 1.0], [1.0, -1.0]], dtype)
    ref = reference.logsumexp(x, b=b)
    assert np.all(ref != 0)
    for method in ("log1p", "accurate"):
        got = ss.logsumexp(x, b=b, method=method)
        assert ulp_distance(got, ref).max() <= (1 if method == "accurate" else 2)


# (x, b) cases whose result scipy.special.logsumexp defines (SciPy 1.17.1 outputs)
SCIPY_CASES = [
    ([1.0, 2.0], [1.0, -1.0]),  # negative total: NaN, sign -1
    ([1.0, 2.0], [-1.0, 1.0]),
    ([1.0, 1.0], [1.0, -1.0]),  # exactly 0: -inf, sign 0
    ([0.0, 0.0], [0.0, 0.0]),  # every term dropped: -inf, sign 0
    ([np.inf, 1.0], [0.0, 1.0]),  # a zero weight drops even +inf
    ([np.nan, 1.0], [0.0, 1.0]),  # ... and NaN
    ([np.inf, 1.0], [-1.0, 1.0]),  # infinite negative term: (inf, -1)
    ([np.inf, np.inf], [1.0, -1.0]),  # inf - inf: NaN
    ([1.0, 2.0], [np.nan, 1.0]),  # a NaN weight: NaN
    ([1.0, 2.0], [np.inf, 1.0]),  # an infinite weight: inf
    ([-np.inf, -np.inf], [1.0, 1.0]),
    ([1.0, 2.0], [-1.0, -1.0]),
    ([5.0], [2.0]),
    ([1.0, 2.0], [1e-300, 0.0]),
    ([0.0, -40.0], [1.0, 1.0]),
]


@pytest.mark.parametrize("method", ["naive", "shifted", "log1p", "accurate"])
@pytest.mark.parametrize("x, b", SCIPY_CASES)
def test_weighted_logsumexp_matches_scipy(x, b, method):
    x, b = np.array(x), np.array(b)
    with np.errstate(all="ignore"):
        want, want_sign = sp.logsumexp(x, b=b, return_sign=True)
        want_plain = sp.logsumexp(x, b=b)
    got, sign = ss.logsumexp(x, b=b, method=method, return_sign=True)
    np.testing.assert_array_equal(sign, want_sign)
    if method in ("naive", "shifted") and 0 < abs(want) < _u(np.float64):
        # ln(1 + s) with s below u rounds to 0: the documented loss of these two forms
        assert got == 0
        return
    if np.isfinite(want):
        assert ulp_distance(got, want) <= 2  # SciPy is not correctly rounded
        assert ulp_distance(ss.logsumexp(x, b=b, method=method), want_plain) <= 2
    else:
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(ss.logsumexp(x, b=b, method=method), want_plain)


@pytest.mark.parametrize("x, b", SCIPY_CASES)
def test_weighted_reference_matches_scipy_special_values(x, b):
    x, b = np.array(x), np.array(b)
    with np.errstate(all="ignore"):
        want, want_sign = sp.logsumexp(x, b=b, return_sign=True)
    got, sign = reference.logsumexp(x, b=b, return_sign=True)
    np.testing.assert_array_equal(sign, want_sign)
    if np.isfinite(want):
        assert ulp_distance(got, want) <= 2
    else:
        np.testing.assert_array_equal(got, want)


def test_exact_cancellation_in_another_base_is_zero():
    # 2^1 - 2 * 2^0 = 0 exactly: -inf with sign 0, from the reference and every method
    assert reference.logsumexp([1.0, 0.0], b=[1.0, -2.0], base=2, return_sign=True) == (
        -np.inf,
        0.0,
    )
    assert ss.logsumexp([1.0, 1.0], b=[2.0, -2.0], return_sign=True) == (-np.inf, 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_b_broadcasts_and_keeps_the_dtype(dtype):
    x = _logits(dtype, (3, 5), seed=3)
    row = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    got = ss.logsumexp(x, b=row, method="accurate")
    assert got.dtype == dtype and got.shape == (3,)
    np.testing.assert_array_equal(got, reference.logsumexp(x, b=np.broadcast_to(row, x.shape)))
    # a scalar weight: ln(2) + logsumexp
    assert (
        ulp_distance(ss.logsumexp(x, b=2.0, method="accurate"), reference.logsumexp(x, b=2.0)).max()
        <= 1
    )
    # axis=0 with keepdims
    got0 = ss.logsumexp(x, axis=0, b=x * 0 + 1, keepdims=True, method="accurate")
    assert got0.shape == (1, 5)
    assert ulp_distance(got0, reference.logsumexp(x, axis=0, keepdims=True)).max() <= 1


def test_return_sign_without_weights():
    x = np.array([[0.0, 1.0], [-np.inf, -np.inf], [np.nan, 0.0]])
    got, sign = ss.logsumexp(x, return_sign=True)
    want, want_sign = sp.logsumexp(x, axis=-1, return_sign=True)
    np.testing.assert_array_equal(sign, want_sign)
    np.testing.assert_array_equal(got, ss.logsumexp(x))
    np.testing.assert_array_equal(got[1:], want[1:])
    value, s = ss.logsumexp([1.0, 2.0], return_sign=True)
    assert np.ndim(value) == 0 and s == 1.0


# --- where= and masked arrays ---


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_where_against_reference(function, dtype):
    x = _logits(dtype, (6, 9), seed=4)
    where = np.random.default_rng(5).random(x.shape) < 0.6
    where[:, 0] = True  # no row entirely excluded
    x[~where & (np.arange(9) == 8)] = np.nan  # an excluded NaN must not poison its row
    ref = getattr(reference, function)(x, where=where)
    got = getattr(ss, function)(x, method="accurate", where=where)
    assert ulp_distance(got, ref).max() <= 1
    if function == "softmax":
        assert np.all(got[~where] == 0)
    elif function == "log_softmax":
        assert np.all(got[~where] == -np.inf)
    # the default method against the reference, within its documented bound
    default = getattr(ss, function)(x, where=where)
    if function == "softmax":
        kept = np.where(where, x.astype(np.float64), np.nan)
        spread = np.nanmax(kept, -1) - np.nanmin(kept, -1)
        bound = 9 + 2 + 2 * spread  # (n + 2 + 2 c (max - min)) ULPs
        assert np.all(ulp_distance(default, ref) <= bound[:, None])
    else:
        finite = np.isfinite(ref)
        err = np.abs(default.astype(np.float64)[finite] - ref[finite])
        scale = 2 * np.nanmax(np.abs(x.astype(np.float64))) + 9 + 2  # |c (x_j - m)| + n + 2
        assert np.all(err <= scale * _u(dtype) * 4)
        assert np.array_equal(np.isinf(default), np.isinf(ref))


def test_where_broadcasts_and_all_excluded_rows():
    x = np.arange(6.0).reshape(2, 3)
    where = np.array([True, False, True])
    got = ss.softmax(x, where=where, method="accurate")
    assert ulp_distance(got, reference.softmax(x, where=np.broadcast_to(where, x.shape))).max() <= 1
    none = np.zeros(3, bool)
    # every entry excluded: the all -inf slice of the special-value table
    assert np.isnan(ss.softmax(x, where=none)).all()
    np.testing.assert_array_equal(ss.logsumexp(x, where=none), [-np.inf, -np.inf])
    assert ss.logsumexp(x, where=none, return_sign=True)[1].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_masked_arrays_use_their_mask(function):
    x = _logits(np.float64, (4, 6), seed=6)
    mask = np.random.default_rng(7).random(x.shape) < 0.4
    mask[:, 0] = False
    data = x.copy()
    data[mask] = np.nan  # masked entries hold garbage: they must be ignored, not used
    masked = np.ma.masked_array(data, mask=mask)
    got = getattr(ss, function)(masked, method="accurate")
    assert type(got) is np.ndarray or np.ndim(got) == 0
    ref = getattr(reference, function)(data, where=~mask)
    assert ulp_distance(got, ref).max() <= 1
    # where= and the mask combine
    where = np.ones(6, bool)
    where[1] = False
    both = getattr(ss, function)(masked, method="accurate", where=where)
    ref_both = getattr(reference, function)(data, where=~mask & where)
    assert ulp_distance(both, ref_both).max() <= 1


def test_masked_array_as_weights_is_refused():
    with pytest.raises(TypeError, match="b is a masked array.*where="):
        ss.logsumexp([1.0, 2.0], b=np.ma.masked_array([1.0, 2.0], mask=[0, 1]))


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"where": np.ones(4, bool)}, ValueError, r"where has shape \(4,\).*\(2, 3\).*broadcast"),
        ({"where": np.ones(3, int)}, TypeError, r"where has dtype int64; pass a boolean array"),
        ({"b": np.ones(4)}, ValueError, r"b has shape \(4,\).*\(2, 3\).*broadcast"),
        ({"b": np.ones(3, complex)}, TypeError, r"b has dtype complex128.*real numbers"),
        ({"b": np.array(["a", "b", "c"])}, TypeError, r"b has dtype <U1.*real numbers"),
    ],
)
def test_bad_b_and_where_say_what_to_pass(kwargs, error, pattern):
    x = np.zeros((2, 3))
    with pytest.raises(error, match=pattern):
        ss.logsumexp(x, **kwargs)
    if "where" in kwargs:
        with pytest.raises(error, match=pattern):
            ss.softmax(x, **kwargs)


# --- log_softmax of a dominant logit: the log1p form ---

# gaps where every fast method rounded the top element to 0 (exp(-gap) < u)
GAPS = {np.float32: [20.0, 50.0, 100.0], np.float64: [40.0, 100.0, 700.0]}


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_of_a_dominant_logit_is_nonzero(dtype):
    gaps = GAPS[dtype]
    x = np.array([[0.0, -g, -g - 1.0] for g in gaps], dtype)
    ref = reference.log_softmax(x)
    assert np.all(ref[:, 0] < 0)  # the true value is a tiny negative number
    shifted = ss.log_softmax(x, method="shifted")
    assert np.all(shifted[:, 0] == 0)  # the defect the log1p form repairs
    for method in ("log1p", ss._methods.DEFAULT_METHOD["log_softmax"], "accurate"):
        got = ss.log_softmax(x, method=method)
        if method == "shifted":
            continue
        assert np.all(got[:, 0] < 0)
        # -log1p(s), s = exp(-g) (1 + exp(-1)) summed from two 1-ULP exps: at most 2 ULPs
        assert ulp_distance(got[:, 0], ref[:, 0]).max() <= 2
        assert ulp_distance(got[:, 1:], ref[:, 1:]).max() <= 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_log1p_with_ties_and_general_rows(dtype):
    x = np.array([[3.0, 3.0, -60.0], [0.0, 0.0, 0.0]], dtype)
    ref = reference.log_softmax(x)
    assert ulp_distance(ss.log_softmax(x, method="log1p"), ref).max() <= 2
    y = _logits(dtype, (8, 50), seed=8)
    ref = reference.log_softmax(y)
    got = ss.log_softmax(y, method="log1p")
    # shifted's absolute bound, (|c (x_j - m)| + n + 2) u
    bound = (np.abs(y - y.max(-1, keepdims=True)).astype(np.float64) + 52) * _u(dtype)
    assert np.all(np.abs(got.astype(np.float64) - ref) <= bound)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_log1p_is_shifted_where_the_sum_reaches_two(dtype):
    # S >= 2 (ties, or mass spread over several logits): ln S is as accurate as the
    # log1p form, and the method documents the shifted bits there
    y = _logits(dtype, (8, 50), seed=9, sigma=1.0)
    y[:, 1] = y.max(-1)  # a tie: S >= 2 in every row
    np.testing.assert_array_equal(
        ss.log_softmax(y, method="log1p"), ss.log_softmax(y, method="shifted")
    )
