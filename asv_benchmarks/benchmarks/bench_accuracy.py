"""Accuracy tracked next to speed: max ULP error against the cached mpmath reference.

The inputs are the points of the ``asv`` grid of
:mod:`stable_softmax.accuracy.grids` (seeded families, regenerated exactly as
the report does); the reference values come from the on-disk reference cache
after the first run, so these are cheap to re-run.
"""

import numpy as np

import reference
import stable_softmax as ss
from stable_softmax.accuracy.families import make_inputs
from stable_softmax.accuracy.grids import DTYPES, GRIDS, points
from stable_softmax.accuracy.metrics import ulp_distance

CASES = [f"{function}:{method}" for function, methods in ss.METHODS.items() for method in methods]
POINTS = {f"{p.family}({p.scale:g}) {p.rows}x{p.n}": p for p in points(GRIDS["asv"])}
SEED = 0


class MaxULP:
    params = (CASES, list(DTYPES), list(POINTS))
    param_names = ["function:method", "dtype", "input"]
    unit = "ULP"
    timeout = 600

    def setup(self, case, dtype, name):
        self.function, self.method = case.split(":")
        p = POINTS[name]
        self.beta, self.base = p.beta, p.base_arg
        self.x = make_inputs(p.family, p.n, p.scale, p.rows, dtype, SEED, p.c)
        self.expected = getattr(reference, self.function)(self.x, beta=self.beta, base=self.base)

    def track_max_ulp(self, case, dtype, name):
        got = getattr(ss, self.function)(self.x, method=self.method, beta=self.beta, base=self.base)
        ulps = ulp_distance(np.asarray(got), np.asarray(self.expected))
        return float(np.max(ulps))
