"""Time the reference on one row of 100,000 float64 logits with a cold cache.

Usage: python scripts/time_reference.py [--n N] [--function softmax|log_softmax|logsumexp]
       [--engine auto|mpmath]

The cache is pointed at a fresh temporary directory, so the figure printed
is the cost of the exact evaluation itself, not of a cache hit.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument(
        "--function", default="softmax", choices=["softmax", "log_softmax", "logsumexp"]
    )
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--engine", default="auto", choices=["auto", "mpmath"])
    args = parser.parse_args()
    x = np.random.default_rng(args.seed).standard_normal(args.n)
    with tempfile.TemporaryDirectory() as cold:
        os.environ["STABLE_SOFTMAX_REFERENCE_CACHE"] = cold
        import reference

        fn = getattr(reference, args.function)
        if args.engine == "auto":
            fn(x[:4], engine="auto")  # load the Numba kernels first
        start = time.perf_counter()
        fn(x, engine=args.engine)
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        fn(x, engine=args.engine)
        warm_s = time.perf_counter() - start
    print(
        f"reference.{args.function}, 1 row of {args.n} float64 gaussian logits (seed {args.seed}), "
        f"engine {args.engine}"
    )
    print(f"cold cache: {cold_s:.2f} s")
    print(f"warm cache: {warm_s:.3f} s")


if __name__ == "__main__":
    main()
