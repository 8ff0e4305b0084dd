"""Concurrency: the kernels called from 8 Python threads at once, and from user
``@njit(parallel=True)`` code, give the bits of serial calls.

Inputs cover the three paths of :func:`stable_softmax._api._run`: small arrays
(serial kernel), many rows (``rows_parallel``, a ``prange`` over rows) and
one long row (the ``split`` kernels). The ``out=`` forms (in place, and an
``out`` overlapping ``x`` in another layout) run under the same load, each
thread on its own buffers. Numba's ``workqueue`` threading layer aborts the
process when two threads launch parallel regions at once; the public
functions serialize their parallel launches under it, checked in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest
from numba import njit, prange

import stable_softmax as ss
from stable_softmax import _api, jit

THREADS = 8
ROUNDS = 1  # the threads start at different calls, so different kernels overlap
FUNCTIONS = ("softmax", "log_softmax", "logsumexp")


def _inputs(dtype) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1234)
    rows_parallel = rng.standard_normal((128, 512)).astype(dtype) * 30
    rows_parallel[3, 7] = np.nan
    rows_parallel[4, :] = -np.inf
    rows_parallel[5, 9] = np.inf
    rows_parallel[6, ::3] = -np.inf
    split = (rng.standard_normal((1, _api.SPLIT_MIN_ELEMENTS + 4097)) * 10).astype(dtype)
    small = (rng.standard_normal((5, 7)) * 100).astype(dtype)
    small[1, 2] = np.float32(np.finfo(np.float32).smallest_subnormal)
    # the layout and size decide the path: check that each input takes the one it is named after
    assert (
        rows_parallel.size >= _api.PARALLEL_MIN_ELEMENTS
        and split.shape[1] >= _api.SPLIT_MIN_ELEMENTS
    )
    return {"small": small, "rows_parallel": rows_parallel, "split": split}


def _calls(x: np.ndarray):
    """``(name, thunk)`` pairs: every function and method, the calculus, the ``out=`` forms."""
    calls = []
    for function in FUNCTIONS:
        for method in ss.METHODS[function]:
            calls.append(
                (f"{function}/{method}", lambda f=function, m=method: getattr(ss, f)(x, method=m))
            )
            if function != "logsumexp":
                calls.append(
                    (
                        f"{function}/{method}/in-place",
                        lambda f=function, m=method: _in_place(f, m, x),
                    )
                )
                calls.append(
                    (
                        f"{function}/{method}/reversed-out",
                        lambda f=function, m=method: _reversed_out(f, m, x),
                    )
                )
        calls.append((f"{function}/axis0", lambda f=function: getattr(ss, f)(x, axis=0, beta=2.0)))
    labels = np.arange(x.shape[0]) % x.shape[1]
    calls.append(("cross_entropy", lambda: ss.cross_entropy(x, labels)))
    calls.append(("cross_entropy_grad", lambda: ss.cross_entropy_grad(x, labels)))
    calls.append(("hardmax", lambda: ss.hardmax(x)))
    p = ss.softmax(x)
    calls.append(("softmax_vjp", lambda: ss.softmax_vjp(p, x)))
    logp = ss.log_softmax(x)
    calls.append(("log_softmax_vjp", lambda: ss.log_softmax_vjp(logp, x)))
    calls.append(("inverse_softmax", lambda: ss.inverse_softmax(p, C=1.5)))
    return calls


def _in_place(function, method, x):
    work = x.copy()
    result = getattr(ss, function)(work, method=method, out=work)
    assert result is work
    return work


def _reversed_out(function, method, x):
    work = x.copy()
    target = work[::-1, ::-1]  # overlaps x in another layout: goes through a temporary
    getattr(ss, function)(work, method=method, out=target)
    return target.copy()


def _same_bits(a, b) -> bool:
    """Bit for bit (so -0 differs from +0), except that every NaN equals every NaN:
    the sign of a NaN is not specified by IEEE 754 arithmetic and may depend on
    how LLVM compiled the surrounding code.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return np.where(np.isnan(a), np.nan, a).tobytes() == np.where(np.isnan(b), np.nan, b).tobytes()


