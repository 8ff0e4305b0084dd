"""Softmax, log_softmax and logsumexp in simulated mixed-precision pipelines.

A pipeline has three formats, as in real hardware libraries:

* ``storage``: the format of the input and of the result (the input is
  rounded into it once if it is not already in it);
* ``compute``: subtract, scale, ``exp``, ``log``, ``log1p`` and divide are
  each rounded to it;
* ``accumulate``: each partial sum (and, in the online method, the running
  normaliser and its rescaling) is rounded to it.

Simulated formats (at most 16 bits) round every operation correctly, to
nearest even or stochastically (:class:`~stable_softmax.lowprec.Arithmetic`);
``"float32"`` and ``"float64"`` compute natively (IEEE ``+ - * /``, NumPy's
``exp``/``log``/``log1p``). A value passes from one format to another by one
rounding of its exact value. Sums are recursive (left to right), as a plain
loop computes them. ``max`` is exact in any format.

Methods (``d_j = c (x_j - m)``, ``m = max_k x_k``, ``c = beta ln(base)``
rounded once to the compute format, or 1)::

    softmax      naive    exp(c x_j) / sum_k exp(c x_k)
                 shifted  exp(d_j) / s,   s = sum_k exp(d_k)
                 lse      exp(d_j - log s)
                 online   exp(d_j) / s_K   (s_K by the tiled online recurrence)
    log_softmax  naive    c x_j - log sum_k exp(c x_k)
                 shifted  d_j - log s
                 lse      c x_j - (c m + log s)
                 online   d_j - log s_K
                 log1p    d_j - log1p(r),  r = sum over all k but one argmax of exp(d_k)
    logsumexp    naive    log sum_k exp(c x_k)
                 shifted  c m + log s
                 log1p    c m + log1p(sum over all k but one argmax of exp(d_k))
                 online   c m + log s_K

The online method reads the row in blocks of ``block`` elements and keeps a
running maximum ``m_k`` and normaliser ``s_k`` in the accumulate format:
``s_k = s_{k-1} exp(c (m_{k-1} - m_k)) + sum_{j in block k} exp(c (x_j - m_k))``
(FlashAttention's recurrence); its first-order error bound is derived in
``docs/online-softmax-error.md``.

Special values follow the package's table: a NaN in a row gives NaN; a
``+inf`` gives softmax NaN, log_softmax NaN at the ``+inf`` and ``-inf``
elsewhere, logsumexp ``+inf``; an all ``-inf`` row gives NaN (softmax,
log_softmax) and ``-inf`` (logsumexp). The ``naive`` method is not guarded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..formats import format_of
from . import Arithmetic

__all__ = ["METHODS", "Pipeline", "simulate"]

METHODS = {
    "softmax": ("naive", "shifted", "lse", "online"),
    "log_softmax": ("naive", "shifted", "lse", "online", "log1p"),
    "logsumexp": ("naive", "shifted", "log1p", "online"),
}


class _Native:
    """float32/float64 arithmetic with the interface of :class:`Arithmetic`."""

    def __init__(self, name: str):
        self.format = format_of(name)
        self.dtype = self.format.dtype

    def round(self, x):
        return np.asarray(x, np.float64).astype(self.dtype).astype(np.float64)

    def _do(self, f, *args):
        with np.errstate(all="ignore"):
            return f(*(np.asarray(a, np.float64).astype(self.dtype) for a in args)).astype(
                np.float64
            )

    def add(self, a, b):
        return self._do(np.add, a, b)

    def sub(self, a, b):
        return self._do(np.subtract, a, b)

    def mul(self, a, b):
        return self._do(np.multiply, a, b)

    def div(self, a, b):
        return self._do(np.divide, a, b)

    def exp(self, x):
        return self._do(np.exp, x)

    def log(self, x):
        return self._do(np.log, x)

    def log1p(self, x):
        return self._do(np.log1p, x)


class _Shaped:
    """An :class:`Arithmetic` whose operations keep the (broadcast) shape."""

    def __init__(self, ar: Arithmetic):
        self.ar, self.format = ar, ar.format

    def round(self, x):
        return self.ar.round(x)

    def _two(self, name, a, b):
        a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
        return self.ar._binary(name, a, b).reshape(a.shape)

    def add(self, a, b):
        return self._two("add", a, b)

    def sub(self, a, b):
        return self._two("sub", a, b)

    def mul(self, a, b):
        return self._two("mul", a, b)

    def div(self, a, b):
        return self._two("div", a, b)

    def exp(self, x):
        return self.ar._unary("exp", x)

    def log(self, x):
        return self.ar._unary("log", x)

    def log1p(self, x):
        return self.ar._unary("log1p", x)


def _arith(name: str, rounding: str, seed: int | None):
    fmt = format_of(name)
    if fmt.dtype.itemsize >= 4:
        if fmt.name not in ("float32", "float64"):
            raise ValueError(f"no native arithmetic for {fmt.name}")
        return _Native(fmt.name)
    return _Shaped(Arithmetic(fmt, rounding=rounding, seed=seed))


@dataclass(frozen=True)
class Pipeline:
    """Storage, compute and accumulate formats and the rounding of simulated operations.

    Parameters
    ----------
    storage, compute, accumulate : str
        Format names of :data:`stable_softmax.formats.FORMATS`; ``compute`` and
        ``accumulate`` are simulated when they have at most 16 bits, native
        for ``"float32"``/``"float64"``. ``accumulate=None`` means ``compute``.
    rounding : {"nearest", "stochastic"}
        Rounding of the simulated operations.
    seed : int or None
        Seed of stochastic rounding (required for it).
    """

    storage: str
    compute: str = "float32"
    accumulate: str | None = None
    rounding: str = "nearest"
    seed: int | None = None

    def arithmetics(self):
        acc = self.accumulate or self.compute
        # Distinct seeds per format so the streams are independent.
        seed = self.seed
        c = _arith(self.compute, self.rounding, seed)
        a = (
            c
            if acc == self.compute
            else _arith(acc, self.rounding, None if seed is None else seed + 1)
        )
        s = _arith(self.storage, "nearest", None)
        return s, c, a


def _sum(acc, terms: np.ndarray) -> np.ndarray:
    """Recursive sum along the last axis, each partial sum rounded to ``acc``."""
    s = acc.round(terms[..., 0]) if terms.shape[-1] else np.zeros(terms.shape[:-1])
    for j in range(1, terms.shape[-1]):
        s = acc.add(s, acc.round(terms[..., j]))
    return s


def _online_sum(cmp, acc, x: np.ndarray, block: int, times_c):
    """``(m, s_K)``: running max and normaliser of the tiled online recurrence."""
    rows, n = x.shape
    m = np.full(rows, -np.inf)
    s = np.zeros(rows)
    for start in range(0, n, block):
        xb = x[:, start : start + block]
        with np.errstate(invalid="ignore"):
            m_new = np.maximum(m, xb.max(axis=1))
            # exp(c (m_old - m_new)) rescales the old normaliser; 0 on the first block
            first = m == -np.inf
            m_old = np.where(first, m_new, m)  # -inf may not be a value of the format
            scale = np.where(first, 0.0, cmp.exp(times_c(cmp.sub(m_old, m_new))))
        scale = np.where(np.isnan(scale) & (m == m_new), 1.0, scale)
        part = _sum(acc, cmp.exp(times_c(cmp.sub(xb, m_new[:, None]))))
        s = acc.add(acc.mul(s, acc.round(scale)), part)
        m = m_new
    return m, s


def _specials(kind: str, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Overwrite rows with non-finite entries by the package's special-value table."""
    with np.errstate(invalid="ignore"):
        has_nan = np.isnan(x).any(axis=1)
        pos_inf = (x == np.inf).any(axis=1)
        all_neg = (x == -np.inf).all(axis=1) & (x.shape[1] > 0)
    if kind == "logsumexp":
        out = np.where(all_neg, -np.inf, out)
        out = np.where(pos_inf, np.inf, out)
        return np.where(has_nan, np.nan, out)
    if kind == "softmax":
        out = np.where((pos_inf | all_neg)[:, None], np.nan, out)
    else:
        fix = np.where(x == np.inf, np.nan, -np.inf)
        out = np.where(pos_inf[:, None], fix, out)
        out = np.where(all_neg[:, None], np.nan, out)
    return np.where(has_nan[:, None], np.nan, out)


