"""Array loops of the simulated operations (Numba), one per rounding mode.

Binary operations: ``op`` is 0 (add), 1 (sub), 2 (mul) or 3 (div). The
float64 result is rounded once to the format: correct by Figueroa's theorem
(see :mod:`stable_softmax.lowprec`). Stochastic rounding needs the exact
value: ``a + b = s + e`` (TwoSum), ``a * b`` is exact in float64 (two
significands of at most 26 bits), and ``a / b`` gets the sign and size of
its remainder from :func:`~._core.div_residual_sign`.
"""

from __future__ import annotations

import math

from ..kernels._options import kernel
from ._core import div_residual_sign, ordinal_of, round_rn, round_sr, two_sum

__all__ = ["binary_rn", "binary_sr", "round_array_rn", "round_array_sr", "unary_rn", "unary_sr"]


@kernel(inline=True)
def _apply(op, a, b):
    if op == 0:
        return a + b
    if op == 1:
        return a - b
    if op == 2:
        return a * b
    return a / b


@kernel
def round_array_rn(x, out, spec):
    for i in range(x.size):
        out[i] = round_rn(x[i], spec)


@kernel
def round_array_sr(x, u, out, spec):
    for i in range(x.size):
        out[i] = round_sr(x[i], 0.0, u[i], spec)


@kernel
def binary_rn(op, a, b, out, spec):
    for i in range(out.size):
        out[i] = round_rn(_apply(op, a[i], b[i]), spec)


@kernel
def binary_sr(op, a, b, u, out, spec):
    for i in range(out.size):
        x, y = a[i], b[i]
        if op == 0 or op == 1:
            s, e = two_sum(x, y if op == 0 else -y)
            if not math.isfinite(s):
                e = 0.0
        elif op == 2:
            s, e = x * y, 0.0
        else:
            s = x / y
            e = div_residual_sign(x, y, s) if math.isfinite(s) and s != 0.0 else 0.0
            if e != e:
                e = 0.0
        out[i] = round_sr(s, e, u[i], spec)


@kernel(inline=True)
def _special(op, x):
    # Non-finite inputs, where the float64 function is exact.
    if op == 0:
        return math.exp(x)
    if op == 1:
        return math.log(x) if x >= 0.0 else math.nan
    return math.log1p(x) if x >= -1.0 else math.nan


@kernel
def unary_rn(op, x, table, out, spec):
    half = table.size // 2
    for i in range(x.size):
        v = x[i]
        if not math.isfinite(v):
            out[i] = round_rn(_special(op, v), spec)
        else:
            k = ordinal_of(v, spec)
            out[i] = table[k + half] if math.copysign(1.0, v) < 0.0 else table[k]


@kernel
def unary_sr(op, x, u, out, spec):
    for i in range(x.size):
        v = x[i]
        if op == 0:
            y = math.exp(v)
        elif op == 1:
            y = math.log(v) if v >= 0.0 else math.nan
        else:
            y = math.log1p(v) if v >= -1.0 else math.nan
        out[i] = round_sr(y, 0.0, u[i], spec)
