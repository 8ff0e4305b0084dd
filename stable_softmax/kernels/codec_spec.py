"""A narrow format's conversion parameters as a Numba type, so that they compile to constants.

The conversions of :mod:`.narrow_codec` are integer formulas whose shift
counts, offsets, masks and special patterns depend on the format. Passed as
run-time values (an int32 array, as first written) they occupy vector
registers, turn every shift into a variable shift and keep selects that a
given format never takes (float8_e4m3fn has no inf code; float8_e5m2 has no
NaN pattern of its own). As immediate operands LLVM folds all of that away
(measured in docs/bench-2026-12-03.md).

A :class:`CodecSpec` is an ordinary hashable Python value that the public
functions pass to the drivers; Numba types it as :class:`CodecSpecType`, whose
identity is the parameters themselves, so each format compiles its own copy
of a driver (cached on disk like every kernel), in which the parameters are
constants. In jit code a spec holds no data: the intrinsics below and in
:mod:`.narrow_codec` read the parameters off its type.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from llvmlite import ir
from numba import types
from numba.core import datamodel
from numba.extending import NativeValue, intrinsic, register_model, typeof_impl, unbox

#: Decoders (:attr:`CodecSpec.decoder`): bfloat16's shift, float16's, the generic
#: one-byte widening from :attr:`CodecSpec.widen`.
DEC_BF16 = 0
DEC_F16 = 1
DEC_BITS = 2

#: Encoders (:attr:`CodecSpec.encoder`): the generic integer rounding from
#: :attr:`CodecSpec.narrow`, bfloat16's, float16's.
ENC_GENERIC = 0
ENC_BF16 = 1
ENC_F16 = 2


@dataclass(frozen=True)
class CodecSpec:
    """How the fused drivers widen a format to float32 and round float32 back into it.

    Attributes
    ----------
    name : str
        The format's name (for messages and the Numba type's name only).
    decoder, encoder : int
        One of the ``DEC_*`` and ``ENC_*`` constants of this module.
    widen : tuple of 8 int
        The parameters of ``narrow_codec._widen_one`` (zeros when the decoder is
        not :data:`DEC_BITS`).
    narrow : tuple of 13 int
        The parameters of ``narrow_codec._narrow_one`` (used by :data:`ENC_GENERIC`).
    """

    name: str
    decoder: int
    encoder: int
    widen: tuple[int, ...]
    narrow: tuple[int, ...]


class CodecSpecType(types.Dummy):
    """The Numba type of one :class:`CodecSpec`: equal specs, equal types (one compilation)."""

    def __init__(self, spec: CodecSpec) -> None:
        self.spec = spec
        params = ",".join(map(str, (spec.decoder, spec.encoder, *spec.widen, *spec.narrow)))
        super().__init__(name=f"CodecSpec[{spec.name}:{params}]")


register_model(CodecSpecType)(datamodel.models.OpaqueModel)


@typeof_impl.register(CodecSpec)
def _typeof_spec(val: CodecSpec, c) -> CodecSpecType:
    return _type_of(val)


@functools.cache
def _type_of(spec: CodecSpec) -> CodecSpecType:
    # Numba types every argument on every call: building the type (its name
    # lists the parameters) took about 4 us of a 17 us narrow call.
    return CodecSpecType(spec)


@unbox(CodecSpecType)
def _unbox_spec(typ, obj, c):
    return NativeValue(c.context.get_dummy_value())


def constants(values: tuple[int, ...]) -> list[ir.Constant]:
    """int32 LLVM constants of a spec's parameters (two's complement for negative ones)."""
    i32 = ir.IntType(32)
    return [i32(v & 0xFFFFFFFF) for v in values]


def _constant_of(attribute: str):
    """An intrinsic returning ``getattr(spec, attribute)`` of its spec argument, a compile-time
    constant (LLVM then drops the branches a format does not take).
    """

    def typer(typingctx, spec):
        if not isinstance(spec, CodecSpecType):
            return None

        def codegen(context, builder, signature, args):
            return context.get_constant(types.intp, getattr(signature.args[0].spec, attribute))

        return types.intp(spec), codegen

    typer.__name__ = typer.__qualname__ = f"{attribute}_of"
    return intrinsic(typer)


#: The spec's decoder and encoder ids in jit code.
decoder_of = _constant_of("decoder")
encoder_of = _constant_of("encoder")
