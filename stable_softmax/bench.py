"""``stable-softmax bench``: speed of every softmax method as ratios measured in one run.

Absolute times drift between runs on shared machines, so every figure is a
ratio against baselines timed in the same process, one right after the other:

* ``np.copyto`` of the same array (a memory-bound copy: read n, write n
  elements, the least any out-of-place softmax must do);
* ``scipy.special.softmax`` (when SciPy is installed);
* ``torch.softmax`` on the same buffer, with ``torch.set_num_threads`` equal to
  the Numba thread count (when PyTorch is installed; skipped otherwise).

Each time is the minimum over repeats (the least disturbed run) of a call that
writes into a preallocated output (``out=``) for our kernels and ``np.copyto``;
SciPy and torch allocate their result, as their users do.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SHAPES: tuple[tuple[int, int], ...] = ((4096, 1024), (64, 65536), (4, 4194304))
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Timing:
    shape: tuple[int, int]
    dtype: str
    threads: int
    name: str
    seconds: float


def best_time(call: Callable[[], object], budget: float = 0.3, min_repeats: int = 5) -> float:
    """Minimum wall time of ``call`` over at least ``min_repeats`` runs or ``budget`` seconds."""
    call()  # warm-up: compilation, page faults of the output buffer
    best = float("inf")
    spent = 0.0
    repeats = 0
    while repeats < min_repeats or spent < budget:
        start = time.perf_counter()
        call()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        spent += elapsed
        repeats += 1
    return best


def _optional(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def run(
    shapes=SHAPES,
    dtypes=DTYPES,
    threads=(1, 2),
    methods: tuple[str, ...] | None = None,
    budget: float = 0.3,
) -> list[Timing]:
    """Time every softmax method and the baselines; see the module docstring."""
    import numba

    import stable_softmax as ss

    methods = methods or ss.METHODS["softmax"]
    scipy_special = _optional("scipy.special")
    torch = _optional("torch")
    rng = np.random.default_rng(0)
    timings = []
    for shape in shapes:
        for dtype in dtypes:
            x = rng.normal(0.0, 4.0, shape).astype(dtype)
            out = np.empty_like(x)
            for nthreads in threads:
                numba.set_num_threads(min(nthreads, numba.config.NUMBA_NUM_THREADS))
                calls: dict[str, Callable[[], object]] = {"memcpy": lambda: np.copyto(out, x)}
                if scipy_special is not None:
                    calls["scipy"] = lambda: scipy_special.softmax(x, axis=-1)
                if torch is not None:
                    torch.set_num_threads(nthreads)
                    tx = torch.from_numpy(x)
                    calls["torch"] = lambda tx=tx: torch.softmax(tx, dim=-1)
                for method in methods:
                    calls[method] = lambda m=method: ss.softmax(x, method=m, out=out)
                for name, call in calls.items():
                    timings.append(Timing(shape, dtype, nthreads, name, best_time(call, budget)))
    return timings


def format_table(timings: list[Timing]) -> str:
    """A Markdown table: each method's time and its ratios to the baselines."""
    by_case: dict[tuple, dict[str, float]] = {}
    for t in timings:
        by_case.setdefault((t.shape, t.dtype, t.threads), {})[t.name] = t.seconds
    lines = [
        "| shape | dtype | threads | method | ms | x memcpy | scipy / ours | torch / ours |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    baselines = ("memcpy", "scipy", "torch")
    for (shape, dtype, threads), times in by_case.items():
        for name, seconds in times.items():
            if name in baselines:
                continue
            scipy_ratio = f"{times['scipy'] / seconds:.1f}" if "scipy" in times else "n/a"
            torch_ratio = f"{times['torch'] / seconds:.2f}" if "torch" in times else "n/a"
            lines.append(
                f"| {shape[0]}x{shape[1]} | {dtype} | {threads} | {name} | {seconds * 1e3:.2f} | "
                f"{seconds / times['memcpy']:.2f} | {scipy_ratio} | {torch_ratio} |"
            )
        for name in ("scipy", "torch"):
            if name in times:
                lines.append(
                    f"| {shape[0]}x{shape[1]} | {dtype} | {threads} | *{name}* | {times[name] * 1e3:.2f} | "
                    f"{times[name] / times['memcpy']:.2f} | | |"
                )
    return "\n".join(lines)
