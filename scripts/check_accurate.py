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
import itertools
import math
import time

import numpy as np

import reference
import stable_softmax as ss
from stable_softmax.accuracy.families import make_inputs
from stable_softmax.accuracy.metrics import ulp_distance

FUNCTIONS = ("softmax", "log_softmax", "logsumexp")
DTYPES = ("float32", "float64")
BASES = (2.0, math.e, 3.0, 4.0, 10.0)

#: ``(families, ns, scales, betas, bases, elements per cell)``
BLOCKS = (
    (
        ("gaussian", "uniform", "spike", "ties", "spread"),
        (16, 256, 4096),
        (1.0, 10.0, 100.0, 1e3, 1e4),
        (1.0,),
        (None,),
        4096,
    ),
    (("gaussian", "spread"), (65536, 262144), (3.0, 30.0), (1.0,), (None,), 262144),
    (
        ("gaussian", "spike", "ties", "spread"),
        (64,),
        (1.0, 10.0),
        (1.0, 10.0, 1e3, 1e4, 1e6),
        BASES,
        1024,
    ),
    (("edges",), (64,), (0.5, 2.0, 8.0), (1.0, 1e3, 1e6), BASES, 1536),
    (("llm",), (32768, 262144), (10.0, 30.0), (1.0, 10.0), (None,), 262144),
)


def cells(quick: bool):
    for families, ns, scales, betas, bases, elements in BLOCKS:
        for family, n, scale, beta, base in itertools.product(families, ns, scales, betas, bases):
            if quick and n > 4096:
                continue
            yield family, n, scale, beta, base, max(1, elements // n)


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
    for family, n, scale, beta, base, rows in cells(args.quick):
        c = beta * (1.0 if base is None else math.log(base))
        for dtype in DTYPES:
            x = make_inputs(family, n, scale, rows, dtype, args.seed, c=c)
            for function in FUNCTIONS:
                try:
                    ref = getattr(reference, function)(x, beta=beta, base=base)
                except reference.PrecisionLimitError:
                    continue  # an exact rounding midpoint: no correctly rounded value to compare with
                for method in ("accurate", "shifted"):
                    got = getattr(ss, function)(x, method=method, beta=beta, base=base)
                    err = ulp_distance(got, ref)
                    e = float(np.max(err)) if err.size else 0.0
                    key = (function, dtype, method)
                    if e > worst[key]:
                        worst[key] = e
                        where[key] = (family, n, scale, beta, base)
                    if method == "accurate":
                        elements[function, dtype] += err.size
                        not_cr[function, dtype] += int(np.count_nonzero(err))
            count += 1
    seconds = time.perf_counter() - start

    print(f"{count} cells x 3 functions ({'quick' if args.quick else 'full'}), {seconds:.0f} s\n")
    print(
        "| function | dtype | accurate: max ULP | not correctly rounded | shifted: max ULP | worst accurate cell |"
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
