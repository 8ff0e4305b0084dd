"""`stable-softmax report` end to end on a tiny grid; argument errors; interrupt and resume."""

from __future__ import annotations

import csv
import json

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
        if r["function"] == "softmax" and r["nan"] == 0:
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
        "## Summary per method and dtype",
        "## Overflow and underflow thresholds",
        "## Course material, checked live",
        "## Plots",
    ):
        assert heading in md
    assert "use `shifted`" in md or "use `log1p`" in md
    assert "0x1.62e43p+6" in md  # naive float32 overflow threshold in hex
    assert "All methods agree with the quoted values" in md
    assert "report written to" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["report", "--workers", "0"], "--workers: expected a positive integer"),
        (["report", "--dtypes", "float16"], "--dtypes: unknown 'float16'"),
        (["report", "--methods", "bogus"], "'bogus' not a method"),
        (["report", "--functions", "softmax", "--methods", "log1p"], "'log1p' not a method"),
        (
            ["report", "--functions", "softmax,logsumexp", "--methods", "log1p"],
            "leaves no method for softmax",
        ),
        (["report", "--families", "cauchy"], "--families: unknown 'cauchy'"),
        (["report", "--quick", "--full"], "not allowed with argument"),
        (["report", "--seed", "-1"], "--seed"),
        (["report", "--frobnicate"], "unrecognized arguments"),
        (["nosuch"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, fragment, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and fragment in err


def test_out_must_be_a_directory(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SystemExit) as info:
        cli.main(["report", "--out", str(blocker)])
    assert info.value.code == 2 and "not a directory" in capsys.readouterr().err


def test_interrupted_run_resumes_from_the_cache(tiny_grid, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STABLE_SOFTMAX_REFERENCE_CACHE", str(tmp_path / "cache"))
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
