"""Peers: other libraries' softmax, log_softmax and logsumexp as implementations.

Importing this module registers (with :func:`stable_softmax.implementations.register`)
every peer whose library is installed; nothing heavy is imported until an
adapter is first called, so listing peers is cheap. Peers and what they run:

==============  ====================================================  ==================
name            softmax / log_softmax / logsumexp                     dtypes
==============  ====================================================  ==================
``scipy``       ``scipy.special.softmax`` / ``log_softmax`` /         float32, float64
                ``logsumexp`` (``axis=-1``)
``torch``       ``torch.softmax`` / ``log_softmax`` / ``logsumexp``   float32, float64,
                on ``torch.from_numpy(x)``, ``dim=-1``, CPU           float16, bfloat16
``jax``         ``jax.nn.softmax`` / ``jax.nn.log_softmax`` /         float32, float64,
                ``jax.scipy.special.logsumexp`` (``axis=-1``)         float16, bfloat16
``onnxruntime`` ONNX operators ``Softmax`` / ``LogSoftmax`` /         float32, float64
                ``ReduceLogSumExp`` (opset 13, ``axis=-1``) in a
                one-node model on the CPU execution provider
``textbook``    NumPy, unguarded: ``np.exp(x) / np.exp(x).sum(-1)``,  float32, float64
                ``x - log(sum(exp(x)))``, ``log(sum(exp(x)))``
==============  ====================================================  ==================

None of them takes ``beta`` or ``base``: each adapter applies
:func:`~stable_softmax.implementations.scale_logits` first, as a user of that
library would write ``softmax(beta * x)``. A result whose dtype differs from
the input's is cast to it (what a user storing the result would get).

JAX computes float64 only with its ``jax_enable_x64`` option; the adapter
turns it on **only for the duration of its own call** (the ``jax.enable_x64``
context manager), so a user's JAX code in the same process keeps its own
setting. Where that context manager does not exist (older JAX) the adapter
sets ``jax.config.update("jax_enable_x64", True)`` once, on its first call,
and warns that it did.

ONNX Runtime needs a model: the adapter writes the ``ModelProto`` of one
node with symbolic shape ``(rows, n)``, through ``onnx.helper`` when the
``onnx`` package is installed and as raw protobuf bytes otherwise (the same
message, see :func:`onnx_model_bytes`); one inference session is kept per
``(operator, dtype)``.

float16 and bfloat16 (the ``ml_dtypes`` type) go to torch and JAX as tensors
of that dtype, so their own low-precision kernels run (the low-precision part
of the report measures them); bfloat16 crosses into torch by its bits.

A peer that is not installed is skipped with one line from :func:`resolve`
saying how to install it: ``pip install "stable_softmax[peers]"``.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
import warnings
from collections.abc import Callable, Iterable
from importlib import metadata

import numpy as np

from . import Implementation, register, scale_logits

__all__ = [
    "INSTALL_HINT",
    "PEERS",
    "available",
    "implementations",
    "installed",
    "onnx_model_bytes",
    "resolve",
    "version",
]

INSTALL_HINT = 'pip install "stable_softmax[peers]"'

#: Peer name -> (module that must import, distribution for the version, functions).
PEERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "scipy": ("scipy.special", "scipy", ("softmax", "log_softmax", "logsumexp")),
    "torch": ("torch", "torch", ("softmax", "log_softmax", "logsumexp")),
    "jax": ("jax", "jax", ("softmax", "log_softmax", "logsumexp")),
    "onnxruntime": ("onnxruntime", "onnxruntime", ("softmax", "log_softmax", "logsumexp")),
    "textbook": ("numpy", "numpy", ("softmax", "log_softmax", "logsumexp")),
}

_DTYPES = ("float32", "float64")
#: Peers that also take float16 and bfloat16 arrays (their own low-precision kernels).
_NARROW_PEERS = {"torch": ("float16", "bfloat16"), "jax": ("float16", "bfloat16")}


def _dtypes(name: str) -> tuple[str, ...]:
    """The dtype names peer ``name`` accepts."""
    return _DTYPES + _NARROW_PEERS.get(name, ())


def installed(name: str) -> bool:
    """Whether the library of peer ``name`` can be found (without importing it)."""
    module = PEERS[name][0]
    try:
        return importlib.util.find_spec(module.partition(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def version(name: str) -> str | None:
    """Installed version of the library behind peer ``name``, or None."""
    try:
        return metadata.version(PEERS[name][1])
    except metadata.PackageNotFoundError:
        return None


def available() -> tuple[str, ...]:
    """Names of the peers whose library is installed, in the order of :data:`PEERS`."""
    return tuple(name for name in PEERS if installed(name))


# ---------------------------------------------------------------- adapters
# Each _<peer>(function) returns f(x) -> result over the last axis of a 2-D x.


def _scipy(function: str) -> Callable[[np.ndarray], np.ndarray]:
    import scipy.special

    fn = getattr(scipy.special, function)
    return lambda x: fn(x, axis=-1)


def _torch(function: str) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    fn = getattr(torch, function)

    def call(x: np.ndarray) -> np.ndarray:
        if x.dtype.name != "bfloat16":
            return fn(torch.from_numpy(x), dim=-1).numpy()
        # NumPy has no bfloat16 of torch's: cross by the 16 bits, both ways.
        bits = torch.from_numpy(x.view(np.int16)).view(torch.bfloat16)
        return fn(bits, dim=-1).contiguous().view(torch.int16).numpy().view(x.dtype)

    return call


_JAX_GLOBAL_X64_SET = False


def _jax(function: str) -> Callable[[np.ndarray], np.ndarray]:
    import jax
    import jax.nn
    import jax.numpy as jnp
    import jax.scipy.special

    module = jax.scipy.special if function == "logsumexp" else jax.nn
    fn = jax.jit(lambda a: getattr(module, function)(a, axis=-1))
    context = getattr(jax, "enable_x64", None)

    def call(x: np.ndarray) -> np.ndarray:
        global _JAX_GLOBAL_X64_SET
        if context is not None:
            with context(True):
                return np.asarray(fn(jnp.asarray(x)))
        if not _JAX_GLOBAL_X64_SET:
            jax.config.update("jax_enable_x64", True)
            _JAX_GLOBAL_X64_SET = True
            warnings.warn(
                "stable_softmax's jax adapter set jax_enable_x64=True for this process "
                "(this JAX has no jax.enable_x64 context manager)",
                stacklevel=2,
            )
        return np.asarray(fn(jnp.asarray(x)))

    return call


def _textbook(function: str) -> Callable[[np.ndarray], np.ndarray]:
    # The unguarded formulas of a textbook: no max shift, so exp overflows.
    def softmax(x):
        e = np.exp(x)
        return e / e.sum(axis=-1, keepdims=True)

    def log_softmax(x):
        return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))

    def logsumexp(x):
        return np.log(np.exp(x).sum(axis=-1))

    return {"softmax": softmax, "log_softmax": log_softmax, "logsumexp": logsumexp}[function]


# ---------------------------------------------------------------- onnxruntime

_ONNX_OPS = {"softmax": "Softmax", "log_softmax": "LogSoftmax", "logsumexp": "ReduceLogSumExp"}
#: TensorProto.DataType codes (onnx.proto): FLOAT = 1, DOUBLE = 11.
_ONNX_ELEM = {"float32": 1, "float64": 11}
_OPSET = 13
_IR_VERSION = 7  # the first IR version of opset 13 (ONNX 1.8)


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 -> two's complement, 10 bytes
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _int_field(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes_field(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _value_info(name: str, elem: int, dims: tuple[str, ...]) -> bytes:
    # ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1,
    # shape=2: TensorShapeProto{dim=1: Dimension{dim_param=2}}}}}
    shape = b"".join(_bytes_field(1, _bytes_field(2, d)) for d in dims)
    tensor = _int_field(1, elem) + _bytes_field(2, shape)
    return _bytes_field(1, name) + _bytes_field(2, _bytes_field(1, tensor))


def _onnx_attributes(function: str) -> list[tuple[str, int | list[int]]]:
    if function == "logsumexp":
        return [("axes", [-1]), ("keepdims", 0)]
    return [("axis", -1)]


def onnx_model_bytes(function: str, dtype: str) -> bytes:
    """Serialized ONNX ``ModelProto`` of one node computing ``function`` over the last axis.

    Input ``x`` and output ``y`` have symbolic dimensions ``(rows, n)``
    (``(rows,)`` for logsumexp). Built with ``onnx.helper`` when ``onnx`` is
    installed, otherwise encoded here field by field (field numbers from
    ``onnx.proto``: ModelProto ir_version=1, graph=7, opset_import=8;
    GraphProto node=1, name=2, input=11, output=12; NodeProto input=1,
    output=2, op_type=4, attribute=5; AttributeProto name=1, i=3, ints=8,
    type=20 with INT=2, INTS=7).
    """
    op, elem = _ONNX_OPS[function], _ONNX_ELEM[dtype]
    out_dims = ("rows",) if function == "logsumexp" else ("rows", "n")
    attributes = _onnx_attributes(function)
    try:
        from onnx import TensorProto, helper
    except ImportError:
        pass
    else:
        node = helper.make_node(op, ["x"], ["y"], **dict(attributes))
        graph = helper.make_graph(
            [node],
            "g",
            [helper.make_tensor_value_info("x", elem, ["rows", "n"])],
            [helper.make_tensor_value_info("y", elem, list(out_dims))],
        )
        assert TensorProto.FLOAT == 1 and TensorProto.DOUBLE == 11
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", _OPSET)], ir_version=_IR_VERSION
        )
        return model.SerializeToString()
    attrs = b""
    for name, value in attributes:
        if isinstance(value, list):
            body = _bytes_field(1, name) + b"".join(_int_field(8, v) for v in value)
            body += _int_field(20, 7)
        else:
            body = _bytes_field(1, name) + _int_field(3, value) + _int_field(20, 2)
        attrs += _bytes_field(5, body)
    node = _bytes_field(1, "x") + _bytes_field(2, "y") + _bytes_field(4, op) + attrs
    graph = (
        _bytes_field(1, node)
        + _bytes_field(2, "g")
        + _bytes_field(11, _value_info("x", elem, ("rows", "n")))
        + _bytes_field(12, _value_info("y", elem, out_dims))
    )
    opset = _bytes_field(1, "") + _int_field(2, _OPSET)
    return _int_field(1, _IR_VERSION) + _bytes_field(7, graph) + _bytes_field(8, opset)


_ORT_SESSIONS: dict[tuple[str, str], object] = {}
_ORT_LOCK = threading.Lock()


def _ort_session(function: str, dtype: str):
    key = (function, dtype)
    with _ORT_LOCK:
        if key not in _ORT_SESSIONS:
            import onnxruntime as ort

            _ORT_SESSIONS[key] = ort.InferenceSession(
                onnx_model_bytes(function, dtype), providers=["CPUExecutionProvider"]
            )
        return _ORT_SESSIONS[key]


def _onnxruntime(function: str) -> Callable[[np.ndarray], np.ndarray]:
    def call(x: np.ndarray) -> np.ndarray:
        return _ort_session(function, x.dtype.name).run(None, {"x": x})[0]

    return call


_ADAPTERS = {
    "scipy": _scipy,
    "torch": _torch,
    "jax": _jax,
    "onnxruntime": _onnxruntime,
    "textbook": _textbook,
}


# ---------------------------------------------------------------- registry


def _implementation(name: str, function: str) -> Implementation:
    """The :class:`Implementation` of peer ``name``; its library is imported on first call."""
    state: dict[str, Callable] = {}

    def compute(x: np.ndarray, *, beta: float = 1.0, base: float | None = None) -> np.ndarray:
        if "fn" not in state:
            state["fn"] = _ADAPTERS[name](function)
        if x.dtype.name not in _dtypes(name):
            raise TypeError(f"peer {name!r} takes {', '.join(_dtypes(name))}, got {x.dtype}")
        x = np.ascontiguousarray(scale_logits(x, beta, base))
        return np.asarray(state["fn"](x)).astype(x.dtype, copy=False)

    compute.__qualname__ = f"{function}[{name}]"
    return Implementation(
        name=name,
        function=function,
        compute=compute,
        dtypes=_dtypes(name),
        kind="peer",
        version=version(name),
    )


def implementations(name: str) -> tuple[Implementation, ...]:
    """Every function's :class:`Implementation` of peer ``name`` (registered on import)."""
    from . import get

    return tuple(get(function, name) for function in PEERS[name][2])


