"""The ``stable-softmax`` command line (also ``python -m stable_softmax``).

This module only parses and checks arguments, then calls the library:
:func:`stable_softmax.demo.demo`, :func:`stable_softmax.accuracy.report.build_report`
with :func:`~stable_softmax.accuracy.report.write_report`, and
:func:`stable_softmax.bench.run`. Every option is checked before any work
starts; a bad one prints one line to stderr (the option, the value, what to
pass) and exits with status 2.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._argtypes import Parser, integer_at_least, names, positive_ints, seconds, shapes
from .accuracy.grids import GRIDS, reference_elements

if TYPE_CHECKING:
    from .accuracy.report import ReportConfig

_positive_int = integer_at_least(1, "a positive integer")
_seed = integer_at_least(0, "a non-negative integer")

DESCRIPTION = """\
Softmax, log_softmax and logsumexp: fast kernels checked against a correctly
rounded reference.

commands:
  demo     (the default) each softmax method at the edges of exp, beside the
           correctly rounded reference, wrong results marked
  report   the accuracy sweep against the reference; writes report.md,
           report.json, report.csv and plots (stable-softmax report --help)
  bench    speed of every softmax method as ratios measured in one run

Bad arguments print one line to stderr and exit with status 2. Ctrl-C during
report exits with status 130 and keeps the finished reference rows in the
on-disk cache, so running the same command again resumes.
"""

REPORT_DESCRIPTION = """\
Sweep every softmax, log_softmax and logsumexp method against the correctly
rounded mpmath reference over input families, logit scales, n, beta, base and
dtype, find the exact overflow and underflow thresholds, and write report.md,
report.json, report.csv and PNG plots into --out.

