"""``exp`` and ``ln`` in double-double for the ``accurate`` method (float64 rows).

:func:`exp_dd` returns ``exp(t_hi + t_lo)`` as ``e_hi + e_lo`` with relative
error below 2^-63, branch-free so that the loops calling it vectorize;
:func:`log_dd` returns ``ln(k + R)`` once per row. The bound of each step is
written beside the operation that incurs it.
"""

from __future__ import annotations

import math

from ._options import kernel
from .accurate_dd import dd_mul, fast_two_sum, inline_kernel, two_prod, two_sum
from .exp import _fma as fma
from .exp import _mul_pow2, _shifted_int

_SHIFT = 1.5 * 2.0**52
_INV_LN2_4 = float.fromhex("0x1.71547652b82fep+2")  # 4 / ln2
# ln2 / 4 = _L1 + _L2 + O(2^-95): _L1 has 36 significant bits, so k * _L1 is
# exact for |k| < 2^17 and x - k * _L1 is exact (Cody-Waite).
_L1 = float.fromhex("0x1.62e42fefa0000p-3")
_L2 = float.fromhex("0x1.cf79abc9e3b3ap-42")
#: exp(t) < 2^-1076 rounds to 0 below this; exp overflows above _XMAX.
XMIN = -746.0
_XMAX = 710.0
# 2^(j/4) = hi + lo to 2^-107 relative (mpmath), j = 1, 2, 3
_T1H, _T1L = float.fromhex("0x1.306fe0a31b715p+0"), float.fromhex("0x1.6f46ad23182e4p-55")
_T2H, _T2L = float.fromhex("0x1.6a09e667f3bcdp+0"), float.fromhex("-0x1.bdd3413b26456p-54")
_T3H, _T3L = float.fromhex("0x1.ae89f995ad3adp+0"), float.fromhex("0x1.7a1cd345dcc81p-54")
# 1/j! rounded to double, j = 3..11: exp(r) = 1 + r + r^2/2 + r^3 P(r)
_P3, _P4, _P5, _P6, _P7, _P8, _P9, _P10, _P11 = (1.0 / math.factorial(j) for j in range(3, 12))


@inline_kernel
def exp_dd_scaled(th, tl, qshift, xmin):
    """``exp(th + tl) * 2^qshift`` as a double-double; ``exp`` of arguments below ``xmin`` is 0.

    Branch-free (vectorizes). ``qshift`` (an integer-valued float) and
    ``xmin`` let a caller evaluate terms in a scaled frame; :func:`exp_dd` is
    the plain function. NaN in ``th`` gives NaN. Relative error below 2^-63
    (measured: 2^-63.8 on 45,000 arguments in [-745, 709]; checked against
    mpmath in the tests). Below about exp(-700) the low part nears the
    subnormal range and the pair is accurate to 2^-1075 absolute; results
    below 2^-1022 are rounded once onto the subnormal grid.
    """
    xc = th if th < _XMAX else _XMAX  # NaN -> _XMAX, restored at the end
    xc = xc if xc > xmin else xmin
    tl = tl if xc == th else 0.0
    # t = (4 q + j) ln2 / 4 + r with kf = 4 q + j = rint(4 t / ln2), |r| <= ln2 / 8.
    kf = fma(xc, _INV_LN2_4, _SHIFT) - _SHIFT
    r1 = fma(-kf, _L1, xc)  # exact (Cody-Waite: kf * _L1 is exact, see _L1)
    # kf * _L2 (|kf| < 2^13, _L2 < 2^-40) rounds by about 2^-81 absolute: 2^-81 relative in exp
    rh, rl = two_sum(r1, tl - kf * _L2)  # r = rh + rl exactly as computed
    # exp(r) = 1 + r + r^2/2 + r^3 P(r) = s + lo. 1 + rh and rh^2 are split exactly
    # (Fast2Sum, TwoProd); P is Taylor to degree 11: truncation (ln2/8)^12 / 12! < 2^-71.
    h, he = fast_two_sum(1.0, rh)
    p2, p2e = two_prod(rh, rh)
    s, se = fast_two_sum(h, 0.5 * p2)
    # r^3 P(r) < 2^-13 of the result, so the roundings of the Horner steps stay near 2^-65
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
    # rl enters to first order as rl (1 + rh); its square is below 2^-200
    lo = se + (he + (fma(rl, rh, rl) + fma(0.5, p2e, (p2 * rh) * poly)))
    # kf = 4 q + j: times 2^(j/4) (a double-double to 2^-107), selected branch-free
    qs = ((kf - 1.5) * 0.25) + _SHIFT  # q + _SHIFT, q = floor(kf / 4)
    q = qs - _SHIFT
    j = kf - 4.0 * q
    b1, b2, b3 = j >= 1.0, j >= 2.0, j >= 3.0
    ch = _T3H if b3 else (_T2H if b2 else (_T1H if b1 else 1.0))
    cl = _T3L if b3 else (_T2L if b2 else (_T1L if b1 else 0.0))
    yh, yl = two_prod(s, ch)  # exact
    yh, yl = fast_two_sum(yh, yl + (s * cl + lo * ch))  # s cl, lo ch: 2^-53 terms, 2^-106 error
    # times 2^(q + qshift), rounded once (vscalefpd on AVX-512, else two normal factors);
    # q + qshift in [-1140, 1024] (the rescue frame reaches below _mul_pow2's usual
    # -1076): k >> 1 and k - (k >> 1) still give normal factors, yh times the first exact
    k = _shifted_int(qs + qshift, _SHIFT)
    yh = _mul_pow2(yh, k)
    yl = _mul_pow2(yl, k)
    nan = th != th
    return (th if nan else yh), (0.0 if nan else yl)


