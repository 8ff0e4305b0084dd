"""``report.md``: the report document rendered as markdown (pure: text from the document)."""

from __future__ import annotations

from .compare import HOW_TO_READ, cost_lines, header_lines, special_value_lines
from .families import FAMILIES
from .plotdata import CAPTIONS
from .summary import failed, fmt_bits, fmt_pct, fmt_ulp

__all__ = [
    "course_lines",
    "failed_lines",
    "recommendation_lines",
    "render_markdown",
    "summary_lines",
    "threshold_lines",
]


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
            f"{fmt_ulp(rec['worst_ulp'])} ULP ({fmt_bits(rec['worst_bits'])} bits), inf/NaN "
            f"{fmt_pct(rec['nonfinite'])}, "
            f"underflow {fmt_pct(rec['underflow'])} of elements over {rec['cells']} cells."
            + (f" Others: {others}." if others else "")
        )
    return lines


def summary_lines(doc: dict) -> list[str]:
    """The per method x dtype summary table."""
    rows = []
    for s in doc["summary"]:
        if s["bound"]:
            worst = _ratio(s["bound_worst_ratio"])
            bound = f"{s['bound_cells_inside']}/{s['bound_cells']} (worst {worst})"
        else:
            bound = "no bound"
        rows.append(
            [
                s["function"],
                f"`{s['method']}`",
                s["dtype"],
                s["cells"],
                fmt_ulp(s["worst_ulp"]),
                fmt_bits(s["worst_bits"]),
                fmt_ulp(s["median_ulp"]),
                fmt_pct(s["overflow"]),
                fmt_pct(s.get("overflow_inf", 0.0)),
                fmt_pct(s.get("overflow_nan", 0.0)),
                fmt_pct(s["nan"]),
                fmt_pct(s["underflow"]),
                bound,
            ]
        )
    header = [
        "function",
        "implementation",
        "dtype",
        "cells",
        "worst ULP",
        "worst bits",
        "median ULP",
        "overflow",
        "(inf",
        "NaN)",
        "NaN at exact inf",
        "underflow",
        "inside BHH bound (cells, worst measured/bound)",
    ]
    return _table(header, rows)


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _decimal(value, dtype) -> str:
    """Enough digits to name the float (9 for float32, 17 for float64), no hex."""
    if value is None:
        return "none"
    return f"{value:.{9 if dtype == 'float32' else 17}g}"


def threshold_lines(doc: dict) -> list[str]:
    """Theory once per dtype and beta, then the measured edges per implementation.

    Decimal only (enough digits to name the float); the exact hex forms are
    in ``report.json`` (``overflow_hex``, ``underflow_hex``).
    """
    theory = {}
    for t in doc["thresholds"]:
        theory.setdefault((t["dtype"], t["beta"]), t)
    lines = _table(
        [
            "dtype",
            "beta",
            "exp(beta t) overflows above t =",
            "leaves the normal range below",
            "rounds to 0 below about",
        ],
        [
            [
                dt,
                f"{beta:g}",
                f"{t['theory_overflow']:.6g}",
                f"{t['theory_normal']:.6g}",
                f"{t['theory_subnormal']:.6g}",
            ]
            for (dt, beta), t in theory.items()
        ],
    )
    rows = [
        [
            t["function"],
            f"`{t['method']}`",
            t["dtype"],
            f"{t['beta']:g}",
            _decimal(t["overflow"], t["dtype"]),
            _decimal(t["underflow"], t["dtype"]),
        ]
        for t in doc["thresholds"]
    ]
    header = ["function", "implementation", "dtype", "beta", "fails from t =", "fails below t ="]
    return [*lines, "", *_table(header, rows)]


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
            fmt_ulp(e["max_ulp_vs_reference"]),
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
        f"All methods {'agree' if agree else 'do NOT all agree'} with the quoted values to 4 "
        "decimals.",
    ]
    fixed = {"row", "x", "k", "limit", "beta", "reference"}
    methods = [m for m in course["hardmax"][0] if m not in fixed] if course["hardmax"] else []
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
        "Approach to hardmax: softmax of a maximal element as beta grows (limit 1/k for k tied "
        "maxima):",
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
        f"{len(bad)} of {len(doc['records'])} cells raised instead of giving a record; they are "
        "left out of the "
        "tables above, and their records in `report.json`/`report.csv` carry the error. Rerunning "
        "the command "
        "retries them (finished reference rows come from the cache).",
        "",
        *_table([*keys, "error"], [[str(c).replace("|", "\\|") for c in row] for row in rows]),
        "",
    ]


def engine_lines(doc: dict) -> list[str]:
    """The reference engine of the run and, when the reference counts it, what each engine did."""
    if "reference_engine" not in doc:
        return []
    text = f"Reference engine: `{doc['reference_engine']}`"
    stats = doc.get("reference_engine_stats")
    if stats:
        work = ", ".join(
            f"{engine} {s.get('elements', 0):.0f} elements in {s.get('seconds', 0.0):.1f} s"
            for engine, s in stats["engines"].items()
        )
        text += f" ({work}, over {stats['groups']} input groups; cached rows are not counted)"
        fast, slow = stats["engines"].get("fast", {}), stats["engines"].get("mpmath", {})
        if "undecided" in fast and fast.get("elements"):
            text += (
                f". The fast step left {fast['undecided']:.0f} elements undecided "
                f"({fast['undecided'] / (fast['elements'] + slow.get('elements', 0)):.1e} of all)"
                f"; {slow.get('rows', 0):.0f} rows went whole to mpmath (undecided elements, "
                "special values, overflowing intermediates)"
            )
    return [text + ".", ""]