--cluster local or --scheduler ADDRESS runs the sweep on Dask
(pip install "stable_softmax[distributed]").
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``stable-softmax`` and its subcommands."""
    parser = Parser(
        prog="stable-softmax",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    demo = sub.add_parser(
        "demo",
        help="each softmax method at the edges of exp, beside the correctly rounded reference",
    )
    demo.set_defaults(run=_demo)
    _add_report(sub)
    _add_bench(sub)
    return parser


def _add_report(sub) -> None:
    rep = sub.add_parser(
        "report",
        help="accuracy sweep against the correctly rounded reference; writes the report files",
        description=REPORT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    size = rep.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help=f"the default grid ({reference_elements(GRIDS['quick']):,} reference elements)",
    )
    size.add_argument(
        "--full",
        action="store_true",
        help="n up to 262144, beta to 1e6, all bases "
        f"({reference_elements(GRIDS['full']):,} reference elements)",
    )
    rep.add_argument(
        "--out",
        type=Path,
        default=Path("softmax-report"),
        metavar="DIR",
        help="output directory, created if needed (default ./softmax-report)",
    )
    rep.add_argument(
        "--dtypes",
        type=names,
        metavar="LIST",
        help="comma-separated: float32,float64 (default both) and low-precision storage "
        "formats (float16, bfloat16, float8_e4m3fn, float8_e5m2, ...: our default path, "
        "float32 kernel rounded once); low-precision formats only skip the float32/float64 sweep",
    )
    rep.add_argument(
        "--pipelines",
        type=names,
        metavar="LIST",
        default=[],
        help="comma-separated simulated pipelines STORAGE:COMPUTE:ACCUMULATE[:stochastic], "
        "e.g. bfloat16:float32:float32,float16:float16:float32 (every operation correctly "
        "rounded to its format, or stochastically with a fixed seed; STORAGE:COMPUTE means "
        "ACCUMULATE = COMPUTE)",
    )
    rep.add_argument(
        "--functions",
        type=names,
        metavar="LIST",
        help="comma-separated: softmax,log_softmax,logsumexp (default all)",
    )
    rep.add_argument(
        "--methods", type=names, metavar="LIST", help="comma-separated method names (default all)"
    )
    rep.add_argument(
        "--families",
        type=names,
        metavar="LIST",
        help="comma-separated input families (default all)",
    )
    rep.add_argument(
        "--seed", type=_seed, default=0, help="seed of the input generator (default 0)"
    )
    rep.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="local worker processes, or the size of --cluster local (default: all cores); "
        "1 runs in this process",
    )
    where = rep.add_mutually_exclusive_group()
    where.add_argument(
        "--cluster",
        choices=["local"],
        help="run the cells on a Dask LocalCluster of --workers processes",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the cells on the workers of a running Dask scheduler, e.g. tcp://host:8786",
    )
    rep.add_argument(
        "--reference-engine",
        choices=["auto", "mpmath"],
        default=None,
        help="engine of the reference for this run (sets STABLE_SOFTMAX_REFERENCE_ENGINE, "
        "which worker processes inherit); default: that variable, else auto",
    )
    rep.add_argument(
        "--peers",
        type=names,
        metavar="LIST",
        default=(),
        help="other libraries to measure beside our methods: all, or comma-separated "
        "scipy,torch,jax,onnxruntime,textbook (absent ones are skipped with a note; "
        'pip install "stable_softmax[peers]")',
    )
    rep.add_argument(
        "--implementation",
        action="append",
        default=[],
        metavar="[FUNCTION=]MODULE:ATTR",
        help="your own implementation, e.g. softmax=mypkg.mod:my_softmax (a callable over "
        "the last axis of a 2-D array, or an Implementation); repeatable",
    )
    rep.add_argument(
        "--no-special-values",
        action="store_true",
        help="skip the special-value table (NaN, infinities, empty rows, format edges)",
    )
    rep.add_argument(
        "--no-cost", action="store_true", help="skip timing each implementation against a copy"
    )
    rep.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    rep.set_defaults(run=_report, parser=rep)


def _add_bench(sub) -> None:
    bench = sub.add_parser(
        "bench",
        help="speed of every softmax method as ratios to np.copyto, scipy and torch, one run",
    )
    bench.add_argument(
        "--shapes",
        type=shapes,
        metavar="LIST",
        help="comma-separated ROWSxN (default 4096x1024,64x65536,4x4194304)",
    )
    bench.add_argument(
        "--dtypes",
        type=names,
        metavar="LIST",
        help="comma-separated: float32,float64 (default both)",
    )
    bench.add_argument(
        "--threads",
        type=positive_ints,
        metavar="LIST",
        help="comma-separated thread counts (default 1,2)",
    )
    bench.add_argument(
        "--budget",
        type=seconds,
        default=0.3,
        metavar="SECONDS",
        help="time spent repeating each measurement (default 0.3)",
    )
    bench.set_defaults(run=_bench, parser=bench)


# ---------------------------------------------------------------- report


def _option(field: str) -> str:
    return "--" + field.replace("_", "-")


def _functions(parser, args) -> dict[str, tuple[str, ...]] | None:
    """--functions and --methods as the configuration's {function: implementation names}."""
    from . import implementations

    if args.functions is None and args.methods is None:
        return None
    functions = list(dict.fromkeys(args.functions or implementations.FUNCTIONS))
    unknown = [f for f in functions if f not in implementations.FUNCTIONS]
    if unknown:
        parser.error(
            f"--functions: unknown {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(implementations.FUNCTIONS)}"
        )
    valid = {f: [i.name for i in implementations.builtin(f)] for f in functions}
    if args.methods is None:
        return {f: tuple(names) for f, names in valid.items()}
    known = {m for names in valid.values() for m in names}
    unknown = [m for m in args.methods if m not in known]
    if unknown:
        listing = "; ".join(f"{f}: {', '.join(names)}" for f, names in valid.items())
        parser.error(
            f"--methods: {', '.join(map(repr, unknown))} not a method of the chosen "
            f"functions ({listing})"
        )
    chosen = {f: tuple(m for m in names if m in args.methods) for f, names in valid.items()}
    empty = [f for f, names in chosen.items() if not names]
    if empty:
        parser.error(
            f"--methods leaves no method for {', '.join(empty)}; "
            f"add one of {', '.join(valid[empty[0]])} or narrow --functions"
        )
    return chosen


