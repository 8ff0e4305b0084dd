"""Vectorized passes over one block of a row, the pieces every softmax kernel is made of.

A row is processed in blocks of :data:`BLOCK` elements. Within a block the
passes vectorize (AVX2 on the development machine): the maximum uses eight
independent accumulators, because LLVM does not vectorize a ``max`` reduction
whose NaN ordering it must preserve; sums use ``fastmath={"reassoc"}``, which
lets LLVM split them into vector lanes. Across blocks, partial results are
combined in block order. A row therefore gives the same bits whether its
blocks are processed by one thread or several, and the sum is effectively
blocked: its error grows like ``(BLOCK / lanes + n / BLOCK) u`` instead of
``n u``.

NaN is ignored by :func:`block_max` (a NaN never compares greater). The
callers rely on the sums instead: a NaN in the row makes its exponential and
so the sum NaN, and NaN propagates from there to every output.
"""

from __future__ import annotations

import math

from ._options import kernel
from .exp import fast_exp

#: Elements per block: 16 KiB of float32 (32 KiB of float64), so a block
#: read by one pass is still in L1/L2 cache for the next.
BLOCK = 4096

_SUM = {"reassoc"}


@kernel
def block_max(x):
    """Maximum of ``x`` ignoring NaN; ``-inf`` when empty or all NaN/``-inf``."""
    ninf = x.dtype.type(-math.inf)
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = ninf
    n = x.size
    i = 0
    while i + 8 <= n:
        v = x[i]
        m0 = v if v > m0 else m0
        v = x[i + 1]
        m1 = v if v > m1 else m1
        v = x[i + 2]
        m2 = v if v > m2 else m2
        v = x[i + 3]
        m3 = v if v > m3 else m3
        v = x[i + 4]
        m4 = v if v > m4 else m4
        v = x[i + 5]
        m5 = v if v > m5 else m5
        v = x[i + 6]
        m6 = v if v > m6 else m6
        v = x[i + 7]
        m7 = v if v > m7 else m7
        i += 8
    while i < n:
        v = x[i]
        m0 = v if v > m0 else m0
        i += 1
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    m4 = m5 if m5 > m4 else m4
    m6 = m7 if m7 > m6 else m6
    m0 = m2 if m2 > m0 else m0
    m4 = m6 if m6 > m4 else m4
    return m4 if m4 > m0 else m0


@kernel
def row_max(x):
    """Maximum of a row ignoring NaN, block by block (see :func:`block_max`)."""
    m = x.dtype.type(-math.inf)
    for start in range(0, x.size, BLOCK):
        b = block_max(x[start : start + BLOCK])
        m = b if b > m else m
    return m


@kernel
def has_nan(x):
    """True if any element of ``x`` is NaN (used off the fast path only)."""
    for i in range(x.size):
        if x[i] != x[i]:
            return True
    return False


@kernel(fastmath=_SUM)
def block_sum(a):
    """Sum of a block, in vector lanes (``reassoc``)."""
    total = a.dtype.type(0.0)
    for i in range(a.size):
        total += a[i]
    return total


@kernel
def exp_store_sum(x, out, c, m):
    """``out[i] = exp(c (x[i] - m))``; returns their sum.

    The sum is a second loop over ``out`` (still in L1 cache) rather than
    fused with the stores: when ``out`` is ``x``, LLVM's runtime alias check
    sends a fused loop down its scalar path, which adds in another order, and
    in-place results would differ in the last bit from out-of-place ones.
    """
    for i in range(x.size):
        out[i] = fast_exp(c * (x[i] - m))
    return block_sum(out)


@kernel(fastmath=_SUM)
def exp_sum(x, c, m):
    """``sum_i exp(c (x[i] - m))`` without storing the terms."""
    total = x.dtype.type(0.0)
    for i in range(x.size):
        total += fast_exp(c * (x[i] - m))
    return total


@kernel(fastmath=_SUM)
def exp_sum_unscaled(x, c):
    """``sum_i exp(c x[i])``: the naive, unshifted sum."""
    total = x.dtype.type(0.0)
    for i in range(x.size):
        total += fast_exp(c * x[i])
    return total


@kernel
def exp_store_sum_unscaled(x, out, c):
    """``out[i] = exp(c x[i])``; returns their sum (naive softmax; see :func:`exp_store_sum`)."""
    for i in range(x.size):
        out[i] = fast_exp(c * x[i])
    return block_sum(out)


@kernel(fastmath=_SUM)
def exp_sum_off_max(x, c, m):
    """Sum of ``exp(c (x[i] - m))`` over ``x[i] != m``, and the count of ``x[i] == m``."""
    zero = x.dtype.type(0.0)
    total = zero
    ties = 0
    for i in range(x.size):
        v = x[i]
        tie = v == m
        ties += 1 if tie else 0
        total += zero if tie else fast_exp(c * (v - m))
    return total, ties


@kernel
def divide(out, s):
    """``out[i] = out[i] / s``.

    Division rather than a multiplication by ``1 / s``: the quotient is
    correctly rounded, the reciprocal multiply rounds twice (up to 1 ULP more),
    and the pass is limited by memory bandwidth either way.
    """
    for i in range(out.size):
        out[i] = out[i] / s


@kernel
def scale(out, f):
    """``out[i] = out[i] * f``."""
    for i in range(out.size):
        out[i] = out[i] * f


@kernel
def exp_offset(x, out, c, offset):
    """``out[i] = exp(c x[i] - offset)`` (the division-free softmax)."""
    for i in range(x.size):
        out[i] = fast_exp(c * x[i] - offset)


@kernel
def shifted_minus(x, out, c, m, offset):
    """``out[i] = c (x[i] - m) - offset`` (shifted log_softmax)."""
    for i in range(x.size):
        out[i] = c * (x[i] - m) - offset


@kernel
def scaled_minus(x, out, c, offset):
    """``out[i] = c x[i] - offset`` (naive and lse log_softmax)."""
    for i in range(x.size):
        out[i] = c * x[i] - offset
