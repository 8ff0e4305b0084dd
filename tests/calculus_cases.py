"""Helpers shared by the calculus test modules (``test_calculus*.py``)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

DTYPES = [np.float32, np.float64]
COURSE = np.array([2.0, 4.0, 2.0, 1.0])


def unit_roundoff(dtype):
    return np.finfo(dtype).eps / 2


def logits(dtype, shape, sigma=3.0, seed=0):
    return np.random.default_rng(seed).normal(0.0, sigma, shape).astype(dtype)


def as_fractions(values) -> list[Fraction]:
    return [Fraction(float(v)) for v in np.ravel(values)]


def softmax_bound(x, c=1.0):
    """``n + 2 + 2 c (max - min)`` per row: the shifted softmax bound in ULPs."""
    x = np.asarray(x, dtype=np.float64)
    return x.shape[-1] + 2 + 2 * c * (x.max(axis=-1) - x.min(axis=-1))
