"""The softmax calculus: hardmax, cross-entropy and its gradient, the Jacobian,
vector-Jacobian products and the inverse. Validate, lay out as rows, call a
kernel of :mod:`stable_softmax.kernels.calculus`, lay back.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._validate import Rows, as_float_array, normalize_axis, scale_factor
from ._validate_calculus import (
    check_nonnegative,
    check_reduction,
    check_same_shape,
    class_axis,
    cross_entropy_labels,
    row_offsets,
)
from .kernels import calculus as k

Axis = int | tuple[int, ...] | None


def _rowwise(kernel, arrays: tuple[np.ndarray, ...], axis: Axis, *extra) -> np.ndarray:
    """Run a row kernel ``kernel(*rows, out, *extra)`` on same-shaped ``arrays``."""
    layout = Rows.of(arrays[0].shape, normalize_axis(axis, arrays[0].ndim))
    flat = np.empty((layout.rows, layout.n), dtype=arrays[0].dtype)
    kernel(*(layout.rows_of(a) for a in arrays), flat, *extra)
    return layout.restore(flat)


def _pair(first, second, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two same-shaped float arrays in their common dtype (float32 only if both are)."""
    a = as_float_array(first, names[0])
    b = as_float_array(second, names[1])
    check_same_shape(names[1], b, a.shape, names[0])
    dtype = np.result_type(a, b)
    return a.astype(dtype, copy=False), b.astype(dtype, copy=False)


def _cross_entropy_inputs(logits, labels, axis, beta, base):
    """Validated logits, scale ``c``, ``(rows, n)`` layout and labels of the cross-entropies."""
    arr = as_float_array(logits, "logits")
    ax = class_axis(axis, arr.ndim, "logits")
    c = scale_factor(beta, base, arr.dtype)
    layout = Rows.of(arr.shape, (ax,))
    kind, target = cross_entropy_labels(labels, arr.shape, ax, arr.dtype, layout)
    return arr, c, layout, kind, target


def hardmax(x: ArrayLike, axis: Axis = -1) -> np.ndarray:
    r"""The limit of softmax as ``beta -> inf``: ``1/k`` on each of ``k`` tied maxima.

    .. math:: \mathrm{hardmax}(x)_j = [x_j = \max x] / \#\{k : x_k = \max x\}

    Parameters
    ----------
    x : array_like
        Logits; dtypes as in :func:`softmax`.
    axis : int, tuple of ints or None, optional
        Axes that form one distribution (all axes when None). Default -1.

    Returns
    -------
    ndarray
        The shape and dtype of ``x``. ``1/k`` is correctly rounded to the dtype
        and ``softmax(x, beta=b)`` equals it exactly once ``b`` times the gap to
        the second largest value exceeds about 104 (float32) or 745 (float64).

    Notes
    -----
    A NaN in a slice gives all NaN. ``+inf`` entries are the maxima when
    present (softmax is NaN there, but its limit along finite logits tending
    to ``+inf`` is this). An all ``-inf`` slice has every entry as a maximum
    and gives ``1/n`` each (softmax gives NaN). Empty slices stay empty.
    """
    arr = as_float_array(x)
    return _rowwise(k.hardmax, (arr,), axis)


def cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    axis: int = -1,
    *,
    beta: float = 1.0,
    base: float | None = None,
    reduction: str = "none",
) -> np.ndarray | np.floating:
    r"""Cross-entropy ``-log softmax(logits)[label]`` (natural logarithm).

    With ``c = beta * ln(base)``, for class indices ``y``

    .. math:: \mathrm{CE} = -\log p_y = \ln \sum_k e^{c x_k} - c x_y,

    and for probability targets ``q`` (soft labels) ``-sum_k q_k log p_k``.

    Parameters
    ----------
    logits : array_like
        Logits; dtypes as in :func:`softmax` (the result has their dtype).
    labels : array_like
        Either class indices, of any integer dtype and the shape of ``logits``
        without ``axis``, each in ``[0, n)`` (negative indices are refused,
        not wrapped); or probability targets of the shape of ``logits``:
        finite, ``>= 0`` and summing to 1 along ``axis`` within ``sqrt(eps)``
        of their dtype (1.5e-8 for float64, integer and bool labels; 3.5e-4 for
        float32). Probability targets are cast to the dtype of the logits.
    axis : int, optional
        The class axis. Default -1.
    beta, base : float, optional
        As in :func:`softmax`.
    reduction : {"none", "mean", "sum"}, optional
        ``"none"`` returns one value per distribution (the shape of ``labels``
        for class indices); ``"mean"`` and ``"sum"`` return a scalar. They sum
        in float64 with Neumaier's compensated summation and round once to the
        dtype; the mean of no values is NaN.

    Returns
    -------
    ndarray or numpy scalar
        Values ``>= 0`` in the dtype of the logits (a numpy scalar when the
        result is 0-d).

    Notes
    -----
    Computed from the max-shifted :func:`log_softmax`, so it equals
    ``-log_softmax(logits)[label]`` bit for bit and is finite wherever the
    true value is: logits ``[0, -800]`` with label 1 give 800, where
    ``-log(softmax)`` gives ``inf``. Special values follow the log_softmax
    table: a NaN in a slice gives NaN; a label at a ``-inf`` logit among
    finite ones gives ``+inf`` (the true value); with ``+inf`` logits the result
    is NaN at a ``+inf`` label and ``+inf`` at any other; an all ``-inf`` slice
    gives NaN. Soft labels count ``q_k = 0`` as contributing nothing (also at a
    ``-inf`` logit) and sum the terms of a slice by compensated summation in
    the dtype.
    """
    reduction = check_reduction(reduction)
    arr, c, layout, kind, target = _cross_entropy_inputs(logits, labels, axis, beta, base)
    result = np.empty(layout.rows, dtype=arr.dtype)
    kernel = k.cross_entropy if kind == "hard" else k.cross_entropy_soft
    kernel(layout.rows_of(arr), target, result, c)
    if reduction == "none":
        result = result.reshape(layout.kept_shape)
        return result[()] if result.ndim == 0 else result
    total = k.compensated_sum(result)
    if reduction == "mean":
        total = total / result.size if result.size else np.nan
    return arr.dtype.type(total)


def cross_entropy_grad(
    logits: ArrayLike,
    labels: ArrayLike,
    axis: int = -1,
    *,
    beta: float = 1.0,
    base: float | None = None,
) -> np.ndarray:
    r"""Gradient of :func:`cross_entropy` (``reduction="none"``) with respect to the logits.

    .. math:: \frac{\partial\, \mathrm{CE}}{\partial x_j} = c\, (p_j - [j = y]),
              \qquad c = \beta \ln(\mathrm{base}),

    and ``c (p_j - q_j)`` for probability targets ``q``. Base ``a`` multiplies
    the base-e gradient by ``ln a``: the reason base e is the natural choice.

    Parameters
    ----------
    logits, labels, axis, beta, base
        As in :func:`cross_entropy`.

    Returns
    -------
    ndarray
        The shape and dtype of ``logits``; each distribution's gradient sums
        to 0 up to rounding.

    Notes
    -----
    ``p`` is the max-shifted :func:`softmax`. For class indices with
    ``p_y >= 1/2`` the entry at the label is computed as
    ``-c sum_{k != y} p_k`` instead of ``c (p_y - 1)``, so it keeps its
    relative accuracy when ``p_y`` is close to 1 (where ``p_y - 1`` rounds to
    0 or a multiple of ``u``); below 1/2, ``1 - p_y`` has no cancellation. Soft labels give
    ``c (p_j - q_j)``, accurate to about ``n u p_j`` absolute. The gradient is
    NaN wherever softmax is (NaN or ``+inf`` in the slice, all ``-inf``).
    A label at a ``-inf`` logit gives ``-c`` there: finite, although the
    cross-entropy is ``+inf``.
    """
    arr, c, layout, kind, target = _cross_entropy_inputs(logits, labels, axis, beta, base)
    flat = np.empty((layout.rows, layout.n), dtype=arr.dtype)
    kernel = k.cross_entropy_grad if kind == "hard" else k.cross_entropy_soft_grad
    kernel(layout.rows_of(arr), target, flat, c)
    return layout.restore(flat)


def softmax_jacobian(p: ArrayLike, axis: int = -1) -> np.ndarray:
    r"""Jacobian of softmax at the point where it equals ``p``: ``diag(p) - p p^T``.

    .. math:: J_{ij} = \frac{\partial p_i}{\partial x_j} = p_i ([i = j] - p_j)

    (for ``beta = 1``; multiply by ``c = beta ln(base)`` otherwise).

    Parameters
    ----------
    p : array_like
        Softmax outputs (any real values are accepted: the formula is applied).
    axis : int, optional
        The class axis. Default -1.

    Returns
    -------
    ndarray
        Shape ``kept + (n, n)``: the other axes of ``p`` in their order, then
        the ``n x n`` matrix of the slice along ``axis`` (for ``axis=-1`` that
        is ``p.shape + (n,)``). Exactly symmetric; the diagonal ``p_i (1 - p_i)``
        is positive and the off-diagonal ``-p_i p_j`` negative for ``0 < p < 1``,
        and the rows sum to ``p_i (1 - sum p)``, 0 up to rounding.
    """
    arr = as_float_array(p, "p")
    ax = class_axis(axis, arr.ndim, "p")
    layout = Rows.of(arr.shape, (ax,))
    out = np.empty((layout.rows, layout.n, layout.n), dtype=arr.dtype)
    k.softmax_jacobian(layout.rows_of(arr), out)
    return out.reshape(layout.kept_shape + (layout.n, layout.n))


