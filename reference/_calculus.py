"""Correctly rounded cross-entropy and its gradient.

Same conventions as the rest of :mod:`reference`: ``c = beta * ln(base)``,
every input float (logits, probability targets, ``beta``, ``base``) is taken
as the exact binary number it represents, and each result is the exact value
rounded once to nearest-even in the target format, by Ziv's strategy on the
row quantities of :mod:`reference._exact` (``m`` the maximum, ``d_j = x_j - m``
exact, ``t_j = c d_j``, ``S = ln sum_k exp(t_k)``).

* Class index ``y``: ``CE = S - t_y = -log_softmax_y``. Rounding to nearest is
  symmetric, so this is the negated correctly rounded log_softmax entry.
* Probability targets ``q``: ``CE = -sum_k q_k log p_k = Q S + c |D|`` with
  ``Q = sum_k q_k`` and ``D = sum_k q_k d_k <= 0`` formed exactly: two
  non-negative terms, so nothing cancels and only ``S`` and ``c`` carry error.
* Gradient: ``c (p_j - w_j)``, ``w`` the one-hot vector or ``q``. At a unique
  maximum that is the label, ``1 - p_y = R / Z`` (``R`` the sum over the other
  terms, ``Z = 1 + R``) is used, so a gradient far below ``u`` is still
  rounded correctly; everywhere else ``p_j - w_j`` is formed at the working
  precision with an absolute error bound, which also settles exact zeros (the
  interval shrinks below half the least subnormal).

Special values follow :mod:`stable_softmax`: the cross-entropy is the
log_softmax table negated at the label (soft labels: terms with ``q_k = 0``
count as 0, a ``q_k > 0`` on a ``-inf`` logit gives ``+inf``, on a ``+inf``
logit NaN); the gradient is NaN for the whole slice wherever softmax is NaN
(NaN or ``+inf`` in the slice, all ``-inf``) and ``-c w_j`` at ``-inf`` logits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from mpmath import libmp

from . import _api
from ._exact import _lg, _mx, _Row, _ziv
from ._rounding import round_within

__all__ = ["cross_entropy", "cross_entropy_grad"]

#: Part of the cache keys of this module's rows; bump when a result could change.
CALCULUS_VERSION = "1"

_FZERO = libmp.fzero
_FONE = libmp.fone


def _prepare(logits, labels, axis, beta, base, dtype):
    # The label rules are those of stable_softmax (imported here, not at
    # module level, so that `import reference` does not load the kernels).
    from stable_softmax._validate import Rows
    from stable_softmax._validate_calculus import class_axis, cross_entropy_labels

    values, fmt = _api._target_and_values(logits, dtype)
    if fmt.name not in ("float32", "float64"):  # the narrow formats are not covered here
        raise TypeError(
            f"the cross-entropy reference computes in float32 or float64, not {fmt.name}; "
            "pass logits.astype(np.float32) or dtype=np.float32"
        )
    ax = class_axis(axis, values.ndim, "logits")
    scale, scale_key = _api._scale(beta, base)
    layout = Rows.of(values.shape, (ax,))
    kind, target = cross_entropy_labels(labels, values.shape, ax, np.dtype(np.float64), layout)
    return layout.rows_of(values), fmt, scale, scale_key, layout, kind, target


def _cached(
    function: str, row: np.ndarray, target, scale_key, fmt, count: int, compute
) -> np.ndarray:
    parts = {
        "function": function,
        "version": CALCULUS_VERSION,
        "input_dtype": row.dtype.str,
        "n": int(row.size),
        "beta_base": scale_key,
        "target": fmt.cache_tag,
    }
    data = row.astype(row.dtype.newbyteorder("<")).tobytes()
    data += np.asarray(target, dtype="<f8").tobytes()
    return _api.cached_row(parts, data, fmt.dtype, count, compute)


def cross_entropy(
    logits: Any,
    labels: Any,
    axis: int = -1,
    *,
    beta: float = 1.0,
    base: float | None = None,
    dtype: Any = None,
) -> np.ndarray | np.floating:
    """Correctly rounded cross-entropy ``-log softmax(logits)[label]`` (natural log).

    Parameters
    ----------
    logits : array_like
        float32, float64, integer or boolean values (integers and booleans are
        converted to float64).
    labels : array_like
        Class indices (integer dtype, the shape of ``logits`` without
        ``axis``, in ``[0, n)``) or probability targets (the shape of
        ``logits``, finite, ``>= 0``, summing to 1 within ``sqrt(eps)`` of
        their dtype), as in :func:`stable_softmax.cross_entropy`. Targets are
        taken exactly as given, not rounded to the logits' dtype.
    axis : int, optional
        The class axis.
    beta, base, dtype
        As in :func:`reference.softmax`.

    Returns
    -------
    numpy.ndarray or numpy scalar
        One value per distribution (the shape of ``logits`` without
        ``axis``); a numpy scalar when that is 0-d. No reductions: a rounded
        mean of rounded values is not correctly rounded; sum these with
        ``math.fsum`` instead.
    """
    rows, fmt, scale, scale_key, layout, kind, target = _prepare(
        logits, labels, axis, beta, base, dtype
    )
    out = np.empty(layout.rows, dtype=fmt.dtype)
    for i, row in enumerate(rows):
        if kind == "hard":
            lsm = _api._compute_row("log_softmax", row, scale, scale_key, fmt)
            out[i] = 0.0 - lsm[target[i]]  # +0, never -0
        else:
            q = target[i]
            out[i] = _cached(
                "cross_entropy_soft",
                row,
                q,
                scale_key,
                fmt,
                1,
                lambda row=row, q=q: _soft_row(row, q, scale, fmt),  # called at once
            )[0]
    out = out.reshape(layout.kept_shape)
    return out[()] if out.ndim == 0 else out


def cross_entropy_grad(
    logits: Any,
    labels: Any,
    axis: int = -1,
    *,
    beta: float = 1.0,
    base: float | None = None,
    dtype: Any = None,
) -> np.ndarray:
    """Correctly rounded ``c (softmax(logits) - onehot(label))`` (or ``- q``).

    Parameters are those of :func:`cross_entropy`. Returns an array of the
    shape of ``logits`` in the target format.
    """
    rows, fmt, scale, scale_key, layout, kind, target = _prepare(
        logits, labels, axis, beta, base, dtype
    )
    out = np.empty(rows.shape, dtype=fmt.dtype)
    for i, row in enumerate(rows):
        w = np.zeros(row.size) if kind == "hard" else target[i]
        if kind == "hard":
            w[target[i]] = 1.0
        out[i] = _cached(
            f"cross_entropy_grad_{kind}",
            row,
            w,
            scale_key,
            fmt,
            row.size,
            lambda row=row, w=w: _grad_row(row, w, kind == "hard", scale, fmt),  # called at once
        )
    return layout.restore(out)


# ---------------------------------------------------------------------------
# soft labels
# ---------------------------------------------------------------------------


def _soft_row(row: np.ndarray, q: np.ndarray, scale, fmt) -> float:
    vals = np.asarray(row, dtype=np.float64)
    used = q != 0
    if np.isnan(vals).any():
        return math.nan
    pos_inf = vals == math.inf
    if pos_inf.any():
        return math.nan if used[pos_inf].any() else math.inf
    finite = vals > -math.inf
    if not finite.any():
        return math.nan
    if used[~finite].any():
        return math.inf
    r = _Row(vals[finite], scale, fmt)
    qs = [libmp.from_float(float(v)) for v in q[finite]]
    total_q = _FZERO
    total_d = _FZERO
    for qk, dk in zip(qs, r.d):
        total_q = libmp.mpf_add(total_q, qk)  # exact
        total_d = libmp.mpf_add(total_d, libmp.mpf_mul(qk, dk))  # exact, <= 0
    minus_d = libmp.mpf_neg(total_d)

    def task(row_: _Row, lev: dict) -> float | None:
        wp = lev["wp"]
        c, eta = scale.c(wp)
        a = libmp.mpf_mul(total_q, lev["s"], wp, "n")
        b = scale.times(c, minus_d, wp)
        total = libmp.mpf_add(a, b, wp, "n")
        err = _mx(
            None if lev["ds"] is None else _lg(total_q) + lev["ds"],
            None if _lg(a) is None else _lg(a) - wp,
            None if eta is None or _lg(b) is None else _lg(b) + eta,
            None if _lg(total) is None else _lg(total) - wp,
        )
        return round_within(total, err, fmt, relative=False)

    return _ziv(r, {"ce": task})["ce"]


# ---------------------------------------------------------------------------
# gradient
# ---------------------------------------------------------------------------


def _softmax_entry(r: _Row, lev: dict, j: int):
    """``(p_j, log2 relative error bound)`` at the level's precision, or None."""
    wp = lev["wp"]
    if r.is_max[j]:
        v, dv = libmp.mpf_neg(lev["s"]), lev["ds"]
        if dv is None:
            return _FONE, None  # S = 0: a lone maximum, p = 1
    else:
        t = lev["t"][j]
        v = libmp.mpf_sub(t, lev["s"], wp, "n")
        dv = _mx(None if lev["eta"] is None else _lg(t) + lev["eta"], lev["ds"], _lg(v) - wp)
    if dv > -2:
        return None
    return libmp.mpf_exp(v, wp, "n"), max(dv + 1, 2 - wp) + 1


