"""The fast first step of the reference: double-double rows with proven error bounds.

For a row ``x`` (finite entries, maximum ``m`` taken ``k`` times) and
``c = beta ln(base)``, with ``t_j = c (x_j - m)``, ``R = sum_{x_j < m} exp(t_j)``,
``Z = k + R`` and ``S = ln Z``, each element is evaluated as a double-double
``y`` with a bound ``err`` on ``|y - exact|``; :func:`reference._dd.decide`
then accepts it only when every point of ``[y - err, y + err]`` rounds to the
same value of the target format ``(p, emin, emax)`` (``p <= 53``).  Rows where
an element is rejected go, whole, to the mpmath path (``reference._exact``),
which stays the authority; so do rows with NaN or ``+inf`` (cheap there), all
``-inf`` rows, rows of ``2^30`` or more entries (the bound's own rounding is
argued for ``n < 2^30``) and rows where an intermediate overflows.

Error budget, step by step (``u = 2^-53``; bounds are computed at run time in
double on nonnegative numbers: with ``n < 2^30`` entries their own rounding
is below ``2^-20`` relative, covered with the second-order terms by the final
factor ``1.001``):

1. ``d_j = x_j - m`` exact as a dd (two_sum).  ``c = ch + cl`` to ``2^-105``
   (mpmath at 300 bits, rounded twice).  ``t_j = c d_j`` as a dd: relative
   ``ET = 2^-102`` (two_prod exact; ``c``'s error ``2^-105``, three
   roundings of the low part ``<= 2^-105`` each, ``cl dl`` dropped
   ``2^-106``), plus :data:`~reference._dd.ABS_FLOOR` absolute when ``t``
   underflows.  ``tau_j = ET |t_j| + ABS_FLOOR``.
2. Terms: ``t_j < -745.2`` gives ``exp(t_j) < 2^-1075``: term 0, absolute
   error ``2^-1074``; else ``exp_dd``: relative
   ``eps_j = 2^-91.5 + 1.001 tau_j`` (the argument error ``tau_j`` changes
   exp by a factor ``e^tau <= 1 + 1.001 tau``), absolute ``2^-1074``.
3. ``R``: dd sum renormalized at each step (two_sum + fast_two_sum): each
   step's roundings ``<= 3 u^2 R``, so ``n 2^-104 R`` in all.
   ``E_R = sum_j term_j eps_j + n 2^-104 R + n 2^-1073``.
4. ``Z = k + R``: ``E_Z = E_R + 2^-105 Z`` (one rounding of the low part).
5. ``S``: ``log_dd(Z)`` (bound measured at run time) plus ``E_Z / Z_low``;
   or, for ``k = 1`` and ``R < 2^-20``, ``log1p_small(R)``:
   ``2^-90 R + 2^-1070`` plus ``E_R`` (the derivative of log1p is <= 1).
6. Outputs: softmax ``1/Z`` and ``term_j / Z`` (``div_dd``, ``2^-101``):
   ``y (eps_j + E_Z/Z_low + 2^-101)``; log_softmax ``t_j - S`` (dd add,
   ``2^-103 |v|``): ``tau_j + E_S + 2^-103 |v|``, ``-S`` for the maxima;
   logsumexp ``c m + S``: ``ET |c m| + E_S + 2^-103 |v|``.

Which libm function is trusted: none.  ``exp`` is :func:`reference._dd.exp_dd`
(table of 4096 mpmath values, Taylor degree 6, proof in its docstring);
``log`` is one Newton step on ``exp_dd`` whose error is measured.
"""

from __future__ import annotations

import math

from stable_softmax.kernels._options import kernel

from ._dd import (
    ABS_FLOOR,
    DIV_REL,
    EXP_REL,
    EXP_ZERO_BELOW,
    LOG1P_REL,
    div_dd,
    exp_dd,
    fast_two_sum,
    log1p_small,
    log_dd,
    two_prod,
    two_sum,
)

ET = 2.0**-102
#: Rows this long or longer go to mpmath: the bound arithmetic is argued for n < 2^30.
MAX_FAST_N = 2**30
#: Marks an element whose value is final (exact), not to be rounding-tested.
_EXACT = -1.0

