"""A vectorizable ``exp`` for float32 and float64 in plain Numba.

Numba has no SVML, so ``math.exp``/``np.exp`` inside a loop is a scalar libm
call and the loop does not vectorize. :func:`exp32` and :func:`exp64` are
branch-free scalar kernels that LLVM inlines and vectorizes (AVX-512: ``<16 x
float>`` / ``<8 x double>``; AVX2: ``<8 x float>`` / ``<4 x double>``). Both
stay within 1 ULP (ordinal distance) of the correctly rounded ``exp``, with
NaN -> NaN, +inf -> +inf, -inf -> +0, overflow to +inf and gradual underflow
through the subnormals to +0; ``scripts/check_exp.py`` checks every float32
input exhaustively and float64 on 1e8 random and ~1.3e6 hard inputs.

Method
------
Every rounding is explicit: the multiply-adds are ``llvm.fma`` (one rounding
on any target; one ``vfmadd`` where the CPU has FMA) and no fastmath flag is
used, so the error analysis does not depend on what LLVM contracts. The four
steps (clamp; Cody-Waite reduction ``x = k ln2 + r``; ``exp(r) ~ P(r)``;
scaling ``P 2^k`` with one rounding) are in :func:`_exp_kernel`, each with
the bound it contributes beside it. The total before the last rounding of
``P`` is below half an ulp of ``P``, so the result is one of the two floats
around ``exp(x)``: at most 1 ULP (ordinal distance) from the correctly
rounded value, subnormal results included.

The coefficients of ``P`` minimise its relative error on ``[-a, a]``,
``a = ln2/2 (1 + 2^-10)``: a Remez exchange in mpmath at 160 / 240 bits that
rounds ``c2`` to the target format and re-solves for the others, then the
same for ``c3``, then rounds the rest (``scripts/check_exp.py --derive``
reruns it and compares with the constants here). Relative error of ``P``
with its rounded coefficients: 2^-28.2 (float32), 2^-57.1 (float64).

Checked by ``scripts/check_exp.py`` (every float32 input; float64 on 1e8
random and ~1.3e6 hard inputs): at most 1 ULP, and NaN, +-inf, +-0 and the
overflow/underflow thresholds exactly as the correctly rounded exp. The
measured fractions of correctly rounded results and the instruction counts
and timings of the loop are in ``docs/bench-2026-12-02.md``.

Calling from your own kernels
-----------------------------
``fast_exp(x)`` dispatches on the Numba type of ``x`` (float32 -> :func:`exp32`,
float64 and integers -> :func:`exp64`) at compile time::

    from stable_softmax.kernels.exp import fast_exp

    @njit
    def f(x, out):
        for i in range(x.size):
            out[i] = fast_exp(x[i])
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ._options import kernel

__all__ = ["exp32", "exp64", "exp_array", "fast_exp"]


# ---------------------------------------------------------------------------
# LLVM-level helpers (each vectorizes)
# ---------------------------------------------------------------------------


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (``llvm.fma``), for three floats of one type."""
    if not (a == b == c) or a not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, a, a), codegen


def _targets_avx512(context):
    """True when Numba generates code for a CPU with AVX-512F.

    ``magic_tuple()`` is ``(triple, cpu name, features)``, the target Numba
    compiles for (``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` or the host) and
    the key of its cache, so a cached kernel never runs on the other kind.
    """
    try:
        features = context.codegen().magic_tuple()[2]
    except Exception:  # pragma: no cover - other codegens: take the portable path
        return False
    return "+avx512f" in str(features).split(",")


def scaling_method():
    """How the kernels compiled in this process scale by ``2^k`` (see :func:`_mul_pow2`).

    Returns ``"llvm.ldexp -> vscalef (AVX-512)"`` where Numba targets AVX-512F,
    else ``"two exponent-bit factors (portable)"``.
    """
    from numba.core.registry import cpu_target

    if _targets_avx512(cpu_target.target_context):
        return "llvm.ldexp -> vscalef (AVX-512)"
    return "two exponent-bit factors (portable)"


