"""What a correctly rounded reference changes when measuring low-precision softmax.

Blanchard, Higham & Higham (2021) measured simulated fp16/bf16 softmax against
an fp32 run of the same algorithm. This script measures the same simulated
pipelines twice: against that fp32 run (rounded to the storage format, as a
user would compare) and against ``reference.softmax(..., dtype=storage)``, the
exact softmax rounded once to the storage format, and prints, per pipeline and
method, the mean and max error in ULPs of the storage format, the mean signed
error (bias) against each yardstick and the share of elements where the two
yardsticks disagree. The computation is
:func:`stable_softmax.accuracy.lowprec_report.reference_matters`, the same
function as the section "What a certified reference changes" of
``stable-softmax report --pipelines ...``.

Usage (moderate: a few seconds of mpmath per configuration)::

    flock /tmp/ss-heavy.lock python scripts/lowprec_reference_matters.py [--rows 64 --n 256]
"""

from __future__ import annotations

import argparse

from stable_softmax.accuracy.lowprec_report import reference_matters

PIPELINES = [
    ("float16", "float16", "float16"),
    ("float16", "float16", "float32"),
    ("bfloat16", "bfloat16", "bfloat16"),
    ("bfloat16", "bfloat16", "float32"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--sigma", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--block", type=int, default=32, help="block size of the online method")
    args = parser.parse_args(argv)
    print(
        f"gaussian logits, sigma {args.sigma}, {args.rows} rows x n = {args.n}; errors in ULPs "
        f"of the storage format; online block {args.block}"
    )
    print(
        "| storage/compute/accumulate | method | vs fp32 run: mean, max | "
        "vs correctly rounded: mean, max | bias vs fp32 run | bias vs exact | "
        "elements judged differently | fp32 run != correctly rounded |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = reference_matters(
        PIPELINES, rows=args.rows, n=args.n, sigma=args.sigma, seed=args.seed, block=args.block
    )
    for r in rows:
        print(
            f"| {r['pipeline'].replace(':', '/')} | {r['method']} | "
            f"{r['vs_fp32_mean']:.3f}, {r['vs_fp32_max']:.0f} | "
            f"{r['vs_exact_mean']:.3f}, {r['vs_exact_max']:.0f} | {r['bias_fp32']:+.3f} | "
            f"{r['bias_exact']:+.3f} | {100 * r['judged_differently']:.2f}% | "
            f"{100 * r['fp32_run_not_cr']:.3f}% |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
