"""What the plots show, as data: one style per implementation, points that mark failures.

Pure Python and NumPy (no matplotlib), so the tests check the plotted data
rather than pixels. :mod:`.plots` draws it. A point pools several sweep
records; when any output of them is inf or NaN where the exact value is
finite it **fails** and is drawn on the "inf/NaN" line (:func:`fail_level`)
instead of at its error over the remaining outputs, which would make the
unguarded ``naive`` look best at large logits.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CAPTIONS",
    "Point",
    "cost_points",
    "fail_level",
    "failure",
    "heatmap_data",
    "offset",
    "order",
    "series",
    "style",
]

#: Fixed styles: (colour, marker, linestyle). Ours solid, peers dashed.
_STYLES = {
    "naive": ("tab:red", "v", "-"),
    "shifted": ("tab:blue", "o", "-"),
    "online": ("tab:cyan", "x", ":"),
    "lse": ("tab:orange", "s", "-"),
    "log1p": ("tab:purple", "D", "-"),
    "accurate": ("tab:green", "^", "-"),
    "scipy": ("tab:brown", "P", "--"),
    "torch": ("tab:pink", "*", "--"),
    "jax": ("tab:olive", "h", "--"),
    "onnxruntime": ("tab:gray", "<", "--"),
    "textbook": ("black", ">", "--"),
}
_SPARE_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")
_SPARE_MARKERS = ("p", "8", "d", "H", "1", "2", "3")

#: What each file shows; report.md prints it under the image.
CAPTIONS = {
    "error_vs_scale.png": "Worst error against the logit scale, beta 1, base e. Each point is "
    "the maximum over the families and n of the scale-n block. Hollow points on the "
    "'inf/NaN' line: some output was inf or NaN where the exact value is finite.",
    "error_vs_n.png": "Worst error against the number of classes n at one logit scale, "
    "beta 1, base e, maximum over the families. Hollow points on the 'inf/NaN' line: failures.",
    "heatmap_scale_n.png": "Worst error (bits) of softmax per logit scale and n, maximum over "
    "the families, beta 1: the default method next to accurate. Hatched cells with "
    "'inf/NaN' failed.",
    "rates_vs_beta.png": "Fraction of outputs that are inf/NaN where the exact value is finite "
    "(left) and that underflow (right) against beta, mean over the families and scales of "
    "the beta block (n = 64, base e).",
    "error_vs_cost.png": "Worst error over the whole sweep against time per element as a "
    "multiple of np.copyto of the same array (this run). Hollow points on the 'inf/NaN' "
    "line fail somewhere in the sweep. Lower left is better.",
}


def style(name: str) -> tuple[str, str, str]:
    """``(colour, marker, linestyle)`` of implementation ``name``, the same in every plot."""
    if name in _STYLES:
        return _STYLES[name]
    h = zlib.crc32(name.encode())
    return _SPARE_COLOURS[h % len(_SPARE_COLOURS)], _SPARE_MARKERS[h % len(_SPARE_MARKERS)], "-."


def offset(name: str, names: list[str]) -> float:
    """Multiplicative sideways offset of ``name``'s points on a log x axis (about +-6%)."""
    if len(names) < 2 or name not in names:
        return 1.0
    k = names.index(name) - (len(names) - 1) / 2
    return 10 ** (0.05 * k / max(1, (len(names) - 1) / 2))


def fail_level(dtype: str) -> float:
    """Height of the "inf/NaN" line in bits: above any finite ULP distance of ``dtype``."""
    return 8 * np.dtype(dtype).itemsize + 2.0


@dataclass(frozen=True)
class Point:
    """One plotted point: ``x``, the worst bits over OK outputs, and the failures it pools."""

    x: float
    bits: float  # max of max_bits over the pooled records (nan when none has OK outputs)
    failed: float  # mean fraction of inf/NaN outputs over the pooled records
    cells: int

    @property
    def fails(self) -> bool:
        """True when some pooled output is inf/NaN where the exact value is finite."""
        return self.failed > 0

    def y(self, dtype: str) -> float:
        """Where to draw it: the "inf/NaN" line when it fails, else its bits."""
        return fail_level(dtype) if self.fails else self.bits


def failure(record: dict) -> float:
    return (record.get("overflow") or 0.0) + (record.get("nan") or 0.0)


def series(records: list[dict], x_key: str) -> dict[tuple[str, str, str], list[Point]]:
    """``{(function, dtype, implementation): [Point, ...]}`` sorted by ``x_key``."""
    buckets: dict[tuple, dict] = defaultdict(lambda: defaultdict(list))
    for r in records:
        buckets[(r["function"], r["dtype"], r["method"])][r[x_key]].append(r)
    out = {}
    for key, by_x in buckets.items():
        points = []
        for x in sorted(by_x):
            recs = by_x[x]
            bits = [r["max_bits"] for r in recs if r.get("max_bits") is not None]
            points.append(
                Point(
                    x=float(x),
                    bits=max(bits) if bits else math.nan,
                    failed=float(np.mean([failure(r) for r in recs])),
                    cells=len(recs),
                )
            )
        out[key] = points
    return out


def heatmap_data(records: list[dict], function: str, dtype: str, name: str):
    """``(scales, ns, bits, failed)`` arrays of one implementation (max over families)."""
    recs = [
        r
        for r in records
        if r["function"] == function and r["dtype"] == dtype and r["method"] == name
    ]
    scales = sorted({r["scale"] for r in recs})
    ns = sorted({r["n"] for r in recs})
    bits = np.full((len(scales), len(ns)), np.nan)
    failed = np.zeros_like(bits)
    cells = defaultdict(list)
    for r in recs:
        cells[(r["scale"], r["n"])].append(r)
    for (s, n), rs in cells.items():
        values = [r["max_bits"] for r in rs if r.get("max_bits") is not None]
        bits[scales.index(s), ns.index(n)] = max(values) if values else np.nan
        failed[scales.index(s), ns.index(n)] = np.mean([failure(r) for r in rs])
    return scales, ns, bits, failed


def cost_points(records: list[dict], costs: list[dict]) -> dict[tuple[str, str, str], Point]:
    """``{(function, dtype, implementation): Point(x=cost ratio, ...)}`` over all records."""
    ratio = {
        (c["function"], c["dtype"], c["implementation"]): c["ratio"]
        for c in costs
        if c.get("ratio") is not None
    }
    pooled: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        key = (r["function"], r["dtype"], r["method"])
        if key in ratio:
            pooled[key].append(r)
    out = {}
    for key, recs in pooled.items():
        bits = [r["max_bits"] for r in recs if r.get("max_bits") is not None]
        out[key] = Point(
            x=float(ratio[key]),
            bits=max(bits) if bits else math.nan,
            failed=float(np.mean([failure(r) for r in recs])),
            cells=len(recs),
        )
    return out


def order(records: list[dict]) -> list[str]:
    names = list(dict.fromkeys(r["method"] for r in records))
    known = [n for n in _STYLES if n in names]
    return known + [n for n in names if n not in _STYLES]
