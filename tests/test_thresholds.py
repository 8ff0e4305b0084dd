"""Threshold search: exact edges on the float grid, checked against mpmath."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import stable_softmax as ss
from stable_softmax.accuracy.thresholds import (
    describe,
    find_threshold,
    fmt_hex,
    overflows,
    underflows,
)

DTYPES = [np.float32, np.float64]


def _first_float_above(value: mpmath.mpf, dtype) -> float:
    """The smallest float of ``dtype`` strictly greater than the exact ``value``."""
    with mpmath.workprec(200):
        t = dtype(float(value))
        while mpmath.mpf(float(t)) <= value:
            t = np.nextafter(t, dtype(np.inf))
        while mpmath.mpf(float(np.nextafter(t, dtype(-np.inf)))) > value:
            t = np.nextafter(t, dtype(-np.inf))
        return float(t)


@pytest.mark.parametrize("function", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_naive_overflows_at_the_first_float_above_ln_max(function, dtype):
    with mpmath.workprec(200):
        ln_max = mpmath.log(mpmath.mpf(float(np.finfo(dtype).max)))
    expected = _first_float_above(ln_max, dtype)
    found = find_threshold(function, "naive", dtype)
    assert found.overflow == expected
    assert found.overflow_last_ok == float(np.nextafter(dtype(expected), dtype(0)))
    assert found.theory_overflow == pytest.approx(float(ln_max), rel=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_naive_overflow_scales_with_beta(dtype):
    found = find_threshold("softmax", "naive", dtype, beta=1000.0)
    t = dtype(found.overflow)
    assert overflows("softmax", "naive", t, dtype, 1000.0)
    assert not overflows("softmax", "naive", np.nextafter(t, dtype(0)), dtype, 1000.0)
    assert found.overflow == pytest.approx(found.theory_overflow, rel=1e-6)


@pytest.mark.parametrize("function", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_shifted_never_overflows(function, dtype):
    found = find_threshold(function, "shifted", dtype)
    assert found.overflow is None and found.underflow is None
    rng = np.random.default_rng(0)
    big = float(np.finfo(dtype).max)
    for t in [big, found.search_limit, *(10.0 ** rng.uniform(0, np.log10(found.search_limit), 20))]:
        assert not overflows(function, "shifted", dtype(t), dtype)
        assert not underflows(function, "shifted", -dtype(t), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_naive_underflow_is_where_exp_rounds_to_zero(dtype):
    found = find_threshold("softmax", "naive", dtype)
    t = dtype(found.underflow)
    assert underflows("softmax", "naive", t, dtype)
    assert not underflows("softmax", "naive", np.nextafter(t, dtype(0)), dtype)
    # exp(t) rounds to 0 below half the smallest subnormal
    ln_half_tiny = np.log(float(np.finfo(dtype).smallest_subnormal)) - np.log(2.0)
    assert found.underflow == pytest.approx(ln_half_tiny, abs=1e-4)
    assert found.theory_subnormal > found.underflow


@pytest.mark.parametrize("function", ["softmax", "log_softmax", "logsumexp"])
def test_every_method_edges_bracket_a_failure_seen_by_a_direct_call(function):
    """The edges of every method, checked by calling the public API directly (not the probes).

    Shifting methods subtract the row maximum before exp, so their exp never
    sees a positive argument: if they fail at all it is where ``c t`` itself
    overflows, i.e. not below ``max_float / c`` (here float32, c = 10).
    """
    beta = 10.0
    max32 = float(np.finfo(np.float32).max)
    for method in ss.METHODS[function]:
        found = find_threshold(function, method, np.float32, beta=beta)
        assert (found.function, found.method, found.beta) == (function, method, beta)
        for edge, last_ok, row_of, zero_fails in (
            # [t, 0]: a 0 output is right (e^{-ct} rounds to 0); [t, t]: exact 1/2, 0 is wrong
            (found.overflow, found.overflow_last_ok, lambda t: [t, 0.0], False),
            (found.underflow, found.underflow_last_ok, lambda t: [t, t], function == "softmax"),
        ):
            if edge is None:
                continue
            func = getattr(ss, function)
            with np.errstate(all="ignore"):
                bad = func(np.float32(row_of(edge)), method=method, beta=beta)
                good = func(np.float32(row_of(last_ok)), method=method, beta=beta)
            assert np.all(np.isfinite(good)) and not (zero_fails and np.any(good == 0))
            assert not np.all(np.isfinite(bad)) or (zero_fails and np.any(bad == 0))
            # neighbours on the float32 grid: no float lies between them
            assert abs(last_ok) == float(np.nextafter(np.float32(abs(edge)), np.float32(0)))
        if method != "naive" and found.overflow is not None:
            assert found.overflow >= np.float32(max32 / beta) * (1 - 2**-23)


def test_hex_and_decimal():
    assert fmt_hex(88.72283935546875, np.float32) == "0x1.62e43p+6"
    assert fmt_hex(1.0, np.float64) == "0x1p+0"
    assert describe(None, np.float32) == "none"
    assert describe(0.5, np.float32) == "0.5 (0x1p-1)"
