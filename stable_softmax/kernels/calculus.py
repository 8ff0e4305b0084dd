r"""Kernels for the softmax calculus: hardmax, cross-entropy and its gradient,
the Jacobian, vector-Jacobian products and the inverse.

Notation as in the rest of the package: a 1-D row ``x``, a scale
``c = beta * ln(base)`` cast to the dtype of ``x``, ``p = softmax(x)`` and
``log p = log_softmax(x)`` (natural logarithm). Every kernel computes in the
dtype of its float arguments, float32 or float64. ``*_row`` kernels work on
one row; the 2-D drivers loop over the rows of a C-contiguous ``(rows, n)``
array. Nothing is validated here: :mod:`stable_softmax._calculus` does that.

Formulas and their floating-point form
--------------------------------------
* ``hardmax``: ``1/k`` on each of the ``k`` entries equal to the maximum, 0
  elsewhere. ``1/k`` is the float64 quotient rounded to the dtype, which is
  the correctly rounded ``1/k`` (float64: ``k < 2**53`` is exact; float32: a
  double rounding needs 29 equal bits after bit 24 of ``1/k``, which the
  remainders ``2**j mod k`` of a ``k < 2**29`` never give).
* ``cross_entropy``: ``-log_softmax(x)[y]`` through
  :func:`~stable_softmax.kernels.log_softmax.log_softmax_shifted_row`, so it
  is finite wherever the true value is (no ``log`` of an underflowed ``p``).
  Soft labels ``q``: ``-sum_k q_k log p_k`` over the ``k`` with ``q_k != 0``
  (``0 * log 0`` counts as 0), compensated (Neumaier) summation in the dtype.
* ``cross_entropy_grad``: ``c (p - onehot(y))``. For ``p_y >= 1/2`` the label
  entry is ``-c sum_{k != y} p_k`` rather than ``c (p_y - 1)``: a sum of
  non-negative terms keeps its digits when ``p_y`` is close to 1, where
  ``p_y - 1`` would be 0 or a multiple of ``u``. Below 1/2, ``1 - p_y`` is
  at least 1/2 and accurate (exactly 1 when ``p_y = 0``). Soft labels:
  ``c (p_k - q_k)``.
* ``softmax_jacobian``: ``J = diag(p) - p p^T`` with the diagonal formed as
  ``p_i (1 - p_i)`` (no cancellation; ``1 - p_i`` is exact for ``p_i >= 1/2``)
  and ``J_ij = -(p_i p_j)`` off it, so ``J`` is exactly symmetric.
* ``softmax_vjp``: ``p * (g - <g, p>)``; ``log_softmax_vjp``:
  ``g - exp(log p) * sum(g)``. The dot product and the sum use compensated
  (Neumaier) summation in the dtype.
* ``inverse_softmax``: ``ln p + C``; ``p = 0`` gives ``-inf``, a negative
  ``p`` NaN (IEEE ``log``).

Special values follow the kernels these are built on: a row whose
log_softmax/softmax is NaN gives NaN, and IEEE arithmetic of the formulas
everywhere else (see each kernel).
"""

from __future__ import annotations

import math

import numpy as np

from ._options import kernel
from ._special import nan_max
from .log_softmax import log_softmax_shifted_row
from .softmax import softmax_shifted_row

# ---------------------------------------------------------------------------
# compensated summation
# ---------------------------------------------------------------------------


@kernel
def _neumaier_add(s, comp, v):
    """One step of Neumaier's summation: returns the new ``(s, comp)``."""
    t = s + v
    if abs(s) >= abs(v):
        comp += (s - t) + v
    else:
        comp += (v - t) + s
    return t, comp


@kernel
def _neumaier_result(s, comp):
    """``s + comp``, or ``s`` when ``s`` is inf/NaN (``comp`` is NaN then)."""
    return s + comp if math.isfinite(s) else s


@kernel
def _sum(values, zero):
    """``sum(values)`` by Neumaier's summation in the type of ``zero`` (a 0 of float32/float64).

    Error about ``2 u |sum| + n u**2 sum |v|``; the plain (inf or NaN) sum
    when an element or the sum is not finite.
    """
    s = zero
    comp = zero
    for i in range(values.size):
        s, comp = _neumaier_add(s, comp, values[i] + zero)
    return _neumaier_result(s, comp)


