#!/usr/bin/env python
"""Accuracy check of ``stable_softmax.kernels.exp`` against the correctly rounded exp.

float32 (exhaustive by default): every float32 ``x`` whose exp rounds to a
nonzero finite float32 (the range ends are found by bisection on the
correctly rounded reference and printed). The fast oracle is the float64 libm
``exp`` (error < 1 ulp of double) rounded to float32; where the float64 value
lies so close to a float32 rounding boundary that double rounding could go
wrong (``RN32(y (1 - 2^-50)) != RN32(y (1 + 2^-50))``, which also covers the
subnormal quantum because the cast rounds to it), the input is handed to the
correctly rounded reference instead. Runs in numba-parallel blocks.

float64 (sampled): ``--count`` random inputs, half uniform in value and half
uniform in bit pattern over the finite-nonzero range, plus hard cases (ends
of the range, the normal/subnormal output boundary, the clamps, tiny ``|x|``,
inputs next to multiples of ``ln2/2``, subnormal outputs). The fast oracle is
x87 ``long double`` exp (64-bit significand, checked against mpmath on a
sample first) rounded to float64 with the same bracketing; ambiguous inputs go
to the reference.

The reference is ``reference.exp`` (mpmath, correctly rounded, subnormals and
overflow included). ``--derive`` reruns the Remez exchange that produced the
polynomial coefficients of the kernels (exit status 1 if they differ from the
module's). ``--portable`` reruns the check with AVX-512 switched off
(``NUMBA_CPU_FEATURES``), so a machine with AVX-512 also checks the scaling
path the kernels take elsewhere; the first line printed names the path.

Examples::

    python scripts/check_exp.py --dtype float32              # exhaustive, ~2.2e9 inputs
    python scripts/check_exp.py --dtype float32 --stride 4096
    python scripts/check_exp.py --dtype float64 --count 100000000
    python scripts/check_exp.py --dtype float32 --portable   # the non-AVX-512 path
    python scripts/check_exp.py --derive

Exit status 1 when some input is more than 1 ULP off or a special value is wrong.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import mpmath as mp
import numpy as np
from numba import prange

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import reference  # noqa: E402
from stable_softmax.kernels import exp as kexp  # noqa: E402
from stable_softmax.kernels._options import kernel  # noqa: E402

_INT = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


# ---------------------------------------------------------------------------
# correctly rounded reference
# ---------------------------------------------------------------------------


def ref_exp(x, dtype):
    """Correctly rounded exp (``reference.exp``, mpmath with a Ziv loop) in ``dtype``."""
    x = np.atleast_1d(np.asarray(x, dtype=dtype))
    if x.size == 0:
        return x.copy()
    return np.asarray(reference.exp(x, dtype=np.dtype(dtype)), dtype=dtype).reshape(x.shape)


# ---------------------------------------------------------------------------
# ordinals
# ---------------------------------------------------------------------------


def to_ordinal(x, dtype):
    """Signed ordinal of each float (+0 and -0 both 0; adjacent floats differ by 1)."""
    b = np.atleast_1d(np.asarray(x, dtype=dtype)).view(_INT[np.dtype(dtype)]).astype(np.int64)
    magnitude = np.int64((1 << (8 * np.dtype(dtype).itemsize - 1)) - 1)
    return np.where(b < 0, -(b & magnitude), b)


def from_ordinal(o, dtype):
    """Inverse of :func:`to_ordinal` (ordinal 0 gives +0)."""
    dtype = np.dtype(dtype)
    o = np.atleast_1d(np.asarray(o, dtype=np.int64))
    sign = np.array(1 << (8 * dtype.itemsize - 1), dtype=np.uint64).astype(np.int64)
    bits = np.where(o < 0, (-o) | sign, o)
    return bits.astype(_INT[dtype]).view(dtype)


def ulp_distance(a, b, dtype):
    """Ordinal distance; NaN vs NaN is 0, NaN vs number is huge."""
    a = np.atleast_1d(np.asarray(a, dtype=dtype))
    b = np.atleast_1d(np.asarray(b, dtype=dtype))
    d = np.abs(to_ordinal(a, dtype) - to_ordinal(b, dtype))
    na, nb = np.isnan(a), np.isnan(b)
    return np.where(na & nb, 0, np.where(na | nb, np.int64(1) << 62, d))


def _first_true(pred, o_lo, o_hi, dtype):
    """Smallest ordinal in [o_lo, o_hi] where monotone ``pred(x)`` holds."""
    while o_lo < o_hi:
        mid = (o_lo + o_hi) // 2
        if pred(from_ordinal(mid, dtype)[0]):
            o_hi = mid
        else:
            o_lo = mid + 1
    return o_lo


def range_ends(dtype):
    """Ordinals of: first x with exp(x) > 0, last x with exp(x) < smallest normal,
    last x with exp(x) finite (all for the correctly rounded exp).
    """
    dtype = np.dtype(dtype)
    fi = np.finfo(dtype)
    o_max = int(to_ordinal(fi.max, dtype)[0])
    lo = _first_true(lambda x: ref_exp(x, dtype)[0] > 0, -o_max, 0, dtype)
    sub = _first_true(lambda x: ref_exp(x, dtype)[0] >= fi.smallest_normal, lo, 0, dtype) - 1
    hi = _first_true(lambda x: np.isinf(ref_exp(x, dtype)[0]), 0, o_max, dtype) - 1
    return lo, sub, hi


# ---------------------------------------------------------------------------
# special values
# ---------------------------------------------------------------------------


def special_values(dtype, lo, sub, hi):
    """Inputs whose result must be exactly the reference, with a label each."""
    dtype = np.dtype(dtype)
    f = lambda o: from_ordinal(o, dtype)[0]  # noqa: E731
    return [
        ("nan", dtype.type(np.nan)),
        ("+inf", dtype.type(np.inf)),
        ("-inf", dtype.type(-np.inf)),
        ("+0", dtype.type(0.0)),
        ("-0", dtype.type(-0.0)),
        ("last finite (overflow edge)", f(hi)),
        ("first inf", f(hi + 1)),
        ("largest finite float", dtype.type(np.finfo(dtype).max)),
        ("first subnormal result", f(sub)),
        ("last normal result", f(sub + 1)),
        ("smallest subnormal result", f(lo)),
        ("first zero", f(lo - 1)),
        ("most negative float", dtype.type(-np.finfo(dtype).max)),
        ("smallest subnormal input", dtype.type(np.finfo(dtype).smallest_subnormal)),
        ("-smallest subnormal input", -dtype.type(np.finfo(dtype).smallest_subnormal)),
    ]


def check_specials(dtype, lo, sub, hi):
    dtype = np.dtype(dtype)
    cases = special_values(dtype, lo, sub, hi)
    xs = np.array([v for _, v in cases], dtype=dtype)
    ours = np.empty_like(xs)
    kexp.exp_array(xs, ours)
    refs = ref_exp(xs, dtype)
    ok = True
    for (label, x), o, r in zip(cases, ours, refs):
        good = ulp_distance(o, r, dtype)[0] == 0
        ok &= bool(good)
        status = "ok" if good else "FAIL"
        print(f"    {status:4s} {label:30s} x={float(x).hex():>26s}  exp={o!r:>14}  ref={r!r}")
    return ok


# ---------------------------------------------------------------------------
# float32: exhaustive
# ---------------------------------------------------------------------------

BLOCK = 1 << 16
MAXHARD = 256
_TWO_M50 = 2.0**-50


@kernel(parallel=True)
def _check32_blocks(o_start, stride, n, hist, worst, nhard, hard):
    """Check inputs ``o_start + stride * i`` (ordinals), ``i < n``, in blocks.

    Per block: histogram of ordinal distances (0, 1, >= 2), the ordinal of the
    worst input, and the inputs left to the reference (``hard``).
    """
    nblocks = hist.shape[0]
    for blk in prange(nblocks):
        start = blk * BLOCK
        m = min(BLOCK, n - start)
        bits = np.empty(m, np.uint32)
        for i in range(m):
            o = o_start + (start + i) * stride
            bits[i] = np.uint32(o) if o >= 0 else np.uint32(-o) | np.uint32(0x80000000)
        xs = bits.view(np.float32)
        ys = np.empty(m, np.float32)
        for i in range(m):
            ys[i] = kexp.exp32(xs[i])
        refs = np.empty(m, np.float32)
        nh = 0
        for i in range(m):
            y = math.exp(np.float64(xs[i]))
            r = np.float32(y)
            if np.float32(y * (1.0 - _TWO_M50)) != np.float32(y * (1.0 + _TWO_M50)):
                if nh < hard.shape[1]:
                    hard[blk, nh] = xs[i]
                nh += 1
                r = ys[i]  # counted after the reference decides
            refs[i] = r
        nhard[blk] = nh
        yb = ys.view(np.int32)
        rb = refs.view(np.int32)
        dmax = -1
        for i in range(m):
            d = abs(np.int64(yb[i]) - np.int64(rb[i])) if ys[i] == ys[i] else np.int64(1) << 40
            hist[blk, min(d, 2)] += 1
            if d > dmax:
                dmax = d
                worst[blk, 0] = d
                worst[blk, 1] = o_start + (start + i) * stride


def check_float32(stride, chunk=1 << 26):
    dt = np.dtype(np.float32)
    lo, sub, hi = range_ends(dt)
    print(
        f"float32 range with finite nonzero exp: [{float(from_ordinal(lo, dt)[0]).hex()}, "
        f"{float(from_ordinal(hi, dt)[0]).hex()}] = [{from_ordinal(lo, dt)[0]!r}, "
        f"{from_ordinal(hi, dt)[0]!r}]; subnormal results for x <= "
        f"{from_ordinal(sub, dt)[0]!r} ({float(from_ordinal(sub, dt)[0]).hex()})"
    )
    n_total = (hi - lo) // stride + 1
    hist = np.zeros(3, np.int64)
    worst = (-1, 0)
    hard_x = []
    t0 = time.perf_counter()
    done = 0
    while done < n_total:
        n = min(chunk, n_total - done)
        nb = (n + BLOCK - 1) // BLOCK
        h = np.zeros((nb, 3), np.int64)
        w = np.zeros((nb, 2), np.int64)
        nh = np.zeros(nb, np.int64)
        hx = np.zeros((nb, MAXHARD), np.float32)
        _check32_blocks(lo + done * stride, stride, n, h, w, nh, hx)
        if nh.max() > MAXHARD:
            raise RuntimeError("too many hard cases in one block; is libm exp accurate?")
        for b in np.nonzero(nh)[0]:
            hard_x.extend(hx[b, : nh[b]].tolist())
        hist += h.sum(axis=0)
        b = int(np.argmax(w[:, 0]))
        if w[b, 0] > worst[0]:
            worst = (int(w[b, 0]), int(w[b, 1]))
        done += n
        if sys.stdout.isatty() or done == n_total or (done // chunk) % 8 == 0:
            print(
                f"  {done:>13,d} / {n_total:,d} checked, {time.perf_counter() - t0:7.1f} s",
                flush=True,
            )
    # hard cases: the kernel counted them as exact; redo them with the reference
    hard = np.array(hard_x, dtype=dt)
    n_hard = hard.size
    if n_hard:
        ours = np.empty_like(hard)
        kexp.exp_array(hard, ours)
        d = ulp_distance(ours, ref_exp(hard, dt), dt)
        for v in (1, 2):
            moved = int(np.sum(np.minimum(d, 2) == v))
            hist[0] -= moved
            hist[v] += moved
        j = int(np.argmax(d))
        if d[j] > worst[0]:
            worst = (int(d[j]), int(to_ordinal(hard[j], dt)[0]))
    elapsed = time.perf_counter() - t0
    report("float32", n_total, hist, worst, n_hard, elapsed, stride=stride)
    print("  special values:")
    ok = check_specials(dt, lo, sub, hi)
    return ok and worst[0] <= 1


def report(name, n, hist, worst, n_hard, elapsed, stride=None):
    dt = np.dtype(name)
    x = from_ordinal(worst[1], dt)[0]
    ours = np.empty(1, dt)
    kexp.exp_array(np.array([x], dt), ours)
    ref = ref_exp(x, dt)[0]
    extra = f" (every {stride}-th)" if stride and stride > 1 else ""
    print(f"dtype: {name}")
    print(f"  inputs checked: {n:,d}{extra}")
    print(f"  max ULP error (ordinal distance): {worst[0]}")
    print(f"  correctly rounded: {hist[0]:,d} ({hist[0] / n:.3%})")
    print(
        f"  not correctly rounded (distance >= 1): {hist[1] + hist[2]:,d} ({(hist[1] + hist[2]) / n:.3%}); distance >= 2: {hist[2]:,d}"
    )
    print(
        f"  worst input: x = {float(x).hex()} ({x!r}), exp = {float(ours[0]).hex()}, correctly rounded = {float(ref).hex()}"
    )
    print(f"  inputs decided by reference.exp: {n_hard:,d}")
    print(f"  runtime: {elapsed:.1f} s")


# ---------------------------------------------------------------------------
# float64: random + hard cases
# ---------------------------------------------------------------------------

_LD_WINDOW = 2.0**-60  # 16 ulps of long double
_LD_DOWN = np.longdouble(1) - np.longdouble(_LD_WINDOW)  # in long double: 1 - 2^-60 != 1
_LD_UP = np.longdouble(1) + np.longdouble(_LD_WINDOW)


def _longdouble_oracle_ok(rng, lo_x, hi_x, n=2000):
    """Check that numpy's long double exp is within 2^-62 relative on a sample."""
    x = np.concatenate([rng.uniform(lo_x, hi_x, n), [lo_x, hi_x, 1e-300, -1e-300]])
    y = np.exp(x.astype(np.longdouble))
    worst = mp.mpf(0)
    with mp.workprec(200):
        for xv, yv in zip(x.tolist(), y):
            m, e = np.frexp(yv)
            exact = mp.exp(mp.mpf(xv))
            got = mp.ldexp(mp.mpf(int(np.ldexp(m, 64))), int(e) - 64)
            worst = max(worst, abs(got / exact - 1))
    return worst < mp.ldexp(1, -62), float(worst)


