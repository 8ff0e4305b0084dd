r"""Log-softmax kernels: naive, max-shifted, log-sum-exp and online.

For a 1-D row ``x`` and scale ``c = beta * ln(base)`` they compute

.. math:: y_j = c x_j - \ln \sum_k e^{c x_k}

(natural logarithm, whatever the base) in the dtype of ``x``. No pass reads
``x`` after ``out`` was written, so ``out`` may be ``x``.

Special values (every method but ``naive``): a NaN in the row gives all NaN;
an all ``-inf`` row gives all NaN; a row containing ``+inf`` gives NaN at each
``+inf`` and ``-inf`` elsewhere; ``-inf`` among finite values gives ``-inf``.
"""

from __future__ import annotations

import math

from numba import prange
from numba.extending import overload

from .._methods import ACCURATE, LOG1P, LSE, NAIVE, ONLINE, SHIFTED
from ._blocks import (
    BLOCK,
    block_max,
    exp_sum,
    exp_sum_unscaled,
    has_nan,
    row_max,
    scaled_minus,
    shifted_minus,
)
from ._options import kernel
from ._passes32 import block_max32
from ._rowpasses import (
    n_blocks,
    online_merge,
    row_exp_sum,
    row_exp_sum32,
    split_exp_sum,
    split_max,
    split_shifted_minus,
)
from ._special import log_softmax_special
from ._vec32 import is_f32_c_array
from .accurate import log_softmax_accurate_row
from .logsumexp import row_rest_ties


@kernel
def log_softmax_naive_row(x, out, c):
    """``c x_j - ln sum_k exp(c x_k)`` without a shift (unstable control)."""
    c = x.dtype.type(c)
    total = x.dtype.type(0.0)
    for start in range(0, x.size, BLOCK):
        total += exp_sum_unscaled(x[start : start + BLOCK], c)
    scaled_minus(x, out, c, math.log(total))


def _log_softmax_shifted_row_any(x, out, c):  # any other types: the block passes, inlined below
    m = row_max(x)
    if not math.isfinite(m):
        log_softmax_special(x, out)
        return
    c = x.dtype.type(c)
    shifted_minus(x, out, c, m, math.log(row_exp_sum(x, c, m)))


def _log_softmax_shifted(x, out, c):
    """Compile-time choice of the shifted row kernel by the types of ``x`` and ``out``."""


@overload(_log_softmax_shifted, inline="always")
def _log_softmax_shifted_overload(x, out, c):
    if not (is_f32_c_array(x) and is_f32_c_array(out)):
        return _log_softmax_shifted_row_any

    def impl(x, out, c):  # every pass inlined: no call between them
        m = block_max32(x)
        if not math.isfinite(m):
            log_softmax_special(x, out)
            return
        c = x.dtype.type(c)
        shifted_minus(x, out, c, m, math.log(row_exp_sum32(x, c, m)))

    return impl


@kernel
def log_softmax_shifted_row(x, out, c):
    r"""``c (x_j - m) - ln sum_k exp(c (x_k - m))`` with ``m = max(x)``.

    The sum lies in ``[1, n]``, so its logarithm is in ``[0, ln n]``: the
    error is about ``|c (x_j - m)| u + (ln n + n) u`` absolute. The largest
    element gets ``-ln(sum)``, computed as ``0 - ln(1 + tiny)``, which is
    exactly 0 when the other terms are below ``u``: the true value is a tiny
    negative number (the case the ``accurate`` method repairs with log1p).
    """
    _log_softmax_shifted(x, out, c)


@kernel
def log_softmax_lse_row(x, out, c):
    r"""``c x_j - L`` with ``L = c m + ln sum_k exp(c (x_k - m))``.

    Subtracting the rounded log-sum-exp from unshifted logits cancels when
    ``c x_j`` and ``L`` are large and close: the error is ``|L| u`` absolute
    rather than ``|c (x_j - m)| u``.
    """
    m = row_max(x)
    if not math.isfinite(m):
        log_softmax_special(x, out)
        return
    c = x.dtype.type(c)
    scaled_minus(x, out, c, c * m + math.log(row_exp_sum(x, c, m)))


