"""The low-precision plot: softmax error and bias in storage ULPs against n, per target.

One PNG, ``lowprec_error_vs_n.png``: left, the mean error in ULPs of the
storage format; right, the bias (mean signed error); x the row length ``n``
at the grid's ``n_scale``. One colour per target; ``shifted`` solid,
``online`` dashed (the two methods whose contrast the section is about).
Cells with failures (overflow, underflow, NaN outputs) are drawn hollow:
their statistics cover the remaining outputs only.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .lowprec_markdown import PLOT as NAME  # noqa: E402

__all__ = ["make_lowprec_plot"]

_STYLES = {"shifted": ("-", "o"), "online": ("--", "s")}


def make_lowprec_plot(low: dict, out: Path) -> list[str]:
    """Write :data:`NAME` into ``out`` from the section ``low``; its name, or [] without data."""
    grid = low["grid"]
    family = grid["families"][0]
    recs = [
        r
        for r in low["records"]
        if not r["error"]
        and r["function"] == "softmax"
        and r["method"] in _STYLES
        and r["scale"] == grid["n_scale"]
        and r["family"] == family
        and r["mean_ulp"] is not None
    ]
    if not recs:
        return []
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    targets = list(dict.fromkeys(r["target"] for r in recs))
    for i, target in enumerate(targets):
        for method, (line, marker) in _STYLES.items():
            rs = sorted(
                (r for r in recs if r["target"] == target and r["method"] == method),
                key=lambda r: r["n"],
            )
            if not rs:
                continue
            colour = colours[i % len(colours)]
            ns = [r["n"] for r in rs]
            for ax, key in ((left, "mean_ulp"), (right, "bias_ulp")):
                ax.plot(ns, [r[key] for r in rs], line, color=colour, label=f"{target} {method}")
                for r in rs:
                    failed = (r["overflow"] + r["underflow"] + r["nan"]) > 0
                    ax.plot(
                        r["n"],
                        r[key],
                        marker,
                        color=colour,
                        markerfacecolor="none" if failed else colour,
                    )
    for ax, label in ((left, "mean error, storage ULPs"), (right, "bias, mean signed ULPs")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("n (classes per row)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    right.axhline(0.0, color="black", linewidth=0.8)
    left.set_title(f"softmax, {family} logits, scale {grid['n_scale']:g}")
    right.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.subplots_adjust(left=0.07, right=0.72, bottom=0.13, top=0.9, wspace=0.28)
    fig.savefig(Path(out) / NAME, dpi=90)
    plt.close(fig)
    return [NAME]
