"""Vectorized passes over one block of a row, the pieces every softmax kernel is made of.

A row is processed in blocks of :data:`BLOCK` elements. Within a block the
passes vectorize (AVX-512 on the development machine): the maximum is taken
over integers that order like the floats, because LLVM does not vectorize a
float ``max`` reduction whose NaN ordering it must preserve; sums use
``fastmath={"reassoc"}``, which lets LLVM split them into vector lanes.
Across blocks, partial results are combined in block order. A row therefore
gives the same bits whether its blocks are processed by one thread or
several, and the sum is effectively
blocked: its error grows like ``(BLOCK / lanes + n / BLOCK) u`` instead of
``n u``.

Contiguous float32 blocks go to the explicit 16-lane loops of :mod:`._vec32`
(the choice is made at compile time by the overloads below): the same exp
bits, the sum in vector accumulators in the same loop as the stores, the
maximum by ``vmaxps``.

A NaN either is the maximum (then the callers take their special-value
path) or is ignored by :func:`block_max`; then the callers rely on the sums:
its exponential and so the sum is NaN, and NaN propagates from there to every
output.
"""

from __future__ import annotations

import math

from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from ._options import kernel
from ._passes32 import block_exp_store_sum32, block_exp_sum32, block_max32
from ._vec32 import is_f32_c_array
from .exp import fast_exp, fast_exp_nonpositive

#: Elements per block: 16 KiB of float32 (32 KiB of float64), so a block
#: read by one pass is still in L1/L2 cache for the next.
BLOCK = 4096

_SUM = {"reassoc"}


@intrinsic
def _order_key(typingctx, v):
    """The bits of a float as a signed integer that orders like the float.

    Sign-magnitude becomes two's complement by flipping the magnitude bits
    of negative numbers: ``-inf < ... < -0 < +0 < ... < +inf`` map to
    increasing integers, a NaN with the sign bit clear above ``+inf``, one
    with it set below ``-inf``. Integer maxima vectorize; float maxima do
    not without ``nnan`` (LLVM must keep the NaN ordering of ``v > m``).
    """
    if v not in (types.float32, types.float64):
        return None
    bits = 32 if v == types.float32 else 64

    def codegen(context, builder, signature, args):
        ity = ir.IntType(bits)
        b = builder.bitcast(args[0], ity)
        magnitude = builder.and_(builder.ashr(b, ity(bits - 1)), ity((1 << (bits - 1)) - 1))
        return builder.xor(b, magnitude)

    return (types.int32 if bits == 32 else types.int64)(v), codegen


@intrinsic
def _from_order_key(typingctx, k, like):
    """Inverse of :func:`_order_key`: the float (of the type of ``like``) with key ``k``."""
    if like not in (types.float32, types.float64):
        return None
    bits = 32 if like == types.float32 else 64
    if k != (types.int32 if bits == 32 else types.int64):
        return None

    def codegen(context, builder, signature, args):
        ity = ir.IntType(bits)
        b = args[0]
        magnitude = builder.and_(builder.ashr(b, ity(bits - 1)), ity((1 << (bits - 1)) - 1))
        return builder.bitcast(builder.xor(b, magnitude), context.get_value_type(like))

    return like(k, like), codegen


@kernel(inline=True)  # into block_max: no call layer for the other dtypes
def _block_max_loop(x):
    ninf = x.dtype.type(-math.inf)
    top = _order_key(ninf)
    for i in range(x.size):
        key = _order_key(x[i])
        top = key if key > top else top
    return _from_order_key(top, ninf)


def _block_max(x):
    """Compile-time choice between :func:`._vec32.vmax32` and :func:`_block_max_loop`."""


@overload(_block_max, inline="always")
def _block_max_overload(x):
    if not is_f32_c_array(x):
        return lambda x: _block_max_loop(x)

    return lambda x: block_max32(x)


@kernel
def block_max(x):
    """Maximum of ``x``; ``-inf`` when empty or all ``-inf``.

    float32 (contiguous): ``x > m ? x : m`` in 16-lane vectors
    (:func:`._vec32.vmax32`), so a NaN is ignored. Other dtypes: computed on
    :func:`_order_key` integers, so it vectorizes; a NaN with the sign bit
    clear is the maximum (the result is NaN), one with it set is ignored.
    Callers send a non-finite maximum to their special-value path and see an
    ignored NaN through the sum of exponentials, which it makes NaN.
    """
    return _block_max(x)


@kernel
def row_max(x):
    """Maximum of a row, block by block, with the NaN rule of :func:`block_max`."""
    if x.size <= BLOCK:
        return block_max(x)  # one block: no slicing (short rows are called often)
    m = x.dtype.type(-math.inf)
    for start in range(0, x.size, BLOCK):
        b = block_max(x[start : start + BLOCK])
        m = b if (b > m or b != b) else m  # a NaN block maximum stays NaN
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