@pytest.mark.parametrize("path", ["small", "rows_parallel", "split"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eight_threads_give_the_serial_bits(path, dtype):
    x = _inputs(dtype)[path]
    snapshot = x.tobytes()
    calls = _calls(x)
    serial = {name: np.asarray(thunk()).copy() for name, thunk in calls}

    def worker(offset: int) -> list[str]:
        wrong = []
        for r in range(ROUNDS):
            # each thread walks the calls from another starting point, so
            # different kernels and paths overlap in time
            for i in range(len(calls)):
                name, thunk = calls[(i + offset * 7 + r) % len(calls)]
                if not _same_bits(thunk(), serial[name]):
                    wrong.append(name)
        return wrong

    with ThreadPoolExecutor(THREADS) as pool:
        wrong = [name for names in pool.map(worker, range(THREADS)) for name in names]
    assert not wrong, (
        f"results differ from the serial ones under {THREADS} threads: {sorted(set(wrong))}"
    )
    assert x.tobytes() == snapshot


@pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2, reason="Numba has one thread here: nothing runs in parallel"
)
def test_threading_layer_is_threadsafe_here():
    """The layer Numba picked for the parallel kernels (omp here; tbb is also safe)."""
    ss.softmax(_inputs(np.float32)["rows_parallel"])
    # After a parallel launch the API has recorded whether the layer Numba chose
    # may be entered from several Python threads at once: omp and tbb may,
    # workqueue aborts the process, so launches must then stay serialized.
    assert _api._layer_threadsafe is (numba.threading_layer() in ("omp", "tbb"))


# User code: the kernels from @njit(parallel=True), alone and from 8 threads.


@njit(parallel=True)
def user_rows(rows_kernel, x, out, c, method):
    """User code: one of ``jit.<function>_rows`` on each row, rows spread over threads."""
    for r in prange(x.shape[0]):
        rows_kernel(x[r : r + 1], out[r : r + 1], c, method)
    return out


@njit(parallel=True)
def user_calculus(x, labels):
    grad = np.empty_like(x)
    hard = np.empty_like(x)
    for r in prange(x.shape[0]):
        jit.cross_entropy_grad_row(x[r], labels[r], grad[r], 1.0)
        jit.hardmax_row(x[r], hard[r])
    return grad, hard


USER = {
    "softmax": jit.softmax_rows,
    "log_softmax": jit.log_softmax_rows,
    "logsumexp": jit.logsumexp_rows,
}
METHOD_LISTS = {
    "softmax": jit.SOFTMAX_METHODS,
    "log_softmax": jit.LOG_SOFTMAX_METHODS,
    "logsumexp": jit.LOGSUMEXP_METHODS,
}


@pytest.mark.parametrize("dtype", [np.float32])  # float64: same code, another 10 s of compilation
def test_user_parallel_code_gives_the_public_bits_under_threads(dtype):
    x = _inputs(dtype)["rows_parallel"]
    expected = {}
    jobs = []
    for function, rows_kernel in USER.items():
        shape = x.shape[:1] if function == "logsumexp" else x.shape
        for method in METHOD_LISTS[function]:
            method_id = jit.METHOD_IDS[method]
            expected[(function, method)] = getattr(ss, function)(x, method=method)
            jobs.append(
                (
                    function,
                    method,
                    lambda k=rows_kernel, s=shape, i=method_id: user_rows(
                        k, x, np.empty(s, x.dtype), x.dtype.type(1.0), i
                    ),
                )
            )
    labels = np.arange(x.shape[0]) % x.shape[1]
    expected[("calculus", "")] = (ss.cross_entropy_grad(x, labels), ss.hardmax(x))
    jobs.append(("calculus", "", lambda: user_calculus(x, labels)))
    # serial (compiles) first, then the same calls from 8 threads at once
    for function, method, thunk in jobs:
        got, want = thunk(), expected[(function, method)]
        if function == "calculus":
            assert all(_same_bits(g, w) for g, w in zip(got, want))
        else:
            assert _same_bits(got, want), (function, method)

    def worker(offset):
        bad = []
        for i in range(len(jobs)):
            function, method, thunk = jobs[(i + offset) % len(jobs)]
            got, want = thunk(), expected[(function, method)]
            pairs = zip(got, want) if function == "calculus" else [(got, want)]
            if not all(_same_bits(g, w) for g, w in pairs):
                bad.append((function, method))
        return bad

    with ThreadPoolExecutor(THREADS) as pool:
        bad = [b for result in pool.map(worker, range(THREADS)) for b in result]
    assert not bad


_WORKQUEUE_SCRIPT = textwrap.dedent(
    """
    import numba, numpy as np
    from concurrent.futures import ThreadPoolExecutor
    import stable_softmax as ss
    from stable_softmax import _api

    x = np.random.default_rng(0).standard_normal((256, 1024)).astype(np.float32)
    long_row = (
        np.random.default_rng(1).standard_normal((1, _api.SPLIT_MIN_ELEMENTS)).astype(np.float32)
    )

    def work(i):
        # the first parallel launches happen here, from 8 threads at once
        return [(ss.softmax(x).tobytes(), ss.logsumexp(long_row).tobytes()) for _ in range(10)]

    with ThreadPoolExecutor(8) as pool:
        results = [r for rs in pool.map(work, range(8)) for r in rs]
    serial = (ss.softmax(x).tobytes(), ss.logsumexp(long_row).tobytes())
    assert numba.threading_layer() == "workqueue", numba.threading_layer()
    assert all(r == serial for r in results)
    print("ok", len(results))
    """
)


def test_workqueue_layer_does_not_abort_under_threads():
    """Without the lock in ``_api._parallel_launch`` this process aborts with
    "Numba workqueue threading layer is terminating: Concurrent access has been detected".
    """
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue", NUMBA_NUM_THREADS="2")
    proc = subprocess.run(
        [sys.executable, "-c", _WORKQUEUE_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ok 80")
