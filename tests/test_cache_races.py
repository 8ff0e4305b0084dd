"""The reference cache under two processes writing and reading the same keys at once.

Entries are written to a temporary file and renamed over the final name
(``reference/_cache.py``), so a reader sees the old entry or the new one,
never a torn one; a damaged entry would fail its checksum and be recomputed.
Here two processes hammer the same keys, checking every read: a read returns
the exact stored values or (before the first write of that key) nothing, and
after a key's first write it is never missing again. A second test runs the
public reference functions on the same rows from two processes at once and
compares with the results of one process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np

import reference
from reference import _cache

KEYS = 24
ROUNDS = 150

_HAMMER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    import numpy as np
    from reference import _cache

    go, keys, rounds, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

    def values(k):  # both processes store the same values under a key
        rng = np.random.default_rng(k)
        return rng.standard_normal(64 + 97 * k).astype(np.float64 if k % 2 else np.float32)

    table = [(_cache.make_key({"race": k}, b""), values(k)) for k in range(keys)]
    counts = {"reads": 0, "hits": 0, "misses": 0, "torn": 0, "missing_after_write": 0, "writes": 0}
    written = set()
    order = np.random.default_rng(seed)
    while not go.exists():
        time.sleep(0.001)
    for _ in range(rounds):
        for k in order.permutation(keys):
            key, v = table[k]
            got = _cache.load(key, v.dtype, v.size)
            counts["reads"] += 1
            if got is None:
                counts["misses"] += 1
                if k in written:
                    counts["missing_after_write"] += 1
            elif got.dtype == v.dtype and got.tobytes() == v.tobytes():
                counts["hits"] += 1
            else:
                counts["torn"] += 1
            if order.random() < 0.5:
                _cache.store(key, v)
                counts["writes"] += 1
                written.add(k)
    print(json.dumps(counts))
    """
)


def _spawn(script: str, args: list[str], cache: Path) -> subprocess.Popen:
    env = dict(os.environ, STABLE_SOFTMAX_REFERENCE_CACHE=str(cache))
    return subprocess.Popen(
        [sys.executable, "-W", "error", "-c", script, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(procs) -> list[str]:
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        outs.append(out.strip().splitlines()[-1])
    return outs


def test_two_processes_hammering_the_same_keys_never_read_a_torn_entry(tmp_path):
    cache = tmp_path / "cache"
    go = tmp_path / "go"
    procs = [
        _spawn(_HAMMER, [str(go), str(KEYS), str(ROUNDS), str(seed)], cache) for seed in (1, 2)
    ]
    time.sleep(0.5)
    go.touch()  # start both together
    counts = [json.loads(line) for line in _finish(procs)]
    for c in counts:
        assert c["reads"] == KEYS * ROUNDS
        assert c["torn"] == 0, counts
        assert c["missing_after_write"] == 0, counts
        assert c["hits"] + c["misses"] == c["reads"]
        assert c["writes"] > KEYS * ROUNDS // 4
    leftovers = [
        p.name for p in cache.rglob("*") if p.is_file() and not p.name.endswith(_cache.SUFFIX)
    ]
    assert not leftovers, f"temporary files left behind: {leftovers[:5]}"
    assert len(list(cache.rglob("*" + _cache.SUFFIX))) == KEYS


_REFERENCE_USER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    import reference

    go = Path(sys.argv[1])
    rng = np.random.default_rng(7)
    x64 = rng.standard_normal((12, 9)) * 20
    x32 = x64.astype(np.float32)
    while not go.exists():
        time.sleep(0.001)
    out = []
    for _ in range(3):  # miss (compute and store), then hits, racing the other process
        out += [
            # mpmath: only rows that need it are cached; the fast step's are not
            reference.softmax(x64, engine="mpmath"),
            reference.log_softmax(x32, axis=0, engine="mpmath"),
            reference.logsumexp(x64, beta=3.0, engine="mpmath"),
        ]
    print("|".join(a.tobytes().hex() for a in out))
    """
)


def test_two_processes_computing_the_same_rows_agree(tmp_path):
    cache = tmp_path / "cache"
    go = tmp_path / "go"
    procs = [_spawn(_REFERENCE_USER, [str(go)], cache) for _ in range(2)]
    time.sleep(0.5)
    go.touch()
    first, second = _finish(procs)
    assert first == second
    # the same as an uncached computation in this process
    rng = np.random.default_rng(7)
    x64 = rng.standard_normal((12, 9)) * 20
    expected = [
        reference.softmax(x64),
        reference.log_softmax(x64.astype(np.float32), axis=0),
        reference.logsumexp(x64, beta=3.0),
    ]
    assert first.split("|")[:3] == [a.tobytes().hex() for a in expected]
    assert first.split("|")[3:6] == first.split("|")[:3]
    # every entry on disk is intact (and there are entries: the race happened)
    entries = list(cache.rglob("*" + _cache.SUFFIX))
    assert entries
    for entry in entries:
        blob = entry.read_bytes()
        assert blob.startswith(_cache.MAGIC)
        header = json.loads(blob[len(_cache.MAGIC) : blob.index(b"\n", len(_cache.MAGIC))])
        payload = blob[blob.index(b"\n", len(_cache.MAGIC)) + 1 :]
        assert header["encoding"] == "zlib"
        raw = zlib.decompress(payload)
        assert len(raw) == header["count"] * np.dtype(header["dtype"]).itemsize
