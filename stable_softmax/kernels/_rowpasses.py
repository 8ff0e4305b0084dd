"""Whole-row passes built from the block passes, serial and split across threads.

Each ``row_*`` function walks a row block by block and combines the partial
results in block order; its ``split_*`` twin computes the same blocks in a
``prange`` loop, stores the partials, and combines them in the same order.
The two give identical bits, whatever the number of threads: that is what
lets the public functions choose between them by size alone.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._blocks import (
    BLOCK,
    block_max,
    exp_store_sum,
    exp_store_sum_nonpositive,
    exp_sum,
    shifted_minus,
)
from ._options import kernel
from ._passes32 import block_exp_store_sum32, block_exp_sum32
from .division import divide_by_sum
from .exp import fast_exp


@kernel
def n_blocks(n):
    return (n + BLOCK - 1) // BLOCK


@kernel
def online_merge(big_m, total, bm, bs, c):
    """Merge a block into the running ``(M, S)`` of the online softmax: the (max, sum) rule.

    ``bm`` is the block's maximum and ``bs = sum exp(c (x - bm))`` over the
    block; ``S`` is relative to ``M``. The smaller of the two maxima has its sum
    rescaled by ``exp(c (smaller - larger)) <= 1``, so nothing overflows
    (Milakov & Gimelshein 2018). Returns the new ``(M, S)``.
    """
    if bm > big_m:
        return bm, total * fast_exp(c * (big_m - bm)) + bs
    return big_m, total + bs * fast_exp(c * (bm - big_m))


@kernel
def exp_store_sum_block(x, out, c, m):
    """:func:`._blocks.exp_store_sum`, or its ``_nonpositive`` twin when ``c > 0``."""
    if c > 0:
        return exp_store_sum_nonpositive(x, out, c, m)
    return exp_store_sum(x, out, c, m)


@kernel
def row_exp_store_sum(x, out, c, m):
    """``out = exp(c (x - m))`` block by block.

    Returns the sum of the block sums and the smallest positive term.

    With ``c > 0`` every exponent is ``<= 0`` and the blocks go to
    :func:`._blocks.exp_store_sum_nonpositive` (the same bits, faster).
    """
    if x.size <= BLOCK:
        # One block: the same sum, no slicing, and the choice of
        # exp_store_sum_block made here, without its call layer (short rows
        # are called often).
        if c > 0:
            return exp_store_sum_nonpositive(x, out, c, m)
        return exp_store_sum(x, out, c, m)
    total = x.dtype.type(0.0)
    smallest = x.dtype.type(math.inf)
    for start in range(0, x.size, BLOCK):
        bs, bsmall = exp_store_sum_block(x[start : start + BLOCK], out[start : start + BLOCK], c, m)
        total += bs
        smallest = min(smallest, bsmall)
    return total, smallest


@kernel(inline=True)
def row_exp_store_sum32(x, out, c, m):
    """:func:`row_exp_store_sum` for contiguous float32 rows, inlined (the same bits).

    Returns the sum only (float32 rows skip the smallest term). ``c > 0``
    takes the loop without the overflow clamp, as :func:`exp_store_sum_block`.
    """
    nonpositive = c > 0
    if x.size <= BLOCK:
        return block_exp_store_sum32(x, out, c, m, nonpositive)
    total = x.dtype.type(0.0)
    for start in range(0, x.size, BLOCK):
        xb = x[start : start + BLOCK]
        total += block_exp_store_sum32(xb, out[start : start + BLOCK], c, m, nonpositive)
    return total


@kernel(inline=True)
def row_exp_sum32(x, c, m):
    """:func:`row_exp_sum` for contiguous float32 rows, inlined (the same bits)."""
    if x.size <= BLOCK:
        return block_exp_sum32(x, c, m)
    total = x.dtype.type(0.0)
    for start in range(0, x.size, BLOCK):
        total += block_exp_sum32(x[start : start + BLOCK], c, m)
    return total


@kernel
def row_exp_sum(x, c, m):
    """Sum of ``exp(c (x - m))``, block sums added in block order."""
    if x.size <= BLOCK:
        return exp_sum(x, c, m)  # one block: the same sum, no slicing
    total = x.dtype.type(0.0)
    for start in range(0, x.size, BLOCK):
        total += exp_sum(x[start : start + BLOCK], c, m)
    return total


@kernel(parallel=True)
def split_max(x):
    """:func:`row_max` with the blocks spread over threads."""
    nb = n_blocks(x.size)
    partial = np.empty(nb, dtype=x.dtype)
    for b in prange(nb):
        partial[b] = block_max(x[b * BLOCK : (b + 1) * BLOCK])
    m = x.dtype.type(-math.inf)
    for b in range(nb):
        m = partial[b] if (partial[b] > m or partial[b] != partial[b]) else m
    return m


@kernel(parallel=True)
def split_exp_store_sum(x, out, c, m):
    """:func:`row_exp_store_sum` with the blocks spread over threads."""
    nb = n_blocks(x.size)
    partial = np.empty(nb, dtype=x.dtype)
    small = np.empty(nb, dtype=x.dtype)
    for b in prange(nb):
        partial[b], small[b] = exp_store_sum_block(
            x[b * BLOCK : (b + 1) * BLOCK], out[b * BLOCK : (b + 1) * BLOCK], c, m
        )
    total = x.dtype.type(0.0)
    for b in range(nb):
        total += partial[b]
    return total, small.min()


@kernel(parallel=True)
def split_exp_sum(x, c, m):
    """:func:`row_exp_sum` with the blocks spread over threads."""
    nb = n_blocks(x.size)
    partial = np.empty(nb, dtype=x.dtype)
    for b in prange(nb):
        partial[b] = exp_sum(x[b * BLOCK : (b + 1) * BLOCK], c, m)
    total = x.dtype.type(0.0)
    for b in range(nb):
        total += partial[b]
    return total


@kernel(parallel=True)
def split_divide_by_sum(out, s, smallest):
    for b in prange(n_blocks(out.size)):
        divide_by_sum(out[b * BLOCK : (b + 1) * BLOCK], s, smallest)


@kernel(parallel=True)
def split_shifted_minus(x, out, c, m, offset):
    for b in prange(n_blocks(x.size)):
        shifted_minus(
            x[b * BLOCK : (b + 1) * BLOCK], out[b * BLOCK : (b + 1) * BLOCK], c, m, offset
        )
