"""Hypothesis strategies and helpers shared by the property-based test modules.

``test_properties.py`` (the public functions: structure, the special-value
table, errors, accuracy against the reference) and
``test_properties_calculus.py`` (the softmax calculus) draw their inputs here;
the profiles (``hardening-ci``, ``hardening-deep``) are registered here once.
"""

from __future__ import annotations

import math
import os

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import stable_softmax as ss

settings.register_profile(
    "hardening-ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
settings.register_profile("hardening-deep", settings.get_profile("hardening-ci"), derandomize=False)
_PROFILE_NAME = os.environ.get("STABLE_SOFTMAX_HYPOTHESIS_PROFILE", "hardening-ci")
_PROFILE = settings.get_profile(_PROFILE_NAME)
_SCALE = 20 if _PROFILE_NAME == "hardening-deep" else 1


def examples(n: int) -> settings:
    """Settings of the active profile with ``n`` examples (times the profile's scale)."""
    return settings(_PROFILE, max_examples=n * _SCALE)


DTYPES = (np.float32, np.float64)
FUNCTIONS = ("softmax", "log_softmax", "logsumexp")
FUNCTION_METHODS = [(f, m) for f in FUNCTIONS for m in ss.METHODS[f]]
BETAS = (1.0, 0.5, 3.0, 0.25)
BASES = (None, 2.0, 10.0)

# ---------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------


def special_values(dtype) -> list[float]:
    info = np.finfo(dtype)
    tiny = float(info.smallest_subnormal)
    return [
        0.0,
        -0.0,
        math.inf,
        -math.inf,
        math.nan,
        float(info.max),
        -float(info.max),
        tiny,
        -tiny,
        float(info.tiny),
        -float(info.tiny),
        1.0,
        -1.0,
        float(np.log(info.max)),
        float(np.log(info.tiny)),
    ]


def values(dtype, *, finite: bool = False) -> st.SearchStrategy[float]:
    """Floats of ``dtype``: moderate logits, the whole range (+-0, +-inf, NaN, subnormals)."""
    width = 32 if dtype == np.float32 else 64
    whole = st.floats(width=width, allow_nan=not finite, allow_infinity=not finite)
    moderate = st.floats(-120.0, 120.0, width=width)
    edges = st.sampled_from([v for v in special_values(dtype) if not finite or math.isfinite(v)])
    return st.one_of(moderate, whole, edges)


LAYOUTS = ("C", "F", "strided", "reversed", "transposed")


@st.composite
def laid_out(draw, dtype, elements, *, max_dims=3, max_side=5, min_dims=0, min_side=0):
    """``(view, base)``: an array in one of :data:`LAYOUTS` and the buffer it lives in."""
    shape = draw(
        hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)
    )
    layout = draw(st.sampled_from(LAYOUTS)) if shape else "C"
    if layout == "strided":
        base = draw(hnp.arrays(dtype, tuple(2 * s + 1 for s in shape), elements=elements))
        start = draw(st.integers(0, 1))
        view = base[tuple(slice(start, start + 2 * s, 2) for s in shape)]
    elif layout == "reversed":
        base = draw(hnp.arrays(dtype, shape, elements=elements))
        view = base[tuple(slice(None, None, -1) for _ in shape)]
    elif layout == "transposed":
        base = draw(hnp.arrays(dtype, shape[::-1], elements=elements))
        view = base.T
    else:
        base = draw(hnp.arrays(dtype, shape, elements=elements))
        if layout == "F":
            base = np.asfortranarray(base)
        view = base
    assert view.shape == shape
    return view, base


def axes_for(ndim: int) -> st.SearchStrategy:
    """Every axis form: None, an int (either sign), a tuple (either sign, any order), ()."""
    forms = [st.none(), st.just(())]
    if ndim:
        forms.append(st.integers(-ndim, ndim - 1))
        forms.append(
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).flatmap(
                lambda axes: st.tuples(*(st.sampled_from([a, a - ndim]) for a in axes))
            )
        )
    return st.one_of(*forms)


# ---------------------------------------------------------------------------
# helpers: (rows, n) layout of x and results, the special-value table
# ---------------------------------------------------------------------------


def normalized(axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a % ndim for a in axes))


