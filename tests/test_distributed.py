"""The sweep on Dask (`report --cluster local | --scheduler`), error records, cache hand-over.

Tests that need Dask are skipped when the `distributed` extra is not installed
(`pip install -e ".[test,distributed]"`); the others check the paths that
must work without it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reference import _cache
from stable_softmax import cli
from stable_softmax.accuracy import distributed, report, summary, sweep
from stable_softmax.accuracy.sweep import Block, Cell, Grid, build_cells

needs_dask = pytest.mark.skipif(
    not distributed.available(), reason='needs pip install "stable_softmax[distributed]"'
)

TINY = Grid(
    "quick",
    (Block("scale-n", ("gaussian", "spike"), (4, 16), (1.0, 100.0), elements=32),),
    threshold_betas=(1.0,),
)
ARGS = [
    "report",
    "--functions",
    "softmax,logsumexp",
    "--methods",
    "naive,shifted,log1p",
    "--no-plots",
    "--dtypes",
    "float64",
]
BAD_METHOD = Cell(
    "softmax", "bogus", "float64", "gaussian", 4, 1.0, 1.0, math.e, 8, 0
)  # the kernel raises
BAD_FAMILY = Cell(
    "softmax", "shifted", "float64", "nosuch", 4, 1.0, 1.0, math.e, 8, 0
)  # the reference task raises


def _cells():
    return build_cells(
        TINY, {"softmax": ("naive", "shifted"), "logsumexp": ("log1p",)}, ["float64"]
    )


def _entries(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*" + _cache.SUFFIX)}


def _records(out: Path) -> list[dict]:
    return json.loads((out / "report.json").read_text())["records"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------ without Dask


def test_a_failing_cell_is_recorded_by_the_local_sweep():
    cells = [BAD_METHOD, *_cells()[:3], BAD_FAMILY]
    records = sweep.run_sweep(cells, workers=1)
    assert [r["error"] is None for r in records] == [False, True, True, True, False]
    assert records[0]["error"].startswith("ValueError: unknown implementation 'bogus'")
    assert records[-1]["error"].startswith("ValueError: unknown family 'nosuch'")
    assert records[0]["max_ulp"] is None and records[0]["method"] == "bogus"
    assert tuple(records[0]) == sweep.RECORD_FIELDS
    assert records[1:4] == sweep.run_sweep(cells[1:4], workers=1)  # the others are unaffected


def test_failed_cells_are_listed_and_left_out_of_the_summary(tmp_path):
    records = sweep.run_sweep([BAD_METHOD, *_cells()[:2]], workers=1)
    assert summary.summarize(records) == summary.summarize(records[1:])
    config = report.ReportConfig(
        grid=TINY, functions={"softmax": ("naive", "shifted")}, dtypes=("float64",)
    )
    doc = report.assemble(config, records)
    report.write_report(doc, tmp_path, plots=False)
    md = (tmp_path / "report.md").read_text()
    assert "**1 cell(s) failed**" in md and "## Failed cells" in md
    assert "| softmax | bogus | float64 | gaussian | 4 |" in md
    assert "unknown implementation 'bogus'" in md
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["records"][0]["error"] == records[0]["error"]
    assert "error" in (tmp_path / "report.csv").read_text().splitlines()[0].split(",")


def test_without_the_extra_the_dask_options_say_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    assert not distributed.available()
    assert cli.main(["report", "--cluster", "local", "--functions", "softmax"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "stable_softmax[distributed]"' in err


def test_workers_with_scheduler_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["report", "--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"])
    assert info.value.code == 2 and "with --scheduler" in capsys.readouterr().err


def test_the_local_sweep_does_not_import_dask(tmp_path):
    code = (
        "import sys, math\n"
        "from stable_softmax import cli\n"
        "from stable_softmax.accuracy import sweep\n"
        "cell = sweep.Cell('softmax', 'shifted', 'float32', 'gaussian', 4, 1.0, 1.0, math.e, 2,"
        " 0)\n"
        "assert sweep.run_sweep([cell], workers=1)[0]['error'] is None\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "STABLE_SOFTMAX_REFERENCE_CACHE": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


# ------------------------------------------------------------ with Dask


@needs_dask
# The CLI's LocalCluster asks for the usual dashboard port; another job on the machine may hold it.
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning")
def test_local_cluster_report_equals_the_serial_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sweep.GRIDS, "quick", TINY)
    monkeypatch.setenv("STABLE_SOFTMAX_REFERENCE_ENGINE", "mpmath")  # only mpmath rows are cached
    monkeypatch.setenv(_cache.ENV_VAR, str(tmp_path / "dask-cache"))
    assert (
        cli.main([*ARGS, "--cluster", "local", "--workers", "2", "--out", str(tmp_path / "dask")])
        == 0
    )
    err = capsys.readouterr().err
    assert "Dask LocalCluster: 2 worker(s)" in err and "of 40 cells" in err
    monkeypatch.setenv(_cache.ENV_VAR, str(tmp_path / "serial-cache"))
    assert cli.main([*ARGS, "--workers", "1", "--out", str(tmp_path / "serial")]) == 0
    dask_records = _records(tmp_path / "dask")
    assert len(dask_records) == 40 and all(r["error"] is None for r in dask_records)
    assert dask_records == _records(tmp_path / "serial")
    # The workers wrote the rows into the client's cache: the same entries as the serial run.
    assert _entries(tmp_path / "dask-cache") == _entries(tmp_path / "serial-cache") != set()
    doc = json.loads((tmp_path / "dask" / "report.json").read_text())
    assert doc["executor"] == "Dask LocalCluster" and doc["workers"] == 2


@needs_dask
def test_unreachable_scheduler_exits_2_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT", "1s")
    address = f"tcp://127.0.0.1:{_free_port()}"
    assert cli.main(["report", "--scheduler", address, "--functions", "softmax"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        f"stable-softmax report: error: cannot reach Dask scheduler at {address} ("
    )


@pytest.fixture(scope="module")
def separate_caches(tmp_path_factory):
    """One worker process whose reference cache is not the client's: rows must travel."""
    if not distributed.available():
        pytest.skip('needs pip install "stable_softmax[distributed]"')
    root = tmp_path_factory.mktemp("caches")
    old = os.environ[_cache.ENV_VAR]
    os.environ[_cache.ENV_VAR] = str(root / "client")
    # Only rows the reference's fast step leaves to mpmath are cached: make every row such a row.
    old_engine = os.environ.pop("STABLE_SOFTMAX_REFERENCE_ENGINE", None)
    os.environ["STABLE_SOFTMAX_REFERENCE_ENGINE"] = "mpmath"
    try:
        with distributed.DaskSweep(
            local_workers=1, env={_cache.ENV_VAR: str(root / "worker")}, dashboard_address=None
        ) as dask:
            yield dask, root / "client", root / "worker"
    finally:
        os.environ[_cache.ENV_VAR] = old
        os.environ.pop("STABLE_SOFTMAX_REFERENCE_ENGINE")
        if old_engine is not None:
            os.environ["STABLE_SOFTMAX_REFERENCE_ENGINE"] = old_engine


