"""Numerically stable softmax, log_softmax and logsumexp, and tools to measure them.

Public API: :func:`softmax`, :func:`log_softmax`, :func:`logsumexp`,
:data:`METHODS` (the methods of each function), the softmax calculus
(:func:`hardmax`, :func:`cross_entropy`, :func:`cross_entropy_grad`,
:func:`softmax_jacobian`, :func:`softmax_vjp`, :func:`log_softmax_vjp`,
:func:`inverse_softmax`) and :mod:`stable_softmax.jit` (the Numba kernels,
callable from your own ``@njit`` code). The correctly rounded reference is the
separate top-level package :mod:`reference`.
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
from ._methods import METHODS

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "jit",
    "log_softmax",
    "logsumexp",
    "softmax",
    "__version__",
    "hardmax",
    "cross_entropy",
    "cross_entropy_grad",
    "softmax_jacobian",
    "softmax_vjp",
    "log_softmax_vjp",
    "inverse_softmax",
]
