"""Rows whose maximum is not finite: the special-value table of the README.

Every kernel but ``naive`` looks at the row maximum first; when it is NaN,
``+inf`` or ``-inf`` (all ``-inf`` or empty), the result is fixed by
``scipy.special``'s conventions and written here, without any arithmetic.
"""

from __future__ import annotations

import math

from ._options import kernel


@kernel
def nan_max(x):
    """Largest element of a 1-D array, NaN if any element is NaN.

    Returns ``-inf`` for an empty array (the identity of ``max``), which the
    callers treat like an all ``-inf`` slice. A plain ``v > m`` loop would skip
    NaN; the early return makes NaN win, as the special-value table needs.
    """
    m = x.dtype.type(-float("inf"))
    for i in range(x.size):
        v = x[i]
        if v != v:
            return v
        if v > m:
            m = v
    return m


@kernel
def fill(out, value):
    """Set every element of the 1-D array ``out`` to ``value`` (softmax: NaN; -inf blocks: 0)."""
    v = out.dtype.type(value)
    for i in range(out.size):
        out[i] = v


@kernel
def log_softmax_special(x, out):
    """log_softmax of a row whose maximum is not finite (the special-value table).

    ``+inf`` present (and no NaN): NaN at each ``+inf``, ``-inf`` elsewhere;
    otherwise (a NaN, all ``-inf``, empty): all NaN.
    """
    m = nan_max(x)
    if m == math.inf:
        nan = x.dtype.type(math.nan)
        ninf = x.dtype.type(-math.inf)
        for i in range(x.size):
            out[i] = nan if x[i] == m else ninf
    else:
        fill(out, math.nan)
