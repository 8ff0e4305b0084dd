"""Numba kernels of the simulated arithmetic: rounding a float64 to a narrow format.

A simulated value is a float64 that is exactly a value of the format (or its
overflow value). A format reaches the kernels as the tuple
``spec = (p, emin, qmin, largest, overflow, signed_zero)`` built by
:func:`spec_of`, with ``overflow`` 0 (``+-inf``), 1 (NaN) or 2 (saturate to
``+-largest``).

Round to nearest even (:func:`round_rn`): with ``a = |x|`` in
``[2**top, 2**(top+1))`` the quantum is ``2**q``, ``q = max(top - p + 1,
qmin)``; ``a * 2**-q`` is exact (a power-of-two scaling that neither
overflows nor underflows for these formats) and below ``2**p <= 2**26``, so
``(s + 2**52) - 2**52`` is ``s`` rounded to an integer, ties to even (the
float64 addition rounds at the units place). Then ``r * 2**q`` is exact.

Stochastic rounding (:func:`round_sr`) of an exact value ``x + err`` (the
float64 ``x`` and an error term ``err`` with ``|err| <= ulp64(x)/2``, zero
when ``x`` is exact): with ``lo`` the format value below and ``hi`` the one
above, the result is ``hi`` with probability ``(x + err - lo) / (hi - lo)``,
decided by a uniform ``u`` in [0, 1): unbiased, ``E[result] = x + err``, and
exact values are returned unchanged. The probability is formed in float64,
so it is exact to within ``2**-52`` (relative to the format's spacing); ``u``
has 53 random bits.
"""

from __future__ import annotations

import math

import numpy as np

from ..formats import Format
from ..kernels._options import kernel

__all__ = ["round_rn", "round_sr", "spec_of", "ordinal_of", "two_sum", "div_residual_sign"]

_OVERFLOW_CODE = {"inf": 0, "nan": 1, "saturate": 2}
_TWO52 = 4503599627370496.0  # 2**52
_SPLIT = 134217729.0  # 2**27 + 1, Veltkamp's splitter for float64


def spec_of(fmt: Format) -> tuple:
    """The tuple a kernel needs to round to ``fmt`` (a format of at most 16 bits).

    The rounding kernels need precision ``p <= 26`` (float64 intermediates are
    then provably enough, and ``2**p`` fits the rounding trick); the unary
    tables need at most ``2**16`` inputs. float32 and float64 are native.
    """
    if fmt.dtype.itemsize > 2:
        raise ValueError(
            f"{fmt.name} is not simulated: simulated formats have at most 16 bits "
            "(float16, bfloat16, float8 ...); float32 and float64 are computed natively"
        )
    return (
        fmt.precision,
        fmt.emin,
        fmt.qmin,
        fmt.largest,
        _OVERFLOW_CODE[fmt.overflow],
        fmt.signed_zero,
    )


@kernel(inline=True)
def _overflow(x, spec):
    code = spec[4]
    if code == 0:
        return math.copysign(math.inf, x)
    if code == 1:
        return math.copysign(math.nan, x)  # ml_dtypes keeps the sign: -NaN below -largest
    return math.copysign(spec[3], x)


@kernel(inline=True)
def _zero(x, spec):
    if spec[5]:
        return math.copysign(0.0, x)
    return 0.0


@kernel(inline=True)
def _quantum_exp(a, spec):
    # a > 0 finite: frexp gives a = f * 2**e with f in [0.5, 1), so top = e - 1.
    _, e = math.frexp(a)
    return max(e - spec[0], spec[2])


@kernel
def round_rn(x, spec):
    """``x`` (any float64) rounded to nearest even in the format of ``spec``."""
    if x != x:
        return x
    a = abs(x)
    if a == math.inf:
        return _overflow(x, spec)
    if a == 0.0:
        return _zero(x, spec)
    q = _quantum_exp(a, spec)
    s = math.ldexp(a, -q)
    r = (s + _TWO52) - _TWO52
    y = math.ldexp(r, q)
    if y > spec[3]:
        return _overflow(x, spec)
    if y == 0.0:
        return _zero(x, spec)
    return math.copysign(y, x)


@kernel
def round_sr(x, err, u, spec):
    """The exact value ``x + err`` rounded stochastically with uniform ``u``."""
    if x != x:
        return x
    if abs(x) == math.inf:
        return _overflow(x, spec)
    if x == 0.0 and err == 0.0:
        return _zero(x, spec)
    # The binade of the exact value: that of x, or the one below when x is a
    # power of two and err pulls the magnitude down.
    a = abs(x)
    if a == 0.0:
        a = abs(err)
    f, e = math.frexp(a)
    if f == 0.5 and err != 0.0 and (err < 0.0) != (x < 0.0) and x != 0.0:
        e -= 1
    q = max(e - spec[0], spec[2])
    s = math.ldexp(x, -q)  # exact, |s| < 2**p
    t = math.ldexp(err, -q)
    lo = math.floor(s)
    frac = (s - lo) + t  # s - lo is exact
    if frac < 0.0:
        lo -= 1.0
        frac += 1.0
    elif frac >= 1.0:
        lo += 1.0
        frac -= 1.0
    r = lo + 1.0 if u < frac else lo
    y = math.ldexp(r, q)
    if abs(y) > spec[3]:
        return _overflow(x, spec)
    if y == 0.0:
        return _zero(x, spec)
    return y


@kernel(inline=True)
def two_sum(a, b):
    """``(s, e)`` with ``s = fl(a + b)`` and ``a + b = s + e`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


@kernel(inline=True)
def div_residual_sign(a, b, q):
    """``a/b - q`` approximately, with the exact sign, for ``q = fl(a/b)``.

    ``r = a - q b`` is exactly representable (q is the correctly rounded
    quotient); Dekker's product splits ``q b = ph + pl`` exactly (``b`` has at
    most 26 bits, so only ``q`` is split), ``a - ph`` is exact by Sterbenz's
    lemma and ``(a - ph) - pl = r`` exactly. The return value is ``r / b``.
    """
    ph = q * b
    c = _SPLIT * q
    qh = c - (c - q)
    ql = q - qh
    pl = (qh * b - ph) + ql * b
    r = (a - ph) - pl
    return r / b


@kernel
def ordinal_of(x, spec):
    """Position of ``|x|`` (a finite format value) on the format's grid: 0 for 0."""
    a = abs(x)
    qmin = spec[2]
    if a < math.ldexp(1.0, spec[1]):
        return np.int64(math.ldexp(a, -qmin))
    f, e = math.frexp(a)
    half = np.int64(1) << (spec[0] - 1)
    sig = np.int64(math.ldexp(f, spec[0]))  # in [2**(p-1), 2**p)
    return np.int64(e - 1 - spec[1] + 1) * half + (sig - half)
