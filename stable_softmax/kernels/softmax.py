r"""Softmax kernels: naive, max-shifted and log-sum-exp (division-free).

All kernels compute, for a 1-D row ``x`` and a scale ``c = beta * ln(base)``,

.. math:: y_j = \frac{e^{c x_j}}{\sum_k e^{c x_k}}

in the dtype of ``x`` (``c`` is cast to that dtype first, so float32 rows are
never promoted to float64). ``*_row`` kernels take one row and write ``out``;
the matching 2-D drivers loop over the rows of a ``(rows, n)`` array. ``out``
may be the same array as ``x``: every element of ``x`` is read before the
element of ``out`` at the same index is written.

Special values (every method but ``naive``, which is the unguarded control):
a NaN in the row gives all NaN; an all ``-inf`` row and a row containing
``+inf`` give all NaN; ``-inf`` among finite values gives exactly 0.
"""

from __future__ import annotations

import math

from ._options import kernel
from ._reduce import fill, nan_max


@kernel
def softmax_naive_row(x, out, c):
    r"""``exp(c x_j) / sum_k exp(c x_k)`` with no shift: the unstable control.

    Overflows to ``inf / inf = NaN`` as soon as ``c * max(x)`` exceeds
    ``ln(max_float)`` (88.72 in float32, 709.78 in float64) and underflows to
    ``0 / 0 = NaN`` when every ``c x_k`` is below the subnormal range.
    """
    c = x.dtype.type(c)
    total = x.dtype.type(0.0)
    for i in range(x.size):
        e = math.exp(c * x[i])
        out[i] = e
        total += e
    for i in range(x.size):
        out[i] = out[i] / total


@kernel
def softmax_shifted_row(x, out, c):
    r"""``exp(c (x_j - m)) / sum_k exp(c (x_k - m))`` with ``m = max(x)``.

    The shift makes the largest exponent 0, so the sum lies in ``[1, n]`` and
    can neither overflow nor vanish. Blanchard, Higham & Higham (2021) bound
    the relative error of each output by about ``(n + 2 + 2 c (max - min)) u``
    to first order, ``u`` the unit roundoff.
    """
    m = nan_max(x)
    if not math.isfinite(m):
        # NaN anywhere, a +inf entry, or an all -inf row: no finite answer.
        fill(out, math.nan)
        return
    c = x.dtype.type(c)
    total = x.dtype.type(0.0)
    for i in range(x.size):
        e = math.exp(c * (x[i] - m))
        out[i] = e
        total += e
    for i in range(x.size):
        out[i] = out[i] / total


@kernel
def softmax_lse_row(x, out, c):
    r"""``exp(c x_j - L)`` with ``L = c m + ln sum_k exp(c (x_k - m))``.

    Division-free: the normaliser enters through its logarithm. The rounding
    of ``L`` (about ``|L| u``) is amplified by the exponential, so this form
    loses accuracy when ``|c max(x)|`` is large (Blanchard, Higham & Higham
    2021, Section 4).
    """
    m = nan_max(x)
    if not math.isfinite(m):
        fill(out, math.nan)
        return
    c = x.dtype.type(c)
    total = x.dtype.type(0.0)
    for i in range(x.size):
        total += math.exp(c * (x[i] - m))
    lse = c * m + math.log(total)
    for i in range(x.size):
        out[i] = math.exp(c * x[i] - lse)


@kernel
def softmax_naive(x, out, c):
    """Row-wise :func:`softmax_naive_row` over a ``(rows, n)`` array."""
    for r in range(x.shape[0]):
        softmax_naive_row(x[r], out[r], c)


@kernel
def softmax_shifted(x, out, c):
    """Row-wise :func:`softmax_shifted_row` over a ``(rows, n)`` array."""
    for r in range(x.shape[0]):
        softmax_shifted_row(x[r], out[r], c)


@kernel
def softmax_lse(x, out, c):
    """Row-wise :func:`softmax_lse_row` over a ``(rows, n)`` array."""
    for r in range(x.shape[0]):
        softmax_lse_row(x[r], out[r], c)
