"""On-disk cache of reference results, one file per slice (row).

Why per row: a sweep that is interrupted keeps every row it finished, and
rows shared between calls (same values, same parameters) are computed once.
A row's key is the SHA-256 of everything its result depends on: the function
name, the row's values (their bytes, dtype and length; the axis and keepdims
of the call only decide which values form the row, so they are not part of
the key), ``beta``, ``base``, the target dtype, :data:`STRATEGY_VERSION`
and ``mpmath.__version__``.  ``reference.exp`` caches per call instead.

Only rows the fast first step (:mod:`reference._fast`) could not decide
reach the cache: the others are recomputed faster than a file is read.

Layout: ``cache_dir()/<version dir>/<2 hex>/<key>.ssref``, the version
directory named after the entry format, :data:`~reference.STRATEGY_VERSION`
and ``mpmath.__version__`` (e.g. ``v2-strategy1-mpmath1.4.1``).  The first
time a process uses the cache, directories of other versions (and entries of
the older flat layout) are deleted, with a one-line notice on stderr: a new
mpmath never leaves the old results behind unseen.  :func:`cache_info` gives
the size on disk.

Entry file layout: ``MAGIC``, one JSON header line (key, versions, dtype,
count, encoding, SHA-256 of the stored payload), then the payload: the
little-endian floats, zlib-compressed.
Every field is checked on read; anything unexpected is a miss, and the
recomputed result overwrites the entry.  Writes go to a temporary file in the
same directory followed by :func:`os.replace`, so readers never see a partial
entry (leftover temporaries from a crash are ignored and removed by
:func:`clear_cache`).

Moving entries between machines (the Dask sweep,
:mod:`stable_softmax.accuracy.distributed`): :func:`recording` collects the
entries a computation loads or stores, :func:`store_entries` writes such a
collection into this machine's cache, and under :func:`lookup_only` a miss
raises :class:`CacheMiss` instead of letting the caller compute the row.
The last two are per thread (context variables), so concurrent tasks in one
process do not see each other's state.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import mpmath
import numpy as np
import platformdirs

from . import _exact

__all__ = [
    "ENV_VAR",
    "CacheMiss",
    "ReferenceCacheWarning",
    "cache_dir",
    "cache_info",
    "clear_cache",
    "make_key",
    "load",
    "lookup_only",
    "recording",
    "store",
    "store_entries",
]

ENV_VAR = "STABLE_SOFTMAX_REFERENCE_CACHE"
MAGIC = b"stable_softmax.reference\n"
SUFFIX = ".ssref"
_TMP_PREFIX = ".tmp-"
#: Version of the entry format (2: zlib payload, version directories).
LAYOUT = "2"
_VERSION_PREFIX = "v"

_warned: set[str] = set()
_pruned: set[str] = set()
_recorder: ContextVar[dict | None] = ContextVar("stable_softmax_reference_recorder", default=None)
_lookup_only: ContextVar[bool] = ContextVar("stable_softmax_reference_lookup_only", default=False)


class ReferenceCacheWarning(UserWarning):
    """The reference cache could not be written; results are still computed."""


class CacheMiss(LookupError):
    """Raised by :func:`load` for an absent entry while :func:`lookup_only` is active."""


@contextmanager
def recording() -> Iterator[dict[str, np.ndarray]]:
    """Collect the entries loaded (hits) or stored in this thread while active.

    Yields a dict ``key -> 1-D array`` that fills as the block runs; pass it
    to :func:`store_entries` on another machine to give that cache the same
    rows. Nested blocks each see every entry.
    """
    outer = _recorder.get()
    entries: dict[str, np.ndarray] = {}
    token = _recorder.set(entries)
    try:
        yield entries
    finally:
        _recorder.reset(token)
        if outer is not None:
            outer.update(entries)


@contextmanager
def lookup_only() -> Iterator[None]:
    """While active (in this thread), :func:`load` raises :class:`CacheMiss` on a miss.

    The reference functions load each row before computing it, so under this
    context they return cached results only and stop at the first missing row.
    """
    token = _lookup_only.set(True)
    try:
        yield
    finally:
        _lookup_only.reset(token)


def _record(key: str, values: np.ndarray) -> None:
    entries = _recorder.get()
    if entries is not None:
        entries[key] = values


def cache_dir() -> Path:
    """Directory of the reference cache.

    ``$STABLE_SOFTMAX_REFERENCE_CACHE`` if set (read at each call), else
    ``platformdirs.user_cache_dir("stable_softmax") / "reference"``.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return Path(platformdirs.user_cache_dir("stable_softmax")) / "reference"


def _is_shard(path: Path) -> bool:
    return path.is_dir() and len(path.name) == 2


def _is_version_dir(path: Path) -> bool:
    return path.is_dir() and path.name.startswith(_VERSION_PREFIX) and "-mpmath" in path.name


def _clear_shards(parent: Path) -> int:
    """Delete our files in the two-character shard directories of ``parent``."""
    removed = 0
    for sub in parent.iterdir():
        if not _is_shard(sub):
            continue
        for f in sub.iterdir():
            if f.name.endswith(SUFFIX) or f.name.startswith(_TMP_PREFIX):
                f.unlink(missing_ok=True)
                removed += 1
        try:
            sub.rmdir()
        except OSError:
            pass  # holds files that are not ours
    return removed


