"""Check the simulated arithmetic of stable_softmax.lowprec against exact results.

Unary operations (exp, log, log1p), round to nearest: every input of each
format (every bit pattern, NaN and infinities included) against the
reference: ``reference.exp(x, dtype=fmt)`` for exp, and for log and log1p
mpmath at 256 bits rounded once by ``reference._rounding.round_mpf`` (the
exact value is within ``2**-250`` relative of the 256-bit one, and no log of
a narrow float other than the exact ``log(1) = log1p(0) = 0`` comes that
close to a rounding boundary).

Binary operations (+ - * /), round to nearest: every pair of the 8-bit
formats, and for the 16-bit ones ``--pairs`` random pairs (half uniform bit
patterns, half pairs of nearby values, where cancellation and ties live) plus
every pair of a set of boundary values (zeros, subnormal and normal
extremes, 1 and its neighbours, the largest value, infinities, NaN). A
result ``c`` is checked by a characterization that shares no code with
lowprec's rounding: with ``prev``/``next`` its neighbours on the format's grid
(``floatbits``), the exact value ``t = a op b`` must satisfy
``mid(prev, c) <= t <= mid(c, next)``, equality only when ``c`` is even, or,
for an overflow result, lie beyond ``largest + ulp/2``. ``t`` is known
exactly as ``s + e`` (TwoSum; products are exact in float64; for quotients
the sign of the remainder ``a - s b``, computed exactly with Dekker's
product, is the sign of ``e``), and comparing ``s + e`` with a float64
midpoint ``m`` is exact: ``t > m`` iff ``s > m`` or ``s == m`` and ``e > 0``.

Usage (heavy: run under the team lock)::

    flock /tmp/ss-heavy.lock python scripts/check_lowprec.py [--pairs 10000000]

Prints one line per format and operation: inputs checked, mismatches, time.
Exit status 1 if any mismatch.
"""

from __future__ import annotations

import argparse
import sys
import time

import ml_dtypes
import mpmath
import numpy as np

import reference
from reference._rounding import round_mpf
from stable_softmax import floatbits as fb
from stable_softmax.formats import FORMATS
from stable_softmax.lowprec import Arithmetic

UNARY_FORMATS = ["float16", "bfloat16", "float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz"]
UNARY_FORMATS += ["float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn"]
BINARY_FORMATS = ["float16", "bfloat16", "float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz"]
_SPLIT = 134217729.0