def render_markdown(doc: dict) -> str:
    """The whole ``report.md``."""
    # imported here: lowprec_markdown imports _table from this module
    from .lowprec_markdown import PLOT, lowprec_lines, render_lowprec_only

    if not doc["dtypes"]:
        return render_lowprec_only(doc)
    grid = doc["grid"]
    bad = failed(doc["records"])
    executor = f" ({doc['executor']})" if doc.get("executor") else ""
    lines = [
        "# Softmax accuracy report",
        "",
        *HOW_TO_READ,
        f"Generated by `{doc['command']}` in {doc['wall_seconds']:.0f} s with "
        f"{doc['workers']} worker(s){executor}. stable_softmax {doc['package']}, "
        f"numba {doc['numba']}, numpy {doc['numpy']}, mpmath {doc['mpmath']}, "
        f"Python {doc['python']} on {doc['machine']['platform']} "
        f"({doc['machine']['cores']} cores).",
        "",
        *engine_lines(doc),
        *header_lines(doc),
        f"Grid `{grid['name']}`, seed {doc['seed']}: {len(doc['records'])} cells, "
        f"{doc['reference_elements']} reference elements; dtypes {', '.join(doc['dtypes'])}; "
        "families "
        f"{', '.join(doc['families'])}; methods "
        + "; ".join(f"{f}: {', '.join(ms)}" for f, ms in doc["functions"].items())
        + "."
        + (f" **{len(bad)} cell(s) failed** (see *Failed cells*)." if bad else ""),
        "",
        "## Recommendations",
        "",
        "Ranked by the data: fewest inf/NaN outputs, then the fewest whole bits of worst error, "
        "then the fewest "
        "underflowed outputs, then the smallest worst error in ULPs.",
        "",
        *recommendation_lines(doc),
        "",
        "## Summary per implementation and dtype",
        "",
        "Worst/median ULP are over the outputs classed OK (see *Definitions*); overflow, NaN and "
        "underflow are "
        "fractions of all outputs, averaged over cells. The last column counts cells whose every "
        "checked output "
        "lies inside the first-order bound of Blanchard, Higham & Higham (2021).",
        "",
        *summary_lines(doc),
        "",
        *failed_lines(doc),
        "## Overflow and underflow thresholds",
        "",
        "Exact edges found by bisection on the float grid (base e). Overflow: the smallest `t` for "
        "which the row "
        "`[t, 0]` gives inf or NaN. Underflow: the largest `t` for which the row `[t, t]` gives "
        "inf/NaN or a zero "
        "probability, i.e. where `exp(beta t)` rounds to 0 (ln(min subnormal / 2) / beta for a "
        "correctly rounded "
        "exp). `none`: no failure for any finite logit where the exact result is finite. Measured "
        "values are "
        "exact floats of the dtype; theory values are shown in float64.",
        "",
        *threshold_lines(doc),
        "",
        "## Course material, checked live",
        "",
        *course_lines(doc),
        "",
    ]
    lines += lowprec_lines(doc)
    lines += special_value_lines(doc)
    lines += cost_lines(doc)
    main_plots = [p for p in doc["plots"] if p != PLOT]  # the low-precision one is shown there
    if main_plots:
        lines += ["## Plots", ""]
        for name in main_plots:
            lines += [f"![{name}]({name})", ""]
            if name in CAPTIONS:
                lines += [f"*{CAPTIONS[name]}*", ""]
    lines += [
        "## Definitions",
        "",
        "- **ULP distance**: the number of representable floats of the dtype between the result "
        "and the correctly "
        "rounded reference (+0 == -0). **Bits** = log2(1 + ULP).",
        "- **Classes** (per output element): overflow = inf or NaN where the reference is "
        "finite, or the opposite inf (split into its inf and NaN outputs in the columns "
        "`(inf`, `NaN)`); NaN at exact inf = NaN where the reference is an infinity; "
        "underflow = 0 where the reference is nonzero, or a subnormal "
        "that lost bits; "
        "ok = everything else. `max_ulp`/`median_ulp` are taken over ok elements with a finite "
        "distance, so a "
        "failure is counted once, by its class, and does not turn the error of the cell into inf.",
        "- **Bound**: the first-order bound of Blanchard, Higham & Higham, *Accurately computing "
        "the log-sum-exp "
        "and softmax functions*, IMA J. Numer. Anal. 41 (2021), e.g. (n + 2 + 2 (max - min)) u for "
        "the shifted "
        "softmax, extended to the scale c = beta ln(base) and to each kernel's roundings "
        "(`stable_softmax/accuracy/bounds.py`), converted to ULPs of the reference (+1 for the "
        "reference's own "
        "rounding). It is checked on ok elements with a normal reference in rows where no "
        "intermediate "
        "overflows or underflows harmfully; 'worst' is the largest measured/bound ratio (inside "
        "when <= 1).",
        "- **Families**: "
        + "; ".join(f"`{f}`: {FAMILIES[f].description}" for f in doc["families"])
        + ".",
        "- Inputs are regenerated from (seed, family, n, scale, rows, dtype); the records are in "
        "`report.json` "
        "and `report.csv`.",
        "",
    ]
    return "\n".join(lines)
