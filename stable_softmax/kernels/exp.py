"""A vectorizable ``exp`` for float32 and float64 in plain Numba.

Numba has no SVML, so ``math.exp``/``np.exp`` inside a loop is a scalar libm
call and the loop does not vectorize. :func:`exp32` and :func:`exp64` are
branch-free scalar kernels that LLVM inlines and vectorizes (AVX2: ``<8 x
float>`` / ``<4 x double>``). Both stay within 1 ULP (ordinal distance) of the
correctly rounded ``exp``; ``scripts/check_exp.py`` checks every float32 input
exhaustively and float64 on random and hard inputs.

Method
------
1. Clamp: ``x`` is clamped to ``[XMIN, XMAX]``, where ``exp(XMIN)`` already
   rounds to 0 and ``exp(XMAX)`` already overflows, so inf, -inf and huge
   inputs give 0 / inf through the ordinary arithmetic below. NaN is clamped
   too (to ``XMAX``) and restored by a final select.
2. Cody-Waite reduction ``x = k ln2 + r``, ``|r| <= ln2/2 (1 + 2^-10)``:
   ``k = rint(x log2(e))`` by the shifter trick ``t = x log2(e) + 1.5 2^p``
   (the integer ``k`` is in the low bits of ``t``, no float->int conversion);
   ``ln2 = LN2_HI + LN2_LO`` with ``LN2_HI`` short enough (16 / 32 significant
   bits) that ``k LN2_HI`` and ``x - k LN2_HI`` are exact; the rounding error
   ``dr`` of ``r = (x - k LN2_HI) - k LN2_LO`` is kept as a correction term.
3. ``exp(r) = 1 + r + r^2 Q(r)``; ``Q`` has degree 4 (float32) / 9 (float64),
   the minimax approximation of the relative error of the whole expression on
   ``[-a, a]``, ``a = ln2/2 (1 + 2^-10)``, computed by a Remez exchange in
   mpmath at 200 bits (``scripts/check_exp.py --derive`` reruns it and prints
   these constants); relative error of the approximation 2^-28.3 (float32) and
   2^-57.9 (float64). The sum is formed as ``h = 1 + r`` plus the exact error
   of that addition (Fast2Sum), so only the last addition rounds visibly:
   the results are ~0.5 ULP from exact.
4. Scaling by ``2^k`` in two exactly representable factors ``2^k1 2^k2``
   (``k1 = rint(k/2)``, ``k2 = k - k1``), built from exponent bits. The first
   product is exact, the second rounds once, so results underflow gradually
   into the subnormals and to 0 (exactly like a correctly rounded multiply of
   the rounded ``exp(r)``) and overflow to +inf exactly when ``exp(r) 2^k``
   does.

``fastmath={"contract"}`` lets LLVM use FMA; every step above is exact or
correct with and without contraction.

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

import numpy as np
from numba import types
from numba.extending import intrinsic, overload

from ._options import kernel

__all__ = ["exp32", "exp64", "exp_array", "fast_exp"]


# ---------------------------------------------------------------------------
# bit-level helper (an LLVM bitcast, so it vectorizes)
# ---------------------------------------------------------------------------


@intrinsic
def _pow2_from_shifted(typingctx, t, shift):
    """``2.0**k`` where ``t = k + shift`` was formed with the shifter ``shift``.

    ``shift = 1.5 * 2**p`` (``p`` = mantissa bits) makes ``bits(t) - bits(shift)
    == k`` for ``|k| < 2**(p-1)``; ``(k + bias) << p`` are the bits of ``2**k``.
    The caller guarantees ``2**k`` is a normal number. Integer operations run in
    the float's own width (i32 / i64), so LLVM vectorizes them next to the
    float operations.
    """
    if t != shift or t not in (types.float32, types.float64):
        return None
    bits, mant, bias = (32, 23, 127) if t == types.float32 else (64, 52, 1023)

    def codegen(context, builder, signature, args):
        ity = context.get_value_type(types.int32 if bits == 32 else types.int64)
        fty = context.get_value_type(t)
        tb = builder.bitcast(args[0], ity)
        sb = builder.bitcast(args[1], ity)
        k_plus_bias = builder.add(builder.sub(tb, sb), ity(bias))
        return builder.bitcast(builder.shl(k_plus_bias, ity(mant)), fty)

    return t(t, shift), codegen


# ---------------------------------------------------------------------------
# float32
# ---------------------------------------------------------------------------

_f32 = np.float32

_ONE_32 = _f32(1.0)
_HALF_32 = _f32(0.5)
_LOG2E_32 = _f32(1.4426950408889634)
_SHIFT_32 = _f32(1.5 * 2.0**23)
# ln2 rounded to 16 significant bits: k * _LN2_HI_32 is exact for |k| < 2**8.
_LN2_HI_32 = _f32(float.fromhex("0x1.62e4p-1"))
_LN2_LO_32 = _f32(float.fromhex("0x1.7f7d1cp-20"))  # RN(ln2 - hi), from mpmath
# exp(-104) < 2**-150 rounds to 0, exp(89) > FLT_MAX overflows.
_XMIN_32 = _f32(-104.0)
_XMAX_32 = _f32(89.0)
# Q(r) = C2 + C3 r + C4 r^2 + C5 r^3 + C6 r^4 (Remez, see module docstring).
_C2_32 = _f32(0.4999999341342270191471521)
_C3_32 = _f32(0.1666652012148033141231011)
_C4_32 = _f32(0.04166839405012394057683509)
_C5_32 = _f32(0.008368778755997950207565177)
_C6_32 = _f32(0.00138144704874563359531151)


@kernel(fastmath={"contract"})
def exp32(x):
    """``exp(x)`` for a float32 ``x``, in float32 throughout; <= 1 ULP."""
    xc = x if x < _XMAX_32 else _XMAX_32  # NaN -> _XMAX_32, restored below
    xc = xc if xc > _XMIN_32 else _XMIN_32
    t = xc * _LOG2E_32 + _SHIFT_32
    kf = t - _SHIFT_32  # rint(x / ln2)
    rh = xc - kf * _LN2_HI_32  # exact
    r = rh - kf * _LN2_LO_32
    dr = (rh - r) - kf * _LN2_LO_32  # rounding error of r
    q = (((_C6_32 * r + _C5_32) * r + _C4_32) * r + _C3_32) * r + _C2_32
    h = _ONE_32 + r
    e = (_ONE_32 - h) + r  # exact error of h (Fast2Sum, |r| < 1)
    p = h + ((r * r) * q + (e + dr))
    # 2**k = 2**k1 * 2**k2, both factors normal for every clamped x
    t1 = kf * _HALF_32 + _SHIFT_32
    t2 = (kf - (t1 - _SHIFT_32)) + _SHIFT_32
    y = (p * _pow2_from_shifted(t1, _SHIFT_32)) * _pow2_from_shifted(t2, _SHIFT_32)
    return y if x == x else x + x


# ---------------------------------------------------------------------------
# float64
# ---------------------------------------------------------------------------

_ONE_64 = 1.0
_HALF_64 = 0.5
_LOG2E_64 = 1.4426950408889634
_SHIFT_64 = 1.5 * 2.0**52
# ln2 rounded to 32 significant bits: k * _LN2_HI_64 is exact for |k| < 2**21.
_LN2_HI_64 = float.fromhex("0x1.62e42fefp-1")
_LN2_LO_64 = float.fromhex("0x1.473de6af278edp-34")  # RN(ln2 - hi), from mpmath
# exp(-746) < 2**-1075 rounds to 0, exp(710) > DBL_MAX overflows.
_XMIN_64 = -746.0
_XMAX_64 = 710.0
# Q(r) = C2 + C3 r + ... + C11 r^9 (Remez, see module docstring).
_C2_64 = 0.5000000000000010718528568
_C3_64 = 0.1666666666666641029433136
_C4_64 = 0.04166666666652921393021973
_C5_64 = 0.008333333333495593434907581
_C6_64 = 0.001388888894391500534968027
_C7_64 = 0.0001984126950481268266936736
_C8_64 = 0.00002480149277155983248361861
_C9_64 = 0.00000275575873169522403040407
_C10_64 = 0.0000002763037522765166091015629
_C11_64 = 2.499996785128830342725047e-8


@kernel(fastmath={"contract"})
def exp64(x):
    """``exp(x)`` for a float64 ``x``; <= 1 ULP."""
    xc = x if x < _XMAX_64 else _XMAX_64  # NaN -> _XMAX_64, restored below
    xc = xc if xc > _XMIN_64 else _XMIN_64
    t = xc * _LOG2E_64 + _SHIFT_64
    kf = t - _SHIFT_64
    rh = xc - kf * _LN2_HI_64
    r = rh - kf * _LN2_LO_64
    dr = (rh - r) - kf * _LN2_LO_64
    # Estrin-like split keeps the dependency chain short
    r2 = r * r
    q_lo = ((_C5_64 * r + _C4_64) * r + _C3_64) * r + _C2_64
    q_hi = ((((_C11_64 * r + _C10_64) * r + _C9_64) * r + _C8_64) * r + _C7_64) * r + _C6_64
    q = q_hi * (r2 * r2) + q_lo
    h = _ONE_64 + r
    e = (_ONE_64 - h) + r
    p = h + (r2 * q + (e + dr))
    t1 = kf * _HALF_64 + _SHIFT_64
    t2 = (kf - (t1 - _SHIFT_64)) + _SHIFT_64
    y = (p * _pow2_from_shifted(t1, _SHIFT_64)) * _pow2_from_shifted(t2, _SHIFT_64)
    return y if x == x else x + x


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


@overload(fast_exp, jit_options={"cache": True}, inline="always")
def _fast_exp_overload(x):
    if x == types.float32:
        return lambda x: exp32(x)
    if x == types.float64 or isinstance(x, (types.Integer, types.Boolean)):
        return lambda x: exp64(np.float64(x))
    return None


@kernel
def exp_array(x, out):
    """``out[i] = fast_exp(x[i])`` for 1-D arrays of one float dtype."""
    for i in range(x.size):
        out[i] = fast_exp(x[i])
