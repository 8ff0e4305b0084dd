"""Property-based tests (hypothesis) of every public function and method, both dtypes.

Inputs: arbitrary shapes (0-d, 0-size and 1-element axes included), memory
layouts (C, Fortran, strided, reversed, transposed views), every axis form
(int, negative int, tuple, empty tuple, None), values from the whole float
range with +-0, +-inf, NaN and subnormals, and ``beta``/``base`` choices.

Properties: no exception but the documented ones; the documented dtype and
shape; no write into any input (the whole buffer behind a view is compared
byte for byte); the special-value table of the README wherever a NaN or inf
is present (every method but ``naive``, the unguarded control); softmax in
[0, 1], log_softmax <= 0, logsumexp >= c max; and, against the correctly
rounded reference on small rows, each method's first-order error bound from
:mod:`stable_softmax.accuracy.bounds`.

Profiles: ``hardening-ci`` (default: derandomized, so CI is stable) and
``hardening-deep`` (random, 20 times the examples); pick one with
``STABLE_SOFTMAX_HYPOTHESIS_PROFILE=hardening-deep``. ``scripts/fuzz.py``
pushes a million inputs through the same table.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference
import stable_softmax as ss
from stable_softmax.accuracy import bounds, metrics

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
    """Floats of ``dtype``: moderate logits, the whole range (+-0, +-inf, NaN, subnormals), edges."""
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


@pytest.mark.parametrize("function, method", FUNCTION_METHODS)
@examples(150)
@given(case=elementwise_cases())
def test_structure_and_special_value_table(function, method, case):
    x, buf, axis, beta, base = case
    snapshot = buf.tobytes()
    keepdims = {"keepdims": True} if function == "logsumexp" and x.ndim % 2 else {}
    y = call(function, x, axis, method, beta, base, **keepdims)
    assert_untouched(buf, snapshot)
    axes = normalized(axis, x.ndim)
    assert y.dtype == x.dtype
    assert np.shape(y) == expected_shape(function, x.shape, axes, bool(keepdims))
    xr = as_rows(x, axes)
    yr = as_rows(y, axes) if function != "logsumexp" else np.reshape(y, -1)
    bad = table_violations(function, method, xr, yr, scale(beta, base, x.dtype))
    assert not bad.any(), f"rows {np.flatnonzero(bad)}: x={xr[bad][:2]!r} -> {yr[bad][:2]!r}"


@pytest.mark.parametrize("function, method", FUNCTION_METHODS)
@examples(40)
@given(case=elementwise_cases(), where=st.sampled_from(["self", "fortran", "reversed-self"]))
def test_out_aliasing_gives_the_fresh_result(function, method, case, where):
    """``out=x`` (in place), an ``out`` of another layout, and an ``out`` overlapping ``x`` reversed."""
    if function == "logsumexp":
        return
    x, _, axis, beta, base = case
    fresh = call(function, x, axis, method, beta, base)
    work = x.copy()
    if where == "self":
        target = work
    elif where == "fortran":
        target = np.empty_like(x, order="F")
    else:  # the memory of x, traversed backwards: overlaps in another layout
        target = work[tuple(slice(None, None, -1) for _ in x.shape)] if x.ndim else work[...]
    result = call(function, work, axis, method, beta, base, out=target)
    assert result is target
    np.testing.assert_array_equal(result, fresh, strict=True)


@pytest.mark.parametrize("function", FUNCTIONS)
@examples(40)
@given(
    x=hnp.arrays(
        st.sampled_from([np.int8, np.int64, np.uint32, np.bool_]).map(np.dtype),
        hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=6),
    )
)
def test_ints_and_bools_compute_in_float64(function, x):
    snapshot = x.tobytes()
    y = getattr(ss, function)(x)
    assert x.tobytes() == snapshot
    assert np.asarray(y).dtype == np.float64
    np.testing.assert_array_equal(y, getattr(ss, function)(x.astype(np.float64)))


# Arguments a user can get wrong, and what each documented error is.
_BAD_X = [
    np.ones(3, np.float16),
    np.ones(3, np.complex128),
    np.array(["a", "b"]),
    np.array([1.0, None], dtype=object),
    [[1.0, 2.0], [3.0]],
    "text",
]


@pytest.mark.parametrize("function", FUNCTIONS)
@examples(150)
@given(
    data=st.data(),
    x=st.one_of(
        st.sampled_from(_BAD_X),
        hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(max_dims=2, max_side=4)),
    ),
    axis=st.one_of(
        st.integers(-4, 4),
        st.none(),
        st.tuples(st.integers(-3, 3), st.integers(-3, 3)),
        st.just(1.5),
        st.just("0"),
    ),
    method=st.sampled_from(
        ["shifted", "naive", "lse", "online", "log1p", "accurate", "fast", None, 3]
    ),
    beta=st.sampled_from([1.0, 0.0, -1.0, math.nan, math.inf, 1e308, 1e-320, True, "2", 2]),
    base=st.sampled_from([None, 2, 1.0, 0.5, -3.0, math.nan, math.inf, 1e300, "e"]),
)
def test_only_documented_exceptions(function, data, x, axis, method, beta, base):
    """Bad arguments raise TypeError or ValueError (AxisError is a ValueError), nothing else."""
    kwargs = {}
    if function != "logsumexp" and isinstance(x, np.ndarray):
        out_kind = data.draw(st.sampled_from(["none", "ok", "shape", "dtype", "readonly", "list"]))
        if out_kind == "ok":
            kwargs["out"] = np.empty_like(x)
        elif out_kind == "shape":
            kwargs["out"] = np.empty(x.shape + (1,), x.dtype)
        elif out_kind == "dtype":
            kwargs["out"] = np.empty(x.shape, np.float16)
        elif out_kind == "readonly":
            kwargs["out"] = np.empty_like(x)
            kwargs["out"].flags.writeable = False
        elif out_kind == "list":
            kwargs["out"] = [0.0]
    snapshot = x.tobytes() if isinstance(x, np.ndarray) and x.dtype != object else None
    try:
        y = getattr(ss, function)(x, axis, method=method, beta=beta, base=base, **kwargs)
    except (TypeError, ValueError) as err:
        assert str(err), "an error without a message"
    else:
        assert isinstance(x, np.ndarray) and x.dtype in DTYPES
        assert np.asarray(y).dtype == x.dtype
    if snapshot is not None:
        assert x.tobytes() == snapshot


# ---------------------------------------------------------------------------
# accuracy against the correctly rounded reference (small rows: it is slow)
# ---------------------------------------------------------------------------


def bound_for(function, method, xr, ref, c_exact):
    """``(bound in ULPs of ref, mask where it applies, relative?)`` or None (bounds.py)."""
    if not bounds.has_bound(function, method):
        return None
    with np.errstate(all="ignore"):
        bound, applies = bounds.bound_ulps(function, method, xr, ref, c_exact)
    relative = bounds.BOUNDS[(function, method)][1]
    # A bound that overflows float64 (logits near the largest float) is
    # outside the first-order model: no statement is made there.
    return bound, applies & np.isfinite(bound), relative


def error_in_ulps(result, ref, relative: bool) -> np.ndarray:
    """Ordinal ULP distance for relative bounds; ``|result - ref| / ulp(ref)`` for absolute
    ones (an absolute error converted to ULPs of the reference, as bounds.py converts the
    bound; the ordinal distance would count every float between a result of 0 and -ln 2).
    """
    ordinal = metrics.ulp_distance(result, ref)
    if relative:
        return ordinal
    with np.errstate(all="ignore"):
        r64, ref64 = result.astype(np.float64), ref.astype(np.float64)
        scaled = np.abs(r64 - ref64) / np.spacing(np.abs(ref)).astype(np.float64)
    return np.where(np.isfinite(r64) & np.isfinite(ref64), scaled, ordinal)


@st.composite
def reference_cases(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    x, _ = draw(
        laid_out(dtype, values(dtype, finite=True), min_dims=1, max_dims=2, min_side=1, max_side=4)
    )
    axis = draw(axes_for(x.ndim))
    n = math.prod(x.shape[a] for a in normalized(axis, x.ndim))
    assume(n <= 16)
    return x, axis, draw(st.sampled_from(BETAS)), draw(st.sampled_from(BASES))


@pytest.mark.parametrize("function, method", FUNCTION_METHODS)
@examples(40)
@given(case=reference_cases())
def test_within_documented_bound_of_the_reference(function, method, case):
    x, axis, beta, base = case
    try:
        ref = getattr(reference, function)(x, axis, beta=beta, base=base)
    except reference.PrecisionLimitError:
        assume(False)
    y = call(function, x, axis, method, beta, base)
    axes = normalized(axis, x.ndim)
    xr = as_rows(x, axes)
    yr, refr = (
        (np.reshape(y, -1), np.reshape(ref, -1))
        if function == "logsumexp"
        else (as_rows(y, axes), as_rows(ref, axes))
    )
    c_exact = beta * (1.0 if base is None else math.log(base))
    got = bound_for(function, method, xr, refr, c_exact)
    # README: lse "NaN once c max(x) overflows" (c > 1): outside every bound.
    exempt = np.zeros(xr.shape[0], bool)
    if method == "lse":
        with np.errstate(over="ignore"):
            exempt = ~np.isfinite(scale(beta, base, x.dtype) * np.max(xr, axis=1))
    if function != "logsumexp":
        exempt = exempt[:, None]
    if got is not None:
        bound, applies, relative = got
        ulps = error_in_ulps(yr, refr, relative)
        over = applies & ~exempt & ~(ulps <= bound)
        assert not over.any(), (
            f"{function} {method}: {ulps[over][:4]} ULP > bound {bound[over][:4]} for x={xr!r}, "
            f"result {yr[over][:4]!r}, reference {refr[over][:4]!r}"
        )
    if method != "naive":
        # Outside the first-order model no NaN or overflow may appear where the
        # reference is finite.
        codes = metrics.classify(yr, refr)
        broken = ((codes == metrics.NAN) | (codes == metrics.OVERFLOW)) & ~exempt
        assert not broken.any(), f"{function} {method}: x={xr!r} gave {yr!r}, reference {refr!r}"


@pytest.mark.parametrize("method", ["shifted", "online"])
def test_log_softmax_shift_overflow(method):
    x = np.array([3.4028235e38, -3.4028235e38], np.float32)
    expected = reference.log_softmax(x, beta=0.5)
    assert np.isfinite(expected).all()
    np.testing.assert_array_equal(ss.log_softmax(x, beta=0.5, method=method), expected)


# ---------------------------------------------------------------------------
# the softmax calculus
# ---------------------------------------------------------------------------


@st.composite
def class_axis_cases(draw, *, finite=False, max_side=5):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    x, buf = draw(
        laid_out(dtype, values(dtype, finite=finite), min_dims=1, max_dims=3, max_side=max_side)
    )
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    return x, buf, axis


@examples(150)
@given(case=elementwise_cases())
def test_hardmax(case):
    x, buf, axis, _, _ = case
    snapshot = buf.tobytes()
    y = ss.hardmax(x, axis)
    assert_untouched(buf, snapshot)
    assert y.dtype == x.dtype and y.shape == x.shape
    axes = normalized(axis, x.ndim)
    xr, yr = as_rows(x, axes), as_rows(y, axes)
    if xr.shape[1] == 0:
        return
    nan_row = np.isnan(xr).any(axis=1)
    assert np.isnan(yr[nan_row]).all()
    m = np.max(xr[~nan_row], axis=1, keepdims=True)
    ties = xr[~nan_row] == m
    share = (1.0 / ties.sum(axis=1, keepdims=True)).astype(x.dtype)
    np.testing.assert_array_equal(yr[~nan_row], np.where(ties, share, x.dtype.type(0)), strict=True)


@examples(150)
@given(
    case=class_axis_cases(),
    data=st.data(),
    beta=st.sampled_from(BETAS),
    base=st.sampled_from(BASES),
)
def test_cross_entropy_is_minus_log_softmax_at_the_label(case, data, beta, base):
    x, buf, axis = case
    n = x.shape[axis]
    assume(n > 0)
    kept = x.shape[: axis % x.ndim] + x.shape[axis % x.ndim + 1 :]
    labels = data.draw(hnp.arrays(np.int64, kept, elements=st.integers(0, n - 1)))
    snapshot, label_snapshot = buf.tobytes(), labels.tobytes()
    ce = ss.cross_entropy(x, labels, axis, beta=beta, base=base)
    grad = ss.cross_entropy_grad(x, labels, axis, beta=beta, base=base)
    total = ss.cross_entropy(
        x, labels, axis, beta=beta, base=base, reduction=data.draw(st.sampled_from(["mean", "sum"]))
    )
    assert_untouched(buf, snapshot)
    assert labels.tobytes() == label_snapshot
    assert np.asarray(ce).dtype == x.dtype and np.shape(ce) == kept
    assert np.ndim(total) == 0 and np.asarray(total).dtype == x.dtype
    assert grad.dtype == x.dtype and grad.shape == x.shape
    # documented: equal to -log_softmax(logits)[label] bit for bit
    logp = ss.log_softmax(x, axis, beta=beta, base=base)
    at_label = np.take_along_axis(logp, np.expand_dims(labels, axis % x.ndim), axis).squeeze(
        axis % x.ndim
    )
    np.testing.assert_array_equal(ce, x.dtype.type(0) - at_label, strict=False)
    with np.errstate(invalid="ignore"):
        assert not (np.asarray(ce) < 0).any()
    # gradient: c p off the label, in [-c, 0] at it; NaN exactly where softmax is
    c = scale(beta, base, x.dtype)
    p = ss.softmax(x, axis, beta=beta, base=base)
    onehot = np.zeros(x.shape, bool)
    np.put_along_axis(onehot, np.expand_dims(labels, axis % x.ndim), True, axis)
    np.testing.assert_array_equal(grad[~onehot], c * p[~onehot])
    g = grad[onehot]
    nan = np.isnan(p[onehot])
    assert np.isnan(g[nan]).all()
    assert ((g[~nan] <= 0) & (g[~nan] >= -c)).all()


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_cross_entropy_grad_of_one_class_is_nan_where_softmax_is(value):
    x = np.array([value])
    assert np.isnan(ss.softmax(x)).all()
    assert np.isnan(ss.cross_entropy_grad(x, 0)).all()


@examples(100)
@given(case=class_axis_cases(max_side=4))
def test_softmax_jacobian(case):
    x, buf, axis = case
    snapshot = buf.tobytes()
    J = ss.softmax_jacobian(x, axis)
    assert_untouched(buf, snapshot)
    ax = axis % x.ndim
    n = x.shape[ax]
    kept = x.shape[:ax] + x.shape[ax + 1 :]
    assert J.dtype == x.dtype and J.shape == kept + (n, n)
    p = np.moveaxis(x, ax, -1)
    with np.errstate(all="ignore"):  # IEEE arithmetic of the formula, inf and NaN included
        outer = -(p[..., :, None] * p[..., None, :])
        idx = np.arange(n)
        outer[..., idx, idx] = p * (x.dtype.type(1) - p)
    np.testing.assert_array_equal(J, outer, strict=True)
    np.testing.assert_array_equal(J, np.swapaxes(J, -1, -2))


@st.composite
def pair_cases(draw, on_simplex: bool):
    """``(p or logp, g, axis, buffers)``: finite moderate ``g``, ``p = softmax(z)`` or arbitrary."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    z, zbuf = draw(
        laid_out(dtype, values(dtype, finite=on_simplex), min_dims=1, max_dims=3, max_side=5)
    )
    axis = draw(axes_for(z.ndim)) if z.ndim else None
    gdtype = np.dtype(draw(st.sampled_from(DTYPES)))
    g = draw(
        hnp.arrays(
            gdtype,
            z.shape,
            elements=st.floats(-1e3, 1e3, width=32) if on_simplex else values(gdtype),
        )
    )
    return z, zbuf, g, axis


@pytest.mark.parametrize("vjp", ["softmax_vjp", "log_softmax_vjp"])
@examples(100)
@given(case=pair_cases(on_simplex=False))
def test_vjp_structure(vjp, case):
    z, zbuf, g, axis = case
    snapshots = zbuf.tobytes(), g.tobytes()
    out = getattr(ss, vjp)(z, g, axis)
    assert (zbuf.tobytes(), g.tobytes()) == snapshots
    assert out.shape == z.shape and out.dtype == np.result_type(z, g)


@pytest.mark.parametrize("vjp", ["softmax_vjp", "log_softmax_vjp"])
@examples(100)
@given(case=pair_cases(on_simplex=True))
def test_vjp_is_orthogonal_to_ones(vjp, case):
    """On the simplex the VJP of softmax and of log_softmax sums to 0 (a constant shift of
    the logits changes nothing), up to the rounding of ``p`` and of the products.
    """
    z, _, g, axis = case
    dtype = np.result_type(z, g)
    p = ss.softmax(z, axis).astype(dtype)
    first = p if vjp == "softmax_vjp" else ss.log_softmax(z, axis).astype(dtype)
    out = getattr(ss, vjp)(first, g, axis)
    axes = normalized(axis, z.ndim)
    pr, gr, outr = as_rows(p, axes), as_rows(g.astype(dtype), axes), as_rows(out, axes)
    if pr.shape[1] == 0:
        return
    assert np.isfinite(outr).all()
    eps = float(np.finfo(z.dtype).eps)  # p carries the rounding of z's dtype
    n = pr.shape[1]
    scale_ = np.sum(np.abs(gr.astype(np.float64)), axis=1) + np.abs(outr.astype(np.float64)).sum(
        axis=1
    )
    total = np.array([math.fsum(row) for row in outr.astype(np.float64)])
    underflow = n * float(np.finfo(dtype).tiny)  # products and sums in the subnormal range
    assert (np.abs(total) <= 4 * (n + 2) * eps * scale_ + underflow).all()


