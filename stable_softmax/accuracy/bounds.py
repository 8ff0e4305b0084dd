r"""First-order rounding-error bounds for each kernel, in ULPs of the reference.

The bounds follow the analysis of Blanchard, Higham & Higham, "Accurately
computing the log-sum-exp and softmax functions", IMA J. Numer. Anal. 41
(2021) 2311-2330: the standard model ``fl(a op b) = (a op b)(1 + d)``,
``|d| <= u`` for ``+ - * /``, ``log`` and ``log1p`` and ``|d| <= 2u`` for the
package's ``exp`` (within 1 ULP, see :data:`EXP_EXTRA`), terms of order
``u^2`` dropped, and no underflow or overflow in the intermediate values. For
the shifted softmax with ``c = 1`` they give the relative bound
``(n + 2 + 2 (max - min)) u``; the same bookkeeping is applied here to every
kernel exactly as it is written in :mod:`stable_softmax.kernels`, with the
logit scale ``c = beta ln(base)`` included. Notation, per row:

* ``u = 2^-24`` (float32) or ``2^-53`` (float64);
* ``k_c`` roundings in forming ``c * y``: 0 when ``c = 1``, 1 when ``c`` is
  exact in the dtype, 2 when ``c`` itself was rounded to the dtype;
* ``k_z = 1 + k_c`` roundings in a shifted exponent ``c (x_j - m)``;
* ``z_j`` the exponent a kernel feeds to ``exp`` (``c x_j`` unshifted,
  ``c (x_j - m)`` shifted), ``Z = max_j |z_j|`` (``= c (max - min)`` when shifted);
* ``s`` the sum of exponentials in the kernel's frame, ``L = ln sum e^{c x}``.

Relative bounds (softmax; ``rel * u`` relative error):

=============  ==============================================================
naive          ``n + 2 + k_c (|c x_j| + Z)``
shifted        ``n + 2 + k_z (|z_j| + Z)``  (BHH: ``n + 2 + 2 (max - min)`` at c = 1)
lse            ``1 + k_c |c x_j| + |c x_j - L| + k_c |c m| + |L| + ln s + n + k_z Z``
=============  ==============================================================

Absolute bounds (log_softmax, logsumexp; ``abs * u`` absolute error):

=======================  =====================================================
log_softmax naive        ``k_c |c x_j| + n + k_c Z + |L| + |y_j|``
log_softmax shifted      ``k_z |z_j| + n + k_z Z + ln s + |y_j|``
log_softmax lse          ``k_c |c x_j| + k_c |c m| + |L| + n + k_z Z + ln s + |y_j|``
logsumexp naive          ``n + k_c Z + |y|``
logsumexp shifted        ``k_c |c m| + n + k_z Z + ln s + |y|``
logsumexp log1p          ``k_c |c m| + ln k + |c m + ln k| + (n + k_z Z + 1) r/(1+r)``
                         ``+ log1p r + |y|``
                         (``k`` tied maxima, ``r`` the other terms' sum over ``k``)
=======================  =====================================================

A relative bound ``rel * u`` is below ``rel`` ULPs of the exact value, an
absolute bound ``abs * u`` is ``abs * u / ulp(y)`` ULPs; the correctly rounded
reference is itself up to half an ULP from the exact value, so the ULP bound
is that number plus 1. The check applies to elements that the metrics class
as OK, whose reference is a normal number, in rows where the model holds: the
kernel's sum of exponentials neither overflows nor is so small that its
underflowed terms matter (``s >= n * min_normal / u``), and (softmax) the
element's own exponential is normal. The ``online`` methods get
the shifted bound plus ``2u`` for their merge factors. Methods without an
entry in :data:`BOUNDS` (later additions) get no bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = [
    "BOUNDS",
    "bound_ulps",
    "format_ulp",
    "has_bound",
    "pipeline_bound_ulps",
    "unit_roundoff",
]


def unit_roundoff(dtype) -> float:
    """``u = 2^-p``: 2^-24 for float32, 2^-53 for float64."""
    return float(np.finfo(dtype).eps) / 2.0


class _Row:
    """Float64 quantities of rows (``(rows, n)``) that the bounds need."""

    def __init__(self, x: np.ndarray, c_exact: float, c_kernel: float, shifted: bool):
        x64 = x.astype(np.float64)
        self.n = x.shape[-1]
        self.k_c = 0 if c_kernel == 1.0 else (1 if c_kernel == c_exact else 2)
        self.k_z = 1 + self.k_c
        self.cx = c_exact * x64
        self.m = np.max(x64, axis=-1, keepdims=True)
        self.cm = c_exact * self.m
        self.z = self.cx - self.cm if shifted else self.cx
        self.Z = np.max(np.abs(self.z), axis=-1, keepdims=True)
        with np.errstate(under="ignore", over="ignore"):
            self.ln_s = np.log(np.sum(np.exp(self.cx - self.cm), axis=-1, keepdims=True))
        self.L = self.cm + self.ln_s
        # ln of the sum in the kernel's own frame (unshifted for naive)
        self.ln_frame_sum = self.L if not shifted else self.ln_s


def _softmax_naive(r: _Row, y):
    return r.n + 2 + r.k_c * (np.abs(r.cx) + r.Z)


def _softmax_shifted(r: _Row, y):
    return r.n + 2 + r.k_z * (np.abs(r.z) + r.Z)


def _softmax_lse(r: _Row, y):
    return (
        1
        + r.k_c * np.abs(r.cx)
        + np.abs(r.cx - r.L)
        + r.k_c * np.abs(r.cm)
        + np.abs(r.L)
        + r.ln_s
        + r.n
        + r.k_z * r.Z
    )


def _log_softmax_naive(r: _Row, y):
    return r.k_c * np.abs(r.cx) + r.n + r.k_c * r.Z + np.abs(r.L) + np.abs(y)


def _log_softmax_shifted(r: _Row, y):
    return r.k_z * np.abs(r.z) + r.n + r.k_z * r.Z + r.ln_s + np.abs(y)


def _log_softmax_lse(r: _Row, y):
    return (
        r.k_c * np.abs(r.cx)
        + r.k_c * np.abs(r.cm)
        + np.abs(r.L)
        + r.n
        + r.k_z * r.Z
        + r.ln_s
        + np.abs(y)
    )


def _logsumexp_naive(r: _Row, y):
    return (r.n + r.k_c * r.Z)[:, 0] + np.abs(y)


def _logsumexp_shifted(r: _Row, y):
    return (r.k_c * np.abs(r.cm) + r.n + r.k_z * r.Z + r.ln_s)[:, 0] + np.abs(y)


def _logsumexp_log1p(r: _Row, y):
    ties = np.sum(r.z == 0, axis=-1, keepdims=True).astype(np.float64)
    # No tie is found when the scaled shift itself overflowed (c x beyond the
    # float64 range): the bound is then NaN, which callers read as "no bound".
    with np.errstate(under="ignore", divide="ignore", invalid="ignore"):
        rest = np.sum(np.where(r.z == 0, 0.0, np.exp(r.z)), axis=-1, keepdims=True) / ties
        ln_k = np.log(ties)
        total = (
            r.k_c * np.abs(r.cm)
            + ln_k
            + np.abs(r.cm + ln_k)
            + (r.n + r.k_z * r.Z + 1) * rest / (1 + rest)
            + np.log1p(rest)
        )
    return total[:, 0] + np.abs(y)


def _softmax_online(r: _Row, y):
    """Shifted, plus the roundings of the block merge factors ``exp(c (b - M)) / S``."""
    return _softmax_shifted(r, y) + 2


def _log_softmax_online(r: _Row, y):
    """Shifted, plus the roundings of the block merge factors in ``S``."""
    return _log_softmax_shifted(r, y) + 2


def _logsumexp_online(r: _Row, y):
    """Shifted, plus the roundings of the block merge factors in ``S`` (simulated pipelines)."""
    return _logsumexp_shifted(r, y) + 2


#: The package's vectorized exp is within 1 ULP, not correctly rounded, so it
#: is modelled as ``|d| <= 2u`` rather than ``u``. An output's leading terms
#: hold at most two exponentials (its own and, through the sum, the largest
#: term's), so every first-order bound gains ``2u``.
EXP_EXTRA = 2.0


def _accurate(r: _Row, y):
    """Method ``accurate`` claims 1 ULP outright (see :mod:`stable_softmax.kernels.accurate`)."""
    return np.zeros_like(y)


#: ``(function, method) -> (shifted frame?, relative?, bound in units of u)``.
BOUNDS: dict[tuple[str, str], tuple[bool, bool, Callable]] = {
    ("softmax", "naive"): (False, True, _softmax_naive),
    ("softmax", "shifted"): (True, True, _softmax_shifted),
    ("softmax", "lse"): (True, True, _softmax_lse),
    ("log_softmax", "naive"): (False, False, _log_softmax_naive),
    ("log_softmax", "shifted"): (True, False, _log_softmax_shifted),
    ("log_softmax", "lse"): (True, False, _log_softmax_lse),
    # log1p returns shifted's bits when S >= 2 and otherwise replaces ln(1 + s) by
    # log1p(s), which is no less accurate: shifted's absolute bound covers it.
    ("log_softmax", "log1p"): (True, False, _log_softmax_shifted),
    ("logsumexp", "naive"): (False, False, _logsumexp_naive),
    ("logsumexp", "shifted"): (True, False, _logsumexp_shifted),
    ("logsumexp", "log1p"): (True, False, _logsumexp_log1p),
    ("softmax", "online"): (True, True, _softmax_online),
    ("log_softmax", "online"): (True, False, _log_softmax_online),
    ("logsumexp", "online"): (True, False, _logsumexp_online),
    # not first-order bounds: the 1 ULP claim of the accurate method (0 u + 1 ULP)
    ("softmax", "accurate"): (True, True, _accurate),
    ("log_softmax", "accurate"): (True, True, _accurate),
    ("logsumexp", "accurate"): (True, True, _accurate),
}


def has_bound(function: str, method: str) -> bool:
    """Whether :data:`BOUNDS` has a first-order bound for this kernel."""
    return (function, method) in BOUNDS


def bound_ulps(
    function: str, method: str, x: np.ndarray, reference: np.ndarray, c_exact: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-element first-order error bound in ULPs, and where it applies.

    Parameters
    ----------
    function, method : str
        The kernel.
    x : ndarray, shape (rows, n)
        The logits, float32 or float64.
    reference : ndarray
        The correctly rounded result, shape ``(rows, n)`` (``(rows,)`` for
        logsumexp), dtype of ``x``.
    c_exact : float
        ``beta * ln(base)`` in float64; the kernel uses it rounded to the dtype.

    Returns
    -------
    (bound, applies) or None
        ``bound`` in ULPs of the reference (float64, shape of ``reference``)
        and the boolean mask of elements where the model's assumptions hold;
        None when no bound is known for the kernel.
    """
    if not has_bound(function, method):
        return None
    shifted, relative, formula = BOUNDS[(function, method)]
    dtype = x.dtype
    u = unit_roundoff(dtype)
    info = np.finfo(dtype)
    c_kernel = float(dtype.type(c_exact))
    with np.errstate(over="ignore", invalid="ignore"):
        row = _Row(x, c_exact, c_kernel, shifted)
        y = reference.astype(np.float64)
        units = formula(row, y) + (0.0 if formula is _accurate else EXP_EXTRA)
        ulp = np.spacing(np.abs(reference)).astype(np.float64)
        bound = units + 1.0 if relative else units * u / ulp + 1.0
    ln_tiny, ln_max = math.log(float(info.tiny)), math.log(float(info.max))
    finite_ref = np.isfinite(reference) & (np.abs(reference) >= info.tiny)
    applies = _applies(function, method, row, x, finite_ref, ln_tiny, ln_tiny - math.log(u), ln_max)
    return np.where(applies, bound, np.nan), applies