@kernel(fastmath=_SUM)
def block_sum_smallest(a):
    """Sum of a block of non-negative terms, and its smallest positive term.

    The sum in vector lanes (``reassoc``) as :func:`block_sum`; the smallest
    positive term (``+inf`` if none) is an integer minimum over the bits,
    which order like non-negative floats, zero mapped to the bits of ``+inf``.
    :func:`.division.divide_by_sum` needs it to know that its fast paths
    cannot underflow. float32 blocks, which are always divided, skip it and
    report ``+inf``.
    """
    inf = a.dtype.type(math.inf)
    if a.itemsize == 4:
        return block_sum(a), inf
    none = _order_key(inf)
    low = none
    total = a.dtype.type(0.0)
    for i in range(a.size):
        v = a[i]
        total += v
        key = _order_key(v)
        key = none if key == 0 else key
        low = key if key < low else low
    return total, _from_order_key(low, inf)


@kernel(inline=True)
def _exp_store_sum_loop(x, out, c, m):
    for i in range(x.size):
        out[i] = fast_exp(c * (x[i] - m))
    return block_sum_smallest(out)


@kernel(inline=True)
def _exp_store_sum_nonpositive_loop(x, out, c, m):
    for i in range(x.size):
        out[i] = fast_exp_nonpositive(c * (x[i] - m))
    return block_sum_smallest(out)


@kernel(fastmath=_SUM)
def _exp_sum_loop(x, c, m):
    total = x.dtype.type(0.0)
    for i in range(x.size):
        total += fast_exp(c * (x[i] - m))
    return total


def _exp_store_sum(x, out, c, m, upper):
    """Compile-time choice between the :mod:`._vec32` loops and the ``_loop`` kernels."""


@overload(_exp_store_sum, prefer_literal=True, inline="always")
def _exp_store_sum_overload(x, out, c, m, upper):
    if not isinstance(upper, types.BooleanLiteral):
        return None
    if not (is_f32_c_array(x) and is_f32_c_array(out) and c == m == types.float32):
        if upper.literal_value:
            return lambda x, out, c, m, upper: _exp_store_sum_loop(x, out, c, m)
        return lambda x, out, c, m, upper: _exp_store_sum_nonpositive_loop(x, out, c, m)
    nonpositive = not upper.literal_value
    return lambda x, out, c, m, upper: (
        block_exp_store_sum32(x, out, c, m, nonpositive),
        x.dtype.type(math.inf),
    )


def _exp_sum(x, c, m):
    """Compile-time choice between :func:`._vec32.exp_sum32` and :func:`_exp_sum_loop`."""


@overload(_exp_sum)
def _exp_sum_overload(x, c, m):
    if not (is_f32_c_array(x) and c == m == types.float32):
        return lambda x, c, m: _exp_sum_loop(x, c, m)

    return lambda x, c, m: block_exp_sum32(x, c, m)


@kernel
def exp_store_sum(x, out, c, m):
    """``out[i] = exp(c (x[i] - m))``; returns their sum and smallest positive term.

    float32 (contiguous): one loop of 16-lane vectors that stores and sums
    (:mod:`._vec32`), the smallest term not computed (``+inf``, see
    :func:`block_sum_smallest`); ``out`` may be ``x``. Other dtypes: the sum
    is a second loop over ``out`` (still in L1 cache) rather than fused with
    the stores: when ``out`` is ``x``, LLVM's runtime alias check sends a
    fused loop down its scalar path, which adds in another order, and
    in-place results would differ in the last bit from out-of-place ones.
    """
    return _exp_store_sum(x, out, c, m, True)


@kernel
def exp_store_sum_nonpositive(x, out, c, m):
    """:func:`exp_store_sum` for ``c > 0`` and ``m = max(x)``: every exponent is ``<= 0``.

    The exponential then needs no overflow clamp
    (:func:`.exp.fast_exp_nonpositive`: the same bits, one vector instruction
    fewer). A separate function rather than a flag: a branch inside one
    function measured slower than either loop alone.
    """
    return _exp_store_sum(x, out, c, m, False)


@kernel
def exp_sum(x, c, m):
    """``sum_i exp(c (x[i] - m))`` without storing the terms (float32: :mod:`._vec32`)."""
    return _exp_sum(x, c, m)


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
def scale(out, f):
    """``out[i] = out[i] * f``."""
    for i in range(out.size):
        out[i] = out[i] * f


@kernel
def exp_offset(x, out, c, offset):
    """``out[i] = exp(c x[i] - offset)`` (the division-free softmax)."""
    for i in range(x.size):
        out[i] = fast_exp(c * x[i] - offset)


@kernel(inline=True)  # into the row kernels: no call between their passes
def shifted_minus(x, out, c, m, offset):
    """``out[i] = c (x[i] - m) - offset`` (shifted log_softmax).

    A finite ``x[i]`` whose difference ``x[i] - m`` overflows to ``-inf`` (a
    spread beyond the float range) may still have a finite ``c (x[i] - m)``
    when ``c < 1``; there ``c x[i] - c m`` is used instead, which cannot be
    NaN because ``m`` is finite and ``x[i] <= m``. The select keeps the loop
    branch-free.
    """
    ninf = x.dtype.type(-math.inf)
    cm = c * m
    for i in range(x.size):
        v = x[i]
        d = v - m
        t = c * d
        t = (c * v - cm) if (d == ninf and v != ninf) else t
        out[i] = t - offset


@kernel
def scaled_minus(x, out, c, offset):
    """``out[i] = c x[i] - offset`` (naive and lse log_softmax)."""
    for i in range(x.size):
        out[i] = c * x[i] - offset
