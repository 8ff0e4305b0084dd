"""Error metrics of a result against a correctly rounded reference.

Pure NumPy.  ``result`` and ``reference`` are arrays of one binary format
(float32 or float64); the reference normally comes from
``reference.softmax`` and friends.
"""

from __future__ import annotations

import math

import numpy as np

from .. import floatbits

try:
    from numpy.lib.array_utils import normalize_axis_tuple
except ImportError:  # numpy < 2
    from numpy.core.numeric import normalize_axis_tuple

__all__ = [
    "OK",
    "OVERFLOW",
    "UNDERFLOW",
    "NAN",
    "CLASS_NAMES",
    "ulp_distance",
    "bits_of_error",
    "classify",
    "classify_values",
    "nonfinite_split",
    "sum_deviation_eps",
    "argmax_kept",
]

#: Element classes returned by :func:`classify`.
OK, OVERFLOW, UNDERFLOW, NAN = 0, 1, 2, 3
#: ``CLASS_NAMES[code]`` is the name of a class code.
CLASS_NAMES = ("ok", "overflow", "underflow", "nan")

#: The formats the report measures.
_FORMATS = (np.dtype(np.float32), np.dtype(np.float64))


def _pair(result, reference) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(result)
    ref = np.asarray(reference)
    if r.dtype != ref.dtype or r.dtype not in _FORMATS:
        raise TypeError(
            "result and reference must both be float32 or both be float64; "
            f"got {r.dtype} and {ref.dtype} (cast the result to the reference's dtype)"
        )
    return np.broadcast_arrays(r, ref)


def ulp_distance(result, reference) -> np.ndarray:
    """Number of representable floats between ``result`` and ``reference``.

    The metric of the report, restricted to the report's formats: the
    arithmetic is :func:`stable_softmax.floatbits.ulp_distance` (the one place
    that maps floats to ordinals).

    Parameters
    ----------
    result, reference : array_like
        Same dtype, float32 or float64 (broadcast together).

    Returns
    -------
    numpy.ndarray of float64
        The ordinal distance in the arrays' format: ``k`` after ``k`` steps of
        ``np.nextafter``, counting across zero (``+0`` and ``-0`` are the
        same point) and through subnormals.  Both NaN: 0.  NaN against a
        non-NaN: ``inf``.  Infinities: 0 against the same infinity, ``inf``
        against anything else (an overflow is not "a few ulps" from the
        largest finite number).  Distances above ``2**53`` are rounded to
        float64.

    Raises
    ------
    TypeError
        If the dtypes differ or are not float32/float64.
    """
    r, ref = _pair(result, reference)
    return floatbits.ulp_distance(r, ref)


def bits_of_error(ulps) -> np.ndarray:
    """``log2(1 + ulps)``: 0 when exact, about 1 bit at one ulp, inf at inf.

    Parameters
    ----------
    ulps : array_like
        ULP distances, e.g. from :func:`ulp_distance`.

    Returns
    -------
    numpy.ndarray of float64
    """
    return np.log2(1.0 + np.asarray(ulps, dtype=np.float64))


def classify(result, reference) -> np.ndarray:
    """Class code of each element: OK, OVERFLOW, UNDERFLOW or NAN.

    Parameters
    ----------
    result, reference : array_like
        Same dtype, float32 or float64.

    Returns
    -------
    numpy.ndarray of int8
        First matching rule wins:

        * ``OVERFLOW`` (1): ``reference`` is finite and ``result`` is not
          (``+-inf`` or NaN: the textbook softmax's ``inf / inf`` is NaN, an
          overflow by cause), or ``result`` is the opposite infinity of the
          reference. :func:`nonfinite_split` tells inf from NaN.
        * ``NAN`` (3): ``result`` is NaN where ``reference`` is an infinity
          (the exact value is defined, the result is not).
        * ``UNDERFLOW`` (2): ``reference`` is finite and nonzero, and either
          ``result`` is zero, or ``result != reference`` with one of them
          subnormal (``|v| <`` the smallest normal): bits were lost to the
          reduced precision of the subnormal range.
        * ``OK`` (0): everything else, including both NaN, the same
          infinity, and a finite result where the reference overflowed (its
          error shows as an infinite :func:`ulp_distance`).
    """
    r, ref = _pair(result, reference)
    return classify_values(r, ref, float(np.finfo(r.dtype).tiny))