def hard_inputs64(lo, sub, hi, rng):
    """Edge and hard inputs for float64 (see module docstring)."""
    dt = np.dtype(np.float64)
    parts = []
    span = np.arange(-20000, 20001)
    for o in [lo, sub, hi, 0]:
        parts.append(from_ordinal(np.clip(o + span, lo, hi), dt))
    # around the clamps of the kernel (outside the range: results 0 and inf)
    for o in to_ordinal(np.array([kexp._XMIN_64, kexp._XMAX_64]), dt).tolist():
        parts.append(from_ordinal(o + span, dt))
    e = np.arange(1, 1075, dtype=np.float64)
    tiny = np.ldexp(1.0, -e.astype(np.int64))
    tiny = np.concatenate([tiny, np.nextafter(tiny, 0), np.nextafter(tiny, 1)])
    parts += [tiny, -tiny]
    half_ln2 = math.log(2) / 2
    m = np.arange(
        math.ceil(from_ordinal(lo, dt)[0] / half_ln2), int(from_ordinal(hi, dt)[0] / half_ln2) + 1
    )
    base = to_ordinal(m * half_ln2, dt)
    for d in range(-8, 9):
        parts.append(from_ordinal(base + d, dt))
    parts.append(rng.uniform(from_ordinal(lo, dt)[0], from_ordinal(sub, dt)[0], 10**6))
    return np.concatenate(parts)


