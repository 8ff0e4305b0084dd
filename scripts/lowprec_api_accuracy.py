"""Error of the default low-precision path against the correctly rounded reference.

For each narrow format, function and method: ``ss.<function>(x)`` on rows of
gaussian logits stored in the format (widened to float32, float32 kernel,
rounded once) against ``reference.<function>(x, dtype=format)``, in ULPs of
the format: max, mean and the fraction of elements not correctly rounded.

Usage (long: run under the team lock)::

    flock /tmp/ss-heavy.lock python scripts/lowprec_api_accuracy.py [--rows 64 --n 1024]
"""

from __future__ import annotations

import argparse

import numpy as np

import reference
import stable_softmax as ss
from stable_softmax.floatbits import ulp_distance
from stable_softmax.formats import FORMATS

NAMES = ("float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--sigma", type=float, default=3.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"rows {args.rows} x n {args.n}, gaussian sigma {args.sigma}")
    print("| format | function | method: max ULP / mean ULP / % not correctly rounded |")
    print("| --- | --- | --- |")
    for name in NAMES:
        dtype = FORMATS[name].dtype
        x = rng.normal(0.0, args.sigma, (args.rows, args.n)).astype(dtype)
        for function in ss.METHODS:
            ref = getattr(reference, function)(x, dtype=dtype)
            cells = []
            for method in ss.METHODS[function]:
                u = ulp_distance(getattr(ss, function)(x, method=method), ref).astype(float)
                cells.append(
                    f"{method} {u.max():.0f} / {u.mean():.4f} / {100 * (u > 0).mean():.3f}%"
                )
            print(f"| {name} | {function} | {'; '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
