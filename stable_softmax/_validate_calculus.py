"""Input checks of the softmax calculus: hardmax, cross-entropy, Jacobian, VJPs, inverse.

Each check raises with the parameter's name, what was given and what to pass
instead, as :mod:`._validate` does for the softmax family.
"""

from __future__ import annotations

import math

import numpy as np

from ._validate import Rows, _finite_real, as_float_array, normalize_axis

#: The reductions of ``cross_entropy``.
REDUCTIONS: tuple[str, ...] = ("none", "mean", "sum")


def class_axis(axis, ndim: int, name: str) -> int:
    """Return the one class axis of an ``ndim``-d array ``name`` as a non-negative int."""
    if ndim == 0:
        raise ValueError(
            f"{name} is 0-d; it needs a class axis: pass an array with at least one dimension"
        )
    if isinstance(axis, (tuple, list)) or axis is None:
        raise TypeError(f"axis must be a single int (the class axis of {name}), got {axis!r}")
    return normalize_axis(axis, ndim)[0]


def check_reduction(reduction) -> str:
    """Return ``reduction`` if it is one of :data:`REDUCTIONS`, else raise ``ValueError``."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"unknown reduction {reduction!r}; "
            f"valid reductions are {', '.join(map(repr, REDUCTIONS))}"
        )
    return reduction


def check_same_shape(name: str, arr: np.ndarray, shape: tuple[int, ...], other: str) -> None:
    """Raise ``ValueError`` unless ``arr`` (called ``name``) has the shape of ``other``."""
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}, expected {shape} (the shape of {other})")


def _index_text(name: str, index: tuple[int, ...]) -> str:
    return f"{name}[{', '.join(map(str, index))}]" if index else name


def soft_label_tolerance(dtype) -> float:
    """How far from 1 a distribution of soft labels of ``dtype`` may sum: ``sqrt(eps)``.

    1.5e-8 for float64 (and integer or bool labels), 3.5e-4 for float32: the
    test ``sklearn.metrics.log_loss`` applies to predicted probabilities. It
    accepts labels normalised in their own precision (an error of about
    ``n eps``) and refuses unnormalised ones.
    """
    dtype = np.dtype(dtype)
    return math.sqrt(np.finfo(dtype if dtype.kind == "f" else np.float64).eps)


def cross_entropy_labels(labels, shape: tuple[int, ...], axis: int, dtype: np.dtype, layout: Rows):
    """Validate the labels of ``cross_entropy`` for logits of ``shape``, class axis ``axis``.

    Returns ``("hard", indices)`` with ``indices`` an ``intp`` array of
    ``layout.rows`` class indices, or ``("soft", q)`` with ``q`` the ``(rows, n)``
    probabilities in ``dtype`` (unit-stride rows, laid out like the logits).
    Class indices: any integer dtype, the shape of the logits without
    ``axis``, values in ``[0, n)``. Probabilities: the shape of the logits,
    finite, ``>= 0``, each distribution summing to 1 within
    :func:`soft_label_tolerance`.
    """
    try:
        arr = np.asarray(labels)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"labels could not be converted to an array ({exc})") from exc
    kept_shape = shape[:axis] + shape[axis + 1 :]
    n = shape[axis]
    if arr.shape == kept_shape:
        return "hard", _class_indices(arr, n, shape)
    if arr.shape == shape:
        return "soft", _probability_targets(arr, axis, dtype, layout)
    raise ValueError(
        f"labels has shape {arr.shape}; expected {kept_shape} (class indices, the logits' shape "
        f"without axis {axis}) or {shape} (probabilities over axis {axis}, the logits' shape)"
    )


def _class_indices(arr: np.ndarray, n: int, shape: tuple[int, ...]) -> np.ndarray:
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"labels of shape {arr.shape} are class indices and need an integer dtype, "
            f"got {arr.dtype}; "
            f"pass labels.astype(np.intp), or labels of shape {shape} for probability targets"
        )
    bad = (arr < 0) | (arr >= n)
    if np.any(bad):
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        value = arr[index]
        why = "negative indices are not allowed" if value < 0 else f"there are only {n} classes"
        raise ValueError(
            f"{_index_text('labels', index)} = {value} is out of range: class indices must be in "
            f"[0, {n}) ({why})"
        )
    return np.ascontiguousarray(arr.reshape(-1), dtype=np.intp)


def _probability_targets(arr: np.ndarray, axis: int, dtype: np.dtype, layout: Rows) -> np.ndarray:
    q = as_float_array(arr, "labels")
    bad = ~np.isfinite(q) | (q < 0)
    if np.any(bad):
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{_index_text('labels', index)} = {str(q[index])} is not a probability: "
            "soft labels must be finite and >= 0"
        )
    rows = layout.rows_of(q)
    sums = rows.sum(axis=1, dtype=np.float64)
    tolerance = soft_label_tolerance(arr.dtype)
    off = np.abs(sums - 1.0) > tolerance
    if np.any(off):
        r = int(np.argmax(off))
        kept = [int(i) for i in np.unravel_index(r, layout.kept_shape)] if layout.kept_shape else []
        where = ", ".join([str(i) for i in kept[:axis]] + [":"] + [str(i) for i in kept[axis:]])
        raise ValueError(
            f"labels[{where}] sums to {float(sums[r])!r}, not 1 "
            f"(tolerance {tolerance:.1e} for {arr.dtype} "
            f"labels); normalise them, e.g. labels / labels.sum(axis={axis}, keepdims=True)"
        )
    return np.ascontiguousarray(rows, dtype=dtype)


def check_nonnegative(name: str, arr: np.ndarray) -> None:
    """Raise ``ValueError`` naming the first negative entry of ``arr`` (NaN passes)."""
    negative = arr < 0
    if np.any(negative):
        index = tuple(int(i) for i in np.argwhere(negative)[0])
        raise ValueError(
            f"{_index_text(name, index)} = {str(arr[index])} is negative; probabilities (or "
            "unnormalised weights) must be >= 0"
        )


def row_offsets(
    C, shape: tuple[int, ...], axes: tuple[int, ...], layout: Rows, dtype: np.dtype
) -> np.ndarray:
    """One constant per slice: ``C`` as ``layout.rows`` values in ``dtype``.

    ``C`` is a finite real number, or an array of the shape without ``axes``
    (what ``logsumexp`` returns) or with length-1 ``axes`` (``keepdims=True``).
    """
    if np.ndim(C) == 0 and not isinstance(C, np.ndarray):
        return np.full(layout.rows, dtype.type(_finite_real("C", C)), dtype=dtype)
    arr = as_float_array(C, "C")
    keepdims_shape = tuple(1 if i in axes else s for i, s in enumerate(shape))
    if arr.shape not in (layout.kept_shape, keepdims_shape):
        raise ValueError(
            f"C has shape {arr.shape}; expected a scalar, {layout.kept_shape} or {keepdims_shape} "
            "(one constant per slice)"
        )
    return np.ascontiguousarray(arr.reshape(layout.rows), dtype=dtype)
