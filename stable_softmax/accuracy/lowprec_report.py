"""The low-precision part of the report: storage formats and pipelines against the reference.

For each target (:mod:`.pipelines`: our default path in a storage format, or
a simulated storage / compute / accumulate pipeline), every method of every
function runs on a small grid of logits held in the storage format, and is
compared with the correctly rounded reference in that format
(``reference.softmax(x)`` for ``x`` of that dtype: no double rounding):

* error in ULPs of the storage format (ordinal distance) vs ``n`` at one
  logit scale, and vs the logit scale at one ``n`` (:data:`LOW_GRIDS`);
* the mean signed error in ULPs (**bias**: ``ordinal(result) -
  ordinal(reference)`` averaged over the elements; a rounding that favours
  one direction shows here, not in the maximum);
* the fraction of rows whose **argmax changes** (softmax, log_softmax);
* ``|sum - 1|`` of the softmax result as stored (the exact sum of the
  storage values, :func:`.metrics.sum_deviation_eps`);
* the first-order bounds of :func:`.bounds.pipeline_bound_ulps` (BHH with
  the compute format's unit roundoff; the tiled online bound of
  ``docs/online-softmax-error.md``), checked per element as the main report
  checks its bounds.

Thresholds (:mod:`.lowprec_thresholds`) and the certified-reference comparison
(:func:`reference_matters`) complete the section.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

import reference

from .. import floatbits
from ..formats import FORMATS
from . import metrics
from .bounds import pipeline_bound_ulps
from .families import make_inputs
from .lowprec_thresholds import format_thresholds, target_thresholds
from .pipelines import ONLINE_BLOCK, Target
from .sweep import _difference

__all__ = [
    "LOW_FIELDS",
    "config_section",
    "LOW_GRIDS",
    "LowGrid",
    "build_lowprec",
    "measure_low",
    "reference_matters",
    "signed_ulps",
]


@dataclass(frozen=True)
class LowGrid:
    """The inputs of the low-precision part.

    ``ns`` at logit scale ``n_scale`` (error vs n), ``scales`` at row length
    ``scale_n`` (error vs scale), each cell about ``elements`` values; the
    certified-reference section uses ``certified_rows`` rows of
    ``certified_n`` gaussian logits of standard deviation ``certified_sigma``.
    """

    name: str
    families: tuple[str, ...]
    ns: tuple[int, ...]
    n_scale: float
    scales: tuple[float, ...]
    scale_n: int
    elements: int
    certified_rows: int = 16
    certified_n: int = 256
    certified_sigma: float = 3.0

    def points(self) -> list[tuple[str, int, float]]:
        """``(family, n, scale)`` of every cell, once each."""
        found = [(f, n, self.n_scale) for f in self.families for n in self.ns]
        found += [(f, self.scale_n, s) for f in self.families for s in self.scales]
        return list(dict.fromkeys(found))

    def as_dict(self) -> dict:
        return asdict(self)


#: ``quick`` goes with ``report --quick``, ``full`` with ``--full``.
LOW_GRIDS = {
    "quick": LowGrid(
        "quick", ("gaussian",), (4, 16, 64, 256, 1024), 4.0, (1.0, 4.0, 16.0), 64, 2048
    ),
    "full": LowGrid(
        "full",
        ("gaussian", "uniform", "spike", "ties"),
        (4, 16, 64, 256, 1024, 4096),
        4.0,
        (0.25, 1.0, 4.0, 16.0, 64.0),
        64,
        8192,
        certified_rows=64,
    ),
}

#: Keys of a low-precision record, in ``lowprec.csv`` column order.
LOW_FIELDS = (
    "target",
    "storage",
    "compute",
    "accumulate",
    "function",
    "method",
    "family",
    "n",
    "scale",
    "rows",
    "elements",
    "max_ulp",
    "mean_ulp",
    "bias_ulp",
    "overflow",
    "underflow",
    "nan",
    "argmax_changed",
    "sum_dev_mean",
    "sum_dev_max",
    "bound_checked",
    "bound_inside",
    "bound_ratio_max",
    "error",
)


def signed_ulps(result: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``ordinal(result) - ordinal(ref)``: the signed ULP error (positive: result too high).

    Both arrays of one format, finite and not NaN where it is used.
    """
    with np.errstate(invalid="ignore"):
        return (floatbits.to_ordinal(result) - floatbits.to_ordinal(ref)).astype(np.float64)


