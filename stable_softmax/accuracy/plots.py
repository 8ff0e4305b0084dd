"""PNG plots of the sweep records (matplotlib, Agg backend), drawn so that failures show.

Reading rules shared by every plot:

* **One style per implementation** (:func:`.plotdata.style`): the same colour, marker
  and line style in every panel and file; coincident curves stay visible
  (``online`` and ``shifted`` give the same bits: different markers, line
  styles and a small sideways offset of the points, see :func:`.plotdata.offset`).
* **Failures are not hidden.** A point pools several cells; when any output
  of them is inf or NaN where the exact value is finite, the point is drawn
  hollow on the line labelled "inf/NaN" at the top of the panel instead of at
  its error over the remaining outputs (which would make the unguarded
  ``naive`` look best at large logits). :func:`.plotdata.series` returns that data.
* Titles say what each point pools (families, ``n``, scales, ``beta``,
  base); one legend per figure, outside the panels.

Each plot selects the records of one block of the grid
(:class:`~stable_softmax.accuracy.sweep.Block`) and is skipped when the block
has no records (for instance when ``--families`` left it out).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from .plotdata import (  # noqa: E402
    Point,
    cost_points,
    fail_level,
    failure,
    heatmap_data,
    offset,
    order,
    series,
    style,
)

__all__ = ["make_plots"]

_BITS_LABEL = "max error, bits = log2(1 + ULP)"


def _in_block(record: dict, block) -> bool:
    return (
        record["family"] in block.families
        and record["n"] in block.ns
        and record["scale"] in block.scales
        and record["beta"] in block.betas
        and record["base"] in block.bases
    )


def _block(grid, name: str):
    return next((b for b in grid.blocks if b.name == name), None)


def _pooled(records: list[dict], keys=("family", "n", "scale", "beta")) -> str:
    parts = []
    for key in keys:
        values = sorted({r[key] for r in records})
        if key == "family":
            parts.append("families " + ", ".join(values))
        else:
            parts.append(f"{key} " + ", ".join(f"{v:g}" for v in values))
    return "; ".join(parts)


# Margins in inches. A fixed layout instead of matplotlib's constrained layout,
# which measured as half of the plotting time of ``report --quick`` (it sizes
# every tick label of every panel, several times).
_LEFT, _RIGHT, _BOTTOM, _TOP, _ROW_GAP, _COLUMN_GAP = 0.75, 0.25, 0.55, 0.65, 0.95, 0.85
_LEGEND = 2.2  # the legend's column, right of the panels


def _margins(fig, legend: bool, column_gap: float = _COLUMN_GAP) -> None:
    width, height = fig.get_size_inches()
    rows, cols = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
    right = _LEGEND if legend else _RIGHT
    panel_w = (width - _LEFT - right - (cols - 1) * column_gap) / cols
    panel_h = (height - _BOTTOM - _TOP - (rows - 1) * _ROW_GAP) / rows
    fig.subplots_adjust(
        left=_LEFT / width,
        right=1 - right / width,
        bottom=_BOTTOM / height,
        top=1 - _TOP / height,
        wspace=column_gap / panel_w,
        hspace=_ROW_GAP / panel_h,
    )


def _figure(functions, dtypes, title, columns_per_dtype=1):
    fig, axes = plt.subplots(
        len(functions),
        len(dtypes) * columns_per_dtype,
        figsize=(4.8 * len(dtypes) * columns_per_dtype + 2.2, 3.3 * len(functions) + 0.8),
        squeeze=False,
    )
    _margins(fig, legend=True)
    fig.suptitle(title, fontsize=10)
    return fig, axes


def _legend_and_save(fig, axes, path: Path) -> None:
    handles = {}
    for ax in np.ravel(axes):
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    if handles:
        width, height = fig.get_size_inches()
        fig.legend(
            handles.values(),
            handles.keys(),
            loc="upper left",
            bbox_to_anchor=(1 - (_LEGEND - 0.1) / width, 1 - _TOP / height),
            fontsize=8,
        )
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _draw_points(ax, name: str, names: list[str], points: list[Point], dtype: str) -> None:
    colour, marker, line = style(name)
    dx = offset(name, names)
    xs = [p.x * dx for p in points]
    ys = [p.y(dtype) for p in points]
    ok = [k for k, p in enumerate(points) if not p.fails]
    ax.plot(xs, ys, line, marker=marker, markevery=ok, color=colour, linewidth=1.2, label=name)
    bad = [k for k, p in enumerate(points) if p.fails]
    if bad:  # hollow and larger: this point failed
        ax.plot(
            [xs[k] for k in bad],
            [ys[k] for k in bad],
            marker,
            linestyle="none",
            color=colour,
            markerfacecolor="none",
            markersize=8,
        )


def _log_x(ax) -> None:
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    low, high = ax.get_xlim()
    if high / low < 100:  # few decades: label 2x and 5x too, or the axis shows one number
        ax.xaxis.set_minor_locator(matplotlib.ticker.LogLocator(base=10, subs=(2.0, 5.0)))
        ax.xaxis.set_minor_formatter(plain)
    else:
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _fail_line(ax, dtype: str) -> None:
    level = fail_level(dtype)
    ax.axhline(level, color="0.6", linewidth=0.8, linestyle=(0, (4, 4)))
    ax.text(0.01, level, " inf/NaN", transform=ax.get_yaxis_transform(), va="bottom", fontsize=7)
    ax.set_ylim(-1, level + 4)


def _error_plot(records, path, x_key, title, xlabel) -> None:
    functions = list(dict.fromkeys(r["function"] for r in records))
    dtypes = sorted({r["dtype"] for r in records})
    names = order(records)
    data = series(records, x_key)
    fig, axes = _figure(functions, dtypes, title)
    for i, function in enumerate(functions):
        for j, dtype in enumerate(dtypes):
            ax = axes[i][j]
            for name in names:
                if (function, dtype, name) in data:
                    _draw_points(ax, name, names, data[(function, dtype, name)], dtype)
            _fail_line(ax, dtype)
            _log_x(ax)
            ax.set_title(f"{function}, {dtype}", fontsize=9)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(_BITS_LABEL)
            ax.grid(True, alpha=0.3)
    _legend_and_save(fig, axes, path)


def _heatmap(records, path: Path, function: str, names: list[str]) -> None:
    dtypes = sorted({r["dtype"] for r in records if r["function"] == function})
    fig, axes = plt.subplots(
        1,
        len(dtypes) * len(names),
        figsize=(4.4 * len(dtypes) * len(names), 4.0),
        squeeze=False,
    )
    _margins(fig, legend=False, column_gap=1.3)  # room for each panel's colour bar
    fig.suptitle(
        f"{function}: worst error (bits) per logit scale and n, max over families; beta 1, base e",
        fontsize=10,
    )
    for k, (dtype, name) in enumerate((d, m) for d in dtypes for m in names):
        ax = axes[0][k]
        scales, ns, bits, failed = heatmap_data(records, function, dtype, name)
        top = np.finfo(dtype).nmant + 1.0
        image = ax.imshow(
            np.where(failed > 0, np.nan, bits),
            origin="lower",
            aspect="auto",
            cmap="viridis",
            vmin=0,
            vmax=top,
        )
        for (a, b), value in np.ndenumerate(bits):
            if failed[a, b] > 0:
                ax.add_patch(
                    plt.Rectangle(
                        (b - 0.5, a - 0.5), 1, 1, fill=False, hatch="///", edgecolor="tab:red"
                    )
                )
                text, colour = f"inf/NaN\n{failed[a, b]:.0%}", "tab:red"
            elif math.isnan(value):
                continue
            else:
                text, colour = f"{value:.1f}", ("k" if value > 0.6 * top else "w")
            ax.text(b, a, text, ha="center", va="center", color=colour, fontsize=7)
        ax.set_xticks(range(len(ns)), [str(n) for n in ns])
        ax.set_yticks(range(len(scales)), [f"{s:g}" for s in scales])
        ax.set_xlabel("n (classes per row)")
        ax.set_ylabel("logit scale")
        ax.set_title(f"{name}, {dtype}", fontsize=9)
        fig.colorbar(image, ax=ax, label=f"bits (of {top:g})")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _rates_plot(records, path: Path) -> None:
    functions = list(dict.fromkeys(r["function"] for r in records))
    dtypes = sorted({r["dtype"] for r in records})
    names = order(records)
    fig, axes = _figure(
        functions,
        dtypes,
        f"Failure rates against beta ({_pooled(records, ('family', 'n', 'scale'))}; "
        "mean over cells)",
        columns_per_dtype=2,
    )
    groups: dict[tuple, dict] = defaultdict(lambda: defaultdict(list))
    for r in records:
        groups[(r["function"], r["dtype"], r["method"])][r["beta"]].append(r)
    for i, function in enumerate(functions):
        for j, dtype in enumerate(dtypes):
            for c, (what, rate) in enumerate(
                (("inf/NaN", failure), ("underflow", lambda r: r.get("underflow") or 0.0))
            ):
                ax = axes[i][2 * j + c]
                for name in names:
                    by_beta = groups.get((function, dtype, name))
                    if not by_beta:
                        continue
                    colour, marker, line = style(name)
                    dx = offset(name, names)
                    betas = sorted(by_beta)
                    ys = [float(np.mean([rate(r) for r in by_beta[b]])) for b in betas]
                    ax.plot(
                        [b * dx for b in betas], ys, line, marker=marker, color=colour, label=name
                    )
                _log_x(ax)
                ax.set_yscale("symlog", linthresh=1e-4)
                ax.set_ylim(0, 1.5)  # fractions: nothing below 0 to show
                ax.set_title(f"{function}, {dtype}: {what}", fontsize=9)
                ax.set_xlabel("beta (inverse temperature)")
                ax.set_ylabel("fraction of outputs")
                ax.grid(True, alpha=0.3)
    _legend_and_save(fig, axes, path)


def _cost_plot(records, costs, path: Path) -> None:
    data = cost_points(records, costs)
    functions = list(dict.fromkeys(k[0] for k in data))
    dtypes = sorted({k[1] for k in data})
    names = order(records)
    fig, axes = _figure(
        functions, dtypes, "Worst error over the sweep against cost (time / np.copyto time)"
    )
    for i, function in enumerate(functions):
        for j, dtype in enumerate(dtypes):
            ax = axes[i][j]
            for name in names:
                p = data.get((function, dtype, name))
                if p is None:
                    continue
                colour, marker, _ = style(name)
                ax.plot(
                    [p.x],
                    [p.y(dtype)],
                    marker,
                    color=colour,
                    markerfacecolor="none" if p.fails else colour,
                    markersize=8,
                    label=name,
                    linestyle="none",
                )
                ax.annotate(
                    name, (p.x, p.y(dtype)), textcoords="offset points", xytext=(4, 4), fontsize=6
                )
            _fail_line(ax, dtype)
            _log_x(ax)
            ax.set_title(f"{function}, {dtype}", fontsize=9)
            ax.set_xlabel("time per element / np.copyto time")
            ax.set_ylabel(_BITS_LABEL)
            ax.grid(True, alpha=0.3)
    _legend_and_save(fig, axes, path)


def make_plots(
    records: list[dict],
    grid,
    out: Path,
    recommendations: list[dict] | None = None,
    methods: dict | None = None,
    costs: list[dict] | None = None,
) -> list[str]:
    """Write the PNGs into ``out``; return their file names (those with data).

    ``recommendations`` and ``methods`` are accepted for the report's call
    and not needed; ``costs`` (:func:`stable_softmax.accuracy.cost.measure_costs`)
    adds ``error_vs_cost.png``. Records of cells that raised are left out.
    """
    out = Path(out)
    records = [r for r in records if not r.get("error")]
    written = []
    scale_n = _block(grid, "scale-n")
    if scale_n is not None:
        recs = [r for r in records if _in_block(r, scale_n)]
        if recs:
            _error_plot(
                recs,
                out / "error_vs_scale.png",
                "scale",
                f"Worst error against logit scale ({_pooled(recs, ('family', 'n', 'beta'))}, "
                "base e; max over cells)",
                "logit scale (logits ~ scale x family shape)",
            )
            written.append("error_vs_scale.png")
            mid = min({r["scale"] for r in recs}, key=lambda s: abs(math.log10(s) - 1.0))
            at_mid = [r for r in recs if r["scale"] == mid]
            _error_plot(
                at_mid,
                out / "error_vs_n.png",
                "n",
                f"Worst error against n (logit scale {mid:g}; "
                f"{_pooled(at_mid, ('family', 'beta'))}, base e; max over cells)",
                "n (classes per row)",
            )
            written.append("error_vs_n.png")
            function = "softmax" if any(r["function"] == "softmax" for r in recs) else None
            function = function or recs[0]["function"]
            present = {r["method"] for r in recs if r["function"] == function}
            shown = [m for m in ("shifted", "accurate") if m in present] or sorted(present)[:2]
            _heatmap(recs, out / "heatmap_scale_n.png", function, shown)
            written.append("heatmap_scale_n.png")
    beta = _block(grid, "beta")
    if beta is not None:
        recs = [r for r in records if _in_block(r, beta)]
        if recs:
            _rates_plot(recs, out / "rates_vs_beta.png")
            written.append("rates_vs_beta.png")
    if costs and records:
        if cost_points(records, costs):
            _cost_plot(records, costs, out / "error_vs_cost.png")
            written.append("error_vs_cost.png")
    return written
