"""Speed, peak memory and first-call time of every public function x method x dtype."""

import numpy as np

import stable_softmax as ss

CASES = [f"{function}:{method}" for function, methods in ss.METHODS.items() for method in methods]
DTYPES = ["float32", "float64"]
# (rows, n): many short rows, a vocabulary-sized row block, one huge row.
SHAPES = ["4096x1024", "64x65536", "4x4194304"]


def _data(shape: str, dtype: str) -> np.ndarray:
    rows, n = (int(v) for v in shape.split("x"))
    return np.random.default_rng(0).normal(0.0, 4.0, (rows, n)).astype(dtype)


class Kernels:
    params = (CASES, DTYPES, SHAPES)
    param_names = ["function:method", "dtype", "shape"]
    timeout = 120

    def setup(self, case, dtype, shape):
        function, method = case.split(":")
        self.x = _data(shape, dtype)
        self.f = getattr(ss, function)
        self.method = method
        if function == "logsumexp":
            self.call = lambda: self.f(self.x, method=method)
        else:
            self.out = np.empty_like(self.x)
            self.call = lambda: self.f(self.x, method=method, out=self.out)
        self.call()  # compile or load from the cache outside the timing

    def time_call(self, case, dtype, shape):
        self.call()

    def peakmem_call(self, case, dtype, shape):
        self.call()


class Baselines:
    """np.copyto of the same array: the memory-bound floor the ratios refer to."""

    params = (DTYPES, SHAPES)
    param_names = ["dtype", "shape"]

    def setup(self, dtype, shape):
        self.x = _data(shape, dtype)
        self.out = np.empty_like(self.x)

    def time_copyto(self, dtype, shape):
        np.copyto(self.out, self.x)


class FirstCall:
    """Import plus first call in a fresh interpreter (cache load, or compile when cold)."""

    params = CASES
    param_names = ["function:method"]

    def timeraw_import_and_first_call(self, case):
        function, method = case.split(":")
        return f"""
import numpy as np
import stable_softmax as ss
ss.{function}(np.ones((4, 8), np.float32), method={method!r})
"""
