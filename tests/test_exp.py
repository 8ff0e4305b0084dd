"""Tests of the vectorizable exp kernels (stable_softmax.kernels.exp).

Accuracy is measured as the ordinal distance to the correctly rounded exp
(``reference.exp``, through :mod:`stable_softmax.accuracy.expcheck`). The
exhaustive float32 check is ``scripts/check_exp.py``; here a strided sample
runs in a few seconds.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import njit, prange

from stable_softmax.accuracy import expcheck as check_exp
from stable_softmax.kernels.exp import (
    exp32,
    exp64,
    exp_array,
    fast_exp,
    fast_exp_nonpositive,
    scaling_method,
)

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
INT = {F32: np.int32, F64: np.int64}


def ours(x, dtype):
    x = np.atleast_1d(np.asarray(x, dtype=dtype))
    out = np.empty_like(x)
    exp_array(x, out)
    return out


def correctly_rounded(x, dtype):
    """RN(exp(x)) in ``dtype``, independent of the kernels under test.

    A wider libm exp (float64 for float32, x87 long double for float64) rounded
    to ``dtype``; inputs whose wide value is too near a rounding boundary for
    that to be certain go to ``reference.exp`` (mpmath).
    """
    x = np.atleast_1d(np.asarray(x, dtype=dtype))
    wide = np.float64 if dtype == F32 else np.longdouble
    window = wide(2.0**-50 if dtype == F32 else 2.0**-60)
    with np.errstate(over="ignore", under="ignore"):
        y = np.exp(x.astype(wide))
        r = y.astype(dtype)
        hard = (y * (1 - window)).astype(dtype) != (y * (1 + window)).astype(dtype)
    if hard.any():
        r[hard] = check_exp.ref_exp(x[hard], dtype)
    return r


def assert_within_1ulp(x, dtype):
    got = ours(x, dtype)
    want = correctly_rounded(x, dtype)
    d = check_exp.ulp_distance(got, want, dtype)
    j = int(np.argmax(d))
    assert d[j] <= 1, (
        f"x={float(x[j]).hex()}: got {float(got[j]).hex()}, want {float(want[j]).hex()}"
    )
    return d


# Inputs at the edges: (x, exact correctly rounded exp(x)), checked against the reference too.
EDGES = {
    F32: [
        ("0x1.62e42ep+6", "0x1.ffff08p+127"),  # last finite
        ("0x1.62e430p+6", "inf"),  # first overflow
        ("-0x1.5d58a0p+6", "0x1.ffff98p-127"),  # first subnormal result (largest such x)
        ("-0x1.5d589ep+6", "0x1.00004cp-126"),  # last normal result
        ("-0x1.9fe368p+6", "0x1p-149"),  # smallest subnormal result
        ("-0x1.9fe36ap+6", "0"),  # first input giving 0
    ],
    F64: [
        ("0x1.62e42fefa39efp+9", "0x1.fffffffffff2ap+1023"),
        ("0x1.62e42fefa39f0p+9", "inf"),
        ("-0x1.6232bdd7abcd3p+9", "0x0.ffffffffffe7cp-1022"),
        ("-0x1.6232bdd7abcd2p+9", "0x1.000000000007cp-1022"),
        ("-0x1.74910d52d3051p+9", "0x0.0000000000001p-1022"),
        ("-0x1.74910d52d3052p+9", "0"),
    ],
}


def _f(s):
    return float("inf") if s == "inf" else float.fromhex(s)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_special_values(dtype):
    xs = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], dtype)
    got = ours(xs, dtype)
    assert np.isnan(got[0])
    assert got[1] == np.inf
    assert got[2] == 0 and not np.signbit(got[2])
    assert got[3] == 1 and got[4] == 1
    big = np.finfo(dtype).max
    assert ours([big, -big], dtype).tolist() == [np.inf, 0.0]


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_edges_exact(dtype):
    xs = np.array([_f(x) for x, _ in EDGES[dtype]], dtype)
    want = np.array([_f(y) for _, y in EDGES[dtype]], dtype)
    np.testing.assert_array_equal(check_exp.ref_exp(xs, dtype), want)  # the table is right
    got = ours(xs, dtype)
    np.testing.assert_array_equal(got.view(INT[dtype]), want.view(INT[dtype]))


def test_float32_strided_sample():
    lo, hi = check_exp.to_ordinal(np.array([_f(EDGES[F32][5][0]), _f(EDGES[F32][1][0])]), F32)
    x = check_exp.from_ordinal(np.arange(lo, hi + 1, 1 << 12), F32)
    d = assert_within_1ulp(x, F32)
    assert np.mean(d == 0) > 0.99  # almost always correctly rounded


def _hard64(rng):
    lo, sub, hi = (
        int(v) for v in check_exp.to_ordinal([_f(EDGES[F64][i][0]) for i in (4, 2, 0)], F64)
    )
    span = np.arange(-300, 301)
    parts = [check_exp.from_ordinal(np.clip(o + span, lo, hi), F64) for o in (lo, sub, hi, 0)]
    tiny = np.ldexp(1.0, -np.arange(1, 1075))
    parts += [tiny, -tiny]
    half_ln2 = math.log(2) / 2
    m = np.arange(-2149, 2048) * half_ln2
    parts += [check_exp.from_ordinal(check_exp.to_ordinal(m, F64) + d, F64) for d in (-1, 0, 1)]
    parts.append(rng.uniform(-745.13, -708.4, 2000))  # subnormal results
    return np.concatenate(parts)


def test_float64_random_and_hard():
    rng = np.random.default_rng(12345)
    lo, hi = (
        int(v) for v in check_exp.to_ordinal([_f(EDGES[F64][4][0]), _f(EDGES[F64][0][0])], F64)
    )
    x = np.concatenate(
        [
            rng.uniform(-745.13, 709.78, 50_000),
            check_exp.from_ordinal(rng.integers(lo, hi + 1, 50_000), F64),
            _hard64(rng),
        ]
    )
    assert_within_1ulp(x, F64)


def test_scalar_kernels_keep_dtype():
    @njit
    def typed(x32, x64):
        return exp32(x32), exp64(x64), fast_exp(x32), fast_exp(x64), fast_exp(3)

    a, b, c, d, e = typed(np.float32(1.5), 1.5)
    assert typed.nopython_signatures[0].return_type.types[0].name == "float32"
    assert typed.nopython_signatures[0].return_type.types[2].name == "float32"
    assert typed.nopython_signatures[0].return_type.types[4].name == "float64"
    assert a == c == np.float32(math.exp(1.5)) and b == d == math.exp(1.5)
    assert e == math.exp(3)
    assert isinstance(fast_exp(np.float32(2)), np.float32)
    assert fast_exp(2.0) == exp64(2.0)
    out = np.empty(3, np.float32)
    exp_array(np.array([0, 1, -1], np.float32), out)
    assert out.dtype == np.float32


@njit(parallel=True)
def _user_parallel(x, out):
    for i in prange(x.size):
        out[i] = fast_exp(x[i])


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_callable_from_user_parallel_loop(dtype):
    x = np.random.default_rng(7).uniform(-120, 100, 10_001).astype(dtype)
    x[:4] = [np.nan, np.inf, -np.inf, 0]
    if dtype == F64:
        x[4:] *= 7.5
    par = np.empty_like(x)
    _user_parallel(x, par)
    ser = ours(x, dtype)
    assert par.dtype == dtype
    np.testing.assert_array_equal(par.view(INT[dtype]), ser.view(INT[dtype]))


_PORTABLE_CHILD = """
import sys
import numpy as np
from stable_softmax.kernels.exp import exp_array, scaling_method
print(scaling_method())
for path in sys.argv[1:]:
    x = np.load(path)
    out = np.empty_like(x)
    exp_array(x, out)
    np.save(path, out)
