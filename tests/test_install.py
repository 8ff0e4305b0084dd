"""Where compiled kernels are cached, and that the cache never serves stale code.

The whole install -> uninstall -> editable install cycle in a fresh virtualenv
is a step of ``.ci/run`` (it takes minutes); here are the fast checks of the
same rules: kernels are cached outside the package, under a key that changes
with any jit-layer source, ``NUMBA_CACHE_DIR`` is honoured, and the clearing
function deletes what it says.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from numba.core import caching

import stable_softmax as ss
from stable_softmax.kernels import _options

ROOT = Path(ss.__file__).resolve().parent.parent


def test_public_kernels_are_cached_outside_the_package():
    ss.softmax(np.ones((2, 3)))  # at least one kernel compiled or loaded
    paths = {
        d._cache.cache_path
        for d in vars(ss.jit).values()
        if isinstance(getattr(d, "_cache", None), caching.FunctionCache)  # not inline ones
    }
    assert paths, "no cached dispatcher found in stable_softmax.jit"
    base = _options.kernel_cache_dir()
    assert base is not None
    for path in paths:
        assert Path(path).is_relative_to(base), path
        assert not Path(path).resolve().is_relative_to(_options.PACKAGE_DIR), path


def test_reference_kernels_are_cached_outside_the_reference_package():
    import reference
    from reference import _dd

    reference.softmax(np.array([0.0, 1.0]), engine="auto")  # compiles or loads the fast step
    paths = {
        d._cache.cache_path
        for d in vars(_dd).values()
        if isinstance(getattr(d, "_cache", None), caching.FunctionCache)
    }
    assert paths, "no cached dispatcher found in reference._dd"
    base = _options.kernel_cache_dir()
    for path in paths:
        assert Path(path).is_relative_to(base / "_reference"), path
        assert not Path(path).resolve().is_relative_to(_options.REFERENCE_DIR), path


def _key_of() -> str:
    return _options.source_key.__wrapped__()


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of the package sources, with ``_options.PACKAGE_DIR`` pointing at it."""
    copy = tmp_path / "stable_softmax"
    shutil.copytree(_options.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(_options, "PACKAGE_DIR", copy)
    return copy


def test_source_key_changes_with_every_jit_layer_file_and_only_those(package_copy):
    before = _key_of()
    assert before == _key_of()  # deterministic
    assert before == _options.source_key()  # the copy has the same sources
    for rel in ("kernels/exp.py", "kernels/_blocks.py", "_validate.py", "jit.py"):
        path = package_copy / rel
        original = path.read_bytes()
        path.write_bytes(original + b"\n# edited\n")
        assert _key_of() != before, rel
        path.write_bytes(original)
    new_module = package_copy / "kernels" / "new_kernels.py"
    new_module.write_text("X = 1\n")
    assert _key_of() != before, "a new kernel module"
    new_module.unlink()
    for rel in ("cli.py", "accuracy/report.py"):
        path = package_copy / rel
        path.write_bytes(path.read_bytes() + b"\n# edited\n")
        assert _key_of() == before, rel


# Run in a subprocess on a copy of the package: a kernel whose callee lives in
# another module, as the real kernels call exp and the block sums.
_CALLEE = "from ._options import kernel\n\n\n@kernel\ndef probe_value():\n    return {value}\n"
_CALLER = textwrap.dedent(
    """
    from ._options import kernel
    from ._probe_callee import probe_value


    @kernel
    def probe():
        return probe_value()
    """
)
_CHILD = textwrap.dedent(
    """
    import json, os
    from pathlib import Path
    from stable_softmax.kernels import _options
    from stable_softmax.kernels._probe_caller import probe
    value = probe()
    print(json.dumps({"value": value, "cache": probe._cache.cache_path,
                      "hits": sum(probe.stats.cache_hits.values())}))
    """
)


def _run_probe(site: Path, numba_cache: Path) -> dict:
    import json

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "PYTHONPATH"))}
    env.update(PYTHONPATH=str(site), NUMBA_CACHE_DIR=str(numba_cache))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD],
        env=env,
        cwd=site,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_an_edited_callee_is_recompiled_and_numba_cache_dir_is_honoured(tmp_path):
    site, numba_cache = tmp_path / "site", tmp_path / "numba-cache"
    ignore = shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc")
    for name in ("stable_softmax", "reference"):
        shutil.copytree(ROOT / name, site / name, ignore=ignore)
    kernels = site / "stable_softmax" / "kernels"
    (kernels / "_probe_caller.py").write_text(_CALLER)
    (kernels / "_probe_callee.py").write_text(_CALLEE.format(value=1))

    first = _run_probe(site, numba_cache)
    again = _run_probe(site, numba_cache)
    assert (first["value"], again["value"]) == (1, 1)
    assert again["hits"] == 1, "the second process did not load the cached kernel"
    # Only the callee changes; Numba's own stamp (the caller's file) would not notice.
    (kernels / "_probe_callee.py").write_text(_CALLEE.format(value=2))
    edited = _run_probe(site, numba_cache)
    assert edited["value"] == 2
    assert edited["cache"] != first["cache"]

    assert Path(first["cache"]).is_relative_to(numba_cache / "stable_softmax")
    in_package = [p for p in site.rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert not in_package, in_package[:5]


def test_clear_kernel_cache_keeps_the_current_key_on_request(tmp_path, monkeypatch):
    root = tmp_path / "root"
    monkeypatch.setattr(_options, "kernel_cache_roots", lambda: [root])
    _options._writable.cache_clear()
    current = _options.kernel_cache_dir()
    assert current is not None and current.is_relative_to(root)
    stale = [root / "0.0.1-numba0.60.0" / "0123456789abcdef", current.parent / "fedcba9876543210"]
    for d in [current, *stale]:
        (d / "kernels").mkdir(parents=True, exist_ok=True)
        (d / "kernels" / "f-1.py311.nbi").write_bytes(b"x" * 100)
    assert _options.kernel_cache_info()["bytes"] == 300

    assert _options.clear_kernel_cache(keep_current=True) == 200
    assert current.is_dir() and not any(d.exists() for d in stale)
    assert not stale[0].parent.exists(), "an emptied version directory is removed"
    assert _options.clear_kernel_cache() == 100
    assert not current.exists()
    assert _options.kernel_cache_info()["bytes"] == 0
    _options._writable.cache_clear()