def simulate(
    kind: str,
    x: Any,
    *,
    method: str = "shifted",
    pipeline: Pipeline | None = None,
    beta: float = 1.0,
    base: float | None = None,
    block: int = 256,
) -> np.ndarray:
    """``kind`` of the rows (last axis) of ``x`` in a simulated pipeline.

    Parameters
    ----------
    kind : {"softmax", "log_softmax", "logsumexp"}
    x : array_like
        Logits; rounded once into ``pipeline.storage`` unless already in it.
    method : str
        One of :data:`METHODS` ``[kind]``.
    pipeline : Pipeline, optional
        Default: storage = the format of ``x``, compute = accumulate = float32.
    beta, base : float, optional
        ``c = beta ln(base)`` (``beta`` when ``base`` is None), computed in
        float64 and rounded once to the compute format.
    block : int, optional
        Block size of the online method.

    Returns
    -------
    numpy.ndarray
        In the storage dtype; shape of ``x`` (softmax, log_softmax) or
        without its last axis (logsumexp).
    """
    if kind not in METHODS:
        raise ValueError(f"kind must be one of {tuple(METHODS)}; got {kind!r}")
    if method not in METHODS[kind]:
        raise ValueError(f"method for {kind} must be one of {METHODS[kind]}; got {method!r}")
    if not (isinstance(block, int) and block >= 1):
        raise ValueError(f"block must be a positive int; got {block!r}")
    arr = np.asarray(x)
    if pipeline is None:
        pipeline = Pipeline(storage=format_of(arr.dtype).name)
    sto, cmp, acc = pipeline.arithmetics()
    with np.errstate(invalid="ignore"):
        x64 = np.atleast_1d(arr.astype(np.float64))
    shape = x64.shape
    xs = sto.round(x64.reshape(-1, shape[-1]))  # one rounding into storage
    xc = cmp.round(xs)
    c = beta * (1.0 if base is None else math.log(base))
    scaled = c != 1.0
    c_hat = cmp.round(np.array(c)) if scaled else None

    def times_c(v):
        return cmp.mul(v, np.broadcast_to(c_hat, v.shape)) if scaled else v

    with np.errstate(invalid="ignore"):
        m = xc.max(axis=1) if xc.shape[1] else np.full(xc.shape[0], -np.inf)
    if method == "naive":
        z = times_c(xc)
        e = cmp.exp(z)
        s = _sum(acc, e)
        if kind == "softmax":
            out = cmp.div(e, cmp.round(s)[:, None])
        elif kind == "log_softmax":
            out = cmp.sub(z, cmp.log(cmp.round(s))[:, None])
        else:
            out = cmp.log(cmp.round(s))
    else:
        d = times_c(cmp.sub(xc, m[:, None]))
        cm = times_c(m)
        if method == "online":
            _, s = _online_sum(cmp, acc, xc, block, times_c)
        elif method == "log1p":
            e = cmp.exp(d)
            first = np.argmax(xc == m[:, None], axis=1)  # one argmax per row left out
            e[np.arange(e.shape[0]), first] = 0.0
            s = None
            r = _sum(acc, e)
            l1p = cmp.log1p(cmp.round(r))
            out = cmp.add(cm, l1p) if kind == "logsumexp" else cmp.sub(d, l1p[:, None])
        else:
            s = _sum(acc, cmp.exp(d))
        if method != "log1p":
            sc = cmp.round(s)
            if kind == "softmax" and method == "lse":
                out = cmp.exp(cmp.sub(d, cmp.log(sc)[:, None]))
            elif kind == "softmax":
                out = cmp.div(cmp.exp(d), sc[:, None])
            elif kind == "log_softmax" and method == "lse":
                out = cmp.sub(times_c(xc), cmp.add(cm, cmp.log(sc))[:, None])
            elif kind == "log_softmax":
                out = cmp.sub(d, cmp.log(sc)[:, None])
            else:
                out = cmp.add(cm, cmp.log(sc))
    out = sto.round(out)
    if method != "naive":
        out = _specials(kind, xs, out)
    fmt = format_of(pipeline.storage)
    with np.errstate(over="ignore", invalid="ignore"):
        result = out.astype(fmt.dtype)
    result = result.reshape(shape[:-1] if kind == "logsumexp" else shape)
    return result[()] if result.ndim == 0 else result
