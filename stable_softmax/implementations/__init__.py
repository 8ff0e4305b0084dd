"""Implementations: the things the accuracy sweep measures.

An :class:`Implementation` is one way to compute one function (softmax,
log_softmax or logsumexp) over the last axis of a 2-D ``(rows, n)`` array:
our own methods (built in, one per entry of :data:`stable_softmax.METHODS`),
peers (``scipy``, ``torch``, ... in :mod:`.peers`) and users' callables.
The sweep knows implementations only by ``(function, name)``, so a grid cell
stays a small picklable record that any worker process can resolve again
with :func:`get`.

Names: our methods keep their method names (``"shifted"``); peers use the
library name (``"scipy"``); a user implementation is named by its import
path, ``"package.module:attribute"``, where the attribute is an
:class:`Implementation` or a plain callable ``f(x) -> result``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FUNCTIONS",
    "Implementation",
    "available",
    "builtin",
    "get",
    "register",
    "scale_logits",
]

#: The functions an implementation can compute.
FUNCTIONS = ("softmax", "log_softmax", "logsumexp")

#: Modules whose import registers more implementations (peers); imported on
#: the first lookup that the built-in methods do not answer.
_PLUGIN_MODULES = ("stable_softmax.implementations.peers",)


@dataclass(frozen=True)
class Implementation:
    """One way of computing ``function`` over the last axis of a 2-D array.

    Parameters
    ----------
    name : str
        Unique among the implementations of ``function``.
    function : {"softmax", "log_softmax", "logsumexp"}
        What it computes.
    compute : callable
        ``compute(x, *, beta, base) -> ndarray``. ``x`` is a C-contiguous
        ``(rows, n)`` array of one of ``dtypes``; the result has the shape of
        ``x`` (``(rows,)`` for logsumexp) and, ideally, its dtype. ``beta`` and
        ``base`` (None for e) define the scale ``c = beta ln(base)``; an
        implementation without such parameters applies
        :func:`scale_logits` first, as its users would.
    dtypes : tuple of str
        The NumPy dtype names it accepts.
    kind : {"method", "peer", "user"}
        Ours, another library's, or a user's.
    version : str or None
        Version of the library behind it, for the report header.
    """

    name: str
    function: str
    compute: Callable[..., np.ndarray]
    dtypes: tuple[str, ...] = ("float32", "float64")
    kind: str = "method"
    version: str | None = None

    def __post_init__(self) -> None:
        if self.function not in FUNCTIONS:
            raise ValueError(
                f"Implementation {self.name!r}: function must be one of {FUNCTIONS}, "
                f"got {self.function!r}"
            )


_REGISTRY: dict[tuple[str, str], Implementation] = {}


def scale_logits(x: np.ndarray, beta: float, base: float | None) -> np.ndarray:
    """``c x`` with ``c = beta ln(base)`` rounded once to the dtype of ``x``.

    What a user of a library without ``beta``/``base`` parameters writes
    (``softmax(beta * x)``); returns ``x`` itself when ``c == 1``.
    """
    c = beta * (1.0 if base is None else math.log(base))
    if c == 1.0:
        return x
    return x * x.dtype.type(c)


def _ours(function: str, method: str) -> Callable[..., np.ndarray]:
    def compute(x: np.ndarray, *, beta: float = 1.0, base: float | None = None) -> np.ndarray:
        import stable_softmax as ss

        return getattr(ss, function)(x, method=method, beta=beta, base=base)

    compute.__qualname__ = f"{function}[{method}]"
    return compute


def builtin(function: str) -> tuple[Implementation, ...]:
    """Our own methods of ``function``, in the order of :data:`stable_softmax.METHODS`."""
    from .._validate import METHODS

    return tuple(
        Implementation(name=m, function=function, compute=_ours(function, m), kind="method")
        for m in METHODS[function]
    )


def register(impl: Implementation, *, replace: bool = False) -> Implementation:
    """Make ``impl`` resolvable by :func:`get`; returns it (usable as a decorator result)."""
    key = (impl.function, impl.name)
    if not replace and key in _REGISTRY and _REGISTRY[key] is not impl:
        raise ValueError(
            f"an implementation named {impl.name!r} of {impl.function} is already registered; "
            "pass replace=True to replace it"
        )
    _REGISTRY[key] = impl
    return impl


def _load_plugins() -> None:
    for module in _PLUGIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def _from_import_path(function: str, spec: str) -> Implementation:
    module_name, _, attr = spec.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if isinstance(obj, Implementation):
        if obj.function != function:
            raise ValueError(f"{spec} computes {obj.function}, not {function}")
        return obj
    if not callable(obj):
        raise TypeError(f"{spec} is neither an Implementation nor callable")

    def compute(x: np.ndarray, *, beta: float = 1.0, base: float | None = None) -> np.ndarray:
        return np.asarray(obj(scale_logits(x, beta, base)))

    return Implementation(name=spec, function=function, compute=compute, kind="user")


def get(function: str, name: str) -> Implementation:
    """The implementation ``name`` of ``function``: built in, registered, or ``"module:attr"``."""
    if function not in FUNCTIONS:
        raise ValueError(f"function must be one of {FUNCTIONS}, got {function!r}")
    for impl in builtin(function):
        if impl.name == name:
            return impl
    key = (function, name)
    if key not in _REGISTRY:
        _load_plugins()
    if key in _REGISTRY:
        return _REGISTRY[key]
    if ":" in name:
        return register(_from_import_path(function, name))
    from .peers import INSTALL_HINT, PEERS  # the plugin imported above; names only

    if name in PEERS:
        raise ValueError(
            f"peer {name!r} is not installed (its library {PEERS[name][1]!r} is missing); "
            f"install the peers with {INSTALL_HINT}"
        )
    raise ValueError(
        f"unknown implementation {name!r} of {function}; valid: {', '.join(available(function))}, "
        "or 'package.module:attribute' for your own"
    )


def available(function: str) -> tuple[str, ...]:
    """Names :func:`get` resolves for ``function`` without an import path."""
    _load_plugins()
    names = [impl.name for impl in builtin(function)]
    names += [name for (f, name) in _REGISTRY if f == function and name not in names]
    return tuple(names)
