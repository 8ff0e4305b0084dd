"""Simulated low-precision arithmetic: every operation correctly rounded to a narrow format.

:class:`Arithmetic` computes ``+ - * /``, ``exp``, ``log`` and ``log1p`` on
values of a format of :data:`stable_softmax.formats.FORMATS` with precision
``p <= 26`` (float16, bfloat16, the float8/float6/float4 formats) and rounds
each result once into that format: to nearest even, or stochastically with a
seed. Subnormals, overflow (``inf``, NaN or saturation, per the format's
rule) and signed zeros are those of the format. Values travel as float64
arrays whose elements are exactly values of the format, so the operations
chain without conversions; :meth:`Arithmetic.to_dtype` converts exactly.

Why float64 intermediates are enough for ``+ - * /`` (round to nearest).
Figueroa (1995, "When is double rounding innocuous?", ACM SIGNUM Newsletter
30(3)): if ``a`` and ``b`` have ``p`` bits and ``a op b`` (op in + - * /) is
first rounded to nearest in a format of ``q >= 2p + 1`` bits and then to
``p`` bits, the result is the correctly rounded one (square root needs
``q >= 2p + 2``); Roux (2014, "Innocuous double rounding of basic arithmetic
operations", J. Formalized Reasoning 7(1)) proved it formally, underflow
included. float64 has ``q = 53``, so ``p <= 26``. The theorem is
about significands; the exponent range is no obstacle here: every
intermediate of these formats (sums up to ``2 * 3.4e38``, products and
quotients between ``2**-266`` and ``2**262`` for bfloat16) is a normal
float64, so the first rounding is a plain ``q``-bit rounding, and the second
into the subnormal range of the narrow format is a rounding to fewer than
``p`` bits, covered by the same theorem. (Products are even exact: ``2p <= 53``.)
``scripts/check_lowprec.py`` confirms it on 10**7 random pairs per operation
and format plus boundary cases.

``exp``, ``log``, ``log1p`` have no such theorem: they are tables of the
correctly rounded value of every input (:mod:`._tables`), checked
exhaustively against the reference by the same script.

Stochastic rounding rounds the exact result ``z`` to the format value above
(``hi``) with probability ``(z - lo) / (hi - lo)`` and to the one below
(``lo``) otherwise, so ``E[result] = z`` (unbiased); representable results
are exact. For ``+ - * /`` the exact ``z`` is known (TwoSum, exact products,
the exact division remainder); for ``exp``/``log``/``log1p`` the float64
libm value stands for ``z`` (relative error about ``2**-52``, so each
probability is off by at most about ``2**(p-52)``). Uniforms come from
``numpy.random.default_rng(seed)``, 53 bits each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..formats import Format, format_of
from . import _ops
from ._core import spec_of
from ._tables import UNARY, table

__all__ = ["Arithmetic", "ROUNDINGS"]

#: Rounding modes of :class:`Arithmetic`.
ROUNDINGS = ("nearest", "stochastic")

_BINARY = {"add": 0, "sub": 1, "mul": 2, "div": 3}
_UNARY = {name: i for i, name in enumerate(UNARY)}


class Arithmetic:
    """Correctly rounded operations in one narrow format.

    Parameters
    ----------
    fmt : str, dtype or Format
        A format of :data:`stable_softmax.formats.FORMATS` with precision at
        most 26 bits, e.g. ``"bfloat16"`` or ``np.float16``.
    rounding : {"nearest", "stochastic"}, optional
        Round to nearest, ties to even (default), or stochastic rounding.
    seed : int, optional
        Seed of the uniforms of stochastic rounding (required for it, so that
        every run can be repeated); ignored for round to nearest.

    Examples
    --------
    >>> import numpy as np
    >>> from stable_softmax.lowprec import Arithmetic
    >>> f16 = Arithmetic("float16")
    >>> f16.exp(np.array([11.0859375, 11.09375]))  # exp overflows past ln 65520
    array([65248.,    inf])
    >>> f16.add(np.array([1.0]), np.array([2.0**-11]))  # a tie: to the even 1.0
    array([1.])
    """

    def __init__(self, fmt: Any, rounding: str = "nearest", seed: int | None = None):
        self.format: Format = format_of(fmt)
        self._spec = spec_of(self.format)
        if rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {ROUNDINGS}; got {rounding!r}")
        if rounding == "stochastic" and seed is None:
            raise ValueError(
                "stochastic rounding needs a seed (an int) so that results can be repeated; "
                "pass seed=0 for example"
            )
        self.rounding = rounding
        self._rng = np.random.default_rng(seed) if rounding == "stochastic" else None

    def __repr__(self) -> str:
        return f"Arithmetic({self.format.name!r}, rounding={self.rounding!r})"

    def _uniforms(self, n: int) -> np.ndarray:
        return self._rng.random(n)

    def values(self, x: Any) -> np.ndarray:
        """``x`` as a float64 array of format values; raises if any is not one.

        Arrays of the format's dtype convert exactly. Other floats must
        already be values of the format (round them first with
        :meth:`round`): silently rounding here would hide a double rounding.
        """
        arr = np.asarray(x)
        if arr.dtype == self.format.dtype:
            return arr.astype(np.float64)
        if arr.dtype.kind not in "fiub" or arr.dtype.itemsize > 8:
            raise TypeError(
                f"expected values of {self.format.name} (or float64 holding them); got {arr.dtype}"
            )
        v = np.asarray(arr, dtype=np.float64)
        r = np.empty_like(v.reshape(-1))
        _ops.round_array_rn(np.ascontiguousarray(v).reshape(-1), r, self._spec)
        ok = (r == v.reshape(-1)) | np.isnan(v.reshape(-1))
        if not ok.all():
            bad = v.reshape(-1)[~ok][0]
            raise ValueError(
                f"{bad!r} is not a {self.format.name} value; round it first with "
                f"Arithmetic({self.format.name!r}).round(x) or pass x.astype({self.format.name})"
            )
        return v

    def round(self, x: Any) -> np.ndarray:
        """Round float values (taken as exact binary numbers) once into the format.

        float16/float32/float64 and integer inputs are exact in float64, so
        this is a single rounding of the given value.
        """
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiub" or arr.dtype.itemsize > 8:
            raise TypeError(f"expected a real float or integer array; got {arr.dtype}")
        if arr.dtype.kind in "iu" and arr.dtype.itemsize == 8:
            raise TypeError("64-bit integers are not exact in float64; pass int32 or floats")
        v = np.ascontiguousarray(arr, dtype=np.float64)
        out = np.empty_like(v)
        if self._rng is None:
            _ops.round_array_rn(v.reshape(-1), out.reshape(-1), self._spec)
        else:
            _ops.round_array_sr(v.reshape(-1), self._uniforms(v.size), out.reshape(-1), self._spec)
        return out

    def to_dtype(self, x: Any) -> np.ndarray:
        """Format values (float64) converted, exactly, to the format's dtype."""
        return self.values(x).astype(self.format.dtype)

    def _binary(self, name: str, a: Any, b: Any) -> np.ndarray:
        a, b = np.broadcast_arrays(self.values(a), self.values(b))
        a, b = np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1)
        out = np.empty(a.size)
        op = _BINARY[name]
        with np.errstate(all="ignore"):
            if self._rng is None:
                _ops.binary_rn(op, a, b, out, self._spec)
            else:
                _ops.binary_sr(op, a, b, self._uniforms(a.size), out, self._spec)
        return out

    def _unary(self, name: str, x: Any) -> np.ndarray:
        v = self.values(x)
        flat = np.ascontiguousarray(v).reshape(-1)
        out = np.empty(flat.size)
        op = _UNARY[name]
        if self._rng is None:
            _ops.unary_rn(op, flat, table(name, self.format), out, self._spec)
        else:
            _ops.unary_sr(op, flat, self._uniforms(flat.size), out, self._spec)
        return out.reshape(v.shape)

    def add(self, a: Any, b: Any) -> np.ndarray:
        """``a + b`` rounded once (broadcasting; result flattened to 1-D)."""
        return self._binary("add", a, b)

    def sub(self, a: Any, b: Any) -> np.ndarray:
        """``a - b`` rounded once."""
        return self._binary("sub", a, b)

    def mul(self, a: Any, b: Any) -> np.ndarray:
        """``a * b`` rounded once."""
        return self._binary("mul", a, b)

    def div(self, a: Any, b: Any) -> np.ndarray:
        """``a / b`` rounded once (``x/0`` is ``+-inf`` or NaN, then the format's rule)."""
        return self._binary("div", a, b)

    def exp(self, x: Any) -> np.ndarray:
        """``exp(x)`` rounded once."""
        return self._unary("exp", x)

    def log(self, x: Any) -> np.ndarray:
        """``log(x)`` rounded once (NaN below 0, ``-inf`` at 0 where the format has it)."""
        return self._unary("log", x)

    def log1p(self, x: Any) -> np.ndarray:
        """``log(1 + x)`` rounded once."""
        return self._unary("log1p", x)
