"""The public functions on float16, bfloat16 and the 8-bit formats: the default path.

Default: each element widened exactly to float32, the float32 kernel of the
method, each result rounded once (to nearest even) into the format. So the
result must be, bit for bit, NumPy/ml_dtypes' ``astype`` (a single correct
rounding) of the float32 function of the widened input; and against the
correctly rounded reference in the format it is within 1 ULP wherever the
float32 error is below half an ULP of the format (see
``test_default_path_within_one_ulp_of_the_reference``).
"""

import math

import ml_dtypes
import numba
import numpy as np
import pytest

import reference
import stable_softmax as ss
from stable_softmax._narrow import _sign_bit, codec
from stable_softmax.floatbits import ulp_distance
from stable_softmax.formats import FORMATS

#: Every format of the table stored in one or two bytes.
NARROW = tuple(n for n, f in FORMATS.items() if f.dtype.itemsize <= 2)
#: The formats the issue names.
MAIN = ("float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")
FUNCTIONS = ("softmax", "log_softmax", "logsumexp")


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype and shape, and the same bits except that any NaN matches any NaN."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    with np.errstate(invalid="ignore"):
        fa, fb = a.astype(np.float32), b.astype(np.float32)
    nan = np.isnan(fa) & np.isnan(fb)
    ua = a.view(np.uint8 if a.dtype.itemsize == 1 else np.uint16)
    ub = b.view(ua.dtype)
    return bool(np.all((ua == ub) | nan))


def _float32_then_round(function, x, **kw):
    """The float32 function of the widened ``x``, rounded once by ``astype``."""
    y = getattr(ss, function)(x.astype(np.float32), **kw)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(y).astype(x.dtype)


# -- conversions ---------------------------------------------------------------


@pytest.mark.parametrize("name", NARROW)
def test_widening_is_exact_on_every_pattern(name):
    fmt, cd = FORMATS[name], codec(name)
    width = 16 if cd.bits.itemsize == 2 else _sign_bit(fmt).bit_length()  # float6: 6 bits
    patterns = np.arange(1 << width, dtype=np.uint32).astype(cd.bits)
    with np.errstate(invalid="ignore"):  # signaling NaNs signal when converted
        got = cd.widen(patterns).astype(np.float64)
        expected = patterns.view(fmt.dtype).astype(np.float64)  # ml_dtypes/NumPy: exact
    np.testing.assert_array_equal(got, expected)  # NaN matches NaN
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


