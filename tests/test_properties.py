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

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from property_cases import (
    BASES,
    BETAS,
    DTYPES,
    FUNCTION_METHODS,
    FUNCTIONS,
    as_rows,
    assert_untouched,
    axes_for,
    call,
    elementwise_cases,
    examples,
    expected_shape,
    laid_out,
    normalized,
    scale,
    table_violations,
    values,
)

import reference
import stable_softmax as ss
from stable_softmax.accuracy import bounds, metrics


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
    """``out=x`` (in place), ``out`` in another layout, ``out`` overlapping ``x`` reversed."""
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
    np.ones(3, np.longdouble),
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
