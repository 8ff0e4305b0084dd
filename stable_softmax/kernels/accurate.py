r"""The ``accurate`` method: softmax, log_softmax and logsumexp within 1 ULP.

For a row ``x`` and scale ``c = beta ln(base)`` these kernels return, in the
dtype of ``x``, a value within 1 ULP (ordinal distance) of the correctly
rounded result, and the correctly rounded result itself for all but a tiny
fraction of elements. They keep the structure of the other kernels (a maximum
pass, a pass of exponentials and sums over blocks of ``BLOCK`` elements
combined in block order, an output pass) and vectorize; softmax costs about
2.2 to 3.3 times ``shifted`` at the bench shapes, at one thread or two (README, Speed).

Scratch: a softmax row keeps its terms (float64) for the output pass in a
scratch of the row's length, allocated once per call and thread, not per row;
float32 rows longer than ``_KEEP32`` keep nothing and recompute their terms
(the same bits) in the output pass, cheaper than a trip of the scratch
through memory. The float64 exponential :func:`exp_dd` is the cost that
remains: about 115 vector instructions per 8 terms on AVX-512 (``exp64``,
which float32 rows use, about 30).

The scale
---------
``c`` enters as a double-double ``c_hi + c_lo`` (``c_lo = 0`` when omitted).
The public functions pass ``beta * ln(base)`` computed at 160 bits and split
into two doubles, so the 1 ULP claim holds for the exact scale of the
reference whatever ``beta`` and ``base``. When a caller passes ``c`` alone,
the kernels compute with that ``c`` as if it were exact (float32 rows use
``c_hi`` alone: its rounding, 2^-53 relative, is far below their budget): a ``c`` that is a
rounded ``beta * ln(base)`` carries a relative error ``d`` that becomes an
error ``|c x| d`` in the exponent, which no kernel can repair.

float32 rows: float64 inside
----------------------------
Everything is computed in float64 and rounded once to float32 at the end:
``t_j = c (x_j - m)`` (the difference of two floats rounds at most once,
relative 2^-53; the product with ``c_hi + c_lo`` once more), ``e_j = exp(t_j)``
with :func:`.exp.exp64` (relative error below 2^-52), the sum of the
non-maximal terms ``R`` in blocked order (relative error at most
``(BLOCK / 4 + n / BLOCK + 1) 2^-53``, below 2^-42 for every ``n`` up to
2^22), ``k`` the number of maxima, ``S = k + R``, and

* softmax ``e_j / S``, log_softmax ``t_j - (ln k + log1p(R / k))``,
  logsumexp ``c m + ln k + log1p(R / k)`` (``c m`` as an exact double-double).

Only outputs that matter to float32 are involved: ``|t_j| <= 104`` for any
nonzero float32 softmax output, so the error of ``t_j`` costs at most
``104 * 2^-51 < 2^-44`` relative. The float64 value ``v`` before the last
rounding is therefore within ``2^-41`` relative of the exact ``y`` (softmax;
log_softmax, whose non-maximal outputs have ``|y_j| >= ln 2`` and whose
maximal output is ``-log1p(R / k) - ln k`` with ``R`` relative-accurate). Rounding
``v`` to float32 (float32 subnormals are normal float64 numbers, and the
float64 -> float32 conversion rounds on the subnormal grid): the segment
between ``y`` and ``v`` is far shorter than one float32 spacing, so it holds at
most one float32 rounding boundary and ``RN32(v)`` is ``RN32(y)`` or its
neighbour, **at most 1 ULP**. The double rounding ``y -> v (float64) -> float32``
only matters when ``y`` lies within 2^-41 relative of a float32 midpoint.
That is rare for softmax (no such element in the check script's sweep) but
systematic in log_softmax when ``t_j = x_j - m`` is itself a float32 midpoint
(25 significant bits) and ``ln S`` is tiny: 0.2% of the log_softmax outputs of the
check script's sweep are 1 ULP off, never more.
logsumexp: the absolute error of ``c m + ln S`` is about ``|c m| 2^-52 +
2^-41``, within 1 ULP unless ``|lse|`` is below about 2^-16 (a cancellation
of ``c m`` against ``ln S`` that random inputs essentially never reach).

float64 rows: double-double
---------------------------
* ``x_j - m = d_hi + d_lo`` exactly (TwoSum), ``t_j = (c_hi + c_lo)(d_hi +
  d_lo)`` as a double-double ``t_hi + t_lo`` (TwoProd by FMA), relative error
  below 2^-100.
* :func:`exp_dd` returns ``exp(t_hi + t_lo)`` as ``e_hi + e_lo``: ``t = (4 q +
  j) ln2 / 4 + r`` (``ln2 / 4`` in two parts, the first 36 bits long so that
  ``k ln2/4`` is exact), ``|r| <= ln2 / 8``, ``r = r_hi + r_lo`` by TwoSum;
  ``exp(r) = 1 + r + r^2/2 + r^3 P(r)`` with ``1 + r_hi`` and ``r_hi^2``
  split exactly (Fast2Sum, FMA), ``P`` the Taylor polynomial to degree 11
  (truncation 2^-71) evaluated in double (its term is below 2^-13, so its
  rounding errors stay near 2^-65), ``r_lo`` entering as ``r_lo (1 + r_hi)``;
  times ``2^(j/4)``, a double-double selected branch-free among 4 constants,
  times ``2^q`` rounded once (``llvm.ldexp``: ``vscalefpd`` on AVX-512, else
  two normal factors from exponent bits, the first product exact). Relative error below
  2^-63 (measured: 2^-63.8 on 45,000 arguments in [-745, 709]; checked
  against mpmath in the tests). Below about exp(-700) the low part nears the
  subnormal range and the pair is accurate to 2^-1075 absolute; results
  below 2^-1022 are rounded once onto the subnormal grid.
* ``R = sum of e_j`` over the non-maximal elements: each term is split
  exactly, in the vectorized exponential loop, into its value rounded to a
  grid (2^-39) plus a remainder; the grid parts of a block add up exactly in
  any order, so both parts are summed in vector lanes (``reassoc``) and the
  block results added in block order into a double-double. Absolute error
  about 2^-71 per block. When ``R < 2^-8`` (log_softmax and logsumexp only) a
  second pass splits on a grid 2^-38 times the binade of ``R``, which bounds
  every term: relative error about 2^-71 however small ``R`` is; below
  2^-960 the second pass runs in a frame scaled by 2^960, so that terms in
  and below the subnormal range still count.
* ``ln S``, ``S = k + R``: for ``k = 1`` and ``R < 2^-5`` the series
  ``log1p(R) = 2 atanh(w)``, ``w = R / (2 + R)`` in double-double (relative
  error ~ 2^-64 for any tiny ``R``), so a dominant logit's log_softmax is the
  right tiny negative number and not 0; otherwise one Newton step
  ``L = L0 + (S exp(-L0) - 1)`` from ``L0 = log(S_hi)`` with :func:`exp_dd`,
  absolute error ~ 2^-63 for ``ln S >= 2^-5``.
* softmax: ``e_j / S`` as ``q + (e_hi - q S_hi + e_lo - q S_lo) / S_hi`` with
  ``q = e_hi (1 / S_hi)`` and the residual by FMA (no division per element);
  log_softmax ``(t_hi + t_lo) - (L_hi + L_lo)``; logsumexp ``c m + L`` with
  ``c m`` by TwoProd.

Every pre-rounding value is within about 2^-60 relative of the exact result,
far below the 2^-53 that keeps the final rounding within 1 ULP (the segment
between exact and computed value must not contain two rounding boundaries).
Exceptions, bounded and documented rather than repaired: logsumexp where
``|c m + ln S|`` cancels below about 2^-8 (absolute error 2^-63 there);
softmax outputs in the float64 subnormal range, rounded once from ``e_hi``
already rounded to the subnormal grid and then divided by ``S >= 1`` (at most
1 ULP, not always correctly rounded). The final ``hi + lo`` additions round
twice when the high part plus half an ULP is hit exactly (``x_j - m`` with a
half-ULP remainder next to a tiny ``ln S``): 1 ULP, not correctly rounded.

Special values are those of the other methods (see :mod:`.softmax`): NaN in a
row gives NaN, ``+inf`` and all ``-inf`` rows follow ``scipy.special``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange, types
from numba.extending import overload

from ._blocks import BLOCK, block_sum, row_max
from ._options import kernel
from ._reduce import fill, log_softmax_special, nan_max
from .exp import _fma as fma
from .exp import _mul_pow2, _shifted_int, exp64

__all__ = [
    "exp_dd",
    "softmax_accurate_row",
    "log_softmax_accurate_row",
    "logsumexp_accurate_row",
    "softmax_accurate_rows",
    "softmax_accurate_rows_parallel",
    "log_softmax_accurate_rows",
    "log_softmax_accurate_rows_parallel",
    "logsumexp_accurate_rows",
    "logsumexp_accurate_rows_parallel",
]

#: The small scalar pieces below are inlined into their callers at the Numba IR
#: level: LLVM's own inliner leaves a function as long as :func:`exp_dd_scaled`
#: out-of-line, and a call in a loop prevents its vectorization.
_inline = kernel(inline=True)

# ---------------------------------------------------------------------------
# error-free transformations
# ---------------------------------------------------------------------------


@_inline
def two_sum(a, b):
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e = a + b`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@_inline
def fast_two_sum(a, b):
    """:func:`two_sum` for ``|a| >= |b|`` (or ``a = 0``): 3 operations (Dekker)."""
    s = a + b
    return s, b - (s - a)


@_inline
def two_prod(a, b):
    """``(p, e)`` with ``p = fl(a b)`` and ``p + e = a b`` exactly (FMA)."""
    p = a * b
    return p, fma(a, b, -p)


@_inline
def dd_mul(ah, al, bh, bl):
    """Double-double product, relative error below 2^-102 (normalized result)."""
    p, e = two_prod(ah, bh)
    e += ah * bl + al * bh
    return fast_two_sum(p, e)


# ---------------------------------------------------------------------------
# exp of a double-double argument
# ---------------------------------------------------------------------------

_SHIFT = 1.5 * 2.0**52
_INV_LN2_4 = float.fromhex("0x1.71547652b82fep+2")  # 4 / ln2
# ln2 / 4 = _L1 + _L2 + O(2^-95): _L1 has 36 significant bits, so k * _L1 is
# exact for |k| < 2^17 and x - k * _L1 is exact (Cody-Waite).
_L1 = float.fromhex("0x1.62e42fefa0000p-3")
_L2 = float.fromhex("0x1.cf79abc9e3b3ap-42")
#: exp(t) < 2^-1076 rounds to 0 below this; exp overflows above _XMAX.
_XMIN = -746.0
_XMAX = 710.0
# 2^(j/4) = hi + lo to 2^-107 relative (mpmath), j = 1, 2, 3
_T1H, _T1L = float.fromhex("0x1.306fe0a31b715p+0"), float.fromhex("0x1.6f46ad23182e4p-55")
_T2H, _T2L = float.fromhex("0x1.6a09e667f3bcdp+0"), float.fromhex("-0x1.bdd3413b26456p-54")
_T3H, _T3L = float.fromhex("0x1.ae89f995ad3adp+0"), float.fromhex("0x1.7a1cd345dcc81p-54")
# 1/j! rounded to double, j = 3..11: exp(r) = 1 + r + r^2/2 + r^3 P(r)
_P3, _P4, _P5, _P6, _P7, _P8, _P9, _P10, _P11 = (1.0 / math.factorial(j) for j in range(3, 12))


@_inline
def exp_dd_scaled(th, tl, qshift, xmin):
    """``exp(th + tl) * 2^qshift`` as a double-double; ``exp`` of arguments below ``xmin`` is 0.

    Branch-free (vectorizes). ``qshift`` (an integer-valued float) and
    ``xmin`` let a caller evaluate terms in a scaled frame; :func:`exp_dd` is
    the plain function. NaN in ``th`` gives NaN.
    """
    xc = th if th < _XMAX else _XMAX  # NaN -> _XMAX, restored at the end
    xc = xc if xc > xmin else xmin
    tl = tl if xc == th else 0.0
    kf = fma(xc, _INV_LN2_4, _SHIFT) - _SHIFT  # rint(4 t / ln2)
    r1 = fma(-kf, _L1, xc)  # exact
    # kf * _L2 rounds by at most 2^-84: below the error budget
    rh, rl = two_sum(r1, tl - kf * _L2)  # r = t - kf ln2/4, |r| <= ln2/8
    # exp(r) = 1 + r + r^2/2 + r^3 P(r) = s + lo
    h, he = fast_two_sum(1.0, rh)
    p2, p2e = two_prod(rh, rh)
    s, se = fast_two_sum(h, 0.5 * p2)
    poly = fma(
        fma(
            fma(
                fma(fma(fma(fma(fma(_P11, rh, _P10), rh, _P9), rh, _P8), rh, _P7), rh, _P6), rh, _P5
            ),
            rh,
            _P4,
        ),
        rh,
        _P3,
    )
    lo = se + (he + (fma(rl, rh, rl) + fma(0.5, p2e, (p2 * rh) * poly)))
    # kf = 4 q + j: times 2^(j/4), selected branch-free
    qs = ((kf - 1.5) * 0.25) + _SHIFT  # q + _SHIFT, q = floor(kf / 4)
    q = qs - _SHIFT
    j = kf - 4.0 * q
    b1, b2, b3 = j >= 1.0, j >= 2.0, j >= 3.0
    ch = _T3H if b3 else (_T2H if b2 else (_T1H if b1 else 1.0))
    cl = _T3L if b3 else (_T2L if b2 else (_T1L if b1 else 0.0))
    yh, yl = two_prod(s, ch)
    yh, yl = fast_two_sum(yh, yl + (s * cl + lo * ch))
    # times 2^(q + qshift), rounded once (vscalefpd on AVX-512, else two normal factors);
    # q + qshift in [-1140, 1024] (the rescue frame reaches below _mul_pow2's usual
    # -1076): k >> 1 and k - (k >> 1) still give normal factors, yh times the first exact
    k = _shifted_int(qs + qshift, _SHIFT)
    yh = _mul_pow2(yh, k)
    yl = _mul_pow2(yl, k)
    nan = th != th
    return (th if nan else yh), (0.0 if nan else yl)


@_inline
def exp_dd(th, tl):
    """``exp(th + tl)`` as a double-double ``(hi, lo)``; relative error below 2^-63.

    ``0`` below ``exp(-746)``, ``inf`` above 710; NaN gives NaN.
    """
    return exp_dd_scaled(th, tl, 0.0, _XMIN)


@_inline
def shifted_dd(xj, m, c_hi, c_lo):
    """``c (xj - m)`` as a double-double; the low part is 0 when the high part is not finite."""
    dh, dl = two_sum(xj, -m)
    th, tl = two_prod(c_hi, dh)
    tl += fma(c_hi, dl, c_lo * dh)
    tl = tl if th - th == 0.0 else 0.0
    return th, tl


# ---------------------------------------------------------------------------
# float64 block passes
# ---------------------------------------------------------------------------

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
        a = (v + sigma) - sigma
        top[i] = a
        rem[i] = (v - a) + lo
    return ties


@kernel
def _row_rest64(x, m, c_hi, c_lo, eh, el, whole, one, sigma, qshift, xmin):
    """``(R_hi, R_lo, k)``: the sum of the non-maximal terms of a float64 row and the number of maxima.

    ``whole``: ``eh``, ``el`` have the row's length and keep the terms
    (softmax); otherwise they are one block of scratch. Per block the ``top``
    sum is exact and the ``rem`` sum (terms below half the grid) has an error
    below 2^-71 times the grid step times 2^39; block results are added in
    block order into a double-double.
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
    r_hi, r_lo, ties = _row_rest64(x, m, c_hi, c_lo, hb, lb, False, 1.0, _SIGMA, 0.0, _XMIN)
    if r_hi < 2.0**-960:
        r_hi, r_lo, k = _row_rest64(
            x, m, c_hi, c_lo, hb, lb, False, _RESCUE_ONE, _SIGMA, _RESCUE, -1455.0
        )
        r_hi, r_lo = math.ldexp(r_hi + r_lo, -960), 0.0
    elif r_hi < 2.0**-8:
        sigma = math.ldexp(_SIGMA, math.frexp(r_hi)[1] + 1)
        r_hi, r_lo, k = _row_rest64(x, m, c_hi, c_lo, hb, lb, False, 1.0, sigma, 0.0, _XMIN)
    return r_hi, r_lo, ties


