"""Input checking and axis bookkeeping for the public functions.

Every error message of the public API lives here. The reshaping turns any
choice of reduced axes into a ``(rows, n)`` problem: the reduced axes are
moved last (a view), then merged (a view whenever the memory layout allows;
NumPy copies otherwise). A copy is also made when the merged ``(rows, n)``
array is not C-contiguous, because the kernels are compiled for that layout.
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
from dataclasses import dataclass

import numpy as np
from numpy.exceptions import AxisError

from ._methods import METHODS

_CAST_HINT = "pass x.astype(np.float32) or x.astype(np.float64)"


def as_float_array(x, name: str = "x", *, narrow: bool = False) -> np.ndarray:
    """Return ``x`` as an array of float32 or float64, never copying a float input.

    float32 and float64 keep their dtype; bool and integer arrays are cast to
    float64. float16 (too narrow for the kernels' accuracy claims), complex,
    object and string inputs raise ``TypeError``. With ``narrow=True`` (the
    softmax family) float16 and the ml_dtypes formats of
    :data:`stable_softmax.formats.FORMATS` stored in one or two bytes keep
    their dtype instead: they are computed in float32 and rounded back, or in
    the arithmetic ``compute=`` names.
    """
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise TypeError(
            f"{name} could not be converted to a numeric array ({exc}); {_CAST_HINT}"
        ) from exc
    dtype = arr.dtype
    if dtype in (np.float32, np.float64):
        return arr
    if dtype.kind in "biu":
        return arr.astype(np.float64)
    if narrow and dtype.kind in "fV" and dtype.itemsize <= 2:
        from ._narrow import narrow_name

        if narrow_name(dtype) is not None:
            return arr
    if dtype == np.float16:
        raise TypeError(
            f"{name} has dtype float16, which is not supported; pass x.astype(np.float32)"
        )
    if dtype.kind == "c":
        raise TypeError(
            f"{name} has complex dtype {dtype}; softmax needs real logits: "
            "pass x.real (or np.abs(x)) as float32 or float64"
        )
    if dtype.kind == "f":
        raise TypeError(f"{name} has dtype {dtype}, which is not supported; {_CAST_HINT}")
    raise TypeError(
        f"{name} has dtype {dtype} (kind {dtype.kind!r}), not a real number type; {_CAST_HINT}"
    )


def split_masked(x):
    """``(data, keep)`` for a ``numpy.ma`` masked array, ``(x, None)`` for anything else.

    ``keep`` is the boolean array ``~mask`` (True where the entry takes part);
    the public functions treat masked entries as ``where=False`` ones, so a
    mask is never silently ignored.
    """
    if isinstance(x, np.ma.MaskedArray):
        return np.ma.getdata(x), ~np.ma.getmaskarray(x)
    return x, None


def check_where(where, shape: tuple[int, ...]) -> np.ndarray:
    """``where`` as a boolean array of ``shape`` (a broadcast view), or a clear error."""
    if isinstance(where, np.ma.MaskedArray):
        raise TypeError(
            "where is a masked array; pass a plain boolean array (e.g. where.filled(False))"
        )
    try:
        arr = np.asarray(where)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"where could not be converted to a boolean array ({exc})") from exc
    if arr.dtype != np.bool_:
        raise TypeError(
            f"where has dtype {arr.dtype}; pass a boolean array (True: the entry takes part), "
            "e.g. where=(mask != 0)"
        )
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(
            f"where has shape {arr.shape}, which does not broadcast to the shape of x {shape}; "
            "pass a boolean array of that shape or one that broadcasts to it"
        ) from None


def check_weights(b, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``b`` of logsumexp as an array of ``dtype`` and ``shape`` (broadcast), or a clear error.

    Real numbers (bool, int or float) are accepted and rounded to ``dtype``,
    the dtype of the computation.
    """
    if isinstance(b, np.ma.MaskedArray):
        raise TypeError(
            "b is a masked array; pass plain weights and exclude entries with where= (or b=0)"
        )
    try:
        arr = np.asarray(b)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"b could not be converted to a numeric array ({exc})") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"b has dtype {arr.dtype}; the weights must be real numbers: "
            f"pass b as a float array (b.astype(np.{dtype}))"
        )
    try:
        view = np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(
            f"b has shape {arr.shape}, which does not broadcast to the shape of x {shape}; "
            "pass weights of that shape or one that broadcasts to it"
        ) from None
    return view.astype(dtype, copy=False)


def normalize_axis(axis, ndim: int) -> tuple[int, ...]:
    """Turn ``axis`` (int, tuple of ints or None) into sorted non-negative axes.

    ``None`` means every axis. Raises ``AxisError`` for an axis out of range
    and ``ValueError`` for a repeated axis.
    """
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:  # the common call: no loop, no set
        return (axis % ndim,)
    axes = axis if isinstance(axis, tuple) else (axis,)
    result = []
    for a in axes:
        try:
            index = operator.index(a)
        except TypeError:
            raise TypeError(f"axis must be an int, a tuple of ints or None, got {a!r}") from None
        if not -ndim <= index < ndim:
            hint = " (x is 0-d: use axis=None)" if ndim == 0 else ""
            raise AxisError(f"axis {index} is out of bounds for an array of dimension {ndim}{hint}")
        result.append(index % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"axis contains a repeated axis: {axis!r}")
    return tuple(sorted(result))


