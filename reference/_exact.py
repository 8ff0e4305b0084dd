"""Exact evaluation of one slice (row) with Ziv's strategy.

Conventions (see the package docstring): ``c = beta * ln(base)`` (``c = beta``
when ``base`` is None), ``t_j = c * (x_j - m)`` with ``m = max_k x_k``,
``k`` = number of entries equal to ``m``, ``R = sum_{x_j < m} exp(t_j)``,
``Z = k + R`` and ``S = ln Z``.  Then

* ``softmax_j = exp(t_j - S)`` (``= 1 / Z`` for the maxima),
* ``log_softmax_j = t_j - S`` (``= -log1p(R)`` for a unique maximum),
* ``logsumexp = c * m + S``.

``x_j - m`` is formed exactly (mpmath integers), so no cancellation is left
in the shift; the cancellation of ``c*x_j - logsumexp`` never happens because
that difference is never formed.  Only the transcendental parts (``ln base``,
``exp``, ``ln``, ``log1p``) are approximate.  At working precision ``wp`` each
of them is given a bound, carried as a power of two, and a result is accepted
only when every point of its error interval rounds to the same float; if not,
the precision is doubled (Ziv's strategy) up to :data:`MAX_PRECISION` bits.

Error model.  mpmath's ``+ - * /`` are correctly rounded (relative error
``u = 2**-wp``).  For ``exp``, ``ln`` and ``log1p`` we assume a relative
error of at most ``4u``; mpmath evaluates them with guard bits and is
within one ulp in practice, so this is a generous, not a proven, bound.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
from mpmath import libmp

from ._rounding import Format, round_mpf, round_within

__all__ = [
    "MAX_PRECISION",
    "STRATEGY_VERSION",
    "PrecisionLimitError",
    "Scale",
    "evaluate_row",
    "exp_values",
]

#: Bumped whenever a change could alter any stored result; part of cache keys.
#: 2: -0 for a log_softmax maximum that rounds to zero; 3: signed NaN overflow (e4m3fn).
STRATEGY_VERSION = "3"

#: Working precision (bits) beyond which :class:`PrecisionLimitError` is raised.
MAX_PRECISION = 10_000

_LN2 = math.log(2.0)
_FONE = libmp.fone
_FZERO = libmp.fzero

# exp(t) < exp(-fmt.ln_underflow_bound) rounds to +0 and exp(x) at or above
# exp(fmt.ln_overflow_bound) overflows, in every format of the table.


class PrecisionLimitError(ArithmeticError):
    """The Ziv loop reached :data:`MAX_PRECISION` without a stable rounding.

    This happens when the exact result lies on (or astonishingly close to) a
    rounding boundary, e.g. a base-2 softmax that equals exactly half the
    smallest subnormal.  No guess is returned.
    """


def _lg(x) -> int | None:
    """Upper bound ``k`` with ``|x| < 2**k``; None for zero."""
    return x[2] + x[3] if x[1] else None


def _mx(*values: int | None) -> int | None:
    """Upper bound of log2 of a sum of up to four terms ``2**v`` (None = 0)."""
    present = [v for v in values if v is not None]
    return max(present) + 2 if present else None


class Scale:
    """``c = beta * ln(base)`` from the exact binary values of beta and base."""

    def __init__(self, beta: mpmath.mpf, base: mpmath.mpf | None):
        self.beta = beta._mpf_
        self.base = None if base is None else base._mpf_
        if self.base is None:
            self.lower = self.beta
        else:
            # A lower bound of c to 40 bits for rigorous cut-offs; the 64-bit
            # value has relative error far below the 2**-40 subtracted.
            c64 = libmp.mpf_mul(self.beta, libmp.mpf_log(self.base, 80, "n"), 80, "n")
            self.lower = libmp.mpf_mul(c64, libmp.from_float(1.0 - 2.0**-40), 64, "d")

    @property
    def exact(self) -> bool:
        return self.base is None

    def c(self, wp: int):
        """``(c, log2 relative error bound or None)`` at precision ``wp``.

        The bound covers ``c`` and one further product at ``wp + 8`` bits:
        ``4 * 2**-(wp+8) + 2**-(wp+8) < 2**-(wp+5)``.
        """
        if self.base is None:
            return self.beta, None
        p = wp + 8
        return libmp.mpf_mul(self.beta, libmp.mpf_log(self.base, p, "n"), p, "n"), -wp - 5

    def times(self, c, d, wp: int):
        if self.base is None:
            return libmp.mpf_mul(c, d)  # exact: beta and d are short dyadics
        return libmp.mpf_mul(c, d, wp + 8, "n")


class _Row:
    """The finite entries of one slice, shifted exactly by their maximum."""

    def __init__(self, xs: np.ndarray, scale: Scale, fmt: Format):
        self.scale = scale
        self.fmt = fmt
        m = float(xs.max())
        self.m = libmp.from_float(m)
        self.d = [libmp.mpf_sub(libmp.from_float(float(v)), self.m) for v in xs]  # exact, <= 0
        self.is_max = [not di[1] for di in self.d]
        self.k = sum(self.is_max)
        self.others = [j for j, top in enumerate(self.is_max) if not top]
        self.nbits = len(xs).bit_length()
        self._t_exact = None
        self._levels: dict[int, dict] = {}
        # |t_j| >= c_lower * |d_j|, rounded down: rigorous lower bounds.
        self.t_lower = {
            j: libmp.mpf_mul(scale.lower, libmp.mpf_neg(self.d[j]), 53, "d") for j in self.others
        }

    def t_values(self, wp: int):
        if self.scale.exact:
            if self._t_exact is None:
                c, _ = self.scale.c(wp)
                self._t_exact = {j: self.scale.times(c, self.d[j], wp) for j in self.others}
            return self._t_exact
        c, _ = self.scale.c(wp)
        return {j: self.scale.times(c, self.d[j], wp) for j in self.others}

    def level(self, wp: int) -> dict:
        """Row quantities at working precision ``wp`` with their error bounds."""
        if wp in self._levels:
            return self._levels[wp]
        _, eta = self.scale.c(wp)
        t = self.t_values(wp)
        lev = {"wp": wp, "eta": eta, "t": t, "ok": True}
        if self.others:
            j2 = self.others[0]
            for j in self.others:
                if libmp.mpf_gt(self.d[j], self.d[j2]):
                    j2 = j
            d2 = self.d[j2]
            # Terms more than L below the largest one add at most
            # n * exp(-L) * exp(t2) <= 2**-(wp+2) * R to the sum.
            limit = libmp.from_float((wp + 3 + self.nbits) * _LN2)
            kept = []
            for j in self.others:
                gap = libmp.mpf_sub(d2, self.d[j], 53, "d")
                gap_t = libmp.mpf_mul(self.scale.lower, gap, 53, "d")
                if not libmp.mpf_gt(gap_t, limit):
                    kept.append(j)
            t_lg = max(_lg(t[j]) for j in kept)  # t_j != 0 off the maximum
            if eta is None:
                rel_e = 2 - wp
            else:
                if t_lg + eta > -3:
                    lev["ok"] = False  # |t| * eta too large for a linear bound
                    self._levels[wp] = lev
                    return lev
                rel_e = max(t_lg + eta + 1, 2 - wp) + 1
            sp = wp + self.nbits
            r = _FZERO
            for j in kept:
                r = libmp.mpf_add(r, libmp.mpf_exp(t[j], wp, "n"), sp, "n")
            r_lg = _mx(rel_e, 1 - wp, -wp - 2)
        else:
            r, r_lg = _FZERO, None
        z = libmp.mpf_add(libmp.from_int(self.k), r, wp, "n")
        z_lg = None if r_lg is None else max(r_lg, -wp) + 1
        if self.k == 1:
            if r_lg is None:
                s, s_rel, ds = _FZERO, None, None
            else:
                with mpmath.workprec(wp):
                    s = mpmath.log1p(mpmath.mp.make_mpf(r))._mpf_
                s_rel = max(r_lg, 2 - wp) + 1
                ds = s_rel + _lg(s)
        else:
            s = libmp.mpf_log(z, wp, "n")
            s_rel = None
            ds = max(z_lg + 1 if z_lg is not None else -(10**9), _lg(s) + 2 - wp) + 1
        lev.update(r=r, z=z, z_lg=z_lg, s=s, s_rel=s_rel, ds=ds)
        self._levels[wp] = lev
        return lev


def _softmax_max(row: _Row, lev: dict) -> float | None:
    wp = lev["wp"]
    y = libmp.mpf_div(_FONE, lev["z"], wp, "n")
    z_lg = lev["z_lg"]
    return round_within(y, (-wp if z_lg is None else max(z_lg, -wp)) + 1, row.fmt)


def _softmax_other(row: _Row, lev: dict, j: int) -> float | None:
    wp = lev["wp"]
    v = libmp.mpf_sub(lev["t"][j], lev["s"], wp, "n")
    # |t_j| < 2**10 (not cut), |v| <= |t_j| + ln n < 2**11.
    dv = _mx(None if lev["eta"] is None else 10 + lev["eta"], lev["ds"], 11 - wp)
    if dv > -2:
        return None
    y = libmp.mpf_exp(v, wp, "n")
    return round_within(y, max(dv + 1, 2 - wp) + 1, row.fmt)


def _log_softmax_max(row: _Row, lev: dict) -> float | None:
    v = libmp.mpf_neg(lev["s"])
    if row.k == 1:
        y = round_within(v, lev["s_rel"], row.fmt)
        # With another finite term, R > 0 and the exact value -log1p(R) is < 0, so
        # a result that rounds to zero is -0, also when a loose bound on R lets the
        # error interval reach past 0 (huge beta * gap: R far below any subnormal).
        if y == 0 and row.others:
            return -0.0
        return y
    return round_within(v, lev["ds"] + 1, row.fmt)  # |S| >= ln 2 > 1/2


def _plus_small(a, b):
    """``a + b`` for exact ``a`` and approximate ``b``, without rounding.

    ``a`` can be a midpoint of the target format (a short dyadic such as
    ``t_j`` or ``beta*m``) while ``b`` is tiny (``S = log1p(R)`` with ``R``
    near ``exp(-1e4)``, or ``exp(-1e36)``).  Rounding ``a + b`` to any
    working precision would land on ``a`` and the Ziv loop would never
    resolve, so the sum is formed exactly.  When ``|b|`` lies below
    ``2**limit``, under both the last bit of ``a`` and ``2**-64 |a|``, no
    rounding boundary of float32/float64 (their spacing near ``a`` is at
    least ``2**-55 |a|``) separates ``a + b`` from
    ``a + sign(b) 2**(limit-1)``, so that short number, which rounds
    identically, is returned instead (with ``True``): an exact sum with
    ``b = exp(-1e36)`` would not fit in memory.
    """
    if a[1] and b[1]:
        e = _lg(b) + 1  # covers the relative error (< 1) of b
        limit = min(a[2], _lg(a) - 64) - 2
        if e < limit:
            return libmp.mpf_add(a, (b[0], 1, limit - 1, 1)), True
    return libmp.mpf_add(a, b), False


def _log_softmax_other(row: _Row, lev: dict, j: int) -> float | None:
    wp, eta = lev["wp"], lev["eta"]
    t, s = lev["t"][j], lev["s"]
    if eta is None:
        v, stand_in = _plus_small(t, libmp.mpf_neg(s))
        if stand_in:
            return round_mpf(v, row.fmt)
        # |v| = |t_j| + S >= ln 2 for a non-maximum: S's absolute error
        # (<= 2**ds) is at most 2**(ds+1) |v|.
        return round_within(v, lev["ds"] + 1, row.fmt)
    # t_j carries relative error eta <= eta |v|/|t_j|; it is no short dyadic.
    v = libmp.mpf_sub(t, s, wp + 8, "n")
    return round_within(v, _mx(eta, lev["ds"] + 1, -wp - 8), row.fmt)


def _logsumexp(row: _Row, lev: dict) -> float | None:
    wp = lev["wp"]
    c, eta = row.scale.c(wp)
    cm = row.scale.times(c, row.m, wp)
    s = lev["s"]
    if not s[1]:
        # Single finite entry: logsumexp = c*m, exact when base is None.
        return round_within(cm, eta, row.fmt)
    if eta is None:
        total, stand_in = _plus_small(cm, s)  # beta*m may be a midpoint, S tiny
        if stand_in:
            return round_mpf(total, row.fmt)
        return round_within(total, lev["ds"], row.fmt, relative=False)
    total = libmp.mpf_add(cm, s, wp + 8, "n")
    cm_err = _lg(cm) + eta if cm[1] else None
    total_lg = _lg(total)
    err = _mx(cm_err, lev["ds"], None if total_lg is None else total_lg - wp - 8)
    return round_within(total, err, row.fmt, relative=False)


def _ziv(row: _Row, tasks: dict) -> dict:
    """Evaluate ``tasks`` (key -> callable(row, level)) to stable roundings."""
    results = {}
    w = row.fmt.precision + 32
    pending = dict(tasks)
    while pending:
        wp = w + 12 + row.nbits
        if wp > MAX_PRECISION:
            raise PrecisionLimitError(
                f"no stable rounding within {MAX_PRECISION} bits for {len(pending)} value(s); "
                "the exact result is probably a rounding midpoint"
            )
        lev = row.level(wp)
        if lev["ok"]:
            for key, task in list(pending.items()):
                value = task(row, lev)
                if value is not None:
                    results[key] = value
                    del pending[key]
        row._levels.pop(wp, None)  # free the exps of this level
        w *= 2
    return results


def evaluate_row(kind: str, row: np.ndarray, scale: Scale, fmt: Format):
    """Correctly rounded ``kind`` of one slice.

    Parameters
    ----------
    kind : {"softmax", "log_softmax", "logsumexp"}
    row : numpy.ndarray
        1-D float32 or float64 values (exact binary inputs).
    scale : Scale
    fmt : Format
        Target format.

    Returns
    -------
    numpy.ndarray or float
        An array of ``fmt.dtype`` shaped like ``row`` or, for logsumexp, a
        Python float whose value is exactly representable in ``fmt``.
    """
    vals = np.asarray(row, dtype=np.float64)
    n = vals.size
    if kind == "logsumexp":
        if n == 0:
            return -math.inf
        if np.isnan(vals).any():
            return math.nan
        if (vals == math.inf).any():
            return math.inf
        finite = vals > -math.inf
        if not finite.any():
            return -math.inf
        r = _Row(vals[finite], scale, fmt)
        return _ziv(r, {"lse": _logsumexp})["lse"]

    out = np.empty(n, dtype=fmt.dtype)
    if n == 0:
        return out
    if np.isnan(vals).any():
        out[:] = np.nan
        return out
    pos_inf = vals == math.inf
    if pos_inf.any():
        if kind == "softmax":
            out[:] = np.nan
        else:
            out[:] = np.where(pos_inf, np.nan, -np.inf)
        return out
    finite = vals > -math.inf
    if not finite.any():
        out[:] = np.nan
        return out
    out[~finite] = 0.0 if kind == "softmax" else -np.inf
    idx = np.flatnonzero(finite)
    r = _Row(vals[idx], scale, fmt)
    tasks = {}
    if kind == "softmax":
        cut = libmp.from_float(float(fmt.ln_underflow_bound))
        tasks["max"] = _softmax_max
        for j in r.others:
            if libmp.mpf_gt(r.t_lower[j], cut):
                out[idx[j]] = 0.0  # exp(t_j - S) <= exp(t_j) < half the least subnormal
            else:
                tasks[j] = lambda row, lev, j=j: _softmax_other(row, lev, j)
    elif kind == "log_softmax":
        tasks["max"] = _log_softmax_max
        for j in r.others:
            tasks[j] = lambda row, lev, j=j: _log_softmax_other(row, lev, j)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    results = _ziv(r, tasks)
    top = results.pop("max")
    for j, top_flag in enumerate(r.is_max):
        if top_flag:
            out[idx[j]] = top
    for j, value in results.items():
        out[idx[j]] = value
    return out


def exp_values(values: np.ndarray, fmt: Format) -> np.ndarray:
    """Correctly rounded ``exp`` of each element of a 1-D float array."""
    vals = np.asarray(values, dtype=np.float64).ravel()
    out = np.empty(vals.size, dtype=fmt.dtype)
    high = fmt.ln_overflow_bound
    low = -fmt.ln_underflow_bound
    for i, v in enumerate(vals.tolist()):
        if math.isnan(v):
            out[i] = math.nan
        elif v >= high:
            out[i] = math.inf
        elif v < low:
            out[i] = 0.0
        else:
            x = libmp.from_float(v)
            w = fmt.precision + 32
            while True:
                if w > MAX_PRECISION:
                    raise PrecisionLimitError(f"no stable rounding of exp({v!r})")
                value = round_within(libmp.mpf_exp(x, w, "n"), 2 - w + 1, fmt)
                if value is not None:
                    out[i] = value
                    break
                w *= 2
    return out