@kernel
def _divide_block64(out, el, sh, sl, inv):
    """``out[i] = (out[i] + el[i]) / (sh + sl)`` rounded once from a double-double quotient."""
    for i in range(out.size):
        h = out[i]
        q = h * inv
        rem = fma(-q, sh, h)  # exact: h - q sh
        out[i] = q + ((rem + el[i]) - q * sl) * inv


@kernel
def _log_softmax_block64(x, out, m, c_hi, c_lo, lh, ll):
    """``out[i] = c (x[i] - m) - (lh + ll)`` rounded once from a double-double."""
    for i in range(x.size):
        th, tl = shifted_dd(x[i], m, c_hi, c_lo)
        s, e = two_sum(th, -lh)
        y = s + (e + (tl - ll))
        out[i] = s if s - s != 0.0 else y


# ---------------------------------------------------------------------------
# ln(k + R) in double-double (once per row)
# ---------------------------------------------------------------------------

# atanh series: log1p(R) = 2 w (1 + w^2/3 + w^4/5 + ...), w = R / (2 + R)
_A3, _A5, _A7, _A9, _A11 = 1.0 / 3.0, 1.0 / 5.0, 1.0 / 7.0, 1.0 / 9.0, 1.0 / 11.0


@kernel
def log_dd(k, r_hi, r_lo):
    """``ln(k + r)`` as a double-double for an integer ``k >= 1`` and ``r = r_hi + r_lo >= 0``.

    ``k = 1``, ``r < 2^-5``: ``2 atanh(r / (2 + r))`` in double-double, relative
    error ~ 2^-64 however small ``r`` is. Otherwise one Newton step on ``exp``
    from the libm logarithm of the high part: absolute error ~ 2^-66.
    """
    if k == 1.0 and r_hi < 2.0**-500:
        return r_hi, r_lo  # log1p(r) = r (1 - r/2 + ...), r/2 below 2^-500
    if k == 1.0 and r_hi < 0.03125:
        dh, dl = fast_two_sum(2.0, r_hi)
        dl += r_lo
        wh = r_hi / dh
        wl = ((fma(-wh, dh, r_hi) + r_lo) - wh * dl) / dh
        w2 = wh * wh
        tail = w2 * (_A3 + w2 * (_A5 + w2 * (_A7 + w2 * (_A9 + w2 * _A11))))
        return fast_two_sum(2.0 * wh, 2.0 * wl + 2.0 * wh * tail)
    sh, sl = two_sum(k, r_hi)
    sh, sl = fast_two_sum(sh, sl + r_lo)
    l0 = math.log(sh)
    eh, el = exp_dd(-l0, 0.0)
    ph, pl = dd_mul(sh, sl, eh, el)
    delta = (ph - 1.0) + pl
    return fast_two_sum(l0, delta - 0.5 * delta * delta)


