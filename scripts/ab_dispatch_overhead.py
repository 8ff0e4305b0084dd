"""A/B of the public float32/float64 functions before and after the low-precision dispatch.

Loads ``stable_softmax/_api.py`` as it is on another git revision (default
``cd3472f``, main just before the dispatch) next to the current one, in one
process, and times both on the same inputs, interleaved, best of
``--rounds``: the dispatch added for narrow
dtypes and ``compute=`` must cost nothing measurable on float32/float64.

Usage (a benchmark: run under the team lock)::

    flock /tmp/ss-heavy.lock python scripts/ab_dispatch_overhead.py [--rev cd3472f]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

import stable_softmax as ss

ROOT = Path(__file__).resolve().parent.parent


def load_api(rev: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:stable_softmax/_api.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("stable_softmax._api_before")
    module.__package__ = "stable_softmax"
    sys.modules[module.__name__] = module
    exec(compile(source, f"{rev}:stable_softmax/_api.py", "exec"), module.__dict__)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="cd3472f", help="the revision before the dispatch")
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    before = load_api(args.rev)
    rng = np.random.default_rng(0)
    print(f"| shape | dtype | function | before us | after us | after / before |  (rev {args.rev})")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for shape, rounds in (((1, 10), args.rounds), ((64, 128), args.rounds // 4), ((512, 1024), 40)):
        for dtype in (np.float32, np.float64):
            x = rng.normal(size=shape).astype(dtype)
            for function in ("softmax", "logsumexp"):
                calls = {"before": getattr(before, function), "after": getattr(ss, function)}
                best = dict.fromkeys(calls, np.inf)
                for f in calls.values():
                    f(x)
                for _ in range(rounds):
                    for name, f in calls.items():
                        t = time.perf_counter()
                        f(x)
                        best[name] = min(best[name], time.perf_counter() - t)
                print(
                    f"| {shape[0]}x{shape[1]} | {np.dtype(dtype).name} | {function} | "
                    f"{best['before'] * 1e6:.2f} | {best['after'] * 1e6:.2f} | "
                    f"{best['after'] / best['before']:.3f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