"""


def test_portable_scaling_path_gives_the_same_bits(tmp_path):
    """Both ways of scaling by 2^k (vscalef on AVX-512, two exponent-bit factors
    elsewhere) round ``P(r) 2^k`` once, so they must agree bit for bit; the
    portable one is forced in a child process through ``NUMBA_CPU_FEATURES``.
    """
    rng = np.random.default_rng(3)
    lo, hi = check_exp.to_ordinal(np.array([_f(EDGES[F32][5][0]), _f(EDGES[F32][1][0])]), F32)
    x32 = np.concatenate(
        [
            check_exp.from_ordinal(np.arange(lo - 50, hi + 50, 1 << 14), F32),
            [np.nan, np.inf, -np.inf, 0.0, -0.0, np.finfo(F32).max, -np.finfo(F32).max],
            [_f(x) for x, _ in EDGES[F32]],
        ]
    ).astype(F32)
    x64 = np.concatenate(
        [
            rng.uniform(-746.0, 710.0, 20_000),
            rng.uniform(-745.2, -708.3, 5_000),
            [np.nan, np.inf, -np.inf, 0.0, -0.0, np.finfo(F64).max, -np.finfo(F64).max],
            [_f(x) for x, _ in EDGES[F64]],
        ]
    )
    paths = []
    for name, x in (("x32.npy", x32), ("x64.npy", x64)):
        paths.append(str(tmp_path / name))
        np.save(paths[-1], x)
    env = dict(os.environ, NUMBA_CPU_FEATURES=check_exp.features_without_avx512())
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-c", _PORTABLE_CHILD, *paths],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "two exponent-bit factors (portable)"
    for path, x, dt in zip(paths, (x32, x64), (F32, F64)):
        np.testing.assert_array_equal(np.load(path).view(INT[dt]), ours(x, dt).view(INT[dt]))


def test_scaling_method_names_the_instructions_generated():
    """scaling_method() says vscalef exactly when the compiled exp contains it."""

    @njit(cache=False)
    def exp_loop(x, out):
        for i in range(x.size):
            out[i] = exp32(x[i])

    x = np.zeros(64, np.float32)
    exp_loop(x, np.empty_like(x))
    asm = exp_loop.inspect_asm(exp_loop.signatures[0])
    has_vscalef = "vscalefps" in asm
    expected = (
        "llvm.ldexp -> vscalef (AVX-512)" if has_vscalef else "two exponent-bit factors (portable)"
    )
    assert scaling_method() == expected


@njit
def _exp_nonpositive_array(x, out):
    for i in range(x.size):
        out[i] = fast_exp_nonpositive(x[i])


@pytest.mark.parametrize("dtype", [F32, F64])
def test_nonpositive_variant_is_exp_without_the_clamp(dtype):
    """For x <= 0 (and NaN, -inf) the unclamped kernel is within 1 ULP of RN(exp)
    and gives the bits of the clamped one, which the softmax kernels rely on.
    """
    rng = np.random.default_rng(7)
    if dtype == F32:  # every 2^10-th nonpositive float32, -0 to -inf
        x = check_exp.from_ordinal(
            np.arange(check_exp.to_ordinal([-np.inf], F32)[0], 1, 1 << 10), F32
        )
    else:
        x = np.concatenate(
            [-rng.exponential(50.0, 100_000), -rng.uniform(700, 750, 10_000), -(_hard64(rng) ** 2)]
        )
    x = np.concatenate(
        [x, np.array([0.0, -0.0, -np.inf, np.nan, -104.0, -746.0, -1e30], dtype)]
    ).astype(dtype)
    got = np.empty_like(x)
    _exp_nonpositive_array(x, got)
    np.testing.assert_array_equal(got.view(INT[dtype]), ours(x, dtype).view(INT[dtype]))
    finite = ~np.isnan(x)
    assert np.isnan(got[~finite]).all()
    d = check_exp.ulp_distance(got[finite], correctly_rounded(x[finite], dtype), dtype)
    assert d.max() <= 1
