"""The ``stable-softmax`` command line (also ``python -m stable_softmax``).

Subcommands: ``demo`` (the default) prints naive vs shifted vs lse softmax at
extreme logits; ``report`` runs the accuracy sweep and writes a report
(``stable-softmax report --help``). Bad arguments print one line to stderr and
exit with status 2; Ctrl-C during ``report`` exits with status 130 and keeps
the finished reference rows in the on-disk cache, so a rerun resumes.
``report --cluster local`` or ``--scheduler ADDRESS`` runs the sweep on Dask
(:mod:`stable_softmax.accuracy.distributed`); an unreachable scheduler or a
missing ``distributed`` extra is also a one-line error with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import time

import numpy as np


def _demo(args: argparse.Namespace) -> int:
    """Print naive vs shifted vs lse softmax at logits around the overflow edges."""
    import stable_softmax as ss

    rows = {
        np.float32: [[2, 4, 2, 1], [88, 0], [89, 0], [-104, -105], [1e4, 0]],
        np.float64: [[2, 4, 2, 1], [709, 0], [710, 0], [-745, -746], [1e4, 0]],
    }
    np.set_printoptions(precision=4, linewidth=120)
    for dtype, cases in rows.items():
        print(f"--- {dtype.__name__} (ln max = {np.log(np.finfo(dtype).max):.4f})")
        for row in cases:
            x = np.array(row, dtype=dtype)
            cells = [f"{m}={ss.softmax(x, method=m)}" for m in ss.METHODS["softmax"]]
            print(f"softmax({row}): " + "  ".join(cells))
    return 0


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``prog: error: message (see --help)``."""

    def error(self, message: str):
        text = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def _names(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of names")
    return names


def _integer_at_least(minimum: int, what: str):
    """An argparse type: an integer >= ``minimum``, described as ``what`` in the error."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
        return number

    return parse


_positive_int = _integer_at_least(1, "a positive integer")
_seed = _integer_at_least(0, "a non-negative integer")


def _check_names(parser, option: str, given: list[str] | None, valid) -> list[str]:
    valid = list(valid)
    if given is None:
        return valid
    unknown = [g for g in given if g not in valid]
    if unknown:
        parser.error(
            f"{option}: unknown {', '.join(map(repr, unknown))}; choose from {', '.join(valid)}"
        )
    return list(dict.fromkeys(given))


def _selection(parser, args) -> tuple[dict[str, tuple[str, ...]], list[str], list[str]]:
    """Validate --functions/--methods/--dtypes/--families against the package's own tables."""
    import stable_softmax as ss
    from stable_softmax.accuracy.families import FAMILIES
    from stable_softmax.accuracy.sweep import DTYPES

    functions = _check_names(parser, "--functions", args.functions, ss.METHODS)
    chosen = {f: tuple(ss.METHODS[f]) for f in functions}
    if args.methods is not None:
        known = {m for f in functions for m in ss.METHODS[f]}
        unknown = [m for m in args.methods if m not in known]
        if unknown:
            valid = "; ".join(f"{f}: {', '.join(ss.METHODS[f])}" for f in functions)
            parser.error(
                f"--methods: {', '.join(map(repr, unknown))} not a method of the chosen functions ({valid})"
            )
        chosen = {f: tuple(m for m in ms if m in args.methods) for f, ms in chosen.items()}
        empty = [f for f, ms in chosen.items() if not ms]
        if empty:
            parser.error(
                f"--methods leaves no method for {', '.join(empty)}; "
                f"add one of {', '.join(ss.METHODS[empty[0]])} or narrow --functions"
            )
    dtypes = _check_names(parser, "--dtypes", args.dtypes, DTYPES)
    families = _check_names(parser, "--families", args.families, FAMILIES)
    return chosen, dtypes, families


def _report(args: argparse.Namespace) -> int:
    """Run the accuracy sweep and write report.md/json/csv and plots into --out."""
    import reference
    from stable_softmax.accuracy import report, sweep, thresholds

    functions, dtypes, families = args.selection
    grid = sweep.GRIDS["full" if args.full else "quick"]
    workers = args.workers or sweep.default_workers()
    cells = sweep.build_cells(grid, functions, dtypes, families, args.seed)
    groups = sweep.group_cells(cells)
    total = sum(sweep.group_cost(g) for g in groups)
    if not cells:
        print(
            f"{args.prog}: error: the selection leaves no grid cell (see --help)", file=sys.stderr
        )
        return 2
    start = time.monotonic()
    dask, dask_errors = None, ()
    if args.scheduler or args.cluster:
        from stable_softmax.accuracy import distributed

        dask_errors = (distributed.DistributedError,)
        try:
            dask = distributed.DaskSweep(args.scheduler, workers if args.cluster else None)
        except distributed.DistributedError as err:
            print(f"{args.prog}: error: {err}", file=sys.stderr)
            return 2
        executor, workers = dask.name, len(dask.client.nthreads())
        where = dask.describe()
    else:
        executor = "local processes" if workers > 1 else "this process"
        where = f"{workers} worker(s)"
    print(
        f"{grid.name} grid: {len(cells)} cells in {len(groups)} input groups, {total} reference elements; "
        f"{where}; reference cache {reference.cache_dir()}",
        file=sys.stderr,
    )
    progress = sweep.Progress(total) if dask is None else sweep.Progress(len(cells), desc="cells")
    try:
        with dask or contextlib.nullcontext():
            if dask is None:
                records = sweep.run_sweep(cells, workers=workers, progress=progress)
            else:
                records = dask.run(cells, progress=progress)
                if dask.ship:
                    print(
                        f"reference rows: {dask.rows_sent} sent to the workers, {dask.rows_received} "
                        "stored from them",
                        file=sys.stderr,
                    )
    except KeyboardInterrupt:
        progress.close()
        print(
            f"\ninterrupted: finished reference rows are kept in {reference.cache_dir()}; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except dask_errors as err:
        progress.close()
        print(f"{args.prog}: error: {err}", file=sys.stderr)
        return 2
    progress.close()
    failures = report.failed(records)
    if failures:
        print(
            f"{len(failures)} of {len(records)} cells failed (first: {failures[0]['error']}); "
            "they are listed in report.md and report.json",
            file=sys.stderr,
        )
    print("thresholds, course-material checks, plots ...", file=sys.stderr)
    table = thresholds.threshold_table(functions, dtypes, grid.threshold_betas)
    course = report.course_checks()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    summary = report.summarize(records)
    plots = []
    measured = [r for r in records if not r["error"]]
    if not args.no_plots and measured:
        from stable_softmax.accuracy.plots import make_plots

        plots = make_plots(measured, grid, out, report.recommend(summary), functions)
    meta = {
        "command": args.command_line,
        **report.environment(),
        "seed": args.seed,
        "grid": grid.as_dict(),
        "functions": {f: list(ms) for f, ms in functions.items()},
        "dtypes": dtypes,
        "families": families,
        "workers": workers,
        "executor": executor,
        "reference_elements": total,
        "wall_seconds": time.monotonic() - start,
    }
    doc = report.write_report(out, records, table, course, meta, plots)
    for line in report.recommendation_lines(doc):
        print(line.split(" Others:")[0])
    print(f"report written to {out / 'report.md'} (+ report.json, report.csv, {len(plots)} plots)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stable-softmax",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    demo = sub.add_parser("demo", help="naive vs shifted vs lse softmax at extreme logits")
    demo.set_defaults(run=_demo)
    rep = sub.add_parser(
        "report",
        help="accuracy sweep against the correctly rounded reference; writes report.md/json/csv and plots",
        description="Sweep every softmax, log_softmax and logsumexp method against the correctly rounded "
        "mpmath reference over input families, logit scales, n, beta, base and dtype, find the exact "
        "overflow/underflow thresholds, and write report.md, report.json, report.csv and PNG plots.",
    )
    size = rep.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true", help="the default grid: minutes on 2 cores, cold cache"
    )
    size.add_argument(
        "--full", action="store_true", help="n up to 262144, beta to 1e6, all bases: hours"
    )
    rep.add_argument(
        "--out",
        type=_path,
        default=_path("softmax-report"),
        metavar="DIR",
        help="output directory (default ./softmax-report)",
    )
    rep.add_argument(
        "--dtypes",
        type=_names,
        metavar="LIST",
        help="comma-separated: float32,float64 (default both)",
    )
    rep.add_argument(
        "--functions",
        type=_names,
        metavar="LIST",
        help="comma-separated: softmax,log_softmax,logsumexp",
    )
    rep.add_argument(
        "--methods", type=_names, metavar="LIST", help="comma-separated method names (default all)"
    )
    rep.add_argument(
        "--families",
        type=_names,
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
        help="run the cells on a Dask LocalCluster of --workers processes "
        '(needs pip install "stable_softmax[distributed]")',
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the cells on the workers of a running Dask scheduler, e.g. tcp://host:8786",
    )
    rep.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    rep.set_defaults(run=_report, parser=rep)
    bench = sub.add_parser(
        "bench",
        help="speed of every softmax method as ratios to np.copyto, scipy and torch, measured in one run",
    )
    bench.add_argument(
        "--shapes",
        type=_names,
        metavar="LIST",
        help="comma-separated ROWSxN (default 4096x1024,64x65536,4x4194304)",
    )
    bench.add_argument(
        "--dtypes",
        type=_names,
        metavar="LIST",
        help="comma-separated: float32,float64 (default both)",
    )
    bench.add_argument(
        "--threads", type=_names, metavar="LIST", help="comma-separated thread counts (default 1,2)"
    )
    bench.add_argument(
        "--budget",
        type=float,
        default=0.3,
        metavar="SECONDS",
        help="time spent repeating each measurement (default 0.3)",
    )
    bench.set_defaults(run=_bench, parser=bench)
    return parser


def _bench(args: argparse.Namespace) -> int:
    """Print the speed table of :mod:`stable_softmax.bench`."""
    import platform

    import numba

    from . import bench

    parser = args.parser
    try:
        shapes = (
            tuple(tuple(int(v) for v in s.split("x")) for s in args.shapes)
            if args.shapes
            else bench.SHAPES
        )
        threads = tuple(int(t) for t in args.threads) if args.threads else (1, 2)
    except ValueError:
        parser.error("--shapes takes ROWSxN items like 4096x1024 and --threads whole numbers")
    if any(len(s) != 2 or min(s) < 1 for s in shapes) or min(threads) < 1:
        parser.error("--shapes items need two positive sizes and --threads positive counts")
    dtypes = (
        tuple(_check_names(parser, "--dtypes", args.dtypes, bench.DTYPES))
        if args.dtypes
        else bench.DTYPES
    )
    if max(threads) > numba.config.NUMBA_NUM_THREADS:
        parser.error(
            f"--threads {max(threads)} exceeds the {numba.config.NUMBA_NUM_THREADS} threads Numba has here"
        )
    timings = bench.run(shapes, dtypes, threads, budget=args.budget)
    print(
        f"stable-softmax bench, {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
        f"{numba.config.NUMBA_NUM_THREADS} cores; best of repeats; ratios measured in this run"
    )
    print(bench.format_table(timings))
    return 0


def _path(value: str):
    from pathlib import Path

    return Path(value)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"])
    if args.command == "report":
        report_parser = args.parser
        args.selection = _selection(report_parser, args)
        args.prog = report_parser.prog
        args.command_line = shlex.join(["stable-softmax", *argv])
        if args.out.exists() and not args.out.is_dir():
            report_parser.error(f"--out {args.out} exists and is not a directory")
        if args.scheduler and args.workers:
            report_parser.error(
                "--workers sizes local processes or --cluster local; with --scheduler the "
                "scheduler's workers run the cells"
            )
    with np.errstate(all="ignore"):
        return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
