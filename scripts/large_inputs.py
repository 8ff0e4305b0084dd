"""Large inputs: peak memory of softmax on 2 GiB of float32, and rows of more than 2^31 elements.

Usage: python scripts/large_inputs.py [--only peak|index]

peak: a 2 GiB float32 array (2^29 elements) as 2^19 rows of 1024 (the
      row-parallel path) and as one row of 2^29 (the split path), generated in
      chunks; each case runs in a fresh process (peak RSS is per process), with
      the kernels compiled first on small arrays. Reported: how much the peak
      resident set grew during the call, and how much of that is beyond the
      result itself (``out=x``, in place, has no result to allocate).
index: a row of 2^31 + 8 float64 elements that does not exist in memory
      (``np.broadcast_to`` of one value: stride 0, read-only) through the
      logsumexp row kernels of ``stable_softmax.jit`` and the split kernel.
      Loop indices and the tie count are 64-bit (``intp``), so the sum is
      2^31 + 8 and the result ln(2^31 + 8); a 32-bit index or count would wrap.
      The public functions copy a non-contiguous input into a contiguous
      ``(rows, n)`` array (16 GiB here), so this goes through the kernels.
Peak memory stays under 4.1 GiB (input + output of the 2 GiB case).
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import time

import numpy as np

GIB = 1 << 30
ELEMENTS = (2 * GIB) // 4  # 2 GiB of float32


def _rss_peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_case(layout: str, function: str, in_place: bool) -> None:
    import stable_softmax as ss

    shape = (ELEMENTS // 1024, 1024) if layout == "rows" else (1, ELEMENTS)
    for warm in (
        np.ones((4, 8), np.float32),
        np.ones((64, 1024), np.float32),
        np.ones((1, 1 << 18), np.float32),
    ):
        getattr(ss, function)(warm)
    x = np.empty(shape, np.float32)
    flat = x.reshape(-1)
    rng = np.random.default_rng(0)
    chunk = 1 << 22
    for start in range(0, flat.size, chunk):
        flat[start : start + chunk] = rng.standard_normal(
            min(chunk, flat.size - start), dtype=np.float32
        )
    before = _rss_peak()
    t0 = time.perf_counter()
    if in_place:
        out = getattr(ss, function)(x, out=x)
    else:
        out = getattr(ss, function)(x)
    seconds = time.perf_counter() - t0
    grown = _rss_peak() - before
    result_bytes = 0 if in_place else np.asarray(out).nbytes
    print(
        f"{function:9s} {'out=x' if in_place else 'new out':7s} "
        f"{shape[0]:>6} x {shape[1]:<9}: input "
        f"{x.nbytes / GIB:.2f} GiB, result {result_bytes / GIB:.2f} GiB, peak RSS grew "
        f"{grown / 2**20:7.1f} MiB, beyond the result {(grown - result_bytes) / 2**20:+6.1f} MiB "
        f"({100 * (grown - result_bytes) / x.nbytes:+.2f}% of the input); {seconds:.2f} s",
        flush=True,
    )


def index_check() -> None:
    from stable_softmax import jit
    from stable_softmax.floatbits import ulp_distance
    from stable_softmax.kernels import logsumexp as lse_kernels

    n = 2**31 + 8
    row = np.broadcast_to(np.float64(0.0), (n,))  # no allocation: stride 0, read-only
    assert row.strides == (0,) and not row.flags.writeable
    expected = math.log(n)
    print(f"row of {n:,} elements (2^31 + 8) as a stride-0 view: exact ln n = {expected!r}")
    kernels = {
        "logsumexp_naive_row": jit.logsumexp_naive_row,
        "logsumexp_shifted_row": jit.logsumexp_shifted_row,
        "logsumexp_log1p_row": jit.logsumexp_log1p_row,
        "logsumexp_shifted_split": lse_kernels.logsumexp_shifted_split,
    }
    failures = 0
    for name, kernel in kernels.items():
        kernel(row[:16], 1.0)  # compile for this layout first
        t0 = time.perf_counter()
        got = kernel(row, 1.0)
        seconds = time.perf_counter() - t0
        ulps = int(ulp_distance(np.float64(got), np.float64(expected)))
        ok = ulps <= 1
        failures += not ok
        print(
            f"  {name:24s} {got!r:>22} ({ulps} ULP from ln n; ln 2^31 is {math.log(2**31)!r}) "
            f"{'ok' if ok else 'WRONG'}  {seconds:.1f} s",
            flush=True,
        )
    if failures:
        raise SystemExit(f"{failures} kernel(s) index a row of more than 2^31 elements wrongly")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("peak", "index"))
    parser.add_argument(
        "--case", nargs=3, metavar=("LAYOUT", "FUNCTION", "IN_PLACE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.case:
        layout, function, in_place = args.case
        peak_case(layout, function, in_place == "1")
        return
    if args.only in (None, "peak"):
        print(f"peak memory, 2 GiB float32 ({ELEMENTS:,} elements), each case in a fresh process:")
        for layout, function, in_place in (
            ("rows", "softmax", "0"),
            ("rows", "softmax", "1"),
            ("row", "softmax", "0"),
            ("row", "softmax", "1"),
            ("rows", "log_softmax", "0"),
            ("rows", "logsumexp", "0"),
            ("row", "logsumexp", "0"),
        ):
            if function == "logsumexp" and in_place == "1":
                continue
            subprocess.run(
                [sys.executable, __file__, "--case", layout, function, in_place], check=True
            )
    if args.only in (None, "index"):
        index_check()


if __name__ == "__main__":
    main()
