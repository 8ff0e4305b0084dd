"""What a correctly rounded reference changes when measuring low-precision softmax.

Blanchard, Higham & Higham (2021) measured simulated fp16/bf16 softmax against
an fp32 run of the same algorithm. This script measures the same simulated
pipelines twice: against that fp32 run (rounded to the storage format, as a
user would compare) and against ``reference.softmax(..., dtype=storage)``, the
exact softmax rounded once to the storage format, and prints, per pipeline and
method, the mean and max error in ULPs of the storage format, the mean signed
error (bias) and the share of elements where the two yardsticks disagree.

Usage (moderate: a few seconds of mpmath per configuration)::

    flock /tmp/ss-heavy.lock python scripts/lowprec_reference_matters.py [--rows 64 --n 256]
"""

from __future__ import annotations

import argparse

import numpy as np

import reference
from stable_softmax.floatbits import to_ordinal, ulp_distance
from stable_softmax.formats import FORMATS
from stable_softmax.lowprec.pipeline import Pipeline, simulate

PIPELINES = [
    ("float16", "float16", "float16"),
    ("float16", "float16", "float32"),
    ("bfloat16", "bfloat16", "bfloat16"),
    ("bfloat16", "bfloat16", "float32"),
]


def signed_ulps(result: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return (to_ordinal(result) - to_ordinal(ref)).astype(np.float64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--sigma", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--block", type=int, default=32, help="block size of the online method")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print(
        f"gaussian logits, sigma {args.sigma}, {args.rows} rows x n = {args.n}; errors in ULPs "
        f"of the storage format; online block {args.block}"
    )
    print(
        "| storage/compute/accumulate | method | vs fp32 run: mean, max | "
        "vs correctly rounded: mean, max | bias vs exact | elements judged differently | "
        "fp32 run != correctly rounded |"
    )
    print("|---|---|---|---|---|---|---|")
    for storage, compute, acc in PIPELINES:
        dtype = FORMATS[storage].dtype
        x = (rng.standard_normal((args.rows, args.n)) * args.sigma).astype(dtype)
        exact = reference.softmax(x)
        for method in ("shifted", "online"):
            kw = {"method": method, "block": args.block}
            got = simulate("softmax", x, pipeline=Pipeline(storage, compute, acc), **kw)
            run32 = simulate("softmax", x, pipeline=Pipeline(storage, "float32", "float32"), **kw)
            d32 = ulp_distance(got, run32)
            dex = ulp_distance(got, exact)
            bias = signed_ulps(got, exact).mean()
            differ = np.mean(d32 != dex)
            print(
                f"| {storage}/{compute}/{acc} | {method} | {d32.mean():.3f}, {d32.max():.0f} | "
                f"{dex.mean():.3f}, {dex.max():.0f} | {bias:+.3f} | {100 * differ:.2f}% | "
                f"{100 * np.mean(run32 != exact):.3f}% |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
