"""``python -m stable_softmax`` (``stable-softmax demo``): softmax methods beside the exact answer.

For rows at the overflow and underflow edges of ``exp`` in float32 and
float64, every softmax method's result is printed under the correctly rounded
reference (:func:`reference.softmax`), and a result is marked ``WRONG`` when
an element is inf or NaN where the reference is finite, 0 where the reference
is nonzero, or more than :data:`ULP_LIMIT` ULPs from the reference.
"""

from __future__ import annotations

import sys
from typing import TextIO

import numpy as np

__all__ = ["ROWS", "ULP_LIMIT", "demo", "judge"]

#: Largest ULP distance from the reference that the demo calls right. The
#: fast methods' first-order error bound on these two- and four-element rows
#: is a few ULPs (Blanchard, Higham & Higham 2021: (n + 2 + 2 (max - min)) u
#: with ``c (max - min)`` small after shifting); 16 leaves room for that and
#: still flags every result that lost digits.
ULP_LIMIT = 16

#: Rows around ln(max) and ln(smallest subnormal) of each format.
ROWS = {
    "float32": ([2, 4, 2, 1], [88, 0], [89, 0], [-104, -105], [1e4, 0]),
    "float64": ([2, 4, 2, 1], [709, 0], [710, 0], [-745, -746], [1e4, 0]),
}


def judge(result: np.ndarray, exact: np.ndarray) -> list[str]:
    """Why ``result`` is wrong against the correctly rounded ``exact`` (empty: it is right).

    Reasons: inf or NaN where the reference is finite; 0 where the reference
    is finite and nonzero; an element more than :data:`ULP_LIMIT` ULPs away.
    """
    from .accuracy.metrics import ulp_distance

    finite = np.isfinite(exact)
    reasons = []
    if np.any(~np.isfinite(result) & finite):
        reasons.append("inf/NaN where the reference is finite")
    if np.any((result == 0) & finite & (exact != 0)):
        reasons.append("0 where the reference is nonzero")
    ulps = ulp_distance(result, exact)
    worst = float(np.max(ulps[finite & np.isfinite(result)], initial=0.0))
    if worst > ULP_LIMIT:
        reasons.append(f"{worst:.3g} ULP from the reference (limit {ULP_LIMIT})")
    return reasons


def _ulps(result: np.ndarray, exact: np.ndarray) -> str:
    from .accuracy.metrics import ulp_distance

    return f"{float(np.max(ulp_distance(result, exact))):.0f} ULP"


def demo(stream: TextIO | None = None) -> int:
    """Print the table to ``stream`` (default stdout); returns 0."""
    import reference
    import stable_softmax as ss

    out = stream if stream is not None else sys.stdout
    methods = ss.METHODS["softmax"]
    width = max(len(m) for m in ("reference", *methods))
    print(
        "softmax of rows at the edges of exp, each method under the correctly rounded "
        f"reference.\nWRONG: inf/NaN where the reference is finite, 0 where it is nonzero, or "
        f"more than {ULP_LIMIT} ULPs away.",
        file=out,
    )
    with np.printoptions(precision=4, linewidth=120), np.errstate(all="ignore"):
        for name, rows in ROWS.items():
            dtype = np.dtype(name)
            info = np.finfo(dtype)
            print(
                f"\n--- {name}: exp overflows above ln(max) = {np.log(float(info.max)):.4f}, "
                f"rounds to 0 below ln(min subnormal / 2) = "
                f"{np.log(float(info.smallest_subnormal)) - np.log(2.0):.4f}",
                file=out,
            )
            for row in rows:
                x = np.array(row, dtype=dtype)
                exact = reference.softmax(x)
                print(f"softmax({row})", file=out)
                print(f"  {'reference':<{width}}  {exact}", file=out)
                for method in methods:
                    result = ss.softmax(x, method=method)
                    reasons = judge(result, exact)
                    verdict = "WRONG: " + "; ".join(reasons) if reasons else _ulps(result, exact)
                    print(f"  {method:<{width}}  {result}  {verdict}", file=out)
    return 0
