"""Shared test helpers: the dtype and function lists, the float grid, ULP assertions.

Import from a test module as ``from helpers import DTYPES, assert_ulps, ...``
(pytest puts ``tests/`` on ``sys.path``). Bit-level float work goes through
:mod:`stable_softmax.floatbits`; nothing here re-implements it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import reference
import stable_softmax as ss
from stable_softmax import floatbits

#: The dtypes the kernels compute in (they keep their dtype).
DTYPES: tuple[type[np.floating], ...] = (np.float32, np.float64)

#: The public functions, by name.
FUNCTIONS: tuple[str, ...] = ("softmax", "log_softmax", "logsumexp")

#: Every (function, method) pair the package offers, from ``ss.METHODS``.
CASES: tuple[tuple[str, str], ...] = tuple(
    (function, method) for function, methods in ss.METHODS.items() for method in methods
)

#: The guarded pairs: every method but the deliberately unguarded ``naive``.
GUARDED: tuple[tuple[str, str], ...] = tuple(c for c in CASES if c[1] != "naive")


def ours(function: str) -> Callable:
    """The package's public function ``function`` (``"softmax"``, ...)."""
    return getattr(ss, function)


def correctly_rounded(function: str) -> Callable:
    """The reference's correctly rounded ``function``."""
    return getattr(reference, function)


def scipy_function(function: str) -> Callable:
    """``scipy.special``'s ``function`` (imported on first use: scipy is a test extra)."""
    import scipy.special

    return getattr(scipy.special, function)


def eps(dtype) -> float:
    """Machine epsilon of ``dtype`` (2**-23 for float32, 2**-52 for float64)."""
    return float(np.finfo(dtype).eps)


def neighbours(x: float, k: int, dtype) -> np.ndarray:
    """The ``2k + 1`` floats of ``dtype`` centred on ``x`` (``x`` rounded to ``dtype`` first)."""
    return floatbits.neighbours(np.asarray(x, dtype=dtype), k)


def next_up(x, k: int = 1) -> np.ndarray:
    """The float ``k`` steps above ``x`` on its own grid."""
    return floatbits.next_up(x, k)


def next_down(x, k: int = 1) -> np.ndarray:
    """The float ``k`` steps below ``x`` on its own grid."""
    return floatbits.next_down(x, k)


def ulps(result, expected) -> np.ndarray:
    """ULP distance of ``result`` from ``expected`` (same dtype), see ``floatbits.ulp_distance``."""
    return floatbits.ulp_distance(result, expected)


def assert_ulps(result, expected, max_ulps: float, *, what: str = "") -> None:
    """Fail unless ``result`` and ``expected`` have the same dtype and shape and every element
    is within ``max_ulps`` ULPs (NaN matches NaN only, infinities match themselves only).

    The message names the worst element, both values and its distance.
    """
    result, expected = np.asarray(result), np.asarray(expected)
    assert result.dtype == expected.dtype, f"{what}: dtype {result.dtype} != {expected.dtype}"
    assert result.shape == expected.shape, f"{what}: shape {result.shape} != {expected.shape}"
    if result.size == 0:
        return
    dist = ulps(result, expected)
    worst = np.unravel_index(int(np.argmax(dist)), dist.shape)
    assert dist[worst] <= max_ulps, (
        f"{what}: {dist[worst]:g} ULPs > {max_ulps} at index {tuple(map(int, worst))}: "
        f"got {result[worst]!r}, expected {expected[worst]!r}"
    )
