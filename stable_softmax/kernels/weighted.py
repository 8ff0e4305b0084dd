r"""Weighted log-sum-exp, ``ln |sum_k b_k exp(c x_k)|`` and its sign, for every method.

The Python layer hands over rows in which every dropped term (a zero weight,
an entry excluded by ``where=``) has ``x = -inf`` and ``b = 0``, and it sets
the rows whose result is a special value itself (NaN anywhere, an infinite
term), so these kernels only see finite weights and finite or ``-inf``
logits. Each returns ``(value, sign)`` with ``sign`` in ``{-1, 0, 1}``; a
total of exactly 0 gives ``(-inf, 0)``.

With ``m`` the largest logit, ``B`` the sum of the weights at ``m`` and
``R = sum_{x_k < m} b_k exp(c (x_k - m))``:

* ``naive``: ``ln |sum_k b_k exp(c x_k)|``, unshifted (overflows like the
  unweighted naive method).
* ``shifted``: ``c m + ln |B + R|``.
* ``log1p``: ``c m + ln |B| + log1p(R / B)`` (``ln(-1 - R / B)`` when the
  total has the sign opposite to ``B``), which keeps the digits of a small
  ``R``; ``B = 0`` falls back to ``c m + ln |R|``.
* ``accurate``: the ``log1p`` form in double-double (float32 rows are
  computed as float64 rows, exactly converted, and the float64 result is
  rounded to float32: a double rounding, within 1 ULP). Each term has relative error
  below 2^-62 and the sums are double-double, so the result is within 1 ULP
  while ``sum |b_k e_k| / |sum b_k e_k|`` (the condition number of the sum;
  1 for weights >= 0) stays below about 2^8; beyond, negative weights cancel
  and the error grows with it.

The rows run on the calling thread (the weighted path is not parallelised).
"""

from __future__ import annotations

import math

import numpy as np

from .._methods import ACCURATE, LOG1P, NAIVE, SHIFTED
from ._blocks import row_max
from ._options import kernel
from .accurate_dd import fast_two_sum, plus_cm, two_prod, two_sum
from .accurate_exp import exp_dd, log1p_dd, log_pos_dd, shifted_dd
from .exp import _fma as fma
from .exp import fast_exp


@kernel
def _sign(v):
    return 1.0 if v > 0 else (-1.0 if v < 0 else 0.0)


@kernel
def _weighted_fast(x, b, c, method):
    """``(value, sign)`` for the methods computed in the dtype of ``x``."""
    c = x.dtype.type(c)
    zero = x.dtype.type(0.0)
    m = row_max(x)
    if m == -math.inf or x.size == 0:
        return x.dtype.type(-math.inf), 0.0
    if method == NAIVE:
        total = zero
        for i in range(x.size):
            total += b[i] * fast_exp(c * x[i])
        return math.log(abs(total)), _sign(total)
    big = zero  # B, the weights at the maximum
    rest = zero  # R
    for i in range(x.size):
        if x[i] == m:
            big += b[i]
        else:
            rest += b[i] * fast_exp(c * (x[i] - m))
    cm = c * m
    if method == SHIFTED or big == 0:
        total = big + rest
        return cm + math.log(abs(total)), _sign(total)
    # LOG1P: B (1 + q), q = R / B
    q = rest / big
    if q > -1:
        return cm + math.log(abs(big)) + math.log1p(q), _sign(big)
    if q == -1:
        return x.dtype.type(-math.inf), 0.0
    return cm + math.log(abs(big)) + math.log(-1 - q), -_sign(big)


@kernel
def _weighted_accurate64(x, b, c_hi, c_lo):
    """``(value, sign)`` in double-double for a float64 row (see the module docstring)."""
    m = row_max(x)
    if m == -math.inf or x.size == 0:
        return -math.inf, 0.0
    bh = bl = rh = rl = 0.0
    for i in range(x.size):
        if x[i] == m:
            bh, e = two_sum(bh, b[i])  # exact
            bl += e
        else:
            # the term b e as a double-double: e to 2^-63 (exp_dd), b e_hi exact
            th, tl = shifted_dd(x[i], m, c_hi, c_lo)
            eh, el = exp_dd(th, tl)
            ph, pl = two_prod(b[i], eh)
            pl += b[i] * el
            rh, e = two_sum(rh, ph)  # exact; the low parts add with 2^-106 relative error
            rl += e + pl
    bh, bl = two_sum(bh, bl)
    rh, rl = two_sum(rh, rl)
    if bh == 0.0:
        if rh == 0.0:
            return -math.inf, 0.0
        s = _sign(rh)
        lh, ll = log_pos_dd(abs(rh), s * rl)
        return plus_cm(m, c_hi, c_lo, lh, ll), s
    # q = R / B in double-double: the residual of the quotient is exact by FMA
    qh = rh / bh
    ql = ((fma(-qh, bh, rh) + rl) - qh * bl) / bh
    s = _sign(bh)
    if qh > -1.0 or (qh == -1.0 and ql > 0.0):
        l1h, l1l = log1p_dd(qh, ql)
    else:
        # 1 + q <= 0: ln(-(1 + q)), the total has the sign opposite to B
        wh, wl = two_sum(-1.0, -qh)
        wh, wl = fast_two_sum(wh, wl - ql)
        if wh == 0.0:
            return -math.inf, 0.0
        l1h, l1l = log_pos_dd(wh, wl)
        s = -s
    if abs(bh) == 1.0 and bl == 0.0:
        lh, ll = l1h, l1l
    else:
        ah, al = abs(bh), (bl if bh > 0 else -bl)
        bh_log, bl_log = log_pos_dd(ah, al)
        lh, e = two_sum(bh_log, l1h)
        lh, ll = fast_two_sum(lh, e + (bl_log + l1l))
    return plus_cm(m, c_hi, c_lo, lh, ll), s


@kernel
def logsumexp_weighted_rows(x, b, out, sign, c, method, c_lo=0.0):
    """``out[r], sign[r] = ln |sum_k b[r, k] exp(c x[r, k])|`` and its sign, every row.

    ``method``: an id of :mod:`stable_softmax._methods` that logsumexp has.
    ``c + c_lo`` is the scale (``c_lo`` used by ``ACCURATE`` only).
    """
    if method == ACCURATE:
        xx = np.empty(x.shape[1])
        bb = np.empty(x.shape[1])
        for r in range(x.shape[0]):
            for i in range(x.shape[1]):  # float32 rows: exact in float64
                xx[i] = x[r, i]
                bb[i] = b[r, i]
            v, s = _weighted_accurate64(xx, bb, np.float64(c), np.float64(c_lo))
            out[r] = v
            sign[r] = s
        return
    if method != NAIVE and method != SHIFTED and method != LOG1P:
        raise ValueError("logsumexp_weighted_rows: unknown method id")
    for r in range(x.shape[0]):
        v, s = _weighted_fast(x[r], b[r], c, method)
        out[r] = v
        sign[r] = s