def same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise: equal values with equal zero signs, or both NaN."""
    both_nan = np.isnan(a) & np.isnan(b)
    return both_nan | ((a == b) & (np.signbit(a) == np.signbit(b)))


def every_value(name: str) -> np.ndarray:
    dtype = FORMATS[name].dtype
    bits = np.arange(2 ** ml_dtypes.finfo(dtype).bits, dtype=np.uint64)
    return fb.from_bits(bits, dtype)


def expected_unary(op: str, x: np.ndarray, name: str) -> np.ndarray:
    fmt = FORMATS[name]
    with np.errstate(invalid="ignore"):
        x64 = x.astype(np.float64)
    if op == "exp":
        return reference.exp(x).astype(np.float64)
    out = np.empty(x64.size)
    for i, v in enumerate(x64.tolist()):
        with mpmath.workprec(256):
            if v != v or (op == "log" and v < 0) or (op == "log1p" and v < -1):
                y = mpmath.nan
            elif op == "log":
                y = mpmath.log(v) if v != 0 else -mpmath.inf
            else:
                y = mpmath.log1p(v) if v != -1 else -mpmath.inf
        r = round_mpf(y, fmt)
        if v == 0 and op == "log1p":
            r = v  # log1p(+-0) = +-0 exactly
        out[i] = r
    # log(0) = -inf becomes the format's overflow value (NaN or -largest without inf);
    # NaN stays NaN in the float64 carrier even where the format has no NaN.
    if not fmt.has_inf:
        over = {"nan": np.nan, "saturate": fmt.largest}[fmt.overflow]
        out = np.where(np.isinf(out), np.copysign(over, out), out)
    return out


def check_unary(name: str) -> bool:
    x = every_value(name)
    ar = Arithmetic(name)
    ok = True
    for op in ("exp", "log", "log1p"):
        t0 = time.perf_counter()
        with np.errstate(invalid="ignore"):
            x64 = x.astype(np.float64)
        got = getattr(ar, op)(x64)
        want = expected_unary(op, x, name)
        bad = int(np.count_nonzero(~same(got, want)))
        ok &= bad == 0
        print(
            f"{name:16s} {op:6s} every input: {x.size:>9d} checked, {bad} mismatches "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
    return ok


def exact_parts(op: str, a: np.ndarray, b: np.ndarray):
    """``(s, sign of e)`` with ``a op b = s + e`` exactly (``s`` its float64 rounding)."""
    with np.errstate(all="ignore"):
        if op in ("add", "sub"):
            bb = b if op == "add" else -b
            s = a + bb
            v = s - a
            e = (a - (s - v)) + (bb - v)
        elif op == "mul":
            s, e = a * b, np.zeros_like(a)  # exact: 2p <= 53
        else:
            s = a / b
            ph = s * b
            c = _SPLIT * s
            sh = c - (c - s)
            pl = (sh * b - ph) + (s - sh) * b
            r = (a - ph) - pl
            e = np.sign(r) * np.sign(b)
        e = np.where(np.isfinite(s), e, 0.0)
    return s, np.sign(np.nan_to_num(e))


def above(s, e, m):
    return (s > m) | ((s == m) & (e > 0))


def below(s, e, m):
    return (s < m) | ((s == m) & (e < 0))


def check_results(name: str, op: str, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> int:
    """Number of results ``c`` (float64) that are not ``a op b`` rounded to nearest even."""
    fmt = FORMATS[name]
    dtype = fmt.dtype
    s, e = exact_parts(op, a, b)
    nan_in = np.isnan(s)
    bad = nan_in & ~np.isnan(c)
    top = fmt.largest
    step = top - float(fb.next_down(np.array(top).astype(dtype)).astype(np.float64))
    threshold = top + step / 2
    odd_top = bool(fb.bits_of(np.array(top).astype(dtype)) & 1)
    mag_s, sgn_e = np.abs(s), np.where(s < 0, -e, e)
    # Overflow: beyond the threshold (at it when ties go up, i.e. top is odd).
    over = above(mag_s, sgn_e, threshold) | ((mag_s == threshold) & (sgn_e == 0) & odd_top)
    over_value = {"inf": np.copysign(np.inf, s), "nan": np.nan, "saturate": np.copysign(top, s)}[
        fmt.overflow
    ]
    over_value = np.broadcast_to(over_value, s.shape)
    bad |= ~nan_in & over & ~same(c, over_value)
    fin = ~nan_in & ~over
    cf = c[fin]
    if not np.isfinite(cf).all():
        bad[np.flatnonzero(fin)[~np.isfinite(cf)]] = True
        fin &= np.isfinite(c)
        cf = c[fin]
    cd = cf.astype(dtype)
    with np.errstate(over="ignore"):
        nxt = fb.next_up(cd).astype(np.float64)
        prv = fb.next_down(cd).astype(np.float64)
    nxt = np.where(cf == top, top + step, nxt)
    prv = np.where(cf == -top, -top - step, prv)
    if not fmt.signed_zero:
        # fnuz: the grid around 0 is -tiny, 0, +tiny (no -0 pattern to step through)
        tiny = fmt.smallest_subnormal
        nxt = np.where(cf == 0, tiny, nxt)
        prv = np.where(cf == 0, -tiny, prv)
    lo_mid, hi_mid = (prv + cf) / 2, (cf + nxt) / 2
    even = (fb.bits_of(cd).astype(np.int64) & 1) == 0
    sf, ef = s[fin], e[fin]
    inside = above(sf, ef, lo_mid) & below(sf, ef, hi_mid)
    on_edge = ((sf == lo_mid) | (sf == hi_mid)) & (ef == 0)
    good = inside | (on_edge & even)
    zero = cf == 0
    want_neg = np.signbit(sf) & fmt.signed_zero
    good &= ~zero | (np.signbit(cf) == want_neg)
    bad[np.flatnonzero(fin)[~good]] = True
    return int(np.count_nonzero(bad))


def boundary_values(name: str) -> np.ndarray:
    fmt = FORMATS[name]
    dtype = fmt.dtype
    base = [0.0, fmt.smallest_subnormal, fmt.smallest_normal, 1.0, 2.0, 3.0, fmt.largest]
    base = np.array(base).astype(dtype)
    around = np.concatenate([fb.next_up(base, k) for k in (-2, -1, 0, 1, 2)])
    with np.errstate(invalid="ignore"):  # steps past the largest value reach NaN patterns
        around = around.astype(np.float64)
    around = around[np.isfinite(around) & (np.abs(around) <= fmt.largest)]
    vals = np.concatenate([around, -around, [np.inf, -np.inf, np.nan, -0.0]])
    if not fmt.has_inf:
        vals = vals[np.isfinite(vals) | np.isnan(vals)]
    return np.unique(vals.astype(dtype).astype(np.float64))


def pairs(name: str, count: int, rng: np.random.Generator):
    dtype = FORMATS[name].dtype
    width = 8 * dtype.itemsize
    if width == 8:
        every = every_value(name).astype(np.float64)
        a, b = np.meshgrid(every, every, indexing="ij")
        yield "every pair", a.ravel(), b.ravel()
    else:
        chunk = 10**6
        for start in range(0, count, chunk):
            n = min(chunk, count - start)
            ab = rng.integers(0, 2**width, size=n, dtype=np.uint64)
            bb = rng.integers(0, 2**width, size=n, dtype=np.uint64)
            near = rng.random(n) < 0.5
            shift = rng.integers(-(2**13), 2**13, size=n).astype(np.int64)
            sign = rng.integers(0, 2, size=n).astype(np.uint64) << np.uint64(width - 1)
            nb = ((ab.astype(np.int64) + shift) % 2**width).astype(np.uint64) ^ sign
            bb = np.where(near, nb, bb)
            with np.errstate(invalid="ignore"):
                a = fb.from_bits(ab, dtype).astype(np.float64)
                b = fb.from_bits(bb, dtype).astype(np.float64)
            yield "random pairs", a, b
    edge = boundary_values(name)
    a, b = np.meshgrid(edge, edge, indexing="ij")
    yield "boundary pairs", a.ravel(), b.ravel()


def check_binary(name: str, count: int, seed: int) -> bool:
    ar = Arithmetic(name)
    ok = True
    for op in ("add", "sub", "mul", "div"):
        rng = np.random.default_rng(seed)
        totals: dict[str, list[int]] = {}
        t0 = time.perf_counter()
        for label, a, b in pairs(name, count, rng):
            c = getattr(ar, op)(a, b)
            bad = check_results(name, op, a, b, c)
            n_bad = totals.setdefault(label, [0, 0])
            n_bad[0] += a.size
            n_bad[1] += bad
        for label, (n, bad) in totals.items():
            ok &= bad == 0
            print(f"{name:16s} {op:6s} {label}: {n:>9d} checked, {bad} mismatches", flush=True)
        print(f"{name:16s} {op:6s} ({time.perf_counter() - t0:.1f} s)", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=10**7, help="random pairs per 16-bit format")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--formats", default=None, help="comma-separated subset")
    args = parser.parse_args(argv)
    chosen = args.formats.split(",") if args.formats else None
    ok = True
    for name in UNARY_FORMATS:
        if chosen is None or name in chosen:
            ok &= check_unary(name)
    for name in BINARY_FORMATS:
        if chosen is None or name in chosen:
            ok &= check_binary(name, args.pairs, args.seed)
    print("all results correctly rounded" if ok else "MISMATCHES FOUND")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
