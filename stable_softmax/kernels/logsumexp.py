r"""Log-sum-exp kernels: naive, max-shifted and log1p (Blanchard, Higham & Higham).

For a 1-D row ``x`` and scale ``c = beta * ln(base)``:

.. math:: \mathrm{lse}(x) = \ln \sum_k e^{c x_k}

(natural logarithm) in the dtype of ``x``. ``*_row`` kernels return the value;
the 2-D drivers write one value per row of a ``(rows, n)`` array into ``out``.

Special values (every method but ``naive``): NaN in the row gives NaN; a
``+inf`` entry gives ``+inf``; an all ``-inf`` or empty row gives ``-inf``;
``-inf`` entries among finite ones contribute nothing.

Reference: P. Blanchard, D. J. Higham, N. J. Higham, "Accurately computing the
log-sum-exp and softmax functions", IMA J. Numer. Anal. 41 (2021) 2311-2330.
"""

from __future__ import annotations

import math

from numba import prange
from numba.extending import overload

from .._methods import ACCURATE, LOG1P, NAIVE, SHIFTED
from ._blocks import BLOCK, exp_sum_off_max, exp_sum_unscaled, row_max
from ._options import kernel
from ._passes32 import block_max32
from ._rowpasses import row_exp_sum, row_exp_sum32, split_exp_sum, split_max
from ._special import nan_max
from ._vec32 import is_f32_c_array
from .accurate import logsumexp_accurate_row


@kernel
def logsumexp_naive_row(x, c):
    """``ln sum_k exp(c x_k)``: overflows once ``c max(x) > ln(max_float)``."""
    c = x.dtype.type(c)
    total = x.dtype.type(0.0)
    for start in range(0, x.size, BLOCK):
        total += exp_sum_unscaled(x[start : start + BLOCK], c)
    return math.log(total)


def _logsumexp_shifted_row_any(x, c):  # any other types: the block passes, inlined below
    m = row_max(x)
    if not math.isfinite(m):
        # NaN stays NaN, +inf dominates, -inf is the empty/all -inf sum.
        return nan_max(x)
    c = x.dtype.type(c)
    return c * m + math.log(row_exp_sum(x, c, m))


def _logsumexp_shifted(x, c):
    """Compile-time choice of the shifted row kernel by the type of ``x``."""


@overload(_logsumexp_shifted, inline="always")
def _logsumexp_shifted_overload(x, c):
    if not is_f32_c_array(x):
        return _logsumexp_shifted_row_any

    def impl(x, c):  # both passes inlined
        m = block_max32(x)
        if not math.isfinite(m):
            return nan_max(x)
        c = x.dtype.type(c)
        return c * m + math.log(row_exp_sum32(x, c, m))

    return impl


@kernel
def logsumexp_shifted_row(x, c):
    r"""``c m + ln sum_k exp(c (x_k - m))`` with ``m = max(x)``.

    The sum is in ``[1, n]``; the result's error is about
    ``|c m| u + n u`` absolute (Blanchard, Higham & Higham 2021, Thm 2.2).
    Contiguous float32 rows run the passes of :mod:`._vec32` inlined here.
    """
    return _logsumexp_shifted(x, c)


@kernel
def row_rest_ties(x, c, m):
    """``(s, k)``: ``s`` the sum of ``exp(c (x_j - m))`` over ``x_j != m`` (block sums in
    block order), ``k`` the number of maxima as a float of the dtype of ``x``.
    """
    rest = x.dtype.type(0.0)
    ties = 0
    for start in range(0, x.size, BLOCK):
        s, k = exp_sum_off_max(x[start : start + BLOCK], c, m)
        rest += s
        ties += k
    return rest, x.dtype.type(ties)


