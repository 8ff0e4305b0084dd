"""The exhaustive accuracy check of :mod:`stable_softmax.kernels.exp`.

The core of ``scripts/check_exp.py`` (a command line over this module).

float32 (:func:`check_float32`, exhaustive at ``stride=1``): every float32
``x`` whose exp rounds to a nonzero finite float32 (the range ends are found
by bisection on the correctly rounded reference and printed). The fast oracle
is the float64 libm ``exp`` (error < 1 ulp of double) rounded to float32;
where the float64 value lies so close to a float32 rounding boundary that
double rounding could go wrong (``RN32(y (1 - 2^-50)) != RN32(y (1 + 2^-50))``,
which also covers the subnormal quantum because the cast rounds to it), the
input is handed to the correctly rounded reference instead. Runs in
numba-parallel blocks.

float64 (:func:`check_float64`, sampled): ``count`` random inputs, half
uniform in value and half uniform in bit pattern over the finite-nonzero
range, plus hard cases (ends of the range, the normal/subnormal output
boundary, the clamps, tiny ``|x|``, inputs next to multiples of ``ln2/2``,
subnormal outputs). The fast oracle is x87 ``long double`` exp (64-bit
significand, checked against mpmath on a sample first) rounded to float64
with the same bracketing; ambiguous inputs go to the reference.

The reference is ``reference.exp`` (mpmath, correctly rounded, subnormals and
overflow included). Ordinals, ULP distances and bisection come from
:mod:`stable_softmax.floatbits`.
"""

from __future__ import annotations

import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import mpmath as mp
import numpy as np
from numba import prange

import reference

from .. import floatbits
from ..kernels import exp as kexp
from ..kernels._options import kernel

__all__ = [
    "check_float32",
    "check_float64",
    "check_specials",
    "features_without_avx512",
    "range_ends",
    "ref_exp",
    "ulp_distance",
]

#: Stands for "not a number of ULPs" (NaN against a number, inf against a
#: finite value) where the checks need integer distances.
_FAR = 1 << 62


def ulp_distance(a, b, dtype) -> np.ndarray:
    """:func:`stable_softmax.floatbits.ulp_distance` of ``a`` and ``b`` cast to
    ``dtype``, as int64 with ``inf`` (NaN against a number, an infinity
    against anything else) mapped to ``2**62``.
    """
    a = np.atleast_1d(np.asarray(a, dtype=dtype))
    b = np.atleast_1d(np.asarray(b, dtype=dtype))
    d = floatbits.ulp_distance(a, b)
    return np.where(np.isinf(d), np.float64(_FAR), d).astype(np.int64)


def to_ordinal(x, dtype) -> np.ndarray:
    """:func:`stable_softmax.floatbits.to_ordinal` of ``x`` cast to ``dtype`` (at least 1-D)."""
    return floatbits.to_ordinal(np.atleast_1d(np.asarray(x, dtype=dtype)))


def from_ordinal(o, dtype) -> np.ndarray:
    """:func:`stable_softmax.floatbits.from_ordinal`, at least 1-D."""
    return np.atleast_1d(floatbits.from_ordinal(np.asarray(o, dtype=np.int64), dtype))


# ---------------------------------------------------------------------------
# correctly rounded reference
# ---------------------------------------------------------------------------


def ref_exp(x, dtype):
    """Correctly rounded exp (``reference.exp``, mpmath with a Ziv loop) in ``dtype``."""
    x = np.atleast_1d(np.asarray(x, dtype=dtype))
    if x.size == 0:
        return x.copy()
    return np.asarray(reference.exp(x, dtype=np.dtype(dtype)), dtype=dtype).reshape(x.shape)


def range_ends(dtype):
    """Ordinals of: first x with exp(x) > 0, last x with exp(x) < smallest normal,
    last x with exp(x) finite (all for the correctly rounded exp).
    """
    dtype = np.dtype(dtype)
    fi = np.finfo(dtype)
    o_max = int(to_ordinal(fi.max, dtype)[0])

    def exp_at(o):
        return ref_exp(from_ordinal(o, dtype), dtype)[0]

    lo = floatbits.first_true(lambda o: exp_at(o) > 0, -o_max, 0)
    sub = floatbits.first_true(lambda o: exp_at(o) >= fi.smallest_normal, lo, 0) - 1
    hi = floatbits.first_true(lambda o: np.isinf(exp_at(o)), 0, o_max) - 1
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
        f"  not correctly rounded (distance >= 1): {hist[1] + hist[2]:,d} "
        f"({(hist[1] + hist[2]) / n:.3%}); distance >= 2: {hist[2]:,d}"
    )
    print(
        f"  worst input: x = {float(x).hex()} ({x!r}), exp = {float(ours[0]).hex()}, "
        f"correctly rounded = {float(ref).hex()}"
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
        f"  long double exp vs mpmath on a sample: max relative error {err:.3g} "
        f"(window {_LD_WINDOW:.3g})"
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
        f"  fast oracle done in {time.perf_counter() - t0:.1f} s; "
        f"{hard_x.size:,d} inputs left to the reference"
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
# the portable scaling path, on a machine with AVX-512
# ---------------------------------------------------------------------------


def features_without_avx512():
    """The host's LLVM feature string with every AVX-512 (and later) feature off,
    for ``NUMBA_CPU_FEATURES``: Numba then compiles for AVX2 and the kernels take
    their portable scaling path (see ``stable_softmax.kernels.exp._mul_pow2``).
    """
    import llvmlite.binding as ll

    off = ("avx512", "avx10", "evex512", "amx")
    feats = ll.get_host_cpu_features()
    return ",".join(
        ("+" if on and not k.startswith(off) else "-") + k for k, on in sorted(feats.items())
    )