@inline_kernel
def exp_dd(th, tl):
    """``exp(th + tl)`` as a double-double ``(hi, lo)``; relative error below 2^-63.

    ``0`` below ``exp(-746)``, ``inf`` above 710; NaN gives NaN.
    """
    return exp_dd_scaled(th, tl, 0.0, XMIN)


@inline_kernel
def shifted_dd(xj, m, c_hi, c_lo):
    """``c (xj - m)`` as a double-double; the low part is 0 when the high part is not finite.

    ``xj - m = dh + dl`` exactly (TwoSum); ``c_hi dh`` exactly (TwoProd); the
    cross terms ``c_hi dl + c_lo dh`` are 2^-53 of the product and round at
    2^-106; ``c_lo dl`` (2^-106) is dropped: relative error below 2^-100.
    """
    dh, dl = two_sum(xj, -m)
    th, tl = two_prod(c_hi, dh)
    tl += fma(c_hi, dl, c_lo * dh)
    tl = tl if th - th == 0.0 else 0.0
    return th, tl


# atanh series: log1p(R) = 2 w (1 + w^2/3 + w^4/5 + ...), w = R / (2 + R)
_A3, _A5, _A7, _A9, _A11 = 1.0 / 3.0, 1.0 / 5.0, 1.0 / 7.0, 1.0 / 9.0, 1.0 / 11.0


@kernel
def log_dd(k, r_hi, r_lo):
    """``ln(k + r)`` as a double-double for an integer ``k >= 1`` and ``r = r_hi + r_lo >= 0``.

    ``k = 1``, ``r < 2^-5``: ``2 atanh(r / (2 + r))`` in double-double, relative
    error ~ 2^-64 however small ``r`` is, so a dominant logit's log_softmax is
    the right tiny negative number and not 0. Otherwise one Newton step on
    ``exp`` from the libm logarithm of the high part: absolute error about
    2^-63, the relative error of :func:`exp_dd` (the ``k > 1`` or ``r >= 2^-5``
    cases, where ``ln(k + r) >= 2^-6``).
    """
    if k == 1.0 and r_hi < 0.03125:
        return log1p_dd(r_hi, r_lo)
    sh, sl = two_sum(k, r_hi)
    sh, sl = fast_two_sum(sh, sl + r_lo)
    return log_pos_dd(sh, sl)


@kernel
def log_pos_dd(sh, sl):
    """``ln(sh + sl)`` as a double-double for a positive double-double: absolute error ~2^-63.

    One Newton step on ``exp`` from the libm logarithm of the high part.
    """
    # L0 = log(S_hi) within 1 ulp; L = L0 + log(S exp(-L0)) = L0 + d - d^2/2 + O(d^3),
    # d = S exp(-L0) - 1 ~ 2^-52: the d^3 term (2^-156) is negligible; exp_dd's relative
    # error 2^-63 is an absolute error 2^-63 in d, hence in L (relative 2^-57 where
    # |L| > 2^-6; the callers send smaller L through the atanh series of log1p_dd)
    l0 = math.log(sh)
    eh, el = exp_dd(-l0, 0.0)
    ph, pl = dd_mul(sh, sl, eh, el)
    delta = (ph - 1.0) + pl
    return fast_two_sum(l0, delta - 0.5 * delta * delta)


@kernel
def log1p_dd(qh, ql):
    """``log1p(qh + ql)`` as a double-double for ``q > -1`` of either sign.

    ``|q| < 2^-5``: ``2 atanh(q / (2 + q))``, relative error ~ 2^-64 however
    small ``q`` is (``|q / (2 + q)| < 2^-5 / 1.96``, so the series below
    converges as fast for negative ``q``). Otherwise :func:`log_pos_dd` of
    ``1 + q`` (formed exactly), absolute error ~ 2^-63 where
    ``|log1p(q)| > 2^-6``.
    """
    if abs(qh) < 2.0**-500:
        return qh, ql  # log1p(q) = q (1 - q/2 + ...), q/2 below 2^-500
    if abs(qh) < 0.03125:
        # w = q / (2 + q) in double-double: the quotient's residual by FMA is exact
        dh, dl = fast_two_sum(2.0, qh)
        dl += ql
        wh = qh / dh
        wl = ((fma(-wh, dh, qh) + ql) - wh * dl) / dh
        # |w| < 2^-6: the tail w^2/3 + ... < 2^-13 in double, truncated after w^10 (w^12 < 2^-72)
        w2 = wh * wh
        tail = w2 * (_A3 + w2 * (_A5 + w2 * (_A7 + w2 * (_A9 + w2 * _A11))))
        return fast_two_sum(2.0 * wh, 2.0 * wl + 2.0 * wh * tail)
    sh, sl = two_sum(1.0, qh)
    sh, sl = fast_two_sum(sh, sl + ql)
    return log_pos_dd(sh, sl)
