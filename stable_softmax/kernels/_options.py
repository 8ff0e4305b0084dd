"""The one place that holds the Numba compilation options of every kernel.

Why these options:

* ``cache=True``: compiled machine code is stored next to the source, so a
  fresh process loads it instead of recompiling. Numba falls back to
  ``$NUMBA_CACHE_DIR`` and then to a user-wide cache directory when the
  package directory is not writable; when none of them is (a read-only
  install with no writable home), :func:`kernel` compiles without a cache
  instead of failing at import, and warns once (:class:`KernelCacheWarning`).
* ``nogil=True``: kernels release the GIL, so Python threads run them
  concurrently.
* ``error_model="numpy"``: a float division by zero gives ``inf``/``nan`` as
  IEEE 754 says, instead of raising ``ZeroDivisionError`` as Python does.
  The special-value semantics of the package rely on it.
* ``fastmath``: empty. The ``nnan``/``ninf`` flags (part of Numba's all-flags
  fastmath setting) would let LLVM assume no NaN or inf ever appears and break
  the special-value table; ``arcp`` would replace the correctly rounded
  division by a reciprocal multiply and ``nsz`` would drop signed zeros. Only
  flags that reorder or fuse arithmetic (``reassoc``, ``contract``) are
  enabled, per kernel through :func:`kernel`, where they were measured to be
  safe.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from numba import njit

#: Options shared by every kernel.
JIT_OPTIONS: dict[str, Any] = {
    "cache": True,
    "nogil": True,
    "error_model": "numpy",
}

#: The only fastmath flags a kernel may ask for: they let LLVM reorder and fuse
#: floating-point operations (vectorized sums, FMA) but keep inf/NaN semantics.
SAFE_FASTMATH = frozenset({"reassoc", "contract"})


class KernelCacheWarning(UserWarning):
    """No writable Numba cache location: kernels are compiled in memory in each process."""


#: Set once Numba has found no writable cache location; later kernels then
#: compile without asking again (one warning per process).
_cache_unavailable = False


def _compile(f: Callable, options: dict[str, Any]) -> Callable:
    """``njit(**options)(f)``, without the cache when Numba has nowhere to write it."""
    global _cache_unavailable
    if options.get("cache") and not _cache_unavailable:
        try:
            return njit(**options)(f)
        except RuntimeError as err:
            # numba.core.caching raises this when no cache locator (package
            # __pycache__, NUMBA_CACHE_DIR, user-wide cache) is writable.
            if "no locator available" not in str(err):
                raise
            _cache_unavailable = True
            warnings.warn(
                f"stable_softmax: Numba cannot cache compiled kernels ({err}); they are compiled in "
                "memory at first use in each process. Set NUMBA_CACHE_DIR to a writable directory "
                "to keep them.",
                KernelCacheWarning,
                stacklevel=2,
            )
    return njit(**dict(options, cache=False))(f)


def kernel(
    fn: Callable | None = None,
    *,
    fastmath: frozenset[str] | set[str] = frozenset(),
    parallel: bool = False,
    inline: bool = False,
) -> Callable:
    """Compile ``fn`` with the package's jit options.

    Parameters
    ----------
    fn : callable, optional
        The Python function to compile. When omitted, returns a decorator.
    fastmath : set of str, optional
        Subset of :data:`SAFE_FASTMATH`. Anything else (``nnan``, ``ninf``,
        ``afn``, ``True``) is refused because it breaks inf/NaN handling.
    parallel : bool, optional
        Compile with ``parallel=True`` so ``numba.prange`` loops run on threads.
    inline : bool, optional
        Inline ``fn`` into its callers at the Numba IR level
        (``inline="always"``); it is then compiled, and cached, with each
        caller rather than on its own.
    """
    flags = frozenset(fastmath)
    unsafe = flags - SAFE_FASTMATH
    if unsafe:
        raise ValueError(
            f"fastmath flags {sorted(unsafe)} are not allowed; "
            f"use a subset of {sorted(SAFE_FASTMATH)}"
        )
    options = dict(JIT_OPTIONS, parallel=parallel)
    if inline:
        options.update(inline="always", cache=False)
    if flags:
        options["fastmath"] = set(flags)

    def decorate(f: Callable) -> Callable:
        return _compile(f, options)

    return decorate if fn is None else decorate(fn)