# ---------------------------------------------------------------------------
# float32 passes (float64 inside)
# ---------------------------------------------------------------------------


@kernel(fastmath={"reassoc", "contract"})
def _exp_rest_sum32(x, m, c_hi, e, keep):
    """Terms ``exp(c (x[i] - m))`` of a float32 block in float64 (stored in ``e`` if ``keep``),
    the sum of those that are not exactly 1 and their count (``reassoc``: vector lanes).

    A term is exactly 1 for a maximum and for ``|t| < 2^-53``, whose exact
    value differs from 1 by less than the float64 rounding: counting it as a
    maximum changes ``S`` by less than 2^-53 relative. ``keep`` is the same for
    the whole loop, which LLVM unswitches into two vectorized loops.
    """
    mm = np.float64(m)
    total = 0.0
    ties = 0
    for i in range(x.size):
        v = exp64(c_hi * (np.float64(x[i]) - mm))
        if keep:
            e[i] = v
        tie = v == 1.0
        ties += 1 if tie else 0
        total += 0.0 if tie else v
    return total, ties


@kernel
def _row_rest32(x, m, c_hi, e):
    """``(R, k)`` of a float32 row in float64, the terms kept in ``e`` (``e.size == 0``: not kept)."""
    rest = 0.0
    ties = 0
    keep = e.size > 0
    for start in range(0, x.size, BLOCK):
        s, k = _exp_rest_sum32(x[start : start + BLOCK], m, c_hi, e[start : start + BLOCK], keep)
        rest += s
        ties += k
    return rest, ties