@kernel
def _dot(weights, values):
    """``sum_i weights_i values_i`` by Neumaier's summation of the rounded
    products, in the dtype; terms with ``weights_i == 0`` are skipped, so
    ``0 * inf`` counts as 0.
    """
    s = values.dtype.type(0.0)
    comp = values.dtype.type(0.0)
    for i in range(values.size):
        if weights[i] != 0:
            s, comp = _neumaier_add(s, comp, weights[i] * values[i])
    return _neumaier_result(s, comp)


@kernel
def compensated_sum(values):
    """Sum of a 1-D float32/float64 array by Neumaier's summation in float64."""
    return _sum(values, 0.0)


# ---------------------------------------------------------------------------
# hardmax
# ---------------------------------------------------------------------------


@kernel
def hardmax_row(x, out):
    """``1/k`` at each of the ``k`` maxima of ``x``, 0 elsewhere.

    A NaN anywhere gives all NaN. ``+inf`` entries are the maxima when present;
    in an all ``-inf`` row every entry is a maximum (``1/n`` each).
    """
    m = nan_max(x)
    if m != m:
        for i in range(x.size):
            out[i] = m
        return
    k = 0
    for i in range(x.size):
        if x[i] == m:
            k += 1
    share = x.dtype.type(1.0 / k) if k > 0 else x.dtype.type(0.0)
    zero = x.dtype.type(0.0)
    for i in range(x.size):
        out[i] = share if x[i] == m else zero


@kernel
def hardmax(x, out):
    """Row-wise :func:`hardmax_row` over a ``(rows, n)`` array."""
    for r in range(x.shape[0]):
        hardmax_row(x[r], out[r])


# ---------------------------------------------------------------------------
# cross-entropy
# ---------------------------------------------------------------------------


@kernel
def _cross_entropy_into(x, label, c, work):
    log_softmax_shifted_row(x, work, c)
    return x.dtype.type(0.0) - work[label]  # 0 - 0 is +0, not -0


@kernel
def _cross_entropy_soft_into(x, q, c, work):
    log_softmax_shifted_row(x, work, c)
    return x.dtype.type(0.0) - _dot(q, work)


@kernel
def cross_entropy_row(x, label, c):
    """``-log_softmax(x)[label]``, ``label`` an integer in ``[0, x.size)``.

    Finite whenever the true value is: ``[0, -800]`` with label 1 gives 800 in
    float64. NaN in the row gives NaN, a label at a ``-inf`` logit among finite
    ones ``+inf``; with ``+inf`` logits it is NaN at a ``+inf`` label and
    ``+inf`` elsewhere (the log_softmax table, negated).
    """
    return _cross_entropy_into(x, label, c, np.empty_like(x))


@kernel
def cross_entropy_soft_row(x, q, c):
    """``-sum_k q_k log_softmax(x)_k``, terms with ``q_k == 0`` skipped."""
    return _cross_entropy_soft_into(x, q, c, np.empty_like(x))


@kernel
def cross_entropy(x, labels, out, c):
    """``out[r] = cross_entropy_row(x[r], labels[r], c)`` for a ``(rows, n)`` ``x``."""
    work = np.empty(x.shape[1], x.dtype)
    for r in range(x.shape[0]):
        out[r] = _cross_entropy_into(x[r], labels[r], c, work)


@kernel
def cross_entropy_soft(x, q, out, c):
    """``out[r] = cross_entropy_soft_row(x[r], q[r], c)``; ``q`` has the shape of ``x``."""
    work = np.empty(x.shape[1], x.dtype)
    for r in range(x.shape[0]):
        out[r] = _cross_entropy_soft_into(x[r], q[r], c, work)


