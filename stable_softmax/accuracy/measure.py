"""One record: the statistics of one implementation's result against the reference on one cell.

Record statistics (keys :data:`RECORD_FIELDS`, after the cell's own fields):

* ``overflow``, ``underflow``, ``nan``: fractions of output elements in each
  class of :func:`stable_softmax.accuracy.metrics.classify` (overflow: inf
  or NaN where the reference is finite; nan: NaN where it is infinite);
  ``overflow_inf`` and ``overflow_nan`` split ``overflow`` into the outputs
  that are inf and those that are NaN (:func:`~.metrics.nonfinite_split`);
* ``max_ulp``, ``median_ulp``, ``max_bits``: over the elements classified OK
  with a finite ULP distance, so one overflow does not turn the error of the
  others into ``inf``: failures are counted by the fractions above. None
  when no element qualifies; ``unbounded`` is the fraction of OK elements
  with an infinite distance (a finite result where the exact value overflows);
* ``bound_*``: the first-order bound of :mod:`.bounds` (None when the
  implementation has none or it applies to no element);
* ``ref_failed``: fraction of rows left out because the reference could not
  round them (:class:`reference.PrecisionLimitError`);
* softmax only: ``sum_dev_max`` (largest ``|sum - 1|`` over rows with a
  finite sum, in eps of the dtype) and ``argmax_kept`` (fraction of rows);
* ``error``: None, or ``"ExceptionType: message"`` when computing the cell
  raised (:func:`error_record`); the statistics of such a record are None.

A record holds plain Python values only (JSON-serialisable and picklable).
"""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np

import reference

from . import metrics
from .bounds import bound_ulps
from .cells import Cell

__all__ = ["RECORD_FIELDS", "cell_reference", "cell_result", "error_record", "measure"]


def cell_reference(cell: Cell, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The correctly rounded reference of ``cell`` for inputs ``x`` (cached on disk).

    Returns ``(reference, valid)``: ``valid[r]`` is False for a row where the
    reference gave up (:class:`reference.PrecisionLimitError`); such rows are
    left out of the statistics and counted in the record's ``ref_failed``.
    """
    func = getattr(reference, cell.function)
    try:
        return func(x, beta=cell.beta, base=cell.base_arg), np.ones(len(x), dtype=bool)
    except reference.PrecisionLimitError:
        pass
    valid = np.ones(len(x), dtype=bool)
    rows = []
    for r, row in enumerate(x):
        try:
            rows.append(func(row[None, :], beta=cell.beta, base=cell.base_arg))
        except reference.PrecisionLimitError:
            valid[r] = False
            rows.append(
                np.full(
                    (1,) if cell.function == "logsumexp" else (1, x.shape[1]), np.nan, dtype=x.dtype
                )
            )
    return np.concatenate(rows), valid


def cell_result(cell: Cell, x: np.ndarray) -> np.ndarray:
    """What the implementation of ``cell`` returns for ``x``.

    Floating-point warnings are silenced: overflow is what the record
    measures, and a peer's or user's warnings would only be noise here.
    """
    with np.errstate(all="ignore"):
        return np.asarray(cell.implementation().compute(x, beta=cell.beta, base=cell.base_arg))


#: Keys of a record, in CSV column order.
RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Cell)) + (
    "elements",
    "max_ulp",
    "median_ulp",
    "max_bits",
    "overflow",
    "overflow_inf",
    "overflow_nan",
    "underflow",
    "nan",
    "unbounded",
    "bound_checked",
    "bound_inside",
    "bound_ratio_max",
    "sum_dev_max",
    "argmax_kept",
    "ref_failed",
    "error",
)


def _num(value) -> float | None:
    """A plain float, or None for NaN/absent."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def measure(
    cell: Cell, x: np.ndarray, result: np.ndarray, ref: np.ndarray, valid: np.ndarray | None = None
) -> dict:
    """The record of one cell from its inputs, the kernel's result and the reference.

    ``valid`` (per row, default all) leaves out rows without a reference.
    """
    rows_total = len(x)
    if valid is not None and not valid.all():
        x, result, ref = x[valid], result[valid], ref[valid]
    with np.errstate(all="ignore"):
        codes = metrics.classify(result, ref)
        ulps = metrics.ulp_distance(result, ref)
        ok = codes == metrics.OK
        good = ok & np.isfinite(ulps)
        size = codes.size
        record = cell.as_dict()
        record["elements"] = int(size)
        if good.any():
            worst = float(ulps[good].max())
            record["max_ulp"] = worst
            record["median_ulp"] = float(np.median(ulps[good]))
            record["max_bits"] = float(metrics.bits_of_error(worst))
        else:
            record["max_ulp"] = record["median_ulp"] = record["max_bits"] = None
        for name, code in (
            ("overflow", metrics.OVERFLOW),
            ("underflow", metrics.UNDERFLOW),
            ("nan", metrics.NAN),
        ):
            record[name] = float(np.count_nonzero(codes == code) / size) if size else 0.0
        inf_mask, nan_mask = metrics.nonfinite_split(result, ref)
        record["overflow_inf"] = float(np.count_nonzero(inf_mask) / size) if size else 0.0
        record["overflow_nan"] = float(np.count_nonzero(nan_mask) / size) if size else 0.0
        record["unbounded"] = (
            float(np.count_nonzero(ok & ~np.isfinite(ulps)) / size) if size else 0.0
        )
        record.update(_bound_stats(cell, x, result, ref, good))
        if cell.function == "softmax":
            dev = metrics.sum_deviation_eps(result)
            dev = dev[np.isfinite(dev)]
            record["sum_dev_max"] = float(dev.max()) if dev.size else None
            kept = metrics.argmax_kept(result, ref)
            record["argmax_kept"] = float(np.mean(kept)) if kept.size else None
        else:
            record["sum_dev_max"] = record["argmax_kept"] = None
        record["ref_failed"] = float(1.0 - len(x) / rows_total) if rows_total else 0.0
        record["error"] = None
    return {key: record[key] for key in RECORD_FIELDS}


def _bound_stats(cell: Cell, x, result, ref, good) -> dict:
    """How the measured error compares with the first-order bound of :mod:`.bounds`.

    The error is measured here as ``|result - ref| / ulp(ref)`` rather than by
    the ordinal ULP distance, which counts every float between a tiny positive
    and a tiny negative number when a result near 0 has the wrong sign.
    """
    empty = {"bound_checked": None, "bound_inside": None, "bound_ratio_max": None}
    found = bound_ulps(cell.function, cell.method, x, ref, cell.c)
    if found is None:
        return empty
    bound, applies = found
    checked = applies & good
    if not checked.any():
        return dict(empty, bound_checked=0.0)
    r64, ref64 = result[checked].astype(np.float64), ref[checked].astype(np.float64)
    error = np.abs(r64 - ref64) / np.spacing(np.abs(ref[checked])).astype(np.float64)
    ratio = error / bound[checked]
    return {
        "bound_checked": float(np.count_nonzero(checked) / checked.size),
        "bound_inside": float(np.mean(ratio <= 1.0)),
        "bound_ratio_max": _num(ratio.max()),
    }


def error_record(cell: Cell, exc: BaseException) -> dict:
    """The record of a cell whose computation raised ``exc``: statistics None, ``error`` set."""
    record = dict.fromkeys(RECORD_FIELDS)
    record.update(cell.as_dict())
    record["error"] = f"{type(exc).__name__}: {exc}"
    return record