SOFTMAX, LOG_SOFTMAX, LOGSUMEXP = 0, 1, 2
KINDS = {"softmax": SOFTMAX, "log_softmax": LOG_SOFTMAX, "logsumexp": LOGSUMEXP}


@kernel
def _times_c(dh, dl, ch, cl):
    """``c d`` as a normalized dd, relative error ``ET`` (step 1)."""
    th, tl = two_prod(ch, dh)
    tl = tl + (ch * dl + cl * dh)
    return fast_two_sum(th, tl)


@kernel
def _times_c_exact(dh, dl, ch, cl):
    """``(th, tl, exact)``: :func:`_times_c`, and whether ``th + tl = c d`` exactly.

    With ``cl = 0`` (``c`` a double) the products ``ch dh`` and ``ch dl``
    are split exactly (two_prod, no underflow: checked) and the low sum is
    exact when its two_sum errors are 0.
    """
    if cl != 0.0:
        th, tl = _times_c(dh, dl, ch, cl)
        return th, tl, False
    p1, p2 = two_prod(ch, dh)
    p3, p4 = two_prod(ch, dl)
    s1, e1 = two_sum(p2, p3)
    s2, e2 = two_sum(s1, p4)
    th, tl = fast_two_sum(p1, s2)
    exact = e1 == 0.0 and e2 == 0.0 and abs(p1) >= 2.0**-960
    exact = exact and (dl == 0.0 or abs(p3) >= 2.0**-960)
    return th, tl + (e1 + e2), exact


@kernel
def _lowest_bit(v):
    """The lowest set bit of the finite nonzero double ``v``, as a power of two (exact)."""
    mant, ex = math.frexp(abs(v))  # |v| = mant 2^ex, mant in [0.5, 1)
    k = int(mant * 2.0**53)  # the 53-bit integer significand, exact
    zeros = 0
    while k & 1 == 0:
        k >>= 1
        zeros += 1
    return math.ldexp(1.0, ex - 53 + zeros)


@kernel
def _below_grid(th, tl, s_up, p, qmin):
    """True when ``0 < s <= s_up`` keeps ``t +- s`` strictly between ``t`` and the
    nearest other rounding boundary or grid point of ``t`` (``t = th + tl`` exact).

    ``t`` is a multiple of ``g_t``, the lowest set bit of ``tl`` (of ``th``
    when ``tl = 0``): ``|tl| <= ulp(th) / 2`` is below the lowest bit of
    ``th``, both are powers of two, so ``th`` is a multiple of ``g_t`` too.
    The boundaries within ``q`` of ``t`` are multiples of ``g_b``, half the
    quantum of the binade below ``|th|``.  Two such points that differ do so
    by at least ``min(g_t, g_b) > s_up``: so every ``t +- s`` rounds as
    ``t +- s_up`` (mpmath's ``_plus_small``).  This covers ``t`` on a
    boundary itself, as when ``x_j - m`` needs one bit more than the
    format: a float64 midpoint (``tl`` half an ulp of ``th``) minus a tiny ``S``.
    """
    at = abs(th)
    if not (at >= 2.0**-900 and s_up > 0.0):
        return False
    g_t = _lowest_bit(tl if tl != 0.0 else th)
    ex = math.frexp(at)[1]
    g_b = math.ldexp(1.0, max(ex - 1 - p, qmin) - 1)
    return s_up < g_t and s_up < g_b


#: Results below about 2^-865 are evaluated times 2^SHIFT, so that their dd
#: low parts stay normal (float64 targets have results down to 2^-1074).
SHIFT = 700
_TINY_T = -600.0
_TINY_R = 2.0**-900
_DROP_SHIFTED = -1161.0


