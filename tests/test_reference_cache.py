"""The on-disk cache of the reference: hits, misses, damage, versions, crashes."""

import os
from pathlib import Path

import mpmath
import numpy as np
import platformdirs
import pytest

import reference
from reference import _cache, _exact

X = np.array([[0.5, -1.25, 3.0], [2.0, 2.0, -7.5]])


@pytest.fixture(autouse=True)
def _mpmath_engine(monkeypatch):
    # Rows the fast step decides never reach the cache: these tests are about the mpmath rows.
    monkeypatch.setenv("STABLE_SOFTMAX_REFERENCE_ENGINE", "mpmath")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache directory, and a counter of exact row evaluations."""
    monkeypatch.setenv("STABLE_SOFTMAX_REFERENCE_CACHE", str(tmp_path / "cache"))
    calls = []
    real = _exact.evaluate_row

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(_exact, "evaluate_row", counting)
    return tmp_path / "cache", calls


def entries(root: Path):
    return sorted(root.rglob("*" + _cache.SUFFIX))


def forbid_evaluation(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(_exact, "evaluate_row", boom)


def test_env_var_location_read_at_call_time(tmp_path, monkeypatch):
    monkeypatch.setenv("STABLE_SOFTMAX_REFERENCE_CACHE", str(tmp_path / "a"))
    assert reference.cache_dir() == tmp_path / "a"
    reference.softmax([1.0, 2.0])
    monkeypatch.setenv("STABLE_SOFTMAX_REFERENCE_CACHE", str(tmp_path / "b"))
    reference.softmax([1.0, 2.0])
    assert len(entries(tmp_path / "a")) == 1 and len(entries(tmp_path / "b")) == 1


def test_default_location(monkeypatch):
    monkeypatch.delenv("STABLE_SOFTMAX_REFERENCE_CACHE", raising=False)
    assert (
        reference.cache_dir() == Path(platformdirs.user_cache_dir("stable_softmax")) / "reference"
    )


def test_miss_then_hit_per_row(cache, monkeypatch):
    root, calls = cache
    first = reference.log_softmax(X)
    assert calls == ["log_softmax", "log_softmax"] and len(entries(root)) == 2
    forbid_evaluation(monkeypatch)
    np.testing.assert_array_equal(reference.log_softmax(X), first)
    # one row alone, and the transposed layout, reuse the per-row entries
    np.testing.assert_array_equal(reference.log_softmax(X[1]), first[1])
    np.testing.assert_array_equal(reference.log_softmax(X.T, axis=0), first.T)


def test_every_parameter_is_in_the_key(cache):
    root, calls = cache
    row = X[0]
    reference.softmax(row)
    for kwargs in ({"beta": 2.0}, {"base": 2.0}, {"dtype": np.float32}):
        reference.softmax(row, **kwargs)
    reference.log_softmax(row)
    reference.softmax(row.astype(np.float32))
    reference.softmax(row[:2])
    assert len(calls) == 7 and len(entries(root)) == 7


@pytest.mark.parametrize("damage", ["truncate", "flip_payload", "flip_header", "garbage", "empty"])
def test_damaged_entry_is_recomputed_and_rewritten(cache, monkeypatch, damage):
    root, calls = cache
    good = reference.softmax(X[0])
    (path,) = entries(root)
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[:-3]
    elif damage == "flip_payload":
        blob[-1] ^= 0x01  # the last bit of the last float: still a valid float
    elif damage == "flip_header":
        blob[len(_cache.MAGIC) + 5] ^= 0x20
    elif damage == "garbage":
        blob = bytearray(os.urandom(len(blob)))
    else:
        blob = bytearray()
    path.write_bytes(bytes(blob))
    calls.clear()
    np.testing.assert_array_equal(reference.softmax(X[0]), good)
    assert calls == ["softmax"]
    forbid_evaluation(monkeypatch)  # the entry was rewritten and is valid again
    np.testing.assert_array_equal(reference.softmax(X[0]), good)


@pytest.mark.parametrize("target", ["strategy", "mpmath"])
def test_version_change_invalidates(cache, monkeypatch, target):
    root, calls = cache
    good = reference.logsumexp(X[0])
    if target == "strategy":
        monkeypatch.setattr(_exact, "STRATEGY_VERSION", _exact.STRATEGY_VERSION + "-next")
    else:
        monkeypatch.setattr(mpmath, "__version__", mpmath.__version__ + ".post1")
    calls.clear()
    assert reference.logsumexp(X[0]) == good
    assert calls == ["logsumexp"]


def test_stored_version_is_checked(cache, monkeypatch):
    # An entry under the right key but written by another version is refused.
    root, calls = cache
    key = _cache.make_key({"any": 1}, b"data")
    monkeypatch.setattr(_cache, "_versions", lambda: {"strategy": "old", "mpmath": "0.0"})
    _cache.store(key, np.array([1.0, 2.0]))
    monkeypatch.undo()
    assert _cache.load(key, np.dtype(np.float64), 2) is None
    _cache.store(key, np.array([1.0, 2.0]))
    np.testing.assert_array_equal(_cache.load(key, np.dtype(np.float64), 2), [1.0, 2.0])
    assert _cache.load(key, np.dtype(np.float32), 2) is None  # wrong dtype is a miss
    assert _cache.load(key, np.dtype(np.float64), 3) is None  # wrong count is a miss


_real_replace = os.replace


class Crash(BaseException):
    """Stands for the process dying between writing and renaming."""


def test_interrupted_write_never_yields_a_partial_entry(cache, monkeypatch):
    root, calls = cache
    row = np.array([2.0, 2.0, -np.inf])  # exactly [1/2, 1/2, 0]

    def crash(src, dst):
        raise Crash

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(Crash):
        reference.softmax(row)
    assert entries(root) == [] and calls == ["softmax"]
    # A real crash leaves the temporary file behind: it must be ignored.
    leftover = root / "ab" / (_cache._TMP_PREFIX + "partial")
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(_cache.MAGIC + b'{"key": "x"')
    monkeypatch.setattr(os, "replace", _real_replace)
    np.testing.assert_array_equal(reference.softmax(row), [0.5, 0.5, 0.0])
    assert calls == ["softmax", "softmax"]  # recomputed, not read
    assert len(entries(root)) == 1
    assert reference.clear_cache() == 2  # the entry and the leftover
    assert entries(root) == [] and not leftover.exists()


def test_unwritable_cache_warns_once_and_computes(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("STABLE_SOFTMAX_REFERENCE_CACHE", str(blocker / "cache"))
    with pytest.warns(reference.ReferenceCacheWarning, match="not writable"):
        first = reference.softmax([0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(first, [0.25] * 4)
    # warnings are errors in this suite: a second warning would fail here
    np.testing.assert_array_equal(reference.softmax([1.0, 1.0]), [0.5, 0.5])


def test_failing_rename_warns(tmp_path, monkeypatch):
    monkeypatch.setenv("STABLE_SOFTMAX_REFERENCE_CACHE", str(tmp_path / "c"))

    def refuse(src, dst):
        raise PermissionError("read-only")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.warns(reference.ReferenceCacheWarning):
        assert reference.logsumexp([0.0, -np.inf]) == 0.0
    assert [p for p in (tmp_path / "c").rglob("*") if p.is_file()] == []  # no temp file left


def test_exp_is_cached_per_call(cache, monkeypatch):
    root, _ = cache
    x = np.linspace(-3, 3, 7)
    first = reference.exp(x)
    assert len(entries(root)) == 1

    def boom(*args):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(_exact, "exp_values", boom)
    np.testing.assert_array_equal(reference.exp(x), first)


def test_entries_are_compressed_and_counted(cache):
    root, _ = cache
    assert reference.cache_info()["entries"] == 0
    x = np.zeros((2, 4096))  # highly compressible results
    x[1] = 1.0
    reference.softmax(x)
    info = reference.cache_info()
    assert info["entries"] == 2 and info["path"] == str(root)
    assert 0 < info["bytes"] < 2 * 4096 * 8 / 4  # zlib: far below the raw floats
    assert info["stale_entries"] == 0
    assert reference.clear_cache() == 2 and reference.cache_info()["entries"] == 0


def test_other_versions_are_removed_at_first_use_with_a_notice(cache, monkeypatch, capsys):
    root, _ = cache
    reference.logsumexp(X)  # two entries under the current version
    monkeypatch.setattr(mpmath, "__version__", mpmath.__version__ + ".post1")
    assert reference.cache_info()["stale_entries"] == 2
    capsys.readouterr()
    reference.logsumexp(X[0])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "removed 2 reference cache entries" in err
    info = reference.cache_info()
    assert info["entries"] == 1 and info["stale_entries"] == 0
    # the flat layout of the first cache format is stale too
    old = root / "ab" / ("ab" + "0" * 62 + _cache.SUFFIX)
    old.parent.mkdir()
    old.write_bytes(_cache.MAGIC + b"{}\n")
    monkeypatch.setattr(mpmath, "__version__", mpmath.__version__ + ".post2")
    reference.logsumexp(X[1])
    assert "removed 2 reference cache entries" in capsys.readouterr().err
    assert not old.exists() and reference.cache_info()["entries"] == 1
