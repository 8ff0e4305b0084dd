"""Throughput of the reference: the fast first step against the pure mpmath path.

Usage: flock /tmp/ss-heavy.lock python scripts/bench_reference.py [--n 65536] [--rows 8]
       [--mpmath-elements 20000]

For softmax, log_softmax and logsumexp rows of gaussian (sigma 3), uniform
(+-8) and spread (sigma 200) logits, float32 and float64, beta 1: elements
per second of ``engine="auto"`` (cold: a fresh cache directory; Numba kernels
loaded before timing), the fraction of elements sent to mpmath, and the
mpmath path's rate measured on a prefix in the same process (one core,
min of 3 runs for the fast step).  Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def families(rng, rows, n):
    yield "gaussian", rng.standard_normal((rows, n)) * 3
    yield "uniform", rng.uniform(-8, 8, (rows, n))
    yield "spread", rng.standard_normal((rows, n)) * 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=65536)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--mpmath-elements", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    os.environ["STABLE_SOFTMAX_REFERENCE_CACHE"] = tempfile.mkdtemp(prefix="bench-reference-")
    import reference

    reference.softmax(np.zeros((1, 4)))  # load (or compile) the kernels before timing
    for kind in ("log_softmax", "logsumexp"):
        getattr(reference, kind)(np.zeros((1, 4)))
    rng = np.random.default_rng(args.seed)
    print(
        "| function | dtype | family | fast step, M elements/s | to mpmath | "
        "mpmath path, k elements/s | speed-up |"
    )
    print("|---|---|---|---|---|---|---|")
    for dtype in (np.float32, np.float64):
        for fam, x in families(rng, args.rows, args.n):
            x = x.astype(dtype)
            for kind in ("softmax", "log_softmax", "logsumexp"):
                fn = getattr(reference, kind)
                best = float("inf")
                for _ in range(3):
                    reference.reset_engine_stats()
                    start = time.perf_counter()
                    fn(x, engine="auto")
                    best = min(best, time.perf_counter() - start)
                sent = reference.engine_stats()["mpmath"]["elements"]
                outputs = x.shape[0] if kind == "logsumexp" else x.size
                fast_rate = x.size / best
                # the mpmath path on rows of the same length, as many as the budget allows
                m = max(1, args.mpmath_elements // x.shape[1])
                start = time.perf_counter()
                fn(x[:m, : min(x.shape[1], args.mpmath_elements)], engine="mpmath")
                slow = time.perf_counter() - start
                slow_rate = min(m * x.shape[1], args.mpmath_elements) / slow
                print(
                    f"| {kind} | {np.dtype(dtype).name} | {fam} | {fast_rate / 1e6:.1f} | "
                    f"{sent}/{outputs} | {slow_rate / 1e3:.0f} | {fast_rate / slow_rate:.0f}x |"
                )


if __name__ == "__main__":
    main()