def softmax_vjp(p: ArrayLike, g: ArrayLike, axis: Axis = -1) -> np.ndarray:
    r"""Vector-Jacobian product of softmax: ``J^T g = p * (g - <g, p>)``.

    The backward pass of ``p = softmax(x)``: given ``g = dL/dp`` it returns
    ``dL/dx`` (for ``beta = 1``; multiply by ``c = beta ln(base)`` otherwise)
    without forming the ``n x n`` Jacobian.

    Parameters
    ----------
    p : array_like
        Softmax outputs.
    g : array_like
        Upstream gradient, the shape of ``p``.
    axis : int, tuple of ints or None, optional
        Axes of one distribution, as in :func:`softmax`. Default -1.

    Returns
    -------
    ndarray
        The shape of ``p``; float32 only when both inputs are float32.

    Notes
    -----
    ``<g, p>`` is accumulated by Neumaier's compensated summation of the
    rounded products in the dtype, so its error is about ``u |<g, p>|`` plus
    ``u sum |g_k p_k|``. Entries with ``p_k = 0`` contribute nothing to
    ``<g, p>`` (even where ``g_k`` is infinite); other non-finite values
    propagate by IEEE arithmetic.
    """
    parr, garr = _pair(p, g, ("p", "g"))
    return _rowwise(k.softmax_vjp, (parr, garr), axis)


def log_softmax_vjp(logp: ArrayLike, g: ArrayLike, axis: Axis = -1) -> np.ndarray:
    r"""Vector-Jacobian product of log_softmax: ``g - exp(logp) * sum(g)``.

    The backward pass of ``logp = log_softmax(x)`` (for ``beta = 1``; multiply
    by ``c = beta ln(base)`` otherwise).

    Parameters
    ----------
    logp : array_like
        log_softmax outputs.
    g : array_like
        Upstream gradient, the shape of ``logp``.
    axis : int, tuple of ints or None, optional
        Axes of one distribution. Default -1.

    Returns
    -------
    ndarray
        The shape of ``logp``; float32 only when both inputs are float32.

    Notes
    -----
    ``sum(g)`` uses Neumaier's compensated summation in the dtype.
    ``logp = -inf`` contributes ``g`` unchanged; non-finite values otherwise
    propagate by IEEE arithmetic.
    """
    larr, garr = _pair(logp, g, ("logp", "g"))
    return _rowwise(k.log_softmax_vjp, (larr, garr), axis)


def inverse_softmax(p: ArrayLike, axis: Axis = -1, *, C: ArrayLike = 0.0) -> np.ndarray:
    r"""Logits whose softmax is ``p``: ``z = ln p + C``.

    Softmax is invariant under adding one constant to a slice, so the logits
    are recovered up to that constant ``C``: ``inverse_softmax(softmax(z),
    C=logsumexp(z))`` gives ``z`` back (to rounding), and
    ``softmax(inverse_softmax(w)) = w / sum(w)`` for any weights ``w >= 0``.

    Parameters
    ----------
    p : array_like
        Probabilities or unnormalised weights, ``>= 0``; dtypes as in
        :func:`softmax`.
    axis : int, tuple of ints or None, optional
        Axes of one distribution. Default -1.
    C : float or array_like, optional
        The constant: a finite real number, or one per slice as an array of the
        shape of ``p`` without ``axis`` (what :func:`logsumexp` returns) or with
        length-1 ``axis`` (``keepdims=True``). Cast to the dtype of ``p``.

    Returns
    -------
    ndarray
        The shape and dtype of ``p``. ``p = 0`` gives ``-inf``, ``p = +inf``
        ``+inf``, NaN stays NaN.

    Raises
    ------
    ValueError
        For a negative entry of ``p`` (named in the message); ``np.log``
        would return NaN there.
    """
    arr = as_float_array(p, "p")
    check_nonnegative("p", arr)
    axes = normalize_axis(axis, arr.ndim)
    offsets = row_offsets(C, arr.shape, axes, Rows.of(arr.shape, axes), arr.dtype)
    return _rowwise(k.inverse_softmax, (arr,), axes, offsets)
