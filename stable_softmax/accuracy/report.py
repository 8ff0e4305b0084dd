"""Turn sweep records into ``report.md``, ``report.json`` and ``report.csv``.

Everything in the report is computed: the summary tables aggregate the
records, the recommendations rank the methods by the data
(:func:`recommend`), the threshold table comes from
:mod:`.thresholds`, and the course-material section (:func:`course_checks`)
runs the kernels and the reference live. Records of cells that raised
(``error`` set, see :func:`stable_softmax.accuracy.sweep.error_record`) are
kept in ``report.json`` and ``report.csv``, listed under *Failed cells* in
``report.md`` and left out of the summary and the recommendations.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

import reference
import stable_softmax as ss

from . import metrics
from .bounds import BOUNDS
from .families import FAMILIES
from .sweep import RECORD_FIELDS
from .thresholds import Threshold, describe

__all__ = [
    "COURSE_EXAMPLE",
    "course_checks",
    "environment",
    "failed",
    "recommend",
    "render_markdown",
    "summarize",
    "write_report",
]

#: The worked example of the course material, quoted to 4 decimals.
COURSE_EXAMPLE = {
    "x": [2.0, 4.0, 2.0, 1.0],
    "e": [0.1025, 0.7573, 0.1025, 0.0377],
    "2": [0.1538, 0.6154, 0.1538, 0.0769],
}
HARDMAX_BETAS = (1.0, 10.0, 100.0, 1000.0)
HARDMAX_ROWS = {
    "unique max": [2.0, 4.0, 2.0, 1.0],
    "2 tied maxima": [3.0, 3.0, 1.0, 0.0],
    "3 tied maxima": [1.0, 1.0, 1.0, 0.0],
}


def environment() -> dict:
    """Versions and machine, for the top of ``report.json``."""
    import mpmath
    import numba

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {
        "package": ss.__version__,
        "numba": numba.__version__,
        "numpy": np.__version__,
        "mpmath": mpmath.__version__,
        "python": platform.python_version(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cores": cores,
        },
    }


# ---------------------------------------------------------------- aggregation


def _values(records, key):
    return [r[key] for r in records if r[key] is not None]


def _mean(values) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def failed(records: list[dict]) -> list[dict]:
    """The records of cells whose computation raised (``error`` set)."""
    return [r for r in records if r.get("error")]


def summarize(records: list[dict]) -> list[dict]:
    """One row per function x method x dtype: worst errors, failure rates, bound check.

    Records of failed cells (:func:`failed`) are left out.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if r.get("error"):
            continue
        groups[(r["function"], r["method"], r["dtype"])].append(r)
    rows = []
    for (function, method, dtype), recs in groups.items():
        ulps = _values(recs, "max_ulp")
        medians = _values(recs, "median_ulp")
        inside = _values(recs, "bound_inside")
        checked = [r for r in recs if r["bound_checked"]]
        ratios = _values(recs, "bound_ratio_max")
        failing = [r for r in recs if r["overflow"] + r["nan"] + r["underflow"] > 0]
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
                "underflow": _mean([r["underflow"] for r in recs]),
                "nan": _mean([r["nan"] for r in recs]),
                "cells_failing": len(failing),
                "bound": (function, method) in BOUNDS,
                "bound_cells": len(checked),
                "bound_cells_inside": sum(1 for v in inside if v >= 1.0),
                "bound_worst_ratio": max(ratios) if ratios else None,
            }
        )
    order = {f: i for i, f in enumerate(ss.METHODS)}
    rows.sort(key=lambda s: (order.get(s["function"], 99), _method_rank(s), s["dtype"]))
    return rows


def _method_rank(row) -> int:
    methods = ss.METHODS.get(row["function"], ())
    return methods.index(row["method"]) if row["method"] in methods else 99


def _score(row) -> tuple:
    """Fewest inf/NaN outputs, then the fewest bits of worst error (whole bits: one bit is noise),
    then the fewest underflowed outputs, then the smallest worst error in ULPs.
    """
    worst = row["worst_ulp"] if row["worst_ulp"] is not None else math.inf
    bits = round(row["worst_bits"]) if row["worst_bits"] is not None else math.inf
    return (round(row["overflow"] + row["nan"], 12), bits, round(row["underflow"], 12), worst)


