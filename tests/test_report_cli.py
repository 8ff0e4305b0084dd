"""`stable-softmax report` end to end on a tiny grid; argument errors; interrupt and resume."""

from __future__ import annotations

import csv
import json
import os

import pytest

import reference
import reference._exact
from stable_softmax import cli
from stable_softmax.accuracy import sweep
from stable_softmax.accuracy.sweep import RECORD_FIELDS, Block, Grid

TINY = Grid(
    "quick",
    (
        Block("scale-n", ("gaussian", "spike"), (4, 16), (1.0, 100.0), elements=32),
        Block("beta", ("gaussian",), (8,), (1.0,), betas=(1.0, 1e3), elements=16),
    ),
    threshold_betas=(1.0,),
)
ARGS = [
    "report",
    "--workers",
    "1",
    "--functions",
    "softmax,logsumexp",
    "--methods",
    "naive,shifted,log1p",
]


@pytest.fixture
def tiny_grid(monkeypatch):
    monkeypatch.setitem(sweep.GRIDS, "quick", TINY)


def _records(out):
    return json.loads((out / "report.json").read_text())


def test_end_to_end_files_schema_and_csv(tiny_grid, tmp_path, capsys):
    out = tmp_path / "rep"
    assert cli.main([*ARGS, "--out", str(out), "--seed", "7"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"report.md", "report.json", "report.csv"} <= names
    pngs = {n for n in names if n.endswith(".png")}
    assert pngs == {
        "error_vs_scale.png",
        "error_vs_n.png",
        "heatmap_scale_n.png",
        "rates_vs_beta.png",
        "error_vs_cost.png",
    }
    assert all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)

    doc = _records(out)
    for key in (
        "package",
        "numba",
        "numpy",
        "mpmath",
        "machine",
        "seed",
        "grid",
        "records",
        "thresholds",
        "course",
    ):
        assert key in doc
    assert doc["seed"] == 7 and doc["grid"]["name"] == "quick"
    records = doc["records"]
    assert len(records) == (2 * 2 * 2 + 2) * 2 * (
        2 + 3
    )  # inputs x dtypes x (softmax + logsumexp methods)
    required = {
        "function",
        "method",
        "dtype",
        "family",
        "n",
        "scale",
        "beta",
        "base",
        "rows",
        "max_ulp",
        "median_ulp",
        "max_bits",
        "overflow",
        "underflow",
        "nan",
        "sum_dev_max",
        "argmax_kept",
    }
    for r in records:
        assert required <= set(r)
        assert r["method"] in {"naive", "shifted", "log1p"} and r["seed"] == 7
        if r["function"] == "softmax" and r["nan"] + r["overflow_nan"] == 0:  # no NaN output
            assert r["sum_dev_max"] is not None and 0 <= r["argmax_kept"] <= 1

    with open(out / "report.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(records)
    for row, rec in zip(rows, records):
        assert list(row) == list(RECORD_FIELDS)
        for key, value in rec.items():
            if value is None:
                assert row[key] == ""
            elif isinstance(value, str):
                assert row[key] == value
            else:
                assert float(row[key]) == value

    md = (out / "report.md").read_text()
    for heading in (
        "## Recommendations",
        "## Summary per implementation and dtype",
        "## Overflow and underflow thresholds",
        "## Course material, checked live",
        "## Plots",
    ):
        assert heading in md
    assert "use `shifted`" in md or "use `log1p`" in md
    # naive float32 overflow threshold: readable decimal in the markdown, exact hex in the JSON
    assert "| `naive` | float32 | 1 | 88.7228394 |" in md
    naive = [
        t
        for t in _records(out)["thresholds"]
        if t["method"] == "naive" and t["dtype"] == "float32" and t["beta"] == 1.0
    ]
    assert naive and naive[0]["overflow_hex"] == "0x1.62e43p+6"
    assert "All methods agree with the quoted values" in md
    assert "report written to" in capsys.readouterr().out


@pytest.fixture
def no_work(monkeypatch):
    """Every entry point that computes raises: a check that runs after work started fails."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    from stable_softmax import bench
    from stable_softmax.accuracy import distributed, report, thresholds

    monkeypatch.setattr(report, "build_report", forbidden)
    monkeypatch.setattr(sweep, "run_sweep", forbidden)
    monkeypatch.setattr(sweep, "run_group", forbidden)
    monkeypatch.setattr(thresholds, "threshold_table", forbidden)
    monkeypatch.setattr(distributed, "DaskSweep", forbidden)
    monkeypatch.setattr(bench, "run", forbidden)


def _bad(argv, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["report", "--workers", "0"], "--workers: expected a positive integer, got '0'"),
        (["report", "--dtypes", "float99"], "--dtypes: unknown 'float99'; choose from float32"),
        (["report", "--dtypes", "float16,x"], "float64, float16, bfloat16, float8_e5m2"),
        (
            ["report", "--pipelines", "float16:float99:float32"],
            "--pipelines: compute format 'float99' in 'float16:float99:float32' is unknown; "
            "choose from float64, float32, float16",
        ),
        (
            ["report", "--pipelines", "float16"],
            "--pipelines: expected STORAGE:COMPUTE:ACCUMULATE[:ROUNDING] such as "
            "bfloat16:float32:float32 or bfloat16:bfloat16:float32:stochastic, got 'float16'",
        ),
        (
            ["report", "--pipelines", "float16:float32:float32:float64"],
            "--pipelines: rounding 'float64' in 'float16:float32:float32:float64' is unknown; "
            "choose from nearest, stochastic",
        ),
        (["report", "--pipelines", "float16:a:b:c:d"], "got 'float16:a:b:c:d'"),
        (
            ["report", "--pipelines", "float32:float32:float32"],
            "--pipelines: storage format 'float32' in 'float32:float32:float32' is unknown; "
            "choose from float16, bfloat16",
        ),
        (["report", "--pipelines", "bfloat16:bf16"], "compute format 'bf16'"),
        (["report", "--pipelines", ","], "--pipelines: expected a comma-separated list"),
        (["report", "--methods", "bogus"], "--methods: 'bogus' not a method"),
        (["report", "--functions", "softmax", "--methods", "log1p"], "'log1p' not a method"),
        (
            ["report", "--functions", "softmax,logsumexp", "--methods", "log1p"],
            "leaves no method for softmax",
        ),
        (["report", "--functions", "softmin"], "--functions: unknown 'softmin'; choose from"),
        (["report", "--families", "cauchy"], "--families: unknown 'cauchy'; choose from gaussian"),
        (["report", "--quick", "--full"], "not allowed with argument"),
        (["report", "--seed", "-1"], "--seed: expected a non-negative integer, got '-1'"),
        (["report", "--frobnicate"], "unrecognized arguments"),
        (["report", "--reference-engine", "turbo"], "--reference-engine: invalid choice: 'turbo'"),
        (
            ["report", "--scheduler", "notanaddress"],
            "--scheduler: 'notanaddress' is not a scheduler address (no host and port); "
            "pass SCHEME://HOST:PORT",
        ),
        (["report", "--scheduler", "nosuch://h:1"], "--scheduler: 'nosuch://h:1' has the unknown"),
        (["report", "--scheduler", "tcp://h:99999"], "--scheduler: 'tcp://h:99999' is not a"),
        (["report", "--scheduler", "tcp://h:1", "--workers", "2"], "--workers: sizes local"),
        (["report", "--out", "/proc/nope"], "--out /proc/nope: cannot create or write it"),
        (["bench", "--budget", "-1"], "--budget: expected a non-negative number of seconds"),
        (["bench", "--budget", "nan"], "--budget: expected a non-negative number"),
        (["bench", "--threads", "0"], "--threads: expected positive whole numbers such as 1,2"),
        (["bench", "--threads", "1,x"], "got '1,x'"),
        (["bench", "--threads", "4096"], "--threads: 4096 exceeds the"),
        (["bench", "--shapes", "4x0"], "--shapes: expected ROWSxN items with positive sizes"),
        (["bench", "--dtypes", "float8_e4m3fn"], "--dtypes: unknown 'float8_e4m3fn'; choose"),
        (["nosuch"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_before_any_work(argv, fragment, no_work, capsys):
    err = _bad(argv, capsys)
    assert fragment in err
    if argv[0] == "bench" and "--threads" in argv:
        assert "--shapes" not in err  # the option at fault alone


def test_out_must_be_a_directory(tmp_path, no_work, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert "not a directory" in _bad(["report", "--out", str(blocker)], capsys)
    # a directory that cannot be made: its parent is a file
    err = _bad(["report", "--out", str(blocker / "sub")], capsys)
    assert f"--out {blocker / 'sub'}: cannot create or write it" in err


def test_out_is_checked_after_the_other_options(tmp_path, no_work, capsys):
    out = tmp_path / "new"
    _bad(["report", "--out", str(out), "--dtypes", "float99"], capsys)
    assert not out.exists()  # a bad option leaves nothing behind


def test_help_is_plain_text(capsys):
    for argv in ([], ["report"], ["bench"], ["demo"]):
        with pytest.raises(SystemExit) as info:
            cli.main([*argv, "--help"])
        assert info.value.code == 0
        text = capsys.readouterr().out
        assert "usage: stable-softmax" in text
        for markup in ("``", ":func:", ":mod:", ":class:", ":data:"):
            assert markup not in text, (argv, markup)


def test_reference_engine_option_is_set_for_the_run(tiny_grid, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("STABLE_SOFTMAX_REFERENCE_ENGINE", raising=False)
    seen = []
    real_group = sweep.run_group

    def spy(cells):
        seen.append(os.environ.get("STABLE_SOFTMAX_REFERENCE_ENGINE"))
        return real_group(cells)

    monkeypatch.setattr(sweep, "run_group", spy)
    argv = [*ARGS, "--no-plots", "--dtypes", "float64", "--out", str(tmp_path / "r")]
    assert cli.main([*argv, "--reference-engine", "mpmath"]) == 0
    assert seen and set(seen) == {"mpmath"}
    assert "STABLE_SOFTMAX_REFERENCE_ENGINE" not in os.environ  # restored after the run
    assert _records(tmp_path / "r")["reference_engine"] == "mpmath"


def test_interrupted_run_resumes_from_the_cache(tiny_grid, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STABLE_SOFTMAX_REFERENCE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("STABLE_SOFTMAX_REFERENCE_ENGINE", "mpmath")  # only mpmath rows are cached
    computed = []
    real_row = reference._exact.evaluate_row

    def counting_row(kind, row, *args, **kwargs):
        computed.append(kind)
        return real_row(kind, row, *args, **kwargs)

    monkeypatch.setattr(reference._exact, "evaluate_row", counting_row)
    argv = [*ARGS, "--no-plots", "--dtypes", "float64"]
    groups = sweep.group_cells(
        sweep.build_cells(
            TINY,
            {"softmax": ("naive", "shifted"), "logsumexp": ("naive", "shifted", "log1p")},
            ["float64"],
        )
    )
    # the reference rows of the sweep (the course-material rows are computed after the sweep)
    sweep_rows = sum(g[0].rows for g in groups)

    real_group = sweep.run_group
    calls = []

    def interrupted(cells):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(cells)
        return real_group(cells)

    monkeypatch.setattr(sweep, "run_group", interrupted)
    assert cli.main([*argv, "--out", str(tmp_path / "a")]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "resume" in err
    assert not (tmp_path / "a" / "report.json").exists()
    first = len(computed)
    assert first == sum(g[0].rows for g in calls) > 0
    assert any((tmp_path / "cache").rglob("*.ssref"))

    monkeypatch.setattr(sweep, "run_group", real_group)
    computed.clear()
    assert cli.main([*argv, "--out", str(tmp_path / "a")]) == 0
    resumed = list(computed)
    assert len(resumed) >= sweep_rows - first  # the rest of the sweep (plus course rows)
    course_rows = len(resumed) - (sweep_rows - first)

    # A cold, uninterrupted run gives the same records and computes every row.
    monkeypatch.setenv("STABLE_SOFTMAX_REFERENCE_CACHE", str(tmp_path / "cold"))
    computed.clear()
    assert cli.main([*argv, "--out", str(tmp_path / "b")]) == 0
    assert len(computed) == sweep_rows + course_rows
    assert _records(tmp_path / "a")["records"] == _records(tmp_path / "b")["records"]


def test_demo_is_still_the_default(capsys):
    assert cli.main([]) == 0
    assert "softmax([2, 4, 2, 1])" in capsys.readouterr().out


def _demo_block(text: str, row: str, dtype: str) -> dict[str, str]:
    """The demo's lines for ``softmax(row)`` under ``dtype``: {label: rest of the line}."""
    section = text.split(f"--- {dtype}")[1].split("\n--- ")[0]
    block = section.split(f"softmax({row})\n")[1].split("\nsoftmax(")[0]
    return {line.split()[0]: line for line in block.splitlines()}


def test_demo_shows_the_reference_and_flags_the_wrong_result(capsys):
    assert cli.main(["demo"]) == 0
    lines = _demo_block(capsys.readouterr().out, "[-745, -746]", "float64")
    # exact: [1/(1+e^-1), e^-1/(1+e^-1)] = [0.7311, 0.2689]; naive gives exp(-746) = 0
    assert "[0.7311 0.2689]" in lines["reference"]
    assert "[1. 0.]" in lines["naive"] and "WRONG" in lines["naive"]
    assert "0 where the reference is nonzero" in lines["naive"]
    assert "WRONG" not in lines["shifted"] and "WRONG" not in lines["accurate"]


def test_demo_judge():
    import numpy as np

    from stable_softmax.demo import ULP_LIMIT, judge

    exact = reference.softmax(np.array([-745.0, -746.0]))
    assert judge(exact, exact) == []
    assert judge(np.array([1.0, 0.0]), exact)[0] == "0 where the reference is nonzero"
    assert judge(np.array([np.nan, 0.5]), exact)[0] == "inf/NaN where the reference is finite"
    near = np.nextafter(exact, 1.0)  # 1 ULP up: right
    assert judge(near, exact) == []
    far = exact.copy()
    for _ in range(ULP_LIMIT + 1):  # ULP_LIMIT + 1 steps up: wrong
        far = np.nextafter(far, 1.0)
    assert judge(far, exact) == [f"{ULP_LIMIT + 1} ULP from the reference (limit {ULP_LIMIT})"]
