"""Summarise and rank sweep records: pure functions of the records, nothing is run here.

:func:`summarize` folds the records of one function x implementation x dtype
into one row; :func:`recommend` ranks the implementations of each function x
dtype by :func:`score` and says why each runner-up lost. Records of cells that
raised (``error`` set) are left out (:func:`failed` lists them).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from ..implementations import FUNCTIONS
from . import metrics
from .bounds import BOUNDS

__all__ = ["failed", "fmt_bits", "fmt_pct", "fmt_ulp", "recommend", "score", "summarize"]


def failed(records: list[dict]) -> list[dict]:
    """The records of cells whose computation raised (``error`` set)."""
    return [r for r in records if r.get("error")]


def _values(records: list[dict], key: str) -> list:
    return [r[key] for r in records if r[key] is not None]


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def summarize(records: list[dict]) -> list[dict]:
    """One row per function x implementation (``method``) x dtype.

    Parameters
    ----------
    records : list of dict
        Sweep records (:data:`stable_softmax.accuracy.measure.RECORD_FIELDS`).

    Returns
    -------
    list of dict
        ``cells``; ``worst_ulp`` (max of ``max_ulp``) and ``worst_bits``
        (``log2(1 + worst_ulp)``); ``median_ulp`` (median of the cells'
        medians); ``overflow``, ``underflow``, ``nan`` (means over cells of
        the fractions); ``cells_failing`` (cells with any of the three);
        ``bound`` (the implementation has a bound in :data:`.bounds.BOUNDS`),
        ``bound_cells`` (cells where it was checked), ``bound_cells_inside``
        (cells with every checked element inside) and ``bound_worst_ratio``.
        Statistics over no value are None (means: 0). Rows are ordered by
        function (softmax, log_softmax, logsumexp), then implementation in
        the order the records first name it, then dtype.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if not r.get("error"):
            groups[(r["function"], r["method"], r["dtype"])].append(r)
    first_seen = {key[:2]: i for i, key in reversed(list(enumerate(groups)))}
    rows = []
    for (function, method, dtype), recs in groups.items():
        ulps = _values(recs, "max_ulp")
        medians = _values(recs, "median_ulp")
        ratios = _values(recs, "bound_ratio_max")
        rows.append(
            {
                "function": function,
                "method": method,
                "dtype": dtype,
                "cells": len(recs),
                "worst_ulp": max(ulps) if ulps else None,
                "worst_bits": float(metrics.bits_of_error(max(ulps))) if ulps else None,
                "median_ulp": statistics.median(medians) if medians else None,
                "overflow": _mean([r["overflow"] for r in recs]),
                "overflow_inf": _mean([r.get("overflow_inf") or 0.0 for r in recs]),
                "overflow_nan": _mean([r.get("overflow_nan") or 0.0 for r in recs]),
                "underflow": _mean([r["underflow"] for r in recs]),
                "nan": _mean([r["nan"] for r in recs]),
                "cells_failing": sum(
                    1 for r in recs if r["overflow"] + r["nan"] + r["underflow"] > 0
                ),
                "bound": (function, method) in BOUNDS,
                "bound_cells": sum(1 for r in recs if r["bound_checked"]),
                "bound_cells_inside": sum(1 for v in _values(recs, "bound_inside") if v >= 1.0),
                "bound_worst_ratio": max(ratios) if ratios else None,
            }
        )
    order = {f: i for i, f in enumerate(FUNCTIONS)}
    rows.sort(
        key=lambda s: (
            order.get(s["function"], len(order)),
            first_seen[(s["function"], s["method"])],
            s["dtype"],
        )
    )
    return rows


def score(row: dict) -> tuple:
    """The ranking key of a summary row: smaller is better.

    Fewest inf/NaN outputs, then the fewest whole bits of worst error (one
    bit is noise), then the fewest underflowed outputs, then the smallest
    worst error in ULPs. Fractions are rounded to 12 digits so that means
    equal up to summation order tie.
    """
    worst = row["worst_ulp"] if row["worst_ulp"] is not None else math.inf
    bits = round(row["worst_bits"]) if row["worst_bits"] is not None else math.inf
    return (round(row["overflow"] + row["nan"], 12), bits, round(row["underflow"], 12), worst)


def recommend(summary: list[dict]) -> list[dict]:
    """For each function x dtype, the best implementation by :func:`score`, and why the others lost.

    Ties keep the order of ``summary``. Each entry has ``function``,
    ``dtype``, ``method``, ``worst_ulp``, ``worst_bits``, ``nonfinite``
    (overflow + NaN fraction), ``underflow``, ``cells`` and ``others``
    (``[{"method", "reason"}]`` in rank order).
    """
    by_case: dict[tuple, list[dict]] = defaultdict(list)
    for row in summary:
        by_case[(row["function"], row["dtype"])].append(row)
    result = []
    for (function, dtype), rows in by_case.items():
        ranked = sorted(rows, key=score)
        best = ranked[0]
        result.append(
            {
                "function": function,
                "dtype": dtype,
                "method": best["method"],
                "worst_ulp": best["worst_ulp"],
                "worst_bits": best["worst_bits"],
                "nonfinite": best["overflow"] + best["nan"],
                "underflow": best["underflow"],
                "cells": best["cells"],
                "others": [
                    {"method": r["method"], "reason": _why_worse(r, best)} for r in ranked[1:]
                ],
            }
        )
    return result


def _why_worse(row: dict, best: dict) -> str:
    bad, best_bad = row["overflow"] + row["nan"], best["overflow"] + best["nan"]
    if bad > best_bad:
        return (
            f"inf/NaN in {bad:.2%} of elements "
            f"({row['cells_failing']} of {row['cells']} cells with failures)"
        )
    mine, theirs = score(row), score(best)
    if mine[1] > theirs[1]:
        return f"worst error {fmt_ulp(row['worst_ulp'])} ULP ({fmt_bits(row['worst_bits'])} bits)"
    if row["underflow"] > best["underflow"]:
        return f"underflows {fmt_pct(row['underflow'])} of elements vs {fmt_pct(best['underflow'])}"
    if mine == theirs:
        return "ties with it"
    return f"worst error {fmt_ulp(row['worst_ulp'])} ULP vs {fmt_ulp(best['worst_ulp'])}"


def fmt_ulp(value: float | None) -> str:
    """An ULP count for a table: whole numbers as integers, others to 3 digits, None as ``-``."""
    if value is None:
        return "-"
    if value == 0 or (1e-3 <= abs(value) < 1e6 and float(value).is_integer()):
        return f"{value:.0f}"
    return f"{value:.3g}"


def fmt_pct(value: float | None) -> str:
    """A fraction as a percentage (``0`` for zero, scientific below 0.01 %), None as ``-``."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.2%}" if value >= 1e-4 else f"{value:.1e}"


def fmt_bits(value: float | None) -> str:
    """Bits of error to one decimal, None as ``-``."""
    return "-" if value is None else f"{value:.1f}"