def classify_values(r: np.ndarray, ref: np.ndarray, tiny: float) -> np.ndarray:
    """:func:`classify` of arrays of any float dtype, given the format's smallest normal.

    For formats NumPy has no ``finfo`` for (float16 has one; bfloat16, the
    float8 formats do not): pass float64 copies, which hold their values
    exactly, and ``tiny = Format.smallest_normal``.
    """
    codes = np.full(r.shape, OK, dtype=np.int8)
    ref_finite_nonzero = np.isfinite(ref) & (ref != 0)
    lost = (r != ref) & ((np.abs(r) < tiny) | (np.abs(ref) < tiny))
    underflow = ref_finite_nonzero & np.isfinite(r) & ((r == 0) | lost)
    codes[underflow] = UNDERFLOW
    codes[np.isnan(r) & np.isinf(ref)] = NAN
    codes[(np.isinf(r) & (r != ref)) | (np.isnan(r) & np.isfinite(ref))] = OVERFLOW
    return codes


def nonfinite_split(result, reference) -> tuple[np.ndarray, np.ndarray]:
    """``(inf, nan)`` masks of the :data:`OVERFLOW` elements of :func:`classify`.

    The finer columns of the report: an overflow that shows as an infinity,
    and one that shows as NaN (``inf / inf``, ``inf - inf``).
    """
    r, ref = _pair(result, reference)
    over = classify(r, ref) == OVERFLOW
    return over & np.isinf(r), over & np.isnan(r)


def _slices(x: np.ndarray, axis) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(rows, lead_shape)``: each row of the 2-D ``rows`` is one slice."""
    axes = normalize_axis_tuple(tuple(range(x.ndim)) if axis is None else axis, x.ndim)
    others = tuple(i for i in range(x.ndim) if i not in axes)
    moved = np.transpose(x, others + axes)
    lead = moved.shape[: len(others)]
    n = math.prod(moved.shape[len(others) :])
    return moved.reshape(math.prod(lead), n), lead


def sum_deviation_eps(p, axis=-1) -> np.ndarray:
    """``|sum(p) - 1| / eps`` per slice, with an exactly rounded sum.

    Parameters
    ----------
    p : array_like
        Probabilities, float32 or float64.
    axis : int, tuple of int or None
        Axes of one slice; None means all.

    Returns
    -------
    numpy.ndarray of float64 (reduced shape)
        ``eps`` is the machine epsilon of ``p``'s dtype.  ``sum(p) - 1`` is
        computed by :func:`math.fsum` over the slice's values and ``-1`` (the
        values are exact in float64), i.e. the exact deviation rounded once,
        so no summation error of the metric hides or adds to the kernel's.
        NaN in a slice gives NaN; an empty slice gives ``1 / eps``.
    """
    arr = np.asarray(p)
    if arr.dtype not in _FORMATS:
        raise TypeError(f"p must be float32 or float64, got {arr.dtype}")
    rows, lead = _slices(arr, axis)
    eps = float(np.finfo(arr.dtype).eps)
    out = np.empty(rows.shape[0], dtype=np.float64)
    for i, row in enumerate(rows.astype(np.float64)):
        if np.isnan(row).any():
            out[i] = np.nan
        else:
            out[i] = abs(math.fsum([*row.tolist(), -1.0])) / eps
    return out.reshape(lead)


def argmax_kept(result, reference, axis=-1) -> np.ndarray:
    """Whether each slice's result keeps the reference's argmax.

    Parameters
    ----------
    result, reference : array_like
        Same dtype, float32 or float64, same shape.
    axis : int, tuple of int or None
        Axes of one slice; None means all.

    Returns
    -------
    numpy.ndarray of bool (reduced shape)
        True where ``np.argmax`` of the result slice (its first maximum; a
        result slice containing NaN loses) is one of the
        indices where the reference slice attains its maximum; ties in the
        reference are therefore allowed.  A reference slice that is all NaN
        or empty counts as kept when the result slice is all NaN too.
    """
    r, ref = _pair(result, reference)
    r_rows, lead = _slices(r, axis)
    ref_rows, _ = _slices(ref, axis)
    out = np.empty(r_rows.shape[0], dtype=bool)
    for i, (rr, fr) in enumerate(zip(r_rows, ref_rows)):
        valid = ~np.isnan(fr)
        if not valid.any():
            out[i] = bool(np.isnan(rr).all())
            continue
        if np.isnan(rr).any():
            # np.argmax returns the first NaN, which may sit on the reference's
            # maximum by chance: a result with NaN has no argmax to keep.
            out[i] = False
            continue
        top = fr == np.max(fr[valid])
        out[i] = bool(top[np.argmax(rr)])
    return out.reshape(lead)
