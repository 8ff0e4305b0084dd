#!/usr/bin/env python
"""Accuracy check of ``stable_softmax.kernels.exp`` against the correctly rounded exp.

A command line over :mod:`stable_softmax.accuracy.expcheck`, which holds the
checks (tests import them from there); the coefficient derivation
(``--derive``) lives here.

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
import os
import sys

import mpmath as mp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from stable_softmax.accuracy.expcheck import (  # noqa: E402
    check_float32,
    check_float64,
    features_without_avx512,
)
from stable_softmax.kernels import exp as kexp  # noqa: E402

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
            f"{name}: P degree {deg}, max relative error with rounded coefficients "
            f"2^{float(mp.log(e, 2)):.2f}"
        )
        for j, v in enumerate(c):
            have = getattr(kexp, f"_C{j + 2}_{suffix}")
            same = float(have) == v
            ok &= same
            print(
                f"  C{j + 2} = {v.hex():24s} ({'==' if same else '!='} module constant "
                f"{float(have).hex()})"
            )
    return ok


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
        help="check the portable scaling path (reruns with AVX-512 disabled through "
        "NUMBA_CPU_FEATURES)",
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
