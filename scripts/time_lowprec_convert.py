"""Cost of the planned default low-precision path: convert to float32, kernel, round once.

For each narrow format, times (in one process, interleaved, best of
``--repeat``) the float32 softmax kernel on an array and the two NumPy /
ml_dtypes conversions around it (``x.astype(float32)`` exact, the result's
``astype(format)`` rounding once), and prints them as ratios to the kernel.
The issue's target for the default path is at most 1.5x the kernel.

Usage (a benchmark: run under the team lock)::

    flock /tmp/ss-heavy.lock python scripts/time_lowprec_convert.py [--shape 1024x1024]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import stable_softmax as ss
from stable_softmax.formats import FORMATS

NAMES = ["float16", "bfloat16", "float8_e5m2", "float8_e4m3fn"]


def best(f, repeat: int) -> float:
    t = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - start)
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="1024x1024")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    rows, n = (int(v) for v in args.shape.split("x"))
    x32 = np.random.default_rng(0).standard_normal((rows, n)).astype(np.float32)
    y32 = ss.softmax(x32)
    print(
        f"shape {rows}x{n}; times as ratios to the float32 softmax kernel (best of {args.repeat})"
    )
    print("| format | kernel | upcast | downcast | convert + kernel + round |")
    print("|---|---|---|---|---|")
    for name in NAMES:
        dtype = FORMATS[name].dtype
        x = x32.astype(dtype)
        kernel = up = down = np.inf
        for _ in range(3):  # interleave the three timings
            kernel = min(kernel, best(lambda: ss.softmax(x32), args.repeat))
            up = min(up, best(lambda x=x: x.astype(np.float32), args.repeat))
            down = min(down, best(lambda d=dtype: y32.astype(d), args.repeat))
        print(
            f"| {name} | 1 ({kernel * 1e3:.2f} ms) | {up / kernel:.2f} | {down / kernel:.2f} | "
            f"{(kernel + up + down) / kernel:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
