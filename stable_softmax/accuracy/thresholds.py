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

The search works on the ordinals of the non-negative floats
(:func:`stable_softmax.floatbits.to_ordinal`), which are ordered like the
floats, so it returns a float and its neighbour on either side of the edge:
the result is exact, not a tolerance. It assumes the failure is monotone in
``|t|`` on the searched range (checked at the end points).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import implementations
from ..floatbits import first_true, from_ordinal, to_ordinal
from .families import edges

__all__ = ["Threshold", "find_threshold", "threshold_table", "fmt_hex"]


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
    """The implementation ``method`` of ``function`` on the single row ``row``, flattened."""
    impl = implementations.get(function, method)
    with np.errstate(all="ignore"):
        return np.asarray(impl.compute(row[None, :], beta=beta, base=None)).ravel()


def overflows(function: str, method: str, t, dtype, beta: float = 1.0) -> bool:
    """True when the kernel returns inf or NaN for the row ``[t, 0]``."""
    row = np.array([t, 0], dtype=dtype)
    return not bool(np.all(np.isfinite(_evaluate(function, method, row, beta))))


def underflows(function: str, method: str, t, dtype, beta: float = 1.0) -> bool:
    """True when the kernel returns inf/NaN (or a zero probability) for the row ``[t, t]``."""
    out = _evaluate(function, method, np.array([t, t], dtype=dtype), beta)
    bad = not bool(np.all(np.isfinite(out)))
    return bad or (function == "softmax" and bool(np.any(out == 0)))


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
    # Ordinals of the non-negative floats: 0 is +0, ``top`` the search limit.
    top = int(to_ordinal(limit))

    def at(ordinal: int) -> np.floating:
        return from_ordinal(ordinal, dtype)[()]

    def over(ordinal: int) -> bool:
        return overflows(function, method, at(ordinal), dtype, beta)

    def under(ordinal: int) -> bool:
        return underflows(function, method, -at(ordinal), dtype, beta)

    def as_float(ordinal: int | None, sign: float = 1.0) -> float | None:
        return None if ordinal is None else sign * float(at(ordinal))

    if over(0) or under(0):
        raise RuntimeError(
            f"{function}/{method} fails at t = 0 in {dtype}: the probes assume it does not"
        )
    first_over = first_true(over, 0, top)
    first_under = first_true(under, 0, top)
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
    """:func:`find_threshold` for every function x implementation x dtype x beta (base e).

    An implementation is searched only in the dtypes it accepts.
    """
    return [
        find_threshold(function, name, dtype, beta)
        for function, names in functions.items()
        for name in names
        for dtype in dtypes
        if str(dtype) in implementations.get(function, name).dtypes
        for beta in betas
    ]


def describe(value: float | None, dtype) -> str:
    """Decimal and hex of a threshold, or ``"none"`` for no failure in range.

    Nine significant digits for float32 and 17 for float64 (enough to name
    the float exactly), then the exact hex form of :func:`fmt_hex`:
    ``describe(88.72283935546875, np.float32)`` is ``"88.7228394 (0x1.62e43p+6)"``.
    """
    if value is None:
        return "none"
    digits = 9 if np.dtype(dtype) == np.float32 else 17
    return f"{value:.{digits}g} ({fmt_hex(value, dtype)})"
