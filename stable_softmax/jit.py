"""Kernels to call from your own ``@numba.njit`` code.

Every kernel is an ordinary Numba dispatcher, so it can be called from any
jitted function, including ``@njit(parallel=True)`` ones with ``prange``.

* ``<function>_<method>_row(x, out, c)`` works on one 1-D row; the
  logsumexp row kernels return the value instead: ``logsumexp_<method>_row(x, c)``.
* ``<function>_rows(x, out, c, method_id, c_lo=0.0, threads=0)`` runs a
  method over the rows of a 2-D array on the calling thread,
  ``<function>_rows_parallel`` with the rows spread over threads (``out`` has
  shape ``(rows,)`` for logsumexp; ``threads``, best ``numba.get_num_threads()``,
  is how many chunks of consecutive rows ``accurate`` and ``shifted`` softmax
  make, one float64 scratch each for ``accurate``; 0 gives one per row; the
  bits do not depend on it).
  ``method_id`` is ``METHOD_IDS[name]``, also available as the constants
  ``NAIVE``, ``SHIFTED``, ``LSE``, ``ONLINE``, ``LOG1P``, ``ACCURATE``
  (``SOFTMAX_METHODS``, ``LOG_SOFTMAX_METHODS`` and ``LOGSUMEXP_METHODS``
  list the names each function has; an id a function does not have raises
  ``ValueError``). ``c_lo`` is used by ``ACCURATE`` only (see below).

``c`` is the scale applied to the logits, ``beta * log(base)`` in the public
functions' terms (for base ``a`` and inverse temperature ``beta``, pass
``beta * log(a)``); every method but ``accurate`` casts it to the dtype of
``x``, so float32 stays float32. The ``accurate`` kernels take the scale as a
double-double ``c + c_lo`` (``c_lo=0.0``: ``c`` is taken as exact). The
public functions require ``c > 0``; here the ``naive``, ``shifted`` and
``lse`` kernels also accept ``c <= 0`` (a softmin, which overflows where
``|c| (max - min)`` does), while the ``online`` merge rule assumes ``c > 0``
and gives NaN otherwise.

Any memory layout works: Numba compiles one version of a kernel per layout of
its array arguments. Only rows with unit stride known at compile time (a
C-contiguous row, such as ``x[r]`` of a C-contiguous 2-D array) get the
vectorized loops the speed figures refer to; other layouts compile to scalar
loops, are several times slower, and may differ from the public functions in
the last bits, because their sums are added in another order. ``out`` must
have the dtype of ``x`` and may be ``x`` itself. Nothing is validated here:
the public functions in :mod:`stable_softmax` do that.

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

from ._methods import ACCURATE, LOG1P, LSE, METHOD_IDS, METHODS, NAIVE, ONLINE, SHIFTED
from .kernels.accurate import (
    log_softmax_accurate_row,
    logsumexp_accurate_row,
    softmax_accurate_row,
)
from .kernels.calculus import (
    cross_entropy,
    cross_entropy_grad,
    cross_entropy_grad_row,
    cross_entropy_row,
    cross_entropy_soft,
    cross_entropy_soft_grad,
    cross_entropy_soft_grad_row,
    cross_entropy_soft_row,
    hardmax,
    hardmax_row,
    inverse_softmax,
    inverse_softmax_row,
    log_softmax_vjp,
    log_softmax_vjp_row,
    softmax_jacobian,
    softmax_jacobian_row,
    softmax_vjp,
    softmax_vjp_row,
)
from .kernels.log_softmax import (
    log_softmax_log1p_row,
    log_softmax_lse_row,
    log_softmax_naive_row,
    log_softmax_online_row,
    log_softmax_rows,
    log_softmax_rows_parallel,
    log_softmax_shifted_row,
)
from .kernels.logsumexp import (
    logsumexp_log1p_row,
    logsumexp_naive_row,
    logsumexp_rows,
    logsumexp_rows_parallel,
    logsumexp_shifted_row,
)
from .kernels.softmax import (
    softmax_lse_row,
    softmax_naive_row,
    softmax_online_row,
    softmax_rows,
    softmax_rows_parallel,
    softmax_shifted_row,
)

#: Method names of each function (ids: :data:`METHOD_IDS`).
SOFTMAX_METHODS = METHODS["softmax"]
LOG_SOFTMAX_METHODS = METHODS["log_softmax"]
LOGSUMEXP_METHODS = METHODS["logsumexp"]

__all__ = [
    "METHOD_IDS",
    "NAIVE",
    "SHIFTED",
    "LSE",
    "ONLINE",
    "LOG1P",
    "ACCURATE",
    "SOFTMAX_METHODS",
    "LOG_SOFTMAX_METHODS",
    "LOGSUMEXP_METHODS",
    "softmax_naive_row",
    "softmax_shifted_row",
    "softmax_lse_row",
    "softmax_online_row",
    "softmax_rows",
    "softmax_rows_parallel",
    "log_softmax_naive_row",
    "log_softmax_shifted_row",
    "log_softmax_lse_row",
    "log_softmax_online_row",
    "log_softmax_log1p_row",
    "log_softmax_rows",
    "log_softmax_rows_parallel",
    "logsumexp_naive_row",
    "logsumexp_shifted_row",
    "logsumexp_log1p_row",
    "logsumexp_rows",
    "logsumexp_rows_parallel",
    # method "accurate": row kernels take an optional low part, (x, out, c, c_lo=0.0)
    "softmax_accurate_row",
    "log_softmax_accurate_row",
    "logsumexp_accurate_row",
    # the softmax calculus (see stable_softmax.kernels.calculus)
    "cross_entropy",
    "cross_entropy_row",
    "cross_entropy_soft",
    "cross_entropy_soft_row",
    "cross_entropy_grad",
    "cross_entropy_grad_row",
    "cross_entropy_soft_grad",
    "cross_entropy_soft_grad_row",
    "hardmax",
    "hardmax_row",
    "inverse_softmax",
    "inverse_softmax_row",
    "log_softmax_vjp",
    "log_softmax_vjp_row",
    "softmax_jacobian",
    "softmax_jacobian_row",
    "softmax_vjp",
    "softmax_vjp_row",
]
