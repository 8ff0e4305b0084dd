"""Correctly rounded weighted logsumexp (``b=``, ``return_sign=``) and ``where=`` masks.

For one slice, with every input taken as the exact binary number it is and
``c = beta ln(base)``::

    T = sum_k b_k exp(c x_k),   logsumexp = ln |T|,   sign = sign(T)

``ln |T|`` is rounded once to the target format (``-inf`` with sign 0 when
``T`` is exactly 0). Terms with ``b_k = 0`` or excluded by ``where=False``
are dropped whatever ``x_k`` is, as in ``scipy.special.logsumexp``.

Exact part: equal logits are grouped and their weights added exactly, so a
total that cancels exactly (``x = [1, 1]``, ``b = [1, -1]``) is recognised as
0 without any approximation; groups whose weights cancel are dropped. With
``m`` the largest remaining logit, ``W`` its (nonzero, exact) weight and
``R = sum_{x_j < m} w_j exp(c (x_j - m))`` (shifts exact):

    ln |T| = c m + ln |W| + ln |1 + q|,   q = R / W.

Approximate part, in the Ziv loop style of :mod:`._exact`: at working
precision ``wp`` (``u = 2^-wp``) each ``exp`` has relative error at most
``4u`` (mpmath's guard bits; the same model as :mod:`._exact`), an inexact
``c`` adds ``|t_j| 2^eta``, each product and sum rounds by ``u``. The
absolute error of ``R`` is bounded by ``sum_j |w_j e_j| (6u + |t_j| 2^eta
+ n u)``, that of ``ln |1 + q|`` by ``err(q) / |1 + q|`` plus its own
rounding (``log1p`` keeps the relative accuracy of a tiny ``q``), and the
result is accepted only when its whole error interval rounds to one float;
otherwise the precision doubles. A total that cancels to 0 without being
exactly 0 needs ever more precision: past ``MAX_PRECISION`` bits the
sum is checked with exact rational arithmetic when that is possible (an
integer base and integer exponents ``beta (x_j - m)``), else
:class:`PrecisionLimitError` is raised, never a guess.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
from mpmath import libmp

from ._exact import MAX_PRECISION, PrecisionLimitError, Scale, _plus_small
from ._rounding import Format, round_mpf, round_within

__all__ = ["exclude", "logsumexp", "weighted_row"]


def exclude(x, where):
    """``x`` with the entries where ``where`` is False set to ``-inf`` (``x`` itself if None).

    Excluded entries act as ``-inf``: softmax 0, log_softmax ``-inf``, and
    logsumexp drops them.
    """
    if where is None:
        return x
    arr = np.asarray(x)
    keep = np.asarray(where)
    if keep.dtype != np.bool_:
        raise TypeError(f"where has dtype {keep.dtype}; pass a boolean array")
    keep = np.broadcast_to(keep, arr.shape)
    if arr.dtype.kind in "iub":
        arr = arr.astype(np.float64)
    return np.where(keep, arr, arr.dtype.type(-np.inf))


def _lg(value: mpmath.mpf) -> int:
    """An integer ``k`` with ``|value| < 2^k`` (``value`` nonzero)."""
    man, exp = mpmath.frexp(value)
    return int(exp)


def _special(x: np.ndarray, b: np.ndarray) -> tuple[float, float] | None:
    """The result of a slice with a NaN or an infinite term (``scipy.special``), else None."""
    if np.isnan(x).any() or np.isnan(b).any():
        return math.nan, math.nan
    infinite = (x == math.inf) | (np.isinf(b) & (x > -math.inf))
    if not infinite.any():
        return None
    signs = np.sign(b[infinite])
    if (signs > 0).all():
        return math.inf, 1.0
    if (signs < 0).all():
        return math.inf, -1.0
    return math.nan, math.nan


def _exact_zero(groups, m, scale: Scale) -> bool:
    """Whether ``sum_j w_j base^(beta (x_j - m))`` is exactly 0, when rational arithmetic can
    tell (integer base, integer exponents); False otherwise.
    """
    if scale.base is None:
        return False  # e^t_j for distinct rational t_j are linearly independent
    base = mpmath.mp.make_mpf(scale.base)
    beta = mpmath.mp.make_mpf(scale.beta)
    if base != int(base):
        return False
    total = Fraction(0)
    for xv, w in groups:
        e = beta * (mpmath.mpf(xv) - mpmath.mpf(m))
        if e != int(e):
            return False
        total += Fraction(float(w)) * Fraction(int(base)) ** int(e)
    return total == 0


def weighted_row(x: np.ndarray, b: np.ndarray, scale: Scale, fmt: Format) -> tuple[float, float]:
    """``(ln |sum_k b_k exp(c x_k)|, sign)`` of one slice, the value correctly rounded to ``fmt``.

    ``x`` and ``b`` are 1-D float64 arrays of the same length holding the
    exact input values.
    """
    keep = b != 0  # NaN weights are kept: they make the slice NaN
    x, b = x[keep], b[keep]
    special = _special(x, b)
    if special is not None:
        return special
    finite = x > -math.inf
    x, b = x[finite], b[finite]
    groups: dict[float, tuple] = {}
    for xv, bv in zip(x.tolist(), b.tolist()):
        # exact sums of binary floats (libmp without a precision: no rounding)
        groups[xv] = libmp.mpf_add(groups.get(xv, libmp.fzero), libmp.from_float(bv))
    items = sorted((xv, mpmath.mp.make_mpf(w)) for xv, w in groups.items() if w[1])
    if not items:
        return -math.inf, 0.0
    m, big_w = items[-1]
    others = items[:-1]
    shifts = [libmp.mpf_sub(libmp.from_float(xv), libmp.from_float(m)) for xv, _ in others]
    n_bits = max(len(items), 1).bit_length()
    w = fmt.precision + 32
    while True:
        wp = w + 12 + n_bits
        if wp > MAX_PRECISION:
            if _exact_zero(items, m, scale):
                return -math.inf, 0.0
            raise PrecisionLimitError(
                f"no stable rounding within {MAX_PRECISION} bits for a weighted logsumexp; "
                "the weighted sum is probably exactly 0 or a rounding midpoint"
            )
        result = _attempt(wp, m, big_w, others, shifts, scale, fmt)
        if result is not None:
            return result
        w *= 2


def _attempt(wp, m, big_w, others, shifts, scale: Scale, fmt: Format):
    """One Ziv step at ``wp`` bits: ``(value, sign)`` or None when the rounding is not yet sure."""
    with mpmath.workprec(wp):
        c_raw, eta = scale.c(wp)
        u = mpmath.ldexp(1, -wp)
        rest = mpmath.mpf(0)
        err = mpmath.mpf(0)  # absolute error bound of rest
        for (_, wj), d in zip(others, shifts):
            t_raw = scale.times(c_raw, d, wp)
            t = mpmath.mp.make_mpf(t_raw)
            term = wj * mpmath.exp(t)
            rel = 6 * u + len(others) * u
            if eta is not None:
                rel += abs(t) * mpmath.ldexp(1, eta)
            rest += term
            err += abs(term) * rel
        err *= 2  # margin for the roundings of the error arithmetic itself
        q = rest / big_w
        err_q = err / abs(big_w) + abs(q) * u
        one_q = 1 + q
        if abs(one_q) <= 2 * err_q:
            return None  # the total may be 0 or change sign: more precision
        sign = (1.0 if big_w > 0 else -1.0) * (1.0 if one_q > 0 else -1.0)
        if one_q > 0 and abs(q) < 0.5:
            l1 = mpmath.log1p(q)
            err_l1 = 2 * err_q + 4 * u * abs(l1)
        else:
            l1 = mpmath.log(abs(one_q))
            err_l1 = (err_q + u * abs(one_q)) / abs(one_q) * 2 + 4 * u * abs(l1)
        lw = mpmath.log(abs(big_w))
        err_lw = 4 * u * abs(lw)
        log_part = lw + l1
        err_log = err_l1 + err_lw + u * abs(log_part)
        cm_raw = scale.times(c_raw, libmp.from_float(m), wp)
        cm = mpmath.mp.make_mpf(cm_raw)
        err_cm = abs(cm) * mpmath.ldexp(1, eta) if eta is not None and cm != 0 else 0
        if err_log == 0 and err_cm == 0:
            return round_mpf((cm + log_part)._mpf_, fmt), sign  # exact: W = +-1, no others
        if eta is None:
            total, stand_in = _plus_small(cm_raw, log_part._mpf_)  # c m may be a midpoint
            if stand_in:
                return round_mpf(total, fmt), sign
            total = mpmath.mp.make_mpf(total)
        else:
            total = cm + log_part
        bound = err_log + err_cm + u * abs(total)
        if bound == 0:
            return round_mpf(total._mpf_, fmt), sign
        value = round_within(total._mpf_, _lg(bound * 2), fmt, relative=False)
        return None if value is None else (value, sign)


def logsumexp(x, axis, *, b, return_sign, beta, base, dtype, keepdims):
    """``reference.logsumexp`` with weights ``b`` (broadcast to ``x``) and/or ``return_sign``.

    ``x`` has had ``where=`` applied. Rows are cached like the unweighted ones.
    """
    from ._api import _axes, _scale, _target_and_values, _to_rows, cached_row

    values, fmt = _target_and_values(x, dtype)
    if b is None:
        weights = np.ones(values.shape)
    else:
        weights = np.asarray(b)
        if weights.dtype.kind not in "biuf":
            raise TypeError(f"b has dtype {weights.dtype}; pass real weights")
        weights = np.broadcast_to(weights, values.shape).astype(np.float64)
    scale, scale_key = _scale(beta, base)
    axes = _axes(axis, values.ndim)
    rows, _, lead, _ = _to_rows(values, axes)
    wrows, _, _, _ = _to_rows(weights, axes)
    out = np.empty(rows.shape[0], dtype=fmt.dtype)
    sign = np.empty(rows.shape[0], dtype=fmt.dtype)
    for i, (row, wrow) in enumerate(zip(rows, wrows)):
        parts = {
            "function": "logsumexp_weighted",
            "input_dtype": row.dtype.str,
            "n": int(row.size),
            "beta_base": scale_key,
            "target": fmt.dtype.str,
        }
        xw = np.asarray(row, dtype=np.float64)
        data = xw.astype("<f8").tobytes() + np.asarray(wrow, dtype="<f8").tobytes()
        out[i], sign[i] = cached_row(
            parts,
            data,
            fmt.dtype,
            2,
            lambda xw=xw, wrow=wrow: weighted_row(xw, np.asarray(wrow, float), scale, fmt),
        )
    if keepdims:
        shape = tuple(1 if i in axes else s for i, s in enumerate(values.shape))
    else:
        shape = lead
    out, sign = out.reshape(shape), sign.reshape(shape)
    if not return_sign:
        out[sign < 0] = np.nan  # the log of a negative total, as scipy.special
        return out[()] if out.ndim == 0 else out
    return (out[()], sign[()]) if out.ndim == 0 else (out, sign)
