"""Kernels to call from your own ``@numba.njit`` code.

Every kernel is an ordinary Numba dispatcher, so it can be called from any
jitted function, including ``@njit(parallel=True)`` ones with ``prange``.
Two forms exist for each function and method:

* ``<function>_<method>_row(x, out, beta)`` works on one 1-D row; the
  logsumexp row kernels return the value instead: ``logsumexp_<method>_row(x, beta)``.
* ``<function>_<method>(x, out, beta)`` loops over the rows of a 2-D array
  (``out`` has shape ``(rows,)`` for logsumexp).

``beta`` is the scale ``c`` applied to the logits (for base ``a``, pass
``beta * log(a)``); it is cast to the dtype of ``x``, so float32 stays
float32. ``out`` must have the dtype of ``x`` and may be ``x`` itself.
Nothing is validated here: the public functions in :mod:`stable_softmax`
do that.

Example
-------
>>> import numpy as np
>>> from numba import njit, prange
>>> from stable_softmax import jit
>>> @njit(parallel=True)
... def batched(x):
...     out = np.empty_like(x)
...     for r in prange(x.shape[0]):
...         jit.softmax_shifted_row(x[r], out[r], 1.0)
...     return out
>>> batched(np.zeros((2, 4), np.float32))[0]
array([0.25, 0.25, 0.25, 0.25], dtype=float32)
"""

from .kernels.log_softmax import (
    log_softmax_lse,
    log_softmax_lse_row,
    log_softmax_naive,
    log_softmax_naive_row,
    log_softmax_shifted,
    log_softmax_shifted_row,
)
from .kernels.logsumexp import (
    logsumexp_log1p,
    logsumexp_log1p_row,
    logsumexp_naive,
    logsumexp_naive_row,
    logsumexp_shifted,
    logsumexp_shifted_row,
)
from .kernels.softmax import (
    softmax_lse,
    softmax_lse_row,
    softmax_naive,
    softmax_naive_row,
    softmax_shifted,
    softmax_shifted_row,
)

__all__ = [
    "softmax_naive", "softmax_naive_row",
    "softmax_shifted", "softmax_shifted_row",
    "softmax_lse", "softmax_lse_row",
    "log_softmax_naive", "log_softmax_naive_row",
    "log_softmax_shifted", "log_softmax_shifted_row",
    "log_softmax_lse", "log_softmax_lse_row",
    "logsumexp_naive", "logsumexp_naive_row",
    "logsumexp_shifted", "logsumexp_shifted_row",
    "logsumexp_log1p", "logsumexp_log1p_row",
]
