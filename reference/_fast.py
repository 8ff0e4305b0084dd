"""The fast first step of the reference: rounding the evaluated rows, and its entry points.

:mod:`reference._fast_row` evaluates each row in double-double with a proven
error bound per element (the error budget is written there); this module
rounds each element into the target format when its whole error interval
rounds to one value (:func:`reference._dd.decide`) and hands the other rows,
whole, to the mpmath path.
"""

from __future__ import annotations

import math

import numpy as np

from stable_softmax.kernels._options import kernel

from ._dd import ABS_FLOOR, EXP_MAX, EXP_REL, EXP_ZERO_BELOW, decide, exp_dd
from ._fast_row import _EXACT, KINDS, LOG_SOFTMAX, LOGSUMEXP, SOFTMAX, _evaluate


@kernel
def _decide_rows(kind, yh, yl, y3, err, sc, good, undecided, out, p, emin, emax):
    """Round the evaluated rows; a row with one undecided element is marked not good.

    ``undecided[i]`` counts the elements of row ``i`` whose error interval
    straddles a rounding boundary (the row then goes, whole, to mpmath: its
    sum is needed at high precision anyway).

    Signs of zeros: softmax values are positive, log_softmax values negative
    (an exact 0 comes with ``err = 0``), a shifted logsumexp is ``S > 0``.
    """
    width = 1 if kind == LOGSUMEXP else yh.shape[1]
    for i in range(yh.shape[0]):
        if not good[i]:
            continue
        for j in range(width):
            if err[i, j] == _EXACT:
                out[i, j] = yh[i, j]
                continue
            e = sc[i, j]  # the value is exact * 2^e: round in the format scaled by 2^e
            if kind == SOFTMAX:
                hint = 1.0
            elif kind == LOG_SOFTMAX:
                hint = -1.0
            else:
                hint = 1.0 if e else 0.0
            ok, value = decide(yh[i, j], yl[i, j], y3[i, j], err[i, j], hint, p, emin + e, emax + e)
            if not ok:
                good[i] = False
                undecided[i] += 1
            elif good[i]:
                out[i, j] = math.ldexp(value, -e) if e else value


@kernel
def _exp_values(x, out, ok, p, emin, emax):
    for i in range(x.size):
        v = x[i]
        ok[i] = True
        if v != v or v == math.inf:
            out[i] = v
        elif v < EXP_ZERO_BELOW:
            out[i] = 0.0  # exp(v) < 2^-1075: +0
        elif v > EXP_MAX:
            ok[i] = False
        else:
            yh, yl = exp_dd(v, 0.0, 0)
            good, value = decide(yh, yl, 0.0, yh * EXP_REL * 1.001 + ABS_FLOOR, 1.0, p, emin, emax)
            ok[i] = good
            out[i] = value


def scale_dd(scale) -> tuple[float, float] | None:
    """``c = beta ln(base)`` as ``(ch, cl)`` to ``2^-105`` relative, or None if not finite."""
    from mpmath import libmp

    c = (
        scale.beta
        if scale.base is None
        else libmp.mpf_mul(scale.beta, libmp.mpf_log(scale.base, 300, "n"), 300, "n")
    )
    ch = libmp.to_float(c)
    if not math.isfinite(ch) or ch == 0.0:
        return None
    cl = libmp.to_float(libmp.mpf_sub(c, libmp.from_float(ch), 300, "n"))
    return ch, cl