@pytest.mark.parametrize("name", NARROW)
def test_narrowing_rounds_like_astype_on_a_strided_sample(name):
    # Every 4099th float32 bit pattern (about 1e6, every exponent and sign,
    # NaNs and infinities included) plus the values around this format's
    # midpoints, overflow threshold and subnormals: astype rounds once, correctly.
    u = np.arange(0, 1 << 32, 4099, dtype=np.uint64).astype(np.uint32)
    fmt = FORMATS[name]
    grid = codec(name).widen(np.arange(1 << _sign_bit(fmt).bit_length()).astype(codec(name).bits))
    grid = grid[np.isfinite(grid)]
    mids = np.concatenate([grid, np.array([fmt.overflow_threshold], np.float32)])
    near = mids.view(np.uint32)[:, None].astype(np.int64) + np.arange(-3, 4)
    near = np.concatenate([near.reshape(-1), (mids[1:] / 2 + mids[:-1] / 2).view(np.uint32)])
    v = np.concatenate([u, near.astype(np.uint32)]).view(np.float32)
    ours = codec(name).narrow(v).view(fmt.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = v.astype(fmt.dtype)
    assert _bits_equal(ours, ref)


# -- the default path: float32 kernel, one rounding ----------------------------


def _rows(dtype, rng, rows=6, n=37):
    x = rng.normal(0.0, 3.0, (rows, n))
    x[1, 5] = np.nan
    x[2, :] = -np.inf
    x[3, 7] = np.inf
    x[4, ::3] = -np.inf
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(dtype)


@pytest.mark.parametrize("name", NARROW)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_default_path_is_the_float32_function_rounded_once(name, function):
    # Every method, special-value rows included (formats without infinities get
    # NaN where the float64 data had +-inf, as ml_dtypes converts them).
    x = _rows(FORMATS[name].dtype, np.random.default_rng(0))
    for method in ss.METHODS[function]:
        got = getattr(ss, function)(x, method=method)
        assert got.dtype == x.dtype
        assert _bits_equal(got, _float32_then_round(function, x, method=method)), method


@pytest.mark.parametrize("shape", [(64, 1024), (1, 1 << 17), (3, 5000)])
@pytest.mark.parametrize("name", ["bfloat16", "float8_e4m3fn"])
def test_parallel_and_split_paths_give_the_same_bits(shape, name):
    # 64 x 1024 spreads rows over threads; one row of 2**17 takes the split
    # float32 kernel between the conversions; 3 x 5000 runs on one thread.
    x = np.random.default_rng(1).normal(0.0, 4.0, shape).astype(FORMATS[name].dtype)
    for function in FUNCTIONS:
        got = getattr(ss, function)(x)
        assert _bits_equal(np.asarray(got), np.asarray(_float32_then_round(function, x)))


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_long_rows_widened_block_by_block_give_the_same_bits(name):
    # Rows of 2**21 elements and more take the float32 kernel's recomputing pass,
    # which the narrow path runs block by block (lowprec_io._softmax_shifted_long).
    x = np.random.default_rng(6).normal(0.0, 4.0, (2, (1 << 21) + 77)).astype(FORMATS[name].dtype)
    x[1, 1000] = np.nan
    got = ss.softmax(x)
    assert _bits_equal(got, _float32_then_round("softmax", x))
    assert np.isnan(got[1].astype(np.float32)).all()


@pytest.mark.parametrize("name", MAIN)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_default_path_within_one_ulp_of_the_reference(name, function):
    # Rows of 40 gaussian logits (sigma 3): each method's float32 relative error
    # is at most about (n + 2 + 2 spread) u32 < 100 * 2**-24 < 2**-17 (Blanchard,
    # Higham & Higham 2021; log_softmax and logsumexp: absolute (|d| + n) u32,
    # far below the format's spacing at these magnitudes), much less than half
    # an ULP of a format with p <= 11 (2**-12). Rounding a value that close to
    # the exact one lands on the correctly rounded value or its neighbour: at
    # most 1 ULP. The target for "accurate" is the same 1 ULP.
    dtype = FORMATS[name].dtype
    x = np.random.default_rng(2).normal(0.0, 3.0, (12, 40)).astype(dtype)
    ref = getattr(reference, function)(x, dtype=dtype)
    for method in ss.METHODS[function]:
        got = getattr(ss, function)(x, method=method)
        worst = int(np.max(ulp_distance(got, ref)))
        assert worst <= 1, (method, worst)


def test_float16_thresholds_of_the_default_path():
    # softmax([x, 0])_0 = e^x / (1 + e^x) rounded once to float16. The smallest
    # subnormal is 2**-24, so the result flushes to 0 exactly when it is below
    # the midpoint 2**-25, i.e. x < ln(2**-25) = -25 ln 2 = -17.3286795...
    # The float16 values around it (spacing 2**-6 in [16, 32)): -17.328125
    # (e^x = 1.00056 * 2**-25: rounds up to 2**-24) and -17.34375 (0.98499 *
    # 2**-25: rounds to 0). The factor 1/(1 + e^x) changes e^x by 3e-8 only.
    assert -25 * math.log(2) == pytest.approx(-17.3286795, abs=1e-7)
    x = np.array([[-17.328125, 0.0], [-17.34375, 0.0]], np.float16)
    y = ss.softmax(x)
    assert y[0, 0] == np.float16(2.0**-24) and y[1, 0] == 0
    assert y[0, 1] == 1 and y[1, 1] == 1
    # The largest float16 is 65504 and values above 65520 (= 65504 + half its
    # spacing 32) overflow: lse([65504, 65504]) = 65504 + ln 2 = 65504.69 rounds
    # down to 65504; log_softmax([65504, -65504]) = -131008 overflows to -inf.
    assert ss.logsumexp(np.float16([65504, 65504])) == np.float16(65504)
    assert ss.log_softmax(np.float16([65504, -65504]))[1] == -np.inf


def test_special_values_per_format():
    # The package's table in formats with infinities ...
    for dtype in (np.float16, ml_dtypes.bfloat16, ml_dtypes.float8_e5m2):
        inf = dtype(np.inf)
        assert np.isnan(ss.softmax(np.array([1, np.nan, 0], dtype))).all()
        assert np.isnan(ss.softmax(np.array([inf, 0], dtype))).all()
        assert ss.softmax(np.array([-inf, 0], dtype)).astype(float).tolist() == [0.0, 1.0]
        assert ss.logsumexp(np.array([-inf, -inf], dtype)) == -np.inf
        assert ss.logsumexp(np.array([inf, 0], dtype)) == np.inf
        ls = ss.log_softmax(np.array([inf, 0], dtype)).astype(float)
        assert np.isnan(ls[0]) and ls[1] == -np.inf
        assert ss.softmax(np.zeros((2, 0), dtype)).shape == (2, 0)
        assert (ss.logsumexp(np.zeros((2, 0), dtype)) == -np.inf).all()
    # ... and float8_e4m3fn, which has no inf: ml_dtypes converts -inf, +inf and
    # any overflow to NaN, so an empty logsumexp (-inf) and a log_softmax below
    # -464 (the midpoint past -448) are NaN; softmax outputs lie in [0, 1].
    e4 = ml_dtypes.float8_e4m3fn
    assert np.isnan(ss.logsumexp(np.zeros(0, e4)))
    ls = ss.log_softmax(np.array([448, -448], e4)).astype(float)
    assert ls[0] == 0 and np.isnan(ls[1])
    assert ss.softmax(np.array([448, -448], e4)).astype(float).tolist() == [1.0, 0.0]


# -- the keywords that behave as for float32 -----------------------------------


@pytest.mark.parametrize("name", ["float16", "float8_e5m2"])
def test_axis_out_where_keepdims_b(name):
    dtype = FORMATS[name].dtype
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 2.0, (3, 4, 5)).astype(dtype)
    where = rng.random((3, 4, 5)) > 0.3
    ma = np.ma.masked_array(x, mask=~where)
    for function in ("softmax", "log_softmax"):
        f = getattr(ss, function)
        for kw in ({"axis": 0}, {"axis": (0, 2)}, {"axis": None}, {"where": where}, {"beta": 2.5}):
            assert _bits_equal(f(x, **kw), _float32_then_round(function, x, **kw)), kw
        assert _bits_equal(f(ma), f(x, where=where))
        out = np.empty_like(x)
        assert f(x, axis=1, out=out) is out and _bits_equal(out, f(x, axis=1))
        xt = x.copy()
        f(xt, out=xt)  # in place
        assert _bits_equal(xt, f(x))
        with pytest.raises(ValueError, match="dtype"):
            f(x, out=np.empty(x.shape, np.float32))
    kw = {"axis": 1, "keepdims": True, "base": 2.0}
    assert _bits_equal(ss.logsumexp(x, **kw), _float32_then_round("logsumexp", x, **kw))
    b = rng.normal(size=(3, 4, 5))
    value, sign = ss.logsumexp(x, b=b, return_sign=True)
    ref_value, ref_sign = ss.logsumexp(x.astype(np.float32), b=b, return_sign=True)
    with np.errstate(invalid="ignore"):
        assert _bits_equal(value, ref_value.astype(dtype)) and _bits_equal(
            sign, ref_sign.astype(dtype)
        )
    assert ss.logsumexp(x[0, 0, :1], axis=None).shape == ()


def test_input_is_not_written_and_read_only_input_works():
    x = np.random.default_rng(4).normal(size=(5, 9)).astype(ml_dtypes.bfloat16)
    x.flags.writeable = False
    snapshot = x.tobytes()
    for function in FUNCTIONS:
        getattr(ss, function)(x)
    assert x.tobytes() == snapshot


def test_thread_count_does_not_change_the_bits():
    x = np.random.default_rng(5).normal(0, 3, (128, 700)).astype(np.float16)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = ss.softmax(x)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = ss.softmax(x)
    finally:
        numba.set_num_threads(before)
    assert _bits_equal(one, many)
