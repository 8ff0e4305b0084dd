"""The course material's claims, checked live: the worked example and the hardmax limit.

Unlike the rest of the report these values are computed when the report is
built (our softmax implementations and the reference, float64), not read from
the sweep's records.
"""

from __future__ import annotations

import math

import numpy as np

import reference

from .. import implementations
from . import metrics

__all__ = ["COURSE_EXAMPLE", "HARDMAX_BETAS", "HARDMAX_ROWS", "course_checks"]

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


def _reference_softmax(x, beta: float = 1.0, base: float | None = None) -> np.ndarray:
    return reference.softmax(np.asarray(x, dtype=np.float64), beta=beta, base=base)


def _row(impl: implementations.Implementation, x: np.ndarray, **scale) -> np.ndarray:
    """``impl`` on the single row ``x`` (implementations take ``(rows, n)`` arrays)."""
    return np.asarray(impl.compute(np.ascontiguousarray(x[None, :]), **scale))[0]


def course_checks() -> dict:
    """The course's worked example, sum-to-one and the hardmax limit, run live in float64.

    Every built-in softmax implementation (our methods) and the reference are
    compared with the quoted 4-decimal values: agreement means
    ``|value - quoted| <= 0.5e-4`` (half a unit of the last quoted digit),
    plus ``1e-12`` so a value that rounds exactly to the quoted one passes.

    Returns
    -------
    dict
        ``examples``: per base (e, 2) and implementation, the values, the
        quoted values, ``agrees``, the largest ULP distance to the reference
        and ``|sum - 1|`` in eps. ``hardmax``: per row, beta and
        implementation, the softmax of a maximal element (None when not
        finite) next to the reference and the limit ``1/k`` of ``k`` tied maxima.
    """
    impls = implementations.builtin("softmax")
    x = np.array(COURSE_EXAMPLE["x"])
    examples = []
    for label, base in (("e", None), ("2", 2.0)):
        quoted = np.array(COURSE_EXAMPLE[label])
        ref = _reference_softmax(x, base=base)
        entries = [("reference", ref)] + [
            (impl.name, _row(impl, x, beta=1.0, base=base)) for impl in impls
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
                for impl in impls:
                    value = float(_row(impl, row, beta=beta, base=None)[top][0])
                    entry[impl.name] = value if math.isfinite(value) else None
            hardmax.append(entry)
    return {"examples": examples, "hardmax": hardmax}