def evaluate(kind: str, rows: np.ndarray, c: tuple[float, float], fmt):
    """The first step's raw values: ``(yh, yl, y3, err, sc, good)`` for 2-D float64 ``rows``.

    ``err`` bounds ``|yh + yl - exact 2^sc|`` (``-1``: ``yh`` is exact).
    Where ``y3 != 0`` (then ``err = 0``), ``yh + yl`` is exact and the exact
    value differs from it by ``s``, of the sign of ``y3`` with
    ``0 < |s| <= |y3|``, too small to cross a rounding boundary of
    ``fmt``.  ``good[i]`` is False where row ``i`` was refused before rounding.
    """
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    yh = np.zeros(rows.shape)
    yl = np.zeros(rows.shape)
    y3 = np.zeros(rows.shape)
    err = np.zeros(rows.shape)
    sc = np.zeros(rows.shape, dtype=np.int64)
    good = np.zeros(rows.shape[0], dtype=np.bool_)
    if rows.shape[1]:
        _evaluate(KINDS[kind], rows, c[0], c[1], yh, yl, y3, err, sc, good, fmt.precision, fmt.qmin)
    return yh, yl, y3, err, sc, good


def supported(fmt) -> bool:
    """Whether the first step serves target ``fmt``.

    float32, float64, and the narrow formats with ``p <= 24`` whose overflow
    is inf or, for ``fn`` formats (float8_e4m3fn), NaN: :func:`reference._dd.decide`
    rounds in any format ``(p, emin, emax)`` with signed zeros, and returns
    inf for values at or past ``2^(emax+1)``; the conversion to the target
    dtype then applies the format's overflow rule (an ``fn`` format's values
    rounding above ``largest`` become NaN there; the midpoint itself is a
    rounding boundary, which the test refuses). Checked bit for bit against
    the mpmath path in ``tests/test_reference_fast_narrow.py``. Formats without
    ``-0`` (fnuz) or without NaN (saturating) go to mpmath.
    """
    if fmt.name in ("float32", "float64"):
        return True
    return fmt.precision <= 24 and fmt.nan in ("ieee", "top")


def fast_rows(kind: str, x: np.ndarray, scale, fmt):
    """Correctly rounded ``kind`` of each row where the first step decides it.

    Returns ``(out, good, undecided)``: ``out`` of ``fmt.dtype`` (one
    column for logsumexp) is valid in the rows where ``good`` is True;
    ``undecided`` is the number of elements whose error interval straddled a
    rounding boundary (rows refused before rounding, e.g. NaN rows or rows
    with an overflowing intermediate, are not evaluated and not counted).
    """
    nr = x.shape[0]
    width = 1 if kind == "logsumexp" else x.shape[1]
    c = scale_dd(scale)
    if c is None or x.shape[1] == 0 or not supported(fmt):
        return np.empty((nr, width), fmt.dtype), np.zeros(nr, dtype=np.bool_), 0
    yh, yl, y3, err, sc, good = evaluate(kind, x, c, fmt)
    out = np.zeros((nr, width))
    undecided = np.zeros(nr, dtype=np.int64)
    _decide_rows(
        KINDS[kind], yh, yl, y3, err, sc, good, undecided, out, fmt.precision, fmt.emin, fmt.emax
    )
    return _to_format(out, fmt), good, int(undecided.sum())


def _to_format(out: np.ndarray, fmt) -> np.ndarray:
    """Values rounded on the format's grid (inf past it) into ``fmt.dtype``, overflow by its rule.

    For formats whose overflow is NaN, the NaN has the sign of the value, as
    in the mpmath path and ml_dtypes' conversions (``-NaN`` below ``-largest``).
    """
    if fmt.overflow == "nan":
        out = np.where(np.abs(out) > fmt.largest, np.copysign(np.nan, out), out)
    with np.errstate(over="ignore"):
        return out.astype(fmt.dtype)


def exp_values(flat: np.ndarray, fmt):
    """``(out, ok)``: correctly rounded exp where ``ok``; the rest needs mpmath."""
    x = np.ascontiguousarray(flat, dtype=np.float64)
    out = np.zeros(x.size)
    ok = np.zeros(x.size, dtype=np.bool_)
    if supported(fmt):
        _exp_values(x, out, ok, fmt.precision, fmt.emin, fmt.emax)
    return _to_format(out, fmt), ok
