r"""Log-softmax kernels: naive, max-shifted and log-sum-exp.

For a 1-D row ``x`` and scale ``c = beta * ln(base)`` they compute

.. math:: y_j = c x_j - \ln \sum_k e^{c x_k}

(natural logarithm, whatever the base) in the dtype of ``x``.

Special values (every method but ``naive``): a NaN in the row gives all NaN;
an all ``-inf`` row gives all NaN; a row containing ``+inf`` gives NaN at each
``+inf`` and ``-inf`` elsewhere; ``-inf`` among finite values gives ``-inf``.
"""

from __future__ import annotations

import math

from ._options import kernel
from ._reduce import fill, nan_max


@kernel
def _log_softmax_special(x, out, m):
    """Write the result of a row whose maximum ``m`` is not finite."""
    if m == math.inf:
        nan = x.dtype.type(math.nan)
        ninf = x.dtype.type(-math.inf)
        for i in range(x.size):
            out[i] = nan if x[i] == m else ninf
    else:
        fill(out, math.nan)


@kernel
def log_softmax_naive_row(x, out, c):
    """``c x_j - ln sum_k exp(c x_k)`` without a shift (unstable control)."""
    c = x.dtype.type(c)
    total = x.dtype.type(0.0)
    for i in range(x.size):
        total += math.exp(c * x[i])
    log_total = math.log(total)
    for i in range(x.size):
        out[i] = c * x[i] - log_total


@kernel
def log_softmax_shifted_row(x, out, c):
    r"""``c (x_j - m) - ln sum_k exp(c (x_k - m))`` with ``m = max(x)``.

    The sum lies in ``[1, n]``, so its logarithm is in ``[0, ln n]``: the
    error is about ``|c (x_j - m)| u + (ln n + n) u`` absolute. The largest
    element gets ``-ln(sum)``, computed as ``0 - ln(1 + tiny)``, which is
    exactly 0 when the other terms are below ``u``: the true value is a tiny
    negative number (the case the ``accurate`` method repairs with log1p).
    """
    m = nan_max(x)
    if not math.isfinite(m):
        _log_softmax_special(x, out, m)
        return
    c = x.dtype.type(c)
    total = x.dtype.type(0.0)
    for i in range(x.size):
        total += math.exp(c * (x[i] - m))
    log_total = math.log(total)
    for i in range(x.size):
        out[i] = c * (x[i] - m) - log_total


@kernel
def log_softmax_lse_row(x, out, c):
    r"""``c x_j - L`` with ``L = c m + ln sum_k exp(c (x_k - m))``.

    Subtracting the rounded log-sum-exp from unshifted logits cancels when
    ``c x_j`` and ``L`` are large and close: the error is ``|L| u`` absolute
    rather than ``|c (x_j - m)| u``.
    """
    m = nan_max(x)
    if not math.isfinite(m):
        _log_softmax_special(x, out, m)
        return
    c = x.dtype.type(c)
    total = x.dtype.type(0.0)
    for i in range(x.size):
        total += math.exp(c * (x[i] - m))
    lse = c * m + math.log(total)
    for i in range(x.size):
        out[i] = c * x[i] - lse


@kernel
def log_softmax_naive(x, out, c):
    """Row-wise :func:`log_softmax_naive_row` over a ``(rows, n)`` array."""
    for r in range(x.shape[0]):
        log_softmax_naive_row(x[r], out[r], c)


@kernel
def log_softmax_shifted(x, out, c):
    """Row-wise :func:`log_softmax_shifted_row` over a ``(rows, n)`` array."""
    for r in range(x.shape[0]):
        log_softmax_shifted_row(x[r], out[r], c)


@kernel
def log_softmax_lse(x, out, c):
    """Row-wise :func:`log_softmax_lse_row` over a ``(rows, n)`` array."""
    for r in range(x.shape[0]):
        log_softmax_lse_row(x[r], out[r], c)
