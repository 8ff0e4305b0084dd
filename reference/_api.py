"""Public functions: validation, axis bookkeeping, per-row caching."""

from __future__ import annotations

import math
import operator
from typing import Any

import mpmath
import numpy as np

from . import _cache, _docs, _engine, _exact, _weighted
from ._rounding import FORMATS, format_of

try:
    from numpy.exceptions import AxisError
except ImportError:  # numpy < 1.25
    AxisError = AxisError


def _target_and_values(x: Any, dtype: Any):
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if arr.dtype.name in FORMATS:
        # Every format of the table converts exactly to float64 (itself included).
        with np.errstate(invalid="ignore"):  # ml_dtypes warns when it converts NaN
            values = arr if arr.dtype.itemsize >= 4 else arr.astype(np.float64)
    elif kind == "f":
        raise TypeError(f"{arr.dtype} input is not supported; cast with x.astype(np.float64)")
    elif kind in "iub":
        values = arr.astype(np.float64)
    elif kind == "c":
        raise TypeError(
            f"complex input ({arr.dtype}) is not supported; pass a real array such as x.real"
        )
    else:
        raise TypeError(
            f"input of dtype {arr.dtype} is not supported; pass real numbers, "
            "e.g. np.asarray(x, dtype=np.float64)"
        )
    if dtype is None:
        return values, format_of(arr.dtype if arr.dtype.name in FORMATS else values.dtype)
    try:
        return values, format_of(dtype)
    except TypeError:
        raise TypeError(
            f"dtype must be None or one of {', '.join(FORMATS)}; got {dtype!r}"
        ) from None


def _exact_number(value: Any, name: str, lower: int, hint: str) -> mpmath.mpf:
    ok_type = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    if ok_type and isinstance(value, np.floating) and np.dtype(type(value)).itemsize > 8:
        ok_type = False  # long double is not exact in float64
    if ok_type:
        exact = (
            mpmath.mpf(int(value))
            if isinstance(value, (int, np.integer))
            else mpmath.mpf(float(value))
        )
        if mpmath.isfinite(exact) and exact > lower:
            return exact
    raise ValueError(f"{name} must be a finite real number > {lower}; got {value!r}. {hint}")


def _scale(beta: Any, base: Any) -> tuple[_exact.Scale, list]:
    b = _exact_number(beta, "beta", 0, "Pass beta > 0 (to get softmin, negate x instead).")
    a = None
    if base is not None:
        a = _exact_number(
            base,
            "base",
            1,
            "Pass base=None for e or a base > 1 (for a base below 1, negate x and pass 1/base).",
        )
    key = [list(b._mpf_[:3]), None if a is None else list(a._mpf_[:3])]
    return _exact.Scale(b, a), [[int(v) for v in part] if part else None for part in key]


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for item in items:
        try:
            a = operator.index(item)
        except TypeError:
            raise TypeError(f"axis must be an int, a tuple of ints or None; got {axis!r}") from None
        if not -ndim <= a < ndim:
            raise AxisError(a, ndim)
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"axis {axis!r} names an axis more than once")
    return tuple(out)


def _to_rows(values: np.ndarray, axes: tuple[int, ...]):
    others = tuple(i for i in range(values.ndim) if i not in axes)
    perm = others + axes
    moved = np.transpose(values, perm)
    lead = moved.shape[: len(others)]
    n = math.prod(moved.shape[len(others) :])
    rows = np.ascontiguousarray(moved).reshape(math.prod(lead), n)
    return rows, perm, lead, moved.shape


def cached_row(parts: dict, data: bytes, dtype: np.dtype, count: int, compute) -> np.ndarray:
    """``count`` values of ``dtype`` for the cache key of ``parts`` and ``data``: from the
    on-disk cache, or from ``compute()``, stored before they are returned.
    """
    key = _cache.make_key(parts, data)
    hit = _cache.load(key, dtype, count)
    if hit is not None:
        return hit
    result = np.asarray(compute(), dtype=dtype).reshape(count)
    _cache.store(key, result)
    return result


def _compute_row(kind: str, row: np.ndarray, scale, scale_key, fmt) -> np.ndarray:
    parts = {
        "function": kind,
        "input_dtype": row.dtype.str,
        "n": int(row.size),
        "beta_base": scale_key,
        "target": fmt.cache_tag,
    }
    return cached_row(
        parts,
        row.astype(row.dtype.newbyteorder("<")).tobytes(),
        fmt.dtype,
        1 if kind == "logsumexp" else row.size,
        lambda: _exact.evaluate_row(kind, row, scale, fmt),
    )


def _solve_rows(kind, rows, scale, scale_key, fmt, engine) -> np.ndarray:
    """Every row's result (one column for logsumexp): the fast step where it
    decides, the cached mpmath path for the other rows.
    """
    width = 1 if kind == "logsumexp" else rows.shape[1]
    if engine == "auto" and rows.size:
        from . import _fast  # Numba: imported at the first fast call only

        with _engine.Timer() as t:
            out, good, undecided = _fast.fast_rows(kind, rows, scale, fmt)
        _engine.count("fast", int(good.sum()) * width, t.seconds, undecided=undecided)
    else:
        out = np.empty((rows.shape[0], width), dtype=fmt.dtype)
        good = np.zeros(rows.shape[0], dtype=np.bool_)
    todo = np.flatnonzero(~good)
    if todo.size:
        with _engine.Timer() as t:
            for i in todo:
                out[i] = _compute_row(kind, rows[i], scale, scale_key, fmt)
        _engine.count("mpmath", todo.size * width, t.seconds, rows=todo.size)
    return out


