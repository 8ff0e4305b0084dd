"""The public functions: validate, lay out as rows, call a kernel, lay back."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numba
import numpy as np
from numpy.typing import ArrayLike

from . import _lowprec_api as _lowprec
from ._methods import DEFAULT_METHOD, METHOD_IDS, SPLIT_METHODS
from ._validate import (
    Rows,
    as_float_array,
    check_method,
    check_out,
    check_weights,
    normalize_axis,
    scale_factor,
    split_masked,
)
from ._weights import exclude, keep_mask, sign_of, weighted_logsumexp
from .kernels import DRIVERS

#: Below this many elements, starting threads costs more than it saves
#: (measured: a 256 x 256 float32 softmax is about 40 us on one thread).
PARALLEL_MIN_ELEMENTS = 1 << 16
#: A row at least this long is split across threads when there are fewer rows
#: than threads (methods with a split kernel only).
SPLIT_MIN_ELEMENTS = 1 << 17

Axis = int | tuple[int, ...] | None

#: ``(compute, accumulate, rounding, seed)`` of a plain call.
_DEFAULT_ARITH = (None, None, "nearest", None)

_SEMANTICS = """
    Notes
    -----
    Special values (every method but ``"naive"``, which is deliberately
    unguarded and overflows): a NaN anywhere in a slice gives NaN for the
    slice; an all ``-inf`` slice gives NaN (softmax, log_softmax) and ``-inf``
    (logsumexp); ``-inf`` entries among finite ones give exactly 0 (softmax)
    and ``-inf`` (log_softmax) and drop out of logsumexp; a ``+inf`` entry
    gives softmax all NaN, log_softmax NaN at the ``+inf`` and ``-inf``
    elsewhere, and logsumexp ``+inf``. These follow ``scipy.special``.