@kernel
def _divide_block32(e, out, inv):
    """``out[i] = e[i] / S`` as ``e[i] (1 / S)`` in float64 (2^-52 relative) rounded to float32."""
    for i in range(out.size):
        out[i] = np.float32(e[i] * inv)


@kernel(fastmath={"contract"})
def _exp_divide_block32(x, out, m, c_hi, inv):
    """The terms of :func:`_exp_rest_sum32` times ``inv``, rounded to float32 (no stored terms)."""
    mm = np.float64(m)
    for i in range(x.size):
        out[i] = np.float32(exp64(c_hi * (np.float64(x[i]) - mm)) * inv)


@kernel(fastmath={"contract"})
def _log_softmax_block32(x, out, m, c_hi, lse):
    mm = np.float64(m)
    for i in range(x.size):
        out[i] = np.float32(c_hi * (np.float64(x[i]) - mm) - lse)


@kernel
def _log_k_rest32(k, rest):
    return math.log(k) + math.log1p(rest / k)


# ---------------------------------------------------------------------------
# rows, per dtype
# ---------------------------------------------------------------------------


#: float32 softmax rows up to this length keep their float64 terms in the scratch
#: (it stays in the L2 cache); longer rows recompute them in the output pass,
#: which then costs less than a trip of the scratch through memory. float64 rows
#: always keep theirs: :func:`exp_dd` costs more than that trip.
_KEEP32 = 1 << 17


