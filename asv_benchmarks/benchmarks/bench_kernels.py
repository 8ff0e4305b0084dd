"""Speed, peak memory and first-call time of every public function x method x dtype.

Also the low-precision default path, and ONNX Runtime's softmax (the speed
anchor) when it is installed.
"""

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


class LowPrecision:
    """Softmax on narrow storage formats: widen exactly, float32 kernel, round once (fused)."""

    params = (["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"], SHAPES)
    param_names = ["format", "shape"]
    timeout = 120

    def setup(self, fmt, shape):
        from stable_softmax.formats import FORMATS

        self.x = _data(shape, "float32").astype(FORMATS[fmt].dtype)
        self.out = np.empty_like(self.x)
        ss.softmax(self.x, out=self.out)

    def time_softmax(self, fmt, shape):
        ss.softmax(self.x, out=self.out)


class OnnxRuntime:
    """ONNX Runtime's Softmax (MLAS) on the same arrays, as many threads as Numba uses."""

    params = (DTYPES, SHAPES)
    param_names = ["dtype", "shape"]

    def setup(self, dtype, shape):
        try:
            import onnxruntime
        except ImportError:
            raise NotImplementedError("onnxruntime is not installed") from None
        import numba

        from stable_softmax.bench import _onnxruntime_call

        self.x = _data(shape, dtype)
        self.out = np.empty_like(self.x)
        self.call = _onnxruntime_call(onnxruntime, self.x, self.out, numba.get_num_threads())
        self.call()

    def time_softmax(self, dtype, shape):
        self.call()
