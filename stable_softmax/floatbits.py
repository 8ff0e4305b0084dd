"""Floats as points of their grid: the one module for bit-level float arithmetic.

IEEE binary formats are sign-magnitude: read as an unsigned integer, the bits
of a non-negative float increase with its value. :func:`to_ordinal` maps every
float onto a signed integer line where neighbouring floats differ by 1 and both
zeros map to 0; everything else here (ULP distance, neighbours, bisection on
the float grid) is integer arithmetic on that line. It works for any format
whose NumPy dtype is a sign-magnitude float of 1, 2, 4 or 8 bytes (float16,
float32, float64 and the ``ml_dtypes`` formats such as bfloat16 or float8),
including formats narrower than their byte (float6, float4: the sign is the
top bit of the format, not of the byte).
NaN has no ordinal: callers handle NaN before mapping (see :func:`ulp_distance`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "bits_of",
    "first_true",
    "from_bits",
    "from_ordinal",
    "neighbours",
    "next_down",
    "next_up",
    "to_ordinal",
    "ulp_distance",
]

_UINT_OF_SIZE = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _contiguous(x) -> np.ndarray:
    # np.ascontiguousarray returns at least 1-D; keep 0-d inputs 0-d.
    arr = np.asarray(x)
    return np.ascontiguousarray(arr).reshape(arr.shape)


def _uint(dtype: np.dtype) -> type[np.unsignedinteger]:
    dtype = np.dtype(dtype)
    if dtype.kind not in "fV" or dtype.itemsize not in _UINT_OF_SIZE:
        raise TypeError(f"expected a binary floating-point dtype, got {dtype}")
    return _UINT_OF_SIZE[dtype.itemsize]


def _sign_bit(dtype: np.dtype) -> np.uint64:
    # ml_dtypes' finfo knows the width of sub-byte formats (float4_e2m1fn: 4 bits
    # in a byte); NumPy's own formats fill their bytes.
    dtype = np.dtype(dtype)
    width = 8 * dtype.itemsize
    if dtype.kind == "V" or dtype.itemsize == 1:
        import ml_dtypes

        width = int(ml_dtypes.finfo(dtype).bits)
    return np.uint64(1) << np.uint64(width - 1)


def bits_of(x) -> np.ndarray:
    """The bit patterns of ``x`` as unsigned integers of the same width."""
    arr = _contiguous(x)
    return arr.view(_uint(arr.dtype))


def from_bits(bits, dtype) -> np.ndarray:
    """Floats of ``dtype`` whose bit patterns are ``bits``."""
    uint = _uint(dtype)
    return _contiguous(np.asarray(bits).astype(uint)).view(np.dtype(dtype))


def to_ordinal(x) -> np.ndarray:
    """Position of each float on the integer line of its format (int64).

    ``to_ordinal(+0) == to_ordinal(-0) == 0``, the smallest positive subnormal
    is 1, and ``to_ordinal(-v) == -to_ordinal(v)``. Infinities are one past the
    largest finite value. NaN gives a meaningless number: test for it first.
    """
    arr = _contiguous(x)
    bits = arr.view(_uint(arr.dtype)).astype(np.uint64)
    sign_bit = _sign_bit(arr.dtype)
    magnitude = (bits & (sign_bit - np.uint64(1))).astype(np.int64)
    return np.where(bits & sign_bit, -magnitude, magnitude)


def from_ordinal(ordinal, dtype) -> np.ndarray:
    """Inverse of :func:`to_ordinal` (ordinal 0 gives +0)."""
    dtype = np.dtype(dtype)
    o = np.asarray(ordinal, dtype=np.int64)
    sign_bit = _sign_bit(dtype)
    bits = np.where(o < 0, np.abs(o).astype(np.uint64) | sign_bit, o.astype(np.uint64))
    return from_bits(bits, dtype)


def next_up(x, k: int = 1) -> np.ndarray:
    """The float ``k`` steps above ``x`` on its grid (``k`` may be negative)."""
    arr = np.asarray(x)
    return from_ordinal(to_ordinal(arr) + np.int64(k), arr.dtype).reshape(arr.shape)


def next_down(x, k: int = 1) -> np.ndarray:
    """The float ``k`` steps below ``x`` on its grid."""
    return next_up(x, -k)


def neighbours(x, k: int) -> np.ndarray:
    """The ``2k + 1`` floats around the scalar ``x``, in increasing order."""
    arr = np.asarray(x)
    return from_ordinal(to_ordinal(arr.reshape(1))[0] + np.arange(-k, k + 1), arr.dtype)


def ulp_distance(result, reference) -> np.ndarray:
    """Number of representable floats between ``result`` and ``reference``.

    Parameters
    ----------
    result, reference : array_like
        Same floating dtype (broadcast together).

    Returns
    -------
    numpy.ndarray of float64
        The ordinal distance: ``k`` after ``k`` steps of ``np.nextafter``,
        across zero (``+0`` and ``-0`` are the same point) and through the
        subnormals. Both NaN: 0; NaN against a non-NaN: ``inf``. Infinities:
        0 against the same infinity, ``inf`` against anything else (an
        overflow is not "a few ULPs" from the largest finite float).
        Distances above ``2**53`` are rounded to float64.

    Raises
    ------
    TypeError
        If the dtypes differ or are not binary floating-point formats.
    """
    r, ref = np.asarray(result), np.asarray(reference)
    if r.dtype != ref.dtype:
        raise TypeError(
            f"result and reference must have the same dtype; got {r.dtype} and {ref.dtype} "
            "(cast the result to the reference's dtype)"
        )
    r, ref = np.broadcast_arrays(r, ref)
    a, b = to_ordinal(r), to_ordinal(ref)
    # |a - b| can exceed int64 (float64 extremes of opposite signs) but not
    # 2**64, so the unsigned wrap-around difference of max - min is exact.
    hi, lo = np.maximum(a, b), np.minimum(a, b)
    with np.errstate(over="ignore"):
        dist = (hi.astype(np.uint64) - lo.astype(np.uint64)).astype(np.float64)
    with np.errstate(invalid="ignore"):
        r64, ref64 = r.astype(np.float64), ref.astype(np.float64)
    r_nan, ref_nan = np.isnan(r64), np.isnan(ref64)
    dist = np.where(np.isinf(r64) | np.isinf(ref64), np.where(r64 == ref64, 0.0, np.inf), dist)
    return np.where(r_nan | ref_nan, np.where(r_nan & ref_nan, 0.0, np.inf), dist)


def first_true(pred: Callable[[int], bool], lo: int, hi: int) -> int | None:
    """Smallest integer ``t`` in ``[lo, hi]`` with ``pred(t)``, for a monotone ``pred``.

    Bisection on integers, typically ordinals (``pred`` maps an ordinal back
    with :func:`from_ordinal`): it needs ``log2(hi - lo)`` calls, 64 at most
    for float64. Returns None when ``pred(hi)`` is false.
    """
    if not pred(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo
