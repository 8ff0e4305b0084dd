"""The ``compute=`` / ``accumulate=`` / ``rounding=`` / ``seed=`` keywords of the public functions.

A simulated compute format must give, bit for bit, what
``stable_softmax.lowprec.pipeline.simulate`` gives with storage = the dtype
of ``x``, and what a small independent implementation in exact rational
arithmetic gives (each operation rounded by the format-agnostic grid oracle
of ``tests/_format_oracle.py``; exp from the reference, log from mpmath).
A native compute format is one conversion, the usual kernel, one rounding.
"""

from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np
import pytest
from _format_oracle import oracle

import reference
import stable_softmax as ss
from stable_softmax.formats import FORMATS
from stable_softmax.lowprec.pipeline import METHODS, Pipeline, simulate

PIPELINES = [
    ("float16", "float16", None),
    ("bfloat16", "bfloat16", "float32"),
    ("float8_e4m3fn", "bfloat16", None),
    ("float32", "float16", None),  # compute narrower than storage: x rounded into float16
]


def _same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    with np.errstate(invalid="ignore"):
        fa, fb = a.astype(np.float64), b.astype(np.float64)
    return bool(
        np.all((fa == fb) & (np.signbit(fa) == np.signbit(fb)) | np.isnan(fa) & np.isnan(fb))
    )


@pytest.mark.parametrize("storage,compute,accumulate", PIPELINES)
@pytest.mark.parametrize("function", ["softmax", "log_softmax", "logsumexp"])
def test_simulated_compute_is_simulate(storage, compute, accumulate, function):
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 3.0, (3, 2, 9)).astype(FORMATS[storage].dtype)
    pipe = Pipeline(storage, compute, accumulate)
    for method in METHODS[function]:
        for kw in ({}, {"beta": 1.5, "base": 2.0}):
            got = getattr(ss, function)(
                x, method=method, compute=compute, accumulate=accumulate, **kw
            )
            expected = simulate(function, x.reshape(6, 9), method=method, pipeline=pipe, **kw)
            shape = x.shape[:-1] if function == "logsumexp" else x.shape
            assert _same_bits(got, expected.reshape(shape)), (method, kw)
    # another axis: the rows are laid out as for the kernels
    got = getattr(ss, function)(x, axis=0, compute=compute, accumulate=accumulate)
    rows = np.moveaxis(x, 0, -1).reshape(-1, 3)
    expected = simulate(
        function, rows, method="shifted" if function != "logsumexp" else "log1p", pipeline=pipe
    )
    if function == "logsumexp":
        assert _same_bits(got, expected.reshape(2, 9))
    else:
        assert _same_bits(got, np.moveaxis(expected.reshape(2, 9, 3), -1, 0))


def _exact_shifted(row: np.ndarray, name: str):
    """All-``name`` shifted softmax and log_softmax of one row.

    Every operation is rounded once by the grid oracle (exp: the correctly
    rounded reference; log: mpmath at 200 bits).
    """
    rnd = oracle(name).round
    dtype = FORMATS[name].dtype
    x = [Fraction(float(v)) for v in row.astype(np.float64)]
    m = max(x)
    d = [rnd(v - m) for v in x]
    e = [float(reference.exp(np.array([v], dtype))[0]) for v in d]
    s = Fraction(e[0])
    for v in e[1:]:
        s = Fraction(rnd(s + Fraction(v)))
    y = [rnd(Fraction(v) / s) for v in e]
    with mpmath.workprec(200):
        man, exp = mpmath.log(mpmath.mpf(s.numerator) / s.denominator).man_exp
        log_s = rnd(Fraction(man) * Fraction(2) ** exp)
    ly = [rnd(Fraction(v) - Fraction(log_s)) for v in d]
    return np.array(y).astype(dtype), np.array(ly).astype(dtype)


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_simulated_shifted_matches_exact_rational_arithmetic(name):
    dtype = FORMATS[name].dtype
    rows = np.array(
        [[2, 4, 2, 1], [0.5, -3.25, 7.75, 7.5], [-1, -1, -1, -1], [11, 0, -5, 0.125]], np.float64
    ).astype(dtype)
    for row in rows:
        soft, log_soft = _exact_shifted(row, name)
        assert _same_bits(ss.softmax(row, compute=name), soft)
        assert _same_bits(ss.log_softmax(row, compute=name), log_soft)


