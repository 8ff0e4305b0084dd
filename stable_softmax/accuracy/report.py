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

import dataclasses
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from .. import implementations
from . import compare, cost, sweep, thresholds
from .cells import build_cells, group_cells, group_cost
from .course import course_checks
from .families import FAMILIES
from .grids import DTYPES, GRIDS, Grid
from .measure import RECORD_FIELDS
from .pipelines import PipelineError, parse_targets, split_dtypes
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

#: Values of :attr:`ReportConfig.reference_engine` (the reference's ``engine=``).
ENGINES = ("auto", "mpmath")


class ConfigError(ValueError):
    """A field of :class:`ReportConfig` has a value the report cannot use.

    ``field`` names the field (the command line's option of the same name),
    ``message`` says what was given and what to pass instead.
    """

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ReportConfig:
    """What to measure and where to run it.

    Parameters
    ----------
    grid : str or Grid
        A name in :data:`stable_softmax.accuracy.grids.GRIDS` or a grid.
    functions : mapping of str to sequence of str, optional
        Function -> names of the implementations to measure
        (:func:`stable_softmax.implementations.get`); default every function
        with all our methods.
    dtypes, families : sequence of str, optional
        Default all.
    seed : int
        Seed of the input generator (>= 0).
    workers : int, optional
        Local worker processes (1: this process), or the size of
        ``cluster="local"``; default all cores. Not with ``scheduler``.
    cluster : {"local"}, optional
        Run on a Dask ``LocalCluster``.
    scheduler : str, optional
        Address of a running Dask scheduler, ``SCHEME://HOST:PORT``.
    reference_engine : {"auto", "mpmath"}, optional
        The reference's engine for the run (sets ``STABLE_SOFTMAX_REFERENCE_ENGINE``,
        which worker processes inherit); default: the environment's.
    peers : str or sequence of str
        Other libraries to measure beside our methods: ``"all"`` or names of
        :data:`stable_softmax.implementations.peers.PEERS`; those not
        installed are skipped with a note (``skipped``).
    implementations : sequence of str
        Users' implementations, ``"function=package.module:attribute"``
        (see :func:`stable_softmax.accuracy.compare.resolve`).
    pipelines : sequence of str
        Simulated low-precision pipelines, ``"STORAGE:COMPUTE:ACCUMULATE"``
        (:func:`.pipelines.parse_pipeline`); with low-precision ``dtypes``
        (float16, bfloat16, the float8 formats: our default path in that
        storage format) they make the low-precision section
        (:mod:`.lowprec_report`). ``dtypes`` of low-precision formats only
        skip the float32/float64 sweep.
    special_values, costs : bool
        Also evaluate every implementation on the special values, and time
        it against a copy of the same array (:mod:`.cost`).
    command : str
        The command line recorded in the report's header.
    skipped : tuple of str
        Filled by :func:`check`: one line per peer that is not installed.
    low_dtypes : tuple of str
        Filled by :func:`check`: the low-precision formats of ``dtypes``
        (``dtypes`` keeps float32/float64).
    """

    grid: str | Grid = "quick"
    functions: Mapping[str, Sequence[str]] | None = None
    dtypes: Sequence[str] | None = None
    families: Sequence[str] | None = None
    seed: int = 0
    workers: int | None = None
    cluster: str | None = None
    scheduler: str | None = None
    reference_engine: str | None = None
    peers: str | Sequence[str] = ()
    implementations: Sequence[str] = ()
    special_values: bool = True
    costs: bool = True
    command: str = "stable_softmax.accuracy.report.build_report"
    pipelines: Sequence[str] = ()
    skipped: tuple[str, ...] = ()
    low_dtypes: tuple[str, ...] = ()


def _names(field_name: str, given: Sequence[str] | None, valid: Sequence[str]) -> tuple:
    if given is None:
        return tuple(valid)
    unknown = [g for g in given if g not in valid]
    if unknown or not given:
        what = f"unknown {', '.join(map(repr, unknown))}" if unknown else "empty selection"
        raise ConfigError(field_name, f"{what}; choose from {', '.join(valid)}")
    return tuple(dict.fromkeys(given))


