"""Peer adapters: registry, skipping, and accuracy against the correctly rounded reference."""

from __future__ import annotations

import numpy as np
import pytest

import reference
from stable_softmax import implementations
from stable_softmax.floatbits import ulp_distance
from stable_softmax.implementations import peers, scale_logits

FUNCTIONS = ("softmax", "log_softmax", "logsumexp")
DTYPES = ("float32", "float64")


def _need(name: str) -> None:
    if not peers.installed(name):
        pytest.skip(f"{name} not installed ({peers.INSTALL_HINT})")


def _sample(dtype: str) -> np.ndarray:
    # seeded: 16 rows of 32 logits, N(0, 3^2), spread about +-10
    return (np.random.default_rng(1234).standard_normal((16, 32)) * 3.0).astype(dtype)


def _ulp_bound(function: str, x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """First-order error bound in ULPs of ``ref``, valid for the shifted and unshifted formulas.

    With u = eps/2, m = max x, d = x - m, n terms, each elementary operation
    (exp and log within 1 ULP = 2u, +, -, / within u) contributes:
    * softmax (relative): rounding d costs |d_j| u in exp(d_j); the sum
      carries max|d| u from its terms, (n - 1) u from n - 1 additions and
      2u from exp; exp of the term 2u, the division u. Unshifted forms skip d.
      Relative error r is at most r / u ULPs (ulp(y) >= u |y|).
    * log_softmax / logsumexp (absolute): the sum's relative error above
      becomes an absolute error of log S, plus 2u |log S| from log, u |d_j|
      and u |x_j| from the subtractions and u |m| from m + log S; |log S| <=
      |y| + |x_j| + |m| bounds both forms.
    The budget is doubled for slack in the constants, so a correct float
    implementation passes and one losing half its digits (e.g. a float16
    intermediate, about 2**13 ULP in float32) does not.
    """
    x64 = x.astype(np.float64)
    m = x64.max(axis=-1, keepdims=True)
    d = np.abs(x64 - m)
    n = x.shape[-1]
    spread = d.max(axis=-1, keepdims=True)
    u = np.finfo(x.dtype).eps / 2
    ref64 = np.abs(ref.astype(np.float64))
    spacing = np.spacing(np.abs(ref)).astype(np.float64)
    if function == "softmax":
        budget = d + spread + n + 6
        return 2 * budget * u * ref64 / spacing + 1
    if function == "log_softmax":
        budget = 2 * (d + spread + np.abs(x64) + np.abs(m) + ref64) + n + 8
        return 2 * budget * u / spacing + 1
    budget = 2 * (spread + np.abs(m[:, 0]) + ref64) + n + 8
    return 2 * budget * u / spacing + 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("name", list(peers.PEERS))
def test_adapter_matches_reference(name, function, dtype):
    _need(name)
    impl = implementations.get(function, name)
    x = _sample(dtype)
    ref = getattr(reference, function)(x)
    out = impl.compute(x, beta=1.0, base=None)
    assert out.dtype == x.dtype and out.shape == ref.shape
    ulps = ulp_distance(out, ref)
    bound = _ulp_bound(function, x, ref)
    worst = np.argmax(ulps - bound)
    assert np.all(ulps <= bound), (
        f"{name} {function} {dtype}: {ulps.flat[worst]} ULP > bound {bound.flat[worst]:.1f}"
    )


@pytest.mark.parametrize("name", list(peers.PEERS))
def test_adapter_scales_logits_as_a_user_would(name):
    _need(name)
    x = _sample("float32")
    impl = implementations.get("softmax", name)
    scaled = impl.compute(x, beta=2.5, base=2.0)
    direct = impl.compute(scale_logits(x, 2.5, 2.0), beta=1.0, base=None)
    assert np.array_equal(scaled, direct)
    assert not np.array_equal(scaled, impl.compute(x, beta=1.0, base=None))


def test_peer_metadata():
    for name in peers.available():
        impl = implementations.get("softmax", name)
        assert impl.kind == "peer"
        assert impl.version == peers.version(name) is not None
        # torch and JAX also run their own float16/bfloat16 kernels (the low-precision report)
        narrow = {"float16", "bfloat16"} if name in ("torch", "jax") else set()
        assert set(impl.dtypes) == {"float32", "float64"} | narrow
    assert "textbook" in peers.available()  # numpy is always there


def test_resolve_skips_an_absent_peer_with_one_line(monkeypatch):
    # torch made absent on top of whatever this machine lacks (CI has no jax):
    # exactly one line per absent peer, one of them torch's.
    really_installed = peers.installed
    monkeypatch.setattr(peers, "installed", lambda name: name != "torch" and really_installed(name))
    ok, skipped = peers.resolve("all")
    assert "torch" not in ok and "textbook" in ok
    torch_lines = [line for line in skipped if line.startswith("torch:")]
    assert len(torch_lines) == 1
    assert torch_lines[0].startswith("torch: skipped") and peers.INSTALL_HINT in torch_lines[0]
    assert all("\n" not in line for line in skipped)
    assert len({line.split(":")[0] for line in skipped}) == len(skipped)


def test_resolve_rejects_unknown_names():
    with pytest.raises(ValueError, match="valid: all, scipy"):
        peers.resolve("scipy,tensorflow")
    assert peers.resolve("scipy, scipy")[0] == (["scipy"] if peers.installed("scipy") else [])


def test_jax_x64_is_scoped_to_the_adapter():
    _need("jax")
    import jax

    before = jax.config.jax_enable_x64
    out = implementations.get("softmax", "jax").compute(_sample("float64"))
    assert out.dtype == np.float64
    # computed in float64, not float32 and cast back: far below float32's eps
    ref = reference.softmax(_sample("float64"))
    assert ulp_distance(out, ref).max() < 2**20
    assert jax.config.jax_enable_x64 == before


def test_onnx_model_bytes_run_in_onnxruntime():
    _need("onnxruntime")
    import onnxruntime as ort

    for function in FUNCTIONS:
        for dtype in DTYPES:
            session = ort.InferenceSession(
                peers.onnx_model_bytes(function, dtype), providers=["CPUExecutionProvider"]
            )
            x = _sample(dtype)[:3, :5]
            (y,) = session.run(None, {"x": x})
            assert y.dtype == x.dtype
            assert y.shape == ((3,) if function == "logsumexp" else (3, 5))


def test_hand_encoded_model_equals_onnx_helper(monkeypatch):
    onnx = pytest.importorskip("onnx", reason="onnx not installed: the helper path is not used")
    built = peers.onnx_model_bytes("softmax", "float32")
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    by_hand = peers.onnx_model_bytes("softmax", "float32")
    a, b = onnx.ModelProto(), onnx.ModelProto()
    a.ParseFromString(built)
    b.ParseFromString(by_hand)
    assert a.graph.node == b.graph.node and a.opset_import == b.opset_import
    assert a.graph.input == b.graph.input and a.graph.output == b.graph.output


def test_varint_encodes_negative_int64_as_ten_bytes():
    # protobuf: int64 -1 is the 64-bit two's complement, 9 x 0xff then 0x01
    assert peers._varint(-1) == b"\xff" * 9 + b"\x01"
    assert peers._varint(300) == b"\xac\x02"


def test_get_of_an_absent_peer_says_how_to_install(monkeypatch):
    monkeypatch.delitem(implementations._REGISTRY, ("softmax", "torch"), raising=False)
    monkeypatch.setattr(implementations, "_load_plugins", lambda: None)
    with pytest.raises(ValueError, match=r"not installed.*stable_softmax\[peers\]"):
        implementations.get("softmax", "torch")