@kernel
def _scratch_size(x):
    """Float64 elements of scratch a softmax row of ``x`` needs (:func:`_softmax_impl`)."""
    n = x.shape[-1]
    return n if (x.itemsize == 8 or n <= _KEEP32) else 0


@kernel
def _softmax64(x, out, c_hi, c_lo, lo):
    """``lo``: at least ``n`` float64, the low parts of the terms (high parts in ``out``)."""
    m = row_max(x)
    if not math.isfinite(m):
        fill(out, math.nan)
        return
    n = x.size
    lo = lo[:n]
    r_hi, r_lo, ties = _row_rest64(x, m, c_hi, c_lo, out, lo, True, 1.0, _SIGMA, 0.0, _XMIN)
    sh, sl = two_sum(np.float64(ties), r_hi)
    sh, sl = fast_two_sum(sh, sl + r_lo)
    inv = 1.0 / sh
    for start in range(0, n, BLOCK):
        _divide_block64(out[start : start + BLOCK], lo[start : start + BLOCK], sh, sl, inv)


@kernel
def _softmax32(x, out, c_hi, c_lo, scratch):
    """``scratch``: :func:`_scratch_size` float64, the terms (rows up to ``_KEEP32``) or
    nothing (longer rows: the output pass recomputes them, with the same bits).
    """
    m = row_max(x)
    if not math.isfinite(m):
        fill(out, math.nan)
        return
    n = x.size
    if n <= _KEEP32:
        e = scratch[:n]
        rest, ties = _row_rest32(x, m, c_hi, e)
        inv = 1.0 / (ties + rest)
        for start in range(0, n, BLOCK):
            _divide_block32(e[start : start + BLOCK], out[start : start + BLOCK], inv)
        return
    rest, ties = _row_rest32(x, m, c_hi, scratch[:0])
    inv = 1.0 / (ties + rest)
    for start in range(0, n, BLOCK):
        _exp_divide_block32(x[start : start + BLOCK], out[start : start + BLOCK], m, c_hi, inv)