def _num(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def measure_low(target: Target, function: str, method: str, x, result, ref) -> dict:
    """The statistics of ``result`` against the correctly rounded ``ref`` (storage dtype)."""
    fmt = target.format
    with np.errstate(invalid="ignore", over="ignore"):
        r64, ref64 = result.astype(np.float64), ref.astype(np.float64)
    codes = metrics.classify_values(r64, ref64, fmt.smallest_normal)
    ok = (codes == metrics.OK) & np.isfinite(r64) & np.isfinite(ref64)
    size = codes.size
    stats: dict = {"elements": int(size)}
    if ok.any():
        dist = floatbits.ulp_distance(result[ok], ref[ok])
        stats["max_ulp"] = float(dist.max())
        stats["mean_ulp"] = float(dist.mean())
        stats["bias_ulp"] = float(signed_ulps(result[ok], ref[ok]).mean())
    else:
        stats["max_ulp"] = stats["mean_ulp"] = stats["bias_ulp"] = None
    for name, code in (
        ("overflow", metrics.OVERFLOW),
        ("underflow", metrics.UNDERFLOW),
        ("nan", metrics.NAN),
    ):
        stats[name] = float(np.count_nonzero(codes == code) / size) if size else 0.0
    if function in ("softmax", "log_softmax"):
        kept = metrics.argmax_kept(r64, ref64)
        stats["argmax_changed"] = float(1.0 - np.mean(kept))
    else:
        stats["argmax_changed"] = None
    if function == "softmax":
        # the exact |sum - 1| of the stored values, rounded once to float64
        dev = metrics.sum_deviation_eps(r64) * float(np.finfo(np.float64).eps)
        dev = dev[np.isfinite(dev)]
        stats["sum_dev_mean"] = float(dev.mean()) if dev.size else None
        stats["sum_dev_max"] = float(dev.max()) if dev.size else None
    else:
        stats["sum_dev_mean"] = stats["sum_dev_max"] = None
    stats.update(_bound_stats(target, function, method, x, r64, ref64, ok))
    return stats


def _bound_stats(target: Target, function, method, x, r64, ref64, ok) -> dict:
    empty = {"bound_checked": None, "bound_inside": None, "bound_ratio_max": None}
    if target.peer is not None:  # its arithmetic is not ours to bound
        return empty
    compute = FORMATS[target.compute or "float32"]
    accumulate = FORMATS[target.accumulate or "float32"]
    found = pipeline_bound_ulps(
        function,
        method,
        x.astype(np.float64),
        ref64,
        1.0,
        storage=target.format,
        compute=compute,
        accumulate=accumulate,
        native_exp=compute.dtype.itemsize >= 4,
        block=ONLINE_BLOCK if target.simulated else None,
        u_compute=target.u_compute,
        u_accumulate=target.u_accumulate,
    )
    if found is None:
        return empty
    bound, applies = found
    checked = applies & ok
    if not checked.any():
        return dict(empty, bound_checked=0.0)
    from .bounds import format_ulp

    error = np.abs(r64[checked] - ref64[checked]) / format_ulp(ref64[checked], target.format)
    ratio = error / bound[checked]
    return {
        "bound_checked": float(np.count_nonzero(checked) / checked.size),
        "bound_inside": float(np.mean(ratio <= 1.0)),
        "bound_ratio_max": _num(ratio.max()),
    }


def _reference(function: str, x: np.ndarray) -> np.ndarray:
    """The correctly rounded ``function`` of ``x`` in ``x``'s format (cached on disk)."""
    return getattr(reference, function)(x)


def _kernel_name(target: Target) -> str:
    return f"{target.peer}'s own" if target.peer is not None else "float32 kernel"


def _records(targets, functions, grid: LowGrid, seed: int) -> list[dict]:
    records = []
    for fmt_name in dict.fromkeys(t.storage for t in targets):
        dtype = FORMATS[fmt_name].dtype
        for family, n, scale in grid.points():
            rows = max(1, grid.elements // n)
            x = make_inputs(family, n, scale, rows, dtype, seed)
            refs = {f: _reference(f, x) for f in functions}
            for target in (t for t in targets if t.storage == fmt_name):
                for function, wanted in functions.items():
                    for method in target.methods(function):
                        if wanted is not None and method not in wanted:
                            continue
                        record = {
                            "target": target.name,
                            "storage": target.storage,
                            "compute": target.compute or _kernel_name(target),
                            "accumulate": target.accumulate or _kernel_name(target),
                            "function": function,
                            "method": method,
                            "family": family,
                            "n": n,
                            "scale": scale,
                            "rows": rows,
                        }
                        try:
                            out = target.compute_fn(function, method, x, 1.0, None)
                            record.update(
                                measure_low(target, function, method, x, out, refs[function])
                            )
                            record["error"] = None
                        except Exception as exc:  # a cell that raises is reported, not fatal
                            record["error"] = f"{type(exc).__name__}: {exc}"
                        records.append({k: record.get(k) for k in LOW_FIELDS})
    return records


def reference_matters(
    pipelines,
    *,
    rows: int = 64,
    n: int = 256,
    sigma: float = 3.0,
    seed: int = 0,
    block: int = 32,
    methods=("shifted", "online"),
) -> list[dict]:
    """What a certified reference changes: each pipeline against two yardsticks.

    Blanchard, Higham & Higham (2021) measured simulated fp16/bf16 softmax
    against an fp32 run of the same algorithm. For each pipeline
    ``(storage, compute, accumulate)`` and method, the simulated softmax of
    ``rows x n`` gaussian logits (standard deviation ``sigma``, rounded to the
    storage format) is measured against that fp32 run (storage, float32,
    float32; rounded to the storage format, as a user would compare) and
    against the correctly rounded softmax in the storage format.

    Returns
    -------
    list of dict
        Per pipeline and method: ``vs_fp32_mean``/``vs_fp32_max`` and
        ``vs_exact_mean``/``vs_exact_max`` (ULPs of the storage format),
        ``bias_fp32``/``bias_exact`` (mean signed ULPs), ``judged_differently``
        (fraction of elements whose two distances differ) and
        ``fp32_run_not_cr`` (fraction where the fp32 run itself is not the
        correctly rounded value).
    """
    from ..lowprec.pipeline import Pipeline, simulate

    rng = np.random.default_rng(seed)
    out = []
    for storage, compute, acc in pipelines:
        dtype = FORMATS[storage].dtype
        x = (rng.standard_normal((rows, n)) * sigma).astype(dtype)
        exact = reference.softmax(x)
        for method in methods:
            kw = {"method": method, "block": block}
            got = simulate("softmax", x, pipeline=Pipeline(storage, compute, acc), **kw)
            run32 = simulate("softmax", x, pipeline=Pipeline(storage, "float32", "float32"), **kw)
            d32 = floatbits.ulp_distance(got, run32)
            dex = floatbits.ulp_distance(got, exact)
            out.append(
                {
                    "pipeline": f"{storage}:{compute}:{acc}",
                    "method": method,
                    "rows": rows,
                    "n": n,
                    "sigma": sigma,
                    "vs_fp32_mean": float(d32.mean()),
                    "vs_fp32_max": float(d32.max()),
                    "vs_exact_mean": float(dex.mean()),
                    "vs_exact_max": float(dex.max()),
                    "bias_fp32": float(signed_ulps(got, run32).mean()),
                    "bias_exact": float(signed_ulps(got, exact).mean()),
                    "judged_differently": float(np.mean(d32 != dex)),
                    "fp32_run_not_cr": float(
                        np.mean(run32.astype(np.float64) != exact.astype(np.float64))
                    ),
                }
            )
    return out


def build_lowprec(targets, functions, grid: str | LowGrid = "quick", seed: int = 0) -> dict:
    """The low-precision section of ``report.json`` for ``targets``.

    Parameters
    ----------
    targets : sequence of Target
    functions : mapping
        ``{function: method names or None (all the target has)}``.
    grid : "quick", "full" or LowGrid
    seed : int

    Returns
    -------
    dict
        ``grid``, ``targets`` (name and label), ``formats`` (theory and
        exact exp thresholds, once per storage format), ``thresholds`` (per
        target, function and method), ``records`` (:data:`LOW_FIELDS`) and
        ``certified`` (:func:`reference_matters` for the simulated targets),
        ``seconds`` (wall time of the section) and ``reference_engine_stats``
        (the reference's work per engine during it; None without stats).
    """
    grid = LOW_GRIDS[grid] if isinstance(grid, str) else grid
    storages = list(dict.fromkeys(t.storage for t in targets))
    simulated = [(t.storage, t.compute, t.accumulate) for t in targets if t.simulated]
    start, before = time.monotonic(), reference.engine_stats()
    section = {
        "grid": grid.as_dict(),
        "targets": [{"name": t.name, "label": t.label} for t in targets],
        "formats": [format_thresholds(FORMATS[s]) for s in storages],
        "thresholds": [
            row
            for t in targets
            for function, wanted in functions.items()
            for row in target_thresholds(t, function, wanted)
        ],
        "records": _records(targets, functions, grid, seed),
        "certified": reference_matters(
            simulated,
            rows=grid.certified_rows,
            n=grid.certified_n,
            sigma=grid.certified_sigma,
            seed=seed,
            block=ONLINE_BLOCK,
        ),
    }
    section["seconds"] = time.monotonic() - start
    section["reference_engine_stats"] = _difference(before, reference.engine_stats())
    return section


def config_section(config) -> dict:
    """:func:`build_lowprec` for a checked :class:`.report.ReportConfig`.

    Its low-precision dtypes (default paths) and pipelines; every method of a
    target when all of our methods are chosen (the default), else the chosen
    ones; the ``full`` low grid with ``grid="full"``, else ``quick``.
    """
    from .. import implementations
    from ..implementations.peers import PEERS
    from .pipelines import parse_targets

    chosen = dict.fromkeys(name for names in config.functions.values() for name in names)
    peers = [name for name in chosen if name in PEERS]
    targets = parse_targets(config.low_dtypes, config.pipelines, peers)
    grid = "full" if config.grid.name == "full" else "quick"
    wanted = {
        f: None if {i.name for i in implementations.builtin(f)} <= set(names) else tuple(names)
        for f, names in config.functions.items()
    }
    return build_lowprec(targets, wanted, grid, config.seed)