def _check64_chunk(x):
    ours = np.empty_like(x)
    kexp.exp_array(x, ours)
    with np.errstate(over="ignore", under="ignore"):
        e = np.exp(x.astype(np.longdouble))
        r = e.astype(np.float64)
        ambiguous = (e * _LD_DOWN).astype(np.float64) != (e * _LD_UP).astype(np.float64)
    d = ulp_distance(ours, r, np.float64)
    d[ambiguous] = 0
    j = int(np.argmax(d))
    hist = np.bincount(np.minimum(d, 2), minlength=3)
    return hist, (int(d[j]), int(to_ordinal(x[j], np.float64)[0])), x[ambiguous]


def check_float64(count, seed=0, chunk=1 << 22):
    dt = np.dtype(np.float64)
    rng = np.random.default_rng(seed)
    lo, sub, hi = range_ends(dt)
    x_lo, x_hi = from_ordinal(lo, dt)[0], from_ordinal(hi, dt)[0]
    print(
        f"float64 range with finite nonzero exp: [{float(x_lo).hex()}, {float(x_hi).hex()}] = "
        f"[{x_lo!r}, {x_hi!r}]; subnormal results for x <= {from_ordinal(sub, dt)[0]!r}"
    )
    ok_oracle, err = _longdouble_oracle_ok(rng, x_lo, x_hi)
    print(
        f"  long double exp vs mpmath on a sample: max relative error {err:.3g} (window {_LD_WINDOW:.3g})"
    )
    if not ok_oracle:
        raise RuntimeError("long double exp is not accurate enough to be the fast oracle here")
    t0 = time.perf_counter()

    def chunks():
        yield hard_inputs64(lo, sub, hi, rng)
        done = 0
        while done < count:
            n = min(chunk, count - done)
            half = n // 2
            by_value = rng.uniform(x_lo, x_hi, half)
            by_bits = from_ordinal(rng.integers(lo, hi + 1, n - half), dt)
            yield np.concatenate([by_value, by_bits])
            done += n

    hist = np.zeros(3, np.int64)
    worst = (-1, 0)
    hard = []
    n_total = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending = []
        for x in chunks():
            n_total += x.size
            pending.append(pool.submit(_check64_chunk, x))
            if len(pending) >= 4:
                h, w, a = pending.pop(0).result()
                hist += h
                worst = max(worst, w)
                hard.append(a)
        for p in pending:
            h, w, a = p.result()
            hist += h
            worst = max(worst, w)
            hard.append(a)
    hard_x = np.concatenate(hard)
    print(
        f"  fast oracle done in {time.perf_counter() - t0:.1f} s; {hard_x.size:,d} inputs left to the reference"
    )
    if hard_x.size:
        ours = np.empty_like(hard_x)
        kexp.exp_array(hard_x, ours)
        d = ulp_distance(ours, ref_exp(hard_x, dt), dt)
        hist += np.bincount(np.minimum(d, 2), minlength=3)
        hist[0] -= hard_x.size  # they were counted as distance 0 in the chunk pass
        j = int(np.argmax(d))
        worst = max(worst, (int(d[j]), int(to_ordinal(hard_x[j], dt)[0])))
    report("float64", n_total, hist, worst, hard_x.size, time.perf_counter() - t0)
    print("  special values:")
    ok = check_specials(dt, lo, sub, hi)
    return ok and worst[0] <= 1


