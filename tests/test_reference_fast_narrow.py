"""The fast first step of the reference for narrow targets: the same bits as the mpmath path.

``reference._fast.supported`` lets the double-double first step serve the
formats of the table with ``p <= 24`` and an IEEE or ``fn`` NaN encoding
(float16, bfloat16, float8_e5m2, float8_e4m3fn): its rounding test
(``_dd.decide``) takes the target's ``(p, emin, emax)``, so subnormals are
those of the target, and a value at or past ``2^(emax+1)`` comes back as inf,
which the conversion to the target dtype maps by the format's overflow rule
(inf; NaN for float8_e4m3fn, whose values past 464 are NaN; the rounding test
refuses points on the midpoint 464 itself, which go to mpmath). Expected values
come from ``engine="mpmath"``, the authority.
"""

from __future__ import annotations

import numpy as np
import pytest

import reference
from reference import _dd, _engine, _fast
from stable_softmax.formats import FORMATS

NARROW = ["float16", "bfloat16", "float8_e5m2", "float8_e4m3fn"]


def _edges(fmt) -> list[float]:
    """The overflow edge of exp, its normal and subnormal underflow edges, and ``largest``."""
    ln2 = np.log(2.0)
    return [
        float(np.log(float(fmt.overflow_threshold))),
        fmt.emin * ln2,
        (fmt.qmin - 1) * ln2,
        fmt.largest * 0.99,
    ]


def _family(rng, name, rows, n, fmt) -> np.ndarray:
    if name == "gaussian":
        return rng.standard_normal((rows, n)) * 3
    if name == "uniform":
        return rng.uniform(-16, 16, (rows, n))
    if name == "spike":
        x = rng.standard_normal((rows, n))
        x[:, rng.integers(n)] += 20
        return x
    if name == "ties":
        return rng.integers(-3, 2, (rows, n)).astype(float)
    if name == "spread":
        return rng.standard_normal((rows, n)) * 60
    if name == "edges":  # around the target's exp thresholds and its largest value
        centre = rng.choice(_edges(fmt), (rows, 1))
        x = centre + rng.uniform(-1, 1, (rows, n)) * 2.0 ** rng.integers(-12, 2, (rows, 1))
        x[:, 0] = 0.0
        return x
    if name == "big":  # logsumexp near and past the target's overflow threshold
        return fmt.largest * rng.uniform(0.9, 1.1, (rows, n))
    raise ValueError(name)


FAMILIES = ["gaussian", "uniform", "spike", "ties", "spread", "edges", "big"]
SCALES = [(1.0, None), (7.5, None), (1e3, None), (1.0, 2.0), (0.75, 10.0)]


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_narrow_targets_are_served_by_the_fast_step():
    assert all(_fast.supported(FORMATS[f]) for f in NARROW)
    assert _fast.supported(FORMATS["float32"]) and _fast.supported(FORMATS["float64"])
    # no -0 (fnuz) and saturating formats stay on the mpmath path
    for name in ("float8_e4m3fnuz", "float6_e2m3fn", "float4_e2m1fn"):
        assert not _fast.supported(FORMATS[name])


@pytest.mark.parametrize("target", NARROW)
def test_fast_step_bit_identical_to_mpmath_in_narrow_formats(target):
    fmt = FORMATS[target]
    rng = np.random.default_rng(20261202 + fmt.precision * 100 + fmt.emax)
    kinds = ["softmax", "log_softmax", "logsumexp"]
    total = fast_elements = 0
    for f, fam in enumerate(FAMILIES):
        for s, (beta, base) in enumerate(SCALES):
            kind = kinds[(s + f) % 3] if fam != "big" else "logsumexp"
            # inputs in the target format itself, and float32 inputs (rounded once into it)
            for dt in (fmt.dtype, np.dtype(np.float32)):
                with np.errstate(over="ignore"):
                    x = _family(rng, fam, 4, 96, fmt).astype(dt)
                fn = getattr(reference, kind)
                reference.reset_engine_stats()
                fast = fn(x, beta=beta, base=base, dtype=fmt.dtype, engine="auto")
                fast_elements += _engine.engine_stats()["fast"]["elements"]
                slow = fn(x, beta=beta, base=base, dtype=fmt.dtype, engine="mpmath")
                assert same_bits(fast, slow), (target, fam, beta, base, kind, dt)
                total += np.asarray(slow).size
    # the step decides nearly everything (else it would test nothing)
    assert fast_elements >= 0.9 * total, (fast_elements, total)


@pytest.mark.parametrize("target", NARROW)
def test_fast_exp_bit_identical_in_narrow_formats(target):
    fmt = FORMATS[target]
    # every value of the 8-bit formats; a strided sample of the 16-bit ones
    bits = np.arange(0, 2 ** (8 * fmt.dtype.itemsize), 1 if fmt.dtype.itemsize == 1 else 7)
    uint = np.uint8 if fmt.dtype.itemsize == 1 else np.uint16
    x = bits.astype(uint).view(fmt.dtype)
    with np.errstate(invalid="ignore"):
        x = x[~np.isnan(x.astype(np.float64))]
    reference.reset_engine_stats()
    fast = reference.exp(x, dtype=fmt.dtype, engine="auto")
    # x > EXP_MAX (709.78, float64's exp overflow) goes to mpmath by design
    served = np.count_nonzero(x.astype(np.float64) <= _dd.EXP_MAX)
    assert _engine.engine_stats()["fast"]["elements"] >= 0.9 * served
    assert same_bits(fast, reference.exp(x, dtype=fmt.dtype, engine="mpmath"))


@pytest.mark.parametrize("engine", ["auto", "mpmath"])
def test_overflow_nan_keeps_the_sign_in_e4m3fn(engine):
    """log_softmax below -464 and logsumexp past +-464 in float8_e4m3fn: NaN of the value's sign.

    Expected: ml_dtypes' conversion of the float64 value, far from the format's
    midpoints here (the float64 formula is within a few float64 ulps of the exact values).
    """
    import ml_dtypes

    x = np.array([[0.0, -500.0, -2.0], [-600.0, -1.0, -3.0]])
    t = x - x.max(axis=1, keepdims=True)
    want = (t - np.log(np.exp(t).sum(axis=1, keepdims=True))).astype(ml_dtypes.float8_e4m3fn)
    got = reference.log_softmax(x, dtype="float8_e4m3fn", engine=engine)
    assert same_bits(got, want)
    assert np.isnan(got[0, 1].astype(np.float32)) and np.signbit(got[0, 1].astype(np.float32))
    s = np.array([[500.0, 0.0], [-500.0, -600.0]])
    want_s = np.array([[500.0], [-500.0]]).astype(ml_dtypes.float8_e4m3fn)
    got_s = reference.logsumexp(s, dtype="float8_e4m3fn", engine=engine, keepdims=True)
    assert same_bits(got_s, want_s)
