"""The report as a library: summary and ranking on synthetic records, the document, engine stats."""

from __future__ import annotations

import csv
import json
import math

import pytest

import reference
from stable_softmax.accuracy import report, summary, sweep
from stable_softmax.accuracy.grids import Block, Grid
from stable_softmax.accuracy.measure import RECORD_FIELDS

TINY = Grid(
    "tiny", (Block("scale-n", ("gaussian",), (4, 8), (1.0,), elements=16),), threshold_betas=(1.0,)
)


def _record(function="softmax", method="a", dtype="float32", **stats) -> dict:
    """A synthetic record: a benign cell unless ``stats`` say otherwise."""
    record = dict.fromkeys(RECORD_FIELDS)
    record.update(
        function=function,
        method=method,
        dtype=dtype,
        family="gaussian",
        n=4,
        scale=1.0,
        beta=1.0,
        base=math.e,
        rows=4,
        seed=0,
        elements=16,
        max_ulp=0.0,
        median_ulp=0.0,
        max_bits=0.0,
        overflow=0.0,
        underflow=0.0,
        nan=0.0,
        unbounded=0.0,
        ref_failed=0.0,
    )
    record.update(stats)
    return record


def test_summarize_folds_cells_by_hand():
    records = [
        _record(max_ulp=2.0, median_ulp=1.0, overflow=0.0),
        _record(max_ulp=6.0, median_ulp=3.0, overflow=0.5, bound_checked=1.0, bound_inside=1.0),
        _record(max_ulp=None, median_ulp=None, nan=1.0, error=None),
        _record(max_ulp=1e9, error="ValueError: boom"),  # failed cell: left out
    ]
    [row] = summary.summarize(records)
    assert row["cells"] == 3
    assert row["worst_ulp"] == 6.0 and row["worst_bits"] == pytest.approx(math.log2(7.0))
    assert row["median_ulp"] == 2.0  # median of the medians 1 and 3
    assert row["overflow"] == pytest.approx(0.5 / 3) and row["nan"] == pytest.approx(1 / 3)
    assert row["cells_failing"] == 2
    assert (row["bound"], row["bound_cells"], row["bound_cells_inside"]) == (False, 1, 1)
    assert summary.failed(records) == records[3:]


def test_summary_order_functions_then_first_seen_implementations():
    records = [
        _record("logsumexp", "z"),
        _record("softmax", "b", "float64"),
        _record("softmax", "a", "float64"),
        _record("softmax", "b", "float32"),
    ]
    keys = [(s["function"], s["method"], s["dtype"]) for s in summary.summarize(records)]
    assert keys == [
        ("softmax", "b", "float32"),
        ("softmax", "b", "float64"),
        ("softmax", "a", "float64"),
        ("logsumexp", "z", "float32"),
    ]


def test_recommend_ranks_and_explains():
    records = [
        _record(method="overflows", max_ulp=0.0, overflow=0.25),
        _record(method="overflows", max_ulp=0.0),
        _record(method="best", max_ulp=1.0),  # 1 bit
        _record(method="best", max_ulp=1.0),
        _record(method="coarse", max_ulp=7.0),  # log2(8) = 3 bits
        _record(method="coarse", max_ulp=7.0),
        _record(method="underflows", max_ulp=1.0, underflow=0.5),
        _record(method="underflows", max_ulp=1.0),
        _record(method="twin", max_ulp=1.0),
        _record(method="twin", max_ulp=1.0),
    ]
    [rec] = summary.recommend(summary.summarize(records))
    assert rec["method"] == "best" and rec["nonfinite"] == 0.0 and rec["cells"] == 2
    assert rec["others"] == [
        {"method": "twin", "reason": "ties with it"},
        {"method": "underflows", "reason": "underflows 25.00% of elements vs 0"},
        {"method": "coarse", "reason": "worst error 7 ULP (3.0 bits)"},
        {
            "method": "overflows",
            "reason": "inf/NaN in 12.50% of elements (1 of 2 cells with failures)",
        },
    ]