@kernel
def _log_sum64(x, m, c_hi, c_lo):
    r_hi, r_lo, ties = _log_rest64(x, m, c_hi, c_lo)
    return log_dd(np.float64(ties), r_hi, r_lo)


@kernel
def _log_softmax64(x, out, c_hi, c_lo):
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
def _log_softmax32(x, out, c_hi, c_lo):
    m = row_max(x)
    if not math.isfinite(m):
        log_softmax_special(x, out)
        return
    rest, ties = _row_rest32(x, m, c_hi, np.empty(0))
    lse = _log_k_rest32(np.float64(ties), rest)
    for start in range(0, x.size, BLOCK):
        _log_softmax_block32(x[start : start + BLOCK], out[start : start + BLOCK], m, c_hi, lse)


@kernel
def _plus_cm(m, c_hi, c_lo, lh, ll):
    """``c m + (lh + ll)`` rounded once from a double-double (``c m`` by TwoProd)."""
    ph, pl = two_prod(c_hi, m)
    if not math.isfinite(ph):
        return ph  # |c m| beyond the largest double: so is the result
    pl += c_lo * m
    s, e = two_sum(ph, lh)
    return s + (e + (pl + ll))


@kernel
def _logsumexp64(x, c_hi, c_lo):
    m = row_max(x)
    if not math.isfinite(m):
        return nan_max(x)
    lh, ll = _log_sum64(x, m, c_hi, c_lo)
    if lh != lh:
        return lh  # a NaN in the row; c m may have overflowed, which must not hide it
    return _plus_cm(m, c_hi, c_lo, lh, ll)


