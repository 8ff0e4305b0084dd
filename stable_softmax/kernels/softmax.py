r"""Softmax kernels: naive, max-shifted, log-sum-exp (division-free) and online.

All kernels compute, for a 1-D row ``x`` and a scale ``c = beta * ln(base)``,

.. math:: y_j = \frac{e^{c x_j}}{\sum_k e^{c x_k}}

in the dtype of ``x`` (``c`` is cast to that dtype first, so float32 rows are
never promoted to float64), with the vectorized exponential of
:mod:`.exp` (within 1 ULP of correctly rounded). ``*_row`` kernels take one
row and write ``out``; the 2-D drivers loop over the rows of a ``(rows, n)``
array, serially or with the rows spread over threads. ``out`` may be the same
array as ``x``: every pass reads ``x[i]`` before it writes ``out[i]``, and no
pass reads ``x`` after a pass has written ``out``.

Special values (every method but ``naive``, which is the unguarded control):
a NaN in the row gives all NaN; an all ``-inf`` row and a row containing
``+inf`` give all NaN; ``-inf`` among finite values gives exactly 0.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange, types
from numba.extending import overload

from .._methods import ACCURATE, LSE, NAIVE, ONLINE, SHIFTED
from ._blocks import (
    BLOCK,
    block_max,
    exp_offset,
    exp_store_sum_unscaled,
    has_nan,
    row_max,
    scale,
)
from ._options import kernel
from ._passes32 import (
    block_exp_store_sum32,
    block_max32,
    divide_all32,
    divide_all_max32,
    exp_divide_all32,
)
from ._rowpasses import (
    exp_store_sum_block,
    n_blocks,
    online_merge,
    row_exp_store_sum,
    row_exp_store_sum32,
    row_exp_sum,
    row_exp_sum32,
    split_divide_by_sum,
    split_exp_store_sum,
    split_max,
)
from ._special import fill
from ._vec32 import is_f32_c_array
from .accurate import softmax_accurate_row, softmax_accurate_rows, softmax_accurate_rows_parallel
from .division import divide, divide_by_sum
from .exp import fast_exp


@kernel
def softmax_naive_row(x, out, c):
    r"""``exp(c x_j) / sum_k exp(c x_k)`` with no shift: the unstable control.

    Overflows to ``inf / inf = NaN`` as soon as ``c * max(x)`` exceeds
    ``ln(max_float)`` (88.72 in float32, 709.78 in float64) and underflows to
    ``0 / 0 = NaN`` when every ``c x_k`` is below the subnormal range.
    """
    c = x.dtype.type(c)
    total = x.dtype.type(0.0)
    for start in range(0, x.size, BLOCK):
        total += exp_store_sum_unscaled(x[start : start + BLOCK], out[start : start + BLOCK], c)
    divide(out, total)


def _softmax_shifted_row_any(x, out, c):  # any other types: the block passes, inlined below
    m = row_max(x)
    if not math.isfinite(m):
        # A +inf entry, or no finite entry at all (all -inf, NaN, empty).
        fill(out, math.nan)
        return
    c = x.dtype.type(c)
    total, smallest = row_exp_store_sum(x, out, c, m)
    if x.itemsize == 4:  # see divide_by_sum; called directly, one call layer fewer per row
        divide(out, total)
    else:
        divide_by_sum(out, total, smallest)


#: float32 rows at least this long (8 MiB, beyond the L2 and a share of the L3 cache)
#: recompute the exponentials in the division pass instead of storing them:
#: three reads of ``x`` and one write of ``out`` instead of two reads and two writes
#: of each (measured in docs/bench-2026-12-02.md; the same bits).
LONG_ROW32 = 1 << 21


def _softmax_shifted(x, out, c):
    """Compile-time choice of the shifted row kernel by the types of ``x`` and ``out``."""


@overload(_softmax_shifted, inline="always")
def _softmax_shifted_overload(x, out, c):
    if not (is_f32_c_array(x) and is_f32_c_array(out)):
        return _softmax_shifted_row_any

    def impl(x, out, c):  # every pass inlined: no call between them
        m = block_max32(x)
        if not math.isfinite(m):
            fill(out, math.nan)
            return
        c = x.dtype.type(c)
        if x.size >= LONG_ROW32 and c > 0:
            exp_divide_all32(x, out, c, m, row_exp_sum32(x, c, m))
        else:
            divide_all32(out, row_exp_store_sum32(x, out, c, m))

    return impl


#: float32 rows at most this long (8 KiB: the row, its output and the next row fit
#: in half the 48 KiB L1 cache) find each row's maximum in the division pass of
#: the row before; longer rows measured no faster that way, and 4096-element
#: rows slower (docs/bench-2026-12-03.md).
FUSED_MAX_ROW32 = 2048
assert FUSED_MAX_ROW32 <= BLOCK  # a fused row is one block: its sum is block_exp_store_sum32


def _softmax_shifted_rows(x, out, c, r0, r1):
    """Shifted softmax of rows ``r0`` to ``r1 - 1`` of the 2-D ``x`` into ``out``."""


@overload(_softmax_shifted_rows, inline="always")
def _softmax_shifted_rows_overload(x, out, c, r0, r1):
    f32_rows = all(
        isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C" and a.dtype == types.float32
        for a in (x, out)
    )
    if not f32_rows:

        def rows_any(x, out, c, r0, r1):
            for r in range(r0, r1):
                _softmax_shifted(x[r], out[r], c)

        return rows_any

    def impl(x, out, c, r0, r1):
        # Each row's maximum is found in the division pass of the row before
        # (divide_all_max32): the same maximum, so the same bits as row by row.
        if r0 >= r1:
            return
        if x.shape[1] > FUSED_MAX_ROW32:
            for r in range(r0, r1):  # a call per row: one inlined copy of the passes fewer
                softmax_shifted_row(x[r], out[r], c)
            return
        c = np.float32(c)
        nonpositive = c > 0  # as in row_exp_store_sum32, whose one-block case this is
        m = block_max32(x[r0])
        for r in range(r0, r1):
            last = r + 1 == r1
            if not math.isfinite(m):
                fill(out[r], math.nan)
                if not last:
                    m = block_max32(x[r + 1])
                continue
            total = block_exp_store_sum32(x[r], out[r], c, m, nonpositive)
            if last:
                divide_all32(out[r], total)
            else:
                m = divide_all_max32(out[r], total, x[r + 1])

    return impl


@kernel
def softmax_shifted_row(x, out, c):
    r"""``exp(c (x_j - m)) / sum_k exp(c (x_k - m))`` with ``m = max(x)``.

    The shift makes the largest exponent 0, so the sum lies in ``[1, n]`` and
    can neither overflow nor vanish. Blanchard, Higham & Higham (2021) bound
    the relative error of each output by about ``(n + 2 + 2 c (max - min)) u``
    to first order, ``u`` the unit roundoff; the blocked sum here replaces the
    ``n`` by roughly ``BLOCK / 8 + n / BLOCK``. Each quotient is correctly
    rounded (one division). Contiguous float32 rows run the passes of
    :mod:`._vec32` inlined into this function; the bits are those of the
    block passes that :func:`softmax_shifted_split` spreads over threads.
    """
    _softmax_shifted(x, out, c)


@kernel
def softmax_lse_row(x, out, c):
    r"""``exp(c x_j - L)`` with ``L = c m + ln sum_k exp(c (x_k - m))``.

    Division-free: the normaliser enters through its logarithm. The rounding
    of ``L`` (about ``|L| u``) is amplified by the exponential, so this form
    loses accuracy when ``|c max(x)|`` is large (Blanchard, Higham & Higham
    2021, Section 4).
    """
    m = row_max(x)
    if not math.isfinite(m):
        fill(out, math.nan)
        return
    c = x.dtype.type(c)
    lse = c * m + math.log(row_exp_sum(x, c, m))
    exp_offset(x, out, c, lse)


@kernel
def softmax_online_row(x, out, c):
    r"""One pass over memory for the maximum and the normaliser together.

    Milakov & Gimelshein (2018), "Online normalizer calculation for softmax",
    by blocks: each block's maximum ``b`` and sum ``s_b = sum exp(c (x - b))``
    come from one read of the block (the second read hits the cache), and the
    running pair ``(M, S)`` is merged with :func:`._rowpasses.online_merge`
    (``S <- S exp(c (M - b)) + s_b`` when ``b > M``, ``S <- S + s_b exp(c (b - M))``
    otherwise). The stored terms are finally scaled by ``exp(c (b - M)) / S``
    (a division by ``S`` for the blocks holding the maximum, as in
    :func:`softmax_shifted_row`). The extra roundings of the merge factors add
    about 2 ULPs to the shifted bound. Rows of one block are the shifted method.
    """
    nb = n_blocks(x.size)
    if nb <= 1:
        softmax_shifted_row(x, out, c)
        return
    c = x.dtype.type(c)
    ninf = x.dtype.type(-math.inf)
    block_maxima = np.empty(nb, dtype=x.dtype)
    block_smallest = np.empty(nb, dtype=x.dtype)
    big_m = ninf
    total = x.dtype.type(0.0)
    for b in range(nb):
        xb = x[b * BLOCK : (b + 1) * BLOCK]
        ob = out[b * BLOCK : (b + 1) * BLOCK]
        bm = block_max(xb)
        block_maxima[b] = bm
        if bm == ninf:
            # Only -inf (0 terms) or NaN (a NaN sum) in this block.
            fill(ob, 0.0)
            if has_nan(xb):
                total = x.dtype.type(math.nan)
            continue
        bs, block_smallest[b] = exp_store_sum_block(xb, ob, c, bm)
        big_m, total = online_merge(big_m, total, bm, bs, c)
    if not math.isfinite(big_m):
        fill(out, math.nan)
        return
    for b in range(nb):
        ob = out[b * BLOCK : (b + 1) * BLOCK]
        if block_maxima[b] == big_m:
            divide_by_sum(ob, total, block_smallest[b])
        else:
            scale(ob, fast_exp(c * (block_maxima[b] - big_m)) / total)


@kernel
def softmax_shifted_split(x, out, c):
    """:func:`softmax_shifted_row` for one long row, its blocks spread over threads.

    Gives the same bits as :func:`softmax_shifted_row`.
    """
    m = split_max(x)
    if not math.isfinite(m):
        fill(out, math.nan)
        return
    c = x.dtype.type(c)
    total, smallest = split_exp_store_sum(x, out, c, m)
    split_divide_by_sum(out, total, smallest)


@kernel
def softmax_row(x, out, c, method, c_lo=0.0):
    """Dispatch one row on ``method``, a method id of :mod:`stable_softmax._methods`.

    ``c_lo`` is the low part of the scale for ``ACCURATE`` (ignored by the
    others, which round ``c`` to the dtype of ``x``).
    """
    if method == SHIFTED:
        softmax_shifted_row(x, out, c)
    elif method == NAIVE:
        softmax_naive_row(x, out, c)
    elif method == LSE:
        softmax_lse_row(x, out, c)
    elif method == ONLINE:
        softmax_online_row(x, out, c)
    elif method == ACCURATE:
        softmax_accurate_row(x, out, c, c_lo)
    else:
        raise ValueError("softmax_row: unknown method id (see stable_softmax.jit.METHOD_IDS)")


@kernel
def softmax_rows(x, out, c, method, c_lo=0.0, threads=0):
    """Every row of a ``(rows, n)`` array on the calling thread.

    The branch on ``method`` is taken once, outside the row loop: each method
    has its own loop with only its row kernel inlined, instead of one loop
    holding every method's code (measured faster; ``docs/bench-2026-12-02.md``).
    """
    if method == SHIFTED:
        _softmax_shifted_rows(x, out, c, 0, x.shape[0])  # inlined: no call per row
    elif method == NAIVE:
        for r in range(x.shape[0]):
            softmax_naive_row(x[r], out[r], c)
    elif method == LSE:
        for r in range(x.shape[0]):
            softmax_lse_row(x[r], out[r], c)
    elif method == ONLINE:
        for r in range(x.shape[0]):
            softmax_online_row(x[r], out[r], c)
    elif method == ACCURATE:  # one scratch for all rows
        softmax_accurate_rows(x, out, np.float64(c), np.float64(c_lo))
    else:
        raise ValueError("softmax_rows: unknown method id (see stable_softmax.jit.METHOD_IDS)")


@kernel(parallel=True)
def softmax_rows_parallel(x, out, c, method, c_lo=0.0, threads=0):
    """Every row of a ``(rows, n)`` array, rows spread over threads.

    One ``prange`` loop per method, as in :func:`softmax_rows`. ``threads``:
    how many chunks of consecutive rows ``SHIFTED`` and ``ACCURATE`` make
    (pass ``numba.get_num_threads()``; 0 makes one chunk per row); a
    ``SHIFTED`` chunk finds each row's maximum in the pass before, an
    ``ACCURATE`` one has a scratch of its own.
    """
    if method == SHIFTED:
        rows = x.shape[0]
        chunks = min(threads, rows) if threads > 0 else rows
        for t in prange(chunks):
            _softmax_shifted_rows(x, out, c, t * rows // chunks, (t + 1) * rows // chunks)
    elif method == NAIVE:
        for r in prange(x.shape[0]):
            softmax_naive_row(x[r], out[r], c)
    elif method == LSE:
        for r in prange(x.shape[0]):
            softmax_lse_row(x[r], out[r], c)
    elif method == ONLINE:
        for r in prange(x.shape[0]):
            softmax_online_row(x[r], out[r], c)
    elif method == ACCURATE:  # one scratch per chunk
        softmax_accurate_rows_parallel(x, out, np.float64(c), np.float64(c_lo), threads)
    else:
        raise ValueError(
            "softmax_rows_parallel: unknown method id (see stable_softmax.jit.METHOD_IDS)"
        )


@kernel
def softmax_rows_split(x, out, c, method, c_lo=0.0, threads=0):
    """Each row in turn, its blocks spread over threads (methods with a split kernel:
    :data:`stable_softmax._methods.SPLIT_METHODS`; the others run as :func:`softmax_rows`).
    """
    if method != SHIFTED:
        softmax_rows(x, out, c, method, c_lo, threads)
        return
    for r in range(x.shape[0]):
        softmax_shifted_split(x[r], out[r], c)