def _remove_version_dir(path: Path) -> int:
    removed = _clear_shards(path)
    try:
        path.rmdir()
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def clear_cache() -> int:
    """Delete every cache entry of every version (and stale temporary file); return how many."""
    root = cache_dir()
    if not root.is_dir():
        return 0
    removed = _clear_shards(root)  # the flat layout of format 1
    for sub in root.iterdir():
        if _is_version_dir(sub):
            removed += _remove_version_dir(sub)
    return removed


def cache_info() -> dict:
    """Where the reference cache is and how much it holds.

    Returns
    -------
    dict
        ``{"path": str, "entries": int, "bytes": int, "stale_entries": int}``:
        entries and bytes of every version; ``stale_entries`` are those of
        other mpmath/strategy versions (deleted at the next use).
    """
    root = cache_dir()
    entries = size = stale = 0
    current = _version_dir().name
    if root.is_dir():
        for f in root.rglob("*" + SUFFIX):
            try:
                size += f.stat().st_size
            except OSError:
                continue
            entries += 1
            if f.parent.parent.name != current:
                stale += 1
    return {"path": str(root), "entries": entries, "bytes": size, "stale_entries": stale}


def _versions() -> dict:
    # Looked up at call time so a changed version can never serve old entries.
    return {"strategy": _exact.STRATEGY_VERSION, "mpmath": mpmath.__version__}


def _version_dir() -> Path:
    v = _versions()
    name = f"{_VERSION_PREFIX}{LAYOUT}-strategy{v['strategy']}-mpmath{v['mpmath']}"
    return cache_dir() / name.replace(os.sep, "_")


def _prune_once() -> None:
    """At a process's first use of a version directory, delete the other versions' entries."""
    current = _version_dir()
    if str(current) in _pruned:
        return
    _pruned.add(str(current))
    root = current.parent
    try:
        if not root.is_dir():
            return
        removed = _clear_shards(root)
        for sub in root.iterdir():
            if sub != current and _is_version_dir(sub):
                removed += _remove_version_dir(sub)
    except OSError:
        return  # read-only or vanished: nothing to clean
    if removed:
        print(
            f"stable_softmax: removed {removed} reference cache entries of other mpmath/strategy "
            f"versions from {root}",
            file=sys.stderr,
        )


def make_key(parts: dict, data: bytes) -> str:
    """SHA-256 hex key of ``parts`` (JSON-able), the versions and ``data``."""
    h = hashlib.sha256()
    h.update(json.dumps({**parts, **_versions()}, sort_keys=True).encode())
    h.update(b"\0")
    h.update(data)
    return h.hexdigest()


def _path(key: str) -> Path:
    _prune_once()
    return _version_dir() / key[:2] / (key + SUFFIX)


def load(key: str, dtype: np.dtype, count: int) -> np.ndarray | None:
    """The stored array for ``key``, or None when absent or not trustworthy.

    Under :func:`lookup_only` a miss raises :class:`CacheMiss` instead; under
    :func:`recording` a hit is recorded.
    """
    values = _read(key, dtype, count)
    if values is None:
        if _lookup_only.get():
            raise CacheMiss(key)
    else:
        _record(key, values)
    return values


def _read(key: str, dtype: np.dtype, count: int) -> np.ndarray | None:
    try:
        blob = _path(key).read_bytes()
        if not blob.startswith(MAGIC):
            return None
        header_end = blob.index(b"\n", len(MAGIC))
        header = json.loads(blob[len(MAGIC) : header_end])
        payload = blob[header_end + 1 :]
        le = np.dtype(dtype).newbyteorder("<")
        expected = {
            "key": key,
            **_versions(),
            "dtype": le.str,
            "count": count,
            "encoding": "zlib",
        }
        if any(header.get(k) != v for k, v in expected.items()):
            return None
        if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
            return None
        raw = zlib.decompress(payload)
        if len(raw) != count * le.itemsize:
            return None
        return np.frombuffer(raw, dtype=le).astype(dtype)
    except (OSError, ValueError, UnicodeDecodeError, zlib.error):
        return None


def _warn_once(root: Path, err: OSError) -> None:
    if str(root) in _warned:
        return
    _warned.add(str(root))
    warnings.warn(
        f"reference cache at {root} is not writable ({err}); results are computed but not "
        f"stored. Set {ENV_VAR} to a writable directory to keep them.",
        ReferenceCacheWarning,
        stacklevel=5,
    )


def store(key: str, values: np.ndarray) -> None:
    """Atomically write ``values`` under ``key``; warn once if impossible.

    Under :func:`recording` the entry is recorded.
    """
    _record(key, values)
    _write(key, values)


def store_entries(entries: Mapping[str, np.ndarray]) -> int:
    """Write entries collected by :func:`recording` (elsewhere) into this cache.

    An entry already present and intact is left alone. Returns the number of
    entries written. Keys carry the strategy and mpmath versions they were
    computed with (:func:`make_key`), so entries from a machine with other
    versions are stored but never served here.
    """
    written = 0
    for key, values in entries.items():
        values = np.asarray(values)
        if _read(key, values.dtype, values.size) is None:
            _write(key, values)
            written += 1
    return written


def _write(key: str, values: np.ndarray) -> None:
    le_values = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<"))
    payload = zlib.compress(le_values.tobytes(), 6)
    header = {
        "key": key,
        **_versions(),
        "dtype": le_values.dtype.str,
        "count": int(le_values.size),
        "encoding": "zlib",
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    blob = MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + payload
    final = _path(key)
    tmp = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=final.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, final)
        tmp = None
    except OSError as err:
        _warn_once(cache_dir(), err)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
