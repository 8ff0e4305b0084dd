"""method="accurate": within 1 ULP of the correctly rounded reference, on the hard families.

Every assertion here is in ULPs (ordinal distance) against ``reference``; a
kernel with the error of ``shifted`` fails most of them by hundreds of ULPs
(large n, spread, bases), by millions (log_softmax of a dominant logit) or
outright (an output of 0 where the reference is a tiny negative number).
"""

from __future__ import annotations

import math

import mpmath
import numba
import numpy as np
import pytest

import reference
import stable_softmax as ss
from stable_softmax import jit
from stable_softmax.accuracy.metrics import ulp_distance
from stable_softmax.kernels import accurate

DTYPES = [np.float32, np.float64]
FUNCTIONS = ["softmax", "log_softmax", "logsumexp"]


def _family(name, rows, n, dtype, scale=1.0):
    """Seeded rows of a hard family (seed from the parameters, so each test is reproducible)."""
    key = [sum(map(ord, name)), rows, n, np.dtype(dtype).itemsize, int(scale * 1000)]
    rng = np.random.default_rng(key)
    if name == "gaussian":
        x = scale * rng.standard_normal((rows, n))
    elif name == "spread":  # the largest max - min: +-scale (1 + N(0, 0.01))
        x = rng.choice([-1.0, 1.0], (rows, n)) * scale * (1 + 0.01 * rng.standard_normal((rows, n)))
    elif name == "spike":  # one dominant logit per row
        x = rng.uniform(-1.0, 1.0, (rows, n))
        x[:, 0] = scale
    elif name == "ties":  # k = 4 equal maxima
        x = rng.uniform(-scale, scale, (rows, n))
        x[:, :4] = scale
    else:
        raise ValueError(name)
    return x.astype(dtype)


def _check(x, beta=1.0, base=None, functions=FUNCTIONS, limit=1.0):
    for function in functions:
        got = getattr(ss, function)(x, method="accurate", beta=beta, base=base)
        ref = getattr(reference, function)(x, beta=beta, base=base)
        assert got.dtype == x.dtype
        err = ulp_distance(got, ref)
        assert np.max(err) <= limit, (function, x.dtype, beta, base, float(np.max(err)))


# ---------------------------------------------------------------------------
# the hard families, both dtypes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_n(dtype):
    # n = 131072: the shifted sum's error grows with n (BHH: n u)
    _check(_family("gaussian", 1, 131072, dtype, scale=3.0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale,beta", [(10.0, 1.0), (1e3, 1.0), (1e4, 1.0), (30.0, 10.0)])
def test_large_spread(dtype, scale, beta):
    _check(_family("spread", 4, 256, dtype, scale=scale), beta=beta)
    _check(_family("gaussian", 4, 256, dtype, scale=scale), beta=beta)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [3.0, 20.0, 40.0, 300.0, 725.0])
def test_dominant_logit(dtype, scale):
    _check(_family("spike", 4, 64, dtype, scale=scale))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale,beta", [(1.0, 1.0), (10.0, 1.0), (10.0, 100.0)])
def test_ties(dtype, scale, beta):
    _check(_family("ties", 4, 64, dtype, scale=scale), beta=beta)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [10.0, 1e3, 1e6])
def test_large_beta(dtype, beta):
    for name in ("gaussian", "spike", "ties"):
        _check(_family(name, 4, 64, dtype, scale=1.0), beta=beta)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("base", [2.0, 10.0, 3.0])
@pytest.mark.parametrize("beta", [1.0, 100.0, 1e6])
def test_bases(dtype, base, beta):
    # c = beta ln(base) reaches the kernels as a double-double: exact to 2^-110
    _check(_family("gaussian", 4, 64, dtype, scale=1.0), beta=beta, base=base)
    _check(_family("spike", 2, 64, dtype, scale=10.0), beta=beta, base=base)


def test_shifted_fails_where_accurate_holds():
    # The same assertion fails for shifted: the checks above can fail.
    x = _family("gaussian", 1, 131072, np.float64, scale=3.0)
    got = ss.softmax(x, method="shifted")
    assert np.max(ulp_distance(got, reference.softmax(x))) > 1


# ---------------------------------------------------------------------------
# log_softmax of a dominant logit: the tiny negative number, not 0
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_dominant_log_softmax_is_nonzero(dtype):
    gaps = np.array(
        [20.0, 40.0, 80.0, 100.0] if dtype == np.float32 else [40.0, 100.0, 500.0, 720.0, 740.0]
    )
    x = np.stack([np.array([0.0, -g, -g - 1.0]) for g in gaps]).astype(dtype)
    ref = reference.log_softmax(x)
    got = ss.log_softmax(x, method="accurate")
    shifted = ss.log_softmax(x, method="shifted")
    assert np.all(ref[:, 0] < 0)
    assert np.all(got[:, 0] < 0)
    assert np.all(ulp_distance(got, ref) <= 1)
    assert np.all(shifted[:, 0] == 0)  # the defect this method repairs


def test_subnormal_outputs_float64():
    # every non-maximal term subnormal: softmax outputs subnormal, log_softmax
    # of the maximum a subnormal negative number summed from 1000 of them
    x = np.concatenate([[0.0], -np.linspace(709.0, 744.0, 1000)])[None, :]
    _check(x)


# ---------------------------------------------------------------------------
# special values, other entry points, threads
# ---------------------------------------------------------------------------

