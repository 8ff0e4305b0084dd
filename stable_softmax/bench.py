"""``stable-softmax bench``: speed of every softmax method as ratios measured in one run.

Absolute times drift between runs on shared machines, so every figure is a
ratio against baselines timed in the same process, one right after the other:

* ``np.copyto`` of the same array (a memory-bound copy: read n, write n
  elements, the least any out-of-place softmax must do);
* peers, each when installed (one line says which were skipped):
  ``scipy.special.softmax``; ``torch.softmax`` with ``torch.set_num_threads``
  equal to the thread count; ONNX Runtime's ``Softmax`` operator (a one-node
  model, :func:`stable_softmax.implementations.peers.onnx_model_bytes`, with
  ``intra_op_num_threads`` equal to the thread count and IO binding into a
  preallocated output); ``jax.nn.softmax`` under ``jax.jit`` with XLA's CPU
  threading turned off (``XLA_FLAGS``, set before JAX is first imported, so
  JAX runs on one thread in every row of the table).

float16 and bfloat16 rows (the default low-precision path) have torch as
their only peer (a CPU tensor of that dtype); the other peers run float32 and
float64 only.

Each time is the minimum over repeats (the least disturbed run), the
implementations of one case taking turns in :data:`ROUNDS` rounds
(:func:`best_times`), so that a slow spell of a shared machine falls on all
of them rather than on whichever ran during it. Our kernels
and ``np.copyto`` write into a preallocated output (``out=``), as does ONNX
Runtime; SciPy, torch and JAX allocate their result, as their users do.
One-thread runs are pinned to one core where the OS allows it.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .formats import format_of

SHAPES: tuple[tuple[int, int], ...] = ((4096, 1024), (64, 65536), (4, 4194304))
DTYPES = ("float32", "float64", "float16", "bfloat16")
#: Narrow dtypes (the default path: float32 kernel between fused conversions);
#: their only peer is torch, whose CPU softmax takes float16 and bfloat16 tensors.
NARROW_DTYPES = ("float16", "bfloat16")
#: Peers in the order of the table's columns.
PEERS = ("scipy", "torch", "onnxruntime", "jax")
#: XLA options that keep JAX's CPU backend on the calling thread.
_XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


@dataclass(frozen=True)
class Timing:
    """Best wall time of one implementation on one case (shape, dtype, threads)."""

    shape: tuple[int, int]
    dtype: str
    threads: int
    name: str
    seconds: float


#: Rounds in which the implementations of one case take turns (see :func:`best_times`).
ROUNDS = 10
#: Seconds of rest after each turn (spinning worker threads go to sleep).
PAUSE = 0.005


def best_times(
    calls: dict[str, Callable[[], object]], budget: float = 0.3, rounds: int = ROUNDS
) -> dict[str, float]:
    """Minimum wall time of each call, the calls taking turns.

    Each call first runs once (compilation, page faults of the output
    buffer), then ``rounds`` times in turn for ``budget / rounds`` seconds
    (at least one run each time): about ``budget`` seconds per call in all,
    as one block per call would take, but spread over the whole measurement.
    A pause of :data:`PAUSE` seconds follows each turn: worker threads that
    spin-wait after a parallel call (ONNX Runtime's pool, OpenMP's team) must
    not take a core from the next implementation.
    """
    for call in calls.values():
        call()
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for name, call in calls.items():
            spent = 0.0
            while spent < budget / rounds or spent == 0.0:
                start = time.perf_counter()
                call()
                elapsed = time.perf_counter() - start
                best[name] = min(best[name], elapsed)
                spent += elapsed
            time.sleep(PAUSE)
    return best


def _optional(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _import_jax():
    """JAX with XLA's CPU threading off, or None when JAX is not installed.

    The flags only take effect if JAX was not imported before; then a warning
    line says the JAX column may use more than one thread.
    """
    if "jax" not in sys.modules:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _XLA_ONE_THREAD).strip()
    elif _XLA_ONE_THREAD not in os.environ.get("XLA_FLAGS", ""):
        print("bench: jax was imported before XLA threading could be turned off", file=sys.stderr)
    return _optional("jax")


@contextmanager
def _pinned(threads: int):
    """Pin the process to one core while ``threads == 1`` (where the OS supports it)."""
    getter = getattr(os, "sched_getaffinity", None)
    if threads != 1 or getter is None:
        yield
        return
    cpus = getter(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cpus)


def _onnxruntime_call(ort, x: np.ndarray, out: np.ndarray, threads: int) -> Callable[[], object]:
    """ONNX Runtime's Softmax over the last axis of ``x``, writing into ``out``."""
    from .implementations.peers import onnx_model_bytes

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(
        onnx_model_bytes("softmax", str(x.dtype)), options, providers=["CPUExecutionProvider"]
    )
    binding = session.io_binding()
    binding.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy(x))
    binding.bind_ortvalue_output("y", ort.OrtValue.ortvalue_from_numpy(out))
    return lambda: session.run_with_iobinding(binding)