def _functions(given: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    if given is None:
        return {
            f: tuple(i.name for i in implementations.builtin(f)) for f in implementations.FUNCTIONS
        }
    chosen = {}
    for function in _names("functions", list(given), implementations.FUNCTIONS):
        names = tuple(dict.fromkeys(given[function]))
        if not names:
            raise ConfigError(
                "methods",
                f"leaves no method for {function}; add one of "
                f"{', '.join(implementations.available(function))} or narrow functions",
            )
        for name in names:
            try:
                implementations.get(function, name)
            except (ValueError, TypeError, ImportError, AttributeError) as err:
                raise ConfigError("methods", str(err)) from None
        chosen[function] = names
    return chosen


def check(config: ReportConfig) -> ReportConfig:
    """``config`` with every default filled in and every field validated; computes nothing.

    Raises
    ------
    ConfigError
        Naming the first field that is wrong, what it holds and what to pass.
    """
    if isinstance(config.grid, Grid):
        grid = config.grid
    elif config.grid in GRIDS:
        grid = GRIDS[config.grid]
    else:
        raise ConfigError("grid", f"unknown {config.grid!r}; choose from {', '.join(GRIDS)}")
    if not isinstance(config.seed, int) or config.seed < 0:
        raise ConfigError("seed", f"expected a non-negative integer, got {config.seed!r}")
    if config.workers is not None and (not isinstance(config.workers, int) or config.workers < 1):
        raise ConfigError("workers", f"expected a positive integer, got {config.workers!r}")
    if config.cluster not in (None, "local"):
        raise ConfigError("cluster", f"expected 'local', got {config.cluster!r}")
    if config.scheduler is not None:
        from .distributed import check_address

        if config.cluster is not None:
            raise ConfigError("scheduler", "give either a scheduler or cluster='local', not both")
        if config.workers is not None:
            raise ConfigError(
                "workers",
                "sizes local processes or --cluster local; with --scheduler the "
                "scheduler's workers run the cells",
            )
        try:
            check_address(config.scheduler)
        except ValueError as err:
            raise ConfigError("scheduler", str(err)) from None
    if config.reference_engine not in (None, *ENGINES):
        raise ConfigError(
            "reference_engine",
            f"unknown {config.reference_engine!r}; choose from {', '.join(ENGINES)}",
        )
    try:
        dtypes, low_dtypes = split_dtypes(config.dtypes, config.low_dtypes)
    except PipelineError as err:
        raise ConfigError("dtypes", str(err)) from None
    try:
        parse_targets(low_dtypes, config.pipelines)
    except PipelineError as err:
        raise ConfigError("pipelines", str(err)) from None
    if dtypes == () and not (low_dtypes or config.pipelines):
        raise ConfigError("dtypes", f"empty selection; choose from {', '.join(DTYPES)}")
    try:
        functions, skipped = compare.resolve(
            _functions(config.functions), config.peers, config.implementations
        )
    except compare.ResolveError as err:
        raise ConfigError(err.field, err.message) from None
    resolved = dataclasses.replace(
        config,
        grid=grid,
        functions=functions,
        skipped=tuple(skipped),
        dtypes=DTYPES if dtypes is None else dtypes,
        low_dtypes=low_dtypes,
        pipelines=tuple(dict.fromkeys(config.pipelines)),
        families=_names("families", config.families, list(FAMILIES)),
    )
    if resolved.dtypes and not _cells(resolved):
        raise ConfigError("families", "the selection leaves no grid cell; widen it")
    return resolved


def _cells(config: ReportConfig) -> list[sweep.Cell]:
    return build_cells(config.grid, config.functions, config.dtypes, config.families, config.seed)


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
        "reference_elements": sum(group_cost(g) for g in group_cells(_cells(config))),
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
    cells = _cells(config)
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