@kernel
def _log_sum_log1p(x, c, m, total):
    r"""``ln S`` for the log1p form, ``total`` the shifted sum ``S = sum_k exp(c (x_k - m))``.

    ``S >= 2``: ``ln S`` itself. Then ``ln S >= ln 2`` and the rounding of
    ``S`` costs about ``u`` relative, as much as ``ln k + log1p(s / k)``
    would, and these are exactly the bits of the shifted method. ``S < 2``:
    there is one maximum (each maximum adds exactly 1, so ``k >= 2`` gives
    ``S >= 2``) and ``ln S = log1p(s)``, where ``s``, the sum of the
    non-maximal terms, is summed again on its own, relative to its own size
    (the digits below ``u`` that ``S = 1 + s`` rounded away come back). The
    general ``ln k + log1p(s / k)`` is kept for safety.
    """
    if total >= 2:
        return math.log(total)
    rest, k = row_rest_ties(x, c, m)
    return math.log(k) + math.log1p(rest / k)


@kernel
def log_softmax_log1p_row(x, out, c):
    r"""``c (x_j - m) - ln S`` with ``ln S = log1p(s)`` when ``S < 2``: the log1p form.

    ``s`` is the sum of ``exp(c (x_j - m))`` over the non-maximal elements
    and ``k`` counts the maxima, ``S = k + s``. A dominant logit (one maximum,
    ``s < u``) gets ``-log1p(s)``, relative error about ``u``, where
    :func:`log_softmax_shifted_row` rounds ``0 - ln(1 + s)`` to 0; the other
    elements have the error of shifted, ``(|c (x_j - m)| + n) u`` absolute.
    Rows with ``S >= 2`` (any tie, or mass spread over several logits) give
    the shifted bits at the shifted cost; rows with ``S < 2`` pay a second
    exponential pass (see :func:`_log_sum_log1p`).
    """
    m = row_max(x)
    if not math.isfinite(m):
        log_softmax_special(x, out)
        return
    c = x.dtype.type(c)
    shifted_minus(x, out, c, m, _log_sum_log1p(x, c, m, row_exp_sum(x, c, m)))


@kernel
def log_softmax_log1p_split(x, out, c):
    """:func:`log_softmax_log1p_row` for one long row, blocks spread over threads (same bits)."""
    m = split_max(x)
    if not math.isfinite(m):
        log_softmax_special(x, out)
        return
    c = x.dtype.type(c)
    split_shifted_minus(x, out, c, m, _log_sum_log1p(x, c, m, split_exp_sum(x, c, m)))


@kernel
def log_softmax_online_row(x, out, c):
    r"""``c (x_j - M) - ln S`` with ``(M, S)`` from one blocked online pass.

    The maximum and the normaliser come from one read of ``x`` (Milakov &
    Gimelshein 2018; the merge rule is :func:`._rowpasses.online_merge`),
    the outputs from a second. Rows of one block are the shifted method.
    """
    nb = n_blocks(x.size)
    if nb <= 1:
        log_softmax_shifted_row(x, out, c)
        return
    c = x.dtype.type(c)
    ninf = x.dtype.type(-math.inf)
    big_m = ninf
    total = x.dtype.type(0.0)
    for b in range(nb):
        xb = x[b * BLOCK : (b + 1) * BLOCK]
        bm = block_max(xb)
        if bm == ninf:
            if has_nan(xb):
                total = x.dtype.type(math.nan)
            continue
        bs = exp_sum(xb, c, bm)
        big_m, total = online_merge(big_m, total, bm, bs, c)
    if not math.isfinite(big_m):
        log_softmax_special(x, out)
        return
    shifted_minus(x, out, c, big_m, math.log(total))