@intrinsic
def _shifted_int(typingctx, t, shift):
    """The integer ``k`` (int32) in ``t = k + shift``, ``shift = 1.5 * 2**m``
    (``m`` = mantissa bits, ``|k| < 2**(m-1)``): ``bits(t) - bits(shift)``.

    An integer subtraction, so no float->int conversion and no poison for a
    NaN ``t`` (the ``k`` of a NaN is some integer; its result is NaN anyway).
    """
    if t != shift or t not in (types.float32, types.float64):
        return None
    bits = 32 if t == types.float32 else 64

    def codegen(context, builder, signature, args):
        ity = ir.IntType(bits)
        k = builder.sub(builder.bitcast(args[0], ity), builder.bitcast(args[1], ity))
        return k if bits == 32 else builder.trunc(k, ir.IntType(32))

    return types.int32(t, shift), codegen


@intrinsic
def _int_to_float(typingctx, k, like):
    """``k`` (int32) converted exactly to the float type of ``like``."""
    if k != types.int32 or like not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        return builder.sitofp(args[0], context.get_value_type(like))

    return like(k, like), codegen


@intrinsic
def _mul_pow2(typingctx, p, k):
    """``p * 2.0**k`` rounded once, for a float ``p`` and an int32 ``k``.

    The caller guarantees ``p`` in ``[0.5, 2]`` (or NaN) and ``k`` in
    ``[-1076, 1024]`` (float64) / ``[-151, 129]`` (float32). Where Numba
    compiles for AVX-512: ``llvm.ldexp`` (``vscalefps``/``vscalefpd``, whose
    int->float conversion of ``k`` LLVM shares with the caller's ``float(k)``).
    Elsewhere (``llvm.ldexp`` would be a scalar libm call):
    ``(p * 2**k1) * 2**k2`` with ``k1 = k >> 1``, ``k2 = k - k1``, both factors
    normal and built from exponent bits, the first product exact. A NaN ``p``
    gives NaN either way.
    """
    if p not in (types.float32, types.float64) or k != types.int32:
        return None
    bits, mant, bias = (32, 23, 127) if p == types.float32 else (64, 52, 1023)

    def codegen(context, builder, signature, args):
        fty = context.get_value_type(p)
        i32 = ir.IntType(32)
        x, k = args
        if _targets_avx512(context):
            fn = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(fty, [fty, i32]),
                f"llvm.ldexp.f{bits}.i32",
            )
            return builder.call(fn, [x, k])
        ity = ir.IntType(bits)
        k1 = builder.ashr(k, i32(1))
        k2 = builder.sub(k, k1)
        factors = []
        for kk in (k1, k2):
            kk = kk if bits == 32 else builder.sext(kk, ity)
            factors.append(builder.bitcast(builder.shl(builder.add(kk, ity(bias)), ity(mant)), fty))
        return builder.fmul(builder.fmul(x, factors[0]), factors[1])

    return p(p, k), codegen


# ---------------------------------------------------------------------------
# the kernel, shared by both formats (steps 1-4 of the module docstring)
# ---------------------------------------------------------------------------


