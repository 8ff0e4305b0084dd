r"""Dividing a row of terms by their sum, correctly rounded; in float64 without a divide.

The last pass of softmax divides every stored term ``a_i = exp(c (x_i - m))``
by one number, their sum ``s``. A vector division costs several times a
multiply-add (AVX-512 ``vdivps``/``vdivpd``), and a multiplication by
``1 / s`` rounds twice. :func:`divide_by_sum` gets the correctly rounded
quotient ``RN(a / s)``, bit for bit what ``a / s`` gives, from one reciprocal
per row and two or four fused multiply-adds per element, and falls back to
:func:`divide` where the argument below does not hold (and for float32).

The argument (``p`` = 24 or 53 significand bits, ``u = 2^-p``)
-----------------------------------------------------------
1. ``y = RN(1 / s)``, once per row; ``e = fma(-s, y, 1) = 1 - s y`` is exact
   (the remainder of a faithful reciprocal) and ``y = (1 / s)(1 - e)``.
2. ``q = RN(a y)``. If ``|e| < u / 4``, ``q`` is a faithful quotient (one of
   the two floats around ``a / s``): ``|a y - a / s| = (a / s) |e|`` is below a
   quarter of ``ulp(a / s)``, and rounding adds at most half of one.
3. Markstein's theorem (Markstein 1990; Muller et al., *Handbook of
   Floating-Point Arithmetic*, FMA-based division): when ``y`` is within half
   an ulp of ``1 / s`` and ``q`` is faithful, the residual ``r = fma(-s, q,
   a) = a - s q`` is exact and ``fma(r, y, q) = RN(a / s)``.
4. When ``|e| >= u / 4`` (about half of all divisors), the bound of 2 does
   not show that ``q`` is faithful: it may miss by a fraction of an ulp (no
   case was found in the tests, but the argument does not exclude one). One
   correction step brings it within half an ulp plus about ``3u`` ulp (the
   residual, even if rounded, is accurate to ``u`` relative), which is
   faithful, and a second step is then exact by 3. Two corrections: four fused multiply-adds.

Steps 3 and 4 need the residuals to be representable, i.e. no underflow:
``s >= 1`` and every nonzero term at least ``2^-960 s``, so that every
quotient and its residual are normal with room to spare (the same argument
holds for float32 with ``2^-100 s``; float32 rows are divided, see
:func:`divide_by_sum`). The caller passes the smallest positive term (from the
sum pass, where it is one integer minimum per vector); rows with a smaller
term, a NaN or an infinite sum are divided by :func:`divide`. Zero terms are
exact in every path (``q = r = 0``).

``tests/test_division.py`` compares both paths bit for bit with NumPy's
division (float32 and float64, divisors with an all-ones significand, terms
at the underflow guard, zeros).

Timings of the three paths are in ``docs/bench-2026-12-02.md``.
"""

from __future__ import annotations

import math

from ._options import kernel
from .exp import _fma as fma


@kernel
def divide(out, s):
    """``out[i] = out[i] / s``, one correctly rounded division per element."""
    for i in range(out.size):
        out[i] = out[i] / s


@kernel
def _divide_once_corrected(out, s, y):
    """``RN(out[i] / s)`` for a reciprocal ``y`` with ``|1 - s y| < u / 4`` (steps 2-3).

    Exact for ``s >= 1`` and terms of 0 or at least ``2^-960 s`` (float64), ``2^-100 s`` (float32).
    """
    for i in range(out.size):
        a = out[i]
        q = a * y  # faithful: |a y - a / s| = (a / s) |e| < ulp / 4, plus half an ulp
        # r = a - s q exactly (Markstein: faithful q, no underflow); q + r y = RN(a / s)
        out[i] = fma(fma(-s, q, a), y, q)


@kernel
def _divide_twice_corrected(out, s, y):
    """``RN(out[i] / s)`` for ``y = RN(1 / s)`` (step 4), under the same conditions."""
    for i in range(out.size):
        a = out[i]
        q = a * y  # within 1.5 ulp of a / s (|e| < u)
        q = fma(fma(-s, q, a), y, q)  # faithful: within 1/2 ulp + ~3u ulp
        out[i] = fma(fma(-s, q, a), y, q)  # exact (step 3)


@kernel
def divide_by_sum(out, s, smallest):
    """``out[i] = RN(out[i] / s)``: the bits of :func:`divide`, faster in float64.

    Parameters
    ----------
    out : 1-D float32 or float64 array
        Non-negative terms, divided in place.
    s : float of the dtype of ``out``
        The divisor; the fast paths need ``s >= 1`` (a softmax sum is at
        least its largest term, ``exp(0) = 1``).
    smallest : float of the dtype of ``out``
        The smallest positive value in ``out`` (``+inf`` when there is none).
        Below ``2^-960 s`` the residuals of the fast paths could underflow,
        and every element is divided instead.

    Notes
    -----
    float32 rows are always divided: within the whole softmax kernel
    ``vdivps`` measured no slower than the FMA paths (the divider runs beside
    the FMA units; figures in ``docs/bench-2026-12-02.md``), and it needs no
    smallest-term guard. float64 rows take the FMA paths when the guard holds.
    """
    if out.itemsize == 4:
        divide(out, s)
        return
    one = out.dtype.type(1.0)
    if not (s >= one and s < math.inf and smallest >= out.dtype.type(2.0**-960) * s):
        divide(out, s)
        return
    y = one / s
    # e = 1 - s y is exact (remainder of a faithful reciprocal, step 1).
    if abs(fma(-s, y, one)) < out.dtype.type(2.0**-55):  # |e| < u / 4
        _divide_once_corrected(out, s, y)
    else:
        _divide_twice_corrected(out, s, y)
