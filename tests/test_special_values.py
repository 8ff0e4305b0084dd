"""The special-value table: the documented convention, our methods, and peers' real outputs."""

from __future__ import annotations

import numpy as np
import pytest

import reference
from stable_softmax import implementations
from stable_softmax.accuracy import special_values as sv
from stable_softmax.implementations import FUNCTIONS, builtin, peers

DTYPES = ("float32", "float64")
README_CASES = [c for c in sv.CASES if c.note.startswith("README")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_reference_follows_the_documented_table(function, dtype):
    # two independent statements of the convention must agree
    for case in README_CASES:
        x = case.row(dtype)
        if x.size == 0:
            continue  # the table defines empty slices; see test below
        doc = sv.documented(function, x[0])
        ref = np.asarray(getattr(reference, function)(x))[0]
        if doc is None:
            # "-inf among finite values": 0 / -inf there, and the -inf terms drop out
            finite = np.isfinite(x[0])
            rest = np.asarray(getattr(reference, function)(x[:, finite]))[0]
            if function == "logsumexp":
                assert ref == rest
            else:
                assert np.array_equal(ref[finite], rest)
                assert np.all(ref[~finite] == (0.0 if function == "softmax" else -np.inf))
            continue
        assert sv.compare(ref, doc)[0] == "same", (case.name, ref, doc)


def test_documented_table_literal_values():
    f = np.float64
    inf, nan = np.inf, np.nan
    assert np.array_equal(
        sv.documented("log_softmax", np.array([inf, 0.0, 1.0])), [nan, -inf, -inf], equal_nan=True
    )
    assert sv.documented("logsumexp", np.array([-inf, -inf])) == -inf
    assert sv.documented("logsumexp", np.zeros(0, f)) == -inf
    assert sv.documented("softmax", np.zeros(0, f)).shape == (0,)
    assert sv.documented("softmax", np.array([1.0, 2.0])) is None


@pytest.mark.parametrize("function", FUNCTIONS)
def test_our_guarded_methods_follow_the_documented_table(function):
    impls = [i for i in builtin(function) if i.name != "naive"]
    rows = sv.special_values({function: impls}, DTYPES, README_CASES)
    bad = [(r["implementation"], r["dtype"], r["case"], r["output"]) for r in rows]
    # rounding of the finite values may differ by an ULP ("close"); the classes may not
    bad = [b for b, r in zip(bad, rows) if r["status"] not in ("same", "close")]
    assert not bad


def test_naive_is_marked_where_it_overflows():
    rows = sv.special_values(
        {"softmax": [implementations.get("softmax", "naive")]},
        ["float64"],
        sv.cases(["exp overflows", "+inf"]),
    )
    assert {r["case"]: r["status"] for r in rows} == {"exp overflows": "differs", "+inf": "differs"}
    overflow = next(r for r in rows if r["case"] == "exp overflows")
    assert overflow["output"][0] == "nan"  # inf / inf
    # e^-710 / (1 + e^-710), subnormal: 4.476e-309
    assert float(overflow["expected"][1]) == pytest.approx(np.exp(-710.0), rel=1e-12)


def _direct(name: str, function: str, x: np.ndarray):
    """What the peer's own library returns, called as its users would."""
    if name == "scipy":
        import scipy.special

        return getattr(scipy.special, function)(x, axis=-1)
    if name == "torch":
        import torch

        return getattr(torch, function)(torch.from_numpy(x), dim=-1).numpy()
    if name == "textbook":
        e = np.exp(x)
        return {
            "softmax": lambda: e / e.sum(-1, keepdims=True),
            "log_softmax": lambda: x - np.log(e.sum(-1, keepdims=True)),
            "logsumexp": lambda: np.log(e.sum(-1)),
        }[function]()
    return None


@pytest.mark.parametrize("name", ["scipy", "torch", "textbook"])
def test_peer_rows_record_the_real_output(name):
    if not peers.installed(name):
        pytest.skip(f"{name} not installed ({peers.INSTALL_HINT})")
    impls = {f: [implementations.get(f, name)] for f in FUNCTIONS}
    rows = sv.special_values(impls, DTYPES)
    assert rows
    for r in rows:
        case = next(c for c in sv.CASES if c.name == r["case"])
        x = case.row(r["dtype"])
        try:
            with np.errstate(all="ignore"):
                want = np.asarray(_direct(name, r["function"], x)).astype(x.dtype)
        except Exception as exc:
            assert r["status"] == "raises" and r["error"].startswith(type(exc).__name__)
            continue
        got = np.array(r["output"], dtype=x.dtype)
        assert np.array_equal(got, want.reshape(-1), equal_nan=True), (r["case"], got, want)


def test_known_peer_difference_is_marked():
    # torch's log_softmax of a row with +inf is all NaN (SciPy: -inf off the +inf)
    if not peers.installed("torch"):
        pytest.skip(f"torch not installed ({peers.INSTALL_HINT})")
    rows = sv.special_values(
        {"log_softmax": [implementations.get("log_softmax", "torch")]},
        ["float64"],
        sv.cases(["+inf"]),
    )
    (row,) = rows
    if row["output"] == ["nan", "nan", "nan"]:
        assert row["status"] == "differs"
    else:
        assert row["status"] == "same"


def test_compare_rules():
    f = np.float32
    same, close, differs = "same", "close", "differs"
    assert sv.compare(np.array([1, np.nan], f), np.array([1, np.nan], f)) == (same, 0.0)
    assert sv.compare(np.array([0, 1], f), np.array([np.nan, 1], f))[0] == differs
    assert sv.compare(np.array([0.0], f), np.array([1e-40], f))[0] == differs  # lost tail
    one_up = np.nextafter(f(0.5), f(1))
    assert sv.compare(np.array([one_up]), np.array([0.5], f)) == (close, 1.0)
    # 2**12 ULP is half of float32's 24 bits: no longer "close"
    far = np.array([0.5 * (1 + 2.0**-23 * 2**12)], f)
    assert sv.compare(far, np.array([0.5], f))[0] == differs
    assert sv.compare(np.array([1.0], f), np.array([1.0])) == (differs, None)


def test_markdown_marks_differences():
    rows = sv.special_values(
        {"logsumexp": [implementations.get("logsumexp", "naive")]},
        ["float32"],
        sv.cases(["NaN", "largest float"]),
    )
    text = "\n".join(sv.render_markdown(rows))
    assert "| NaN | [1.0, nan, 2.0] | [nan] | = |" in text
    assert "**≠ [inf]**" in text
