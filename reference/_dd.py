"""Double-double arithmetic with proven error bounds, for the fast reference step.

Everything here is a scalar ``@njit`` function used by :mod:`reference._fast`.
Each function states the error of its result; the proofs are written beside
the operations, CORE-MATH style (``u = 2^-53``; "exact" means an error-free
transformation or Sterbenz's lemma).  No libm function is trusted: the only
libm call, ``log`` in :func:`log_dd`, gives a starting point whose error the
Newton step *measures*.

Bounds (relative unless stated; ``A`` is an absolute floor for underflow):

* :func:`exp_dd`: ``|y - exp(x)| <= 2^-91.5 exp(x) + 2^-1074`` for
  ``-745.2 <= x <= 709.7`` (:data:`EXP_REL`).
* :func:`div_dd`: ``2^-101`` (:data:`DIV_REL`), plus ``2^-1060`` absolute.
* :func:`log_dd`: an absolute bound computed at run time from the measured
  Newton correction.
* :func:`log1p_small`: ``2^-90 R`` for ``0 <= R < 2^-20`` (:data:`LOG1P_REL`).
* :func:`decide`: the rounding test (exact, see its docstring).

The oracle does not share code with the kernels it checks: this module has
its own FMA and its own exp table.
"""

from __future__ import annotations

import math

import numpy as np
from mpmath import libmp, mp, mpf
from numba import types
from numba.extending import intrinsic

from stable_softmax.kernels._options import kernel

__all__ = ["EXP_REL", "DIV_REL", "LOG1P_REL", "exp_dd", "log_dd", "log1p_small", "decide"]

EXP_REL = 2.0**-91.5
DIV_REL = 2.0**-101
LOG1P_REL = 2.0**-90
#: Absolute floor added to every result bound: the dd low parts lose bits
#: once they fall below 2^-1022 (subnormal), and no quantity here is smaller
#: in magnitude than 2^-1060 where it matters (see :func:`decide`).
ABS_FLOOR = 2.0**-1060
#: exp(x) < 2^-1075 (rounds to +0 in every format with qmin >= -1074) below this.
EXP_ZERO_BELOW = -745.2
EXP_MAX = 709.7


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (``llvm.fma``)."""
    if not (a == b == c == types.float64):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return types.float64(types.float64, types.float64, types.float64), codegen


@kernel
def two_sum(a, b):
    """``s + e = a + b`` exactly, ``s = fl(a + b)`` (Knuth; no overflow)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@kernel
def fast_two_sum(a, b):
    """:func:`two_sum` when ``|a| >= |b|`` or ``a = 0`` (Dekker)."""
    s = a + b
    return s, b - (s - a)


@kernel
def two_prod(a, b):
    """``p + e = a b`` exactly (FMA), barring underflow of ``e``."""
    p = a * b
    return p, fma(a, b, -p)


# --------------------------------------------------------------------------
# exp
# --------------------------------------------------------------------------

_SHIFT = 1.5 * 2.0**52  # (v + _SHIFT) - _SHIFT = rint(v) for |v| < 2^51


def _constants():
    """ln2/4096 in three parts and the table 2^(i/4096) = TH[i] + TL[i], from mpmath."""
    with mp.workprec(300):
        big_l = mp.log(2) / 4096
        # L1: 30 significant bits, so k L1 is exact for |k| < 2^23.
        l1 = libmp.to_float(libmp.mpf_pos(big_l._mpf_, 30, "n"))
        l2 = float(big_l - l1)
        l3 = float(big_l - l1 - l2)
        th = np.empty(4096)
        tl = np.empty(4096)
        for i in range(4096):
            v = mp.power(2, mpf(i) / 4096)
            th[i] = float(v)
            tl[i] = float(v - th[i])
        inv = float(4096 / mp.log(2))
    return l1, l2, l3, th, tl, inv


_L1, _L2, _L3, _TH, _TL, _INV_L = _constants()
# 1/j! rounded to nearest, j = 3..6.
_C3, _C4, _C5, _C6 = (1.0 / math.factorial(j) for j in range(3, 7))


@kernel
def _pow2(e):
    """2^e for integer -2044 <= e <= 2046, as two normal factors."""
    e1 = e // 2
    return math.ldexp(1.0, e1), math.ldexp(1.0, e - e1)


