"""float32 rows of the ``accurate`` method: float64 inside, one rounding at the end.

Everything is computed in float64 and rounded once to float32. The bound of
each step is written beside it; together they put the float64 value ``v``
before the last rounding within 2^-41 relative of the exact ``y`` (softmax;
log_softmax, whose non-maximal outputs have ``|y_j| >= ln 2`` and whose
maximal output is ``-log1p(R / k) - ln k`` with ``R`` relative-accurate).

Rounding ``v`` to float32 (float32 subnormals are normal float64 numbers, and
the float64 -> float32 conversion rounds on the subnormal grid): the segment
between ``y`` and ``v`` is far shorter than one float32 spacing, so it holds at
most one float32 rounding boundary and ``RN32(v)`` is ``RN32(y)`` or its
neighbour, **at most 1 ULP**. The double rounding ``y -> v -> float32`` only
matters when ``y`` lies within 2^-41 relative of a float32 midpoint: rare for
softmax, systematic in log_softmax when ``t_j = x_j - m`` is itself a float32
midpoint (25 significant bits) and ``ln S`` is tiny (measured rates:
``docs/accurate-method.md``).
"""

from __future__ import annotations

import math

import numpy as np

from ._blocks import BLOCK, row_max
from ._options import kernel
from ._special import fill, log_softmax_special, nan_max
from .accurate_dd import fast_two_sum, plus_cm
from .exp import exp64

#: float32 softmax rows up to this length keep their float64 terms in the scratch
#: (it stays in the L2 cache); longer rows recompute them in the output pass,
#: which then costs less than a trip of the scratch through memory.
KEEP32 = 1 << 17


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
        # x[i] - m: two floats, one rounding (2^-53 relative); times c_hi: one more.
        # Only |t| <= 104 matters (a nonzero float32 softmax output), so the error of t
        # costs at most 104 * 2^-51 < 2^-44 relative in exp(t); exp64 adds 2^-52.
        v = exp64(c_hi * (np.float64(x[i]) - mm))
        if keep:
            e[i] = v
        tie = v == 1.0
        ties += 1 if tie else 0
        total += 0.0 if tie else v
    return total, ties


@kernel
def _row_rest32(x, m, c_hi, e):
    """``(R, k)`` of a float32 row in float64, the terms kept in ``e`` (``e.size == 0``: not kept).

    Blocked sum: relative error at most ``(BLOCK / 4 + n / BLOCK + 1) 2^-53``,
    below 2^-42 for every ``n`` up to 2^22.
    """
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
    """``t_j - lse`` in float64, rounded once to float32 (the double rounding of the module doc)."""
    mm = np.float64(m)
    for i in range(x.size):
        out[i] = np.float32(c_hi * (np.float64(x[i]) - mm) - lse)


@kernel
def _log_k_rest32(k, rest):
    """``ln(k + R) = ln k + log1p(R / k)``: relative-accurate for a tiny ``R`` (libm, 1 ulp)."""
    return math.log(k) + math.log1p(rest / k)


@kernel
def scratch_size(x):
    """Float64 elements of scratch a softmax row of ``x`` needs (``softmax_impl``).

    float64 rows always keep their terms' low parts (:func:`.accurate_exp.exp_dd`
    costs more than a trip of the scratch through memory); float32 rows up to
    :data:`KEEP32` keep their terms.
    """
    n = x.shape[-1]
    return n if (x.itemsize == 8 or n <= KEEP32) else 0


@kernel
def softmax32(x, out, c_hi, c_lo, scratch):
    """``scratch``: :func:`scratch_size` float64, the terms (rows up to :data:`KEEP32`) or
    nothing (longer rows: the output pass recomputes them, with the same bits).
    ``c_lo`` is unused: the rounding of ``c_hi`` (2^-53 relative) is far below the budget.
    """
    m = row_max(x)
    if not math.isfinite(m):
        fill(out, math.nan)
        return
    n = x.size
    if n <= KEEP32:
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
def log_softmax32(x, out, c_hi, c_lo):
    """``t_j - (ln k + log1p(R / k))`` in float64, rounded once (``c_lo`` unused)."""
    m = row_max(x)
    if not math.isfinite(m):
        log_softmax_special(x, out)
        return
    rest, ties = _row_rest32(x, m, c_hi, np.empty(0))
    lse = _log_k_rest32(np.float64(ties), rest)
    for start in range(0, x.size, BLOCK):
        _log_softmax_block32(x[start : start + BLOCK], out[start : start + BLOCK], m, c_hi, lse)


@kernel
def logsumexp32(x, c_hi, c_lo):
    """``c m + ln k + log1p(R / k)``, ``c m`` as an exact double-double, rounded once.

    Absolute error about ``|c m| 2^-52 + 2^-41``: within 1 ULP unless
    ``|lse|`` is below about 2^-16 (a cancellation of ``c m`` against ``ln S``
    that random inputs essentially never reach).
    """
    m = row_max(x)
    if not math.isfinite(m):
        return np.float32(nan_max(x))
    rest, ties = _row_rest32(x, m, c_hi, np.empty(0))
    k = np.float64(ties)
    lh, ll = fast_two_sum(math.log(k), math.log1p(rest / k))
    if lh != lh:
        return np.float32(lh)  # a NaN in the row; c m may have overflowed, which must not hide it
    return np.float32(plus_cm(np.float64(m), c_hi, c_lo, lh, ll))
