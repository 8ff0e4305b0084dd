r"""The ``accurate`` method: softmax, log_softmax and logsumexp within 1 ULP.

For a row ``x`` and scale ``c = beta ln(base)`` these kernels return, in the
dtype of ``x``, a value within 1 ULP (ordinal distance) of the correctly
rounded result, and the correctly rounded result itself for all but a tiny
fraction of elements. They keep the structure of the other kernels (a maximum
pass, a pass of exponentials and sums over blocks of ``BLOCK`` elements
combined in block order, an output pass) and vectorize. Measured costs and
rates of correct rounding are in ``docs/accurate-method.md``.

The modules, by purpose: :mod:`.accurate_dd` (double-double arithmetic),
:mod:`.accurate_exp` (``exp`` and ``ln`` in double-double), :mod:`.accurate64`
(float64 rows, double-double inside), :mod:`.accurate32` (float32 rows,
float64 inside); this one selects between them by dtype at compile time and
holds the row kernels and drivers. Each step's error bound is written beside
the step.

The scale
---------
``c`` enters as a double-double ``c_hi + c_lo`` (``c_lo = 0`` when omitted).
The public functions pass ``beta * ln(base)`` computed at 160 bits and split
into two doubles, so the 1 ULP claim holds for the exact scale of the
reference whatever ``beta`` and ``base``. When a caller passes ``c`` alone,
the kernels compute with that ``c`` as if it were exact (float32 rows use
``c_hi`` alone: its rounding, 2^-53 relative, is far below their budget): a
``c`` that is a rounded ``beta * ln(base)`` carries a relative error ``d``
that becomes an error ``|c x| d`` in the exponent, which no kernel can repair.

Scratch: a softmax row keeps its terms (float64) for the output pass in a
scratch of the row's length, allocated once per call and thread, not per row
(:func:`.accurate32.scratch_size`).

Special values are those of the other methods (see :mod:`.softmax`): NaN in a
row gives NaN, ``+inf`` and all ``-inf`` rows follow ``scipy.special``.
"""

from __future__ import annotations

import numpy as np
from numba import prange, types
from numba.extending import overload

from ._options import kernel
from .accurate32 import KEEP32 as _KEEP32
from .accurate32 import log_softmax32, logsumexp32, scratch_size, softmax32
from .accurate64 import log_softmax64, logsumexp64, softmax64
from .accurate_exp import exp_dd, log_dd

__all__ = [
    "exp_dd",
    "log_dd",
    "softmax_accurate_row",
    "log_softmax_accurate_row",
    "logsumexp_accurate_row",
    "softmax_accurate_rows",
    "softmax_accurate_rows_parallel",
    "log_softmax_accurate_rows",
    "log_softmax_accurate_rows_parallel",
    "logsumexp_accurate_rows",
    "logsumexp_accurate_rows_parallel",
    "_KEEP32",
]


# --- dtype dispatch, resolved at compile time ---


def _softmax_impl(x, out, c_hi, c_lo, scratch):  # pragma: no cover - typed by the overload
    raise NotImplementedError


def _log_softmax_impl(x, out, c_hi, c_lo):  # pragma: no cover
    raise NotImplementedError


def _logsumexp_impl(x, c_hi, c_lo):  # pragma: no cover
    raise NotImplementedError


def _is32(x):
    return x.dtype == types.float32


@overload(_softmax_impl, inline="always")  # compiled into its (cached) callers
def _softmax_impl_ol(x, out, c_hi, c_lo, scratch):
    if _is32(x):
        return lambda x, out, c_hi, c_lo, scratch: softmax32(x, out, c_hi, c_lo, scratch)
    return lambda x, out, c_hi, c_lo, scratch: softmax64(x, out, c_hi, c_lo, scratch)


@overload(_log_softmax_impl, inline="always")  # compiled into its (cached) callers
def _log_softmax_impl_ol(x, out, c_hi, c_lo):
    if _is32(x):
        return lambda x, out, c_hi, c_lo: log_softmax32(x, out, c_hi, c_lo)
    return lambda x, out, c_hi, c_lo: log_softmax64(x, out, c_hi, c_lo)