@kernel
def _logsumexp32(x, c_hi, c_lo):
    m = row_max(x)
    if not math.isfinite(m):
        return np.float32(nan_max(x))
    rest, ties = _row_rest32(x, m, c_hi, np.empty(0))
    k = np.float64(ties)
    lh, ll = fast_two_sum(math.log(k), math.log1p(rest / k))
    if lh != lh:
        return np.float32(lh)  # a NaN in the row; c m may have overflowed, which must not hide it
    return np.float32(_plus_cm(np.float64(m), c_hi, c_lo, lh, ll))


# ---------------------------------------------------------------------------
# dtype dispatch (resolved at compile time) and the public row kernels
# ---------------------------------------------------------------------------


def _softmax_impl(x, out, c_hi, c_lo, scratch):  # pragma: no cover - typed by the overload
    raise NotImplementedError


def _log_softmax_impl(x, out, c_hi, c_lo):  # pragma: no cover
    raise NotImplementedError


def _logsumexp_impl(x, c_hi, c_lo):  # pragma: no cover
    raise NotImplementedError


def _is32(x):
    return x.dtype == types.float32


@overload(_softmax_impl, inline="always")  # compiled into its (cached) callers
def _softmax_impl_ol(x, out, c_hi, c_lo, scratch):
    if _is32(x):
        return lambda x, out, c_hi, c_lo, scratch: _softmax32(x, out, c_hi, c_lo, scratch)
    return lambda x, out, c_hi, c_lo, scratch: _softmax64(x, out, c_hi, c_lo, scratch)


@overload(_log_softmax_impl, inline="always")  # compiled into its (cached) callers
def _log_softmax_impl_ol(x, out, c_hi, c_lo):
    if _is32(x):
        return lambda x, out, c_hi, c_lo: _log_softmax32(x, out, c_hi, c_lo)
    return lambda x, out, c_hi, c_lo: _log_softmax64(x, out, c_hi, c_lo)


