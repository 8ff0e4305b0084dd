"""Correctly rounded mpmath reference for softmax, log_softmax and logsumexp.

Every input float (and ``beta``, ``base``) is taken as the exact binary
number it represents; the exact function is evaluated in mpmath with Ziv's
strategy and rounded once to nearest-even in float32 or float64.  A
double-double first step with proven error bounds decides nearly every row
(``engine="auto"``); the rows it leaves go to mpmath, whose results are cached
on disk per row (see :func:`cache_dir`, :func:`cache_info`).
"""

from ._api import exp, log_softmax, logsumexp, softmax
from ._cache import ReferenceCacheWarning, cache_dir, cache_info, clear_cache
from ._calculus import cross_entropy, cross_entropy_grad
from ._engine import engine_stats, reset_engine_stats
from ._exact import MAX_PRECISION, STRATEGY_VERSION, PrecisionLimitError

__all__ = [
    "softmax",
    "log_softmax",
    "logsumexp",
    "exp",
    "cross_entropy",
    "cross_entropy_grad",
    "cache_dir",
    "cache_info",
    "clear_cache",
    "engine_stats",
    "reset_engine_stats",
    "ReferenceCacheWarning",
    "PrecisionLimitError",
    "MAX_PRECISION",
    "STRATEGY_VERSION",
]
