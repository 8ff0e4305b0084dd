"""Correctly rounded exp, log and log1p of every value of a narrow format, as tables.

Why tables. Double rounding through float64 is provably harmless for
``+ - * /`` (Figueroa's theorem, see :mod:`stable_softmax.lowprec`) but not
for ``exp``/``log``/``log1p``: float64 libm results are not correctly
rounded, and even a correctly rounded float64 value can sit exactly on a
midpoint of the narrow format. Yet a format of at most 16 bits has at most
65536 inputs, so each unary operation is a table indexed by the input's
position on the grid (:func:`~stable_softmax.lowprec._core.ordinal_of`):
exact by construction and one load per call.

Building a table (milliseconds, once per process and format): ``y =
numpy.exp(x)`` (or log, log1p) in float64 for every finite ``x`` of the
format; ``y`` is accepted when both ends of ``[y - 2**-44 |y|, y + 2**-44
|y|]`` round to the same format value (NumPy's float64 exp/log/log1p are
within a few float64 ulps, ``2**-52 |y|``; ``2**-44`` leaves a factor 256 of
margin). Otherwise, and for float64-subnormal ``y`` where a relative bound
means nothing, the value comes from the mpmath path: the function at
increasing precision until :func:`reference._rounding.round_within` decides
(Ziv's strategy, as in the reference). ``scripts/check_lowprec.py`` compares
every entry of every table with :func:`reference.exp` and an independent
mpmath evaluation of log and log1p.
"""

from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
from mpmath import libmp

from ..formats import Format
from ._core import spec_of
from ._ops import round_array_rn

__all__ = ["UNARY", "grid_values", "table"]

#: The unary operations with tables, with their float64 and mpmath evaluations.
UNARY = ("exp", "log", "log1p")

_NUMPY = {"exp": np.exp, "log": np.log, "log1p": np.log1p}
_RADIUS = 2.0**-44


def grid_values(fmt: Format) -> np.ndarray:
    """Every non-negative finite value of ``fmt`` in increasing order (index = ordinal)."""
    p, emin = fmt.precision, fmt.emin
    half = 1 << (p - 1)
    top = (fmt.emax - emin + 1) * half + (fmt.largest_significand - half)
    o = np.arange(top + 1, dtype=np.int64)
    binade = o // half  # 0 for subnormals
    sig = np.where(binade == 0, o, o % half + half)
    exp = np.where(binade == 0, fmt.qmin, binade + emin - 1 - (p - 1))
    return np.ldexp(sig.astype(np.float64), exp.astype(np.int32))


def _round_many(y: np.ndarray, spec: tuple) -> np.ndarray:
    out = np.empty_like(y)
    round_array_rn(y, out, spec)
    return out


def _mp_value(op: str, x: float, fmt: Format) -> float:
    from reference._rounding import round_within

    raw = libmp.from_float(x)
    w = fmt.precision + 40
    while w <= 20000:
        if op == "exp":
            y = libmp.mpf_exp(raw, w, "n")
        elif op == "log":
            y = libmp.mpf_log(raw, w, "n")
        else:
            with mpmath.workprec(w):
                y = mpmath.log1p(mpmath.mp.make_mpf(raw))._mpf_
        # mpmath's exp/log are within a few ulps at w bits: allow 2**(3-w).
        v = round_within(y, 3 - w, fmt)
        if v is not None:
            return v
        w *= 2
    raise ArithmeticError(f"no stable rounding of {op}({x!r}) in {fmt.name}")


@functools.cache
def table(op: str, fmt: Format) -> np.ndarray:
    """``op`` of every finite value of ``fmt``, correctly rounded: ``[+x..., -x...]``.

    Entry ``k`` is ``op(+v_k)`` and entry ``N + k`` is ``op(-v_k)``, where
    ``v_k`` is the value of ordinal ``k`` (:func:`grid_values`, ``N`` of them);
    ``op(-0)`` is at ``N``. Values are float64, exactly representable in
    ``fmt`` (or its overflow value).
    """
    if op not in _NUMPY:
        raise ValueError(f"no table for {op!r}; the unary operations are {UNARY}")
    spec = spec_of(fmt)
    v = grid_values(fmt)
    x = np.concatenate([v, -v])
    x[v.size] = -0.0
    with np.errstate(all="ignore"):
        y = _NUMPY[op](x)
        lo = _round_many(y - np.abs(y) * _RADIUS, spec)
        hi = _round_many(y + np.abs(y) * _RADIUS, spec)
        out = _round_many(y, spec)
    same = (lo == hi) | (np.isnan(lo) & np.isnan(hi))
    # log1p(-0) = -0 and log of negatives (NaN) are exact; float64 subnormal
    # results get no relative bound.
    sub = (y != 0) & (np.abs(y) < 2.0**-1000)
    for i in np.flatnonzero(~same | sub).tolist():
        xi = float(x[i])
        if math.isnan(float(y[i])) or abs(float(y[i])) == math.inf:
            continue  # log of a negative (NaN), log(0) or log1p(-1) (-inf): exact
        out[i] = _mp_value(op, xi, fmt)
    return out
