"""Bring your own implementation: a wrong one is caught where theory says it fails."""

from __future__ import annotations

import numpy as np
import pytest

import reference
from stable_softmax import implementations
from stable_softmax.accuracy import user

# The smallest float32 t with exp(t) = inf: exp(t) rounds to inf once
# exp(t) >= (2 - 2**-24) * 2**127 (FLT_MAX plus half an ULP), i.e. t >=
# 128 ln 2 + ln(1 - 2**-25) = 88.7228390... The float32 grid near 88.7 has
# spacing 2**-17 = 7.6e-6: 0x1.62e42ep+6 = 88.7228317 lies below that (exp is
# 2**128 (1 - 7.3e-6), about 61 ULP under FLT_MAX: finite even for an exp
# with a few ULP of error) and 0x1.62e430p+6 = 88.7228394 above it.
# test_threshold_constants_agree_with_the_reference checks both with the reference.
F32_OVERFLOW = float.fromhex("0x1.62e430p+6")
# float64: the classic libm threshold 709.782712893384 = 0x1.62e42fefa39fp+9
# (exp of the float below it is 1.7976931348622e308, finite).
F64_OVERFLOW = float.fromhex("0x1.62e42fefa39fp+9")


def unshifted_softmax(x):
    """The deliberate mistake: softmax without subtracting the row maximum."""
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def test_threshold_constants_agree_with_the_reference():
    for value, dtype in ((F32_OVERFLOW, np.float32), (F64_OVERFLOW, np.float64)):
        t = np.array([value], dtype=dtype)
        below = np.nextafter(t, dtype(0))
        assert np.isinf(reference.exp(t)).all()
        assert np.isfinite(reference.exp(below)).all()


@pytest.mark.parametrize(
    ("dtype", "expected"), [("float32", F32_OVERFLOW), ("float64", F64_OVERFLOW)]
)
def test_wrong_implementation_overflows_at_the_exp_threshold(dtype, expected):
    impl = user.implementation(unshifted_softmax, "softmax", name="unshifted")
    found = user.find_threshold(impl, dtype)
    assert found["overflow"] == expected
    assert found["overflow_last_ok"] == float(np.nextafter(np.array(expected, dtype), 0))
    shifted = user.find_threshold(implementations.get("softmax", "shifted"), dtype)
    assert shifted["overflow"] is None


def test_measure_catches_the_missing_max_shift():
    m = user.measure(
        unshifted_softmax,
        "softmax",
        name="unshifted",
        dtypes=["float32"],
        families=["edges", "spike"],
        compare=["shifted"],
    )
    by = {}
    for r in m.records:
        by.setdefault(r["method"], []).append(r)
    assert set(by) == {"shifted", "unshifted"}
    assert len(by["shifted"]) == len(by["unshifted"]) > 0
    # same cells, same inputs: only the implementation differs
    key = lambda r: (r["family"], r["n"], r["scale"], r["beta"], r["base"])  # noqa: E731
    assert sorted(map(key, by["shifted"])) == sorted(map(key, by["unshifted"]))
    assert max(r["overflow"] + r["nan"] for r in by["unshifted"]) > 0
    assert max(r["overflow"] + r["nan"] for r in by["shifted"]) == 0
    (threshold,) = [t for t in m.thresholds if t["method"] == "unshifted"]
    assert threshold["overflow"] == F32_OVERFLOW
    specials = {
        r["case"]: r["status"] for r in m.special_values if r["implementation"] == "unshifted"
    }
    assert specials["exp overflows"] == "differs" and specials["NaN"] == "same"
    text = m.markdown()
    assert "unshifted" in text and "0x1.62e43p+6" in text


def test_measure_needs_a_function_and_known_comparisons():
    with pytest.raises(ValueError, match="function is required"):
        user.measure(unshifted_softmax)
    with pytest.raises(ValueError, match="not methods of softmax"):
        user.measure(unshifted_softmax, "softmax", compare=["log1p"])


def test_import_path_implementation_is_measured_like_a_callable():
    impl = implementations.get("softmax", "tests.test_user_impl:unshifted_softmax")
    assert impl.kind == "user"
    x = np.array([[1.0, 2.0]], np.float32)
    assert np.array_equal(impl.compute(x), unshifted_softmax(x))
