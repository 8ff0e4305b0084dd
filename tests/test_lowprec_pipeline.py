"""Simulated pipelines: hand-derived failures of low precision, the online bound, specials."""

import ml_dtypes
import numpy as np
import pytest

import reference
from stable_softmax.floatbits import ulp_distance
from stable_softmax.formats import FORMATS
from stable_softmax.lowprec.pipeline import METHODS, Pipeline, simulate


def test_bfloat16_accumulation_stagnates_at_256():
    # A row of 1024 zeros: every term is exp(0) = 1. In bfloat16 (p = 8) the
    # partial sums are exact up to 256; 256 + 1 = 257 is the midpoint of 256 and
    # 258 and ties go to the even significand, 256. So s = 256 and every output is
    # 1/256 instead of 1/1024. A float32 accumulator sums exactly: 1/1024.
    z = np.zeros((1, 1024), ml_dtypes.bfloat16)
    all_bf16 = simulate("softmax", z, pipeline=Pipeline("bfloat16", "bfloat16"))
    assert np.all(all_bf16.astype(np.float64) == 2.0**-8)
    f32_acc = simulate("softmax", z, pipeline=Pipeline("bfloat16", "bfloat16", "float32"))
    assert np.all(f32_acc.astype(np.float64) == 2.0**-10)
    # The online method with B = 32 sums blocks of 32 exactly and then 32 partial
    # sums of 32: 32 * 32 = 1024 exactly, each step representable in bfloat16.
    online = simulate(
        "softmax", z, method="online", block=32, pipeline=Pipeline("bfloat16", "bfloat16")
    )
    assert np.all(online.astype(np.float64) == 2.0**-10)


def test_float16_naive_overflows_where_shifted_does_not():
    # exp(12) = 162754.8 > 65520 (the float16 overflow midpoint): inf, and
    # inf / inf = NaN, 1 / inf = 0. Shifted: s = 1 + e**-12 rounds to 1 in float16
    # (e**-12 = 6.1e-6 < 2**-11 / 2), so the outputs are 1 and fl16(e**-12).
    x = np.array([[12.0, 0.0]], np.float16)
    p = Pipeline("float16", "float16")
    naive = simulate("softmax", x, method="naive", pipeline=p)
    assert np.isnan(naive[0, 0]) and naive[0, 1] == 0
    shifted = simulate("softmax", x, method="shifted", pipeline=p)
    assert shifted[0, 0] == 1.0 and shifted[0, 1] == reference.exp(np.float16(-12.0))


@pytest.mark.parametrize("storage", ["float16", "bfloat16", "float8_e4m3fn"])
def test_online_with_one_block_is_shifted(storage):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((6, 40)) * 3).astype(FORMATS[storage].dtype)
    p = Pipeline(storage, storage)
    for kind in ("softmax", "log_softmax", "logsumexp"):
        a = simulate(kind, x, method="online", block=40, pipeline=p).astype(np.float64)
        b = simulate(kind, x, method="shifted", pipeline=p).astype(np.float64)
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "compute, accumulate, n, block",
    [
        ("float16", "float16", 200, 16),
        ("bfloat16", "float32", 300, 20),
        ("bfloat16", "bfloat16", 64, 8),
    ],
)
def test_online_softmax_within_its_first_order_bound(compute, accumulate, n, block):
    # docs/online-softmax-error.md: |y^ - y| / y <= u_c (3 + K + |d_j| + sum y_i |d_i|)
    # + u_a (B + 2K - 2). Inputs are compute-format values stored in float32, so
    # neither the input nor the float32 result is rounded again; b / (1 - b) covers
    # the second-order terms. A float32 accumulator has u_a = 2**-24.
    u_c = FORMATS[compute].unit_roundoff
    u_a = FORMATS[accumulate].unit_roundoff
    k = -(-n // block)
    rng = np.random.default_rng(17)
    x = (rng.standard_normal((8, n)) * 2).astype(FORMATS[compute].dtype).astype(np.float32)
    got = simulate(
        "softmax",
        x,
        method="online",
        block=block,
        pipeline=Pipeline("float32", compute, accumulate),
    ).astype(np.float64)
    y = reference.softmax(x.astype(np.float64))
    d = x.astype(np.float64) - x.max(axis=1, keepdims=True)
    weighted = (y * -d).sum(axis=1, keepdims=True)
    b = u_c * (3 + k + np.abs(d) + weighted) + u_a * (block + 2 * k - 2)
    assert b.max() < 0.5
    rel = np.abs(got - y) / y
    assert np.all(rel <= b / (1 - b))
    # the bound is not vacuous here: the errors reach a visible part of it
    assert (rel / b).max() > 0.05


SPECIAL_ROWS = np.array(
    [[1.0, np.nan, 0.0], [1.0, np.inf, 0.0], [-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0]]
)


@pytest.mark.parametrize("kind", list(METHODS))
def test_special_values_match_reference(kind):
    # Non-finite results exactly as the reference's; the finite ones of the last row
    # within 2 float16 ULPs (three roundings in float16 on values of size <= 1).
    x = SPECIAL_ROWS.astype(np.float16)
    want = getattr(reference, kind)(x)
    for method in METHODS[kind]:
        if method == "naive":
            continue  # deliberately unguarded
        got = simulate(kind, x, method=method, pipeline=Pipeline("float16", "float16"))
        assert np.all(ulp_distance(got, want) <= 2), (method, got, want)


def test_every_method_runs_in_every_pipeline_kind():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 17)).astype(np.float16)
    pipelines = [
        Pipeline("float16"),
        Pipeline("float16", "float64"),
        Pipeline("float16", "float16", "float32"),
        Pipeline("float16", "bfloat16", rounding="stochastic", seed=3),
        Pipeline("float16", "float8_e4m3fn", "bfloat16"),
    ]
    for p in pipelines:
        for kind, methods in METHODS.items():
            for method in methods:
                out = simulate(kind, x, method=method, pipeline=p, block=5, beta=0.5)
                assert out.dtype == np.float16
                assert out.shape == (x.shape if kind != "logsumexp" else x.shape[:1])


def test_stochastic_pipeline_repeats_with_its_seed():
    x = np.random.default_rng(1).standard_normal((4, 50)).astype(np.float16)
    p = Pipeline("float16", "bfloat16", rounding="stochastic", seed=9)
    a = simulate("softmax", x, pipeline=p)
    b = simulate("softmax", x, pipeline=p)
    np.testing.assert_array_equal(a, b)


def test_clear_errors():
    x = np.zeros((1, 3), np.float16)
    with pytest.raises(ValueError, match=r"one of \('naive', 'shifted', 'lse', 'online'\)"):
        simulate("softmax", x, method="log1p")
    with pytest.raises(ValueError, match="block must be a positive int"):
        simulate("softmax", x, method="online", block=0)
    with pytest.raises(ValueError, match="needs a seed"):
        simulate("softmax", x, pipeline=Pipeline("float16", "bfloat16", rounding="stochastic"))