@kernel
def cross_entropy_grad_row(x, label, out, c):
    """``c (softmax(x) - onehot(label))`` into ``out``.

    The label entry is ``-c sum_{k != label} p_k`` when ``p_label >= 1/2``,
    ``-c (1 - p_label)`` otherwise. Wherever softmax is NaN
    (NaN or ``+inf`` in the row, all ``-inf``) the gradient is NaN.
    """
    softmax_shifted_row(x, out, c)
    c = x.dtype.type(c)
    one = x.dtype.type(1.0)
    rest = x.dtype.type(0.0)
    for i in range(x.size):
        if i != label:
            rest += out[i]
            out[i] = c * out[i]
    if not out[label] >= 0.5:
        # p_y < 1/2: 1 - p_y has no cancellation (exact for p_y = 0); a NaN
        # p_y (softmax undefined) also takes this branch and stays NaN.
        rest = one - out[label]
    out[label] = -(c * rest)


@kernel
def cross_entropy_soft_grad_row(x, q, out, c):
    """``c (softmax(x) - q)`` into ``out``."""
    softmax_shifted_row(x, out, c)
    c = x.dtype.type(c)
    for i in range(x.size):
        out[i] = c * (out[i] - q[i])


@kernel
def cross_entropy_grad(x, labels, out, c):
    """Row-wise :func:`cross_entropy_grad_row` over a ``(rows, n)`` array."""
    for r in range(x.shape[0]):
        cross_entropy_grad_row(x[r], labels[r], out[r], c)


@kernel
def cross_entropy_soft_grad(x, q, out, c):
    """Row-wise :func:`cross_entropy_soft_grad_row` over a ``(rows, n)`` array."""
    for r in range(x.shape[0]):
        cross_entropy_soft_grad_row(x[r], q[r], out[r], c)


# ---------------------------------------------------------------------------
# Jacobian and vector-Jacobian products
# ---------------------------------------------------------------------------


@kernel
def softmax_jacobian_row(p, out):
    """``out = diag(p) - p p^T`` for a 1-D ``p`` and an ``(n, n)`` ``out``."""
    one = p.dtype.type(1.0)
    for i in range(p.size):
        for j in range(p.size):
            out[i, j] = -(p[i] * p[j])
        out[i, i] = p[i] * (one - p[i])


@kernel
def softmax_jacobian(p, out):
    """``out[r] = diag(p[r]) - p[r] p[r]^T``; ``out`` has shape ``(rows, n, n)``."""
    for r in range(p.shape[0]):
        softmax_jacobian_row(p[r], out[r])


@kernel
def softmax_vjp_row(p, g, out):
    """``J^T g = p * (g - <g, p>)`` (``J`` is symmetric), compensated dot product.

    Entries with ``p_k = 0`` contribute nothing to ``<g, p>``, even for an
    infinite ``g_k``.
    """
    dot = _dot(p, g)
    for i in range(p.size):
        out[i] = p[i] * (g[i] - dot)


@kernel
def softmax_vjp(p, g, out):
    """Row-wise :func:`softmax_vjp_row` over ``(rows, n)`` arrays."""
    for r in range(p.shape[0]):
        softmax_vjp_row(p[r], g[r], out[r])


@kernel
def log_softmax_vjp_row(logp, g, out):
    """``g - exp(logp) * sum(g)``, ``sum(g)`` by compensated summation."""
    total = _sum(g, g.dtype.type(0.0))
    for i in range(logp.size):
        out[i] = g[i] - math.exp(logp[i]) * total


@kernel
def log_softmax_vjp(logp, g, out):
    """Row-wise :func:`log_softmax_vjp_row` over ``(rows, n)`` arrays."""
    for r in range(logp.shape[0]):
        log_softmax_vjp_row(logp[r], g[r], out[r])


# ---------------------------------------------------------------------------
# inverse
# ---------------------------------------------------------------------------


@kernel
def inverse_softmax_row(p, out, offset):
    """``out = ln p + offset``: logits whose softmax is ``p / sum(p)``."""
    offset = p.dtype.type(offset)
    for i in range(p.size):
        out[i] = math.log(p[i]) + offset


@kernel
def inverse_softmax(p, out, offsets):
    """``out[r] = ln p[r] + offsets[r]`` for a ``(rows, n)`` ``p``."""
    for r in range(p.shape[0]):
        inverse_softmax_row(p[r], out[r], offsets[r])
