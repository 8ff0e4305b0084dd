r"""Exact overflow and underflow thresholds of each kernel, by bisection on the float grid.

Two probes, both with an exact answer that is finite and nonzero for every
finite logit in the searched range, so any non-finite output is the kernel's
failure, not the function's:

overflow
    The row ``[t, 0]`` with ``t > 0`` growing. Exact softmax is
    ``[1/(1+e^{-ct}), e^{-ct}/(1+e^{-ct})]`` (the second may round to 0, which
    is correct and not counted), log_softmax and logsumexp are finite as long
    as ``c t`` is, so the search covers ``t <= max_float`` for softmax and
    ``t <= max_float / c`` for the others. The threshold is the **smallest
    float** ``t`` at which an output is ``inf`` or NaN.
underflow
    The row ``[t, t]`` with ``t < 0`` falling. Exact softmax is ``[1/2, 1/2]``,
    log_softmax ``-ln 2`` and logsumexp ``c t + ln 2``. The threshold is the
    **largest float** ``t`` at which an output is ``inf`` or NaN, or a softmax
    output is 0 (``exp(c t)`` rounded to 0 gives ``0/0``, ``ln 0 = -inf``).
    Gradual underflow alone does not show here: equal subnormals still divide
    to exactly 1/2, so for the naive kernels this lands at the point where
    ``exp(c t)`` rounds to zero, ``ln(min_subnormal / 2) / c``.

The search works on the integer bit patterns of the non-negative floats, which
are ordered like the floats, so it returns a float and its neighbour on either
side of the edge: the result is exact, not a tolerance. It assumes the failure
is monotone in ``|t|`` on the searched range (checked at the end points).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

import stable_softmax as ss

from .families import edges

__all__ = ["Threshold", "find_threshold", "threshold_table", "fmt_hex"]

_UINT = {np.dtype(np.float32): np.uint32, np.dtype(np.float64): np.uint64}


def _float_of_bits(bits: int, dtype: np.dtype) -> np.floating:
    return np.array([bits], dtype=_UINT[dtype]).view(dtype)[0]


def _bits_of_float(value, dtype: np.dtype) -> int:
    return int(np.array([value], dtype=dtype).view(_UINT[dtype])[0])


def fmt_hex(value, dtype) -> str:
    """Hex form of a float32/float64 value (exact: float32 values are float64 values)."""
    if value is None:
        return "-"
    text = float(np.dtype(dtype).type(value)).hex()
    if "p" not in text:  # inf / nan
        return text
    mantissa, exponent = text.split("p")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}p{exponent}"


def _evaluate(function: str, method: str, row: np.ndarray, beta: float) -> np.ndarray:
    func = getattr(ss, function)
    with np.errstate(all="ignore"):
        return np.atleast_1d(np.asarray(func(row, method=method, beta=beta)))


def overflows(function: str, method: str, t, dtype, beta: float = 1.0) -> bool:
    """True when the kernel returns inf or NaN for the row ``[t, 0]``."""
    row = np.array([t, 0], dtype=dtype)
    return not bool(np.all(np.isfinite(_evaluate(function, method, row, beta))))


def underflows(function: str, method: str, t, dtype, beta: float = 1.0) -> bool:
    """True when the kernel returns inf/NaN (or a zero probability) for the row ``[t, t]``."""
    out = _evaluate(function, method, np.array([t, t], dtype=dtype), beta)
    bad = not bool(np.all(np.isfinite(out)))
    return bad or (function == "softmax" and bool(np.any(out == 0)))


def _first_true(pred: Callable[[int], bool], lo: int, hi: int) -> int | None:
    """Smallest ``b`` in ``(lo, hi]`` with ``pred(b)``, given ``not pred(lo)``; None if ``not pred(hi)``."""
    if not pred(hi):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _search_limit(function: str, dtype: np.dtype, beta: float) -> np.floating:
    big = np.finfo(dtype).max
    if function == "softmax":
        return big
    with np.errstate(over="ignore"):
        limit = dtype.type(big / dtype.type(beta))
        while not np.isfinite(dtype.type(beta) * limit):
            limit = np.nextafter(limit, dtype.type(0))
    return limit


@dataclass(frozen=True)
class Threshold:
    """Measured and theoretical edges for one function x method x dtype x beta (base e)."""

    function: str
    method: str
    dtype: str
    beta: float
    overflow: float | None  # smallest float t where [t, 0] fails; None: no failure up to the limit
    overflow_last_ok: float | None
    underflow: float | None  # largest float t where [t, t] fails; None: no failure down to -limit
    underflow_last_ok: float | None
    search_limit: float
    theory_overflow: float  # ln(max) / beta
    theory_normal: float  # ln(min normal) / beta
    theory_subnormal: float  # ln(min subnormal) / beta

    def as_dict(self) -> dict:
        return asdict(self)


def find_threshold(function: str, method: str, dtype, beta: float = 1.0) -> Threshold:
    """Bisect the float grid for the exact overflow and underflow edges of one kernel.

    See the module docstring for the two probes. Returns a :class:`Threshold`
    whose measured values are Python floats holding exact ``dtype`` values.
    """
    dtype = np.dtype(dtype)
    limit = _search_limit(function, dtype, beta)
    top = _bits_of_float(limit, dtype)

    def over(bits: int) -> bool:
        return overflows(function, method, _float_of_bits(bits, dtype), dtype, beta)

    def under(bits: int) -> bool:
        return underflows(function, method, -_float_of_bits(bits, dtype), dtype, beta)

    def as_float(bits: int | None, sign: float = 1.0) -> float | None:
        return None if bits is None else sign * float(_float_of_bits(bits, dtype))

    if over(0) or under(0):
        raise RuntimeError(
            f"{function}/{method} fails at t = 0 in {dtype}: the probes assume it does not"
        )
    first_over = _first_true(over, 0, top)
    first_under = _first_true(under, 0, top)
    theory = {k: v / beta for k, v in edges(dtype).items()}
    return Threshold(
        function=function,
        method=method,
        dtype=dtype.name,
        beta=float(beta),
        overflow=as_float(first_over),
        overflow_last_ok=as_float(None if first_over is None else first_over - 1),
        underflow=as_float(first_under, -1.0),
        underflow_last_ok=as_float(None if first_under is None else first_under - 1, -1.0),
        search_limit=float(limit),
        theory_overflow=theory["overflow"],
        theory_normal=theory["normal"],
        theory_subnormal=theory["subnormal"],
    )


def threshold_table(
    functions: dict[str, tuple[str, ...]], dtypes, betas=(1.0, 1e3, 1e6)
) -> list[Threshold]:
    """:func:`find_threshold` for every function x method x dtype x beta (base e)."""
    return [
        find_threshold(function, method, dtype, beta)
        for function, methods in functions.items()
        for method in methods
        for dtype in dtypes
        for beta in betas
    ]


def describe(value: float | None, dtype) -> str:
    """``"88.72284 (0x1.62e430p+6)"``, or ``"none"`` for no failure in range."""
    if value is None:
        return "none"
    digits = 9 if np.dtype(dtype) == np.float32 else 17
    return f"{value:.{digits}g} ({fmt_hex(value, dtype)})"
