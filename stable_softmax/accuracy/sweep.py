r"""The accuracy sweep: implementations against the reference over a grid of inputs.

The flow of data: a grid (:mod:`.grids`) and the implementations to measure
give the cells (:func:`.cells.build_cells`); each cell's inputs are
regenerated from its parameters (:mod:`.families`), its implementation and
the correctly rounded reference are run on them, and :func:`.measure.measure`
turns the pair into a JSON-serialisable **record**.

Cells that differ only in the implementation share their inputs and
reference, so the sweep runs them as one group (:func:`run_group`); the
reference is computed once per group and the on-disk reference cache removes
any remaining repeats, including across runs: an interrupted sweep resumes
where it stopped.

:func:`run_sweep` runs in this process or in local worker processes; the
Dask path (a cluster) is :mod:`.distributed`, which is imported only when
asked for. Both run groups through :func:`run_group_tallied`, which also
returns what the reference engines did for the group (:class:`EngineTally`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import reference

from .cells import Cell, build_cells, cell_inputs, group_cells, group_cost
from .grids import BASES, DTYPES, GRIDS, Block, Grid
from .measure import RECORD_FIELDS, cell_reference, cell_result, error_record, measure

__all__ = [
    "BASES",
    "DTYPES",
    "ENGINE_ENV",
    "GRIDS",
    "RECORD_FIELDS",
    "Block",
    "Cell",
    "EngineTally",
    "Grid",
    "Progress",
    "build_cells",
    "cell_inputs",
    "default_workers",
    "error_record",
    "group_cells",
    "group_cost",
    "run_cell",
    "run_group",
    "run_group_recorded",
    "run_group_tallied",
    "run_sweep",
]

#: The environment variable that selects the reference engine (read by :mod:`reference`).
ENGINE_ENV = "STABLE_SOFTMAX_REFERENCE_ENGINE"


@contextlib.contextmanager
def reference_engine(engine: str | None) -> Iterator[None]:
    """Run the body with :data:`ENGINE_ENV` set to ``engine`` (None: leave it as it is)."""
    if engine is None:
        yield
        return
    old = os.environ.get(ENGINE_ENV)
    os.environ[ENGINE_ENV] = engine
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENGINE_ENV, None)
        else:
            os.environ[ENGINE_ENV] = old


def engine_stats() -> dict | None:
    """``reference.engine_stats()`` when the reference has it, else None."""
    stats = getattr(reference, "engine_stats", None)
    return None if stats is None else stats()


class EngineTally:
    """Sum of the reference engines' work over groups: ``{engine: {"elements", "seconds"}}``.

    Each group adds the difference of ``reference.engine_stats()`` across its
    run (:func:`run_group_tallied`); a reference without ``engine_stats``
    leaves the tally empty and :meth:`as_dict` returns None.
    """

    def __init__(self) -> None:
        self.engines: dict[str, dict[str, float]] = {}
        self.groups = 0

    def add(self, delta: dict | None) -> None:
        """Add one group's difference (None: the reference keeps no stats)."""
        if delta is None:
            return
        self.groups += 1
        for engine, stats in delta.items():
            total = self.engines.setdefault(engine, {})
            for key, value in stats.items():
                total[key] = total.get(key, 0) + value

    def as_dict(self) -> dict | None:
        """The totals, or None when no group reported stats."""
        return {"groups": self.groups, "engines": self.engines} if self.groups else None


def _difference(before: dict | None, after: dict | None) -> dict | None:
    if before is None or after is None:
        return None
    return {
        engine: {key: value - before.get(engine, {}).get(key, 0) for key, value in stats.items()}
        for engine, stats in after.items()
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


def run_group_tallied(
    cells: list[Cell], engine: str | None = None
) -> tuple[list[dict], dict | None]:
    """:func:`run_group_recorded` under the reference ``engine``, with the engines' stats delta.

    The unit of work of every executor (local processes, Dask): returns the
    records and what ``reference.engine_stats()`` counted meanwhile in this
    process (None when the reference keeps no stats).
    """
    with reference_engine(engine):
        before = engine_stats()
        records = run_group_recorded(cells)
        return records, _difference(before, engine_stats())


def run_sweep(
    cells: list[Cell],
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    *,
    engine: str | None = None,
    tally: EngineTally | None = None,
) -> list[dict]:
    """Records of all ``cells``, in the order of ``cells``.

    ``workers > 1`` runs groups in a :class:`ProcessPoolExecutor` (forkserver
    where available, else spawn); ``progress(k)`` is called with the reference
    elements of each finished group. A cell that raises gets an error record
    (:func:`run_group_recorded`). ``engine`` selects the reference engine of
    every group (None: the environment's); ``tally`` receives each group's
    engine stats. On ``KeyboardInterrupt`` pending groups are cancelled, the
    pool is shut down and the interrupt is re-raised; the rows the reference
    finished are in its on-disk cache.
    """
    groups = group_cells(cells)
    done: dict[Cell, dict] = {}

    def collect(group, result):
        records, stats = result
        done.update(zip(group, records))
        if tally is not None:
            tally.add(stats)
        if progress is not None:
            progress(group_cost(group))

    if workers <= 1:
        for group in groups:
            collect(group, run_group_tallied(group, engine))
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        try:
            # Largest groups first so the last to finish are small.
            order = sorted(groups, key=group_cost, reverse=True)
            pending = {pool.submit(run_group_tallied, group, engine): group for group in order}
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