@kernel
def _tiny_sum(x, m, k_max, ch, cl):
    """``R 2^SHIFT`` for a row whose ``R < 2^-900``: ``(rh, rl, E)``, E absolute.

    Terms with ``t < -1161`` are dropped: each ``< 2^-1675``, so ``< 2^-975``
    in the shifted frame; the others as in step 2/3 with ``exp_dd(t, SHIFT)``.
    """
    n = x.size
    rh = 0.0
    rl = 0.0
    acc = 0.0
    for j in range(n):
        v = x[j]
        if v == -math.inf or v == m:
            continue
        dh, dl = two_sum(v, -m)
        th, tl = _times_c(dh, dl, ch, cl)
        if th < _DROP_SHIFTED:
            continue
        eh, el = exp_dd(th, tl, SHIFT)
        acc += eh * (EXP_REL + 1.001 * (abs(th) * ET + ABS_FLOOR))
        s, e = two_sum(rh, eh)
        rh, rl = fast_two_sum(s, rl + (e + el))
    return rh, rl, (acc + n * 2.0**-104 * rh) * 1.001 + n * 2.0**-974


@kernel
def _row(kind, x, ch, cl, yh, yl, y3, err, sc, p, qmin):
    """Evaluate one row into ``yh, yl, y3, err, sc``; False: the row must go to mpmath.

    Element ``j`` approximates ``exact_j 2^sc[j]`` by ``yh[j] + yl[j]`` within
    ``err[j]``; where ``y3[j] != 0`` (then ``err[j] = 0``) ``yh + yl`` is an
    exact ``c (x_j - m)`` or ``c m`` and ``y3`` a stand-in for a far smaller
    ``-+S`` (see :func:`evaluate`).  ``err[j] = _EXACT`` marks a final value
    in ``yh[j]`` (``-inf`` entries, softmax terms below ``exp(-745.2)``).  For
    logsumexp the result is in element 0.
    """
    n = x.size
    m = -math.inf
    for j in range(n):
        v = x[j]
        if v != v or v == math.inf:
            return False
        if v > m:
            m = v
    if m == -math.inf:
        return False
    k = 0
    others = 0  # finite entries below the maximum
    rh = 0.0
    rl = 0.0
    acc = 0.0  # sum of term_j eps_j (step 3)
    for j in range(n):
        v = x[j]
        sc[j] = 0
        y3[j] = 0.0
        if v == -math.inf:
            yh[j] = 0.0 if kind == SOFTMAX else -math.inf
            err[j] = _EXACT
            continue
        if v == m:
            k += 1
            continue
        others += 1
        dh, dl = two_sum(v, -m)
        th, tl = _times_c(dh, dl, ch, cl)
        if not abs(th) < math.inf:
            return False
        if th < EXP_ZERO_BELOW:
            yh[j] = 0.0  # term 0; softmax: exp(t_j - S) <= exp(t_j) < 2^-1075 rounds to +0
            yl[j] = 0.0
            err[j] = _EXACT
            continue
        eh, el = exp_dd(th, tl, 0)
        eps = EXP_REL + 1.001 * (abs(th) * ET + ABS_FLOOR)
        yh[j] = eh
        yl[j] = el
        err[j] = eps
        acc += eh * eps
        s, e = two_sum(rh, eh)
        rh, rl = fast_two_sum(s, rl + (e + el))
    e_r = (acc + n * 2.0**-104 * rh) * 1.001 + n * 2.0**-1073
    zh, e = two_sum(float(k), rh)
    zh, zl = fast_two_sum(zh, e + rl)
    e_z = e_r + 2.0**-105 * zh
    z_low = zh * (1.0 - 2.0**-50) - e_z
    eps_z = e_z / z_low
    if kind == SOFTMAX:
        for j in range(n):
            if err[j] == _EXACT:
                continue
            if x[j] == m:
                qh, ql = div_dd(1.0, 0.0, zh, zl)
                bound = eps_z + DIV_REL
            else:
                th = 0.0
                if yh[j] < 2.0**-860:  # t_j < -592: redo the term in the shifted frame
                    dh, dl = two_sum(x[j], -m)
                    th, tl = _times_c(dh, dl, ch, cl)
                if th < _TINY_T:
                    eh, el = exp_dd(th, tl, SHIFT)
                    sc[j] = SHIFT
                    qh, ql = div_dd(eh, el, zh, zl)
                else:
                    qh, ql = div_dd(yh[j], yl[j], zh, zl)
                bound = err[j] + eps_z + DIV_REL
            yh[j] = qh
            yl[j] = ql
            err[j] = qh * bound * 1.001 + ABS_FLOOR
        return True
    # S = ln Z (step 5)
    tiny = False
    if k >= 2 or rh >= 2.0**-20:
        sh, sl, e_log, ok = log_dd(zh, zl)
        if not ok:
            return False
        e_s = (e_z / z_low + e_log) * 1.001
    elif rh >= _TINY_R:
        sh, sl = log1p_small(rh, rl)
        e_s = (e_r + LOG1P_REL * rh + 2.0**-1070) * 1.001
    elif others:
        # k = 1, R < 2^-900: S = R (1 - theta), 0 <= theta <= R/2 < 2^-900; in the shifted frame.
        tiny = True
        sh, sl, e_s = _tiny_sum(x, m, k, ch, cl)
        e_s = (e_s + sh * 2.0**-900) * 1.001
    else:
        sh = 0.0
        sl = 0.0
        e_s = 0.0  # a single finite entry: S = 0 exactly
    # S unshifted, with a bound s_up >= S > 0 (when others > 0) and its error e_un
    s_un = sh * 2.0**-SHIFT if tiny else sh
    sl_un = 0.0 if tiny else sl  # tiny: sl dropped, 2^-52 |S| in e_un
    e_un = (e_s + 2.0**-52 * abs(sh)) * 2.0**-SHIFT + 2.0**-1074 if tiny else e_s
    s_up = (abs(s_un) + abs(sl_un) + e_un) * 1.001 + 2.0**-1073  # never rounded below S
    if kind == LOGSUMEXP:
        ph, pl, exact = _times_c_exact(m, 0.0, ch, cl)
        if not abs(ph) < math.inf:
            return False
        if others and exact and _below_grid(ph, pl, s_up, p, qmin):
            yh[0] = ph  # c m + S rounds as c m + s_up: 0 < S <= s_up
            yl[0] = pl
            y3[0] = s_up
            err[0] = 0.0
            return True
        if tiny and ph == 0.0:
            sc[0] = SHIFT  # the value is S itself: keep the shifted frame
            yh[0] = sh
            yl[0] = sl
            err[0] = e_s * 1.001 + ABS_FLOOR
            return True
        vh, e = two_sum(ph, s_un)
        vh, vl = fast_two_sum(vh, e + (pl + sl_un))
        yh[0] = vh
        yl[0] = vl
        e_cm = 0.0 if exact else ET * abs(ph)
        err[0] = (e_cm + e_un + 2.0**-103 * abs(vh)) * 1.001 + ABS_FLOOR
        return True
    for j in range(n):
        v = x[j]
        if v == -math.inf:
            continue
        if v == m:
            yh[j] = -sh
            yl[j] = -sl
            err[j] = e_s * 1.001 + (ABS_FLOOR if e_s > 0.0 else 0.0)
            sc[j] = SHIFT if tiny else 0
            continue
        dh, dl = two_sum(v, -m)
        th, tl, exact = _times_c_exact(dh, dl, ch, cl)
        if exact and _below_grid(th, tl, s_up, p, qmin):
            yh[j] = th  # t_j - S rounds as t_j - s_up: 0 < S <= s_up
            yl[j] = tl
            y3[j] = -s_up
            err[j] = 0.0
            continue
        vh, e = two_sum(th, -s_un)
        vh, vl = fast_two_sum(vh, e + (tl - sl_un))
        yh[j] = vh
        yl[j] = vl
        e_t = 0.0 if exact else ET * abs(th)
        err[j] = (e_t + e_un + 2.0**-103 * abs(vh)) * 1.001 + ABS_FLOOR
    return True


@kernel
def _evaluate(kind, x, ch, cl, yh, yl, y3, err, sc, good, p, qmin):
    for i in range(x.shape[0]):
        good[i] = x.shape[1] < MAX_FAST_N and _row(
            kind, x[i], ch, cl, yh[i], yl[i], y3[i], err[i], sc[i], p, qmin
        )