def recommend(summary: list[dict]) -> list[dict]:
    """For each function x dtype, the best method by :func:`_score`, with the runners-up and why they lost."""
    by_case: dict[tuple, list[dict]] = defaultdict(list)
    for row in summary:
        by_case[(row["function"], row["dtype"])].append(row)
    result = []
    for (function, dtype), rows in by_case.items():
        ranked = sorted(rows, key=_score)
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
        return f"inf/NaN in {bad:.2%} of elements ({row['cells_failing']} of {row['cells']} cells with failures)"
    mine, theirs = _score(row), _score(best)
    if mine[1] > theirs[1]:
        return f"worst error {_ulp(row['worst_ulp'])} ULP ({_bits(row['worst_bits'])} bits)"
    if row["underflow"] > best["underflow"]:
        return f"underflows {_pct(row['underflow'])} of elements vs {_pct(best['underflow'])}"
    if mine == theirs:
        return "ties with it"
    return f"worst error {_ulp(row['worst_ulp'])} ULP vs {_ulp(best['worst_ulp'])}"


# ---------------------------------------------------------------- course material


def _reference_softmax(x, beta=1.0, base=None) -> np.ndarray:
    return reference.softmax(np.asarray(x, dtype=np.float64), beta=beta, base=base)


def course_checks() -> dict:
    """The course's worked example, sum-to-one and the hardmax limit, run live in float64.

    Every softmax method in :data:`stable_softmax.METHODS` and the reference
    are compared with the quoted 4-decimal values (agreement means
    ``|value - quoted| <= 0.5e-4``).
    """
    x = np.array(COURSE_EXAMPLE["x"])
    examples = []
    for label, base in (("e", None), ("2", 2.0)):
        quoted = np.array(COURSE_EXAMPLE[label])
        ref = _reference_softmax(x, base=base)
        entries = [("reference", ref)] + [
            (m, ss.softmax(x, method=m, base=base)) for m in ss.METHODS["softmax"]
        ]
        for name, values in entries:
            examples.append(
                {
                    "base": label,
                    "method": name,
                    "values": [float(v) for v in values],
                    "quoted": quoted.tolist(),
                    "agrees": bool(np.all(np.abs(values - quoted) <= 0.5e-4 + 1e-12)),
                    "max_ulp_vs_reference": float(np.max(metrics.ulp_distance(values, ref))),
                    "sum_dev_eps": float(metrics.sum_deviation_eps(values)),
                }
            )
    hardmax = []
    for label, row in HARDMAX_ROWS.items():
        row = np.array(row)
        top = row == row.max()
        k = int(top.sum())
        for beta in HARDMAX_BETAS:
            entry = {"row": label, "x": row.tolist(), "k": k, "limit": 1.0 / k, "beta": beta}
            entry["reference"] = float(_reference_softmax(row, beta=beta)[top][0])
            with np.errstate(all="ignore"):
                for m in ss.METHODS["softmax"]:
                    value = float(ss.softmax(row, method=m, beta=beta)[top][0])
                    entry[m] = value if math.isfinite(value) else None
            hardmax.append(entry)
    return {"examples": examples, "hardmax": hardmax}


# ---------------------------------------------------------------- files


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_csv(path: Path, records: list[dict]) -> None:
    """The records, one row each, columns :data:`RECORD_FIELDS`; None is an empty cell."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RECORD_FIELDS, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow(
                {
                    k: ""
                    if record[k] is None
                    else repr(record[k])
                    if isinstance(record[k], float)
                    else record[k]
                    for k in RECORD_FIELDS
                }
            )


def write_report(
    out: Path,
    records: list[dict],
    thresholds: list[Threshold],
    course: dict,
    meta: dict,
    plots: list[str],
) -> dict:
    """Write ``report.json``, ``report.csv`` and ``report.md`` into ``out``; return the JSON document."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(records)
    doc = {
        **meta,
        "summary": summary,
        "recommendations": recommend(summary),
        "thresholds": [t.as_dict() for t in thresholds],
        "course": course,
        "plots": plots,
        "record_fields": list(RECORD_FIELDS),
        "records": records,
    }
    doc = _jsonable(doc)
    (out / "report.json").write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    write_csv(out / "report.csv", records)
    (out / "report.md").write_text(render_markdown(doc))
    return doc


# ---------------------------------------------------------------- markdown


def _ulp(value) -> str:
    if value is None:
        return "-"
    if value == 0 or (1e-3 <= abs(value) < 1e6 and float(value).is_integer()):
        return f"{value:.0f}"
    return f"{value:.3g}"


def _pct(value) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.2%}" if value >= 1e-4 else f"{value:.1e}"


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def recommendation_lines(doc: dict) -> list[str]:
    """The generated recommendations as markdown bullets."""
    lines = []
    for rec in doc["recommendations"]:
        others = "; ".join(f"`{o['method']}`: {o['reason']}" for o in rec["others"])
        lines.append(
            f"- **{rec['function']}, {rec['dtype']}: use `{rec['method']}`**: worst error "
            f"{_ulp(rec['worst_ulp'])} ULP ({_bits(rec['worst_bits'])} bits), inf/NaN {_pct(rec['nonfinite'])}, "
            f"underflow {_pct(rec['underflow'])} of elements over {rec['cells']} cells."
            + (f" Others: {others}." if others else "")
        )
    return lines


