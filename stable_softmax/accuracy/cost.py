"""Accuracy against cost: time per element as a ratio to memcpy, and the cheapest safe choice.

Absolute times drift on a shared machine, so the cost of an implementation is
measured in the same run as a copy of the same array (``np.copyto``, the
cheapest pass over the data): ``ratio = time(implementation) / time(copy)``,
interleaved (copy, implementation, copy, ...) and the median over a few
repeats. A ratio of 3 means "three copies' worth of time". Measurements are
benchmarks, not tests: the unit tests check :func:`recommend_by_cost` on
synthetic records and costs.

:func:`recommend_by_cost` is a pure function of the sweep records and the
costs: for each function and dtype, the cheapest implementation with no
inf/NaN output anywhere in the sweep whose worst error is within ``k`` ULP,
for a few ``k``, and the cheapest with no inf/NaN at all.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

import numpy as np

from ..implementations import Implementation

__all__ = [
    "COST_SHAPE",
    "ULP_TARGETS",
    "aggregate",
    "measure_cost",
    "measure_costs",
    "recommend_by_cost",
    "render_markdown",
]

#: Shape of the timed array: 64 rows of 4096 logits (1 MiB in float32),
#: larger than L2 on most machines so a copy runs at memory speed.
COST_SHAPE = (64, 4096)
#: The ``k`` of "within k ULP" in the recommendations.
ULP_TARGETS = (1, 4, 64, 1024)


def _seconds(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def measure_cost(
    compute: Callable[[np.ndarray], object],
    x: np.ndarray,
    repeats: int = 5,
    min_seconds: float = 0.005,
) -> dict:
    """Time of ``compute(x)`` relative to ``np.copyto`` of ``x`` (median of ``repeats``).

    Parameters
    ----------
    compute : callable
        Called with ``x``; one warm-up call first (compilation, sessions).
    x : numpy.ndarray
        The input; the copy goes into a preallocated array of its shape.
    repeats : int
        Number of (copy, compute) pairs; the ratio of each pair is taken and
        the median returned, so a burst of load by another process shifts at
        most a minority of them.
    min_seconds : float
        Each timing loops until about this long, so short calls are not
        dominated by timer resolution.

    Returns
    -------
    dict
        ``ratio`` (median time / copy time), ``seconds_per_element`` and
        ``copy_seconds_per_element`` (medians), ``repeats``.
    """
    dst = np.empty_like(x)
    compute(x)
    single = max(_seconds(lambda: compute(x), 1), 1e-7)
    number = max(1, math.ceil(min_seconds / single))
    copy_single = max(_seconds(lambda: np.copyto(dst, x), 1), 1e-8)
    copy_number = max(1, math.ceil(min_seconds / copy_single))
    ratios, times, copies = [], [], []
    for _ in range(repeats):
        t_copy = _seconds(lambda: np.copyto(dst, x), copy_number)
        t_impl = _seconds(lambda: compute(x), number)
        ratios.append(t_impl / t_copy)
        times.append(t_impl)
        copies.append(t_copy)
    return {
        "ratio": float(np.median(ratios)),
        "seconds_per_element": float(np.median(times)) / x.size,
        "copy_seconds_per_element": float(np.median(copies)) / x.size,
        "repeats": repeats,
    }


def measure_costs(
    implementations: dict[str, list[Implementation]],
    dtypes: Iterable[str] = ("float32", "float64"),
    shape: tuple[int, int] = COST_SHAPE,
    repeats: int = 5,
    seed: int = 0,
) -> list[dict]:
    """:func:`measure_cost` of every implementation on ``N(0, 1)`` logits of ``shape``.

    Returns one dict per function x dtype x implementation: ``function``,
    ``dtype``, ``implementation``, ``shape`` plus the keys of
    :func:`measure_cost`; ``error`` is set (and the times None) when the
    implementation raised.
    """
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(shape)
    out = []
    for dtype in dtypes:
        x = np.ascontiguousarray(base.astype(dtype))
        for function, impls in implementations.items():
            for impl in impls:
                if dtype not in impl.dtypes:
                    continue
                row = {
                    "function": function,
                    "dtype": dtype,
                    "implementation": impl.name,
                    "shape": list(shape),
                }
                try:
                    row.update(measure_cost(lambda a, f=impl.compute: f(a), x, repeats))
                    row["error"] = None
                except Exception as exc:  # a failing peer gets no cost, the report goes on
                    row.update(ratio=None, seconds_per_element=None, copy_seconds_per_element=None)
                    row["error"] = f"{type(exc).__name__}: {exc}"
                out.append(row)
    return out


def _name(record: dict) -> str:
    return record.get("implementation") or record["method"]


def aggregate(records: list[dict]) -> dict[tuple[str, str, str], dict]:
    """Per ``(function, dtype, implementation)``: worst ULP, inf/NaN and underflow fractions.

    ``worst_ulp`` is the largest ``max_ulp`` of the cells (inf when a cell has
    finite outputs where the exact value overflows, ``unbounded``); records of
    cells that raised make ``raised`` True. ``nonfinite`` is the largest
    per-cell fraction of inf/NaN outputs where the reference is finite.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["function"], r["dtype"], _name(r))].append(r)
    out = {}
    for key, recs in groups.items():
        ok = [r for r in recs if not r.get("error")]
        ulps = [r["max_ulp"] for r in ok if r.get("max_ulp") is not None]
        worst = max(ulps) if ulps else math.inf
        if any((r.get("unbounded") or 0) > 0 for r in ok):
            worst = math.inf
        out[key] = {
            "worst_ulp": worst,
            "nonfinite": max(((r["overflow"] or 0) + (r["nan"] or 0) for r in ok), default=0.0),
            "underflow": max((r["underflow"] or 0 for r in ok), default=0.0),
            "raised": len(ok) < len(recs),
            "cells": len(recs),
        }
    return out