@kernel
def exp_dd(xh, xl, shift):
    """``exp(xh + xl) 2^shift`` as a normalized double-double.

    Requires ``-1161 <= xh <= 709.7``, ``|xl| <= ulp(xh)/2`` (so
    ``|xl| <= 2^-43``) and an integer ``0 <= shift <= 700``.  Error:
    ``|y - exp(x) 2^shift| <= 2^-91.5 exp(x) 2^shift + 2^-1074``.  (A
    ``shift`` keeps results far below ``2^-969`` normal, with their low parts.)

    Proof (``L = ln2/4096``, ``x = (k/4096) ln2 + r``, ``exp(x) = 2^e T_i exp(r)``
    with ``k = 4096 e + i``):

    1. ``kf = rint(fl(xh 4096/ln2))``: ``|xh 4096/ln2 - kf| <= 1/2 + 2^-29``
       (``|xh 4096/ln2| < 2^22.8``, two roundings of ``u``), ``|kf| < 2^23``.
    2. ``r1 = xh - kf L1`` exact: ``kf L1`` fits in 53 bits (L1 has 30) and,
       for ``kf != 0``, ``xh / (kf L1)`` lies in ``[1/2, 2]`` (Sterbenz);
       ``kf L2 = p2h + p2l`` exact (two_prod), ``r1 - p2h = rh + rl`` exact.
    3. ``rl += (xl - p2l) - kf L3``: three roundings of magnitude
       ``<= 2^-42.9`` each ``<= 2^-96``; ``|kf (L - L1 - L2 - L3)| < 2^-125``;
       so ``|r - (x - kf L)| <= 2^-94.4``, and ``|r| <= L (1/2 + 2^-29) + 2^-43
       < 2^-13.5``.  Renormalized by two_sum (exact): ``|rl| <= 2^-67``.
    4. ``P ~ exp(r) - 1 = r + r^2/2 + tail``, Taylor to degree 6: truncation
       ``<= |r|^7/7! e^|r| < 2^-106.8``.  ``tail = rh^3 (C3 + rh (C4 + rh (C5 +
       rh C6)))`` in double: ``|tail| < 2^-43.1``; coefficient and 5
       operation roundings give relative ``<= 5.1 u`` (``2^-93.8``); ``rh``
       for ``r`` costs ``|r|^2/2 |rl| <= 2^-94``.  ``rh^2 = qh + ql`` exact;
       ``r^2/2 = qh/2 + (ql/2 + rh rl) + O(2^-132)``.  ``ph + pl = rh + qh/2``
       exact (fast_two_sum, ``|rh| >= rh^2/2``); the low sum (magnitude
       ``<= 2^-43``) takes 4 roundings ``<= 2^-96`` each.  Total
       ``|P - (exp(r) - 1)| <= 2^-92.2``.
    5. ``y = T (1 + P)``: ``T = TH + TL`` to ``2^-106`` relative (mpmath);
       ``TH ph = mh + ml`` exact; ``lo = ml + (TH pl + (TL + TL ph))`` (terms
       ``<= 2^-52.9``, 3 roundings ``<= 2^-105.9`` each; ``TL pl`` dropped,
       ``< 2^-120``); ``TH + mh`` exact (fast_two_sum), one more rounding
       ``<= 2^-104.9``.  Assembly ``<= 2^-103.4`` relative (``y >= 0.9999``).
    6. Relative total: ``2^-92.19`` (P over ``1 + P >= 0.9999``) + ``2^-94.4``
       (step 3) + ``2^-103.4`` + ``2^-106`` ``< 2^-91.9 < 2^-91.5``.
    7. Times ``2^(e + shift)`` (``-1676 <= e + shift <= 1023``) by two normal
       factors: exact
       unless a part becomes subnormal, then ``<= 2^-1075`` per part: the
       absolute ``2^-1074``.
    """
    kf = (xh * _INV_L + _SHIFT) - _SHIFT
    r1 = fma(-kf, _L1, xh)
    p2h, p2l = two_prod(kf, _L2)
    rh, rl = two_sum(r1, -p2h)
    rl = rl + ((xl - p2l) - kf * _L3)
    rh, rl = two_sum(rh, rl)
    h = fma(fma(fma(_C6, rh, _C5), rh, _C4), rh, _C3)
    tail = ((rh * rh) * rh) * h
    qh, ql = two_prod(rh, rh)
    ph, pl = fast_two_sum(rh, 0.5 * qh)
    pl = pl + (rl + (0.5 * ql + (rh * rl + tail)))
    ph, pl = fast_two_sum(ph, pl)
    k = np.int64(kf)
    i = k & 4095
    e = k >> 12  # floor(k / 4096)
    t_h = _TH[i]
    t_l = _TL[i]
    mh, ml = two_prod(t_h, ph)
    lo = ml + (t_h * pl + (t_l + t_l * ph))
    yh, yl = fast_two_sum(t_h, mh)
    yh, yl = fast_two_sum(yh, yl + lo)
    s1, s2 = _pow2(e + shift)
    return (yh * s1) * s2, (yl * s1) * s2


