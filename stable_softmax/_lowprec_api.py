"""The public functions on narrow formats, and the ``compute=`` arithmetic of any input.

Three routes, chosen by :func:`resolve`:

* default for a narrow ``x`` (float16, bfloat16, the 8-bit formats, ...):
  the fused Numba drivers of :mod:`.kernels.lowprec_io` widen each row
  exactly to float32, run the float32 row kernel of the method, and round the
  row once into the format;
* native ``compute="float32"`` / ``"float64"`` otherwise (``where=``, masks,
  ``b=``, one long row split over threads, float32 storage computed in
  float64, ...): ``x`` converted once to the compute dtype, the public
  function in that dtype, the result rounded once into the storage dtype;
* a simulated compute format: :func:`stable_softmax.lowprec.pipeline.simulate`
  with storage = the format of ``x``.

Every error message about these keywords is here.
"""

from __future__ import annotations

import math
import numbers
import threading
from dataclasses import dataclass

import numpy as np

from ._methods import METHOD_IDS, SPLIT_METHODS
from ._narrow import Codec, codec, narrow_name
from ._validate import Rows, check_method, check_out, normalize_axis, scale_factor
from ._weights import keep_mask, sign_of
from .formats import FORMATS, format_of
from .kernels import lowprec_io as io
from .lowprec import ROUNDINGS, Arithmetic
from .lowprec import pipeline as _pipeline

NATIVE = ("float32", "float64")

_FUSED = {
    "softmax": (io.softmax_narrow_rows, io.softmax_narrow_rows_parallel),
    "log_softmax": (io.log_softmax_narrow_rows, io.log_softmax_narrow_rows_parallel),
    "logsumexp": (io.logsumexp_narrow_rows, io.logsumexp_narrow_rows_parallel),
}


#: Per Python thread, the float32 scratch of the fused drivers, kept between calls
#: up to this many bytes: a fresh large array costs a page fault per 4 KiB on
#: every call (glibc maps allocations above 32 MiB afresh), more than the
#: conversions themselves on rows of millions of elements.
SCRATCH_KEEP_BYTES = 1 << 26
_local = threading.local()


def _scratch(chunks: int, n: int) -> np.ndarray:
    """A ``(chunks, 2, n)`` float32 work array (two rows of ``n`` per chunk of rows).

    Its first element is on a 64-byte boundary (and so is every row when ``n``
    is a multiple of 16): NumPy aligns to 16 bytes, and a 64-byte vector load
    or store that straddles two cache lines costs about twice one that does not
    (measured on long float16 rows: 16.2 ms against 10.0 ms, docs/bench-2026-12-02.md).
    """
    size = chunks * 2 * n
    buf = getattr(_local, "buf", None)
    if buf is None or buf.size < size:
        buf = _aligned_empty(size)
        if size * 4 <= SCRATCH_KEEP_BYTES:
            _local.buf = buf
    return buf[:size].reshape(chunks, 2, n)


