"""Check the fused conversions of the low-precision API against NumPy/ml_dtypes ``astype``.

Widening (narrow -> float32) is checked on every pattern of every one- and
two-byte format of ``stable_softmax.formats.FORMATS``; narrowing (float32 ->
narrow, round to nearest even) on every ``--stride``-th float32 bit pattern
(1 = all 2**32; the default 3 is coprime with every power of two, so each
low-bit pattern and each exponent is visited). Non-NaN results must have the
bits ``astype`` gives; a NaN must give a NaN (hardware float16 conversion
quiets a signaling NaN where NumPy keeps its bits; the kernels never produce
one). Prints one line per format and exits 1 on any mismatch.

Usage (long: run under the team lock)::

    flock /tmp/ss-heavy.lock python scripts/check_conversions.py [--stride 3]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from stable_softmax._narrow import _sign_bit, codec
from stable_softmax.formats import FORMATS
from stable_softmax.kernels.narrow_codec import HARDWARE_F16

CHUNK = 1 << 24


def _nan(bits: np.ndarray, dtype) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isnan(bits.view(dtype).astype(np.float32))


def check_widen(name: str) -> int:
    cd = codec(name)
    fmt = FORMATS[name]
    count = 1 << min(8 * cd.bits.itemsize, _sign_bit(fmt).bit_length())
    patterns = np.arange(count).astype(cd.bits)
    ours = cd.widen(patterns)
    with np.errstate(invalid="ignore"):
        ref = patterns.view(fmt.dtype).astype(np.float32)
    same = ours.view(np.uint32) == ref.view(np.uint32)
    return int((~(same | (np.isnan(ours) & np.isnan(ref)))).sum()), count


def check_narrow(name: str, stride: int) -> tuple[int, int, int]:
    cd = codec(name)
    dtype = FORMATS[name].dtype
    bad = nan_bits = total = 0
    start = 0
    while start < 1 << 32:
        u = np.arange(start, min(start + CHUNK * stride, 1 << 32), stride, dtype=np.uint64)
        start += CHUNK * stride
        v = u.astype(np.uint32).view(np.float32)
        ours = cd.narrow(v)
        with np.errstate(all="ignore"):
            ref = v.astype(dtype).view(cd.bits)
        differ = ours != ref
        both_nan = _nan(ours, dtype) & _nan(ref, dtype)
        bad += int((differ & ~both_nan).sum())
        nan_bits += int((differ & both_nan).sum())
        total += v.size
    return bad, nan_bits, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stride", type=int, default=3)
    args = parser.parse_args()
    print(f"hardware float16 conversion (F16C): {HARDWARE_F16}")
    failed = False
    for name, fmt in FORMATS.items():
        if fmt.dtype.itemsize > 2:
            continue
        t = time.perf_counter()
        wbad, wcount = check_widen(name)
        nbad, nan_bits, ncount = check_narrow(name, args.stride)
        failed |= bool(wbad or nbad)
        print(
            f"{name}: widen {wcount} patterns, {wbad} mismatches; narrow {ncount} float32 "
            f"(stride {args.stride}), {nbad} mismatches, {nan_bits} NaN payloads differ "
            f"({time.perf_counter() - t:.0f} s)",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