@kernel
def log_softmax_shifted_split(x, out, c):
    """:func:`log_softmax_shifted_row` for one long row, blocks spread over threads (same bits)."""
    m = split_max(x)
    if not math.isfinite(m):
        log_softmax_special(x, out)
        return
    c = x.dtype.type(c)
    split_shifted_minus(x, out, c, m, math.log(split_exp_sum(x, c, m)))


@kernel
def log_softmax_row(x, out, c, method, c_lo=0.0):
    """Dispatch one row on ``method``, a method id of :mod:`stable_softmax._methods`.

    ``c_lo`` is the low part of the scale for ``ACCURATE`` (ignored by the others).
    """
    if method == SHIFTED:
        log_softmax_shifted_row(x, out, c)
    elif method == NAIVE:
        log_softmax_naive_row(x, out, c)
    elif method == LSE:
        log_softmax_lse_row(x, out, c)
    elif method == LOG1P:
        log_softmax_log1p_row(x, out, c)
    elif method == ONLINE:
        log_softmax_online_row(x, out, c)
    elif method == ACCURATE:
        log_softmax_accurate_row(x, out, c, c_lo)
    else:
        raise ValueError("log_softmax_row: unknown method id (see stable_softmax.jit.METHOD_IDS)")


@kernel
def log_softmax_rows(x, out, c, method, c_lo=0.0, threads=0):
    """Every row of a ``(rows, n)`` array on the calling thread.

    The branch on ``method`` is taken once, outside the row loop (see
    :func:`.softmax.softmax_rows`).
    """
    if method == SHIFTED:
        for r in range(x.shape[0]):
            _log_softmax_shifted(x[r], out[r], c)  # inlined: no call per row
    elif method == NAIVE:
        for r in range(x.shape[0]):
            log_softmax_naive_row(x[r], out[r], c)
    elif method == LSE:
        for r in range(x.shape[0]):
            log_softmax_lse_row(x[r], out[r], c)
    elif method == LOG1P:
        for r in range(x.shape[0]):
            log_softmax_log1p_row(x[r], out[r], c)
    elif method == ONLINE:
        for r in range(x.shape[0]):
            log_softmax_online_row(x[r], out[r], c)
    elif method == ACCURATE:
        for r in range(x.shape[0]):
            log_softmax_accurate_row(x[r], out[r], c, c_lo)
    else:
        raise ValueError("log_softmax_rows: unknown method id (see stable_softmax.jit.METHOD_IDS)")


@kernel(parallel=True)
def log_softmax_rows_parallel(x, out, c, method, c_lo=0.0, threads=0):
    """Every row of a ``(rows, n)`` array, rows spread over threads (one ``prange`` per method)."""
    if method == SHIFTED:
        for r in prange(x.shape[0]):
            _log_softmax_shifted(x[r], out[r], c)
    elif method == NAIVE:
        for r in prange(x.shape[0]):
            log_softmax_naive_row(x[r], out[r], c)
    elif method == LSE:
        for r in prange(x.shape[0]):
            log_softmax_lse_row(x[r], out[r], c)
    elif method == LOG1P:
        for r in prange(x.shape[0]):
            log_softmax_log1p_row(x[r], out[r], c)
    elif method == ONLINE:
        for r in prange(x.shape[0]):
            log_softmax_online_row(x[r], out[r], c)
    elif method == ACCURATE:
        for r in prange(x.shape[0]):
            log_softmax_accurate_row(x[r], out[r], c, c_lo)
    else:
        raise ValueError(
            "log_softmax_rows_parallel: unknown method id (see stable_softmax.jit.METHOD_IDS)"
        )


@kernel
def log_softmax_rows_split(x, out, c, method, c_lo=0.0, threads=0):
    """Each row in turn, its blocks spread over threads (methods with a split kernel;
    the others run as :func:`log_softmax_rows`).
    """
    if method == SHIFTED:
        for r in range(x.shape[0]):
            log_softmax_shifted_split(x[r], out[r], c)
    elif method == LOG1P:
        for r in range(x.shape[0]):
            log_softmax_log1p_split(x[r], out[r], c)
    else:
        log_softmax_rows(x, out, c, method, c_lo, threads)