def test_float16_naive_thresholds_in_float16_arithmetic():
    # In all-float16 arithmetic exp(x) overflows when it rounds past 65504,
    # i.e. e^x >= 65520 (65504 plus half the top spacing 32): x > ln 65520 =
    # 11.0901... The float16 values around it (spacing 2**-7 in [8, 16)) are
    # 11.0859375 (e^x = 65248, finite) and 11.09375 (e^x = 65759: inf). So the
    # naive logsumexp of the single value x is x itself below, inf above.
    assert float(mpmath.log(65520)) == pytest.approx(11.0901, abs=1e-4)
    below, above = np.float16([11.0859375]), np.float16([11.09375])
    assert ss.logsumexp(below, method="naive", compute="float16") == below[0]
    assert ss.logsumexp(above, method="naive", compute="float16") == np.inf
    # exp(x) rounds to 0 below ln(2**-25) = -17.3287 (half the smallest
    # subnormal 2**-24): -17.328125 gives 2**-24, -17.34375 gives 0.
    x = np.float16([[-17.328125, 0.0], [-17.34375, 0.0]])
    y = ss.softmax(x, method="naive", compute="float16")
    assert y[0, 0] == np.float16(2.0**-24) and y[1, 0] == 0
    # the default path (float32 inside) has no such overflow: lse = 11.09375
    assert ss.logsumexp(above, method="naive") == above[0]


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64])
def test_native_compute_is_one_conversion_and_one_rounding(dtype):
    x = np.random.default_rng(1).normal(0.0, 2.0, (4, 11)).astype(dtype)
    for compute in ("float32", "float64"):
        got = ss.softmax(x, compute=compute)
        wide = ss.softmax(x.astype(np.float64).astype(compute))
        if np.dtype(dtype).itemsize <= 2:  # one rounding, by the grid oracle
            rnd = oracle(np.dtype(dtype).name).round
            expected = np.array([rnd(Fraction(float(v))) for v in wide.reshape(-1)])
            expected = expected.reshape(x.shape).astype(dtype)
        else:
            expected = wide.astype(dtype)
        assert got.dtype == x.dtype and _same_bits(got, expected), compute


def test_stochastic_rounding_is_reproducible_with_a_seed():
    x = np.random.default_rng(2).normal(0.0, 2.0, (8, 64)).astype(ml_dtypes.bfloat16)
    kw = {"compute": "bfloat16", "rounding": "stochastic"}
    a = ss.softmax(x, seed=7, **kw)
    assert _same_bits(a, ss.softmax(x, seed=7, **kw))
    assert not _same_bits(a, ss.softmax(x, seed=8, **kw))
    nearest = ss.softmax(x, compute="bfloat16")
    assert not _same_bits(a, nearest)
    pipe = Pipeline("bfloat16", "bfloat16", None, "stochastic", 7)
    assert _same_bits(a, simulate("softmax", x, pipeline=pipe))


def test_where_and_specials_in_a_simulated_pipeline():
    x = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, np.nan, np.nan, 2.0]], np.float16)
    where = np.array([True, False, True, True])
    got = ss.softmax(x, where=where, compute="float16")
    masked = np.where(where, x, np.float16(-np.inf))
    expected = simulate("softmax", masked, pipeline=Pipeline("float16", "float16"))
    # the NaN at an excluded position does not poison its row; the kept one does
    assert _same_bits(got, expected) and got[0, 1] == 0 and np.isnan(got[1]).all()
    assert ss.logsumexp(np.float16([-np.inf, -np.inf]), compute="float16") == -np.inf
    with pytest.raises(ValueError, match="cannot hold"):
        ss.softmax(x.astype(ml_dtypes.float8_e4m3fn), where=where, compute="bfloat16")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"compute": "float128"}, "names no format"),
        ({"compute": 3}, "names no format"),
        ({"accumulate": "float16"}, "needs a simulated compute"),
        ({"compute": "float64", "accumulate": "float32"}, "needs a simulated compute"),
        ({"rounding": "up"}, "rounding must be one of"),
        ({"rounding": "stochastic"}, "applies to simulated"),
        ({"compute": "float16", "rounding": "stochastic"}, "needs seed"),
        ({"compute": "float16", "rounding": "stochastic", "seed": 1.5}, "needs seed"),
        ({"compute": "float16", "seed": 3}, "only by rounding='stochastic'"),
        ({"compute": "float16", "method": "accurate"}, "reference.softmax"),
        ({"compute": "float16", "method": "fast"}, "not available"),
        ({"compute": "float8_e4m3fn", "beta": 1000.0}, "compute format"),
        ({"method": "fast"}, "unknown method"),
    ],
)
def test_bad_arithmetic_keywords(kwargs, match):
    x = np.ones((2, 3), np.float16)
    with pytest.raises(ValueError, match=match):
        ss.softmax(x, **kwargs)


def test_weights_are_refused_in_a_simulated_pipeline():
    with pytest.raises(ValueError, match="b= .weights. is not supported"):
        ss.logsumexp(np.ones(3, np.float16), b=np.ones(3), compute="float16")


def test_float32_default_path_is_untouched():
    x = np.random.default_rng(3).normal(size=(5, 7)).astype(np.float32)
    assert _same_bits(ss.softmax(x, compute="float32"), ss.softmax(x))
    value, sign = ss.logsumexp(x, compute="float16", return_sign=True)
    assert value.dtype == np.float32 and np.all(sign == 1)
