"""Sweep method="accurate" over the hard input families and print its worst error in ULPs.

For every function x dtype, the largest ordinal distance (ULPs) between
``method="accurate"`` and the correctly rounded reference over cells of the
report's families (gaussian, uniform, spike, ties, spread, edges, llm), row
lengths up to 262,144, logit scales to 1e4, beta to 1e6 and bases 2, e, 3, 4
and 10, next to the worst error of ``shifted`` on the same inputs. Also prints
how many elements were not correctly rounded.

    python scripts/check_accurate.py [--quick] [--seed N]

``--quick`` drops the rows longer than 4096. Reference results are cached (see
``reference.cache_dir()``), so a second run is fast.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import reference
import stable_softmax as ss
from stable_softmax.accuracy.families import make_inputs
from stable_softmax.accuracy.grids import DTYPES, GRIDS, points
from stable_softmax.accuracy.metrics import ulp_distance

FUNCTIONS = ("softmax", "log_softmax", "logsumexp")
#: The hard cases: the grid ``accurate`` of :mod:`stable_softmax.accuracy.grids`.
GRID = GRIDS["accurate"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="rows of at most 4096 elements")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    worst = {(f, d, m): 0.0 for f in FUNCTIONS for d in DTYPES for m in ("accurate", "shifted")}
    where = {}
    elements = {(f, d): 0 for f in FUNCTIONS for d in DTYPES}
    not_cr = dict(elements)
    start = time.perf_counter()
    count = 0
    for point in points(GRID, max_n=4096 if args.quick else None):
        beta, base = point.beta, point.base_arg
        for dtype in DTYPES:
            x = make_inputs(
                point.family, point.n, point.scale, point.rows, dtype, args.seed, point.c
            )
            for function in FUNCTIONS:
                try:
                    ref = getattr(reference, function)(x, beta=beta, base=base)
                except reference.PrecisionLimitError:
                    continue  # an exact midpoint: no correctly rounded value to compare with
                for method in ("accurate", "shifted"):
                    got = getattr(ss, function)(x, method=method, beta=beta, base=base)
                    err = ulp_distance(got, ref)
                    e = float(np.max(err)) if err.size else 0.0
                    key = (function, dtype, method)
                    if e > worst[key]:
                        worst[key] = e
                        where[key] = (point.family, point.n, point.scale, beta, base)
                    if method == "accurate":
                        elements[function, dtype] += err.size
                        not_cr[function, dtype] += int(np.count_nonzero(err))
            count += 1
    seconds = time.perf_counter() - start

    print(f"{count} cells x 3 functions ({'quick' if args.quick else 'full'}), {seconds:.0f} s\n")
    print(
        "| function | dtype | accurate: max ULP | not correctly rounded | shifted: max ULP "
        "| worst accurate cell |"
    )
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for function in FUNCTIONS:
        for dtype in DTYPES:
            acc = worst[function, dtype, "accurate"]
            sh = worst[function, dtype, "shifted"]
            total = elements[function, dtype]
            frac = f"{not_cr[function, dtype]} of {total}"
            cell = where.get((function, dtype, "accurate"), "")
            print(f"| {function} | {dtype} | {acc:.0f} | {frac} | {sh:.3g} | {cell} |")
    ok = all(worst[f, d, "accurate"] <= 1 for f in FUNCTIONS for d in DTYPES)
    print("\nall within 1 ULP" if ok else "\nSOME ERRORS ABOVE 1 ULP")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
