"""Accuracy tracked next to speed: max ULP error against the cached mpmath reference.

The inputs are fixed seeded families; the reference values come from the
on-disk reference cache after the first run, so these are cheap to re-run.
"""

import numpy as np

import reference
import stable_softmax as ss
from stable_softmax.accuracy.metrics import ulp_distance

CASES = [f"{function}:{method}" for function, methods in ss.METHODS.items() for method in methods]
DTYPES = ["float32", "float64"]
FAMILIES = {
    "gaussian(sigma=4)": lambda rng, dtype: rng.normal(0.0, 4.0, (8, 1000)).astype(dtype),
    "spread(1e3)": lambda rng, dtype: rng.uniform(-1e3, 0.0, (8, 1000)).astype(dtype),
    "dominant": lambda rng, dtype: np.concatenate(
        [np.full((8, 1), 30.0), rng.normal(0.0, 1.0, (8, 99))], axis=1
    ).astype(dtype),
}


class MaxULP:
    params = (CASES, DTYPES, list(FAMILIES))
    param_names = ["function:method", "dtype", "family"]
    unit = "ULP"
    timeout = 600

    def setup(self, case, dtype, family):
        self.function, self.method = case.split(":")
        self.x = FAMILIES[family](np.random.default_rng(0), dtype)
        self.expected = getattr(reference, self.function)(self.x)

    def track_max_ulp(self, case, dtype, family):
        got = getattr(ss, self.function)(self.x, method=self.method)
        ulps = ulp_distance(np.asarray(got), np.asarray(self.expected))
        return float(np.max(ulps))