@overload(_logsumexp_impl, inline="always")  # compiled into its (cached) callers
def _logsumexp_impl_ol(x, c_hi, c_lo):
    if _is32(x):
        return lambda x, c_hi, c_lo: _logsumexp32(x, c_hi, c_lo)
    return lambda x, c_hi, c_lo: _logsumexp64(x, c_hi, c_lo)


@kernel
def softmax_accurate_row(x, out, c, c_lo=0.0):
    r"""Softmax of one row within 1 ULP of the correctly rounded result.

    ``c + c_lo`` is the scale as a double-double (``c_lo`` defaults to 0: ``c``
    taken as exact); both are used in float64 for float32 rows too. Allocates a
    float64 scratch of up to a row (see ``_KEEP32``); the module docstring has
    the method and its error analysis. ``out`` may be ``x``.
    """
    _softmax_impl(x, out, np.float64(c), np.float64(c_lo), np.empty(_scratch_size(x)))


@kernel
def log_softmax_accurate_row(x, out, c, c_lo=0.0):
    r"""log_softmax of one row within 1 ULP; a dominant logit gets its tiny negative value.

    ``c + c_lo`` as in :func:`softmax_accurate_row`. ``out`` may be ``x``.
    """
    _log_softmax_impl(x, out, np.float64(c), np.float64(c_lo))


@kernel
def logsumexp_accurate_row(x, c, c_lo=0.0):
    r"""``ln sum_k exp(c x_k)`` of one row within 1 ULP (see the module docstring for the
    cancellation caveat when the result is near 0); ``c + c_lo`` as in
    :func:`softmax_accurate_row`.
    """
    return _logsumexp_impl(x, np.float64(c), np.float64(c_lo))


# ---------------------------------------------------------------------------
# 2-D drivers with the scale as a double-double (what the public API calls)
# ---------------------------------------------------------------------------


@kernel
def softmax_accurate_rows(x, out, c_hi, c_lo):
    """Every row of a ``(rows, n)`` array on the calling thread; one scratch for all."""
    scratch = np.empty(_scratch_size(x))
    for r in range(x.shape[0]):
        _softmax_impl(x[r], out[r], c_hi, c_lo, scratch)


@kernel(parallel=True)
def softmax_accurate_rows_parallel(x, out, c_hi, c_lo, chunks):
    """Rows in ``chunks`` contiguous chunks (one per thread), one scratch per chunk
    (same bits as serial; a scratch per row would be allocated and faulted in once per row).
    """
    rows = x.shape[0]
    chunks = max(1, min(chunks, rows))
    for t in prange(chunks):
        scratch = np.empty(_scratch_size(x))
        for r in range(t * rows // chunks, (t + 1) * rows // chunks):
            _softmax_impl(x[r], out[r], c_hi, c_lo, scratch)


@kernel
def log_softmax_accurate_rows(x, out, c_hi, c_lo):
    for r in range(x.shape[0]):
        _log_softmax_impl(x[r], out[r], c_hi, c_lo)


@kernel(parallel=True)
def log_softmax_accurate_rows_parallel(x, out, c_hi, c_lo):
    for r in prange(x.shape[0]):
        _log_softmax_impl(x[r], out[r], c_hi, c_lo)


@kernel
def logsumexp_accurate_rows(x, out, c_hi, c_lo):
    for r in range(x.shape[0]):
        out[r] = _logsumexp_impl(x[r], c_hi, c_lo)


@kernel(parallel=True)
def logsumexp_accurate_rows_parallel(x, out, c_hi, c_lo):
    for r in prange(x.shape[0]):
        out[r] = _logsumexp_impl(x[r], c_hi, c_lo)


#: ``function -> (serial driver, parallel driver)``, both ``(x, out, c_hi, c_lo)``;
#: the softmax parallel driver also takes the number of threads (row chunks).
ACCURATE_DRIVERS = {
    "softmax": (softmax_accurate_rows, softmax_accurate_rows_parallel),
    "log_softmax": (log_softmax_accurate_rows, log_softmax_accurate_rows_parallel),
    "logsumexp": (logsumexp_accurate_rows, logsumexp_accurate_rows_parallel),
}
