"""Input checking and axis bookkeeping for the public functions.

Every error message of the public API lives here. The reshaping turns any
choice of reduced axes into a ``(rows, n)`` problem: the reduced axes are
moved last (a view), then merged (a view whenever the memory layout allows;
NumPy copies otherwise). A copy is also made when the merged rows are not
unit-stride, because the kernels stream along rows.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass

import numpy as np
from numpy.exceptions import AxisError

#: Methods of each public function, in the order the docs list them.
METHODS: dict[str, tuple[str, ...]] = {
    "softmax": ("naive", "shifted", "lse"),
    "log_softmax": ("naive", "shifted", "lse"),
    "logsumexp": ("naive", "shifted", "log1p"),
}

_CAST_HINT = "pass x.astype(np.float32) or x.astype(np.float64)"


def as_float_array(x, name: str = "x") -> np.ndarray:
    """Return ``x`` as an array of float32 or float64, never copying a float input.

    float32 and float64 keep their dtype; bool and integer arrays are cast to
    float64. float16 (too narrow for the kernels' accuracy claims), complex,
    object and string inputs raise ``TypeError``.
    """
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} could not be converted to a numeric array ({exc}); {_CAST_HINT}") from exc
    dtype = arr.dtype
    if dtype in (np.float32, np.float64):
        return arr
    if dtype.kind in "biu":
        return arr.astype(np.float64)
    if dtype == np.float16:
        raise TypeError(f"{name} has dtype float16, which is not supported; pass x.astype(np.float32)")
    if dtype.kind == "c":
        raise TypeError(
            f"{name} has complex dtype {dtype}; softmax needs real logits: "
            "pass x.real (or np.abs(x)) as float32 or float64"
        )
    if dtype.kind == "f":
        raise TypeError(f"{name} has dtype {dtype}, which is not supported; {_CAST_HINT}")
    raise TypeError(f"{name} has dtype {dtype} (kind {dtype.kind!r}), not a real number type; {_CAST_HINT}")


def normalize_axis(axis, ndim: int) -> tuple[int, ...]:
    """Turn ``axis`` (int, tuple of ints or None) into sorted non-negative axes.

    ``None`` means every axis. Raises ``AxisError`` for an axis out of range
    and ``ValueError`` for a repeated axis.
    """
    if axis is None:
        return tuple(range(ndim))
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
    """Return ``method`` if ``function`` has it, else raise ``ValueError`` listing the valid ones."""
    valid = METHODS[function]
    if method not in valid:
        raise ValueError(f"unknown method {method!r} for {function}; valid methods are {', '.join(map(repr, valid))}")
    return method


def scale_factor(beta, base, dtype: np.dtype) -> np.floating:
    """Return ``c = beta * ln(base)`` (``base=None`` is e) rounded to ``dtype``.

    ``beta`` must be a finite real number > 0 and ``base`` None or a finite
    real number > 1. ``c`` is computed in float64 and rounded once to
    ``dtype``, so the kernels see the correctly rounded float64 product
    ``beta * log(base)`` in their own precision.
    """
    beta_f = _finite_real("beta", beta)
    if not beta_f > 0:
        raise ValueError(f"beta must be > 0, got {beta!r}; for softmin pass -x with a positive beta")
    c = beta_f
    if base is not None:
        base_f = _finite_real("base", base)
        if not base_f > 1:
            raise ValueError(
                f"base must be > 1, got {base!r}; a base in (0, 1) is softmin: pass -x with base 1/base"
            )
        c = beta_f * math.log(base_f)
    scaled = dtype.type(c)
    if not np.isfinite(scaled) or scaled == 0:
        raise ValueError(
            f"beta * ln(base) = {c!r} is not representable as a finite nonzero {dtype}; "
            "pass a smaller beta or base"
        )
    return scaled


def _finite_real(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
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
    def of(cls, shape: tuple[int, ...], axes: tuple[int, ...]) -> "Rows":
        kept = tuple(i for i in range(len(shape)) if i not in axes)
        perm = kept + axes
        moved = tuple(shape[i] for i in perm)
        kept_shape = tuple(shape[i] for i in kept)
        return cls(perm, moved, kept_shape, math.prod(kept_shape), math.prod(shape[i] for i in axes))

    def view(self, a: np.ndarray) -> np.ndarray | None:
        """``a`` as ``(rows, n)`` without copying, or None when that is impossible."""
        try:
            flat = a.transpose(self.perm).reshape((self.rows, self.n), copy=False)
        except ValueError:  # merging these axes needs a copy
            return None
        if self.n > 1 and self.rows > 0 and flat.strides[1] != a.itemsize:
            return None
        return flat

    def rows_of(self, a: np.ndarray) -> np.ndarray:
        """``a`` as ``(rows, n)`` with unit-stride rows, copying only when needed."""
        flat = self.view(a)
        if flat is None:
            flat = np.ascontiguousarray(a.transpose(self.perm)).reshape(self.rows, self.n)
        return flat

    def restore(self, flat: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`rows_of` for a C-contiguous ``(rows, n)`` result."""
        return flat.reshape(self.moved_shape).transpose(np.argsort(self.perm))