"""


#: Serializes parallel kernel launches while the threading layer may be
#: Numba's ``workqueue``, which aborts the process ("Concurrent access has
#: been detected") when two Python threads launch parallel regions at once.
_PARALLEL_LOCK = threading.Lock()
#: None until the first parallel launch has chosen Numba's threading layer;
#: then whether that layer is safe for concurrent launches (omp, tbb).
_layer_threadsafe: bool | None = None


@contextmanager
def _parallel_launch():
    """Around a parallel kernel call: nothing under omp/tbb, a lock under workqueue."""
    global _layer_threadsafe
    if _layer_threadsafe:
        yield
        return
    with _PARALLEL_LOCK:
        yield
        _layer_threadsafe = numba.threading_layer() != "workqueue"


def _rows_on_threads(rows: int, n: int, threads: int) -> bool:
    """Whether to spread the rows over ``threads``: enough rows for each, enough work to pay."""
    return threads > 1 and rows >= threads and rows * n >= PARALLEL_MIN_ELEMENTS


def _run(
    function: str, method: str, x: np.ndarray, out: np.ndarray, c: tuple[float, float]
) -> None:
    """Run ``function`` on the rows of ``x`` into ``out``, on one thread or several.

    ``c`` is the scale as ``(hi, lo)``. Every path gives the same bits: rows
    are independent, and the split kernels combine their blocks in the order
    the serial kernels do.
    """
    drivers = DRIVERS[function]
    method_id = METHOD_IDS[method]
    threads = numba.get_num_threads()
    rows, n = x.shape
    if _rows_on_threads(rows, n, threads):
        driver = drivers.rows_parallel
    elif threads > 1 and n >= SPLIT_MIN_ELEMENTS and method in SPLIT_METHODS[function]:
        driver = drivers.rows_split
    else:
        drivers.rows(x, out, c[0], method_id, c[1], threads)
        return
    with _parallel_launch():
        driver(x, out, c[0], method_id, c[1], threads)


def _scale(method: str, beta, base, dtype: np.dtype) -> tuple[float, float]:
    """The scale ``c = beta ln(base)`` as ``(hi, lo)`` float64 for the kernels.

    Every method but ``accurate`` takes ``c`` rounded once to ``dtype`` (``lo``
    is 0; a float32 ``c`` is exact as a float64, and the kernels round it back
    to the dtype of ``x``). ``accurate`` takes it as a double-double.
    """
    c = scale_factor(beta, base, dtype)  # validates beta and base for every method
    if method != "accurate":
        return float(c), 0.0
    if base is None:
        return float(beta), 0.0
    import mpmath

    with mpmath.workprec(160):
        exact = mpmath.mpf(float(beta)) * mpmath.log(mpmath.mpf(float(base)))
        hi = float(exact)
        return hi, float(exact - hi)


def _elementwise(
    function: str, x, axis: Axis, method: str, beta, base, out, where, *arith
) -> np.ndarray:
    x, mask_keep = split_masked(x)
    arr = as_float_array(x, narrow=True)
    # One test keeps float32/float64 calls on their path (arith: compute,
    # accumulate, rounding, seed; narrow dtypes have at most 2 bytes).
    if arith != _DEFAULT_ARITH or arr.itemsize < 4:
        ar = _lowprec.resolve(arr.dtype, *arith)
        return _lowprec.elementwise(
            function, arr, mask_keep, axis, method, beta, base, out, where, ar
        )
    check_method(function, method)
    c = _scale(method, beta, base, arr.dtype)
    keep = keep_mask(mask_keep, where, arr.shape)
    if keep is not None:
        arr = exclude(arr, keep)  # a new array: x is never written
    layout = Rows.of(arr.shape, normalize_axis(axis, arr.ndim))
    src = layout.rows_of(arr)
    if out is None:
        flat = np.empty((layout.rows, layout.n), dtype=arr.dtype)
        _run(function, method, src, flat, c)
        return layout.restore(flat)
    check_out(out, arr.shape, arr.dtype)
    dst = layout.view(out)
    # Writing straight into `out` is safe when it does not overlap the source
    # or is exactly the source (the kernels read each x[i] before writing
    # out[i]); any other overlap goes through a temporary.
    if dst is not None and (not np.may_share_memory(dst, src) or _same_layout(dst, src)):
        _run(function, method, src, dst, c)
    else:
        flat = np.empty((layout.rows, layout.n), dtype=arr.dtype)
        _run(function, method, src, flat, c)
        np.copyto(out, layout.restore(flat))
    return out


def _same_layout(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
        and a.strides == b.strides
        and a.shape == b.shape
    )


def softmax(
    x: ArrayLike,
    axis: Axis = -1,
    *,
    method: str = DEFAULT_METHOD["softmax"],
    beta: float = 1.0,
    base: float | None = None,
    out: np.ndarray | None = None,
    where: ArrayLike | None = None,
    compute: str | None = None,
    accumulate: str | None = None,
    rounding: str = "nearest",
    seed: int | None = None,
) -> np.ndarray:
    r"""Softmax along ``axis``: ``a^(beta x_j) / sum_k a^(beta x_k)``.

    With ``c = beta * ln(a)`` (``a = e`` when ``base`` is None) this is

    .. math:: \mathrm{softmax}(x)_j = \frac{e^{c x_j}}{\sum_k e^{c x_k}}

    Parameters
    ----------
    x : array_like
        Logits. float32 and float64 keep their dtype; bool and integer
        inputs are computed in float64. float16 and the ``ml_dtypes``
        formats of :data:`stable_softmax.formats.FORMATS` stored in one or
        two bytes (bfloat16, float8_e4m3fn, float8_e5m2, float8_e4m3fnuz,
        float6/float4) keep their dtype: by default each element is widened
        exactly to float32, the float32 kernel of ``method`` runs, and each
        result is rounded once to nearest even into the format (overflow as
        ml_dtypes converts: inf, or NaN in float8_e4m3fn, which has no inf).
        Complex, object and string inputs raise ``TypeError``.
    axis : int, tuple of ints or None, optional
        Axes that form one distribution (all axes when None). Default -1.
    method : {"shifted", "naive", "lse", "online", "accurate"}, optional
        ``"shifted"`` computes ``exp(c (x_j - max)) / sum``: no overflow,
        relative error about ``(n + 2 + 2 c (max - min)) u`` (Blanchard,
        Higham & Higham 2021). ``"lse"`` computes ``exp(c x_j - lse(x))``,
        division-free, with an extra error of about ``|lse(x)| u``, NaN once
        ``c max(x)`` overflows. ``"online"`` finds the maximum and the
        normaliser in one blocked pass (Milakov & Gimelshein 2018): the
        shifted bound plus about 2u. ``"accurate"`` is within 1 ULP of the
        correctly rounded result (float64 arithmetic for float32,
        double-double for float64; about 2-4x the time of ``"shifted"``).
        ``"naive"`` computes ``exp(c x_j) / sum exp(c x_k)`` unguarded: NaN
        once ``c max(x)`` exceeds ln(max float) (88.72 in float32, 709.78
        in float64). ``u`` is the unit roundoff of the dtype.
    beta : float, optional
        Inverse temperature, finite and > 0. Default 1.
    base : float, optional
        Base ``a`` > 1 of the exponential; None means e. ``base=a`` equals
        ``beta=ln(a)``. The scale ``beta * ln(a)`` is rounded once to the
        dtype of ``x`` (``"accurate"`` keeps it as a double-double).
    out : ndarray, optional
        Where to write the result: the shape of ``x`` and the result dtype.
        May be ``x`` itself (in place). ``x`` is never written otherwise.
    where : array_like of bool, optional
        Broadcastable to ``x``. Entries where it is False act as ``-inf``
        whatever their value: 0 in the result (an attention mask). A
        ``numpy.ma`` masked array's mask is used the same way (combined with
        ``where``); the result is a plain ndarray.
    compute : str, optional
        The arithmetic: ``"float32"`` (the default for narrow formats),
        ``"float64"`` (native kernels: ``x`` converted once, the result
        rounded once into the dtype of ``x``), or a simulated format name
        (``"float16"``, ``"bfloat16"``, ``"float8_e4m3fn"``, ...) in which
        every subtract, scale, exp, log, log1p and divide is rounded
        correctly to that format
        (:func:`stable_softmax.lowprec.pipeline.simulate`, storage = the
        dtype of ``x``; methods ``naive``, ``shifted``, ``lse``, ``online``
        and, for log_softmax and logsumexp, ``log1p``; ``accurate`` has no
        simulated form). A compute format narrower than ``x`` is allowed:
        ``x`` is then rounded once into it. None: float32 for narrow
        formats, the dtype of ``x`` otherwise (the package's usual kernels).
    accumulate : str, optional
        Format of the sums in a simulated pipeline (default: ``compute``),
        e.g. ``compute="bfloat16", accumulate="float32"``. With a native
        ``compute`` it must be omitted or equal to it.
    rounding : {"nearest", "stochastic"}, optional
        Rounding of the simulated operations: to nearest even (default) or
        stochastic (unbiased: up with probability equal to the distance from
        the value below, in ULPs). The final rounding into the dtype of
        ``x`` is always to nearest.
    seed : int, optional
        Seed of stochastic rounding (required for it, refused otherwise):
        the same seed gives the same bits.

    Returns
    -------
    ndarray
        Values in [0, 1] summing to 1 along ``axis``, same shape and dtype
        as ``x`` (float64 for integer and bool inputs).
    """
    return _elementwise(
        "softmax", x, axis, method, beta, base, out, where, compute, accumulate, rounding, seed
    )


def log_softmax(
    x: ArrayLike,
    axis: Axis = -1,
    *,
    method: str = DEFAULT_METHOD["log_softmax"],
    beta: float = 1.0,
    base: float | None = None,
    out: np.ndarray | None = None,
    where: ArrayLike | None = None,
    compute: str | None = None,
    accumulate: str | None = None,
    rounding: str = "nearest",
    seed: int | None = None,
) -> np.ndarray:
    r"""Natural log of :func:`softmax`: ``c x_j - ln sum_k exp(c x_k)``.

    ``c = beta * ln(base)``; the logarithm is natural whatever the base.

    Parameters
    ----------
    x, axis, beta, base, out, compute, accumulate, rounding, seed
        As in :func:`softmax`.
    where : array_like of bool, optional
        As in :func:`softmax`: excluded entries give ``-inf``.
    method : {"shifted", "naive", "lse", "online", "log1p", "accurate"}, optional
        ``"shifted"``: ``c (x_j - m) - ln sum exp(c (x_k - m))``, ``m`` the
        maximum; absolute error about ``(|c (x_j - m)| + n) u``, so the
        largest element of a row with one dominant logit comes out as 0
        where its true value is a tiny negative number. ``"lse"``:
        ``c x_j - lse(x)``, which cancels when both are large (error about
        ``|lse(x)| u``). ``"online"``: the shifted formula with ``m`` and the
        sum from one blocked pass. ``"log1p"``: ``c (x_j - m) - (ln k +
        log1p(s / k))``, ``k`` the number of maxima and ``s`` the sum of the
        other terms: as shifted, and a dominant logit gets ``-log1p(s)``
        (relative error about ``u``) instead of 0. ``"accurate"``: within 1
        ULP of the correctly rounded result, the dominant logit included.
        ``"naive"``: unshifted, overflows like softmax.

    Returns
    -------
    ndarray
        Values <= 0, same shape as ``x``.
    """
    return _elementwise(
        "log_softmax", x, axis, method, beta, base, out, where, compute, accumulate, rounding, seed
    )


def logsumexp(
    x: ArrayLike,
    axis: Axis = -1,
    *,
    method: str = DEFAULT_METHOD["logsumexp"],
    beta: float = 1.0,
    base: float | None = None,
    keepdims: bool = False,
    b: ArrayLike | None = None,
    return_sign: bool = False,
    where: ArrayLike | None = None,
    compute: str | None = None,
    accumulate: str | None = None,
    rounding: str = "nearest",
    seed: int | None = None,
) -> np.ndarray | np.floating | tuple[np.ndarray | np.floating, np.ndarray | np.floating]:
    r"""``ln sum_k b_k exp(c x_k)`` along ``axis``, ``c = beta * ln(base)``, ``b_k = 1`` by default.

    Parameters
    ----------
    x, axis, beta, base, where, compute, accumulate, rounding, seed
        As in :func:`softmax` (excluded entries drop out). An empty slice
        gives ``-inf`` (NaN in float8_e4m3fn, which has no inf). ``b`` is
        not available with a simulated ``compute``.
    method : {"log1p", "naive", "shifted", "accurate"}, optional
        ``"shifted"``: ``c m + ln sum exp(c (x_k - m))``, absolute error
        about ``(|c m| + n) u``; a sum ``1 + s`` with ``s < u`` gives
        ``c m`` (``[0, -40]`` gives 0). ``"log1p"`` (default): ``c m + ln k + log1p(s / k)``
        with ``k`` the number of maxima and ``s`` the sum of the other terms
        (Blanchard, Higham & Higham 2021), which keeps the digits of a small
        ``s``. ``"accurate"``: within 1 ULP of the correctly rounded result.
        ``"naive"``: ``ln sum exp(c x_k)``, ``inf`` once ``c max(x)``
        exceeds ln(max float).
    keepdims : bool, optional
        Keep the reduced axes with length 1.
    b : array_like, optional
        Weights, broadcastable to ``x`` and rounded to the dtype of the
        computation; they may be negative. A zero weight drops its term,
        whatever ``x_k`` is (``scipy.special.logsumexp``'s rules; the
        special values are listed in the README). Every method takes them:
        ``"log1p"`` and ``"accurate"`` write the total as ``B (1 + R / B)``,
        ``B`` the weights of the maxima; ``"accurate"`` is within 1 ULP while
        ``sum |b_k e_k| / |sum b_k e_k|`` stays below 2^8. Runs on one thread.
    return_sign : bool, optional
        Return ``(ln |total|, sign)``, sign 1, -1, 0 (for an exact 0 total,
        whose log is ``-inf``) or NaN. Without it a negative total gives NaN.

    Returns
    -------
    ndarray or numpy scalar, or a pair of them
        The reduced array (a numpy scalar when every axis is reduced and
        ``keepdims`` is False), in the dtype of the computation; with
        ``return_sign``, ``(value, sign)`` of that shape.
    """
    x, mask_keep = split_masked(x)
    arr = as_float_array(x, narrow=True)
    if (compute, accumulate, rounding, seed) != _DEFAULT_ARITH or arr.itemsize < 4:
        ar = _lowprec.resolve(arr.dtype, compute, accumulate, rounding, seed)
        return _lowprec.logsumexp(
            arr, mask_keep, axis, method, beta, base, keepdims, b, return_sign, where, ar
        )
    check_method("logsumexp", method)
    c = _scale(method, beta, base, arr.dtype)
    keep = keep_mask(mask_keep, where, arr.shape)
    axes = normalize_axis(axis, arr.ndim)
    layout = Rows.of(arr.shape, axes)
    if b is None:
        result = np.empty(layout.rows, dtype=arr.dtype)
        _run("logsumexp", method, layout.rows_of(exclude(arr, keep)), result, c)
        sign = sign_of(result) if return_sign else None
    else:
        weights = check_weights(b, arr.shape, arr.dtype)
        result, sign = weighted_logsumexp(arr, weights, keep, layout, method, c)
        if not return_sign:
            result[sign < 0] = np.nan  # the log of a negative total, as scipy.special
    result, sign = (_reduced(a, layout, axes, keepdims) for a in (result, sign))
    return (result, sign) if return_sign else result


def _reduced(flat: np.ndarray | None, layout: Rows, axes: tuple[int, ...], keepdims: bool):
    """One value per row laid out as the reduced shape (a numpy scalar when 0-d)."""
    if flat is None:
        return None
    result = flat.reshape(layout.kept_shape)
    if keepdims:
        result = np.expand_dims(result, axes)
    return result[()] if result.ndim == 0 else result


for _function in (softmax, log_softmax, logsumexp):
    _function.__doc__ += _SEMANTICS
