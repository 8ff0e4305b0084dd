"""The kernels compiled for a CPU without AVX-512 (``NUMBA_CPU_NAME=haswell``, AVX2 + FMA).

Numba compiles for the host; on an AVX-512 machine the other instruction-set
paths (the exp's portable scaling by ``2^k``, 8-lane instead of 16-lane
vectors) would otherwise never run in the test suite. A child process with
``NUMBA_CPU_NAME=haswell`` and its own cache directory computes a compact set
of cases. Numba 0.68 keeps the host's feature list when only the CPU name is
given (``+avx512f`` included), so the child also gets ``NUMBA_CPU_FEATURES``
with every AVX-512 feature off. The parent checks:

* the exp: the same bits as the host's kernels (both paths round ``P 2^k``
  once, see ``stable_softmax.kernels.exp``);
* softmax (every method but naive): within the Blanchard, Higham & Higham
  (2021) bound ``n + 2 + 2 spread`` ULPs of the correctly rounded reference;
* log_softmax and logsumexp: within ``2 n u`` (absolute, plus one ULP) of the
  host's results: the only difference is the order of the vector lanes in the
  blocked sum, whose relative error is at most ``(n - 1) u`` on either side;
* special-value rows (NaN, ``+inf``, ``-inf``): exactly the host's results;
* float32 shifted softmax, log_softmax and logsumexp: the same bits (their
  loops have 16 lanes whatever the target, ``stable_softmax.kernels._vec32``).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import reference
import stable_softmax as ss
from stable_softmax.accuracy.expcheck import features_without_avx512
from stable_softmax.accuracy.metrics import ulp_distance
from stable_softmax.kernels.exp import exp_array

FUNCTIONS = ("softmax", "log_softmax", "logsumexp")

_CHILD = r"""
import sys
import numpy as np
import stable_softmax as ss
from stable_softmax.kernels.exp import exp_array, scaling_method

data = dict(np.load(sys.argv[1]))
from numba.core.registry import cpu_target

target = cpu_target.target_context.codegen().magic_tuple()
results = {"scaling": np.array(scaling_method()), "cpu": np.array(target[1]),
           "features": np.array(target[2])}
for key, x in data.items():
    if key.startswith("exp_"):
        out = np.empty_like(x)
        exp_array(x, out)
        results[key] = out
        continue
    for function in ("softmax", "log_softmax", "logsumexp"):
        for method in ss.METHODS[function]:
            results[f"{key}|{function}|{method}"] = getattr(ss, function)(x, method=method)
np.savez(sys.argv[2], **results)
"""


def _cases():
    rng = np.random.default_rng(20261202)
    cases = {}
    for dtype in (np.float32, np.float64):
        name = np.dtype(dtype).name
        cases[f"exp_{name}"] = np.concatenate(
            [rng.uniform(-110.0, 90.0, 20_000), [np.nan, np.inf, -np.inf, 0.0, -0.0]]
        ).astype(dtype)
        # one block and several blocks (4096 elements each) per row
        for n in (100, 3 * 4096 + 5):
            cases[f"normal_{name}_{n}"] = rng.normal(0.0, 4.0, (3, n)).astype(dtype)
        special = rng.normal(0.0, 1.0, (4, 300)).astype(dtype)
        special[0, 7] = np.nan
        special[1, 9] = np.inf
        special[2, :] = -np.inf
        special[3, ::2] = -np.inf
        cases[f"special_{name}"] = special
    return cases


@pytest.fixture(scope="module")
def haswell(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("haswell")
    cases = _cases()
    np.savez(tmp / "in.npz", **cases)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU")}
    env.update(
        NUMBA_CPU_NAME="haswell",
        NUMBA_CPU_FEATURES=features_without_avx512(),
        NUMBA_CACHE_DIR=str(tmp / "cache"),
    )
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp / "in.npz"), str(tmp / "out.npz")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr
    return cases, dict(np.load(tmp / "out.npz"))


def test_child_took_the_portable_path(haswell):
    _, got = haswell
    assert str(got["cpu"]) == "haswell"
    features = str(got["features"]).split(",")
    assert "+avx2" in features and "+fma" in features and "+avx512f" not in features
    assert str(got["scaling"]) == "two exponent-bit factors (portable)"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exp_same_bits(haswell, dtype):
    cases, got = haswell
    x = cases[f"exp_{dtype}"]
    want = np.empty_like(x)
    exp_array(x, want)
    np.testing.assert_array_equal(
        got[f"exp_{dtype}"].view(f"i{x.itemsize}"), want.view(f"i{x.itemsize}")
    )


def _normal_keys(cases):
    return [k for k in cases if k.startswith("normal_")]


def test_softmax_within_the_error_bound(haswell):
    cases, got = haswell
    for key in _normal_keys(cases):
        x = cases[key]
        n = x.shape[1]
        want = reference.softmax(x, dtype=x.dtype)
        for method in ss.METHODS["softmax"]:
            if method == "naive":
                continue
            result = got[f"{key}|softmax|{method}"]
            for r in range(x.shape[0]):
                spread = float(x[r].max() - x[r].min())
                assert ulp_distance(result[r], want[r]).max() <= n + 2 + 2 * spread, (key, method)


@pytest.mark.parametrize("function", ["log_softmax", "logsumexp"])
def test_logs_agree_with_the_host(haswell, function):
    cases, got = haswell
    for key in _normal_keys(cases):
        x = cases[key]
        u = np.finfo(x.dtype).eps / 2
        n = x.shape[1]
        for method in ss.METHODS[function]:
            host = getattr(ss, function)(x, method=method)
            child = got[f"{key}|{function}|{method}"]
            spacing = np.spacing(np.abs(host).astype(x.dtype))
            assert np.all(np.abs(child - host) <= 2 * n * u + spacing), (key, method)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_special_rows_exactly_as_on_the_host(haswell, function):
    cases, got = haswell
    for dtype in ("float32", "float64"):
        x = cases[f"special_{dtype}"]
        for method in ss.METHODS[function]:
            if method == "naive":
                continue
            host = getattr(ss, function)(x, method=method)
            child = got[f"special_{dtype}|{function}|{method}"]
            np.testing.assert_array_equal(np.isnan(child), np.isnan(host))
            np.testing.assert_array_equal(np.isinf(child), np.isinf(host))
            np.testing.assert_array_equal(child == 0, host == 0)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_float32_shifted_same_bits(haswell, function):
    """float32 shifted rows run the 16-lane loops of ``kernels._vec32`` on both targets.

    Their vector width (and so the order of the sums) does not depend on the
    instruction set and both scalings round ``P 2^k`` once: the same bits.
    """
    cases, got = haswell
    keys = [k for k in cases if "float32" in k and not k.startswith("exp_")]
    for key in keys:
        x = cases[key]
        host = np.asarray(getattr(ss, function)(x, method="shifted"))
        child = got[f"{key}|{function}|shifted"]
        same = np.where(np.isnan(host), np.float32(np.nan), host).view(np.int32)
        other = np.where(np.isnan(child), np.float32(np.nan), child).view(np.int32)
        np.testing.assert_array_equal(other, same, err_msg=key)
