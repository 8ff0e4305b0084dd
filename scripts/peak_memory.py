"""Peak memory of softmax on a 256 MiB float32 array: input + output + how much more.

Usage: python scripts/peak_memory.py [--layout rows|row] [--method shifted] [--dtype float32]

``rows`` is 65536 x 1024 (the row-parallel path), ``row`` one row of 2^26
elements (the split path). The input is generated in chunks so that nothing
but the input exists when the measurement starts; the kernels and parallel
paths are compiled (or loaded) first. The growth of the process's peak
resident set during the call is compared with the output's size.
"""

from __future__ import annotations

import argparse
import resource

import numpy as np

import stable_softmax as ss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=("rows", "row"), default="rows")
    parser.add_argument("--method", default="shifted", choices=ss.METHODS["softmax"])
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    elements = (256 << 20) // dtype.itemsize
    shape = (elements // 1024, 1024) if args.layout == "rows" else (1, elements)
    for warm in (
        np.ones((4, 8), dtype),
        np.ones((2, 1 << 17), dtype),
        np.ones((1, 1 << 18), dtype),
    ):
        ss.softmax(warm, method=args.method)
    x = np.empty(shape, dtype)
    flat = x.reshape(-1)
    rng = np.random.default_rng(0)
    chunk = 1 << 20
    for start in range(0, flat.size, chunk):
        flat[start : start + chunk] = rng.standard_normal(
            min(chunk, flat.size - start), dtype=np.float32
        )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = ss.softmax(x, method=args.method)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    extra = grown - out.nbytes
    print(
        f"softmax {args.method} {args.dtype} {shape[0]}x{shape[1]}: "
        f"input {x.nbytes / 2**20:.0f} MiB, output {out.nbytes / 2**20:.0f} MiB, "
        f"peak grew by {grown / 2**20:.1f} MiB (beyond the output: {extra / 2**20:+.1f} MiB = "
        f"{100 * extra / (x.nbytes + out.nbytes):+.2f}% of input + output)"
    )


if __name__ == "__main__":
    main()