@kernel
def _exp_kernel(x, xmin, xmax, log2e, shift, ln2_hi, ln2_lo, poly):
    """``exp(x)`` with the constants of one format (all of the type of ``x``;
    ``poly`` the coefficients of ``P``, highest degree first). Inlined by
    LLVM into :func:`exp32`/:func:`exp64`, where the constants fold.
    """
    # 1. Clamp: exp(xmin) already rounds to 0 and exp(xmax) already overflows,
    # so -inf, +inf and huge inputs give 0 / inf through the arithmetic below.
    # Python's max/min keep their first argument when the comparison fails,
    # so a NaN x passes through (vmaxps + vminps) and gives a NaN result.
    xc = min(max(x, xmin), xmax)
    # 2. Cody-Waite: k = rint(xc log2(e)) by the shifter trick (one rounding of
    # xc log2(e) + 1.5 2^m to an integer; k = bits(t) - bits(shift), no
    # float->int conversion), so |r| <= ln2/2 (1 + 2^-10).
    k = _shifted_int(_fma(xc, log2e, shift), shift)
    kf = _int_to_float(k, x)
    # Exact: the exact value is a multiple of 2^-(m+1) below 1/2 in magnitude
    # (ln2_hi = RN(ln2) has its last bits zero where k ln2_hi needs them).
    r = _fma(-kf, ln2_hi, xc)
    # Rounds once: error <= 2^-(m+1) |r|; at the worst case r = -a (P ~ 0.707)
    # 0.18 ulp of P.
    r = _fma(-kf, ln2_lo, r)
    # 3. P(r) = 1 + r + c2 r^2 + ... by Horner's rule in fused multiply-adds,
    # the last fma(s, r, 1) with s ~ (exp(r) - 1) / r. Roundings of s and of
    # the inner steps, times |r|: 0.21 ulp of P; approximation 0.04 ulp. With
    # step 2: 0.43 < 1/2 ulp at r = -a (0.23 at r = +a), so the rounded P is
    # one of the two floats around exp(r).
    p = poly[0]
    for c in poly[1:]:  # a constant trip count: LLVM unrolls it
        p = _fma(p, r, c)
    # 4. P 2^k rounded once (_mul_pow2): exact for normal results; subnormal
    # ones round like a correctly rounded multiply of P, still <= 1 ULP since
    # the error of P is below half a subnormal quantum; overflow to +inf
    # exactly when P 2^k does.
    return _mul_pow2(p, k)


# ---------------------------------------------------------------------------
# float32
# ---------------------------------------------------------------------------

_f32 = np.float32

_ONE_32 = _f32(1.0)
_LOG2E_32 = _f32(1.4426950408889634)
_SHIFT_32 = _f32(1.5 * 2.0**23)
# ln2 = _LN2_HI_32 + _LN2_LO_32 - 2^-53.3: RN(ln2) and RN(ln2 - RN(ln2)), from mpmath.
_LN2_HI_32 = _f32(float.fromhex("0x1.62e430p-1"))
_LN2_LO_32 = _f32(float.fromhex("-0x1.05c610p-29"))
# exp(-104) < 2**-150 rounds to 0, exp(89) > FLT_MAX overflows.
_XMIN_32 = _f32(-104.0)
_XMAX_32 = _f32(89.0)
# P(r) = 1 + r + C2 r^2 + ... + C6 r^6 (Remez with rounding, see module docstring).
_C2_32 = _f32(float.fromhex("0x1.fffffcp-2"))
_C3_32 = _f32(float.fromhex("0x1.55548cp-3"))
_C4_32 = _f32(float.fromhex("0x1.55585ap-5"))
_C5_32 = _f32(float.fromhex("0x1.123d66p-7"))
_C6_32 = _f32(float.fromhex("0x1.6ab7a0p-10"))
# Horner order, highest degree first, ending with the 1 of r and the 1 of r^0.
_P_32 = (_C6_32, _C5_32, _C4_32, _C3_32, _C2_32, _ONE_32, _ONE_32)


@kernel
def exp32(x):
    """``exp(x)`` for a float32 ``x``, in float32 throughout; <= 1 ULP."""
    return _exp_kernel(
        np.float32(x), _XMIN_32, _XMAX_32, _LOG2E_32, _SHIFT_32, _LN2_HI_32, _LN2_LO_32, _P_32
    )


@kernel
def exp32_nonpositive(x):
    """:func:`exp32` for ``x <= 0`` or NaN: the same bits, without the overflow clamp.

    With ``+inf`` as the upper bound LLVM folds ``min(v, +inf)`` away: one
    vector instruction fewer per vector (timings in ``docs/bench-2026-12-02.md``).
    A positive ``x`` is outside the contract.
    """
    return _exp_kernel(
        np.float32(x), _XMIN_32, _f32(math.inf), _LOG2E_32, _SHIFT_32, _LN2_HI_32, _LN2_LO_32, _P_32
    )


# ---------------------------------------------------------------------------
# float64
# ---------------------------------------------------------------------------

