"""Engine choice and statistics: the fast first step, then mpmath where it cannot decide.

``engine="auto"`` (the default) runs :mod:`reference._fast` on every row and
sends the rows it cannot decide to the mpmath path (``reference._exact``,
through the on-disk cache); ``engine="mpmath"`` sends every row there, as
before the fast step existed.  Both give the same bits: the fast step only
returns a value once its proven error interval rounds to a single float.
The default comes from ``$STABLE_SOFTMAX_REFERENCE_ENGINE`` (read at each
call).  Numba is imported, and the kernels compiled or loaded, at the first
``auto`` call, not at ``import reference``.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["ENGINES", "ENV_VAR", "resolve", "engine_stats", "reset_engine_stats", "count"]

ENV_VAR = "STABLE_SOFTMAX_REFERENCE_ENGINE"
ENGINES = ("auto", "mpmath")

_lock = threading.Lock()
_stats = {
    "fast": {"elements": 0, "seconds": 0.0, "undecided": 0},
    "mpmath": {"elements": 0, "seconds": 0.0, "rows": 0},
}


def resolve(engine: str | None) -> str:
    """The engine to use: ``engine``, else ``$STABLE_SOFTMAX_REFERENCE_ENGINE``, else "auto"."""
    if engine is None:
        env = os.environ.get(ENV_VAR, "")
        if env and env not in ENGINES:
            raise ValueError(
                f"{ENV_VAR}={env!r} is not an engine; set it to one of {', '.join(ENGINES)} "
                "or unset it"
            )
        return env or "auto"
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}; got {engine!r}")
    return engine


def count(step: str, elements: int, seconds: float, **more: int) -> None:
    """Add ``elements`` decided by ``step`` ("fast" or "mpmath") in ``seconds``.

    ``more``: the step's other counters (``undecided=`` for "fast",
    ``rows=`` for "mpmath"), added likewise.
    """
    with _lock:
        _stats[step]["elements"] += int(elements)
        _stats[step]["seconds"] += float(seconds)
        for key, value in more.items():
            _stats[step][key] += int(value)


def engine_stats() -> dict[str, dict[str, float]]:
    """Elements decided by each step and the time spent in it, since start or the last reset.

    Returns
    -------
    dict
        ``{"fast": {"elements": int, "seconds": float, "undecided": int},
        "mpmath": {"elements": int, "seconds": float, "rows": int}}``.
        ``fast`` counts the output elements the first step decided, its
        time (including rows it then handed over) and the elements it could
        not decide (error interval across a rounding boundary); ``mpmath``
        counts the output elements of the rows sent to the mpmath path
        (whole rows: one undecided element sends its row), the rows (for
        ``exp``: the elements) and its time, cache hits included.  Per
        process; threads add up.
    """
    with _lock:
        return {step: dict(values) for step, values in _stats.items()}


def reset_engine_stats() -> None:
    """Set every count of :func:`engine_stats` back to zero."""
    with _lock:
        for values in _stats.values():
            for key in values:
                values[key] = 0.0 if key == "seconds" else 0


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False
