"""float32 row passes written as explicit 16-lane vector loops (LLVM IR through llvmlite).

LLVM's loop vectorizer turns the plain Numba loops of :mod:`._blocks` into
AVX-512 code, but with one vector per iteration (no interleaving, so the long
dependency chain of the exponential leaves the FMA units idle), an integer
detour for the maximum (a float ``max`` reduction is not vectorized without
``nnan``), an integer ``k`` converted back to float for the scaling, and the
sum in a second loop (a fused loop would go down LLVM's scalar path when
``out`` is ``x``). Here each pass is one loop over ``<16 x float>`` vectors,
two vectors per iteration:

* :func:`vmax32`: the maximum by ``x > m ? x : m`` (``vmaxps``), NaN ignored;
* :func:`exp_store_sum32`, :func:`exp_sum32`: ``exp(c (x - m))`` stored and
  summed in the same loop (reads before writes at each index, so ``out`` may be
  ``x``), the sum in two vector accumulators added lane by lane at the end;
* :func:`divide32`: the quotients; :func:`divide_max32` the same loop fused
  with the maximum of the next row (see :func:`divide_all_max32`).

The exponential is the arithmetic of :func:`.exp._exp_kernel`, operation for
operation (the same bits as :func:`.exp.exp32`): ``k`` stays a float
(``z - shift``, exact) and the scaling is ``vscalefps`` on AVX-512; on other
targets the same ``<16 x float>`` IR is split by LLVM into narrower vectors and
the scaling multiplies by two exponent-bit factors (:func:`.exp._mul_pow2`'s
portable path), which gives the same bits. The vector width is fixed at 16
lanes on every target, so the lane order of the sums, and therefore every
result, is the same with and without AVX-512.

Each function processes the largest multiple of 16 elements and returns how
many it did; the caller finishes the (< 16) rest with the scalar kernels
(:mod:`._passes32` does both).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .exp import (
    _LN2_HI_32,
    _LN2_LO_32,
    _LOG2E_32,
    _P_32,
    _SHIFT_32,
    _XMAX_32,
    _XMIN_32,
    _targets_avx512,
)

W = 16  # lanes
_F32 = ir.FloatType()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_VF = ir.VectorType(_F32, W)
_VI = ir.VectorType(_I32, W)


def _const(value):
    return ir.Constant(_VF, [float(value)] * W)


def _bcast(builder, scalar):
    undef = ir.Constant(_VF, ir.Undefined)
    v = builder.insert_element(undef, scalar, _I32(0))
    return builder.shuffle_vector(v, undef, ir.Constant(_VI, [0] * W))


def _fma(builder, a, b, c):
    """``a b + c`` rounded once, lane by lane (``llvm.fma``)."""
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(_VF, [_VF, _VF, _VF]), "llvm.fma.v16f32"
    )
    return builder.call(fn, [a, b, c])


def _vmax(builder, a, b):
    """``a > b ? a : b`` lane by lane (``vmaxps a, b``: a NaN ``a`` gives ``b``)."""
    return builder.select(builder.fcmp_ordered(">", a, b), a, b)


def _scale_pow2(builder, p, z, kf, avx512):
    """``p 2^k`` rounded once, ``kf`` = ``k`` as a float, ``z = k + shift`` (see exp._mul_pow2)."""
    if avx512:
        fnty = ir.FunctionType(_VF, [_VF, _VF, _VF, ir.IntType(16), _I32])
        fn = cgutils.get_or_insert_function(
            builder.module, fnty, "llvm.x86.avx512.mask.scalef.ps.512"
        )
        undef = ir.Constant(_VF, ir.Undefined)
        return builder.call(fn, [p, kf, undef, ir.IntType(16)(-1), _I32(4)])
    k = builder.sub(builder.bitcast(z, _VI), builder.bitcast(_const(_SHIFT_32), _VI))
    k1 = builder.ashr(k, ir.Constant(_VI, [1] * W))
    k2 = builder.sub(k, k1)
    out = p
    for kk in (k1, k2):
        bits = builder.shl(builder.add(kk, ir.Constant(_VI, [127] * W)), ir.Constant(_VI, [23] * W))
        out = builder.fmul(out, builder.bitcast(bits, _VF))
    return out


def _exp_vec(builder, t, upper, avx512):
    """``exp(t)`` lane by lane: :func:`.exp._exp_kernel` with the float32 constants."""
    xmin = _const(_XMIN_32)
    # max(t, xmin), min(., xmax) as Python's max/min: a NaN t passes through.
    xc = builder.select(builder.fcmp_ordered(">", xmin, t), xmin, t)
    if upper:
        xmax = _const(_XMAX_32)
        xc = builder.select(builder.fcmp_ordered("<", xmax, xc), xmax, xc)
    shift = _const(_SHIFT_32)
    z = _fma(builder, xc, _const(_LOG2E_32), shift)
    kf = builder.fsub(z, shift)  # exact: the integer k as a float
    nkf = builder.fneg(kf)
    r = _fma(builder, nkf, _const(_LN2_HI_32), xc)
    r = _fma(builder, nkf, _const(_LN2_LO_32), r)
    p = _const(_P_32[0])
    for coef in _P_32[1:]:
        p = _fma(builder, p, r, _const(coef))
    return _scale_pow2(builder, p, z, kf, avx512)


#: Prefetch distance in elements: 4 KiB ahead (the next row of a 4096 x 1024 array).
#: Measured (docs/bench-2026-12-02.md): 128 and 256 too short, 1024 and 2048 alike.
PREFETCH = 1024


def _prefetch(builder, base, offset, write):
    """``prefetcht0`` / ``prefetchw`` of the line holding ``base[offset + PREFETCH]``.

    The hardware prefetchers stop at page boundaries and, trained per load
    instruction, vary with where the code lands in memory; an explicit prefetch
    keeps rows that come from memory streaming (a prefetch never faults, so it
    may run past the end of the array).
    """
    i8p = ir.IntType(8).as_pointer()
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [i8p, _I32, _I32, _I32]), "llvm.prefetch.p0"
    )
    addr = builder.bitcast(builder.gep(base, [builder.add(offset, _I64(PREFETCH))]), i8p)
    builder.call(fn, [addr, _I32(1 if write else 0), _I32(3), _I32(1)])


def _vec_ptr(builder, base, offset):
    return builder.bitcast(builder.gep(base, [offset]), _VF.as_pointer())


def _hsum(builder, v):
    """Lanes added pairwise: (0..7)+(8..15), then halves again, down to one."""
    width = W
    while width > 1:
        half = width // 2
        lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, half), list(range(half))))
        hi = builder.shuffle_vector(
            v, v, ir.Constant(ir.VectorType(_I32, half), list(range(half, width)))
        )
        v = builder.fadd(lo, hi)
        width = half
    return builder.extract_element(v, _I32(0))


def _hmax(builder, v):
    width = W
    while width > 1:
        half = width // 2
        lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, half), list(range(half))))
        hi = builder.shuffle_vector(
            v, v, ir.Constant(ir.VectorType(_I32, half), list(range(half, width)))
        )
        v = builder.select(builder.fcmp_ordered(">", hi, lo), hi, lo)
        width = half
    return builder.extract_element(v, _I32(0))


def is_f32_c_array(a):
    """A Numba type: a contiguous 1-D float32 array (what the loops here take)."""
    return (
        isinstance(a, types.Array) and a.ndim == 1 and a.dtype == types.float32 and a.layout == "C"
    )


def _vector_loop(builder, n, unroll, body):
    """Call ``body(offset, u)`` for vectors at element offsets ``0, 16, ...`` below ``n``.

    ``unroll`` vectors per iteration (``u`` = 0 .. unroll-1), then the leftover
    whole vectors one by one with ``u = 0``. Returns the number of elements done.
    """
    step = W * unroll
    chunks = builder.udiv(n, _I64(step))
    with cgutils.for_range(builder, chunks) as loop:
        base = builder.mul(loop.index, _I64(step))
        for u in range(unroll):
            body(builder.add(base, _I64(W * u)), u)
    done = builder.mul(chunks, _I64(step))
    rest = builder.udiv(builder.sub(n, done), _I64(W))
    with cgutils.for_range(builder, rest) as loop:
        body(builder.add(done, builder.mul(loop.index, _I64(W))), 0)
    return builder.add(done, builder.mul(rest, _I64(W)))


@intrinsic
def vmax32(typingctx, x):
    """``(m, done)``: the maximum of ``x[:done]`` (``-inf`` if none), ``done = 16 (n // 16)``.

    Lane maxima ``x > m ? x : m``: a NaN never wins (the callers see it
    through the sum of exponentials, which it makes NaN); ``-0`` and ``+0``
    may come out either way (they are equal).
    """
    if not is_f32_c_array(x):
        return None
    sig = types.Tuple((types.float32, types.intp))(x)

    def codegen(context, builder, signature, args):
        xa = context.make_array(signature.args[0])(context, builder, args[0])
        m, done = _max_loop(builder, xa.nitems, xa.data)
        return context.make_tuple(builder, signature.return_type, [m, done])

    return sig, codegen


def _max_loop(builder, n, data, also=None):
    """The loop of :func:`vmax32` over ``n`` floats at ``data``: ``(max, done)``.

    Four vector accumulators (the ``vmaxps`` latency), combined at the end.
    ``also(offset)``, if given, emits more work on the same vector offset
    (:func:`divide_max32`).
    """
    unroll = 4
    accs = [cgutils.alloca_once_value(builder, _const(float("-inf"))) for _ in range(unroll)]

    def body(offset, u):
        _prefetch(builder, data, offset, False)
        if also is not None:
            also(offset)
        v = builder.load(_vec_ptr(builder, data, offset), align=4)
        builder.store(_vmax(builder, v, builder.load(accs[u])), accs[u])

    done = _vector_loop(builder, n, unroll, body)
    a = [builder.load(acc) for acc in accs]
    m = _vmax(builder, _vmax(builder, a[0], a[1]), _vmax(builder, a[2], a[3]))
    return _hmax(builder, m), done


def _exp_sum_intrinsic(store, upper):
    """An intrinsic ``(x, out, c, m) -> (sum, done)`` of ``exp(c (x - m))``, stored if ``store``."""

    def impl(typingctx, x, out, c, m):
        if not (is_f32_c_array(x) and is_f32_c_array(out)):
            return None
        if c != types.float32 or m != types.float32:
            return None
        sig = types.Tuple((types.float32, types.intp))(x, out, c, m)

        def codegen(context, builder, signature, args):
            avx512 = _targets_avx512(context)
            xa = context.make_array(signature.args[0])(context, builder, args[0])
            oa = context.make_array(signature.args[1])(context, builder, args[1])
            cv = _bcast(builder, args[2])
            mv = _bcast(builder, args[3])
            unroll = 2
            accs = [cgutils.alloca_once_value(builder, _const(0.0)) for _ in range(unroll)]

            def loop(scaled):
                def body(offset, u):
                    if store:
                        _prefetch(builder, oa.data, offset, True)
                    v = builder.load(_vec_ptr(builder, xa.data, offset), align=4)
                    t = builder.fsub(v, mv)
                    if scaled:
                        t = builder.fmul(cv, t)
                    e = _exp_vec(builder, t, upper, avx512)
                    if store:
                        builder.store(e, _vec_ptr(builder, oa.data, offset), align=4)
                    builder.store(builder.fadd(builder.load(accs[u]), e), accs[u])

                return _vector_loop(builder, xa.nitems, unroll, body)

            # c = 1 (beta = 1, base e: the default) skips the multiply: 1 t = t exactly.
            is_one = builder.fcmp_ordered("==", args[2], _F32(1.0))
            with builder.if_else(is_one) as (one, other):
                with one:
                    loop(False)
                with other:
                    loop(True)
            done = builder.mul(builder.udiv(xa.nitems, _I64(W)), _I64(W))
            total = builder.fadd(builder.load(accs[0]), builder.load(accs[1]))
            return context.make_tuple(builder, signature.return_type, [_hsum(builder, total), done])

        return sig, codegen

    return intrinsic(impl)


@intrinsic
def divide32(typingctx, out, s):
    """``out[i] = out[i] / s`` (correctly rounded, ``vdivps``) for ``i < done``; returns ``done``.

    ``done = 16 (n // 16)``; the loop prefetches ahead as the others do.
    """
    if not is_f32_c_array(out) or s != types.float32:
        return None
    sig = types.intp(out, s)

    def codegen(context, builder, signature, args):
        oa = context.make_array(signature.args[0])(context, builder, args[0])
        sv = _bcast(builder, args[1])

        def body(offset, u):
            _prefetch(builder, oa.data, offset, True)
            ptr = _vec_ptr(builder, oa.data, offset)
            builder.store(builder.fdiv(builder.load(ptr, align=4), sv), ptr, align=4)

        return _vector_loop(builder, oa.nitems, 4, body)

    return sig, codegen


@intrinsic
def divide_max32(typingctx, out, s, y):
    """``(m, done)``: :func:`divide32` of ``out`` by ``s`` and, in the same loop, the
    maximum of ``y[:done]`` as :func:`vmax32` finds it (``y`` as long as ``out``).
    """
    if not (is_f32_c_array(out) and is_f32_c_array(y)) or s != types.float32:
        return None
    sig = types.Tuple((types.float32, types.intp))(out, s, y)

    def codegen(context, builder, signature, args):
        oa = context.make_array(signature.args[0])(context, builder, args[0])
        ya = context.make_array(signature.args[2])(context, builder, args[2])
        sv = _bcast(builder, args[1])

        def divide(offset):
            ptr = _vec_ptr(builder, oa.data, offset)
            builder.store(builder.fdiv(builder.load(ptr, align=4), sv), ptr, align=4)

        m, done = _max_loop(builder, oa.nitems, ya.data, also=divide)
        return context.make_tuple(builder, signature.return_type, [m, done])

    return sig, codegen


@intrinsic
def exp_divide32(typingctx, x, out, c, m, s):
    """``out[i] = exp(c (x[i] - m)) / s`` for ``i < done = 16 (n // 16)``; returns ``done``.

    For ``c (x - m) <= 0``: the terms of :func:`exp_store_sum32_nonpositive`
    (the same bits), each divided by ``s`` (``vdivps``, correctly rounded).
    """
    if not (is_f32_c_array(x) and is_f32_c_array(out)):
        return None
    if not (c == m == s == types.float32):
        return None
    sig = types.intp(x, out, c, m, s)

    def codegen(context, builder, signature, args):
        avx512 = _targets_avx512(context)
        xa = context.make_array(signature.args[0])(context, builder, args[0])
        oa = context.make_array(signature.args[1])(context, builder, args[1])
        cv, mv, sv = (_bcast(builder, a) for a in args[2:])

        def body(offset, u):
            _prefetch(builder, xa.data, offset, False)
            _prefetch(builder, oa.data, offset, True)
            v = builder.load(_vec_ptr(builder, xa.data, offset), align=4)
            e = _exp_vec(builder, builder.fmul(cv, builder.fsub(v, mv)), False, avx512)
            builder.store(builder.fdiv(e, sv), _vec_ptr(builder, oa.data, offset), align=4)

        return _vector_loop(builder, xa.nitems, 2, body)

    return sig, codegen


#: ``(x, out, c, m) -> (sum, done)``: ``out[:done] = exp(c (x - m))`` and their sum.
exp_store_sum32 = _exp_sum_intrinsic(store=True, upper=True)
#: The same for ``c (x - m) <= 0`` (``c > 0``, ``m = max(x)``): no overflow clamp.
exp_store_sum32_nonpositive = _exp_sum_intrinsic(store=True, upper=False)
#: ``(x, out, c, m) -> (sum, done)`` without storing (``out`` is not written).
exp_sum32 = _exp_sum_intrinsic(store=False, upper=True)
