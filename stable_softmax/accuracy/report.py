"""The accuracy report as a library: a configuration in, a report document out.

>>> from stable_softmax.accuracy.report import ReportConfig, build_report, write_report
>>> doc = build_report(ReportConfig(grid="quick", dtypes=("float32",)))  # doctest: +SKIP
>>> write_report(doc, "softmax-report")  # doctest: +SKIP

:func:`build_report` validates the :class:`ReportConfig` (:func:`check`, which
computes nothing), runs the sweep in this process, in local worker processes
or on Dask (:mod:`.distributed`), finds the thresholds (:mod:`.thresholds`),
runs the course checks (:mod:`.course`) and, for low-precision dtypes and
pipelines, the low-precision section (:mod:`.lowprec_report`), and returns a
:class:`ReportDocument`:
the records plus their summary and ranking (:mod:`.summary`, pure).
:func:`write_report` (:mod:`.writers`) renders it as ``report.json``,
``report.csv``, ``report.md`` and PNG plots. The command line
(``stable-softmax report``) only turns its options into a configuration.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from . import compare, cost, sweep, thresholds
from .cells import group_cells, group_cost
from .config import ENGINES, ConfigError, ReportConfig, cells_of, check
from .course import course_checks
from .grids import Grid
from .measure import RECORD_FIELDS
from .summary import failed, recommend, summarize
from .writers import write_report

__all__ = [
    "ENGINES",
    "ConfigError",
    "ReportConfig",
    "ReportDocument",
    "assemble",
    "build_report",
    "check",
    "environment",
    "write_report",
]


def environment() -> dict:
    """Versions and machine, for the top of ``report.json``."""
    import mpmath
    import numba

    import stable_softmax

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {
        "package": stable_softmax.__version__,
        "numba": numba.__version__,
        "numpy": np.__version__,
        "mpmath": mpmath.__version__,
        "python": platform.python_version(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cores": cores,
        },
    }


@dataclass
class ReportDocument:
    """A built report: the header, the records and what is derived from them.

    :meth:`as_dict` is the content of ``report.json``; ``plots`` lists the PNG
    files :func:`write_report` made (empty until then).
    """

    config: ReportConfig
    header: dict
    records: list[dict]
    summary: list[dict]
    recommendations: list[dict]
    thresholds: list[dict]
    course: dict
    special_values: list[dict] = field(default_factory=list)
    costs: list[dict] = field(default_factory=list)
    cost_recommendations: list[dict] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    lowprec: dict = field(default_factory=dict)

    @property
    def grid(self) -> Grid:
        """The grid that was swept."""
        return self.config.grid

    def failed(self) -> list[dict]:
        """Records of the cells that raised."""
        return failed(self.records)

    def as_dict(self) -> dict:
        """The JSON document (non-finite floats still as floats: see ``writers.jsonable``)."""
        return {
            **self.header,
            "summary": self.summary,
            "recommendations": self.recommendations,
            "thresholds": self.thresholds,
            "course": self.course,
            "special_values": self.special_values,
            "costs": self.costs,
            "cost_recommendations": self.cost_recommendations,
            "plots": list(self.plots),
            "lowprec": self.lowprec,
            "record_fields": list(RECORD_FIELDS),
            "records": self.records,
        }


def assemble(
    config: ReportConfig,
    records: list[dict],
    threshold_table: Sequence[thresholds.Threshold] = (),
    course: dict | None = None,
    run: Mapping | None = None,
    extras: Mapping | None = None,
) -> ReportDocument:
    """The document of ``records`` (pure: summarises and ranks, runs nothing).

    ``run`` holds what only a run knows (``workers``, ``executor``,
    ``wall_seconds``, ``reference_engine_stats``); missing keys default to an
    unknown run. ``extras`` holds the special-value rows and the costs
    (:func:`.compare.extras`); the cost recommendations are derived here.
    """
    config = check(config)
    run = dict(run or {})
    engine = config.reference_engine or os.environ.get(sweep.ENGINE_ENV) or "auto"
    header = {
        "command": config.command,
        **environment(),
        "seed": config.seed,
        "grid": config.grid.as_dict(),
        "functions": {f: list(ms) for f, ms in config.functions.items()},
        "dtypes": list(config.dtypes),
        "low_dtypes": list(config.low_dtypes),
        "pipelines": list(config.pipelines),
        "families": list(config.families),
        "workers": run.get("workers", config.workers or 1),
        "executor": run.get("executor", ""),
        "reference_elements": sum(group_cost(g) for g in group_cells(cells_of(config))),
        "wall_seconds": run.get("wall_seconds", 0.0),
        "reference_engine": engine,
        "implementations": compare.versions(config.functions),
        "skipped": list(config.skipped),
    }
    if run.get("reference_engine_stats"):
        header["reference_engine_stats"] = run["reference_engine_stats"]
    summary = summarize(records)
    extras = dict(extras or {})
    costs = list(extras.get("costs", []))
    return ReportDocument(
        config=config,
        header=header,
        records=records,
        summary=summary,
        recommendations=recommend(summary),
        thresholds=[
            {
                **t.as_dict(),
                "overflow_hex": _hex(t.overflow, t.dtype),
                "underflow_hex": _hex(t.underflow, t.dtype),
            }
            for t in threshold_table
        ],
        course=course if course is not None else {"examples": [], "hardmax": []},
        special_values=list(extras.get("special_values", [])),
        costs=costs,
        cost_recommendations=cost.recommend_by_cost(records, costs) if costs else [],
        lowprec=dict(extras.get("lowprec", {})),
    )


def _hex(value: float | None, dtype: str) -> str | None:
    """The exact hex form of a threshold for ``report.json`` (None: no failure found)."""
    return None if value is None else thresholds.fmt_hex(value, dtype)


def _say(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream)


def build_report(config: ReportConfig, *, stream: TextIO | None = None) -> ReportDocument:
    """Run the sweep, thresholds and course checks of ``config``; return the document.

    Parameters
    ----------
    config : ReportConfig
        Checked first (:func:`check`): a bad field raises before any work.
    stream : text file, optional
        Where to write progress and status lines (e.g. ``sys.stderr``);
        None: silent.

    Raises
    ------
    ConfigError
        A field of ``config`` is invalid.
    stable_softmax.accuracy.distributed.DistributedError
        The Dask path cannot start (missing extra, unreachable scheduler).
    KeyboardInterrupt
        Propagated after the workers stop; finished reference rows stay in
        the on-disk cache, so running again resumes.
    """
    config = check(config)
    for note in config.skipped:
        _say(stream, note)
    start = time.monotonic()
    tally = sweep.EngineTally()
    if not config.dtypes:  # low-precision formats only: no float32/float64 sweep
        with sweep.reference_engine(config.reference_engine):
            found = {"lowprec": _lowprec(config, stream)}
        run = {"workers": 1, "executor": "this process"}
        run["wall_seconds"] = time.monotonic() - start
        return assemble(config, [], (), None, run, found)
    cells = cells_of(config)
    total = sum(group_cost(g) for g in group_cells(cells))
    with sweep.reference_engine(config.reference_engine):
        records, run = _sweep(config, cells, total, tally, stream)
        bad = failed(records)
        if bad:
            _say(
                stream,
                f"{len(bad)} of {len(records)} cells failed (first: {bad[0]['error']}); "
                "they are listed in report.md and report.json",
            )
        _say(stream, "thresholds, course-material checks ...")
        table = thresholds.threshold_table(
            config.functions, config.dtypes, config.grid.threshold_betas
        )
        course = course_checks()
    if config.special_values or config.costs:
        _say(stream, "special values, cost against a copy ...")
    found = compare.extras(
        config.functions, config.dtypes, special=config.special_values, costs=config.costs
    )
    if config.low_dtypes or config.pipelines:
        with sweep.reference_engine(config.reference_engine):
            found["lowprec"] = _lowprec(config, stream)
    run["wall_seconds"] = time.monotonic() - start
    run["reference_engine_stats"] = tally.as_dict()
    return assemble(config, records, table, course, run, found)


def _lowprec(config: ReportConfig, stream: TextIO | None) -> dict:
    """The low-precision section of ``config`` (:func:`.lowprec_report.config_section`)."""
    from .lowprec_report import config_section

    _say(stream, f"low precision: {', '.join(config.low_dtypes + config.pipelines)} ...")
    return config_section(config)


def _sweep(
    config: ReportConfig,
    cells: list,
    total: int,
    tally: sweep.EngineTally,
    stream: TextIO | None,
) -> tuple[list[dict], dict]:
    """The records of ``cells``, locally or on Dask, and what the run was (workers, executor)."""
    import reference

    groups = len(group_cells(cells))
    head = (
        f"{config.grid.name} grid: {len(cells)} cells in {groups} input groups, "
        f"{total} reference elements"
    )
    cache = f"reference cache {reference.cache_dir()}"
    engine = config.reference_engine
    if config.scheduler is None and config.cluster is None:
        workers = config.workers or sweep.default_workers()
        _say(stream, f"{head}; {workers} worker(s); {cache}")
        progress = sweep.Progress(total, stream) if stream is not None else None
        try:
            records = sweep.run_sweep(cells, workers, progress, engine=engine, tally=tally)
        finally:
            if progress is not None:
                progress.close()
        executor = "local processes" if workers > 1 else "this process"
        return records, {"workers": workers, "executor": executor}
    from . import distributed

    local = (config.workers or sweep.default_workers()) if config.cluster else None
    with distributed.DaskSweep(config.scheduler, local) as dask:
        _say(stream, f"{head}; {dask.describe()}; {cache}")
        progress = sweep.Progress(len(cells), stream, desc="cells") if stream is not None else None
        try:
            records = dask.run(cells, progress=progress, engine=engine, tally=tally)
        finally:
            if progress is not None:
                progress.close()
        if dask.ship:
            _say(
                stream,
                f"reference rows: {dask.rows_sent} sent to the workers, {dask.rows_received} "
                "stored from them",
            )
        return records, {"workers": len(dask.client.nthreads()), "executor": dask.name}
