"""The one place that holds the Numba compilation options of every kernel, and where
their compiled code is cached.

Why these options:

* ``cache=True``: compiled machine code is stored on disk, so a fresh process
  loads it instead of recompiling. It is stored in a per-user cache directory,
  never inside the package (see :func:`kernel_cache_dir`): an installed
  package stays exactly what pip installed, so ``pip uninstall`` removes all of
  it. When no cache directory is writable (a read-only install with no
  writable home), :func:`kernel` compiles without a cache instead of failing at
  import, and warns once (:class:`KernelCacheWarning`).
* ``nogil=True``: kernels release the GIL, so Python threads run them
  concurrently.
* ``error_model="numpy"``: a float division by zero gives ``inf``/``nan`` as
  IEEE 754 says, instead of raising ``ZeroDivisionError`` as Python does.
  The special-value semantics of the package rely on it.
* ``fastmath``: empty. The ``nnan``/``ninf`` flags (part of Numba's all-flags
  fastmath setting) would let LLVM assume no NaN or inf ever appears and break
  the special-value table; ``arcp`` would replace the correctly rounded
  division by a reciprocal multiply and ``nsz`` would drop signed zeros. Only
  flags that reorder or fuse arithmetic (``reassoc``, ``contract``) are
  enabled, per kernel through :func:`kernel`, where they were measured to be
  safe.

Where the cache lives and how it is keyed
-----------------------------------------
``<root>/<package version>-numba<numba version>/<source key>/<module dir>/``,
with ``<root>`` = ``$NUMBA_CACHE_DIR/stable_softmax`` when the user set
``NUMBA_CACHE_DIR`` (and it is writable), else
``platformdirs.user_cache_dir("stable_softmax")/numba`` (``~/.cache/stable_softmax/numba``
on Linux). The source key is a hash of the package's jit-layer sources (every
``.py`` file of the package except :data:`_NOT_JIT_LAYER`), so an edit to any
kernel module, including a callee that Numba inlines into a caller from
another module, selects a fresh directory: Numba's own check (the content of
the file that defines the function) does not see such edits and would serve
stale machine code. Installed packages and source checkouts follow the same
rule. Old keys are not deleted automatically: :func:`clear_kernel_cache`
removes them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numba
import platformdirs
from numba import njit
from numba.core import caching, config

#: Options shared by every kernel.
JIT_OPTIONS: dict[str, Any] = {
    "cache": True,
    "nogil": True,
    "error_model": "numpy",
}

#: The only fastmath flags a kernel may ask for: they let LLVM reorder and fuse
#: floating-point operations (vectorized sums, FMA) but keep inf/NaN semantics.
SAFE_FASTMATH = frozenset({"reassoc", "contract"})


#: The package directory (``stable_softmax/``) whose functions this module caches.
PACKAGE_DIR = Path(__file__).resolve().parent.parent

#: The ``reference`` package (installed beside ``stable_softmax``): its fast first
#: step is jit code compiled with :func:`kernel` too, so it is cached the same way,
#: under ``<cache dir>/_reference`` (never in the installed package either).
REFERENCE_DIR = PACKAGE_DIR.parent / "reference"

#: Parts of the package that hold no jit code and that jit code never imports: editing
#: them does not change compiled code, so they stay out of the source key (an edit to
#: the CLI or the report does not recompile the kernels). Everything else is in it.
_NOT_JIT_LAYER = frozenset(
    {"accuracy", "implementations", "cli.py", "__main__.py", "demo.py", "bench.py"}
)


def _jit_layer_sources() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR)
        if rel.parts[0] not in _NOT_JIT_LAYER:
            yield rel.as_posix(), path
    # The reference's jit code calls the package's kernels' helpers and vice versa
    # never: all of ``reference/`` counts, with a prefix no package path has.
    for path in sorted(REFERENCE_DIR.rglob("*.py")):
        yield "../reference/" + path.relative_to(REFERENCE_DIR).as_posix(), path


@functools.cache
def source_key() -> str:
    """Hash (16 hex digits) of the jit-layer sources, computed once per process."""
    digest = hashlib.sha256()
    for name, path in _jit_layer_sources():
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


@functools.cache
def _version_dir() -> str:
    from importlib import metadata

    try:
        version = metadata.version("stable_softmax")
    except metadata.PackageNotFoundError:  # a checkout on sys.path, never installed
        version = "unknown"
    return f"{version}-numba{numba.__version__}"


def kernel_cache_roots() -> list[Path]:
    """Candidate roots of the kernel cache, in the order they are tried.

    ``$NUMBA_CACHE_DIR/stable_softmax`` first when ``NUMBA_CACHE_DIR`` is set
    (read through ``numba.config``, so a value set at run time counts too),
    then ``platformdirs.user_cache_dir("stable_softmax")/numba``.
    """
    roots = [Path(config.CACHE_DIR) / "stable_softmax"] if config.CACHE_DIR else []
    return [*roots, Path(platformdirs.user_cache_dir("stable_softmax")) / "numba"]


@functools.cache
def _writable(path: Path) -> bool:
    # Memoized per process: one probe per directory, not one per kernel.
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def kernel_cache_dir() -> Path | None:
    """The directory that holds the compiled kernels of this process's sources.

    ``<root>/<package version>-numba<numba version>/<source key>`` under the
    first writable root of :func:`kernel_cache_roots`, or None when none is
    writable (kernels then compile in memory, see :class:`KernelCacheWarning`).
    """
    for root in kernel_cache_roots():
        path = root / _version_dir() / source_key()
        if _writable(path):
            return path
    return None


class _KernelCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """Numba cache locator for functions defined in this package (None for any other file).

    The index stamp (the defining file's content hash) and the disambiguator
    (the line number) are Numba's; only the directory differs. Raising when no
    directory is writable, rather than returning None, keeps Numba from
    falling back to the package's own ``__pycache__``; :func:`_compile` then
    compiles without a cache.
    """

    def __init__(self, py_func: Callable, py_file: str, cache_path: Path) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(cache_path)

    def get_cache_path(self) -> str:
        return self._cache_path

    @classmethod
    def from_function(cls, py_func: Callable, py_file: str) -> _KernelCacheLocator | None:
        source = Path(os.path.realpath(py_file))
        if source.is_relative_to(PACKAGE_DIR):
            parts = source.relative_to(PACKAGE_DIR).parent.parts
        elif source.is_relative_to(REFERENCE_DIR):
            parts = ("_reference", *source.relative_to(REFERENCE_DIR).parent.parts)
        else:
            return None  # not ours: Numba's own locators handle it
        base = kernel_cache_dir()
        if base is None:
            raise RuntimeError(
                f"cannot cache function {py_func.__qualname__!r}: no locator available for file "
                f"{py_file!r} (no writable directory among {kernel_cache_roots()})"
            )
        return cls(py_func, py_file, base.joinpath(*parts))


if _KernelCacheLocator not in caching.CacheImpl._locator_classes:
    caching.CacheImpl._locator_classes.insert(0, _KernelCacheLocator)


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def kernel_cache_info() -> dict[str, Any]:
    """Where the compiled kernels are and how much disk they take.

    Returns
    -------
    dict
        ``"current"``: :func:`kernel_cache_dir` (str or None);
        ``"roots"``: ``{root: bytes}`` for each existing root, every version and
        source key included; ``"bytes"``: their total.
    """
    current = kernel_cache_dir()
    sizes = {str(r): _tree_size(r) for r in kernel_cache_roots() if r.is_dir()}
    return {
        "current": None if current is None else str(current),
        "roots": sizes,
        "bytes": sum(sizes.values()),
    }


def clear_kernel_cache(*, keep_current: bool = False) -> int:
    """Delete compiled kernels from every cache root; return the bytes freed.

    Parameters
    ----------
    keep_current : bool, optional
        Keep the directory of this process's package version, Numba version
        and sources (:func:`kernel_cache_dir`) and delete only the others:
        older versions and older source keys, which are never read again.

    Notes
    -----
    Safe while other processes run: a process whose cache files disappear
    recompiles what it needs. The next import recompiles every kernel it uses
    (about a minute for the whole test suite on 2 cores).
    """
    keep = kernel_cache_dir() if keep_current else None
    freed = 0
    for root in kernel_cache_roots():
        if not root.is_dir():
            continue
        for version_dir in root.iterdir():
            for key_dir in version_dir.iterdir() if version_dir.is_dir() else [version_dir]:
                if keep is not None and key_dir == keep:
                    continue
                freed += _tree_size(key_dir) if key_dir.is_dir() else key_dir.stat().st_size
                if key_dir.is_dir():
                    shutil.rmtree(key_dir, ignore_errors=True)
                else:
                    key_dir.unlink(missing_ok=True)
            if version_dir.is_dir() and not any(version_dir.iterdir()):
                version_dir.rmdir()
    _writable.cache_clear()  # removed directories are recreated on the next probe
    return freed


class KernelCacheWarning(UserWarning):
    """No writable Numba cache location: kernels are compiled in memory in each process."""


#: Set once Numba has found no writable cache location; later kernels then
#: compile without asking again (one warning per process).
_cache_unavailable = False


def _compile(f: Callable, options: dict[str, Any]) -> Callable:
    """``njit(**options)(f)``, without the cache when Numba has nowhere to write it."""
    global _cache_unavailable
    if options.get("cache") and not _cache_unavailable:
        try:
            return njit(**options)(f)
        except RuntimeError as err:
            # Raised by _KernelCacheLocator (and by Numba) when no cache
            # directory is writable.
            if "no locator available" not in str(err):
                raise
            _cache_unavailable = True
            warnings.warn(
                f"stable_softmax: Numba cannot cache compiled kernels ({err}); they are compiled "
                "in memory at first use in each process. Set NUMBA_CACHE_DIR to a writable "
                "directory to keep them.",
                KernelCacheWarning,
                stacklevel=2,
            )
    return njit(**dict(options, cache=False))(f)


def kernel(
    fn: Callable | None = None,
    *,
    fastmath: frozenset[str] | set[str] = frozenset(),
    parallel: bool = False,
    inline: bool = False,
) -> Callable:
    """Compile ``fn`` with the package's jit options.

    Parameters
    ----------
    fn : callable, optional
        The Python function to compile. When omitted, returns a decorator.
    fastmath : set of str, optional
        Subset of :data:`SAFE_FASTMATH`. Anything else (``nnan``, ``ninf``,
        ``afn``, ``True``) is refused because it breaks inf/NaN handling.
    parallel : bool, optional
        Compile with ``parallel=True`` so ``numba.prange`` loops run on threads.
    inline : bool, optional
        Inline ``fn`` into its callers at the Numba IR level
        (``inline="always"``); it is then compiled, and cached, with each
        caller rather than on its own.
    """
    flags = frozenset(fastmath)
    unsafe = flags - SAFE_FASTMATH
    if unsafe:
        raise ValueError(
            f"fastmath flags {sorted(unsafe)} are not allowed; "
            f"use a subset of {sorted(SAFE_FASTMATH)}"
        )
    options = dict(JIT_OPTIONS, parallel=parallel)
    if inline:
        options.update(inline="always", cache=False)
    if flags:
        options["fastmath"] = set(flags)

    def decorate(f: Callable) -> Callable:
        return _compile(f, options)

    return decorate if fn is None else decorate(fn)