def _delta(r: _Row, lev: dict, j: int, w: float, hard: bool):
    """``(p_j - w, log2 absolute error bound or None)``, or None to retry."""
    wp = lev["wp"]
    w_mpf = libmp.from_float(w)
    if hard and w == 1.0 and r.is_max[j] and r.k == 1:
        if not lev["r"][1]:
            return _FZERO, None  # a lone entry: p = 1 exactly
        # 1 - p_y = R / Z, both with relative error below 2**z_lg
        value = libmp.mpf_neg(libmp.mpf_div(lev["r"], lev["z"], wp, "n"))
        return value, _lg(value) + _mx(lev["z_lg"], lev["z_lg"], -wp)
    entry = _softmax_entry(r, lev, j)
    if entry is None:
        return None
    p, rel = entry
    value = libmp.mpf_sub(p, w_mpf, wp, "n")
    err = _mx(
        None if rel is None else _lg(p) + rel,
        None if _lg(value) is None else _lg(value) - wp,
    )
    return value, err


def _scaled_task(scale, fmt, delta):
    """A Ziv task rounding ``c * delta(level)`` from ``delta``'s value and bound."""

    def task(row: _Row, lev: dict) -> float | None:
        found = delta(row, lev)
        if found is None:
            return None
        value, err = found
        wp = lev["wp"]
        c, eta = scale.c(wp)
        g = scale.times(c, value, wp)
        bound = _mx(
            None if err is None else _lg(c) + err + 1,
            None if eta is None or _lg(g) is None else _lg(g) + eta,
        )
        return round_within(g, bound, fmt, relative=False)

    return task


