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


# The error-free transformations (and llvm.fma) are the package's own, inlined at
# the Numba IR level: one definition for the kernels and the reference.
from stable_softmax.kernels.accurate_dd import fast_two_sum, fma, two_prod, two_sum  # noqa: E402

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
        step = mp.power(2, mpf(1) / 4096)
        v = mpf(1)
        for i in range(4096):  # 4096 products at 300 bits: relative error < 2^-287
            th[i] = float(v)
            tl[i] = float(v - th[i])
            v *= step
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
def _positive(a1, a2, b, c):
    """True only if ``a1 + a2 + b - c > 0`` exactly.

    ``a1 + b = s + e`` and ``s - c = s2 + e2`` are exact (two_sum); the
    exact sum is ``s2 + e2 + e + a2``.  ``low = fl(fl(e2 + e) + a2)`` is within
    ``2.02 u (|e2| + |e| + |a2|)`` of ``e2 + e + a2`` and ``t = fl(s2 + low)``
    within ``u |t|`` of ``s2 + low``; so ``t > 2^-50 (|e2| + |e| + |a2|) +
    2^-52 |t|`` implies a positive exact sum.  When every step is exact (the
    low parts are 0) any ``t > 0`` passes, however small.  (Subnormal sums
    are exact.)
    """
    s, e = two_sum(a1, b)
    s2, e2 = two_sum(s, -c)
    t = s2 + ((e2 + e) + a2)
    return t > 2.0**-50 * (abs(e2) + abs(e) + abs(a2)) + 2.0**-52 * abs(t)


@kernel
def _up(v):
    """A double ``>= v`` for ``v = fl(a - b)`` or ``fl(a + b)``: ``fl + 2^-51 |fl|``."""
    return v + abs(v) * 2.0**-51


