"""The low-precision section of ``report.md`` (pure: text from ``report.json``'s ``lowprec``)."""

from __future__ import annotations

from collections import defaultdict

from .markdown import _table

__all__ = ["PLOT", "lowprec_lines", "render_lowprec_only", "summarize_low"]

#: The section's plot (:mod:`.lowprec_plots`) and its caption.
PLOT = "lowprec_error_vs_n.png"
_CAPTION = (
    "Softmax in each low-precision target: mean error (left) and bias (right) in ULPs of the "
    "storage format against the correctly rounded reference, vs n; shifted solid, online "
    "dashed; hollow markers: cells with failed outputs."
)


def _g(value, digits: int = 6) -> str:
    return "none" if value is None else f"{value:.{digits}g}"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _signed(value) -> str:
    return "-" if value is None else f"{value:+.3f}"


def summarize_low(records: list[dict]) -> list[dict]:
    """Per target, function and method over the cells: worst/mean ULP, bias, failures, bound.

    Means are weighted by the cells' elements (rows for ``argmax_changed``);
    ``bound_cells``/``bound_cells_inside`` count cells with checked elements
    and those whose every checked element is inside the bound.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if not r["error"]:
            groups[(r["target"], r["function"], r["method"])].append(r)
    out = []
    for (target, function, method), rs in groups.items():

        def wmean(key, weight="elements", rs=rs):
            pairs = [(r[key], r[weight]) for r in rs if r[key] is not None]
            total = sum(w for _, w in pairs)
            return sum(v * w for v, w in pairs) / total if total else None

        def worst(key, rs=rs):
            values = [r[key] for r in rs if r[key] is not None]
            return max(values) if values else None

        checked = [r for r in rs if r["bound_checked"]]
        out.append(
            {
                "target": target,
                "function": function,
                "method": method,
                "cells": len(rs),
                "worst_ulp": worst("max_ulp"),
                "mean_ulp": wmean("mean_ulp"),
                "bias_ulp": wmean("bias_ulp"),
                "argmax_changed": wmean("argmax_changed", "rows"),
                "sum_dev_mean": wmean("sum_dev_mean", "rows"),
                "sum_dev_max": worst("sum_dev_max"),
                "overflow": wmean("overflow"),
                "underflow": wmean("underflow"),
                "bound_cells": len(checked),
                "bound_cells_inside": sum(r["bound_inside"] == 1.0 for r in checked),
                "bound_worst_ratio": worst("bound_ratio_max", checked),
            }
        )
    return out


def _format_lines(low: dict) -> list[str]:
    rows = [
        [
            f["format"],
            f["precision"],
            f["emin"],
            f["emax"],
            _g(f["largest"]),
            f["overflow_rule"],
            f"2^-{f['precision']}",
            _g(f["exp_overflow_theory"], 9),
            f"{_g(f['exp_last_finite'])} / {_g(f['exp_first_overflow'])}",
            _g(f["exp_underflow_theory"], 9),
            f"{_g(f['exp_first_nonzero'])} / {_g(f['exp_last_zero'])}",
            _g(f["normal_theory"], 6),
        ]
        for f in low["formats"]
    ]
    header = [
        "format",
        "p",
        "emin",
        "emax",
        "largest",
        "overflow gives",
        "u",
        "theory: ln T",
        "exp: last finite / first overflow",
        "theory: ln(min subnormal / 2)",
        "exp: last nonzero / first 0",
        "theory: ln(min normal)",
    ]
    return _table(header, rows)


def _threshold_lines(low: dict) -> list[str]:
    rows = []
    for t in low["thresholds"]:
        if t.get("error"):
            rows.append([t["target"], t["function"], f"`{t['method']}`", t["error"], "", "", ""])
            continue
        rows.append(
            [
                t["target"],
                t["function"],
                f"`{t['method']}`",
                _g(t["overflow"]),
                _g(t["overflow_last_ok"]),
                _g(t["underflow"]),
                _g(t["underflow_last_ok"]),
            ]
        )
    header = [
        "target",
        "function",
        "method",
        "overflow at t",
        "last ok",
        "underflow at t",
        "last ok",
    ]
    return _table(header, rows)


def _versus(low: dict, axis: str) -> list[str]:
    """Error tables vs ``n`` (at the grid's ``n_scale``) or vs ``scale`` (at ``scale_n``).

    One row per target, function, method and input family, families in the grid's order.
    """
    grid = low["grid"]
    fixed_key, fixed = ("scale", grid["n_scale"]) if axis == "n" else ("n", grid["scale_n"])
    values = grid["ns"] if axis == "n" else grid["scales"]
    cells: dict[tuple, dict] = defaultdict(dict)
    for r in low["records"]:
        if r["error"] or r[fixed_key] != fixed:
            continue
        cells[(r["target"], r["function"], r["method"], r["family"])][r[axis]] = r
    groups = dict.fromkeys(k[:3] for k in cells)  # (target, function, method), first seen first
    keys = [(*g, f) for g in groups for f in grid["families"] if (*g, f) in cells]
    rows = []
    for key in keys:
        target, function, method, family = key
        by = cells[key]
        row = [target, function, f"`{method}`", family]
        for v in values:
            r = by.get(v)
            if r is None:
                row.append("")
            elif r["max_ulp"] is None:
                row.append("all failed")
            else:
                fail = r["overflow"] + r["underflow"] + r["nan"]
                note = f", fail {_pct(fail)}" if fail else ""
                row.append(f"{r['max_ulp']:.0f} ({_signed(r['bias_ulp'])}){note}")
        rows.append(row)
    name = "n" if axis == "n" else "scale"
    header = ["target", "function", "method", "family", *(f"{name} = {_g(v)}" for v in values)]
    return _table(header, rows)


def _figures(low: dict) -> list[str]:
    rows = []
    for s in summarize_low(low["records"]):
        bound = (
            f"{s['bound_cells_inside']}/{s['bound_cells']} (worst {_g(s['bound_worst_ratio'], 3)})"
            if s["bound_cells"]
            else "-"
        )
        rows.append(
            [
                s["target"],
                s["function"],
                f"`{s['method']}`",
                _g(s["worst_ulp"]),
                _g(s["mean_ulp"], 3),
                _signed(s["bias_ulp"]),
                _pct(s["argmax_changed"]),
                _g(s["sum_dev_mean"], 3),
                _g(s["sum_dev_max"], 3),
                _pct(s["overflow"]),
                _pct(s["underflow"]),
                bound,
            ]
        )
    header = [
        "target",
        "function",
        "method",
        "worst ULP",
        "mean ULP",
        "bias (mean signed ULP)",
        "argmax changed",
        "mean abs(sum - 1)",
        "max abs(sum - 1)",
        "overflow",
        "underflow",
        "bound: cells inside (worst ratio)",
    ]
    return _table(header, rows)


def _certified(low: dict) -> list[str]:
    if not low["certified"]:
        return ["No simulated pipeline was asked for (`--pipelines`): nothing to compare.", ""]
    c0 = low["certified"][0]
    rows = [
        [
            c["pipeline"],
            f"`{c['method']}`",
            f"{c['vs_fp32_mean']:.3f} / {c['vs_fp32_max']:.0f}",
            f"{c['vs_exact_mean']:.3f} / {c['vs_exact_max']:.0f}",
            f"{c['bias_fp32']:+.4f} / {c['bias_exact']:+.4f}",
            _pct(c["judged_differently"]),
            _pct(c["fp32_run_not_cr"]),
        ]
        for c in low["certified"]
    ]
    header = [
        "pipeline",
        "method",
        "vs fp32 run: mean / max ULP",
        "vs correctly rounded: mean / max ULP",
        "bias vs fp32 run / vs correctly rounded",
        "elements judged differently",
        "fp32 run not correctly rounded",
    ]
    return [
        "Blanchard, Higham & Higham (2021) measured simulated fp16/bf16 softmax against an fp32 "
        "run of the same algorithm (rounded to the storage format here, as a user compares). "
        "The same results measured against the correctly rounded value in the storage format: "
        f"softmax of {c0['rows']} x {c0['n']} gaussian logits (sigma {c0['sigma']}), ULPs of "
        "the storage format. Where the fp32 run is itself not the correctly rounded value, "
        "the fp32 yardstick misjudges the error.",
        "",
        *_table(header, rows),
        "",
    ]


def _plot(doc: dict) -> list[str]:
    return [f"![{PLOT}]({PLOT})", "", f"*{_CAPTION}*", ""] if PLOT in doc.get("plots", []) else []


def lowprec_lines(doc: dict) -> list[str]:
    """The ``## Low precision`` section (empty when the report has none)."""
    low = doc.get("lowprec") or {}
    if not low:
        return []
    grid = low["grid"]
    engines = (low.get("reference_engine_stats") or {}).items()
    work = ", ".join(f"{int(v.get('elements', 0)):,} elements by {k}" for k, v in engines)
    return [
        "## Low precision: storage formats and pipelines",
        "",
        f"This section took {low.get('seconds', 0.0):.1f} s"
        + (f"; the reference computed {work}." if work else "."),
        "",
        "Targets: "
        + "; ".join(f"`{t['name']}`: {t['label']}" for t in low["targets"])
        + ". Errors in ULPs of the storage format against the correctly rounded reference in "
        "that format (no double rounding); bias = mean signed error in ULPs "
        "(`ordinal(result) - ordinal(reference)`); argmax changed = fraction of rows whose "
        "argmax is not one of the reference's; abs(sum - 1) = exact deviation of the stored "
        "softmax row sum. Bounds: Blanchard-Higham-Higham's with u = max(u compute, "
        "u accumulate), and for the simulated online softmax the bound of "
        "`docs/online-softmax-error.md` (block 32), in ULPs of the storage format (+1).",
        "",
        "### exp in each storage format: exact edges beside theory",
        "",
        "Found by bisection on the format's grid with the correctly rounded "
        "`reference.exp(x, dtype=format)`; T = largest + ulp/2 (the overflow threshold; "
        "for saturating formats, `first overflow` is the first x with e^x > T).",
        "",
        *_format_lines(low),
        "",
        "### Thresholds per target and method",
        "",
        "Overflow: smallest `t` where `[t, 0]` gives inf/NaN; underflow: largest `t` where "
        "`[t, t]` gives inf/NaN or a zero probability (theory: the format table above). "
        "`none`: no failure over the format's finite values.",
        "",
        *_threshold_lines(low),
        "",
        f"### Error vs n (logit scale {_g(grid['n_scale'])}, each input family)",
        "",
        "Worst ULP (bias) per cell; `fail` = outputs classed overflow/underflow/NaN.",
        "",
        *_versus(low, "n"),
        "",
        f"### Error vs logit scale (n = {grid['scale_n']}, each input family)",
        "",
        *_versus(low, "scale"),
        "",
        *_plot(doc),
        "### Low-precision figures per target and method (all cells)",
        "",
        *_figures(low),
        "",
        "### What a certified reference changes",
        "",
        *_certified(low),
    ]


def render_lowprec_only(doc: dict) -> str:
    """``report.md`` of a report with low-precision formats only (no float32/float64 sweep)."""
    lines = [
        "# Softmax accuracy report: low precision",
        "",
        f"Generated by `{doc['command']}` in {doc['wall_seconds']:.0f} s. stable_softmax "
        f"{doc['package']}, numba {doc['numba']}, numpy {doc['numpy']}, mpmath "
        f"{doc['mpmath']}, Python {doc['python']} on {doc['machine']['platform']} "
        f"({doc['machine']['cores']} cores). Seed {doc['seed']}; the records are in "
        "`report.json` (key `lowprec`) and `lowprec.csv`.",
        "",
        *lowprec_lines(doc),
    ]
    return "\n".join(lines)