def _check_out(parser, out: Path) -> None:
    """Create ``out`` and write a probe file in it, or exit 2 saying why not."""
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} exists and is not a directory; pass a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        parser.error(
            f"--out {out}: cannot create or write it ({reason}); pass a writable directory"
        )


def report_config(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]
) -> ReportConfig:
    """The checked report configuration of ``args`` (exit 2 when an option is bad)."""
    from .accuracy import report

    config = report.ReportConfig(
        grid="full" if args.full else "quick",
        functions=_functions(parser, args),
        dtypes=args.dtypes,
        pipelines=tuple(args.pipelines),
        families=args.families,
        seed=args.seed,
        workers=args.workers,
        cluster=args.cluster,
        scheduler=args.scheduler,
        reference_engine=args.reference_engine,
        peers=tuple(args.peers),
        implementations=tuple(args.implementation),
        special_values=not args.no_special_values,
        costs=not args.no_cost,
        command=shlex.join(["stable-softmax", *argv]),
    )
    try:
        return report.check(config)
    except report.ConfigError as err:
        parser.error(f"{_option(err.field)}: {err.message}")


def _report(args: argparse.Namespace, config) -> int:
    """Build the report of ``config`` and write it into ``args.out``."""
    import reference

    from .accuracy import distributed, report
    from .accuracy.markdown import recommendation_lines

    prog = args.parser.prog
    try:
        doc = report.build_report(config, stream=sys.stderr)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: finished reference rows are kept in {reference.cache_dir()}; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except distributed.DistributedError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    files = report.write_report(doc, args.out, plots=not args.no_plots)
    for line in recommendation_lines(doc.as_dict()):
        print(line.split(" Others:")[0])
    extra = ", lowprec.csv" if doc.lowprec else ""
    print(
        f"report written to {files[0]} (+ report.json, report.csv{extra}, {len(doc.plots)} plots)"
    )
    return 0


# ---------------------------------------------------------------- demo and bench


def _demo(args: argparse.Namespace, config=None) -> int:
    from .demo import demo

    return demo()


def _bench_plan(parser, args) -> dict:
    """The arguments of :func:`stable_softmax.bench.run`, checked (exit 2 if bad)."""
    import numba

    from . import bench

    threads = args.threads or (1, 2)
    available = numba.config.NUMBA_NUM_THREADS
    if max(threads) > available:
        parser.error(
            f"--threads: {max(threads)} exceeds the {available} threads Numba has here; "
            f"pass counts up to {available}"
        )
    dtypes = bench.DTYPES
    if args.dtypes is not None:
        unknown = [d for d in args.dtypes if d not in bench.DTYPES]
        if unknown:
            parser.error(
                f"--dtypes: unknown {', '.join(map(repr, unknown))}; "
                f"choose from {', '.join(bench.DTYPES)}"
            )
        dtypes = tuple(dict.fromkeys(args.dtypes))
    return {
        "shapes": args.shapes or bench.SHAPES,
        "dtypes": dtypes,
        "threads": threads,
        "budget": args.budget,
    }


def _bench(args: argparse.Namespace, plan: dict) -> int:
    """Print the speed table of :mod:`stable_softmax.bench`."""
    import platform
    import time

    import numba

    from . import bench

    timings = bench.run(**plan)
    print(
        f"stable-softmax bench, {time.strftime('%Y-%m-%d')}, "
        f"{platform.processor() or platform.machine()}, "
        f"{numba.config.NUMBA_NUM_THREADS} cores; best of repeats; ratios measured in this run"
    )
    print(bench.format_table(timings))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (argument errors exit with status 2)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"])
    # Everything is checked here, before any computation starts.
    plan = None
    if args.command == "report":
        plan = report_config(args.parser, args, argv)
        _check_out(args.parser, args.out)
    elif args.command == "bench":
        plan = _bench_plan(args.parser, args)
    with np.errstate(all="ignore"):
        return args.run(args, plan)


if __name__ == "__main__":
    sys.exit(main())
