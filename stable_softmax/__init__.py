"""Numerically stable softmax, log_softmax and logsumexp, and tools to measure them.

Public API: :func:`softmax`, :func:`log_softmax`, :func:`logsumexp`,
:data:`METHODS` (the methods of each function) and :mod:`stable_softmax.jit`
(the Numba kernels, callable from your own ``@njit`` code).
"""

from . import jit
from ._api import log_softmax, logsumexp, softmax
from ._calculus import (
    cross_entropy,
    cross_entropy_grad,
    hardmax,
    inverse_softmax,
    log_softmax_vjp,
    softmax_jacobian,
    softmax_vjp,
)
from ._validate import METHODS

__version__ = "0.1.0"

__all__ = [
    "METHODS", "jit", "log_softmax", "logsumexp", "softmax", "__version__",
    "hardmax", "cross_entropy", "cross_entropy_grad", "softmax_jacobian",
    "softmax_vjp", "log_softmax_vjp", "inverse_softmax",
]