def test_assemble_and_write_on_synthetic_records(tmp_path):
    config = report.ReportConfig(
        grid=TINY, functions={"softmax": ("naive", "shifted")}, dtypes=("float32",), seed=3
    )
    records = [
        _record(method="naive", nan=0.5, max_ulp=1.0),
        _record(method="shifted", max_ulp=2.0),
    ]
    doc = report.assemble(config, records, run={"workers": 2, "executor": "test"})
    assert doc.recommendations[0]["method"] == "shifted"
    header = doc.as_dict()
    assert header["seed"] == 3 and header["grid"]["name"] == "tiny"
    assert header["functions"] == {"softmax": ["naive", "shifted"]}
    # TINY: n = 4 with 16 // 4 = 4 rows and n = 8 with 2 rows: 16 + 16 reference elements
    assert header["reference_elements"] == 32
    assert "reference_engine_stats" not in header  # no stats given: the key is absent
    files = report.write_report(doc, tmp_path / "out", plots=False)
    assert [f.name for f in files] == ["report.md", "report.json", "report.csv"]
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["records"] == records and saved["executor"] == "test"
    with open(tmp_path / "out" / "report.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["method"] for r in rows] == ["naive", "shifted"] and rows[0]["nan"] == "0.5"
    md = (tmp_path / "out" / "report.md").read_text()
    assert "**softmax, float32: use `shifted`**" in md and "inf/NaN in 50.00%" in md


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"dtypes": ("float99",)}, "dtypes"),
        ({"dtypes": ()}, "dtypes"),
        ({"pipelines": ("float16:float32:nope",)}, "pipelines"),
        ({"dtypes": ("float32",), "pipelines": ("float16",)}, "pipelines"),
        ({"families": ("cauchy",)}, "families"),
        ({"functions": {"softmin": ("naive",)}}, "functions"),
        ({"functions": {"softmax": ("bogus",)}}, "methods"),
        ({"functions": {"softmax": ()}}, "methods"),
        ({"seed": -1}, "seed"),
        ({"workers": 0}, "workers"),
        ({"grid": "huge"}, "grid"),
        ({"scheduler": "nohostport"}, "scheduler"),
        ({"reference_engine": "fast"}, "reference_engine"),
        ({"families": ("edges",)}, "families"),  # TINY has no edges block: no cell
    ],
)
def test_check_names_the_field(changes, field):
    with pytest.raises(report.ConfigError) as info:
        report.check(report.ReportConfig(**{"grid": TINY, **changes}))
    assert info.value.field == field and str(info.value).startswith(f"{field}: ")


def test_engine_tally_sums_group_deltas():
    tally = sweep.EngineTally()
    assert tally.as_dict() is None
    tally.add(None)  # a reference without stats adds nothing
    tally.add({"fast": {"elements": 10, "seconds": 0.5}, "mpmath": {"elements": 2}})
    tally.add({"fast": {"elements": 5, "seconds": 0.25}})
    assert tally.as_dict() == {
        "groups": 2,
        "engines": {"fast": {"elements": 15, "seconds": 0.75}, "mpmath": {"elements": 2}},
    }


def test_build_report_records_engine_stats_per_group(monkeypatch):
    calls = []

    def fake_stats():
        calls.append(None)  # every call counts 3 more elements: each group's delta is 3
        return {"fast": {"elements": 3 * len(calls), "seconds": 0.0}}

    monkeypatch.setattr(reference, "engine_stats", fake_stats, raising=False)
    config = report.ReportConfig(
        grid=TINY, functions={"logsumexp": ("naive", "shifted")}, dtypes=("float64",), workers=1
    )
    doc = report.build_report(config)
    groups = len(sweep.group_cells(report.cells_of(report.check(config))))
    assert groups == 2  # two inputs (n = 4, 8), one dtype, one function
    assert doc.header["reference_engine_stats"] == {
        "groups": 2,
        "engines": {"fast": {"elements": 6, "seconds": 0.0}},
    }
    assert len(doc.records) == 4 and all(r["error"] is None for r in doc.records)
    monkeypatch.delattr(reference, "engine_stats")
    assert "reference_engine_stats" not in report.build_report(config).header
