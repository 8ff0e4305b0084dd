"""Whole passes over a contiguous float32 block: the vector loop of :mod:`._vec32`,
then the (< 16) rest with the scalar kernels, in the order that gives the same
bits as the block passes of :mod:`._blocks`.

Every function is inlined into its caller, so that no call (and no reference
counting of the array arguments) separates the passes of a row.
"""

from __future__ import annotations

from ._options import kernel
from ._vec32 import (
    divide32,
    divide_max32,
    exp_divide32,
    exp_store_sum32,
    exp_store_sum32_nonpositive,
    exp_sum32,
    vmax32,
)
from .exp import exp32


@kernel(inline=True)
def divide_all32(out, s):
    """``out[i] = out[i] / s`` for a contiguous float32 array (:func:`divide32` and the rest)."""
    for i in range(divide32(out, s), out.size):
        out[i] = out[i] / s


@kernel(inline=True)
def divide_all_max32(out, s, y):
    """:func:`divide_all32` of ``out`` by ``s`` fused with :func:`block_max32` of ``y``,
    the next row (as long as ``out``); returns that maximum (the same value).

    The row loops of shifted softmax would otherwise read the next row in a
    pass of its own, where the loads from memory have nothing to overlap
    with; here they overlap the divisions of the current row (measured in
    docs/bench-2026-12-03.md).
    """
    m, done = divide_max32(out, s, y)
    for i in range(done, out.size):
        out[i] = out[i] / s
        v = y[i]
        m = v if v > m else m
    return m


@kernel(inline=True)
def exp_divide_all32(x, out, c, m, s):
    """``out[i] = exp(c (x[i] - m)) / s`` for ``c (x - m) <= 0``: :func:`exp_divide32`, the rest."""
    for i in range(exp_divide32(x, out, c, m, s), x.size):
        out[i] = exp32(c * (x[i] - m)) / s


@kernel(inline=True)
def block_max32(x):
    """Maximum of a contiguous float32 array, NaN ignored; ``-inf`` if empty or all ``-inf``."""
    m, done = vmax32(x)
    for i in range(done, x.size):
        v = x[i]
        m = v if v > m else m
    return m


@kernel(inline=True)
def block_exp_store_sum32(x, out, c, m, nonpositive):
    """``out[i] = exp(c (x[i] - m))`` and their sum (vector lanes, then the rest in order).

    ``nonpositive``: every ``c (x[i] - m)`` is ``<= 0`` (or NaN), so the loop
    without the overflow clamp is used (the same bits).
    """
    if nonpositive:
        total, done = exp_store_sum32_nonpositive(x, out, c, m)
    else:
        total, done = exp_store_sum32(x, out, c, m)
    for i in range(done, x.size):
        e = exp32(c * (x[i] - m))
        out[i] = e
        total += e
    return total


@kernel(inline=True)
def block_exp_sum32(x, c, m):
    """``sum_i exp(c (x[i] - m))``, summed as :func:`block_exp_store_sum32`, nothing stored."""
    total, done = exp_sum32(x, x, c, m)  # the loop does not store: x is not written
    for i in range(done, x.size):
        total += exp32(c * (x[i] - m))
    return total