def _grad_row(row: np.ndarray, w: np.ndarray, hard: bool, scale, fmt) -> np.ndarray:
    vals = np.asarray(row, dtype=np.float64)
    out = np.empty(vals.size, dtype=fmt.dtype)
    finite = vals > -math.inf
    if np.isnan(vals).any() or (vals == math.inf).any() or not finite.any():
        out[:] = np.nan
        return out
    idx = np.flatnonzero(finite)
    r = _Row(vals[idx], scale, fmt)
    tasks = {}
    for j in np.flatnonzero(~finite):  # p_j = 0 exactly: c * (0 - w_j)
        tasks[("inf", j)] = _scaled_task(
            scale, fmt, lambda row_, lev, wj=float(w[j]): (libmp.from_float(-wj), None)
        )
    # c p_j < c exp(t_j) rounds to 0 once t_j < -(cut + ln c), c bounded above.
    cut = libmp.from_float(fmt.ln_underflow_bound + max(0.0, math.log(_c_upper(scale))))
    for jj, j in enumerate(idx):
        wj = float(w[j])
        if wj == 0.0 and not r.is_max[jj] and libmp.mpf_gt(r.t_lower[jj], cut):
            out[j] = 0.0
            continue
        tasks[j] = _scaled_task(
            scale, fmt, lambda row_, lev, jj=jj, wj=wj: _delta(row_, lev, jj, wj, hard)
        )
    for key, value in _ziv(r, tasks).items():
        out[key[1] if isinstance(key, tuple) else key] = value
    return out


def _c_upper(scale) -> float:
    c, _ = scale.c(64)
    return libmp.to_float(c) * (1 + 2.0**-40)
