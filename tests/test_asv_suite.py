"""The asv benchmark suite is importable and well formed (``asv check``)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parent.parent / "asv_benchmarks"


@pytest.mark.skipif(
    shutil.which("asv") is None and not (Path(sys.executable).parent / "asv").exists(),
    reason="asv not installed",
)
def test_asv_check_finds_no_problems():
    asv = shutil.which("asv") or str(Path(sys.executable).parent / "asv")
    # asv drops PYTHONPATH; ASV_PYTHONPATH makes the suite import this checkout's package
    # (not whichever one the environment has installed).
    env = {**os.environ, "ASV_PYTHONPATH": str(SUITE.parent)}
    result = subprocess.run(
        [asv, "check", "--python=same"],
        cwd=SUITE,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No problems found" in result.stdout
