"""Speed of the default low-precision path: ratios to the float32 kernel and to torch.

For each narrow format and shape, times (one process, interleaved rounds, best
of ``--rounds``) ``ss.softmax(x_narrow, out=...)`` (widen to float32, float32
kernel, round once, fused in Numba), ``ss.softmax(x_float32, out=...)`` on the
same values, and ``torch.softmax`` on a float16/bfloat16 CPU tensor, with
``--threads`` Numba and torch threads. The issue's targets: at most 1.5x the
float32 kernel, and no slower than torch.

Usage (a benchmark: run under the team lock)::

    flock /tmp/ss-heavy.lock python scripts/time_lowprec_api.py [--threads 1,2]
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

import stable_softmax as ss
from stable_softmax.formats import FORMATS

SHAPES = ((4096, 1024), (64, 65536), (4, 4194304))
NAMES = ("float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")


def best(calls: dict, rounds: int) -> dict:
    times = dict.fromkeys(calls, np.inf)
    for f in calls.values():
        f()
    for _ in range(rounds):
        for name, f in calls.items():
            t = time.perf_counter()
            f()
            times[name] = min(times[name], time.perf_counter() - t)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--function", default="softmax")
    parser.add_argument("--method", default=None)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    fn = getattr(ss, args.function)
    kw = {} if args.method is None else {"method": args.method}
    rng = np.random.default_rng(0)
    print("| shape | threads | format | ours / float32 kernel | torch / ours |")
    print("| --- | --- | --- | ---: | ---: |")
    for shape in SHAPES:
        x32 = rng.normal(0.0, 4.0, shape).astype(np.float32)
        for threads in (int(t) for t in args.threads.split(",")):
            numba.set_num_threads(threads)
            if torch is not None:
                torch.set_num_threads(threads)
            for name in NAMES:
                dtype = FORMATS[name].dtype
                xn = x32.astype(dtype)
                xw = xn.astype(np.float32)
                if args.function == "logsumexp":
                    o32 = on = None
                else:
                    o32, on = np.empty_like(xw), np.empty_like(xn)
                calls = {
                    "f32": lambda xw=xw, o=o32: fn(xw, **kw) if o is None else fn(xw, out=o, **kw),
                    "narrow": lambda xn=xn, o=on: (
                        fn(xn, **kw) if o is None else fn(xn, out=o, **kw)
                    ),
                }
                tdt = {"float16": "float16", "bfloat16": "bfloat16"}.get(name)
                if torch is not None and tdt is not None and args.function == "softmax":
                    tx = torch.from_numpy(xw).to(getattr(torch, tdt))
                    calls["torch"] = lambda tx=tx: torch.softmax(tx, dim=-1)
                t = best(calls, args.rounds)
                ratio_t = f"{t['torch'] / t['narrow']:.2f}" if "torch" in t else "n/a"
                print(
                    f"| {shape[0]}x{shape[1]} | {threads} | {name} | "
                    f"{t['narrow'] / t['f32']:.2f} | {ratio_t} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
