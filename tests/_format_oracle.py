"""An exact rounding oracle for narrow formats that knows no format parameters.

It enumerates the finite values of a format from its bit patterns (through
ml_dtypes/NumPy), sorts them as Fractions and rounds a rational to the nearest
one, ties to the one whose bit pattern is even (the last significand bit).
Past the largest value it continues the grid by one step of the top binade's
spacing; a magnitude rounding there overflows, and what overflow becomes comes
from ml_dtypes' own conversion of a huge float64 (inf, NaN or saturation).
Shared by the format tests; independent of reference._rounding and
stable_softmax.lowprec.
"""

import bisect
import math
from fractions import Fraction

import ml_dtypes
import numpy as np

from stable_softmax import floatbits as fb
from stable_softmax.formats import FORMATS as FMT_TABLE


class GridOracle:
    def __init__(self, name):
        dtype = FMT_TABLE[name].dtype
        width = ml_dtypes.finfo(dtype).bits  # float6/float4 use the low bits of a byte
        bits = np.arange(2**width, dtype=np.uint64)
        with np.errstate(invalid="ignore"):
            vals = fb.from_bits(bits, dtype).astype(np.float64)
        keep = np.isfinite(vals) & (vals >= 0) & ((vals != 0) | (bits == 0))
        order = np.argsort(vals[keep], kind="stable")
        self.values = [Fraction(float(v)) for v in vals[keep][order]]
        self.even = [int(b) % 2 == 0 for b in bits[keep][order]]
        self.step = self.values[-1] - self.values[-2]  # spacing of the top binade
        with np.errstate(over="ignore"):
            big = np.array([1e300], np.float64).astype(dtype).astype(np.float64)[0]
        self.overflow = float(big)  # inf, nan or the largest value (saturation)
        self.signed_zero = bool(np.array([-0.0]).astype(dtype).view(fb._uint(dtype))[0])

    def round(self, q: Fraction) -> float:
        neg, a = q < 0, abs(q)
        vals = self.values
        if a > vals[-1]:
            half = vals[-1] + self.step / 2
            if a > half or (a == half and not self.even[-1]):
                r = self.overflow
                return -r if neg and not math.isnan(r) else r
            r = float(vals[-1])
        else:
            i = bisect.bisect_left(vals, a)
            if vals[i] == a:
                r = float(a)
            else:
                lo, hi = vals[i - 1], vals[i]
                if a - lo < hi - a or (a - lo == hi - a and self.even[i - 1]):
                    r = float(lo)
                else:
                    r = float(hi)
        if r == 0.0:
            return -0.0 if neg and self.signed_zero else 0.0
        return -r if neg else r


_ORACLES = {}


def oracle(name):
    if name not in _ORACLES:
        _ORACLES[name] = GridOracle(name)
    return _ORACLES[name]


def same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _is_midpoint(self, q: Fraction) -> bool:
    """Whether ``|q|`` lies exactly halfway between two neighbouring values."""
    a, vals = abs(q), self.values
    if a >= vals[-1]:
        return a == vals[-1] + self.step / 2
    i = bisect.bisect_left(vals, a)
    return vals[i] != a and a - vals[i - 1] == vals[i] - a


GridOracle.is_midpoint = _is_midpoint
