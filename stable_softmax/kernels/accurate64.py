"""float64 rows of the ``accurate`` method, in double-double arithmetic.

The row passes: ``t_j = c (x_j - m)`` by :func:`.accurate_exp.shifted_dd`
(relative error below 2^-100), the terms ``exp(t_j)`` by
:func:`.accurate_exp.exp_dd` (2^-63), their sum ``R`` over the non-maximal
elements split exactly so that it vectorizes (:func:`_exp_split_block64`),
``ln(k + R)`` by :func:`.accurate_exp.log_dd`, and the output pass. Every
value before the final rounding is within about 2^-60 relative of the exact
result, far below the 2^-53 that keeps the final rounding within 1 ULP (the
segment between the exact and the computed value must not contain two
rounding boundaries). The exceptions, bounded rather than repaired, are noted
where they arise.
"""

from __future__ import annotations

import math

import numpy as np

from ._blocks import BLOCK, block_sum, row_max
from ._options import kernel
from ._special import fill, log_softmax_special, nan_max
from .accurate_dd import fast_two_sum, plus_cm, two_sum
from .accurate_exp import XMIN, exp_dd_scaled, log_dd, shifted_dd
from .exp import _fma as fma

#: Shifter of the splitting grid 2^-39: (v + _SIGMA) - _SIGMA is v rounded to a
#: multiple of 2^-39, exactly (v in [0, 2^12]).
_SIGMA = 1.5 * 2.0**13


@kernel
def _exp_split_block64(x, m, c_hi, c_lo, eh, el, top, rem, one, sigma, qshift, xmin):
    """Terms of one block and their exact split for the sum (no fastmath: the split must stay).

    ``eh[i] + el[i] = exp(c (x[i] - m)) 2^qshift`` (``eh`` may be ``x``). A
    term exactly ``one + 0`` is a maximum (``t = 0``; a nonzero ``t`` leaves
    its trace in the low part): it is counted, not summed. The others are split
    as ``top[i] + rem[i]``, ``top[i]`` the term rounded to the grid of
    ``sigma`` (``ulp(sigma)``) and ``rem[i]`` the rest plus the low part:
    any sum of the ``top`` values is exact, so :func:`._blocks.block_sum` may
    add them in vector lanes. Returns the number of maxima.
    """
    ties = 0
    for i in range(x.size):
        th, tl = shifted_dd(x[i], m, c_hi, c_lo)
        h, lo = exp_dd_scaled(th, tl, qshift, xmin)
        eh[i] = h
        el[i] = lo
        tie = (h == one) & (lo == 0.0)
        ties += 1 if tie else 0
        v = 0.0 if tie else h
        a = (v + sigma) - sigma  # exact: v rounded to the grid of sigma
        top[i] = a
        rem[i] = (v - a) + lo  # v - a exact; + lo rounds at 2^-53 of half a grid step
    return ties


@kernel
def _row_rest64(x, m, c_hi, c_lo, eh, el, whole, one, sigma, qshift, xmin):
    """``(R_hi, R_lo, k)``: the sum ``R`` of the non-maximal terms of a row, ``k`` the maxima.

    ``whole``: ``eh``, ``el`` have the row's length and keep the terms
    (softmax); otherwise they are one block of scratch. Blocks are added in
    block order into a double-double, so the bits do not depend on threads.
    """
    nb = min(x.size, BLOCK)
    top = np.empty(nb)
    rem = np.empty(nb)
    r_hi = r_lo = 0.0
    ties = 0
    for start in range(0, x.size, BLOCK):
        xb = x[start : start + BLOCK]
        size = xb.size
        hb = eh[start : start + BLOCK] if whole else eh[:size]
        lb = el[start : start + BLOCK] if whole else el[:size]
        ties += _exp_split_block64(
            xb, m, c_hi, c_lo, hb, lb, top[:size], rem[:size], one, sigma, qshift, xmin
        )
        # the top sum is exact in any order (terms on one grid, total below 2^13);
        # the rem sum (terms below half a grid step) errs below 2^-71 (grid step / 2^-39)
        r_hi, err = two_sum(r_hi, block_sum(top[:size]))
        r_lo += err + block_sum(rem[:size])
    r_hi, r_lo = fast_two_sum(r_hi, r_lo)
    return r_hi, r_lo, ties


_RESCUE = 960.0
_RESCUE_ONE = 2.0**960


