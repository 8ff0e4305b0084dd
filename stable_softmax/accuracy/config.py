"""The report's configuration: :class:`ReportConfig` and :func:`check`, which validates it.

:func:`check` computes nothing: it resolves names (grid, functions, methods,
dtypes, families, peers, pipelines) and raises :class:`ConfigError`, naming the
field, the value given and what to pass instead, before any work starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .. import implementations
from . import compare, sweep
from .cells import build_cells
from .families import FAMILIES
from .grids import DTYPES, GRIDS, Grid
from .pipelines import PipelineError, parse_targets, split_dtypes

__all__ = ["ENGINES", "ConfigError", "ReportConfig", "check", "cells_of"]

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
    if resolved.dtypes and not cells_of(resolved):
        raise ConfigError("families", "the selection leaves no grid cell; widen it")
    return resolved


def cells_of(config: ReportConfig) -> list[sweep.Cell]:
    return build_cells(config.grid, config.functions, config.dtypes, config.families, config.seed)