@overload(_logsumexp_impl, inline="always")  # compiled into its (cached) callers
def _logsumexp_impl_ol(x, c_hi, c_lo):
    if _is32(x):
        return lambda x, c_hi, c_lo: logsumexp32(x, c_hi, c_lo)
    return lambda x, c_hi, c_lo: logsumexp64(x, c_hi, c_lo)


# --- one row ---


@kernel
def softmax_accurate_row(x, out, c, c_lo=0.0):
    r"""Softmax of one row within 1 ULP of the correctly rounded result.

    ``c + c_lo`` is the scale as a double-double (``c_lo`` defaults to 0: ``c``
    taken as exact); both are used in float64 for float32 rows too. Allocates a
    float64 scratch of up to a row (see :data:`.accurate32.KEEP32`). ``out``
    may be ``x``.
    """
    _softmax_impl(x, out, np.float64(c), np.float64(c_lo), np.empty(scratch_size(x)))


@kernel
def log_softmax_accurate_row(x, out, c, c_lo=0.0):
    r"""log_softmax of one row within 1 ULP; a dominant logit gets its tiny negative value.

    ``c + c_lo`` as in :func:`softmax_accurate_row`. ``out`` may be ``x``.
    """
    _log_softmax_impl(x, out, np.float64(c), np.float64(c_lo))


@kernel
def logsumexp_accurate_row(x, c, c_lo=0.0):
    r"""``ln sum_k exp(c x_k)`` of one row within 1 ULP (see :func:`.accurate64.logsumexp64`
    for the cancellation caveat when the result is near 0); ``c + c_lo`` as in
    :func:`softmax_accurate_row`.
    """
    return _logsumexp_impl(x, np.float64(c), np.float64(c_lo))


# --- rows of a 2-D array (the function drivers call these for method "accurate") ---


@kernel
def softmax_accurate_rows(x, out, c_hi, c_lo):
    """Every row of a ``(rows, n)`` array on the calling thread; one scratch for all."""
    scratch = np.empty(scratch_size(x))
    for r in range(x.shape[0]):
        _softmax_impl(x[r], out[r], c_hi, c_lo, scratch)


@kernel(parallel=True)
def softmax_accurate_rows_parallel(x, out, c_hi, c_lo, chunks):
    """Rows in ``chunks`` contiguous chunks (one per thread), one scratch per chunk
    (same bits as serial; a scratch per row would be allocated and faulted in once per row).
    ``chunks <= 0`` or more than the rows: one chunk per row.
    """
    rows = x.shape[0]
    chunks = rows if chunks <= 0 else min(chunks, rows)
    chunks = max(chunks, 1)
    for t in prange(chunks):
        scratch = np.empty(scratch_size(x))
        for r in range(t * rows // chunks, (t + 1) * rows // chunks):
            _softmax_impl(x[r], out[r], c_hi, c_lo, scratch)


@kernel
def log_softmax_accurate_rows(x, out, c_hi, c_lo):
    """Every row of a ``(rows, n)`` array on the calling thread."""
    for r in range(x.shape[0]):
        _log_softmax_impl(x[r], out[r], c_hi, c_lo)


@kernel(parallel=True)
def log_softmax_accurate_rows_parallel(x, out, c_hi, c_lo):
    """Every row of a ``(rows, n)`` array, rows spread over threads."""
    for r in prange(x.shape[0]):
        _log_softmax_impl(x[r], out[r], c_hi, c_lo)


@kernel
def logsumexp_accurate_rows(x, out, c_hi, c_lo):
    """``out[r] = lse(x[r])`` for every row on the calling thread."""
    for r in range(x.shape[0]):
        out[r] = _logsumexp_impl(x[r], c_hi, c_lo)


@kernel(parallel=True)
def logsumexp_accurate_rows_parallel(x, out, c_hi, c_lo):
    """``out[r] = lse(x[r])`` for every row, rows spread over threads."""
    for r in prange(x.shape[0]):
        out[r] = _logsumexp_impl(x[r], c_hi, c_lo)