# ---------------------------------------------------------------------------
# coefficient derivation
# ---------------------------------------------------------------------------


def remez_exp(fixed, deg, a, iters=20, grid=3000, prec=200):
    """Minimax relative error of ``P(r) = sum_j fixed[j] r^j + sum_{j=m..deg} c_j r^j``
    (``m = len(fixed)``) against ``exp(r)`` on ``[-a, a]``, by the Remez exchange
    on a dense grid (which avoids ``r = 0``, where the weight vanishes).

    Returns all coefficients of ``P`` (``fixed`` first, low order first) and
    the max relative error on the grid.
    """
    with mp.workprec(prec):
        a = mp.mpf(a)
        m0 = len(fixed)
        nq = deg - m0
        low = [mp.mpf(v) for v in fixed]
        g = lambda r: (mp.exp(r) - mp.polyval(low[::-1], r)) / r**m0  # noqa: E731
        w = lambda r: r**m0 / mp.exp(r)  # noqa: E731  relative error = w (Q - g)
        m = nq + 2
        # Chebyshev extrema, an even count so none falls on r = 0
        nn = m + (m % 2)
        pts = [a * mp.cos(mp.pi * (nn - 1 - i) / (nn - 1)) for i in range(nn)][:m]
        xs = [-a] + [-a + 2 * a * (i + mp.mpf(1) / 3) / grid for i in range(grid)] + [a]
        ex = [mp.exp(r) for r in xs]
        for _ in range(iters):
            A = mp.matrix(m, m)
            b = mp.matrix(m, 1)
            for i, p in enumerate(pts):
                for j in range(nq + 1):
                    A[i, j] = p**j
                A[i, nq + 1] = (-1) ** i / w(p)
                b[i] = g(p)
            sol = mp.lu_solve(A, b)
            c = low + [sol[j] for j in range(nq + 1)]
            err = [(mp.polyval(c[::-1], r) - e) / e for r, e in zip(xs, ex)]
            peaks = [
                i
                for i in range(len(xs))
                if abs(err[i]) >= (abs(err[i - 1]) if i else -1)
                and abs(err[i]) >= (abs(err[i + 1]) if i < len(xs) - 1 else -1)
            ]
            alt = []
            for i in peaks:  # keep alternating signs, the larger of equal-sign neighbours
                if alt and mp.sign(err[i]) == mp.sign(err[alt[-1]]):
                    if abs(err[i]) > abs(err[alt[-1]]):
                        alt[-1] = i
                else:
                    alt.append(i)
            while len(alt) > m:
                alt.pop(0 if abs(err[alt[0]]) < abs(err[alt[-1]]) else -1)
            if len(alt) == m:
                pts = [xs[i] for i in alt]
        return c, max(abs(v) for v in err)