def _jax_call(jax, x: np.ndarray) -> Callable[[], object]:
    """``jax.nn.softmax`` under ``jax.jit`` on a device copy of ``x`` (float64 via enable_x64)."""
    import jax.numpy as jnp

    fn = jax.jit(lambda a: jax.nn.softmax(a, axis=-1))
    if x.dtype == np.float32:
        xj = jnp.asarray(x)
        return lambda: fn(xj).block_until_ready()
    x64 = jax.enable_x64

    with x64(True):
        xj = jnp.asarray(x)

    def call():
        with x64(True):
            return fn(xj).block_until_ready()

    return call


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
    peers = {
        "scipy": _optional("scipy.special"),
        "torch": _optional("torch"),
        "onnxruntime": _optional("onnxruntime"),
        "jax": _import_jax(),
    }
    missing = [name for name, module in peers.items() if module is None]
    if missing:
        print(f"bench: not installed, skipped: {', '.join(missing)}", file=sys.stderr)
    rng = np.random.default_rng(0)
    timings = []
    for shape in shapes:
        for dtype in dtypes:
            x = rng.normal(0.0, 4.0, shape).astype(format_of(dtype).dtype)
            narrow = dtype in NARROW_DTYPES
            out = np.empty_like(x)
            peer_out = np.empty_like(x)
            for nthreads in threads:
                numba.set_num_threads(min(nthreads, numba.config.NUMBA_NUM_THREADS))
                calls: dict[str, Callable[[], object]] = {
                    "memcpy": lambda x=x, out=out: np.copyto(out, x)
                }
                for method in methods:
                    calls[method] = lambda m=method, x=x, out=out: ss.softmax(x, method=m, out=out)
                if peers["scipy"] is not None and not narrow:
                    calls["scipy"] = lambda x=x, sp=peers["scipy"]: sp.softmax(x, axis=-1)
                if peers["torch"] is not None:
                    torch = peers["torch"]
                    torch.set_num_threads(nthreads)
                    tx = torch.from_numpy(x.astype(np.float32) if narrow else x)
                    tx = tx.to(getattr(torch, dtype))
                    calls["torch"] = lambda tx=tx, t=torch: t.softmax(tx, dim=-1)
                if peers["jax"] is not None and not narrow:
                    calls["jax"] = _jax_call(peers["jax"], x)
                if peers["onnxruntime"] is not None and not narrow:
                    # Last in each round: its pool threads may spin after its runs.
                    calls["onnxruntime"] = _onnxruntime_call(
                        peers["onnxruntime"], x, peer_out, nthreads
                    )
                with _pinned(nthreads):
                    for name, seconds in best_times(calls, budget).items():
                        timings.append(Timing(shape, dtype, nthreads, name, seconds))
    return timings


def format_table(timings: list[Timing]) -> str:
    """A Markdown table: each time, its multiple of ``np.copyto``, each peer's time over ours."""
    by_case: dict[tuple, dict[str, float]] = {}
    for t in timings:
        by_case.setdefault((t.shape, t.dtype, t.threads), {})[t.name] = t.seconds
    present = [p for p in PEERS if any(p in times for times in by_case.values())]
    lines = [
        "| shape | dtype | threads | method | ms | x memcpy | "
        + " | ".join(f"{p} / ours" for p in present)
        + " |",
        "| --- | --- | --- | --- | ---: | ---: |" + " ---: |" * len(present),
    ]
    for (shape, dtype, threads), times in by_case.items():
        case = f"| {shape[0]}x{shape[1]} | {dtype} | {threads}"
        for name, seconds in times.items():
            if name == "memcpy" or name in PEERS:
                continue
            ratios = [f"{times[p] / seconds:.2f}" if p in times else "n/a" for p in present]
            lines.append(
                f"{case} | {name} | {seconds * 1e3:.2f} | {seconds / times['memcpy']:.2f} | "
                + " | ".join(ratios)
                + " |"
            )
        for name in present:
            if name in times:
                lines.append(
                    f"{case} | *{name}* | {times[name] * 1e3:.2f} | "
                    f"{times[name] / times['memcpy']:.2f} |" + " |" * len(present)
                )
    return "\n".join(lines)