@kernel
def div_dd(ah, al, zh, zl):
    """``(ah + al) / (zh + zl)`` for ``z >= 1``: relative error ``<= 2^-101``.

    ``q0 = fl(ah/zh)``; ``q0 zh = ph + pl`` exact; ``ah - ph`` exact
    (Sterbenz: ``ph`` is within a factor ``1 + 2^-52`` of ``ah``); the
    remainder ``(ah - ph) - pl + al - q0 zl`` (magnitude ``<= 2^-51 |a|``)
    takes 4 roundings ``<= 2^-104 |a|``; ``q1 = rem / zh`` one more relative
    ``u`` (``2^-105 |y|``); dropping ``q1 zl`` costs ``2^-105``.  Sum
    ``< 2^-101``.  Below ``2^-969`` the low parts are subnormal: the absolute
    floor :data:`ABS_FLOOR` covers them.
    """
    q0 = ah / zh
    ph, pl = two_prod(q0, zh)
    rem = (((ah - ph) - pl) + al) - q0 * zl
    return fast_two_sum(q0, rem / zh)


@kernel
def log_dd(zh, zl):
    """``ln(zh + zl)`` for ``z >= 1`` by one Newton step from libm's ``log``.

    Returns ``(sh, sl, err, ok)`` with ``|s - ln z| <= err`` when ``ok``.

    ``y0 = log(zh)`` (any value: its error ``d = y0 - ln z`` is measured).
    ``e = exp_dd(-y0)`` (``2^-91.5``, ``-y0 >= -22`` so no underflow);
    ``z e = ph + pl`` (dd product: ``2^-102``); ``w = (ph - 1) + pl``
    (``ph - 1`` exact by Sterbenz, one rounding ``u |w|``).  So
    ``|w - (z e^-y0 - 1)| <= ew = 2^-91.4 + u |w|``.  With
    ``we = z e^-y0 - 1 = e^-d - 1``, ``ln z = y0 + ln(1 + we)`` and
    ``|ln(1 + we) - we| <= we^2 / (2 (1 - |we|))``: the result ``y0 + w``
    (two_sum, exact) has ``err = ew + 0.51 (|w| + ew)^2``.  ``ok`` is False
    when ``|w| > 2^-20`` (libm far off: never seen).
    """
    y0 = math.log(zh)
    eh, el = exp_dd(-y0, 0.0, 0)
    ph, pe = two_prod(zh, eh)
    pe = pe + (zh * el + zl * eh)
    ph, pl = fast_two_sum(ph, pe)
    w = (ph - 1.0) + pl
    aw = abs(w)
    ew = 2.0**-91.4 + aw * 2.0**-53
    sh, sl = two_sum(y0, w)
    return sh, sl, ew + 0.51 * (aw + ew) * (aw + ew), aw <= 2.0**-20


@kernel
def log1p_small(rh, rl):
    """``log1p(rh + rl)`` for ``0 <= R < 2^-20``: ``|s - log1p(R)| <= 2^-90 R + 2^-1070``.

    Series ``R - R^2/2 + R^3 (1/3 - R/4 + R^2/5)``: truncation
    ``<= R^6/6 < 2^-102.5 R``; the cubic tail (``<= 2^-41.5 R``) in double,
    relative ``5 u``: ``2^-92.3 R``; using ``rh`` for ``R`` in it:
    ``2^-93 R``; ``R^2/2 = qh/2 + (ql/2 + rh rl)`` (``rl^2`` dropped);
    ``rh - qh/2`` exact (fast_two_sum); 4 roundings of the low part
    (``<= 2^-41 R``): ``2^-92.4 R``.  Sum ``< 2^-90.3 R``.  Subnormal
    intermediates (``R < 2^-900``) lose at most ``2^-1072`` each.
    """
    tail = ((rh * rh) * rh) * ((1.0 / 3.0) + rh * (-0.25 + rh * 0.2))
    qh, ql = two_prod(rh, rh)
    sh, sl = fast_two_sum(rh, -0.5 * qh)
    sl = sl + ((rl - (0.5 * ql + rh * rl)) + tail)
    return fast_two_sum(sh, sl)