def check_method(function: str, method) -> str:
    """Return ``method`` if ``function`` has it, else raise ``ValueError`` listing them."""
    valid = METHODS[function]
    if method not in valid:
        raise ValueError(
            f"unknown method {method!r} for {function}; "
            f"valid methods are {', '.join(map(repr, valid))}"
        )
    return method


#: Largest finite value of each float dtype seen by :func:`scale_factor` (``np.finfo`` is slow).
_LARGEST: dict[np.dtype, float] = {}


def scale_factor(beta, base, dtype: np.dtype) -> np.floating:
    """Return ``c = beta * ln(base)`` (``base=None`` is e) rounded to ``dtype``.

    ``beta`` must be a finite real number > 0 and ``base`` None or a finite
    real number > 1. ``c`` is computed in float64 and rounded once to
    ``dtype``, so the kernels see the correctly rounded float64 product
    ``beta * log(base)`` in their own precision.
    """
    beta_f = _finite_real("beta", beta)
    if not beta_f > 0:
        raise ValueError(
            f"beta must be > 0, got {beta!r}; for softmin pass -x with a positive beta"
        )
    c = beta_f
    if base is not None:
        base_f = _finite_real("base", base)
        if not base_f > 1:
            raise ValueError(
                f"base must be > 1, got {base!r}; "
                "a base in (0, 1) is softmin: pass -x with base 1/base"
            )
        c = beta_f * math.log(base_f)
    largest = _LARGEST.get(dtype)
    if largest is None:
        largest = _LARGEST.setdefault(dtype, float(np.finfo(dtype).max))
    scaled = dtype.type(c) if abs(c) <= largest else dtype.type(np.inf)
    if not math.isfinite(scaled) or scaled == 0:
        raise ValueError(
            f"beta * ln(base) = {c!r} is not representable as a finite nonzero {dtype}; "
            "pass a smaller beta or base"
        )
    return scaled


def _finite_real(name: str, value) -> float:
    if type(value) is float:  # the common call; the checks below would accept it
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a real number, got {value!r} of type {type(value).__name__}"
        )
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def check_out(out, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Check that ``out`` is a writeable array of ``shape`` and ``dtype``."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape} (the shape of x)")
    if out.dtype != dtype:
        raise ValueError(
            f"out has dtype {out.dtype}, expected {dtype} (the result dtype for this x); "
            f"allocate it with np.empty(x.shape, dtype=np.{dtype})"
        )
    if not out.flags.writeable:
        raise ValueError("out is read-only; pass a writeable array")
    return out


@dataclass(frozen=True)
class Rows:
    """A ``(rows, n)`` layout of an array with the reduced axes last."""

    perm: tuple[int, ...]  # axis order: kept axes, then reduced axes
    moved_shape: tuple[int, ...]  # shape of x transposed by perm
    kept_shape: tuple[int, ...]  # shape of the kept axes
    rows: int
    n: int

    @classmethod
    def of(cls, shape: tuple[int, ...], axes: tuple[int, ...]) -> Rows:
        """The layout of an array of ``shape`` reduced over ``axes`` (sorted, non-negative)."""
        return _rows_of(cls, tuple(shape), tuple(axes))

    @classmethod
    def _build(cls, shape: tuple[int, ...], axes: tuple[int, ...]) -> Rows:
        kept = tuple(i for i in range(len(shape)) if i not in axes)
        perm = kept + axes
        moved = tuple(shape[i] for i in perm)
        kept_shape = tuple(shape[i] for i in kept)
        return cls(
            perm, moved, kept_shape, math.prod(kept_shape), math.prod(shape[i] for i in axes)
        )

    @functools.cached_property
    def identity(self) -> bool:
        """Whether the reduced axes are already last (no transpose needed)."""
        return self.perm == tuple(range(len(self.perm)))

    def view(self, a: np.ndarray) -> np.ndarray | None:
        """``a`` as ``(rows, n)`` without copying, or None when that is impossible."""
        try:
            moved = a if self.identity else a.transpose(self.perm)
            flat = moved.reshape((self.rows, self.n), copy=False)
        except ValueError:  # merging these axes needs a copy
            return None
        # Kernels are compiled for C-contiguous rows: LLVM vectorizes their
        # loops only when the unit stride is known at compile time, and the
        # same compiled loop for every layout gives the same bits.
        return flat if flat.flags.c_contiguous else None

    def rows_of(self, a: np.ndarray) -> np.ndarray:
        """``a`` as a C-contiguous ``(rows, n)`` array, copying only when needed."""
        flat = self.view(a)
        if flat is None:
            flat = np.ascontiguousarray(a.transpose(self.perm)).reshape(self.rows, self.n)
        return flat

    def restore(self, flat: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`rows_of` for a C-contiguous ``(rows, n)`` result."""
        moved = flat.reshape(self.moved_shape)
        return moved if self.identity else moved.transpose(np.argsort(self.perm))


@functools.lru_cache(maxsize=256)
def _rows_of(cls, shape: tuple[int, ...], axes: tuple[int, ...]) -> Rows:
    # Layouts are immutable and calls repeat shapes: building one costs microseconds.
    return cls._build(shape, axes)