def resolve(names: str | Iterable[str]) -> tuple[list[str], list[str]]:
    """Split a ``--peers`` value into peers to run and one-line skip notes.

    Parameters
    ----------
    names : str or iterable of str
        ``"all"``, a comma-separated string such as ``"scipy,torch"``, or names.

    Returns
    -------
    (list of str, list of str)
        The peers that import, in the order given, and for each other one a
        line ``"<peer>: skipped, <reason>; install with pip install ..."``.

    Raises
    ------
    ValueError
        For a name that is not a peer (the message lists the valid ones).
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    if names == ["all"]:
        names = list(PEERS)
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise ValueError(
            f"unknown peer(s) {', '.join(map(repr, unknown))}; valid: all, {', '.join(PEERS)}"
        )
    ok, skipped = [], []
    for name in dict.fromkeys(names):
        if not installed(name):
            skipped.append(f"{name}: skipped, not installed; install with {INSTALL_HINT}")
            continue
        try:
            importlib.import_module(PEERS[name][0])
        except Exception as exc:  # a broken install must not stop the report
            skipped.append(
                f"{name}: skipped, import failed ({type(exc).__name__}: {exc}); "
                f"reinstall with {INSTALL_HINT}"
            )
            continue
        ok.append(name)
    return ok, skipped


for _name in available():
    for _function in PEERS[_name][2]:
        register(_implementation(_name, _function), replace=True)