def max_relative_error(coeffs, a, n=6000, prec=200):
    """Max of ``|P(r)/exp(r) - 1|`` on ``n + 1`` equispaced points of ``[-a, a]``."""
    with mp.workprec(prec):
        a = mp.mpf(a)
        c = [mp.mpf(float(v)) for v in coeffs][::-1]
        rs = (-a + 2 * a * mp.mpf(i) / n for i in range(n + 1))
        return max(abs(mp.polyval(c, r) / mp.exp(r) - 1) for r in rs)


def derive_coefficients(deg, cast, prec):
    """Coefficients of ``P`` for the kernels: ``1 + r`` fixed; Remez; round ``c2``
    to the target format and re-solve for the others; the same for ``c3``;
    round the rest to nearest. Returns ``(coefficients c2..c_deg, max rel error)``.
    """
    a = mp.log(2) / 2 * (1 + mp.mpf(2) ** -10)
    fixed = [1.0, 1.0]
    c, _ = remez_exp(fixed, deg, a, prec=prec)
    for j in (2, 3):
        fixed.append(float(cast(float(c[j]))))
        c, _ = remez_exp(fixed, deg, a, prec=prec)
    coeffs = fixed + [float(cast(float(v))) for v in c[len(fixed) :]]
    return coeffs[2:], max_relative_error(coeffs, a, prec=prec)


