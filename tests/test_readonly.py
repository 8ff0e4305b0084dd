"""Read-only installs: the package directory, ``$NUMBA_CACHE_DIR`` and ``$HOME`` not writable.

The package is copied to a temporary directory, made read-only
(``chmod -R a-w``), and imported from a subprocess that cannot override file
permissions. Running as root (as CI containers often do), the subprocess
drops every capability with ``setpriv --bounding-set=-all --inh-caps=-all``:
root without ``CAP_DAC_OVERRIDE`` obeys the mode bits like any user. (A
``nobody`` user cannot be used here: the interpreter lives under ``/root``,
mode 700.) The test is skipped when neither works.

Expected: imports and calls work and give the bits of a normal install;
Numba's cache falls back to compiling in memory with at most one
:class:`~stable_softmax.kernels._options.KernelCacheWarning`; the reference
cache computes without storing, with at most one ``ReferenceCacheWarning``;
nothing is written anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numba.core.caching
import pytest

import reference
import stable_softmax as ss
from stable_softmax.kernels import _options

ROOT = Path(ss.__file__).resolve().parent.parent

# What the subprocess computes; the parent computes the same in-process.
_CASES = """
import numpy as np
def cases(ss, reference):
    x64 = np.array([[2.0, 4.0, 2.0, 1.0], [-np.inf, 0.5, 800.0, -3.0], [np.nan, 1.0, 2.0, 3.0]])
    x32 = x64.astype(np.float32)
    # Few kernels: each compiles from scratch in every process without a cache.
    out = {
        "softmax64": ss.softmax(x64, axis=0),
        "reference_softmax": reference.softmax(x64[:1]),
        "reference_logsumexp": reference.logsumexp(x32[:2]),
    }
    return {
        k: (str(v.dtype), list(np.shape(v)), np.asarray(v).tobytes().hex()) for k, v in out.items()
    }
"""

_CHILD = textwrap.dedent(
    """
    import json, sys, warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import stable_softmax as ss
        import reference
        exec(sys.argv[1])
        results = cases(ss, reference)
        results_again = cases(ss, reference)  # second calls: no second warning
    assert results == results_again
    print(json.dumps({
        "file": ss.__file__,
        "results": results,
        "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    }))
    """
)


def _unprivileged() -> list[str] | None:
    """A command prefix under which file permissions apply, or None."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--bounding-set=-all", "--inh-caps=-all"]


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def _make_read_only(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        p.chmod(stat.S_IMODE(p.lstat().st_mode) & ~0o222)


def _restore_writable(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        p.chmod(stat.S_IMODE(p.lstat().st_mode) | 0o200)


@pytest.fixture
def read_only_install(tmp_path):
    """``(prefix, env, dirs)``: a read-only copy of the package and unwritable cache/home."""
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot make a directory unwritable")
    pkg, home, numba_cache = tmp_path / "site", tmp_path / "home", tmp_path / "numba-cache"
    ignore = shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc", "*.pyc")
    for name in ("stable_softmax", "reference"):
        shutil.copytree(ROOT / name, pkg / name, ignore=ignore)
    home.mkdir()
    numba_cache.mkdir()
    for d in (pkg, home, numba_cache):
        _make_read_only(d)
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", f"open({str(pkg / 'probe')!r}, 'w')"],
        capture_output=True,
        text=True,
    )
    if probe.returncode == 0 or "PermissionError" not in probe.stderr:
        for d in (pkg, home, numba_cache):
            _restore_writable(d)
        pytest.skip(f"the unprivileged subprocess can still write: {probe.stderr[-300:]}")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NUMBA_", "STABLE_SOFTMAX_", "XDG_"))
    }
    env.update(PYTHONPATH=str(pkg), HOME=str(home), NUMBA_CACHE_DIR=str(numba_cache))
    dirs = {"pkg": pkg, "home": home, "numba_cache": numba_cache}
    yield prefix, env, dirs
    for d in dirs.values():
        _restore_writable(d)


def _run_child(prefix, env, pkg: Path) -> dict:
    proc = subprocess.run(  # cwd: not the checkout, whose package `python -c` would import first
        [*prefix, sys.executable, "-c", _CHILD, _CASES],
        env=env,
        cwd=pkg.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).resolve().is_relative_to(pkg.resolve()), report["file"]
    return report


def _expected() -> dict:
    namespace: dict = {}
    exec(_CASES, namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", reference.ReferenceCacheWarning)
        return json.loads(json.dumps(namespace["cases"](ss, reference)))


def _warning_counts(report) -> dict[str, int]:
    counts: dict[str, int] = {}
    for category, _ in report["warnings"]:
        counts[category] = counts.get(category, 0) + 1
    return counts


def test_read_only_install_without_any_writable_cache(read_only_install):
    prefix, env, dirs = read_only_install
    before = {name: _tree(d) for name, d in dirs.items()}
    report = _run_child(prefix, env, dirs["pkg"])
    assert report["results"] == _expected()
    counts = _warning_counts(report)
    assert set(counts) <= {"KernelCacheWarning", "ReferenceCacheWarning"}, report["warnings"]
    assert all(n == 1 for n in counts.values()), report["warnings"]
    assert {name: _tree(d) for name, d in dirs.items()} == before


def test_read_only_package_with_writable_numba_cache_dir(read_only_install):
    """A read-only site-packages with ``NUMBA_CACHE_DIR`` set: no warning from Numba, the
    compiled kernels land in ``NUMBA_CACHE_DIR`` and a second process loads them.
    """
    prefix, env, dirs = read_only_install
    _restore_writable(dirs["numba_cache"])
    before = _tree(dirs["pkg"])
    first = _run_child(prefix, env, dirs["pkg"])
    assert first["results"] == _expected()
    assert set(_warning_counts(first)) <= {"ReferenceCacheWarning"}, first["warnings"]
    assert _warning_counts(first).get("ReferenceCacheWarning", 0) <= 1
    cached = [p for p in _tree(dirs["numba_cache"]) if p.endswith(".nbi")]
    assert cached, "Numba stored nothing in NUMBA_CACHE_DIR"
    second = _run_child(prefix, env, dirs["pkg"])
    assert second["results"] == first["results"]
    assert _tree(dirs["pkg"]) == before


def test_kernel_falls_back_to_no_cache_and_warns_once(monkeypatch):
    """In process: when Numba has no cache locator, :func:`_options.kernel` compiles
    without the cache, warns once, and later kernels stay quiet.
    """
    monkeypatch.setattr(_options, "_cache_unavailable", False)
    monkeypatch.setattr(numba.core.caching.CacheImpl, "_locator_classes", [])

    def double(x):
        return 2 * x

    def triple(x):
        return 3 * x

    with pytest.warns(_options.KernelCacheWarning, match="NUMBA_CACHE_DIR") as record:
        first = _options.kernel(double)
    second = _options.kernel(fastmath={"contract"})(triple)  # warnings are errors in this suite
    assert len(record) == 1
    assert first(2.0) == 4.0 and second(2.0) == 6.0
    assert first._cache.__class__.__name__ == "NullCache"
    assert _options._cache_unavailable


def test_kernel_fallback_leaves_other_errors_alone(monkeypatch):
    monkeypatch.setattr(_options, "_cache_unavailable", False)

    def refuse(*args, **kwargs):
        raise RuntimeError("something else")

    monkeypatch.setattr(_options, "njit", lambda **options: refuse)
    with pytest.raises(RuntimeError, match="something else"):
        _options.kernel(lambda x: x)
    assert not _options._cache_unavailable
