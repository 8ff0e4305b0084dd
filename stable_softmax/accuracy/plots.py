"""PNG plots of the sweep records (matplotlib, Agg backend).

Each plot selects the records of one block of the grid (see
:class:`stable_softmax.accuracy.sweep.Block`) and is skipped when that block
has no records (for instance when ``--families`` left it out).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .sweep import Block, Grid  # noqa: E402

__all__ = ["make_plots"]

_BITS_LABEL = "max error (bits = log2(1 + ULP))"
_MARKERS = ("o", "s", "^", "v", "D", "x")


def _in_block(record: dict, block: Block) -> bool:
    return (
        record["family"] in block.families
        and record["n"] in block.ns
        and record["scale"] in block.scales
        and record["beta"] in block.betas
        and record["base"] in block.bases
    )


def _block(grid: Grid, name: str) -> Block | None:
    return next((b for b in grid.blocks if b.name == name), None)


def _axes_grid(functions: list[str], dtypes: list[str], title: str):
    fig, axes = plt.subplots(
        len(functions),
        len(dtypes),
        figsize=(5.2 * len(dtypes), 3.4 * len(functions)),
        squeeze=False,
        constrained_layout=True,
    )
    fig.suptitle(title)
    return fig, axes


def _series(records, x_key, y_fn, group=("function", "dtype", "method")):
    """``{(function, dtype, method): (xs, ys)}`` with ``y_fn`` applied to the records at each x."""
    buckets: dict[tuple, dict] = defaultdict(lambda: defaultdict(list))
    for r in records:
        buckets[tuple(r[g] for g in group)][r[x_key]].append(r)
    out = {}
    for key, by_x in buckets.items():
        xs = sorted(by_x)
        out[key] = (xs, [y_fn(by_x[x]) for x in xs])
    return out


def _max_bits(recs) -> float:
    values = [r["max_bits"] for r in recs if r["max_bits"] is not None]
    return max(values) if values else math.nan


def _line_plot(
    records, path, x_key, y_fn, title, xlabel, ylabel, methods_order, logy=False, styles=None
):
    functions = list(dict.fromkeys(r["function"] for r in records))
    dtypes = sorted({r["dtype"] for r in records})
    fig, axes = _axes_grid(functions, dtypes, title)
    for name, fn_y, style in styles or [("", y_fn, "-o")]:
        series = _series(records, x_key, fn_y)
        for i, function in enumerate(functions):
            for j, dtype in enumerate(dtypes):
                ax = axes[i][j]
                for method in methods_order.get(function, ()):
                    if (function, dtype, method) not in series:
                        continue
                    xs, ys = series[(function, dtype, method)]
                    label = f"{method} {name}".strip()
                    index = methods_order[function].index(method)
                    # marker and width differ by method so identical curves stay visible
                    ax.plot(
                        xs,
                        ys,
                        style[:-1],
                        marker=_MARKERS[index % len(_MARKERS)],
                        color=f"C{index}",
                        label=label,
                        markersize=6 - index,
                        linewidth=max(2.6 - 0.6 * index, 0.8),
                    )
                ax.set_xscale("log")
                if logy:
                    ax.set_yscale("symlog", linthresh=1e-4)
                ax.set_title(f"{function}, {dtype}")
                ax.set_xlabel(xlabel)
                ax.set_ylabel(ylabel)
                ax.grid(True, alpha=0.3)
    for row in axes:
        for ax in row:
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _heatmap(records, path, method_of: dict[str, str], function: str):
    dtypes = sorted({r["dtype"] for r in records})
    fig, axes = plt.subplots(
        1, len(dtypes), figsize=(5.6 * len(dtypes), 4.2), squeeze=False, constrained_layout=True
    )
    fig.suptitle(f"{function}: max error (bits) over logit scale and n, recommended method, beta 1")
    for ax, dtype in zip(axes[0], dtypes):
        method = method_of.get(dtype)
        recs = [
            r
            for r in records
            if r["dtype"] == dtype and r["method"] == method and r["function"] == function
        ]
        scales = sorted({r["scale"] for r in recs})
        ns = sorted({r["n"] for r in recs})
        grid = np.full((len(scales), len(ns)), np.nan)
        cells = defaultdict(list)
        for r in recs:
            cells[(r["scale"], r["n"])].append(r)
        for (s, n), rs in cells.items():
            grid[scales.index(s), ns.index(n)] = _max_bits(rs)
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        top = np.nanmax(grid) if np.isfinite(grid).any() else 0.0
        for (a, b), value in np.ndenumerate(grid):
            if not math.isnan(value):
                color = "k" if value > 0.6 * top else "w"
                ax.text(b, a, f"{value:.1f}", ha="center", va="center", color=color, fontsize=8)
        ax.set_xticks(range(len(ns)), [str(n) for n in ns])
        ax.set_yticks(range(len(scales)), [f"{s:g}" for s in scales])
        ax.set_xlabel("n (classes per row)")
        ax.set_ylabel("logit scale")
        ax.set_title(f"{dtype}: {method} (max over families)")
        fig.colorbar(image, ax=ax, label="max error (bits)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def make_plots(
    records: list[dict], grid: Grid, out: Path, recommendations: list[dict], methods: dict
) -> list[str]:
    """Write the PNGs into ``out``; return their file names (those with data)."""
    out = Path(out)
    written = []
    scale_n = _block(grid, "scale-n")
    beta = _block(grid, "beta")
    if scale_n is not None:
        recs = [r for r in records if _in_block(r, scale_n)]
        if recs:
            _line_plot(
                recs,
                out / "error_vs_scale.png",
                "scale",
                _max_bits,
                "Max error vs logit scale (beta 1, base e; max over families and n; OK outputs only)",
                "logit scale (logits ~ scale x family shape)",
                _BITS_LABEL,
                methods,
            )
            written.append("error_vs_scale.png")
            mid = min({r["scale"] for r in recs}, key=lambda s: abs(math.log10(s) - 1.0))
            at_mid = [r for r in recs if r["scale"] == mid]
            _line_plot(
                at_mid,
                out / "error_vs_n.png",
                "n",
                _max_bits,
                f"Max error vs number of classes n (logit scale {mid:g}, beta 1; max over families)",
                "n (classes per row)",
                _BITS_LABEL,
                methods,
            )
            written.append("error_vs_n.png")
            function = (
                "softmax" if any(r["function"] == "softmax" for r in recs) else recs[0]["function"]
            )
            chosen = {
                rec["dtype"]: rec["method"]
                for rec in recommendations
                if rec["function"] == function
            }
            _heatmap(recs, out / "heatmap_scale_n.png", chosen, function)
            written.append("heatmap_scale_n.png")
    if beta is not None:
        recs = [r for r in records if _in_block(r, beta)]
        if recs:

            def nonfinite(rs):
                return float(np.mean([r["overflow"] + r["nan"] for r in rs]))

            def underflow(rs):
                return float(np.mean([r["underflow"] for r in rs]))

            _line_plot(
                recs,
                out / "rates_vs_beta.png",
                "beta",
                None,
                "Fraction of outputs that overflow (inf/NaN, solid) or underflow (dashed) vs inverse temperature beta",
                "beta (inverse temperature)",
                "fraction of outputs",
                methods,
                logy=True,
                styles=[("inf/NaN", nonfinite, "-o"), ("underflow", underflow, "--s")],
            )
            written.append("rates_vs_beta.png")
    return written
