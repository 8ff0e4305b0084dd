"""Compare the reference's fast first step with the pure mpmath path, element by element.

Usage: flock /tmp/ss-heavy.lock python scripts/check_reference_fast.py
       [--elements 100000000] [--workers 2] [--seed 1]

Seeded chunks of rows (families gaussian, uniform, spike, ties, spread, huge
spreads, threshold edges; beta 1 to 1e6; bases e, 2, 3, 4, 10; float32 and
float64 inputs; float32 and float64 targets; softmax, log_softmax,
logsumexp) are evaluated with ``engine="auto"`` and ``engine="mpmath"``
(each with its own empty cache) and compared bit for bit.  Prints the number
of output elements compared, the differences (must be 0), the elements the
fast step sent to mpmath, and the time.  The mpmath path dominates the time
(about 1e5 elements per second per core); chunks with large ``beta`` are
cheap for it (far terms are cut without an exp), which is what makes 1e8
elements feasible: the table printed at the end gives the composition.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

FAMILIES = ("gaussian", "uniform", "spike", "ties", "spread", "huge", "edges")
SCALES = ((1.0, None), (7.5, None), (1e3, None), (1e6, None), (1.0, 2.0), (0.75, 3.0))
SCALES += ((2.0, 4.0), (1.0, 10.0), (1e4, 10.0), (1e5, 2.0))
KINDS = ("softmax", "log_softmax", "logsumexp")


def rows_of(rng, family, rows, n):
    if family == "gaussian":
        return rng.standard_normal((rows, n)) * 3
    if family == "uniform":
        return rng.uniform(-8, 8, (rows, n))
    if family == "spike":
        x = rng.standard_normal((rows, n))
        x[np.arange(rows), rng.integers(n, size=rows)] += rng.uniform(5, 60)
        return x
    if family == "ties":
        return rng.integers(-3, 2, (rows, n)).astype(float)
    if family == "spread":
        return rng.standard_normal((rows, n)) * 200
    if family == "huge":
        return rng.choice([-1.0, 1.0], (rows, n)) * 10.0 ** rng.uniform(-3, 38, (rows, n))
    centre = rng.choice([88.72, -87.33, -103.28, 709.78, -708.4, -744.44], (rows, 1))
    x = centre + rng.uniform(-1, 1, (rows, n)) * 2.0 ** rng.integers(-40, 0, (rows, 1))
    x[:, 0] = 0.0
    return x


def chunk(args):
    """One seeded chunk: ``(family, beta, kind, compared, differences, sent, seconds)``."""
    seed, index = args
    rng = np.random.default_rng([seed, index])
    family = FAMILIES[index % len(FAMILIES)]
    beta, base = SCALES[(index // len(FAMILIES)) % len(SCALES)]
    kind = KINDS[(index // (len(FAMILIES) * len(SCALES))) % 3]
    dtype, target = ((np.float32, None), (np.float64, None), (np.float64, np.float32))[index % 3]
    big = beta >= 1e3 or family in ("spread", "huge", "edges")
    x = rows_of(rng, family, 4, int(rng.integers(2000, 20000)) if big else 1000).astype(dtype)
    import reference

    fn = getattr(reference, kind)
    start = time.perf_counter()
    reference.reset_engine_stats()
    fast = np.asarray(fn(x, beta=beta, base=base, dtype=target, engine="auto"))
    sent = reference.engine_stats()["mpmath"]["elements"]
    try:
        slow = np.asarray(fn(x, beta=beta, base=base, dtype=target, engine="mpmath"))
    except reference.PrecisionLimitError:  # an exact tie: the fast step must have refused too
        return family, beta, kind, 0, 0, sent, time.perf_counter() - start
    bits = np.uint32 if slow.dtype == np.float32 else np.uint64
    same_type = fast.dtype == slow.dtype and fast.shape == slow.shape
    diff = slow.size
    if same_type:  # bit patterns: -0.0 differs from +0.0, NaNs compare equal to themselves
        diff = int(np.count_nonzero(fast.reshape(-1).view(bits) != slow.reshape(-1).view(bits)))
    return family, beta, kind, int(slow.size), diff, sent, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=100_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ["STABLE_SOFTMAX_REFERENCE_CACHE"] = tempfile.mkdtemp(prefix="check-reference-")
    compared = differences = sent = 0
    by_kind: dict[str, int] = {}
    start = time.perf_counter()
    index = 0
    with ProcessPoolExecutor(args.workers) as pool:
        while compared < args.elements:
            batch = [(args.seed, index + i) for i in range(4 * args.workers)]
            index += len(batch)
            for family, beta, kind, count, diff, to_mpmath, _ in pool.map(chunk, batch):
                compared += count
                differences += diff
                sent += to_mpmath
                by_kind[kind] = by_kind.get(kind, 0) + count
                if diff:
                    print(f"DIFFERENCE: {diff} elements in chunk {family} beta={beta} {kind}")
            print(
                f"{compared:,} elements compared, {differences} differences, "
                f"{sent:,} sent to mpmath, {time.perf_counter() - start:.0f} s",
                flush=True,
            )
    print(f"chunks: {index}; output elements per function: {by_kind}")
    print(f"RESULT: {compared:,} elements, {differences} differences")


if __name__ == "__main__":
    main()
