r"""Exact overflow and underflow thresholds in a low-precision storage format, by bisection.

Once per format (:func:`format_thresholds`), the edges of ``exp`` itself:
the largest value ``x`` of the format with ``RN(e^x)`` finite (not the
format's overflow value) and the smallest with ``RN(e^x) > 0``, found by
bisection on the format's grid with the correctly rounded
``reference.exp(x, dtype=format)``, next to theory: ``ln T`` with ``T`` the
overflow threshold (:attr:`~stable_softmax.formats.Format.overflow_threshold`,
``largest + ulp/2``) and ``ln(smallest_subnormal / 2)``, below which
``e^x`` rounds to 0, and ``ln(smallest_normal)``, where the normal range ends.

Hand-worked, float16 (``p = 11``, largest 65504, ``T = 65520``): ``ln 65520 =
11.0901107...``; float16 values in ``[8, 16)`` are spaced ``2^-7``, so the last
``x`` with a finite ``RN(e^x)`` is ``1419 * 2^-7 = 11.0859375`` and the next,
``11.09375``, overflows. Below: ``e^x`` rounds to 0 when ``e^x <= 2^-25`` (half
the smallest subnormal ``2^-24``; the tie goes to the even 0), i.e. ``x <=
-25 ln 2 = -17.3286795...``; in ``[16, 32)`` the spacing is ``2^-6``, so
``-17.328125`` (``-1109 * 2^-6``) still gives ``2^-24`` and ``-17.34375`` gives 0.

Per target, function and method (:func:`target_thresholds`), the probes of
:mod:`.thresholds`: the row ``[t, 0]`` with ``t > 0`` growing (overflow: an
output is not finite) and ``[t, t]`` with ``t < 0`` falling (underflow: an
output is not finite or a softmax output is 0); exact answers are finite and
nonzero throughout, so a failure is the method's. Measured values only: the
theory columns belong to the format.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

import reference

from ..floatbits import first_true, from_ordinal, to_ordinal
from ..formats import Format

__all__ = ["format_thresholds", "target_thresholds"]


def _value(ordinal: int, fmt: Format) -> float:
    return float(from_ordinal(np.array([ordinal]), fmt.dtype).astype(np.float64)[0])


def _top(fmt: Format) -> int:
    """Ordinal of the largest finite value of ``fmt``."""
    return int(to_ordinal(np.array([fmt.largest]).astype(fmt.dtype))[0])


def _exp(values, fmt: Format) -> np.ndarray:
    return np.asarray(reference.exp(np.array(values, dtype=fmt.dtype), dtype=fmt.dtype)).astype(
        np.float64
    )


def format_thresholds(fmt: Format) -> dict:
    """The exact exp edges of ``fmt`` by bisection, with theory (module docstring).

    Keys: ``format``, ``precision``, ``emin``, ``emax``, ``largest``,
    ``overflow_rule``, ``unit_roundoff``; ``exp_overflow_theory`` (``ln T``),
    ``exp_last_finite`` and ``exp_first_overflow`` (format values; for a
    saturating format, whose overflow gives ``largest``: the first ``x`` with
    ``e^x > T`` and the last before it, decided in 200-bit mpmath);
    ``exp_underflow_theory`` (``ln(2^(qmin-1))``), ``exp_last_zero`` and
    ``exp_first_nonzero``; ``normal_theory`` (``ln 2^emin``).
    """
    top = _top(fmt)
    saturating = fmt.overflow == "saturate"

    def overflows(ordinal: int) -> bool:
        if saturating:  # RN(e^x) is largest both below and past T: test e^x > T exactly
            with mpmath.workprec(200):  # ln T is irrational: never equal to a format value
                t = fmt.overflow_threshold
                return bool(mpmath.exp(_value(ordinal, fmt)) * t.denominator > t.numerator)
        return not math.isfinite(_exp([_value(ordinal, fmt)], fmt)[0])

    def nonzero(ordinal: int) -> bool:  # -x falling: e^x still above 0
        return bool(_exp([-_value(ordinal, fmt)], fmt)[0] == 0.0)

    over = first_true(overflows, 0, top)
    zero = first_true(nonzero, 0, top)
    threshold = fmt.overflow_threshold
    return {
        "format": fmt.name,
        "precision": fmt.precision,
        "emin": fmt.emin,
        "emax": fmt.emax,
        "largest": fmt.largest,
        "overflow_rule": fmt.overflow,
        "unit_roundoff": fmt.unit_roundoff,
        "exp_overflow_theory": math.log(threshold.numerator) - math.log(threshold.denominator),
        "exp_first_overflow": None if over is None else _value(over, fmt),
        "exp_last_finite": None if over is None else _value(over - 1, fmt),
        "exp_underflow_theory": (fmt.qmin - 1) * math.log(2.0),
        "exp_last_zero": None if zero is None else -_value(zero, fmt),
        "exp_first_nonzero": None if zero is None else -_value(zero - 1, fmt),
        "normal_theory": fmt.emin * math.log(2.0),
    }


def _fails(target, function: str, method: str, row: list, softmax_zero: bool) -> bool:
    x = np.array([row], dtype=target.format.dtype)
    with np.errstate(all="ignore"):
        out = np.asarray(target.compute_fn(function, method, x, 1.0, None)).astype(np.float64)
    bad = not bool(np.all(np.isfinite(out)))
    return bad or (softmax_zero and function == "softmax" and bool(np.any(out == 0)))


def target_thresholds(target, function: str, wanted=None) -> list[dict]:
    """Measured overflow/underflow edges of each method of ``target`` for ``function``.

    ``wanted``: method names to keep (None: all the target has). Per method:
    ``overflow`` (smallest ``t`` where ``[t, 0]`` fails; None: none up to the
    largest value) with ``overflow_last_ok``, and ``underflow`` (largest ``t``
    where ``[t, t]`` fails) with ``underflow_last_ok``.
    """
    fmt = target.format
    top = _top(fmt)
    rows = []
    for method in target.methods(function):
        if wanted is not None and method not in wanted:
            continue

        def over(o: int, method=method) -> bool:
            return _fails(target, function, method, [_value(o, fmt), 0.0], False)

        def under(o: int, method=method) -> bool:
            t = -_value(o, fmt)
            return _fails(target, function, method, [t, t], True)

        row = {"target": target.name, "function": function, "method": method}
        if over(0) or under(0):
            row.update(error="fails at t = 0: the probes assume it does not")
            rows.append(row)
            continue
        first_over, first_under = first_true(over, 0, top), first_true(under, 0, top)
        row.update(
            overflow=None if first_over is None else _value(first_over, fmt),
            overflow_last_ok=None if first_over is None else _value(first_over - 1, fmt),
            underflow=None if first_under is None else -_value(first_under, fmt),
            underflow_last_ok=None if first_under is None else -_value(first_under - 1, fmt),
            error=None,
        )
        rows.append(row)
    return rows