def recommend_by_cost(
    records: list[dict], costs: list[dict], ks: Iterable[float] = ULP_TARGETS
) -> list[dict]:
    """The cheapest implementation meeting each accuracy target, per function and dtype.

    Parameters
    ----------
    records : list of dict
        Sweep records (keys ``function, dtype, method`` or ``implementation``,
        ``max_ulp, overflow, nan, underflow, unbounded, error``).
    costs : list of dict
        From :func:`measure_costs` (keys ``function, dtype, implementation, ratio``).
    ks : iterable of float
        ULP targets.

    Returns
    -------
    list of dict
        For each function x dtype (in first-seen order of ``records``) one
        row per target ``k`` (``criterion`` "within k ULP, no inf/NaN") and
        one for ``criterion`` "no inf/NaN": ``implementation`` (None when
        none qualifies), its ``ratio``, ``worst_ulp``, ``underflow`` and
        ``qualifying`` (how many did). Qualifying means: no cell raised, no
        inf/NaN output where the reference is finite, and (for ``k``) a
        worst error of at most ``k`` ULP. Implementations without a measured
        cost cannot be recommended. Ties in cost go to the smaller error,
        then to the name.
    """
    stats = aggregate(records)
    ratio = {
        (c["function"], c["dtype"], c["implementation"]): c["ratio"]
        for c in costs
        if c.get("ratio") is not None
    }
    cases = list(dict.fromkeys((f, d) for (f, d, _) in stats))
    targets = [(f"within {k:g} ULP, no inf/NaN", float(k)) for k in ks]
    targets.append(("no inf/NaN", math.inf))
    out = []
    for function, dtype in cases:
        for criterion, k in targets:
            ok = [
                (ratio[key], s["worst_ulp"], key[2], s)
                for key, s in stats.items()
                if key[:2] == (function, dtype)
                and key in ratio
                and not s["raised"]
                and s["nonfinite"] == 0
                and (s["worst_ulp"] <= k if math.isfinite(k) else True)
            ]
            ok.sort(key=lambda t: (t[0], t[1], t[2]))
            best = ok[0] if ok else None
            out.append(
                {
                    "function": function,
                    "dtype": dtype,
                    "criterion": criterion,
                    "k": None if math.isinf(k) else k,
                    "implementation": best[2] if best else None,
                    "ratio": best[0] if best else None,
                    "worst_ulp": best[1] if best else None,
                    "underflow": best[3]["underflow"] if best else None,
                    "qualifying": len(ok),
                }
            )
    return out


def render_markdown(recommendations: list[dict], costs: list[dict]) -> list[str]:
    """Markdown lines: the cost table and the recommendations."""
    lines = []
    impls = list(dict.fromkeys(c["implementation"] for c in costs))
    cases = list(dict.fromkeys((c["function"], c["dtype"]) for c in costs))
    if costs:
        shape = "x".join(map(str, costs[0]["shape"]))
        lines += [
            f"Time per element as a multiple of `np.copyto` of the same {shape} array "
            "(median of interleaved repeats, this run):",
            "",
            "| function | dtype | " + " | ".join(impls) + " |",
            "| --- | --- | " + " | ".join("---:" for _ in impls) + " |",
        ]
        by = {(c["function"], c["dtype"], c["implementation"]): c for c in costs}
        for function, dtype in cases:
            cells = []
            for name in impls:
                c = by.get((function, dtype, name))
                if c is None:
                    cells.append("")
                elif c["ratio"] is None:
                    cells.append("raised")
                else:
                    cells.append(f"{c['ratio']:.3g}")
            lines.append(f"| {function} | {dtype} | " + " | ".join(cells) + " |")
        lines.append("")
    if recommendations:
        lines += [
            "| function | dtype | requirement | cheapest | cost (x copy) | worst ULP | "
            "underflow (worst cell) | qualifying |",
            "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for r in recommendations:
            if r["implementation"] is None:
                lines.append(
                    f"| {r['function']} | {r['dtype']} | {r['criterion']} | none | | | | 0 |"
                )
                continue
            lines.append(
                f"| {r['function']} | {r['dtype']} | {r['criterion']} | {r['implementation']} | "
                f"{r['ratio']:.3g} | {r['worst_ulp']:g} | {r['underflow']:.2%} | "
                f"{r['qualifying']} |"
            )
        lines.append("")
    return lines