def _bits(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def summary_lines(doc: dict) -> list[str]:
    """The per method x dtype summary table."""
    rows = []
    for s in doc["summary"]:
        if s["bound"]:
            bound = f"{s['bound_cells_inside']}/{s['bound_cells']} (worst {_ratio(s['bound_worst_ratio'])})"
        else:
            bound = "no bound"
        rows.append(
            [
                s["function"],
                f"`{s['method']}`",
                s["dtype"],
                s["cells"],
                _ulp(s["worst_ulp"]),
                _bits(s["worst_bits"]),
                _ulp(s["median_ulp"]),
                _pct(s["overflow"]),
                _pct(s["nan"]),
                _pct(s["underflow"]),
                bound,
            ]
        )
    header = [
        "function",
        "method",
        "dtype",
        "cells",
        "worst ULP",
        "worst bits",
        "median ULP",
        "overflow",
        "NaN",
        "underflow",
        "inside BHH bound (cells, worst measured/bound)",
    ]
    return _table(header, rows)


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def threshold_lines(doc: dict) -> list[str]:
    """The threshold table: measured edge (decimal and hex) next to theory."""
    rows = []
    for t in doc["thresholds"]:
        dt = t["dtype"]
        rows.append(
            [
                t["function"],
                f"`{t['method']}`",
                dt,
                f"{t['beta']:g}",
                describe(t["overflow"], dt),
                describe(t["theory_overflow"], "float64"),
                describe(t["underflow"], dt),
                describe(t["theory_normal"], "float64"),
                describe(t["theory_subnormal"], "float64"),
            ]
        )
    header = [
        "function",
        "method",
        "dtype",
        "beta",
        "overflows from t =",
        "theory ln(max)/beta",
        "underflows from t =",
        "theory ln(min normal)/beta",
        "theory ln(min subnormal)/beta",
    ]
    return _table(header, rows)


def course_lines(doc: dict) -> list[str]:
    """The course-material check: worked example, sums, hardmax limit."""
    course = doc["course"]
    rows = [
        [
            "e" if e["base"] == "e" else "2",
            e["method"],
            ", ".join(f"{v:.4f}" for v in e["values"]),
            ", ".join(f"{v:.4f}" for v in e["quoted"]),
            "yes" if e["agrees"] else "**NO**",
            _ulp(e["max_ulp_vs_reference"]),
            f"{e['sum_dev_eps']:.2f}",
        ]
        for e in course["examples"]
    ]
    lines = ["softmax([2, 4, 2, 1]) in float64, computed now:", ""]
    lines += _table(
        [
            "base",
            "computed by",
            "values (4 d.p.)",
            "course",
            "agrees",
            "ULP vs reference",
            "abs(sum - 1) / eps",
        ],
        rows,
    )
    agree = all(e["agrees"] for e in course["examples"])
    lines += [
        "",
        f"All methods {'agree' if agree else 'do NOT all agree'} with the quoted values to 4 decimals.",
    ]
    methods = [m for m in ss.METHODS["softmax"] if course["hardmax"] and m in course["hardmax"][0]]
    rows = []
    for h in course["hardmax"]:
        values = [h["reference"]] + [h[m] for m in methods]
        gap = f"{abs(h['reference'] - h['limit']):.3g}"
        rows.append(
            [h["row"], f"{h['beta']:g}", f"{h['limit']:.4f}", gap]
            + ["NaN/inf" if v is None else f"{v:.6f}" for v in values]
        )
    lines += [
        "",
        "Approach to hardmax: softmax of a maximal element as beta grows (limit 1/k for k tied maxima):",
        "",
    ]
    lines += _table(
        ["row", "beta", "limit 1/k", "abs(reference - 1/k)", "reference"]
        + [f"`{m}`" for m in methods],
        rows,
    )
    return lines


def failed_lines(doc: dict) -> list[str]:
    """The *Failed cells* section: one table row per cell that raised (empty list when none did)."""
    bad = failed(doc["records"])
    if not bad:
        return []
    keys = ("function", "method", "dtype", "family", "n", "scale", "beta", "base", "rows")
    rows = [
        [
            *(f"{r[k]:g}" if isinstance(r[k], float) else r[k] for k in keys),
            " ".join(r["error"].split()),
        ]
        for r in bad
    ]
    return [
        "## Failed cells",
        "",
        f"{len(bad)} of {len(doc['records'])} cells raised instead of giving a record; they are left out of the "
        "tables above, and their records in `report.json`/`report.csv` carry the error. Rerunning the command "
        "retries them (finished reference rows come from the cache).",
        "",
        *_table([*keys, "error"], [[str(c).replace("|", "\\|") for c in row] for row in rows]),
        "",
    ]


def render_markdown(doc: dict) -> str:
    """The whole ``report.md``."""
    grid = doc["grid"]
    bad = failed(doc["records"])
    executor = f" ({doc['executor']})" if doc.get("executor") else ""
    lines = [
        "# Softmax accuracy report",
        "",
        f"Generated by `{doc['command']}` in {doc['wall_seconds']:.0f} s with {doc['workers']} worker(s){executor}. "
        f"stable_softmax {doc['package']}, numba {doc['numba']}, numpy {doc['numpy']}, mpmath {doc['mpmath']}, "
        f"Python {doc['python']} on {doc['machine']['platform']} ({doc['machine']['cores']} cores).",
        "",
        f"Grid `{grid['name']}`, seed {doc['seed']}: {len(doc['records'])} cells, "
        f"{doc['reference_elements']} reference elements; dtypes {', '.join(doc['dtypes'])}; families "
        f"{', '.join(doc['families'])}; methods "
        + "; ".join(f"{f}: {', '.join(ms)}" for f, ms in doc["functions"].items())
        + "."
        + (f" **{len(bad)} cell(s) failed** (see *Failed cells*)." if bad else ""),
        "",
        "## Recommendations",
        "",
        "Ranked by the data: fewest inf/NaN outputs, then the fewest whole bits of worst error, then the fewest "
        "underflowed outputs, then the smallest worst error in ULPs.",
        "",
        *recommendation_lines(doc),
        "",
        "## Summary per method and dtype",
        "",
        "Worst/median ULP are over the outputs classed OK (see *Definitions*); overflow, NaN and underflow are "
        "fractions of all outputs, averaged over cells. The last column counts cells whose every checked output "
        "lies inside the first-order bound of Blanchard, Higham & Higham (2021).",
        "",
        *summary_lines(doc),
        "",
        *failed_lines(doc),
        "## Overflow and underflow thresholds",
        "",
        "Exact edges found by bisection on the float grid (base e). Overflow: the smallest `t` for which the row "
        "`[t, 0]` gives inf or NaN. Underflow: the largest `t` for which the row `[t, t]` gives inf/NaN or a zero "
        "probability, i.e. where `exp(beta t)` rounds to 0 (ln(min subnormal / 2) / beta for a correctly rounded "
        "exp). `none`: no failure for any finite logit where the exact result is finite. Measured values are "
        "exact floats of the dtype; theory values are shown in float64.",
        "",
        *threshold_lines(doc),
        "",
        "## Course material, checked live",
        "",
        *course_lines(doc),
        "",
    ]
    if doc["plots"]:
        lines += ["## Plots", ""]
        for name in doc["plots"]:
            lines += [f"![{name}]({name})", ""]
    lines += [
        "## Definitions",
        "",
        "- **ULP distance**: the number of representable floats of the dtype between the result and the correctly "
        "rounded reference (+0 == -0). **Bits** = log2(1 + ULP).",
        "- **Classes** (per output element): overflow = inf where the reference is not that inf; NaN = NaN where "
        "the reference is not NaN; underflow = 0 where the reference is nonzero, or a subnormal that lost bits; "
        "ok = everything else. `max_ulp`/`median_ulp` are taken over ok elements with a finite distance, so a "
        "failure is counted once, by its class, and does not turn the error of the cell into inf.",
        "- **Bound**: the first-order bound of Blanchard, Higham & Higham, *Accurately computing the log-sum-exp "
        "and softmax functions*, IMA J. Numer. Anal. 41 (2021), e.g. (n + 2 + 2 (max - min)) u for the shifted "
        "softmax, extended to the scale c = beta ln(base) and to each kernel's roundings "
        "(`stable_softmax/accuracy/bounds.py`), converted to ULPs of the reference (+1 for the reference's own "
        "rounding). It is checked on ok elements with a normal reference in rows where no intermediate "
        "overflows or underflows harmfully; 'worst' is the largest measured/bound ratio (inside when <= 1).",
        "- **Families**: "
        + "; ".join(f"`{f}`: {FAMILIES[f].description}" for f in doc["families"])
        + ".",
        "- Inputs are regenerated from (seed, family, n, scale, rows, dtype); the records are in `report.json` "
        "and `report.csv`.",
        "",
    ]
    return "\n".join(lines)