SPECIAL_ROWS = {
    "nan": [1.0, np.nan, 0.0],
    "all_ninf": [-np.inf, -np.inf],
    "ninf_among": [1.0, -np.inf, 0.0],
    "pinf": [1.0, np.inf, 0.0],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row", list(SPECIAL_ROWS))
def test_special_values_match_reference(dtype, row):
    x = np.array(SPECIAL_ROWS[row], dtype=dtype)
    for function in FUNCTIONS:
        got = getattr(ss, function)(x, method="accurate")
        ref = getattr(reference, function)(x)
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_rows(dtype):
    x = np.empty((2, 0), dtype=dtype)
    assert ss.softmax(x, method="accurate").shape == (2, 0)
    np.testing.assert_array_equal(ss.logsumexp(x, method="accurate"), [-np.inf, -np.inf])


@pytest.mark.parametrize("dtype", DTYPES)
def test_in_place_matches(dtype):
    x = _family("gaussian", 3, 5000, dtype, scale=5.0)
    expected = ss.softmax(x, method="accurate")
    y = x.copy()
    ss.softmax(y, method="accurate", out=y)
    np.testing.assert_array_equal(y, expected)
    y = x.copy()
    ss.log_softmax(y, method="accurate", out=y)
    np.testing.assert_array_equal(y, ss.log_softmax(x, method="accurate"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_jit_row_and_table_forms(dtype):
    # c = 2 is exact: the row kernel (c_lo = 0) and the table form give the public result
    x = _family("gaussian", 4, 300, dtype, scale=4.0)
    expected = ss.softmax(x, method="accurate", beta=2.0)
    out = np.empty_like(x)
    jit.softmax_rows(x, out, 2.0, jit.ACCURATE)
    np.testing.assert_array_equal(out, expected)
    row = np.empty_like(x[0])
    jit.softmax_accurate_row(x[0], row, 2.0)
    np.testing.assert_array_equal(row, expected[0])
    lse = ss.logsumexp(x, method="accurate", beta=2.0)
    assert jit.logsumexp_accurate_row(x[1], 2.0) == lse[1]
    # base 10 through the row kernel with the low part of c
    with mpmath.workprec(160):
        exact = mpmath.log(10)
        hi = float(exact)
        lo = float(exact - hi)
    jit.log_softmax_accurate_row(x[2], row, hi, lo)
    np.testing.assert_array_equal(row, ss.log_softmax(x, method="accurate", base=10.0)[2])


@pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2,
    reason="Numba has one thread here: the parallel paths would compare serial with serial",
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_give_the_serial_bits(dtype):
    x = _family("gaussian", 64, 2048, dtype, scale=5.0)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = [getattr(ss, f)(x, method="accurate") for f in FUNCTIONS]
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        parallel = [getattr(ss, f)(x, method="accurate") for f in FUNCTIONS]
    finally:
        numba.set_num_threads(before)
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("scale", [3.0, 30.0])
def test_long_float32_rows_recompute_their_terms(scale):
    """float32 softmax rows longer than ``_KEEP32`` recompute their terms in the output pass
    instead of keeping them in a row of scratch: still within 1 ULP.
    """
    _check(
        _family("spread", 2, accurate._KEEP32 + 3, np.float32, scale=scale), functions=["softmax"]
    )


# ---------------------------------------------------------------------------
# the double-double pieces against mpmath
# ---------------------------------------------------------------------------


def test_exp_dd_relative_error():
    # (below exp(-700) the low part nears the subnormal range and the relative
    # error of the pair grows to 2^-1075 / exp(t): see test_exp_dd_edges)
    rng = np.random.default_rng(3)
    th = np.concatenate(
        [
            rng.uniform(-700.0, 709.0, 3000),
            rng.uniform(-1.0, 1.0, 1000),
            rng.uniform(-1e-6, 1e-6, 200),
        ]
    )
    tl = rng.uniform(-1.0, 1.0, th.size) * np.abs(th) * 2.0**-54
    worst = mpmath.mpf(0)
    with mpmath.workprec(200):
        for a, b in zip(th, tl):
            hi, lo = accurate.exp_dd(a, b)
            exact = mpmath.exp(mpmath.mpf(a) + mpmath.mpf(b))
            worst = max(worst, abs((mpmath.mpf(hi) + mpmath.mpf(lo)) / exact - 1))
    assert worst < 2.0**-62


def test_exp_dd_edges():
    assert accurate.exp_dd(0.0, 0.0) == (1.0, 0.0)  # a maximum is recognised by exactly 1 + 0
    assert accurate.exp_dd(-np.inf, 0.0) == (0.0, 0.0)
    assert accurate.exp_dd(-746.0, 0.0)[0] == 0.0
    assert accurate.exp_dd(710.0, 0.0)[0] == np.inf
    assert math.isnan(accurate.exp_dd(np.nan, 0.0)[0])
    t = np.array([-709.5, -720.0, -744.0, -745.0])  # subnormal results: rounded once
    got = np.array([accurate.exp_dd(v, 0.0)[0] for v in t])
    assert np.all(ulp_distance(got, reference.exp(t)) <= 1)


@pytest.mark.parametrize("r", [1e-300, 1e-30, 1e-9, 0.01, 0.03, 0.5, 3.0, 1e5])
@pytest.mark.parametrize("k", [1, 2, 7])
def test_log_dd(k, r):
    with mpmath.workprec(2200):  # enough for k + 1e-300 to be exact
        r_hi = float(r)
        r_lo = float(mpmath.mpf(r) / 3 * 2.0**-53)
        hi, lo = accurate.log_dd(float(k), r_hi, r_lo)
        exact = mpmath.log(k + mpmath.mpf(r_hi) + mpmath.mpf(r_lo))
        assert abs((mpmath.mpf(hi) + mpmath.mpf(lo)) / exact - 1) < 2.0**-60
