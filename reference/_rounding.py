"""Correct rounding of exact binary numbers (mpmath values) and rationals to any format.

Everything here works on the integers of mpmath's raw representation
``(sign, mantissa, exponent, bitcount)`` so that a result is rounded once,
straight from the exact (or high-precision) value, into any format of
:data:`stable_softmax.formats.FORMATS` (float64 down to float8 and float4).
Going through a wider float first would round twice: a value a hair above a
float16 midpoint can land exactly on that midpoint in float32, and
ties-to-even would then pick the wrong float16 neighbour.

Overflow follows each format's rule (:attr:`Format.overflow`): ``+-inf``
(IEEE formats), NaN (float8_e4m3fn, fnuz formats) or ``+-largest``
(saturating float6/float4), after rounding to nearest even on the unbounded
grid of the format's precision; that is how ml_dtypes converts.  Formats
without ``-0`` (fnuz) round every zero result to ``+0``.
"""

from __future__ import annotations

import math
from fractions import Fraction

from mpmath import libmp

from stable_softmax.formats import FORMATS, Format, format_of

__all__ = [
    "Format",
    "FLOAT32",
    "FLOAT64",
    "format_of",
    "round_mpf",
    "round_rational",
    "round_within",
]

FLOAT32 = FORMATS["float32"]
FLOAT64 = FORMATS["float64"]


def _raw(value):
    return value._mpf_ if hasattr(value, "_mpf_") else value


def _zero(negative: bool, fmt: Format) -> float:
    return -0.0 if negative and fmt.signed_zero else 0.0


def _overflow(negative: bool, fmt: Format) -> float:
    if fmt.overflow == "nan":
        # The NaN keeps the sign, as ml_dtypes' conversions give it (-NaN below -largest).
        return -math.nan if negative else math.nan
    big = math.inf if fmt.overflow == "inf" else fmt.largest
    return -big if negative else big


def _above_largest(m: int, quantum: int, fmt: Format) -> bool:
    """Whether ``m * 2**quantum > largest = M * 2**(emax - p + 1)``."""
    d = quantum - (fmt.emax - fmt.precision + 1)
    if d >= 0:
        return m << d > fmt.largest_significand
    return m > fmt.largest_significand << -d


def round_mpf(value, fmt: Format) -> float:
    """Round an exact binary number to ``fmt`` with round-to-nearest-even.

    Parameters
    ----------
    value : mpmath.mpf or raw mpf tuple
        The number to round; it is taken as exact.
    fmt : Format
        Target format (any entry of :data:`stable_softmax.formats.FORMATS`).

    Returns
    -------
    float
        The rounded value as a Python float, exactly representable in
        ``fmt`` (so converting it to ``fmt.dtype`` is exact), or the
        format's overflow value: magnitudes above
        :attr:`Format.overflow_threshold` (and the threshold itself when
        ties go up, as in IEEE formats) give ``+-inf``, NaN or
        ``+-largest`` per :attr:`Format.overflow`.  Subnormals are rounded on
        the fixed quantum ``2**qmin``; ``-0`` becomes ``+0`` in formats
        without a signed zero.  mpmath's NaN and infinities map to the
        Python ones (converting ``inf`` to an ml_dtypes format without
        infinities gives its own rule's value).
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
        return _zero(bool(sign), fmt)
    top = exp + bc - 1  # value lies in [2**top, 2**(top+1))
    if top > fmt.emax + 1:
        # At least 2**(emax+2): far beyond the overflow threshold.
        return _overflow(bool(sign), fmt)
    if top < fmt.qmin - 2:
        # Below 2**(qmin-1), i.e. under half the smallest subnormal.
        return _zero(bool(sign), fmt)
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
        return _zero(bool(sign), fmt)
    # Rounding was on the unbounded grid of precision p; the carry of a
    # round-up can reach 2**(emax+1), and fn formats lose their top value.
    if m.bit_length() - 1 + quantum >= fmt.emax and _above_largest(m, quantum, fmt):
        return _overflow(bool(sign), fmt)
    result = math.ldexp(m, quantum)  # exact: m has at most precision+1 bits
    return -result if sign else result


def round_rational(value: Fraction | int, fmt: Format) -> float:
    """Round an exact rational number to ``fmt`` with round-to-nearest-even.

    Parameters
    ----------
    value : fractions.Fraction or int
        The exact number.
    fmt : Format
        Target format.

    Returns
    -------
    float
        As :func:`round_mpf`.

    Notes
    -----
    ``|value| = m 2**-k + r`` with ``m = floor(|value| 2**k)``, ``0 <= r <
    2**-k``, where ``k`` is large enough that every rounding boundary of
    ``fmt`` near ``value`` (a multiple of half its quantum, at least
    ``2**(qmin-1)``, and at least ``2**(top - p - 1)``) is a multiple of
    ``2**-k``.  Then ``(2m + [r != 0]) 2**-(k+1)`` lies strictly between the
    same two consecutive multiples of ``2**-k`` as ``value`` (or equals it),
    so it rounds identically; it is a finite binary number for
    :func:`round_mpf`.
    """
    q = Fraction(value)
    num, den = abs(q.numerator), q.denominator
    if num == 0:
        return 0.0
    top = num.bit_length() - den.bit_length()  # |q| < 2**(top + 1)
    k = max(fmt.precision + 2 - top, 2 - fmt.qmin, 0)
    m, r = divmod(num << k, den)
    man = 2 * m + (1 if r else 0)
    raw = libmp.from_man_exp(-man if q < 0 else man, -k - 1)
    return round_mpf(raw, fmt)


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
        different signs (``z`` might be exactly 0), ``+0.0`` is returned; if
        both overflow to NaN (formats without infinities), NaN.
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
    lo_end, hi_end = libmp.mpf_sub(value, radius), libmp.mpf_add(value, radius)
    lo, hi = round_mpf(lo_end, fmt), round_mpf(hi_end, fmt)
    if lo != hi:
        # NaN is the overflow of formats without infinities: both ends
        # overflowing on the same side is one result.
        if not (math.isnan(lo) and math.isnan(hi) and lo_end[0] == hi_end[0]):
            return None
    if lo == 0.0 and math.copysign(1.0, lo) != math.copysign(1.0, hi):
        return 0.0
    return lo
