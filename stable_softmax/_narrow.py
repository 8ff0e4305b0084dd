"""The parameters of the fused narrow-format conversions of :mod:`.kernels.narrow_codec`.

One :class:`Codec` per format of :data:`stable_softmax.formats.FORMATS` stored
in one or two bytes, built from the format's row of that table (precision,
emin, largest value, overflow rule) plus the patterns ml_dtypes gives the
largest value, inf and a NaN of either sign. Everything else follows from the
table. The parameters travel to the jit code as a
:class:`.kernels.codec_spec.CodecSpec`, which Numba compiles in as constants.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .formats import FORMATS, Format, format_of
from .kernels import codec_spec as cs
from .kernels import narrow_codec as nc


@dataclass(frozen=True)
class Codec:
    """How to widen a narrow format to float32 and round float32 back into it."""

    format: Format
    bits: np.dtype  # uint8 or uint16: the storage of one element
    spec: cs.CodecSpec  # what the jit code compiles in as constants

    def widen(self, bits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Float32 values of a C-contiguous array of this format's bits (exact)."""
        flat = bits.reshape(-1)
        if out is None:
            out = np.empty(bits.shape, dtype=np.float32)
        nc.decode_parallel(flat, out.reshape(-1), self.spec)
        return out

    def narrow(self, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Bits of float32 ``values`` (C-contiguous) rounded to nearest even into the format."""
        if out is None:
            out = np.empty(values.shape, dtype=self.bits)
        nc.encode_parallel(values.reshape(-1), out.reshape(-1), self.spec)
        return out


def _code(fmt: Format, value: float) -> int:
    """The unsigned bit pattern of a finite non-negative ``value`` of ``fmt``."""
    return int(np.array([value], np.float32).astype(fmt.dtype).view(_bits_dtype(fmt))[0])


def _bits_dtype(fmt: Format) -> np.dtype:
    return np.dtype(np.uint8 if fmt.dtype.itemsize == 1 else np.uint16)


@functools.cache
def codec(name: str) -> Codec:
    """The :class:`Codec` of a format name (one or two bytes per element)."""
    fmt = FORMATS[name]
    if fmt.largest < 1:  # narrow_codec._narrow_unit rounds softmax outputs without overflow
        raise ValueError(f"format {name}: the fused conversions need 1 to be finite")
    bits = _bits_dtype(fmt)
    decoder = {"bfloat16": cs.DEC_BF16, "float16": cs.DEC_F16}.get(fmt.name, cs.DEC_BITS)
    encoder = {"bfloat16": cs.ENC_BF16, "float16": cs.ENC_F16}.get(fmt.name, cs.ENC_GENERIC)
    widen = _widen_params(fmt) if decoder == cs.DEC_BITS else (0,) * 8
    spec = cs.CodecSpec(fmt.name, decoder, encoder, widen, _narrow_params(fmt))
    return Codec(fmt, bits, spec)


def _narrow_params(fmt: Format) -> tuple[int, ...]:
    """The 13 parameters of ``narrow_codec._narrow_one``, in its order."""
    p, emin = fmt.precision, fmt.emin
    s = 24 - p
    largest = _code(fmt, fmt.largest)
    overflow = _code(fmt, np.inf) if fmt.overflow == "inf" else largest
    nan_pos, nan_neg = _nan_pattern(fmt, 1.0), _nan_pattern(fmt, -1.0)
    # NumPy's float16 keeps a NaN's top 10 significand bits (0x7C00 | bits, or 0x7C01
    # when they are all 0); ml_dtypes returns one pattern per sign.
    payload = fmt.name == "float16"
    if payload:
        nan_pos, nan_neg = 0x7C00, 0xFC00
    return (
        s,
        (1 << (s - 1)) - 1,  # half an ulp minus one: ties go to the odd bit
        (126 + emin) << 23,  # (127 - b) << 23 with the bias b = 1 - emin
        (emin + 127) << 23,  # bits of 2**emin
        _float32_bits(2.0 ** (emin - p + 24)),  # 2**(qmin + 23): its ulp is 2**qmin
        largest,
        overflow,
        int(fmt.overflow == "nan"),
        nan_pos,
        nan_neg,
        int(payload),
        _sign_bit(fmt),
        int(fmt.signed_zero),
    )


def _float32_bits(value: float) -> int:
    return int(np.array([value], np.float32).view(np.int32)[0])


def _widen_params(fmt: Format) -> tuple[int, ...]:
    """The 8 parameters of ``narrow_codec._widen_one`` for a one-byte format, in its order."""
    p = fmt.precision
    bias = 1 - fmt.emin
    normal_min = 1 << (p - 1)
    inf_code = _code(fmt, np.inf) if fmt.has_inf else -1
    if fmt.nan == "ieee":
        nan_min, nan_pattern = inf_code + 1, -1
    elif fmt.nan == "top":
        nan_min, nan_pattern = _sign_bit(fmt) - 1, -1
    elif fmt.nan == "negzero":
        nan_min, nan_pattern = -1, _sign_bit(fmt)
    else:
        nan_min, nan_pattern = -1, -1
    return (
        24 - p,
        _sign_bit(fmt),
        (127 - bias) << 23,
        normal_min,
        _float32_bits(2.0**fmt.qmin),
        inf_code,
        nan_min,
        nan_pattern,
    )


def _sign_bit(fmt: Format) -> int:
    """The sign bit of the format's patterns: the top bit of its width (float6: bit 5)."""
    width = 1 + (fmt.emax - fmt.emin + 1).bit_length() + fmt.precision - 1
    return 1 << (width - 1)


def _nan_pattern(fmt: Format, sign: float) -> int:
    """What ml_dtypes makes of a float32 NaN with this sign (a NaN, or a number if none)."""
    with np.errstate(invalid="ignore"):
        nan = np.copysign(np.array([np.nan], np.float32), np.float32(sign))
        return int(nan.astype(fmt.dtype).view(_bits_dtype(fmt))[0])


def narrow_name(dtype: np.dtype) -> str | None:
    """The format name of a dtype handled through a codec (one or two bytes), else None."""
    if dtype.kind not in "fV" or dtype.itemsize > 2:
        return None
    try:
        fmt = format_of(dtype)
    except TypeError:
        return None
    return fmt.name if fmt.dtype.itemsize <= 2 else None
