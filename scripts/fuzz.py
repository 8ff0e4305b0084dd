"""Fuzz every public function and method with generated inputs; print what went wrong.

Usage: python scripts/fuzz.py [--inputs 1000000] [--seed 0]

An input is one slice (one distribution): rows of generated logits, each
drawn from a family (gaussian at scales 1 to 1e30, raw random bit patterns,
i.e. the whole float range with NaN, +-inf and subnormals, special values
sprinkled in, all -inf, ties, subnormals only, huge values), lengths 0 to
4099, both dtypes, batched into arrays laid out in one of several ways
(C rows, transposed with axis=0, 3-D, a tuple of axes, strided, reversed,
Fortran), with beta/base choices. Every batch goes through softmax,
log_softmax, logsumexp (every method of ss.METHODS), hardmax, cross_entropy
(+ grad, class indices), softmax_jacobian (n <= 32), softmax_vjp,
log_softmax_vjp and inverse_softmax.

Counted per function/method: crashes (any exception but the documented ones),
write-backs (a byte of the input buffer changed), wrong dtype/shape, and
mismatches against the README's special-value table and ranges (the oracle
of tests/test_properties.py; the naive method is exempt) or the calculus
identities (cross_entropy == -log_softmax at the label, bit for bit; the
gradient NaN wherever softmax is; hardmax 1/k on the maxima).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

import stable_softmax as ss

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_properties import as_rows, scale, special_values, table_violations  # noqa: E402  (the one oracle)

LENGTHS = [0, 1, 1, 2, 2, 3, 4, 5, 7, 8, 9, 16, 31, 64, 100, 257, 1000, 4099]
FAMILIES = ("gaussian", "bits", "sprinkled", "all_ninf", "ties", "subnormal", "huge")
LAYOUTS = ("rows", "transposed", "3d", "tuple", "strided", "reversed", "fortran")
BETAS = (1.0, 1.0, 0.5, 3.0)
BASES = (None, None, 2.0, 10.0)


def make_rows(rng, dtype, rows: int, n: int) -> np.ndarray:
    """``(rows, n)`` logits, each row from one family."""
    x = np.empty((rows, n), dtype)
    ints = np.int32 if dtype == np.float32 else np.int64
    specials = np.array(special_values(dtype), dtype)
    tiny = float(np.finfo(dtype).smallest_subnormal)
    for r, family in enumerate(rng.choice(FAMILIES, size=rows)):
        if family == "gaussian":
            x[r] = rng.standard_normal(n) * 10.0 ** rng.integers(0, 31)
        elif family == "bits":
            x[r] = rng.integers(
                np.iinfo(ints).min, np.iinfo(ints).max, size=n, dtype=ints, endpoint=True
            ).view(dtype)
        elif family == "sprinkled":
            x[r] = rng.standard_normal(n) * 50
            hit = rng.random(n) < 0.2
            x[r, hit] = rng.choice(specials, size=int(hit.sum()))
        elif family == "all_ninf":
            x[r] = -np.inf
        elif family == "ties":
            x[r] = rng.choice(np.array([3.0, 3.0, -1.0, -np.inf], dtype), size=n)
        elif family == "subnormal":
            x[r] = rng.integers(-(2**20), 2**20, size=n) * tiny
        else:  # huge
            x[r] = rng.choice([-1, 1], size=n) * np.finfo(dtype).max * rng.random(n).astype(dtype)
    return x


def lay_out(rng, x: np.ndarray):
    """``(array, axis, buffer)``: the rows of ``x`` as slices of an array in some layout."""
    rows, n = x.shape
    layout = rng.choice(LAYOUTS)
    if layout == "transposed":
        buf = np.ascontiguousarray(x.T)
        return buf, 0, buf
    if layout == "3d" and rows % 2 == 0:
        buf = x.reshape(2, rows // 2, n).transpose(0, 2, 1).copy()  # slices along axis 1
        return buf, 1, buf
    if layout == "tuple" and n % 2 == 0 and n:
        buf = x.reshape(rows, 2, n // 2).copy()
        return buf, (-1, 1), buf
    if layout == "strided":
        buf = np.empty((rows, 2 * n), x.dtype)
        buf[:, ::2] = x
        buf[:, 1::2] = np.nan  # must not leak into the results
        return buf[:, ::2], -1, buf
    if layout == "reversed":
        buf = x[::-1, ::-1].copy()
        return buf[::-1, ::-1], -1, buf
    if layout == "fortran":
        buf = np.asfortranarray(x)
        return buf, 1, buf
    buf = x.copy()
    return buf, -1, buf


def axes_of(axis, ndim):
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a % ndim for a in axes))


class Tally:
    def __init__(self):
        self.counts: Counter = Counter()
        self.examples: dict = {}

    def bad(self, what: str, name: str, example) -> None:
        self.counts[(what, name)] += 1
        self.examples.setdefault((what, name), example)


def run_batch(rng, dtype, tally: Tally) -> int:
    n = int(rng.choice(LENGTHS))
    rows = int(max(1, min(512, 16384 // max(n, 1))))
    rows += rows % 2
    x_rows = make_rows(rng, dtype, rows, n)
    x, axis, buf = lay_out(rng, x_rows)
    axes = axes_of(axis, x.ndim)
    xr = as_rows(x, axes)
    beta, base = float(rng.choice(BETAS)), rng.choice(BASES)
    base = None if base is None else float(base)
    c = scale(beta, base, np.dtype(dtype))
    snapshot = buf.tobytes()

    def guarded(name, thunk, documented=()):
        try:
            result = thunk()
        except documented:
            result = None
        except Exception as err:  # noqa: BLE001 - the point is to count them
            tally.bad("crash", name, f"{type(err).__name__}: {err} (n={n}, layout axis={axis})")
            result = None
        if buf.tobytes() != snapshot:
            tally.bad("write-back", name, f"n={n} axis={axis}")
            buf[...] = np.frombuffer(snapshot, dtype=buf.dtype).reshape(buf.shape, order="A")
        return result

    for function in ("softmax", "log_softmax", "logsumexp"):
        for method in ss.METHODS[function]:
            name = f"{function}/{method}"
            # guarded calls at once; the defaults only bind the loop variables explicitly
            y = guarded(
                name,
                lambda f=function, m=method: getattr(ss, f)(
                    x, axis, method=m, beta=beta, base=base
                ),
            )
            if y is None:
                continue
            want_shape = (
                x.shape
                if function != "logsumexp"
                else tuple(s for i, s in enumerate(x.shape) if i not in axes)
            )
            if np.asarray(y).dtype != dtype or np.shape(y) != want_shape:
                tally.bad("dtype/shape", name, f"{np.asarray(y).dtype} {np.shape(y)}")
                continue
            yr = as_rows(y, axes) if function != "logsumexp" else np.reshape(y, -1)
            bad = table_violations(function, method, xr, yr, c)
            if bad.any():
                r = int(np.flatnonzero(bad)[0])
                tally.counts[("table", name)] += int(bad.sum()) - 1
                tally.bad(
                    "table",
                    name,
                    f"x={xr[r][:8]!r} beta={beta} base={base} -> {np.atleast_1d(yr[r])[:8]!r}",
                )

    if n == 0:
        return rows
    p = ss.softmax(x, axis) if isinstance(axis, int) else None
    if isinstance(axis, int):
        hard = guarded("hardmax", lambda: ss.hardmax(x, axis))
        if hard is not None:
            hr = as_rows(hard, axes)
            nan_row = np.isnan(xr).any(axis=1)
            m = np.max(np.where(nan_row[:, None], 0, xr), axis=1, keepdims=True)
            ties = xr == m
            want = np.where(
                ties, (1.0 / np.maximum(ties.sum(axis=1, keepdims=True), 1)).astype(dtype), dtype(0)
            )
            ok = np.where(nan_row[:, None], np.isnan(hr), hr == want).all(axis=1)
            if not ok.all():
                tally.bad("identity", "hardmax", f"x={xr[~ok][0][:8]!r}")
        labels = rng.integers(
            0, n, size=tuple(s for i, s in enumerate(x.shape) if i != axis % x.ndim)
        )
        ce = guarded(
            "cross_entropy", lambda: ss.cross_entropy(x, labels, axis, beta=beta, base=base)
        )
        grad = guarded(
            "cross_entropy_grad",
            lambda: ss.cross_entropy_grad(x, labels, axis, beta=beta, base=base),
        )
        logp = ss.log_softmax(x, axis, beta=beta, base=base)
        label_axis = np.expand_dims(labels, axis % x.ndim)
        if ce is not None:
            at = np.take_along_axis(logp, label_axis, axis % x.ndim).squeeze(axis % x.ndim)
            same = (np.asarray(ce) == dtype(0) - at) | (np.isnan(ce) & np.isnan(at))
            if not same.all():
                tally.bad("identity", "cross_entropy", "differs from -log_softmax at the label")
        if grad is not None:
            pb = ss.softmax(x, axis, beta=beta, base=base)
            g_at = np.take_along_axis(grad, label_axis, axis % x.ndim)
            p_at = np.take_along_axis(pb, label_axis, axis % x.ndim)
            miss = np.isnan(p_at) & ~np.isnan(g_at)
            if miss.any():
                tally.counts[("identity", "cross_entropy_grad")] += int(miss.sum()) - 1
                tally.bad("identity", "cross_entropy_grad", f"n={n}: not NaN where softmax is NaN")
        if n <= 32:
            J = guarded("softmax_jacobian", lambda: ss.softmax_jacobian(p, axis))
            if J is not None and J.shape != tuple(
                s for i, s in enumerate(x.shape) if i != axis % x.ndim
            ) + (n, n):
                tally.bad("dtype/shape", "softmax_jacobian", str(J.shape))
        g = x  # upstream gradients with every special value in them
        for vjp, first in (("softmax_vjp", p), ("log_softmax_vjp", logp)):
            out = guarded(vjp, lambda vjp=vjp, first=first: getattr(ss, vjp)(first, g, axis))
            if out is not None and (out.shape != x.shape or out.dtype != dtype):
                tally.bad("dtype/shape", vjp, f"{out.dtype} {out.shape}")
    documented = ValueError  # negative probabilities are refused by name
    inv = guarded("inverse_softmax", lambda: ss.inverse_softmax(x, axis), documented=documented)
    if inv is not None and (inv.shape != x.shape or inv.dtype != dtype):
        tally.bad("dtype/shape", "inverse_softmax", f"{inv.dtype} {inv.shape}")
    with np.errstate(invalid="ignore"):
        w = np.abs(x)
    inv = guarded("inverse_softmax", lambda: ss.inverse_softmax(w, axis, C=1.5))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--inputs", type=int, default=1_000_000, help="slices to generate (default 1e6)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    tally = Tally()
    inputs = batches = 0
    per_dtype: Counter = Counter()
    start = time.perf_counter()
    with np.errstate(all="ignore"):
        while inputs < args.inputs:
            dtype = np.float32 if batches % 2 == 0 else np.float64
            rows = run_batch(rng, dtype, tally)
            inputs += rows
            per_dtype[np.dtype(dtype).name] += rows
            batches += 1
            if batches % 500 == 0:
                print(f"  {inputs:,} inputs, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    elapsed = time.perf_counter() - start
    names = [f"{f}/{m}" for f in ("softmax", "log_softmax", "logsumexp") for m in ss.METHODS[f]]
    names += [
        "hardmax",
        "cross_entropy",
        "cross_entropy_grad",
        "softmax_jacobian",
        "softmax_vjp",
        "log_softmax_vjp",
        "inverse_softmax",
    ]
    total = Counter()
    for (what, _), count in tally.counts.items():
        total[what] += count
    print(
        f"inputs: {inputs:,} slices ({', '.join(f'{k} {v:,}' for k, v in per_dtype.items())}) "
        f"in {batches:,} batches, through {len(names)} functions/methods; "
        f"seed {args.seed}; {elapsed:.0f} s"
    )
    labels = {
        "crash": "crashes",
        "write-back": "write-backs",
        "dtype/shape": "wrong dtype/shape",
        "table": "table mismatches",
        "identity": "calculus mismatches",
    }
    for what, label in labels.items():
        print(f"{label + ':':21s} {total[what]:,}")
    for (what, name), count in sorted(tally.counts.items()):
        print(f"  {what} {name}: {count:,}   e.g. {tally.examples[(what, name)]}")


if __name__ == "__main__":
    main()