@kernel
def logsumexp_log1p_row(x, c):
    r"""``c m + ln k + log1p(s / k)``, ``s`` the sum over the non-maximal terms.

    ``k`` counts the elements equal to the maximum ``m``, so ties are exact:
    ``k`` equal maxima give ``c m + ln k`` plus a correction. Writing the sum
    as ``k (1 + s / k)`` and using ``log1p`` keeps the digits of a small
    ``s`` that ``ln(k + s)`` would round away (Blanchard, Higham & Higham 2021,
    Algorithm 2, with ties counted).
    """
    m = row_max(x)
    if not math.isfinite(m):
        return nan_max(x)
    c = x.dtype.type(c)
    rest, k = row_rest_ties(x, c, m)
    return c * m + math.log(k) + math.log1p(rest / k)


@kernel
def logsumexp_shifted_split(x, c):
    """:func:`logsumexp_shifted_row` for one long row, blocks spread over threads (same bits)."""
    m = split_max(x)
    if not math.isfinite(m):
        return nan_max(x)
    c = x.dtype.type(c)
    return c * m + math.log(split_exp_sum(x, c, m))


@kernel
def logsumexp_row(x, c, method, c_lo=0.0):
    """Dispatch one row on ``method``, a method id of :mod:`stable_softmax._methods`.

    ``c_lo`` is the low part of the scale for ``ACCURATE`` (ignored by the others).
    """
    if method == SHIFTED:
        return logsumexp_shifted_row(x, c)
    if method == NAIVE:
        return logsumexp_naive_row(x, c)
    if method == LOG1P:
        return logsumexp_log1p_row(x, c)
    if method == ACCURATE:
        return logsumexp_accurate_row(x, c, c_lo)
    raise ValueError("logsumexp_row: unknown method id (see stable_softmax.jit.METHOD_IDS)")


@kernel
def logsumexp_rows(x, out, c, method, c_lo=0.0, threads=0):
    """``out[r] = lse(x[r])`` for every row of a ``(rows, n)`` array on the calling thread.

    The branch on ``method`` is taken once, outside the row loop (see
    :func:`.softmax.softmax_rows`).
    """
    if method == SHIFTED:
        for r in range(x.shape[0]):
            out[r] = _logsumexp_shifted(x[r], c)  # inlined: no call per row
    elif method == NAIVE:
        for r in range(x.shape[0]):
            out[r] = logsumexp_naive_row(x[r], c)
    elif method == LOG1P:
        for r in range(x.shape[0]):
            out[r] = logsumexp_log1p_row(x[r], c)
    elif method == ACCURATE:
        for r in range(x.shape[0]):
            out[r] = logsumexp_accurate_row(x[r], c, c_lo)
    else:
        raise ValueError("logsumexp_rows: unknown method id (see stable_softmax.jit.METHOD_IDS)")


@kernel(parallel=True)
def logsumexp_rows_parallel(x, out, c, method, c_lo=0.0, threads=0):
    """``out[r] = lse(x[r])`` for every row, rows spread over threads (a ``prange`` per method)."""
    if method == SHIFTED:
        for r in prange(x.shape[0]):
            out[r] = _logsumexp_shifted(x[r], c)
    elif method == NAIVE:
        for r in prange(x.shape[0]):
            out[r] = logsumexp_naive_row(x[r], c)
    elif method == LOG1P:
        for r in prange(x.shape[0]):
            out[r] = logsumexp_log1p_row(x[r], c)
    elif method == ACCURATE:
        for r in prange(x.shape[0]):
            out[r] = logsumexp_accurate_row(x[r], c, c_lo)
    else:
        raise ValueError(
            "logsumexp_rows_parallel: unknown method id (see stable_softmax.jit.METHOD_IDS)"
        )


@kernel
def logsumexp_rows_split(x, out, c, method, c_lo=0.0, threads=0):
    """Each row in turn, its blocks spread over threads (methods with a split kernel;
    the others run as :func:`logsumexp_rows`).
    """
    if method != SHIFTED:
        logsumexp_rows(x, out, c, method, c_lo, threads)
        return
    for r in range(x.shape[0]):
        out[r] = logsumexp_shifted_split(x[r], c)
