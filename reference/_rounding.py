"""Correct rounding of exact binary numbers (mpmath values) to float32/float64.

Everything here works on the integers of mpmath's raw representation
``(sign, mantissa, exponent, bitcount)`` so that a float32 result is rounded
once, straight from the exact (or high-precision) value.  Going through a
Python float first would round twice: a value a hair above a float32 midpoint
can land exactly on that midpoint in float64, and ties-to-even would then pick
the wrong float32 neighbour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from mpmath import libmp

__all__ = ["Format", "FLOAT32", "FLOAT64", "format_of", "round_mpf", "round_within"]


@dataclass(frozen=True)
class Format:
    """An IEEE 754 binary interchange format.

    Attributes
    ----------
    dtype : numpy.dtype
        The NumPy dtype results are stored in.
    precision : int
        Significand bits including the implicit leading bit (24 or 53).
    emin : int
        Exponent of the smallest normal number (``2**emin``).
    emax : int
        Exponent of the largest binade (``max_finite < 2**(emax + 1)``).
    """

    dtype: np.dtype
    precision: int
    emin: int
    emax: int

    @property
    def qmin(self) -> int:
        """Exponent of the subnormal quantum (2**-149 or 2**-1074)."""
        return self.emin - self.precision + 1


FLOAT32 = Format(np.dtype(np.float32), 24, -126, 127)
FLOAT64 = Format(np.dtype(np.float64), 53, -1022, 1023)


def format_of(dtype) -> Format:
    """Return the :class:`Format` of float32 or float64 ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return FLOAT32
    if dtype == np.float64:
        return FLOAT64
    raise TypeError(f"no binary format for dtype {dtype}; pass np.float32 or np.float64")


def _raw(value):
    return value._mpf_ if hasattr(value, "_mpf_") else value


def round_mpf(value, fmt: Format) -> float:
    """Round an exact binary number to ``fmt`` with round-to-nearest-even.

    Parameters
    ----------
    value : mpmath.mpf or raw mpf tuple
        The number to round; it is taken as exact.
    fmt : Format
        Target format.

    Returns
    -------
    float
        The rounded value as a Python float.  For float32 targets the float32
        value is exactly representable in float64, so ``np.float32(result)``
        is exact.  Values at or beyond ``max_finite + ulp(max_finite)/2`` give
        ``+-inf`` (the tie at that point rounds to the even candidate,
        ``2**(emax+1)``, which overflows); subnormals are rounded on the fixed
        quantum ``2**qmin``.
    """
    raw = _raw(value)
    sign, man, exp, bc = raw
    if not man:
        if raw == libmp.fnan:
            return math.nan
        if raw == libmp.finf:
            return math.inf
        if raw == libmp.fninf:
            return -math.inf
        return -0.0 if sign else 0.0
    top = exp + bc - 1  # value lies in [2**top, 2**(top+1))
    if top > fmt.emax + 1:
        # At least 2**(emax+2): far beyond the overflow threshold.
        return -math.inf if sign else math.inf
    if top < fmt.qmin - 2:
        # Below 2**(qmin-1), i.e. under half the smallest subnormal.
        return -0.0 if sign else 0.0
    quantum = max(top - fmt.precision + 1, fmt.qmin)
    shift = quantum - exp
    if shift <= 0:
        m = man << -shift
    else:
        m = man >> shift
        rest = man - (m << shift)
        half = 1 << (shift - 1)
        if rest > half or (rest == half and m & 1):
            m += 1
    if m == 0:
        return -0.0 if sign else 0.0
    # m * 2**quantum >= 2**(emax+1) exactly when its leading bit reaches emax+1;
    # the carry of a round-up can push it there.
    if m.bit_length() - 1 + quantum > fmt.emax:
        return -math.inf if sign else math.inf
    result = math.ldexp(m, quantum)  # exact: m has at most precision+1 bits
    return -result if sign else result


def round_within(value, err_log2: int | None, fmt: Format, relative: bool = True) -> float | None:
    """Round an approximation if its error bound cannot change the rounding.

    Parameters
    ----------
    value : raw mpf tuple
        Approximation ``y`` of an unknown exact number ``z``.
    err_log2 : int or None
        ``|z - y| <= 2**err_log2 * |y|`` (``relative=True``) or
        ``|z - y| <= 2**err_log2`` (``relative=False``).  ``None`` means
        ``y`` is exact.
    fmt : Format
        Target format.
    relative : bool
        How to read ``err_log2``.

    Returns
    -------
    float or None
        The correctly rounded value of ``z`` if both ends of the interval
        round to the same float, else ``None`` (the caller must retry with a
        smaller error: Ziv's strategy).  If both ends round to zeros of
        different signs (``z`` might be exactly 0), ``+0.0`` is returned.
    """
    value = _raw(value)
    if err_log2 is None:
        return round_mpf(value, fmt)
    sign, man, exp, bc = value
    if not man:
        if relative:
            return round_mpf(value, fmt)
        a = err_log2
    elif relative:
        a = exp + bc + err_log2  # 2**(exp+bc) > |y|
    else:
        a = err_log2
    # Rounding is monotone, so every point of [y - 2**a, y + 2**a] rounds to
    # one value when both end points do.
    radius = (0, 1, a, 1)
    lo = round_mpf(libmp.mpf_sub(value, radius), fmt)
    hi = round_mpf(libmp.mpf_add(value, radius), fmt)
    if lo != hi:
        return None
    if lo == 0.0 and math.copysign(1.0, lo) != math.copysign(1.0, hi):
        return 0.0
    return lo
