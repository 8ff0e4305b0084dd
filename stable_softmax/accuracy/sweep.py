r"""The accuracy sweep: kernels against the reference over a grid of inputs.

A grid **cell** is ``(function, method, dtype, family, n, scale, beta, base,
rows, seed)``. Its inputs are regenerated from the cell's parameters alone
(:func:`stable_softmax.accuracy.families.make_inputs`), so any process can
compute any cell: :func:`run_cell` is a pure, picklable top-level function
that returns a JSON-serialisable **record** (plain Python types only).

Cells that differ only in ``method`` share their inputs and reference, so the
sweep runs them as one group (:func:`run_group`); the reference is computed
once per group and the on-disk reference cache removes any remaining repeats,
including across runs: an interrupted sweep resumes where it stopped.

Record statistics (see :data:`RECORD_FIELDS`):

* ``overflow``, ``underflow``, ``nan``: fractions of output elements in each
  class of :func:`stable_softmax.accuracy.metrics.classify`;
* ``max_ulp``, ``median_ulp``, ``max_bits``: over the elements classified OK
  with a finite ULP distance, so one overflow does not turn the error of the
  others into ``inf``: failures are counted by the fractions above. None
  when no element qualifies; ``unbounded`` is the fraction of OK elements
  with an infinite distance (a finite result where the exact value overflows);
* ``bound_*``: the first-order bound of :mod:`.bounds` (None when the kernel
  has none or it applies to no element);
* ``ref_failed``: fraction of rows left out because the reference could not
  round them (:class:`reference.PrecisionLimitError`);
* softmax only: ``sum_dev_max`` (largest ``|sum - 1|`` over rows with a
  finite sum, in eps of the dtype) and ``argmax_kept`` (fraction of rows);
* ``error``: None, or ``"ExceptionType: message"`` when computing the cell
  raised (:func:`error_record`); the statistics of such a record are None.
  :func:`run_sweep` records the error and goes on with the other cells.

:func:`run_sweep` runs in this process or in local worker processes; the
Dask path (a cluster) is :mod:`.distributed`, which is imported only when
asked for.

The base e is recorded as ``math.e`` and passed as ``base=None``.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, fields

import numpy as np

import reference
import stable_softmax as ss

from . import metrics
from .bounds import bound_ulps
from .families import FAMILIES, make_inputs

__all__ = [
    "Block",
    "Cell",
    "Grid",
    "GRIDS",
    "RECORD_FIELDS",
    "build_cells",
    "error_record",
    "group_cells",
    "run_cell",
    "run_group",
    "run_group_recorded",
    "run_sweep",
]

DTYPES = ("float32", "float64")
BASES = (2.0, math.e, 3.0, 4.0, 10.0)


@dataclass(frozen=True)
class Cell:
    """One grid cell; every field is a plain Python value."""

    function: str
    method: str
    dtype: str
    family: str
    n: int
    scale: float
    beta: float
    base: float
    rows: int
    seed: int

    @property
    def c(self) -> float:
        """``beta * ln(base)`` in float64."""
        return self.beta if self.base == math.e else self.beta * math.log(self.base)

    @property
    def base_arg(self) -> float | None:
        """``base`` as the API takes it: None for e."""
        return None if self.base == math.e else self.base

    @property
    def group_key(self) -> tuple:
        """Everything but the method: cells with one key share inputs and reference."""
        return (
            self.function,
            self.dtype,
            self.family,
            self.n,
            self.scale,
            self.beta,
            self.base,
            self.rows,
            self.seed,
        )

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Block:
    """A cross product of input parameters; a grid is a union of blocks.

    ``elements`` is the target ``rows * n`` of a cell: ``rows = max(1,
    elements // n)``.
    """

    name: str
    families: tuple[str, ...]
    ns: tuple[int, ...]
    scales: tuple[float, ...]
    betas: tuple[float, ...] = (1.0,)
    bases: tuple[float, ...] = (math.e,)
    elements: int = 1024


@dataclass(frozen=True)
class Grid:
    """The blocks of a sweep plus its seed and the threshold betas."""

    name: str
    blocks: tuple[Block, ...]
    threshold_betas: tuple[float, ...] = (1.0, 1e3, 1e6)

    def as_dict(self) -> dict:
        return asdict(self)


_SHAPES = ("gaussian", "uniform", "spike", "ties", "spread")
_BETAS = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6)

#: The named grids. ``quick`` runs in well under 5 minutes on 2 cores with a
#: cold reference cache; ``full`` has about 40 times the reference work.
GRIDS: dict[str, Grid] = {
    "quick": Grid(
        "quick",
        (
            Block(
                "scale-n", _SHAPES, (2, 16, 256, 4096), (1.0, 10.0, 100.0, 1e3, 1e4), elements=1024
            ),
            Block(
                "beta",
                ("gaussian", "spike", "ties"),
                (64,),
                (1.0, 10.0),
                betas=_BETAS,
                elements=1024,
            ),
            Block(
                "base",
                ("gaussian", "spike"),
                (64,),
                (10.0,),
                betas=(1.0, 100.0),
                bases=BASES,
                elements=1024,
            ),
            Block("edges", ("edges",), (64,), (2.0,), betas=(1.0, 1e3), elements=1536),
            Block("llm", ("llm",), (32768,), (10.0, 30.0), elements=32768),
        ),
    ),
    "full": Grid(
        "full",
        (
            Block(
                "scale-n",
                _SHAPES,
                (2, 16, 256, 4096, 65536, 262144),
                (1.0, 3.0, 10.0, 30.0, 100.0, 1e3, 1e4, 1e5),
                elements=16384,
            ),
            Block(
                "beta", _SHAPES, (64, 4096), (1.0, 10.0), betas=_BETAS, bases=BASES, elements=4096
            ),
            Block(
                "edges",
                ("edges",),
                (64, 4096),
                (0.5, 2.0, 8.0),
                betas=_BETAS,
                bases=BASES,
                elements=6144,
            ),
            Block(
                "llm",
                ("llm",),
                (32768, 131072, 262144),
                (10.0, 30.0, 100.0),
                betas=(1.0, 10.0),
                elements=262144,
            ),
        ),
        threshold_betas=(1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6),
    ),
}


def build_cells(
    grid: Grid,
    functions: dict[str, tuple[str, ...]],
    dtypes: Iterable[str] = DTYPES,
    families: Iterable[str] | None = None,
    seed: int = 0,
) -> list[Cell]:
    """Every cell of ``grid`` for the given functions (with their methods), dtypes and families.

    ``families=None`` keeps all. Duplicate cells (blocks may overlap) are dropped;
    the order is deterministic.
    """
    keep = set(FAMILIES if families is None else families)
    cells: dict[Cell, None] = {}
    for block in grid.blocks:
        for family in block.families:
            if family not in keep:
                continue
            for n in block.ns:
                rows = max(1, block.elements // n)
                for scale in block.scales:
                    for beta in block.betas:
                        for base in block.bases:
                            for dtype in dtypes:
                                for function, methods in functions.items():
                                    for method in methods:
                                        cell = Cell(
                                            function,
                                            method,
                                            str(dtype),
                                            family,
                                            int(n),
                                            float(scale),
                                            float(beta),
                                            float(base),
                                            int(rows),
                                            int(seed),
                                        )
                                        cells[cell] = None
    return list(cells)


def group_cells(cells: Iterable[Cell]) -> list[list[Cell]]:
    """Cells grouped by :attr:`Cell.group_key` (shared inputs and reference), in first-seen order."""
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(cell.group_key, []).append(cell)
    return list(groups.values())


def cell_inputs(cell: Cell) -> np.ndarray:
    """The ``(rows, n)`` logits of ``cell``."""
    return make_inputs(
        cell.family, cell.n, cell.scale, cell.rows, np.dtype(cell.dtype), cell.seed, cell.c
    )


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
    """What the kernel of ``cell`` returns for ``x``, through the public API."""
    return np.asarray(
        getattr(ss, cell.function)(x, method=cell.method, beta=cell.beta, base=cell.base_arg)
    )


#: Keys of a record, in CSV column order.
RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Cell)) + (
    "elements",
    "max_ulp",
    "median_ulp",
    "max_bits",
    "overflow",
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


def run_group(cells: list[Cell]) -> list[dict]:
    """Records of cells that share inputs and reference (one :attr:`Cell.group_key`)."""
    if len({c.group_key for c in cells}) != 1:
        raise ValueError("run_group needs cells that differ only in method")
    x = cell_inputs(cells[0])
    ref, valid = cell_reference(cells[0], x)
    return [measure(cell, x, cell_result(cell, x), ref, valid) for cell in cells]


def run_cell(cell: Cell) -> dict:
    """The record of one cell, computed from its parameters alone."""
    return run_group([cell])[0]


def error_record(cell: Cell, exc: BaseException) -> dict:
    """The record of a cell whose computation raised ``exc``: statistics None, ``error`` set."""
    record = dict.fromkeys(RECORD_FIELDS)
    record.update(cell.as_dict())
    record["error"] = f"{type(exc).__name__}: {exc}"
    return record


def run_group_recorded(cells: list[Cell]) -> list[dict]:
    """:func:`run_group`, with an exception turned into error records instead of raised.

    When the group raises, its cells are run one by one so that only the
    cells that fail get an error record (the reference rows finished before
    the failure are in the on-disk cache, so the rerun is cheap).
    ``KeyboardInterrupt`` and other non-``Exception`` errors propagate.
    """
    try:
        return run_group(cells)
    except Exception as exc:
        if len(cells) == 1:
            return [error_record(cells[0], exc)]
    records = []
    for cell in cells:
        try:
            records.append(run_group([cell])[0])
        except Exception as exc:
            records.append(error_record(cell, exc))
    return records


def group_cost(group: list[Cell]) -> int:
    """Reference elements of a group: the unit of work the progress bar counts."""
    return group[0].rows * group[0].n


def run_sweep(
    cells: list[Cell],
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Records of all ``cells``, in the order of ``cells``.

    ``workers > 1`` runs groups in a :class:`ProcessPoolExecutor` (forkserver
    where available, else spawn); ``progress(k)`` is called with the reference
    elements of each finished group. A cell that raises gets an error record
    (:func:`run_group_recorded`). On ``KeyboardInterrupt`` pending groups are
    cancelled, the pool is shut down and the interrupt is re-raised; the rows
    the reference finished are in its on-disk cache.
    """
    groups = group_cells(cells)
    done: dict[Cell, dict] = {}

    def collect(group, records):
        for cell, record in zip(group, records):
            done[cell] = record
        if progress is not None:
            progress(group_cost(group))

    if workers <= 1:
        for group in groups:
            collect(group, run_group_recorded(group))
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        try:
            # Largest groups first so the last to finish are small.
            order = sorted(groups, key=group_cost, reverse=True)
            pending = {pool.submit(run_group_recorded, group): group for group in order}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    collect(pending.pop(future), future.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    return [done[cell] for cell in cells]


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Progress:
    """A tqdm bar on a terminal, else a one-line note every 10% (to ``stream``)."""

    def __init__(self, total: int, stream=None, desc: str = "reference elements"):
        self.total = max(int(total), 1)
        self.stream = stream if stream is not None else sys.stderr
        self.desc = desc
        self.count = 0
        self.start = time.monotonic()
        self._next_note = 0.1
        self.bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.total, file=self.stream, desc=desc, unit="el", unit_scale=True
            )

    def __call__(self, k: int) -> None:
        self.count += k
        if self.bar is not None:
            self.bar.update(k)
            return
        fraction = self.count / self.total
        if fraction >= self._next_note or self.count >= self.total:
            elapsed = time.monotonic() - self.start
            print(
                f"  {fraction:6.1%} of {self.total} {self.desc}, {elapsed:.0f} s", file=self.stream
            )
            while self._next_note <= fraction:
                self._next_note += 0.1

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
