r"""The fused drivers of the default narrow path: widen a row, run the float32 kernel, round back.

Each row of a narrow array (float16, bfloat16, the one-byte ml_dtypes
formats; bits as unsigned integers) is widened exactly into a float32
scratch by :func:`.narrow_codec.decode`, the float32 row kernel of the method
runs on the scratch in place, and :func:`.narrow_codec.encode` rounds the
result once, to nearest even, into the output row. Rows go over threads as
for float32. Long shifted rows (:data:`.softmax.LONG_ROW32` elements or more)
take the float32 kernel's recomputing pass block by block instead of widening
the whole row (:func:`_softmax_shifted_long`). Every driver takes the format
as a :class:`.codec_spec.CodecSpec`, and Numba compiles one copy per format
with its conversion parameters as constants.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from .._methods import SHIFTED
from ._blocks import BLOCK
from ._options import kernel
from ._passes32 import block_exp_sum32, block_max32, exp_divide_all32
from ._rowpasses import row_exp_store_sum32
from ._special import fill
from .log_softmax import log_softmax_row
from .logsumexp import logsumexp_row
from .narrow_codec import decode, encode, encode_quotients
from .softmax import LONG_ROW32, softmax_row


@kernel
def _softmax_shifted_long(xb, ob, c, spec, scratch):
    """Shifted softmax of one long narrow row through a ``(2, BLOCK)`` scratch.

    The float32 kernel recomputes the exponentials of rows of at least
    ``LONG_ROW32`` elements instead of storing them. Here each of its three
    passes widens the row block by block into the L1-resident scratch, so the
    row is never widened whole (a 16 MiB scratch for 4M elements would leave
    the cache): three reads of the narrow row, one narrow write. The maximum,
    the block sums added in block order and the quotients are those of the
    float32 kernel (the same bits).
    """
    n = xb.size
    a, o = scratch[0], scratch[1]
    m = np.float32(-np.inf)
    for start in range(0, n, BLOCK):
        k = min(BLOCK, n - start)
        decode(xb[start : start + k], a[:k], spec)
        b = block_max32(a[:k])
        m = b if b > m else m
    if not math.isfinite(m):
        fill(o, math.nan)
        for start in range(0, n, BLOCK):
            k = min(BLOCK, n - start)
            encode(o[:k], ob[start : start + k], spec)
        return
    c = np.float32(c)
    total = np.float32(0.0)
    for start in range(0, n, BLOCK):
        k = min(BLOCK, n - start)
        decode(xb[start : start + k], a[:k], spec)
        total += block_exp_sum32(a[:k], c, m)
    for start in range(0, n, BLOCK):
        k = min(BLOCK, n - start)
        decode(xb[start : start + k], a[:k], spec)
        exp_divide_all32(a[:k], o[:k], c, m, total)
        encode(o[:k], ob[start : start + k], spec)


@kernel
def _softmax_rows_range(xb, ob, c, method, c_lo, spec, r0, r1, scratch):
    if scratch.shape[1] < xb.shape[1]:  # see long_row_scratch
        for r in range(r0, r1):
            _softmax_shifted_long(xb[r], ob[r], c, spec, scratch)
        return
    if method == SHIFTED:  # the float32 shifted row, its division fused with the rounding
        a, o = scratch[0], scratch[1]
        c = np.float32(c)
        for r in range(r0, r1):
            decode(xb[r], a, spec)
            m = block_max32(a)
            if not math.isfinite(m):  # as the float32 row: all NaN
                fill(o, math.nan)
                encode(o, ob[r], spec)
                continue
            encode_quotients(o, ob[r], row_exp_store_sum32(a, o, c, m), spec)
        return
    for r in range(r0, r1):
        decode(xb[r], scratch[0], spec)
        softmax_row(scratch[0], scratch[1], c, method, c_lo)
        encode(scratch[1], ob[r], spec)


def long_row_scratch(function: str, method: int, n: int, c: float) -> int:
    """The scratch row length the fused drivers take: ``BLOCK`` for the long-row
    shifted softmax (:func:`_softmax_shifted_long`, the float32 kernel's
    condition), else ``n``.

    One-byte formats took the whole-row scratch while their widening read its
    parameters at run time (three widenings cost more than one); with the
    parameters compiled in (:mod:`.codec_spec`) the blocked passes are as fast
    on one thread and faster on two (docs/bench-2026-12-03.md).
    """
    long = function == "softmax" and method == SHIFTED and n >= LONG_ROW32 and c > 0
    return BLOCK if long else n


@kernel
def _log_softmax_rows_range(xb, ob, c, method, c_lo, spec, r0, r1, scratch):
    for r in range(r0, r1):
        decode(xb[r], scratch[0], spec)
        log_softmax_row(scratch[0], scratch[1], c, method, c_lo)
        encode(scratch[1], ob[r], spec)


@kernel
def _logsumexp_rows_range(xb, out, c, method, c_lo, spec, r0, r1, scratch):
    for r in range(r0, r1):
        decode(xb[r], scratch[0], spec)
        out[r] = logsumexp_row(scratch[0], c, method, c_lo)


@kernel
def softmax_narrow_rows(xb, ob, c, method, c_lo, spec, scratch):
    """Softmax of every row of the narrow bits ``xb`` into the narrow bits ``ob``, one thread."""
    _softmax_rows_range(xb, ob, c, method, c_lo, spec, 0, xb.shape[0], scratch[0])


@kernel(parallel=True)
def softmax_narrow_rows_parallel(xb, ob, c, method, c_lo, spec, scratch):
    """:func:`softmax_narrow_rows` with the rows in ``chunks`` chunks over threads."""
    rows, chunks = xb.shape[0], scratch.shape[0]
    for t in prange(chunks):
        r0, r1 = t * rows // chunks, (t + 1) * rows // chunks
        _softmax_rows_range(xb, ob, c, method, c_lo, spec, r0, r1, scratch[t])


@kernel
def log_softmax_narrow_rows(xb, ob, c, method, c_lo, spec, scratch):
    """Log-softmax of every row of ``xb`` into ``ob`` (narrow bits), one thread."""
    _log_softmax_rows_range(xb, ob, c, method, c_lo, spec, 0, xb.shape[0], scratch[0])


@kernel(parallel=True)
def log_softmax_narrow_rows_parallel(xb, ob, c, method, c_lo, spec, scratch):
    """:func:`log_softmax_narrow_rows` with the rows in ``chunks`` chunks over threads."""
    rows, chunks = xb.shape[0], scratch.shape[0]
    for t in prange(chunks):
        r0, r1 = t * rows // chunks, (t + 1) * rows // chunks
        _log_softmax_rows_range(xb, ob, c, method, c_lo, spec, r0, r1, scratch[t])


@kernel
def logsumexp_narrow_rows(xb, out, c, method, c_lo, spec, scratch):
    """Log-sum-exp (float32, one per row into ``out``) of every row of the narrow bits ``xb``."""
    _logsumexp_rows_range(xb, out, c, method, c_lo, spec, 0, xb.shape[0], scratch[0])


@kernel(parallel=True)
def logsumexp_narrow_rows_parallel(xb, out, c, method, c_lo, spec, scratch):
    """:func:`logsumexp_narrow_rows` with the rows in ``chunks`` chunks over threads."""
    rows, chunks = xb.shape[0], scratch.shape[0]
    for t in prange(chunks):
        r0, r1 = t * rows // chunks, (t + 1) * rows // chunks
        _logsumexp_rows_range(xb, out, c, method, c_lo, spec, r0, r1, scratch[t])