def as_rows(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``a`` with the reduced ``axes`` last and merged: ``(rows, n)``, a copy."""
    kept = tuple(i for i in range(a.ndim) if i not in axes)
    moved = a.transpose(kept + axes)
    rows = math.prod(moved.shape[: len(kept)])
    return np.array(moved.reshape(rows, math.prod(moved.shape[len(kept) :])))


def expected_shape(function: str, shape, axes, keepdims=False) -> tuple[int, ...]:
    if function != "logsumexp":
        return tuple(shape)
    if keepdims:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def scale(beta, base, dtype) -> np.floating:
    """``c`` as the kernels see it (see :func:`stable_softmax._validate.scale_factor`)."""
    return dtype.type(beta * (1.0 if base is None else math.log(base)))


def table_violations(function: str, method: str, x: np.ndarray, y: np.ndarray, c) -> np.ndarray:
    """Rows of ``(rows, n)`` logits ``x`` whose result ``y`` breaks the README table or the ranges.

    ``y`` is ``(rows, n)`` (``(rows,)`` for logsumexp). The ``naive`` method
    is unguarded: only the empty-slice rule applies to it. Returns a boolean
    mask of bad rows. Documented exception: ``lse`` forms ``c max(x)``, which
    may overflow for ``c > 1``: softmax ``lse`` gives NaN there (README), and
    log_softmax ``lse`` NaN/``-inf``; such rows are only checked for NaN-free
    special cases.
    """
    rows, n = x.shape
    with np.errstate(all="ignore"):
        nan_row = np.isnan(x).any(axis=1)
        pinf_row = (x == np.inf).any(axis=1) & ~nan_row
        ninf_row = (x == -np.inf).all(axis=1) & ~nan_row & (n > 0)
        special = nan_row | pinf_row | ninf_row
        finite = ~special & (n > 0)
        m = np.where(
            finite, np.max(np.where(np.isnan(x), -np.inf, x), axis=1, initial=-np.inf), 0
        ).astype(x.dtype)
        cm = c * m
    cm_overflows = ~np.isfinite(cm)
    bad = np.zeros(rows, dtype=bool)
    if function == "logsumexp":
        if n == 0:
            return ~(y == -np.inf)
        if method == "naive":
            return bad
        bad |= nan_row & ~np.isnan(y)
        bad |= pinf_row & ~(y == np.inf)
        bad |= ninf_row & ~(y == -np.inf)
        # lse >= c max exactly; in floating point against fl(c max), which
        # is 1 rounding (of the float64 c to the dtype, then of c * max) away
        # from the exact c max unless c == 1.
        with np.errstate(invalid="ignore", over="ignore"):
            floor = cm if c == 1 else np.where(np.isfinite(cm), cm - 2 * np.spacing(np.abs(cm)), cm)
            bad |= finite & (np.isnan(y) | ~(y >= floor))
        return bad
    if n == 0 or method == "naive":
        return bad
    all_nan = np.isnan(y).all(axis=1)
    if function == "softmax":
        bad |= special & ~all_nan
        with np.errstate(invalid="ignore"):
            in_range = ~np.isnan(y) & (y >= 0) & (y <= 1) & np.where(x == -np.inf, y == 0, True)
        ok = in_range.all(axis=1)
        if method == "lse":  # README: "NaN once c max(x) overflows"
            ok |= cm_overflows & (in_range | np.isnan(y)).all(axis=1)
        bad |= finite & ~ok
        return bad
    # log_softmax
    bad |= (nan_row | ninf_row) & ~all_nan
    pinf_pattern = np.where(x == np.inf, np.isnan(y), y == -np.inf).all(axis=1)
    bad |= pinf_row & ~pinf_pattern
    with np.errstate(invalid="ignore"):
        in_range = ~np.isnan(y) & (y <= 0) & np.where(x == -np.inf, y == -np.inf, True)
    ok = in_range.all(axis=1)
    if method == "lse":
        ok |= cm_overflows
    bad |= finite & ~ok
    return bad


def call(function: str, x, axis, method, beta, base, **kwargs):
    return getattr(ss, function)(x, axis, method=method, beta=beta, base=base, **kwargs)


def assert_untouched(base: np.ndarray, snapshot: bytes) -> None:
    assert base.tobytes() == snapshot, "the input buffer was written"


# ---------------------------------------------------------------------------
# softmax, log_softmax, logsumexp: structure and the special-value table
# ---------------------------------------------------------------------------


@st.composite
def elementwise_cases(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    x, base_buf = draw(laid_out(dtype, values(dtype)))
    axis = draw(axes_for(x.ndim))
    beta = draw(st.sampled_from(BETAS))
    base = draw(st.sampled_from(BASES))
    return x, base_buf, axis, beta, base