def _aligned_empty(size: int, alignment: int = 64) -> np.ndarray:
    """An uninitialised float32 array of ``size`` whose data starts on an ``alignment`` boundary."""
    raw = np.empty(size + alignment // 4, dtype=np.float32)
    skip = (-raw.ctypes.data % alignment) // 4
    return raw[skip : skip + size]


@dataclass(frozen=True)
class Arith:
    """The arithmetic of one call: compute and accumulate formats, rounding, seed."""

    storage: str
    compute: str
    accumulate: str
    rounding: str
    seed: int | None

    @property
    def simulated(self) -> bool:
        return self.compute not in NATIVE


def _format_name(name: str, value) -> str:
    """The format name of a ``compute=``/``accumulate=`` value, or a clear error."""
    try:
        fmt = format_of(value)
    except TypeError:
        raise ValueError(
            f"{name}={value!r} names no format; pass 'float32', 'float64' or a simulated "
            f"format: {', '.join(n for n in FORMATS if n not in NATIVE)}"
        ) from None
    return fmt.name


def resolve(storage: np.dtype, compute, accumulate, rounding, seed) -> Arith:
    """Validate the arithmetic keywords for an ``x`` of dtype ``storage``.

    ``compute=None`` is float32 for narrow storage, the storage dtype for
    float32/float64. A compute format narrower than the storage is allowed:
    the inputs are then rounded once into it (a float32 array computed in
    float16, as a float16 accelerator would).
    """
    store = format_of(storage).name
    if compute is None:
        compute = store if store in NATIVE else "float32"
    else:
        compute = _format_name("compute", compute)
    acc = compute if accumulate is None else _format_name("accumulate", accumulate)
    if rounding not in ROUNDINGS:
        raise ValueError(
            f"rounding must be one of {', '.join(map(repr, ROUNDINGS))}; got {rounding!r}"
        )
    if compute in NATIVE:
        if acc != compute:
            raise ValueError(
                f"accumulate={accumulate!r} needs a simulated compute format: the {compute} "
                f"kernels accumulate in {compute}; pass compute='float16' (or another simulated "
                f"format) with accumulate={acc!r}, or omit accumulate"
            )
        if rounding != "nearest":
            raise ValueError(
                f"rounding={rounding!r} applies to simulated arithmetic; compute={compute!r} "
                "rounds to nearest: pass a simulated compute format such as compute='bfloat16'"
            )
    if rounding == "stochastic":
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
            raise ValueError(
                f"rounding='stochastic' needs seed=<int> so that results can be repeated; "
                f"got seed={seed!r}"
            )
        seed = int(seed)
    elif seed is not None:
        raise ValueError(
            f"seed={seed!r} is used only by rounding='stochastic'; omit it or pass "
            "rounding='stochastic'"
        )
    return Arith(store, compute, acc, rounding, seed)


def round_to(y, dtype: np.dtype) -> np.ndarray:
    """Float32/float64 results ``y`` rounded once (to nearest even) into ``dtype``."""
    y = np.asarray(y)
    if y.dtype == dtype:
        return y
    name = narrow_name(dtype)
    if name is None:  # float32 <-> float64: NumPy rounds correctly
        return y.astype(dtype)
    if y.dtype == np.float32:
        bits = codec(name).narrow(np.ascontiguousarray(y))
        return bits.view(dtype)
    # float64 -> narrow in one rounding (ml_dtypes' bfloat16 goes through float32)
    return Arithmetic(name).round(y).astype(dtype)


def _widen(arr: np.ndarray, compute: str) -> np.ndarray:
    """``arr`` in the native compute dtype: exact from a narrow format, else one rounding."""
    name = narrow_name(arr.dtype)
    if name is not None:
        wide = codec(name).widen(np.ascontiguousarray(arr).view(codec(name).bits))
        return wide if compute == "float32" else wide.astype(np.float64)
    return arr.astype(compute)


def _simulated_scale(beta, base, ar: Arith) -> None:
    """Check that ``c = beta ln(base)`` is a finite nonzero value of the compute format."""
    c = float(scale_factor(beta, base, np.dtype(np.float64)))
    rounded = float(Arithmetic(ar.compute).round(np.array([c]))[0])
    if not math.isfinite(rounded) or rounded == 0:
        raise ValueError(
            f"beta * ln(base) = {c!r} rounds to {rounded!r} in the compute format "
            f"{ar.compute}; pass a smaller beta or base (or a wider compute format)"
        )


def check_simulated_method(function: str, method, ar: Arith) -> None:
    valid = _pipeline.METHODS[function]
    if method not in valid:
        hint = ""
        if method == "accurate":
            hint = (
                f" ('accurate' is the correctly rounded result, not an arithmetic: use "
                f"reference.{function}(x, dtype={ar.storage!r}), or compute='float32')"
            )
        raise ValueError(
            f"method {method!r} is not available for {function} with compute={ar.compute!r}; "
            f"the simulated pipelines have {', '.join(map(repr, valid))}{hint}"
        )


def _simulate_rows(function, arr, keep, layout, method, beta, base, ar: Arith) -> np.ndarray:
    """The simulated pipeline on the ``(rows, n)`` layout; result in the storage dtype."""
    x64 = np.asarray(arr, dtype=np.float64) if arr.dtype.kind == "f" else arr.astype(np.float64)
    if keep is not None:
        if not FORMATS[ar.storage].has_inf:
            raise ValueError(
                f"where= (or a mask) excludes entries as -inf, which {ar.storage} cannot hold "
                f"in a simulated pipeline; pass x in a format with infinities (e.g. "
                f"x.astype(np.float16)) or compute='float32'"
            )
        x64 = np.where(keep, x64, -np.inf)
    rows = layout.rows_of(x64)
    pipe = _pipeline.Pipeline(ar.storage, ar.compute, ar.accumulate, ar.rounding, ar.seed)
    if rows.shape[1] == 0 or rows.shape[0] == 0:
        return None
    return _pipeline.simulate(function, rows, method=method, pipeline=pipe, beta=beta, base=base)


def _fused(function: str, method: str, src: np.ndarray, dst: np.ndarray, c, cd: Codec) -> None:
    """The default narrow path on C-contiguous ``(rows, n)`` bit arrays.

    ``dst`` is ``(rows,)`` float32 for logsumexp.
    """
    import numba

    from ._api import _parallel_launch, _rows_on_threads

    serial, parallel = _FUSED[function]
    rows, n = src.shape
    mid = METHOD_IDS[method]
    width = io.long_row_scratch(function, mid, n, c[0])
    threads = numba.get_num_threads()
    if _rows_on_threads(rows, n, threads):
        scratch = _scratch(threads, width)
        with _parallel_launch():
            parallel(src, dst, c[0], mid, c[1], cd.spec, scratch)
    else:
        serial(src, dst, c[0], mid, c[1], cd.spec, _scratch(1, width))


def _fused_ok(function: str, method: str, rows: int, n: int) -> bool:
    """False where the float32 path splits one long row over threads.

    The fused drivers work a row per thread; there the conversions run around
    the float32 call instead.
    """
    import numba

    from ._api import SPLIT_MIN_ELEMENTS

    threads = numba.get_num_threads()
    return not (
        threads > 1
        and rows < threads
        and n >= SPLIT_MIN_ELEMENTS
        and method in SPLIT_METHODS[function]
    )


def elementwise(function, arr, mask_keep, axis, method, beta, base, out, where, ar: Arith):
    """softmax/log_softmax of ``arr`` in the arithmetic ``ar`` (see the module docstring)."""
    from . import _api

    keep = keep_mask(mask_keep, where, arr.shape)
    layout = Rows.of(arr.shape, normalize_axis(axis, arr.ndim))
    if ar.simulated:
        check_simulated_method(function, method, ar)
        _simulated_scale(beta, base, ar)
        if out is not None:
            check_out(out, arr.shape, arr.dtype)
        flat = _simulate_rows(function, arr, keep, layout, method, beta, base, ar)
        if flat is None:  # an empty array: the native path has the same (empty) result
            ar = Arith(ar.storage, "float32", "float32", "nearest", None)
        else:
            return _deliver(layout.restore(flat), out)
    check_method(function, method)
    name = narrow_name(arr.dtype)
    fused = (
        name is not None
        and ar.compute == "float32"
        and keep is None
        and _fused_ok(function, method, layout.rows, layout.n)
    )
    if not fused:
        wide = _widen(arr, ar.compute)
        call = getattr(_api, function)
        y = call(wide, axis, method=method, beta=beta, base=base, where=keep)
        if out is not None:
            check_out(out, arr.shape, arr.dtype)
        return _deliver(round_to(y, arr.dtype), out)
    cd = codec(name)
    c = _api._scale(method, beta, base, np.dtype(np.float32))
    src = layout.rows_of(arr).view(cd.bits)
    if out is None:
        flat = np.empty((layout.rows, layout.n), dtype=cd.bits)
        _fused(function, method, src, flat, c, cd)
        return layout.restore(flat.view(arr.dtype))
    check_out(out, arr.shape, arr.dtype)
    dst = layout.view(out)
    if dst is not None and (
        not np.may_share_memory(dst, src) or _api._same_layout(dst.view(cd.bits), src)
    ):
        _fused(function, method, src, dst.view(cd.bits), c, cd)
    else:
        flat = np.empty((layout.rows, layout.n), dtype=cd.bits)
        _fused(function, method, src, flat, c, cd)
        np.copyto(out, layout.restore(flat.view(arr.dtype)))
    return out


def _deliver(result: np.ndarray, out):
    if out is None:
        return result
    np.copyto(out, result)
    return out


def logsumexp(arr, mask_keep, axis, method, beta, base, keepdims, b, return_sign, where, ar):
    """Log-sum-exp of ``arr`` in the arithmetic ``ar``; ``(value, sign)`` flat per row."""
    from . import _api

    keep = keep_mask(mask_keep, where, arr.shape)
    axes = normalize_axis(axis, arr.ndim)
    layout = Rows.of(arr.shape, axes)
    if ar.simulated:
        check_simulated_method("logsumexp", method, ar)
        if b is not None:
            raise ValueError(
                f"b= (weights) is not supported with compute={ar.compute!r}: the simulated "
                "pipelines sum unweighted terms; pass compute='float32' (or omit b)"
            )
        _simulated_scale(beta, base, ar)
        flat = _simulate_rows("logsumexp", arr, keep, layout, method, beta, base, ar)
        if flat is not None:
            result = np.asarray(flat).reshape(layout.rows)
            sign = round_to(sign_of(result.astype(np.float32)), arr.dtype) if return_sign else None
            return _reduced_pair(result, sign, layout, axes, keepdims, return_sign)
        ar = Arith(ar.storage, "float32", "float32", "nearest", None)
    check_method("logsumexp", method)
    name = narrow_name(arr.dtype)
    fused = (
        name is not None
        and ar.compute == "float32"
        and keep is None
        and b is None
        and _fused_ok("logsumexp", method, layout.rows, layout.n)
    )
    if not fused:
        wide = _widen(arr, ar.compute)
        y = _api.logsumexp(
            wide,
            axis,
            method=method,
            beta=beta,
            base=base,
            keepdims=keepdims,
            b=b,
            return_sign=return_sign,
            where=keep,
        )
        if return_sign:
            return tuple(_scalar(round_to(v, arr.dtype)) for v in y)
        return _scalar(round_to(y, arr.dtype))
    cd = codec(name)
    c = _api._scale(method, beta, base, np.dtype(np.float32))
    src = layout.rows_of(arr).view(cd.bits)
    wide = np.empty(layout.rows, dtype=np.float32)
    _fused("logsumexp", method, src, wide, c, cd)
    result = round_to(wide, arr.dtype)
    sign = round_to(sign_of(wide), arr.dtype) if return_sign else None
    return _reduced_pair(result, sign, layout, axes, keepdims, return_sign)


def _scalar(v: np.ndarray):
    return v[()] if v.ndim == 0 else v


def _reduced_pair(result, sign, layout, axes, keepdims, return_sign):
    from ._api import _reduced

    result, sign = (_reduced(a, layout, axes, keepdims) for a in (result, sign))
    return (result, sign) if return_sign else result