@examples(150)
@given(case=elementwise_cases())
def test_inverse_softmax(case):
    x, buf, axis, _, _ = case
    snapshot = buf.tobytes()
    with np.errstate(invalid="ignore"):
        negative = (x < 0).any()
    if negative:
        with pytest.raises(ValueError, match="negative"):
            ss.inverse_softmax(x, axis)
        assert_untouched(buf, snapshot)
        x = np.abs(x)
    z = ss.inverse_softmax(x, axis)
    assert_untouched(buf, snapshot)
    assert z.dtype == x.dtype and z.shape == x.shape
    with np.errstate(divide="ignore"):
        expected = np.log(x.astype(np.float64)).astype(x.dtype)
    assert (metrics.ulp_distance(z, expected) <= 1).all()


@examples(60)
@given(case=elementwise_cases(), C=st.sampled_from([0.0, -3.5, 100.0]))
def test_inverse_softmax_round_trip(case, C):
    """``softmax(inverse_softmax(w, C)) == w / sum(w)`` for finite weights >= 0 with a positive sum."""
    x, _, axis, _, _ = case
    with np.errstate(invalid="ignore", over="ignore"):
        w = np.where(np.isfinite(x), np.abs(x), 1).astype(x.dtype)
    axes = normalized(axis, x.ndim)
    wr = as_rows(w, axes).astype(np.float64)
    with np.errstate(over="ignore"):
        sums = wr.sum(axis=1)
    assume(wr.size and (sums > 0).all() and np.isfinite(sums).all())
    back = as_rows(ss.softmax(ss.inverse_softmax(w, axis, C=C), axis), axes)
    want = wr / wr.sum(axis=1, keepdims=True)
    eps = float(np.finfo(x.dtype).eps)
    n = wr.shape[1]
    # ln w rounds to 1/2 ulp of |ln w|, which exp turns into a relative error
    # of |ln w| u; the shifted softmax adds its (n + 2 + 2 spread) u.
    with np.errstate(divide="ignore"):
        logs = np.abs(np.log(wr)) + abs(C)
    logs[~np.isfinite(logs)] = 0
    rel = (n + 4 + 4 * logs.max(axis=1, keepdims=True)) * eps
    tiny = float(np.finfo(x.dtype).tiny) / eps
    assert (np.abs(back - want) <= rel * want + tiny).all()
