r"""Conversions between the narrow formats and float32: exact widening, one rounding back.

The public functions take float16, bfloat16 and the ml_dtypes 8-bit formats
(and every other format of :data:`stable_softmax.formats.FORMATS` stored in
one or two bytes) and compute the way hardware libraries do: each element is
converted exactly to float32, the float32 row kernel runs, and each result is
rounded once, to nearest even, into the narrow format. Converting with
``astype`` around the kernel costs 8-47 times the kernel (ml_dtypes' casts are
scalar loops), so here the conversions are loops of integer operations that
LLVM vectorizes, fused with the kernel row by row: a row is widened into a
float32 scratch (L1/L2 resident for rows up to a few hundred thousand
elements), the kernel runs on the scratch in place, and the scratch is
narrowed into the output row.

Widening (exact: every narrow value is a float32)
-------------------------------------------------
* bfloat16: the 16 bits are the top half of the float32 (a shift).
* float16: normal numbers rebias the exponent (``+112 << 23``); subnormals are
  the integer significand times ``2**-24`` (exact); inf/NaN keep their
  significand under an all-ones float32 exponent.
* one-byte formats: normal numbers rebias as float16's do, subnormals are
  the integer significand times ``2**qmin``; the patterns of inf and NaN
  come from the format's row of the table (a gather from a 256-entry table
  measured 4x slower).

Narrowing (round to nearest even, then the format's overflow rule)
------------------------------------------------------------------
With ``p`` the precision, ``s = 24 - p`` the dropped bits and ``b = 1 - emin``
the bias, a float32 magnitude ``a`` (bits ``A``) at least ``2**emin`` maps to
``(A - ((127 - b) << 23) + 2**(s-1) - 1 + bit_s(A)) >> s``: the integer
addition rounds to nearest even on the unbounded grid of precision ``p``
(a carry out of the significand increments the exponent, which is the next
binade's code). Below ``2**emin`` the float32 addition ``a + C``,
``C = 2**(qmin + 23)``, rounds ``a`` to a multiple of ``2**qmin`` (the ulp of
``C``) with one IEEE rounding, and ``bits(a + C) - bits(C)`` is the
subnormal's code (``2**(p-1)``, the smallest normal, when it rounds up).
A code above the largest finite one becomes the overflow code: inf
(IEEE formats), NaN (float8_e4m3fn: anything above 464 and +-inf), or the
largest value (saturating float6/float4). NaN becomes the format's NaN with
the patterns ml_dtypes produces; fnuz formats map a zero of either sign to
``+0``. These are ml_dtypes' conversion rules;
``scripts/check_conversions.py`` compares both directions with ``astype``
on every narrow input and on every float32 (strided for the 2**32 sweep), and
``tests/test_lowprec_api.py`` on a strided sample.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._options import kernel
from ._passes32 import divide_all32
from .codec_spec import (
    DEC_BF16,
    DEC_F16,
    ENC_BF16,
    ENC_F16,
    CodecSpecType,
    constants,
    decoder_of,
    encoder_of,
)


def _target_has_f16c() -> bool:
    """Whether the CPU Numba compiles for converts float16 in hardware (F16C, x86)."""
    features = numba.config.CPU_FEATURES
    if not features:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features().flatten()
    return "+f16c" in features.split(",")


#: float16 <-> float32 by LLVM's ``fpext``/``fptrunc`` (``vcvtph2ps``/``vcvtps2ph``:
#: IEEE conversions, round to nearest even) where the target has F16C; elsewhere
#: LLVM would call a runtime function that Numba may not link, so the integer
#: code runs instead. Frozen into the compiled code (Numba caches per CPU).
HARDWARE_F16 = _target_has_f16c()


@intrinsic
def _bits(typingctx, v):
    """The bits of a float32 as an int32."""
    if v != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(v), codegen


@intrinsic
def _float(typingctx, k):
    """The float32 whose bits are the low 32 bits of the integer ``k``.

    Numba widens int32 arithmetic to int64; the truncation here lets LLVM
    narrow the whole computation back to 32-bit lanes.
    """
    if not isinstance(k, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        v = args[0]
        if k.bitwidth > 32:
            v = builder.trunc(v, ir.IntType(32))
        elif k.bitwidth < 32:
            v = builder.zext(v, ir.IntType(32)) if not k.signed else builder.sext(v, ir.IntType(32))
        return builder.bitcast(v, ir.FloatType())

    return types.float32(k), codegen


@intrinsic
def _half_to_float(typingctx, h):
    """float32 of the float16 whose bits are the integer ``h`` (``fpext``: exact)."""
    if not isinstance(h, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        v = args[0]
        i16 = ir.IntType(16)
        if h.bitwidth > 16:
            v = builder.trunc(v, i16)
        elif h.bitwidth < 16:  # a one-byte source never takes this path, but compiles it
            v = builder.zext(v, i16)
        return builder.fpext(builder.bitcast(v, ir.HalfType()), ir.FloatType())

    return types.float32(h), codegen


@intrinsic
def _float_to_half(typingctx, v):
    """The float16 bits (uint16) of float32 ``v`` rounded to nearest even (``fptrunc``)."""
    if v != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))

    return types.uint16(v), codegen


@intrinsic
def _float_to_half_vec(typingctx, src, dst):
    """Round the leading multiple of 16 elements of ``src`` (float32) into ``dst``
    (float16 bits) with one vector ``fptrunc`` per 16; returns how many were done.

    LLVM does not vectorize the scalar ``fptrunc`` loop (its cost model), so
    the vector loop is written out: ``vcvtps2ph`` on 16 lanes (AVX-512) or two
    of 8 (F16C). Other array types compile to a no-op returning 0 (the scalar
    loop then does everything).
    """
    ok = (
        isinstance(src, types.Array)
        and isinstance(dst, types.Array)
        and src.dtype == types.float32
        and dst.dtype == types.uint16
        and src.ndim == dst.ndim == 1
        and src.layout == dst.layout == "C"
    )
    if not (isinstance(src, types.Array) and isinstance(dst, types.Array)):
        return None

    def codegen(context, builder, signature, args):
        intp = context.get_value_type(types.intp)
        if not ok:
            return intp(0)
        lanes = 16
        sa = context.make_array(signature.args[0])(context, builder, args[0])
        da = context.make_array(signature.args[1])(context, builder, args[1])
        count = builder.sdiv(sa.nitems, intp(lanes))
        vf = ir.VectorType(ir.FloatType(), lanes)
        vi = ir.VectorType(ir.IntType(16), lanes)
        sp = builder.bitcast(sa.data, vf.as_pointer())
        dp = builder.bitcast(da.data, vi.as_pointer())
        with cgutils.for_range(builder, count) as loop:
            v = builder.load(builder.gep(sp, [loop.index]), align=4)
            h = builder.fptrunc(v, ir.VectorType(ir.HalfType(), lanes))
            builder.store(builder.bitcast(h, vi), builder.gep(dp, [loop.index]), align=2)
        return builder.mul(count, intp(lanes))

    return types.intp(src, dst), codegen


@intrinsic
def _float_to_bfloat(typingctx, v):
    """The bfloat16 bits (uint16) of float32 ``v`` rounded to nearest even.

    ``(u + 0x7FFF + bit16(u)) >> 16``: the carry of a round-up moves into the
    exponent (the largest finite values round up to inf); a NaN becomes the
    quiet NaN ``0x7FC0`` with its sign, as ml_dtypes converts it. bfloat16
    has float32's exponent range, so subnormals round the same way.
    """
    if v != types.float32:
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        u = builder.bitcast(args[0], i32)
        odd = builder.and_(builder.lshr(u, i32(16)), i32(1))
        rounded = builder.lshr(builder.add(builder.add(u, i32(0x7FFF)), odd), i32(16))
        nan = builder.or_(builder.and_(builder.lshr(u, i32(16)), i32(0x8000)), i32(0x7FC0))
        is_nan = builder.icmp_signed(">", builder.and_(u, i32(0x7FFFFFFF)), i32(0x7F800000))
        return builder.trunc(builder.select(is_nan, nan, rounded), ir.IntType(16))

    return types.uint16(v), codegen


@intrinsic
def _widen_one(typingctx, code, spec):
    """float32 of the narrow pattern ``code`` of the format of ``spec``.

    The 8 parameters (``spec.widen``, constants in the compiled code): the
    dropped bits ``s = 24 - p``, the sign bit, the rebias ``(127 - b) << 23``,
    the smallest normal magnitude code ``2**(p-1)``, the bits of ``2**qmin``
    (a float32), the magnitude code of inf (or -1), the first NaN magnitude
    code (or -1) and a pattern that alone is NaN (fnuz's ``-0``, or -1).
    Normal: ``(m << s) + rebias``; subnormal: ``m * 2**qmin`` (exact); all in
    32-bit lanes (see :func:`_narrow_one`).
    """
    if not isinstance(code, types.Integer) or not isinstance(spec, CodecSpecType):
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        f32 = ir.FloatType()
        c = args[0]
        c = builder.zext(c, i32) if code.bitwidth < 32 else builder.trunc(c, i32)
        p = constants(spec.spec.widen)
        s, sign_bit, rebias, normal_min, quantum_bits, inf_code, nan_min, nan_pattern = p
        m = builder.and_(c, builder.sub(sign_bit, i32(1)))
        normal = builder.add(builder.shl(m, s), rebias)
        small = builder.fmul(builder.sitofp(m, f32), builder.bitcast(quantum_bits, f32))
        bits = builder.select(
            builder.icmp_signed("<", m, normal_min), builder.bitcast(small, i32), normal
        )
        bits = builder.select(builder.icmp_signed("==", m, inf_code), i32(0x7F800000), bits)
        is_nan = builder.or_(
            builder.and_(
                builder.icmp_signed(">=", m, nan_min), builder.icmp_signed(">=", nan_min, i32(0))
            ),
            builder.icmp_signed("==", c, nan_pattern),
        )
        bits = builder.select(is_nan, i32(0x7FC00000), bits)
        negative = builder.icmp_signed("!=", builder.and_(c, sign_bit), i32(0))
        bits = builder.select(negative, builder.or_(bits, i32(-0x80000000)), bits)
        return builder.bitcast(bits, f32)

    return types.float32(code, spec), codegen


@kernel
def decode(src, dst, spec):
    """``dst[i] = float32(src[i])`` exactly; ``src`` holds the bits of the format of ``spec``
    (uint16 for bfloat16 and float16, uint8 for the one-byte formats).
    """
    kind = decoder_of(spec)
    if kind == DEC_BF16:
        for i in range(src.size):
            dst[i] = _float(np.int32(src[i]) << np.int32(16))
    elif kind == DEC_F16 and HARDWARE_F16:
        for i in range(src.size):
            dst[i] = _half_to_float(src[i])
    elif kind == DEC_F16:
        two_m24 = np.float32(2.0**-24)
        for i in range(src.size):
            h = np.int32(src[i])
            em = h & np.int32(0x7FFF)
            sign = (h & np.int32(0x8000)) << np.int32(16)
            # normal: rebias 15 -> 127; inf/NaN: all-ones exponent, same significand
            wide = (em << np.int32(13)) + np.int32(112 << 23)
            wide = (em << np.int32(13)) | np.int32(0x7F800000) if em >= np.int32(0x7C00) else wide
            # subnormal or zero: significand * 2**-24, exact in float32
            small = _bits(np.float32(em) * two_m24)
            dst[i] = _float((small if em < np.int32(0x400) else wide) | sign)
    else:
        for i in range(src.size):
            dst[i] = _widen_one(src[i], spec)


def _round_magnitude(builder, a, params):
    """IR: the code of the float32 magnitude with bits ``a`` rounded to nearest even on
    the format's grid (unbounded above: the caller handles overflow), from the first
    five parameters of :func:`_narrow_one` (see the module docstring).
    """
    i32 = ir.IntType(32)
    f32 = ir.FloatType()
    s, half, rebias, normal_min, magic_bits = params
    odd = builder.and_(builder.lshr(a, s), i32(1))
    normal = builder.lshr(builder.add(builder.add(builder.sub(a, rebias), half), odd), s)
    summed = builder.fadd(builder.bitcast(a, f32), builder.bitcast(magic_bits, f32))
    small = builder.sub(builder.bitcast(summed, i32), magic_bits)
    return builder.select(builder.icmp_signed(">=", a, normal_min), normal, small)


@intrinsic
def _narrow_one(typingctx, v, spec):
    """The narrow code (int32) of the float32 ``v`` in the format of ``spec``.

    Written in LLVM IR so that every operation stays in 32-bit lanes (Numba
    widens int32 arithmetic to int64, which halves the vector width). The 13
    parameters are ``spec.narrow`` (constants in the compiled code, made by
    ``stable_softmax._narrow``); the steps are those of the module docstring.
    """
    if v != types.float32 or not isinstance(spec, CodecSpecType):
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        p = constants(spec.spec.narrow)
        s, largest, overflow = p[0], p[5], p[6]
        overflow_nan, nan_pos, nan_neg, payload, sign_bit, signed_zero = p[7:13]
        u = builder.bitcast(args[0], i32)
        a = builder.and_(u, i32(0x7FFFFFFF))
        code = _round_magnitude(builder, a, p[:5])
        over = builder.icmp_signed(">", code, largest)
        code = builder.select(over, overflow, code)
        negative = builder.icmp_signed("<", u, i32(0))
        zero_unsigned = builder.and_(
            builder.icmp_signed("==", code, i32(0)), builder.icmp_signed("==", signed_zero, i32(0))
        )
        with_sign = builder.select(
            builder.and_(negative, builder.not_(zero_unsigned)), builder.or_(code, sign_bit), code
        )
        top = builder.and_(
            builder.lshr(builder.and_(a, i32(0x7FFFFF)), s), payload_mask(builder, payload)
        )
        top = builder.select(builder.icmp_signed("==", top, i32(0)), payload, top)
        nan = builder.or_(builder.select(negative, nan_neg, nan_pos), top)
        is_nan = builder.or_(
            builder.icmp_signed(">", a, i32(0x7F800000)),
            builder.and_(over, builder.icmp_signed("!=", overflow_nan, i32(0))),
        )
        return builder.select(is_nan, nan, with_sign)

    def payload_mask(builder, payload):
        # all ones when payload is 1, zero when 0
        return builder.sub(ir.IntType(32)(0), payload)

    return types.int32(v, spec), codegen


@kernel
def encode(src, dst, spec):
    """``dst[i]`` = the bits of ``src[i]`` (float32) rounded to nearest even into the
    format of ``spec``, by its overflow and NaN rules (see the module docstring).
    """
    kind = encoder_of(spec)
    if kind == ENC_BF16:
        for i in range(src.size):
            dst[i] = _float_to_bfloat(src[i])
    elif kind == ENC_F16 and HARDWARE_F16:
        for i in range(_float_to_half_vec(src, dst), src.size):
            dst[i] = _float_to_half(src[i])
    else:
        for i in range(src.size):
            dst[i] = _narrow_one(src[i], spec)


@intrinsic
def _narrow_unit(typingctx, v, spec):
    """:func:`_narrow_one` for ``0 <= v <= 1``: the rounding alone.

    Every format of the table holds 1 (checked when its spec is made), so no
    such value overflows, and none is negative or NaN: the sign, overflow and
    NaN selects of :func:`_narrow_one` drop out (about half its instructions).
    """
    if v != types.float32 or not isinstance(spec, CodecSpecType):
        return None

    def codegen(context, builder, signature, args):
        a = builder.bitcast(args[0], ir.IntType(32))
        return _round_magnitude(builder, a, constants(spec.spec.narrow[:5]))

    return types.int32(v, spec), codegen


@kernel(inline=True)
def encode_quotients(src, dst, s, spec):
    """``dst[i]`` = the bits of ``src[i] / s`` rounded into the format of ``spec``: the
    division pass of shifted softmax and the rounding in one loop (the same bits
    as dividing ``src`` in place and then :func:`encode`).

    ``src`` holds exponentials ``>= 0`` and ``s`` their float32 sum, so a finite
    ``s`` makes every quotient a number in ``[0, 1]``, which the one-byte formats
    round with :func:`_narrow_unit`; otherwise (a NaN among them) the general
    rounding runs. float16 in hardware divides in place and then converts
    (LLVM does not vectorize a scalar ``fptrunc`` loop). ``src`` may be written.
    """
    kind = encoder_of(spec)
    if kind == ENC_F16 and HARDWARE_F16:
        divide_all32(src, s)
        encode(src, dst, spec)
    elif kind == ENC_BF16:
        for i in range(src.size):
            dst[i] = _float_to_bfloat(src[i] / s)
    elif math.isfinite(s):
        for i in range(src.size):
            dst[i] = _narrow_unit(src[i] / s, spec)
    else:
        for i in range(src.size):
            dst[i] = _narrow_one(src[i] / s, spec)


@kernel(parallel=True)
def decode_parallel(src, dst, spec):
    """:func:`decode` of a flat array, in blocks over threads."""
    nb = (src.size + 65535) // 65536
    for b in prange(nb):
        decode(src[b * 65536 : (b + 1) * 65536], dst[b * 65536 : (b + 1) * 65536], spec)


@kernel(parallel=True)
def encode_parallel(src, dst, spec):
    """:func:`encode` of a flat array, in blocks over threads."""
    nb = (src.size + 65535) // 65536
    for b in prange(nb):
        encode(src[b * 65536 : (b + 1) * 65536], dst[b * 65536 : (b + 1) * 65536], spec)