@kernel
def _log_rest64(x, m, c_hi, c_lo):
    """``(R_hi, R_lo, k)`` accurate *relatively* however small ``R`` (log_softmax, logsumexp).

    The first pass splits on the grid 2^-39, which leaves an absolute error of
    about 2^-71 (relative 2^-63 when ``R >= 2^-8``). A smaller ``R`` bounds every
    term, so a second pass splits on a grid 2^-38 times the binade of ``R``
    (relative error 2^-71). Below 2^-960 the terms may be subnormal: the
    second pass then runs in a frame scaled by 2^960 (terms down to exp(-1455)
    count) and its result is scaled back, rounding once.
    """
    nb = min(x.size, BLOCK)
    hb = np.empty(nb)
    lb = np.empty(nb)
    r_hi, r_lo, ties = _row_rest64(x, m, c_hi, c_lo, hb, lb, False, 1.0, _SIGMA, 0.0, XMIN)
    if r_hi < 2.0**-960:
        r_hi, r_lo, _ = _row_rest64(
            x, m, c_hi, c_lo, hb, lb, False, _RESCUE_ONE, _SIGMA, _RESCUE, -1455.0
        )
        r_hi, r_lo = math.ldexp(r_hi + r_lo, -960), 0.0
    elif r_hi < 2.0**-8:
        sigma = math.ldexp(_SIGMA, math.frexp(r_hi)[1] + 1)
        r_hi, r_lo, _ = _row_rest64(x, m, c_hi, c_lo, hb, lb, False, 1.0, sigma, 0.0, XMIN)
    return r_hi, r_lo, ties


@kernel
def _divide_block64(out, el, sh, sl, inv):
    """``out[i] = (out[i] + el[i]) / (sh + sl)`` rounded once from a double-double quotient.

    ``q = e_hi (1 / S_hi)`` is within 2 ulps; the residual ``e_hi - q S_hi`` is
    exact by FMA, so one correction step gives the quotient to about 2^-104
    before the final rounding: no division per element. Subnormal outputs are
    rounded once from ``e_hi`` (already on the subnormal grid) divided by
    ``S >= 1``: at most 1 ULP there, not always correctly rounded.
    """
    for i in range(out.size):
        h = out[i]
        q = h * inv
        rem = fma(-q, sh, h)  # exact: h - q sh
        out[i] = q + ((rem + el[i]) - q * sl) * inv


@kernel
def _log_softmax_block64(x, out, m, c_hi, c_lo, lh, ll):
    """``out[i] = c (x[i] - m) - (lh + ll)`` rounded once from a double-double.

    The final ``s + (...)`` rounds twice when ``s`` plus half an ULP is hit
    exactly (``x_j - m`` with a half-ULP remainder next to a tiny ``ln S``):
    1 ULP, not correctly rounded.
    """
    for i in range(x.size):
        th, tl = shifted_dd(x[i], m, c_hi, c_lo)
        s, e = two_sum(th, -lh)
        y = s + (e + (tl - ll))
        out[i] = s if s - s != 0.0 else y


@kernel
def softmax64(x, out, c_hi, c_lo, lo):
    """``lo``: at least ``n`` float64, the low parts of the terms (high parts in ``out``)."""
    m = row_max(x)
    if not math.isfinite(m):
        fill(out, math.nan)
        return
    n = x.size
    lo = lo[:n]
    r_hi, r_lo, ties = _row_rest64(x, m, c_hi, c_lo, out, lo, True, 1.0, _SIGMA, 0.0, XMIN)
    sh, sl = two_sum(np.float64(ties), r_hi)  # S = k + R, exact
    sh, sl = fast_two_sum(sh, sl + r_lo)
    inv = 1.0 / sh
    for start in range(0, n, BLOCK):
        _divide_block64(out[start : start + BLOCK], lo[start : start + BLOCK], sh, sl, inv)


@kernel
def _log_sum64(x, m, c_hi, c_lo):
    r_hi, r_lo, ties = _log_rest64(x, m, c_hi, c_lo)
    return log_dd(np.float64(ties), r_hi, r_lo)


@kernel
def log_softmax64(x, out, c_hi, c_lo):
    """``c (x_j - m) - ln(k + R)``, each output rounded once from a double-double."""
    m = row_max(x)
    if not math.isfinite(m):
        log_softmax_special(x, out)
        return
    lh, ll = _log_sum64(x, m, c_hi, c_lo)
    for start in range(0, x.size, BLOCK):
        _log_softmax_block64(
            x[start : start + BLOCK], out[start : start + BLOCK], m, c_hi, c_lo, lh, ll
        )


@kernel
def logsumexp64(x, c_hi, c_lo):
    """``c m + ln(k + R)``: where the two cancel below about 2^-8, 2^-63 absolute, not 1 ULP."""
    m = row_max(x)
    if not math.isfinite(m):
        return nan_max(x)
    lh, ll = _log_sum64(x, m, c_hi, c_lo)
    if lh != lh:
        return lh  # a NaN in the row; c m may have overflowed, which must not hide it
    return plus_cm(m, c_hi, c_lo, lh, ll)