def _run(kind, x, axis, beta, base, dtype, keepdims=False, engine=None):
    engine = _engine.resolve(engine)
    values, fmt = _target_and_values(x, dtype)
    scale, scale_key = _scale(beta, base)
    axes = _axes(axis, values.ndim)
    rows, perm, lead, moved_shape = _to_rows(values, axes)
    solved = _solve_rows(kind, rows, scale, scale_key, fmt, engine)
    if kind == "logsumexp":
        out = solved[:, 0]
        if keepdims:
            shape = tuple(1 if i in axes else s for i, s in enumerate(values.shape))
        else:
            shape = lead
        out = out.reshape(shape)
        return out[()] if out.ndim == 0 else out
    return np.transpose(solved.reshape(moved_shape), np.argsort(perm))


def softmax(
    x: Any,
    axis: int | tuple[int, ...] | None = -1,
    *,
    beta: float = 1.0,
    base: float | None = None,
    dtype: Any = None,
    where: Any = None,
    engine: str | None = None,
) -> np.ndarray:
    return _run("softmax", _weighted.exclude(x, where), axis, beta, base, dtype, engine=engine)


def log_softmax(
    x: Any,
    axis: int | tuple[int, ...] | None = -1,
    *,
    beta: float = 1.0,
    base: float | None = None,
    dtype: Any = None,
    where: Any = None,
    engine: str | None = None,
) -> np.ndarray:
    return _run("log_softmax", _weighted.exclude(x, where), axis, beta, base, dtype, engine=engine)


def logsumexp(
    x: Any,
    axis: int | tuple[int, ...] | None = -1,
    *,
    beta: float = 1.0,
    base: float | None = None,
    dtype: Any = None,
    keepdims: bool = False,
    b: Any = None,
    return_sign: bool = False,
    where: Any = None,
    engine: str | None = None,
) -> np.ndarray | np.floating | tuple:
    x = _weighted.exclude(x, where)
    if b is not None or return_sign:
        # Weighted sums always take the mpmath path (no fast first step for them).
        return _weighted.logsumexp(
            x,
            axis,
            b=b,
            return_sign=return_sign,
            beta=beta,
            base=base,
            dtype=dtype,
            keepdims=bool(keepdims),
        )
    return _run("logsumexp", x, axis, beta, base, dtype, keepdims=bool(keepdims), engine=engine)


def exp(x: Any, dtype: Any = None, *, engine: str | None = None) -> np.ndarray | np.floating:
    """Correctly rounded elementwise exponential.

    Parameters
    ----------
    x : array_like
        Values of a format of :data:`stable_softmax.formats.FORMATS`,
        integers or booleans (converted to float64); other dtypes raise
        TypeError.
    dtype : None, str or dtype, optional
        Target format of the table; None means the input's format (float64
        for integers).
    engine : {None, "auto", "mpmath"}, optional
        As in :func:`softmax`.

    Returns
    -------
    numpy.ndarray or numpy scalar
        ``exp(x)`` of each element, the exact value rounded to nearest-even
        in the target format: ``exp(-inf) = 0``, ``exp(+inf) = inf``,
        ``exp(nan) = nan``; overflow gives ``inf`` and underflow subnormals
        or 0.  Same shape as ``x``; a numpy scalar for 0-d input.

    Notes
    -----
    The fast step (``engine="auto"``) decides nearly every element with a
    double-double exp of proven error (:mod:`reference._dd`).  Each element
    it leaves costs one mpmath ``exp`` at about ``p + 32`` bits (more only
    near a rounding midpoint): roughly 10 microseconds.  Those elements are
    cached per call.
    """
    engine = _engine.resolve(engine)
    values, fmt = _target_and_values(x, dtype)
    flat = np.ascontiguousarray(values).ravel()
    if engine == "auto" and flat.size:
        from . import _fast

        with _engine.Timer() as t:
            result, ok = _fast.exp_values(flat, fmt)
        todo = np.flatnonzero(~ok)
        _engine.count("fast", int(ok.sum()), t.seconds, undecided=todo.size)
        if todo.size:
            with _engine.Timer() as t:
                result[todo] = _exp_mpmath(flat[todo], fmt)
            _engine.count("mpmath", todo.size, t.seconds, rows=todo.size)
    else:
        with _engine.Timer() as t:
            result = _exp_mpmath(flat, fmt)
        _engine.count("mpmath", flat.size, t.seconds, rows=flat.size)
    result = result.reshape(values.shape)
    return result[()] if result.ndim == 0 else result


def _exp_mpmath(flat: np.ndarray, fmt) -> np.ndarray:
    """Mpmath exp of ``flat`` through the on-disk cache (one entry per call)."""
    parts = {
        "function": "exp",
        "input_dtype": flat.dtype.str,
        "n": int(flat.size),
        "target": fmt.cache_tag,
    }
    key = _cache.make_key(parts, flat.astype(flat.dtype.newbyteorder("<")).tobytes())
    result = _cache.load(key, fmt.dtype, flat.size)
    if result is None:
        result = _exact.exp_values(flat, fmt)
        _cache.store(key, result)
    return result


softmax.__doc__ = _docs.SOFTMAX
log_softmax.__doc__ = _docs.LOG_SOFTMAX
logsumexp.__doc__ = _docs.LOGSUMEXP
