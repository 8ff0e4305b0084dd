"""Input families: seeded, reproducible, in the requested dtype, with the advertised shape."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from stable_softmax.accuracy.families import FAMILIES, edges, make_inputs

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_reproducible_dtype_and_shape(family, dtype):
    a = make_inputs(family, 16, 10.0, 5, dtype, seed=3, c=2.0)
    b = make_inputs(family, 16, 10.0, 5, dtype, seed=3, c=2.0)
    assert a.dtype == dtype and a.shape == (5, 16) and a.flags.c_contiguous
    np.testing.assert_array_equal(a, b)
    assert np.all(np.isfinite(a))
    other = make_inputs(family, 16, 10.0, 5, dtype, seed=4, c=2.0)
    assert not np.array_equal(a, other)


def test_cell_parameters_change_the_stream():
    base = make_inputs("gaussian", 8, 1.0, 4, np.float64, seed=0)
    assert not np.array_equal(base, make_inputs("gaussian", 8, 1.0, 5, np.float64, seed=0)[:4])
    # c only matters for families that depend on it
    np.testing.assert_array_equal(
        base, make_inputs("gaussian", 8, 1.0, 4, np.float64, seed=0, c=7.0)
    )
    assert not np.array_equal(
        make_inputs("edges", 8, 1.0, 3, np.float64, seed=0, c=1.0),
        make_inputs("edges", 8, 1.0, 3, np.float64, seed=0, c=2.0),
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [2, 3, 50])
def test_ties_share_the_exact_maximum(dtype, n):
    x = make_inputs("ties", n, 30.0, 6, dtype, seed=1)
    top = dtype(30.0)
    assert np.all(x.max(axis=1) == top)
    assert np.all((x == top).sum(axis=1) == min(4, n))


def test_spike_and_spread():
    x = make_inputs("spike", 32, 500.0, 4, np.float32, seed=0)
    assert np.all(x.max(axis=1) == 500.0) and np.all(np.sort(x, axis=1)[:, -2] <= 1.0)
    y = make_inputs("spread", 64, 100.0, 4, np.float64, seed=0)
    assert np.all(np.abs(np.abs(y) - 100.0) < 10.0)


def _exact_edges(dtype) -> np.ndarray:
    """ln(max), ln(min normal), ln(min subnormal) of ``dtype`` by mpmath, not by the code."""
    info = np.finfo(dtype)
    values = (info.max, info.smallest_normal, info.smallest_subnormal)
    with mpmath.workprec(100):
        return np.array([float(mpmath.log(mpmath.mpf(float(v)))) for v in values])


@pytest.mark.parametrize("dtype", DTYPES)
def test_edges_sit_on_the_thresholds_divided_by_c(dtype):
    c = 4.0
    x = make_inputs("edges", 200, 0.5, 3, dtype, seed=0, c=c).astype(np.float64)
    centres = _exact_edges(dtype)
    # each row is its centre + U(-0.5, 0.5) in units of c x: the mean of 200 draws is
    # within 0.1 of it (standard deviation of the mean 0.5 / sqrt(3 * 200) = 0.02)
    np.testing.assert_allclose(x.mean(axis=1) * c, centres, atol=0.1)
    assert np.all(np.abs(x * c - centres[:, None]) <= 0.5 + 1e-3)


def test_known_edges():
    assert edges(np.float32)["overflow"] == pytest.approx(88.7228391)
    assert edges(np.float64)["normal"] == pytest.approx(-708.3964185)
    assert edges(np.float64)["subnormal"] == pytest.approx(-744.4400719)


def test_unknown_family():
    with pytest.raises(ValueError, match="valid families are gaussian"):
        make_inputs("cauchy", 4, 1.0, 1, np.float64, seed=0)