@kernel
def decide(yh, yl, y3, err, sign_hint, p, emin, emax):
    """The rounding test: ``(True, RN(z))`` if every point of ``[y - err, y + err]``
    rounds to one value of the format ``(p, emin, emax)`` (``p <= 53``), else
    ``(False, 0)``.  ``y = yh + yl + y3`` (``|y3|`` far below ``ulp(yh)``),
    ``err >= 0``.

    ``sign_hint`` gives the sign of a zero result when the interval contains
    0 but the exact value is known to be nonzero (+1 positive, -1 negative;
    0: unknown, then such intervals are rejected).

    Method.  Let ``q`` be the quantum of ``|yh|`` in the format and ``r`` the
    multiple of ``q`` nearest to ``|y|`` (from ``|yh|/q``, exact, and the
    sign of ``yl`` when ``|yh|`` is itself a midpoint).  ``D = |yh| - r`` is
    exact (Sterbenz, or ``r = 0``).  The rounding boundaries around ``r`` are
    ``r - qd/2`` and ``r + qu/2`` (``qd``, ``qu``: quanta just below and at
    ``r``; above ``max_finite`` the upper one is the overflow threshold, and
    ``r = 2^(emax+1)`` stands for inf).  We accept iff
    ``(D + qd/2) + yl' - err > 0`` and ``(qu/2 - D) - yl' - err > 0``
    (``yl' = sign(yh) yl``), each decided by :func:`_positive`, which never
    answers True for a sum that is not positive: a point on a boundary is
    rejected.  ``y3`` enters as ``err - y3'`` and ``err + y3'``, exact when
    ``err = 0`` and else rounded upwards (:func:`_up`).  Rejected outright:
    ``|yh| >= 2^1023`` (``r`` could overflow double) and ``q < 2^-970``
    (float64 subnormal results; scale them first).
    """
    if not (err < math.inf and abs(yh) < 2.0**1023):
        return False, 0.0
    yh, yl = fast_two_sum(yh, yl)  # |yl| <= ulp(yh)/2 is assumed below
    qmin = emin - p + 1
    ay = abs(yh)
    top = math.ldexp(1.0, emax + 1)
    if ay >= 2.0 * top:  # far beyond the overflow threshold: inf if the interval stays there
        ok = err + abs(y3) < 0.25 * ay
        return ok, math.copysign(math.inf, yh) if ok else 0.0
    if ay >= top:  # r = 2^(emax+1), i.e. inf: d = ay - top exact (Sterbenz)
        qd = math.ldexp(1.0, emax + 1 - p)
        a1, a2 = two_sum(ay - top, 0.5 * qd)
        sg = 1.0 if yh > 0.0 else -1.0
        c_lo = -sg * y3 if err == 0.0 else _up(err - sg * y3)
        ok = _positive(a1, a2, sg * yl, c_lo)
        return ok, math.copysign(math.inf, yh) if ok else 0.0
    if ay == 0.0:
        qe = qmin
    else:
        ex = math.frexp(ay)[1]  # ay in [2^(ex-1), 2^ex)
        qe = max(ex - p, qmin)
    if qe < -970:
        return False, 0.0
    q = math.ldexp(1.0, qe)
    if not err + abs(y3) < q:
        return False, 0.0
    sgn = 1.0 if yh >= 0.0 else -1.0
    x = ay / q  # exact: a power-of-two scaling, below 2^53
    n = math.floor(x)
    frac = x - n  # exact
    # Quick accept, far from a boundary.  In units of q the value lies in
    # [pos - d2, pos + d2]: pos = frac + yl' / q (one rounding, < 2^-52), d2 =
    # (|y3| + err) / q, both within the 2^-30 margin.  The candidate n + k is
    # accepted when the interval stays inside (k - 1/2, k + 1/2) around it, or
    # (k - 1/4, ...) when n + k starts a binade (2^(p-1) q: a finer grid below).
    # r = 0 and r >= 2^(emax+1) (signed zeros, inf) take the full test.
    pos = frac + sgn * yl / q
    k = 1.0 if pos >= 0.5 else (-1.0 if pos < -0.5 else 0.0)
    off = pos - k
    d2 = (abs(y3) + err) / q + 2.0**-30
    low = -0.25 if n + k == float(1 << (p - 1)) else -0.5
    if off - d2 > low and off + d2 < 0.5:
        r = (n + k) * q
        if r != 0.0 and r < top:
            return True, sgn * r
    yl1 = sgn * yl
    y31 = sgn * y3
    # the radius on each side, with y3 folded in (exact when err = 0)
    c_lo = -y31 if err == 0.0 else _up(err - y31)
    c_hi = y31 if err == 0.0 else _up(err + y31)
    if frac > 0.5 or (frac == 0.5 and (yl1 > 0.0 or (yl1 == 0.0 and y31 > 0.0))):
        n += 1.0
    d = ay - (n * q)
    w = d + yl1  # the dd's own midpoints (|yl| = q/2 for p = 53): move to the right side
    if w > 0.5 * q or (w == 0.5 * q and y31 > 0.0):
        n += 1.0
    elif w < -0.5 * q or (w == -0.5 * q and y31 < 0.0):
        n -= 1.0
    r = n * q
    if r == 0.0:
        half = 0.5 * q
        h1, h2 = two_sum(half, ay)
        h3, h4 = two_sum(half, -ay)
        if not (_positive(h1, h2, yl1, c_lo) and _positive(h3, h4, -yl1, c_hi)):
            return False, 0.0
        if _positive(ay, 0.0, yl1, c_lo):
            return True, sgn * 0.0
        if _positive(-ay, 0.0, -yl1, c_hi):
            return True, -sgn * 0.0
        if yh == 0.0 and yl == 0.0 and y3 == 0.0 and err == 0.0:
            return True, 0.0
        if sign_hint > 0:
            return True, 0.0
        if sign_hint < 0:
            return True, -0.0
        return False, 0.0
    d = ay - r
    er = math.frexp(r)[1]  # r in [2^(er-1), 2^er)
    if er - 1 > emax:  # r = 2^(emax+1): inf unless below the overflow threshold
        qd = math.ldexp(1.0, emax + 1 - p)
        a1, a2 = two_sum(d, 0.5 * qd)
        ok = _positive(a1, a2, yl1, c_lo)
        return ok, sgn * math.inf if ok else 0.0
    qu = math.ldexp(1.0, max(er - p, qmin))
    if r == math.ldexp(1.0, er - 1):  # a power of two: finer grid below
        qd = math.ldexp(1.0, max(er - 1 - p, qmin))
    else:
        qd = qu
    a1, a2 = two_sum(d, 0.5 * qd)
    b1, b2 = two_sum(0.5 * qu, -d)
    ok = _positive(a1, a2, yl1, c_lo) and _positive(b1, b2, -yl1, c_hi)
    return ok, sgn * r if ok else 0.0