def derive():
    ok = True
    for name, deg, suffix, cast, prec in (
        ("float32", 6, "32", np.float32, 160),
        ("float64", 11, "64", np.float64, 240),
    ):
        c, e = derive_coefficients(deg, cast, prec)
        print(
            f"{name}: P degree {deg}, max relative error with rounded coefficients 2^{float(mp.log(e, 2)):.2f}"
        )
        for j, v in enumerate(c):
            have = getattr(kexp, f"_C{j + 2}_{suffix}")
            same = float(have) == v
            ok &= same
            print(
                f"  C{j + 2} = {v.hex():24s} ({'==' if same else '!='} module constant {float(have).hex()})"
            )
    return ok


# ---------------------------------------------------------------------------
# the portable scaling path, on a machine with AVX-512
# ---------------------------------------------------------------------------


def features_without_avx512():
    """The host's LLVM feature string with every AVX-512 (and later) feature off,
    for ``NUMBA_CPU_FEATURES``: Numba then compiles for AVX2 and the kernels take
    their portable scaling path (see ``kexp._mul_pow2``).
    """
    import llvmlite.binding as ll

    off = ("avx512", "avx10", "evex512", "amx")
    feats = ll.get_host_cpu_features()
    return ",".join(
        ("+" if on and not k.startswith(off) else "-") + k for k, on in sorted(feats.items())
    )


def rerun_portable(argv):
    """Run this script again with AVX-512 disabled (``--portable``)."""
    import subprocess

    env = dict(os.environ, NUMBA_CPU_FEATURES=features_without_avx512())
    args = [a for a in argv if a != "--portable"]
    return subprocess.call([sys.executable, os.path.abspath(__file__), *args], env=env)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    ap.add_argument(
        "--stride", type=int, default=1, help="float32: check every N-th input (default 1: all)"
    )
    ap.add_argument("--count", type=float, default=1e8, help="float64: random inputs (default 1e8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--derive", action="store_true", help="rerun the Remez derivation of the coefficients"
    )
    ap.add_argument(
        "--portable",
        action="store_true",
        help="check the portable scaling path (reruns with AVX-512 disabled through NUMBA_CPU_FEATURES)",
    )
    args = ap.parse_args(argv)
    if args.portable:
        return rerun_portable(argv)
    if args.derive:
        return 0 if derive() else 1
    print(f"scaling by 2^k: {kexp.scaling_method()}")
    ok = True
    if args.dtype in ("float32", "both"):
        ok &= check_float32(args.stride)
    if args.dtype in ("float64", "both"):
        ok &= check_float64(int(args.count), seed=args.seed)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