def test_rows_travel_between_client_and_worker_caches(separate_caches):
    dask, client_cache, worker_cache = separate_caches
    cells = _cells()[:6]
    rows = sum(g[0].rows for g in sweep.group_cells(cells))
    assert dask.ship

    before = (dask.rows_sent, dask.rows_received)
    first = dask.run(cells)
    assert (dask.rows_sent, dask.rows_received) == (
        before[0],
        before[1] + rows,
    )  # computed there, stored here
    assert len(_entries(client_cache)) == rows and _entries(worker_cache) == _entries(client_cache)

    for entry in worker_cache.rglob(
        "*" + _cache.SUFFIX
    ):  # a fresh worker: only the client has the rows
        entry.unlink()
    before = (dask.rows_sent, dask.rows_received)
    again = dask.run(cells)
    assert (dask.rows_sent, dask.rows_received) == (
        before[0] + rows,
        before[1],
    )  # sent there, nothing new
    assert _entries(worker_cache) == _entries(client_cache)
    assert again == first == sweep.run_sweep(cells, workers=1)


def test_a_cell_that_raises_on_a_worker_is_recorded_and_the_rest_complete(separate_caches):
    dask, client_cache, _ = separate_caches
    cells = [*_cells()[6:9], BAD_METHOD, BAD_FAMILY]
    seen = []
    records = dask.run(cells, progress=seen.append, retries=0)
    assert sum(seen) == len(cells)
    assert [r["error"] is None for r in records] == [True, True, True, False, False]
    assert records[3]["error"].startswith("ValueError: unknown implementation 'bogus'")
    assert records[4]["error"].startswith("ValueError: unknown family 'nosuch'")
    assert records[:3] == sweep.run_sweep(cells[:3], workers=1)


def test_a_worker_lost_mid_sweep_has_its_cells_rerun(separate_caches):
    dask, client_cache, worker_cache = separate_caches
    cells = build_cells(TINY, {"log_softmax": ("naive", "shifted")}, ["float32"])
    pids = list(dask.client.run(os.getpid).values())
    killed = []

    def kill_the_worker_once(k):
        if not killed:
            killed.append(pids[0])
            os.kill(pids[0], signal.SIGKILL)  # the nanny starts a new worker process

    records = dask.run(cells, progress=kill_the_worker_once)
    assert killed and list(dask.client.run(os.getpid).values()) != pids
    assert all(r["error"] is None for r in records)
    assert records == sweep.run_sweep(cells, workers=1)
