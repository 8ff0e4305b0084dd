"""Print the numbers of the README section "Why base e?", computed with the package.

Run: ``python scripts/why_base_e.py``

1. The derivative picks up ``ln a``: the cross-entropy gradient of base-``a``
   softmax is ``ln(a) (p - onehot)``; base e is the one base with factor 1.
2. The largest probability of the course example ``[2, 4, 2, 1]`` as the base
   grows (a larger base is a lower temperature, on the way to hardmax).
3. The logit at which naive base-``a`` softmax overflows, ``ln(max)/ln(a)``,
   and that the max-shifted kernels never do (the "lse" method forms
   ``c max(z)``, which overflows for ``z`` near the largest float and ``c > 1``).
"""

from __future__ import annotations

import math

import numpy as np

import stable_softmax as ss

BASES = [("2", 2.0), ("e", None), ("3", 3.0), ("4", 4.0), ("10", 10.0)]
COURSE = np.array([2.0, 4.0, 2.0, 1.0])


def _ln(base) -> float:
    return 1.0 if base is None else math.log(base)


def derivative_factor() -> None:
    print(
        "1. d/dz of the cost -ln p_y for base a, divided by (p - onehot(y)), "
        "for z = [2, 4, 2, 1], y = 0"
    )
    print(f"   {'a':>4} {'ln a':>10} {'grad_y':>12} {'grad / (p - onehot)':>22}")
    for name, base in BASES:
        grad = ss.cross_entropy_grad(COURSE, 0, base=base)
        p = ss.softmax(COURSE, base=base)
        ratio = grad / (p - np.eye(4)[0])
        print(
            f"   {name:>4} {_ln(base):10.6f} {grad[0]:12.6f} "
            f"{ratio.min():10.6f} .. {ratio.max():.6f}"
        )
    print()


def largest_probability() -> None:
    print("2. softmax([2, 4, 2, 1]) with base a (the maximum is the second entry)")
    for name, base in BASES:
        p = ss.softmax(COURSE, base=base)
        print(f"   a = {name:>2}: max p = {p.max():.4f}   p = {np.array2string(p, precision=4)}")
    print(f"   hardmax (a -> inf): {ss.hardmax(COURSE)}")
    print()


def overflow_thresholds() -> None:
    print("3. naive a^z / sum a^z overflows once z > ln(max float) / ln a")
    print(f"   {'a':>4} {'float32':>10} {'float64':>10}")
    for name, base in BASES:
        cells = [math.log(float(np.finfo(dt).max)) / _ln(base) for dt in (np.float32, np.float64)]
        print(f"   {name:>4} {cells[0]:10.2f} {cells[1]:10.2f}")
    methods = [m for m in ss.METHODS["softmax"] if m != "naive"]
    print(
        "   naive at z = [1.001 * threshold, 0]; the other methods at that z, "
        "at [max float, 0] and [0, -max float]"
    )
    for dt in (np.float32, np.float64):
        for name, base in BASES:
            edge = math.log(float(np.finfo(dt).max)) / _ln(base)
            row = np.array([1.001 * edge, 0.0], dtype=dt)
            top = np.array([np.finfo(dt).max, 0.0], dtype=dt)
            cells = []
            for m in methods:
                bad = [
                    z
                    for z in (row, top, -top[::-1])
                    if not np.isfinite(ss.softmax(z, base=base, method=m)).all()
                ]
                cells.append(
                    f"{m}: "
                    + ("finite" if not bad else "NaN at " + np.array2string(bad[0], precision=3))
                )
            naive = ss.softmax(row, base=base, method="naive")
            print(
                f"   {dt.__name__:>7} a = {name:>2}: naive {np.array2string(naive)}; "
                + ", ".join(cells)
            )


def main() -> None:
    derivative_factor()
    largest_probability()
    overflow_thresholds()


if __name__ == "__main__":
    main()