@kernel
def decide(yh, yl, err, sign_hint, p, emin, emax):
    """The rounding test: ``(True, RN(z))`` if every point of ``[y - err, y + err]``
    rounds to one value of the format ``(p, emin, emax)`` (``p <= 53``), else
    ``(False, 0)``.  ``y = yh + yl`` normalized, ``err >= 0``.

    ``sign_hint`` gives the sign of a zero result when the interval contains
    0 but the exact value is known to be nonzero (+1 positive, -1 negative;
    0: unknown, then such intervals are rejected).

    Method.  Let ``q`` be the quantum of ``|yh|`` in the format and
    ``r = q rint(|yh|/q)`` (exact; ``|yh|/q < 2^53``).  ``D = |yh| - r`` is
    exact (Sterbenz, or ``r = 0``).  The rounding boundaries around ``r`` are
    ``r - qd/2`` and ``r + qu/2`` (``qd``, ``qu``: quanta just below and at
    ``r``; above ``max_finite`` the upper one is the overflow threshold and
    ``r = 2^(emax+1)`` means inf).  We accept iff
    ``(D + yl') - err > -qd/2 + s`` and ``(D + yl') + err < qu/2 - s`` with the
    slack ``s = 2^-49 qd``: ``|D|, |yl'| <= q/2``, ``err < q``, so the two
    roundings in each side are ``<= 3 u q < s`` and the computed comparison
    implies the exact one (strictly: a point on a boundary is rejected).
    Rejected outright: ``|yh| >= 2^1023`` (``r`` could overflow double) and
    ``q < 2^-970`` (float64 subnormal results: dd low parts are inexact
    there).
    """
    if not (err < math.inf and abs(yh) < 2.0**1023):
        return False, 0.0
    qmin = emin - p + 1
    ay = abs(yh)
    if ay == 0.0:
        qe = qmin
    else:
        ex = math.frexp(ay)[1]  # ay in [2^(ex-1), 2^ex)
        qe = max(ex - p, qmin)
    if qe < -970:
        return False, 0.0
    q = math.ldexp(1.0, qe)
    if not err < q:
        return False, 0.0
    x = ay / q
    n = math.floor(x + 0.5) if x < 2.0**51 else x  # x >= 2^51 is an integer here
    r = n * q
    if r == 0.0:
        half = math.ldexp(1.0, qmin - 1)
        s = math.ldexp(1.0, qmin - 49)
        y = yh + yl  # |y| < 2^qmin: exact sum of the dd
        lo = y - err
        hi = y + err
        if not (lo > -half + s and hi < half - s):
            return False, 0.0
        if lo > s:
            return True, 0.0
        if hi < -s:
            return True, -0.0
        if yh == 0.0 and yl == 0.0 and err == 0.0:
            return True, 0.0
        if sign_hint > 0:
            return True, 0.0
        if sign_hint < 0:
            return True, -0.0
        return False, 0.0
    sgn = 1.0 if yh > 0.0 else -1.0
    d = (ay - r) + sgn * yl
    er = math.frexp(r)[1]  # r in [2^(er-1), 2^er)
    top = math.ldexp(1.0, emax + 1)
    if r >= top:  # rounds to inf unless below the overflow threshold
        qd = math.ldexp(1.0, emax + 1 - p)
        ok = d - err > -0.5 * qd + qd * 2.0**-49
        return ok, sgn * math.inf if ok else 0.0
    qu = math.ldexp(1.0, max(er - p, qmin))
    if r == math.ldexp(1.0, er - 1):  # a power of two: finer grid below
        qd = math.ldexp(1.0, max(er - 1 - p, qmin))
    else:
        qd = qu
    s = qd * 2.0**-49
    ok = (d - err > -0.5 * qd + s) and (d + err < 0.5 * qu - s)
    return ok, sgn * r if ok else 0.0
