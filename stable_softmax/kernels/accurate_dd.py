"""Double-double arithmetic for the ``accurate`` method: error-free transformations.

A double-double is an unevaluated sum ``hi + lo`` of two float64 with
``|lo| <= ulp(hi) / 2``, about 106 significant bits. Each function states the
exact identity or the error bound it guarantees; the callers combine them and
write down their own bounds beside each use.
"""

from __future__ import annotations

import math

from ._options import kernel
from .exp import _fma as fma

#: The small scalar pieces below are inlined into their callers at the Numba IR
#: level: LLVM's own inliner leaves a function as long as ``exp_dd_scaled``
#: out-of-line, and a call in a loop prevents its vectorization.
inline_kernel = kernel(inline=True)


@inline_kernel
def two_sum(a, b):
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e = a + b`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@inline_kernel
def fast_two_sum(a, b):
    """:func:`two_sum` for ``|a| >= |b|`` (or ``a = 0``): 3 operations (Dekker)."""
    s = a + b
    return s, b - (s - a)


@inline_kernel
def two_prod(a, b):
    """``(p, e)`` with ``p = fl(a b)`` and ``p + e = a b`` exactly (FMA)."""
    p = a * b
    return p, fma(a, b, -p)


@inline_kernel
def dd_mul(ah, al, bh, bl):
    """Double-double product, relative error below 2^-102 (normalized result).

    ``ah bh`` is exact by :func:`two_prod`; the cross terms ``ah bl + al bh``
    are each about 2^-53 of the product and round at 2^-106; ``al bl``
    (2^-106 of the product) is dropped.
    """
    p, e = two_prod(ah, bh)
    e += ah * bl + al * bh
    return fast_two_sum(p, e)


@kernel
def plus_cm(m, c_hi, c_lo, lh, ll):
    """``c m + (lh + ll)`` rounded once from a double-double (``c m`` by TwoProd).

    ``c_hi m`` is exact as ``ph + pl``; ``c_lo m`` is 2^-53 of it and rounds
    at 2^-106. The sum ``ph + lh`` is exact by :func:`two_sum`; the final
    ``s + (...)`` is the single rounding (ties aside: a ``hi + lo`` whose
    exact value is a midpoint rounds twice, 1 ULP at worst).
    """
    ph, pl = two_prod(c_hi, m)
    if not math.isfinite(ph):
        return ph  # |c m| beyond the largest double: so is the result
    pl += c_lo * m
    s, e = two_sum(ph, lh)
    return s + (e + (pl + ll))
