"""The ``stable-softmax`` command line (also ``python -m stable_softmax``)."""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _demo(args: argparse.Namespace) -> int:
    """Print naive vs shifted vs lse softmax at logits around the overflow edges."""
    import stable_softmax as ss

    rows = {
        np.float32: [[2, 4, 2, 1], [88, 0], [89, 0], [-104, -105], [1e4, 0]],
        np.float64: [[2, 4, 2, 1], [709, 0], [710, 0], [-745, -746], [1e4, 0]],
    }
    np.set_printoptions(precision=4, linewidth=120)
    for dtype, cases in rows.items():
        print(f"--- {dtype.__name__} (ln max = {np.log(np.finfo(dtype).max):.4f})")
        for row in cases:
            x = np.array(row, dtype=dtype)
            cells = [f"{m}={ss.softmax(x, method=m)}" for m in ss.METHODS["softmax"]]
            print(f"softmax({row}): " + "  ".join(cells))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stable-softmax", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="naive vs shifted vs lse softmax at extreme logits")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"])
    with np.errstate(all="ignore"):
        return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