def _applies(function, method, row: _Row, x, finite_ref, ln_tiny, ln_floor, ln_max) -> np.ndarray:
    """Where the first-order model holds (see the module docstring).

    Rows whose frame sum ``s`` has ``ln s >= ln n + ln_floor`` (its underflowed
    terms do not matter) and ``ln s < ln_max``, with finite logits; elements
    with a normal finite reference (``finite_ref``); softmax (but ``lse``):
    the element's own exponential is normal (``z >= ln_tiny``).
    """
    frame = row.ln_frame_sum[:, 0]
    row_ok = (
        (frame >= math.log(row.n) + ln_floor) & (frame < ln_max) & np.all(np.isfinite(x), axis=-1)
    )
    if function == "logsumexp":
        return row_ok & finite_ref
    applies = row_ok[:, None] & finite_ref
    if function == "softmax" and method != "lse":
        applies &= row.z >= ln_tiny
    return applies


def format_ulp(values, fmt) -> np.ndarray:
    """``ulp(|v|)`` in format ``fmt``: ``2^(max(e, emin) - p + 1)`` for ``2^e <= |v| < 2^(e+1)``.

    ``values`` are float64 (exact values of ``fmt`` or not); 0 gets the
    subnormal spacing.
    """
    v = np.abs(np.asarray(values, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        _, e = np.frexp(v)  # v = f 2^e, f in [1/2, 1): the binade is 2^(e-1)
    e = np.maximum(e.astype(np.int64) - 1, fmt.emin)
    return np.ldexp(1.0, e - fmt.precision + 1)


def _online_units(r: _Row, u_c: float, u_a: float, block: int) -> np.ndarray:
    """``docs/online-softmax-error.md``: the tiled online softmax with formats (u_c, u_a).

    ``u_c (3 + K + |d_j| + sum_i y_i |d_i|) + u_a (B + 2K - 2)``, ``K = ceil(n / B)``,
    plus ``k_c u_c (|z_j| + Z)`` for a rounded scale (as in :func:`_softmax_shifted`).
    """
    blocks = -(-r.n // block)
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        y = np.exp(r.z - r.ln_s)
        entropy_part = np.sum(y * np.abs(r.z), axis=-1, keepdims=True)
    return (
        u_c * (3 + blocks + np.abs(r.z) + entropy_part)
        + u_a * (min(block, r.n) + 2 * blocks - 2)
        + u_c * r.k_c * (np.abs(r.z) + r.Z)
    )


def pipeline_bound_ulps(
    function: str,
    method: str,
    x: np.ndarray,
    reference: np.ndarray,
    c_exact: float,
    *,
    storage,
    compute,
    accumulate,
    native_exp: bool,
    block: int | None = None,
    u_compute: float | None = None,
    u_accumulate: float | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`bound_ulps` for a storage / compute / accumulate pipeline.

    The bounds of :data:`BOUNDS` with the unit roundoff ``u`` of the
    arithmetic: ``u = max(u_compute, u_accumulate)`` (every rounding has
    ``|d| <= u``; the sum's ``n u`` term is ``n u_accumulate`` when the
    accumulate format is the coarser). ``exp`` adds :data:`EXP_EXTRA` only when
    it is native (``native_exp``); a simulated ``exp`` is correctly rounded.
    The online softmax of a simulated pipeline (``block`` given) gets the
    bound of ``docs/online-softmax-error.md`` with ``u_c`` and ``u_a`` apart.
    The result is rounded once into ``storage``, so the bound in ULPs of the
    storage format is ``units * |y| / ulp_s(y)`` (relative) or
    ``units / ulp_s(y)`` (absolute) plus 1 (that rounding's half ULP and the
    reference's). ``x`` and ``reference`` are float64 arrays holding exact
    values of ``storage``; formats are :class:`stable_softmax.formats.Format`.
    ``u_compute``/``u_accumulate`` replace the formats' unit roundoffs (``2u``
    for stochastic rounding, whose results are within one ulp, not half).
    """
    if not has_bound(function, method):
        return None
    shifted, relative, formula = BOUNDS[(function, method)]
    u_c = compute.unit_roundoff if u_compute is None else u_compute
    u_a = accumulate.unit_roundoff if u_accumulate is None else u_accumulate
    u = max(u_c, u_a)
    # the pipeline rounds c once into the compute format (the default path: float32)
    c_kernel = float(np.array(c_exact).astype(compute.dtype))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        row = _Row(x, c_exact, c_kernel, shifted)
        y = reference.astype(np.float64)
        if function == "softmax" and method == "online" and block is not None:
            units_u = _online_units(row, u_c, u_a, block) + (EXP_EXTRA * u_c if native_exp else 0)
        else:
            extra = 0.0 if (formula is _accurate or not native_exp) else EXP_EXTRA
            units_u = (formula(row, y) + extra) * u
        ulp = format_ulp(y, storage)
        bound = (units_u * np.abs(y) if relative else units_u) / ulp + 1.0
    tiny = max(compute.smallest_normal, accumulate.smallest_normal)
    big = min(compute.largest, accumulate.largest)
    # underflowed terms are each off by at most the subnormal spacing: the
    # model holds while their total, n 2^qmin, stays below u s
    ln_sub = max(compute.qmin, accumulate.qmin) * math.log(2.0)
    finite_ref = np.isfinite(y) & (np.abs(y) >= storage.smallest_normal)
    applies = _applies(
        function, method, row, x, finite_ref, math.log(tiny), ln_sub - math.log(u), math.log(big)
    )
    return np.where(applies, bound, np.nan), applies