_ONE_64 = 1.0
_LOG2E_64 = 1.4426950408889634
_SHIFT_64 = 1.5 * 2.0**52
# ln2 = _LN2_HI_64 + _LN2_LO_64 + 2^-110.4: RN(ln2) and RN(ln2 - RN(ln2)), from mpmath.
_LN2_HI_64 = float.fromhex("0x1.62e42fefa39efp-1")
_LN2_LO_64 = float.fromhex("0x1.abc9e3b39803fp-56")
# exp(-746) < 2**-1075 rounds to 0, exp(710) > DBL_MAX overflows.
_XMIN_64 = -746.0
_XMAX_64 = 710.0
# P(r) = 1 + r + C2 r^2 + ... + C11 r^11 (Remez with rounding, see module docstring).
_C2_64 = float.fromhex("0x1.000000000000ap-1")
_C3_64 = float.fromhex("0x1.5555555555409p-3")
_C4_64 = float.fromhex("0x1.55555555502a7p-5")
_C5_64 = float.fromhex("0x1.11111111682b9p-7")
_C6_64 = float.fromhex("0x1.6c16c185d5063p-10")
_C7_64 = float.fromhex("0x1.a019ffbd8a8d1p-13")
_C8_64 = float.fromhex("0x1.a01994e237011p-16")
_C9_64 = float.fromhex("0x1.71e26d7c20ba3p-19")
_C10_64 = float.fromhex("0x1.28b29a3eaa1e6p-22")
_C11_64 = float.fromhex("0x1.a830ef3edd5dap-26")
_P_64 = (
    _C11_64,
    _C10_64,
    _C9_64,
    _C8_64,
    _C7_64,
    _C6_64,
    _C5_64,
    _C4_64,
    _C3_64,
    _C2_64,
    _ONE_64,
    _ONE_64,
)


@kernel
def exp64(x):
    """``exp(x)`` for a float64 ``x``; <= 1 ULP."""
    return _exp_kernel(
        np.float64(x), _XMIN_64, _XMAX_64, _LOG2E_64, _SHIFT_64, _LN2_HI_64, _LN2_LO_64, _P_64
    )


@kernel
def exp64_nonpositive(x):
    """:func:`exp64` for ``x <= 0`` or NaN, without the overflow clamp.

    See :func:`exp32_nonpositive`.
    """
    return _exp_kernel(
        np.float64(x), _XMIN_64, math.inf, _LOG2E_64, _SHIFT_64, _LN2_HI_64, _LN2_LO_64, _P_64
    )


# ---------------------------------------------------------------------------
# generic dispatch and array helper
# ---------------------------------------------------------------------------


def fast_exp(x):
    """``exp(x)`` through :func:`exp32` or :func:`exp64`, chosen by type.

    Inside a Numba function the choice is made at compile time (float32 ->
    :func:`exp32`; float64, ints and bools -> :func:`exp64`), so a call costs
    nothing extra and vectorizes. From Python it accepts NumPy/Python scalars.
    """
    if isinstance(x, np.float32):
        return np.float32(exp32(x))  # Numba boxes float32 results as Python floats
    return exp64(np.float64(x))


@overload(fast_exp, inline="always")  # compiled into its (cached) callers
def _fast_exp_overload(x):
    if x == types.float32:
        return lambda x: exp32(x)
    if x == types.float64 or isinstance(x, (types.Integer, types.Boolean)):
        return lambda x: exp64(np.float64(x))
    return None


def fast_exp_nonpositive(x):
    """:func:`fast_exp` for an argument known to be ``<= 0`` (or NaN).

    The shifted kernels' ``c (x - m)`` with ``c > 0`` and ``m = max(x)``: the
    result cannot overflow, so the upper clamp is dropped (same bits).
    """
    if isinstance(x, np.float32):
        return np.float32(exp32_nonpositive(x))
    return exp64_nonpositive(np.float64(x))


@overload(fast_exp_nonpositive, inline="always")
def _fast_exp_nonpositive_overload(x):
    if x == types.float32:
        return lambda x: exp32_nonpositive(x)
    if x == types.float64:
        return lambda x: exp64_nonpositive(x)
    return None


@kernel
def exp_array(x, out):
    """``out[i] = fast_exp(x[i])`` for 1-D arrays of one float dtype."""
    for i in range(x.size):
        out[i] = fast_exp(x[i])
