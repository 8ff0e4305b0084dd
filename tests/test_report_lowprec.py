"""The low-precision part of the report: thresholds, figures, pipelines, certified reference."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

import reference
from stable_softmax import cli
from stable_softmax.accuracy import lowprec_report as lr
from stable_softmax.accuracy import report
from stable_softmax.accuracy.grids import Block, Grid
from stable_softmax.accuracy.lowprec_thresholds import format_thresholds, target_thresholds
from stable_softmax.accuracy.pipelines import (
    PipelineError,
    Target,
    float32_then_round,
    ours_default,
    parse_pipeline,
    parse_targets,
)
from stable_softmax.formats import FORMATS


def test_float16_exp_thresholds_by_hand():
    # T = 65504 + 16 = 65520 (largest + half its ulp), ln T = 11.0901107...;
    # float16 in [8, 16) is spaced 2^-7: 1419 * 2^-7 = 11.0859375 < ln T < 11.09375 = 1420 * 2^-7.
    # e^x rounds to 0 iff e^x <= 2^-25 (half of 2^-24, tie to even 0): x <= -25 ln 2
    # = -17.3286795...; in [16, 32) the spacing is 2^-6: -1109 * 2^-6 = -17.328125 > -25 ln 2
    # > -17.34375 = -1110 * 2^-6.
    t = format_thresholds(FORMATS["float16"])
    assert t["exp_last_finite"] == 1419 * 2.0**-7 == 11.0859375
    assert t["exp_first_overflow"] == 1420 * 2.0**-7
    assert t["exp_first_nonzero"] == -1109 * 2.0**-6 == -17.328125
    assert t["exp_last_zero"] == -1110 * 2.0**-6
    assert t["exp_overflow_theory"] == pytest.approx(math.log(65520), rel=1e-15)
    assert t["exp_underflow_theory"] == pytest.approx(-25 * math.log(2), rel=1e-15)
    assert t["normal_theory"] == pytest.approx(-14 * math.log(2), rel=1e-15)


def test_bfloat16_exp_thresholds_by_hand():
    # T = (2^9 - 1) 2^119, ln T = 88.7208841; bfloat16 in [64, 128) is spaced 2^-1;
    # half the smallest subnormal 2^-133 is 2^-134, 134 ln 2 = 92.8817222.
    t = format_thresholds(FORMATS["bfloat16"])
    assert (t["exp_last_finite"], t["exp_first_overflow"]) == (88.5, 89.0)
    assert (t["exp_first_nonzero"], t["exp_last_zero"]) == (-92.5, -93.0)


def test_saturating_float4_exp_thresholds_by_hand():
    # float4_e2m1fn: values 0, 0.5, 1, 1.5, 2, 3, 4, 6; overflow saturates to 6 past
    # T = 6 + 1 (half the spacing 2 of [4, 8)), ln 7 = 1.9459: e^1.5 = 4.48 rounds to 4,
    # e^2 = 7.39 > T saturates. Half the smallest subnormal 0.5 is 0.25, ln 0.25 = -1.386:
    # e^-1 = 0.368 rounds to 0.5, e^-1.5 = 0.223 to 0.
    t = format_thresholds(FORMATS["float4_e2m1fn"])
    assert (t["exp_last_finite"], t["exp_first_overflow"]) == (1.5, 2.0)
    assert (t["exp_first_nonzero"], t["exp_last_zero"]) == (-1.0, -1.5)
    assert t["overflow_rule"] == "saturate"


def test_naive_softmax_in_an_all_float16_pipeline_fails_where_exp_does():
    # [t, 0]: exp(t) overflows from t = 11.09375 (inf / inf = NaN); [t, t]: exp(t) rounds
    # to 0 from t = -17.34375 (0 / 0): the exp edges of the format, worked out above.
    rows = target_thresholds(parse_pipeline("float16:float16:float16"), "softmax", ("naive",))
    assert rows == [
        {
            "target": "float16:float16:float16",
            "function": "softmax",
            "method": "naive",
            "overflow": 11.09375,
            "overflow_last_ok": 11.0859375,
            "underflow": -17.34375,
            "underflow_last_ok": -17.328125,
            "error": None,
        }
    ]
    # our default path computes in float32: float32's edge 88.72..., rounded to float16's grid
    # (spacing 2^-4 in [64, 128)): the last float16 below ln(max float32) = 88.7228 is 88.6875
    (ours,) = target_thresholds(Target("float16"), "softmax", ("naive",))
    assert (ours["overflow_last_ok"], ours["overflow"]) == (88.6875, 88.75)
    (shifted,) = target_thresholds(Target("float16"), "softmax", ("shifted",))
    assert shifted["overflow"] is None and shifted["underflow"] is None


def test_bias_argmax_and_sum_on_a_hand_checked_case():
    target = Target("float16")
    x = np.array([[0.0, 0.0], [1.0, 0.0]], np.float16)
    ref = reference.softmax(x)
    assert ref[0].tolist() == [0.5, 0.5]
    half_up = np.nextafter(np.float16(0.5), np.float16(1))  # 0.5 + 2^-11
    # row 0: one element 1 ULP high (tie kept: both are maxima); row 1: values swapped
    result = np.array([[0.5, half_up], [ref[1, 1], ref[1, 0]]], np.float16)
    d1 = abs(int(ref[1, 0].view(np.int16)) - int(ref[1, 1].view(np.int16)))  # ULPs apart
    stats = lr.measure_low(target, "softmax", "shifted", x, result, ref)
    assert stats["max_ulp"] == d1
    # signed errors 0, +1, -d1, +d1: mean 1/4
    assert stats["bias_ulp"] == 0.25
    assert stats["mean_ulp"] == (0 + 1 + 2 * d1) / 4
    assert stats["argmax_changed"] == 0.5
    # |sum - 1|: row 0 is 2^-11 (exact); row 1 sums the same two values as the reference
    dev1 = abs(float(ref[1, 0]) + float(ref[1, 1]) - 1.0)
    assert stats["sum_dev_max"] == max(2.0**-11, dev1)
    assert stats["sum_dev_mean"] == (2.0**-11 + dev1) / 2
    assert stats["overflow"] == stats["underflow"] == stats["nan"] == 0.0


def test_pipeline_bound_catches_an_error_past_it():
    # all-float16 shifted softmax of 8 gaussian logits: the bound is (n + 2 + 2 Z) u_c in
    # relative terms, a few dozen ULPs; an output 2^8 ULPs off lies outside it
    target = parse_pipeline("float16:float16:float16")
    x = (np.random.default_rng(4).standard_normal((4, 8)) * 2).astype(np.float16)
    ref = reference.softmax(x)
    good = target.compute_fn("softmax", "shifted", x, 1.0, None)
    stats = lr.measure_low(target, "softmax", "shifted", x, good, ref)
    assert stats["bound_checked"] > 0.5 and stats["bound_inside"] == 1.0
    bad = good.copy()
    j = np.argmax(ref[0])
    bad[0, j] = (bad[0, j].view(np.uint16) - np.uint16(256)).view(np.float16)
    stats = lr.measure_low(target, "softmax", "shifted", x, bad, ref)
    assert stats["bound_inside"] < 1.0 and stats["bound_ratio_max"] > 1.0


def test_failures_are_counted_apart_from_the_error():
    target = Target("float16")
    x = np.array([[3.0, 0.0, -2.0]], np.float16)
    ref = reference.softmax(x)
    result = ref.copy()
    result[0, 0] = np.inf
    stats = lr.measure_low(target, "softmax", "naive", x, result, ref)
    assert stats["overflow"] == pytest.approx(1 / 3) and stats["max_ulp"] == 0.0
    assert stats["argmax_changed"] == 0.0  # the inf is still the largest


def test_signed_ulps_crosses_zero_and_binades():
    a = np.array([0.0, 1.0, -0.0], np.float16)
    b = np.array([np.float16(2.0**-24), np.nextafter(np.float16(1), np.float16(0)), 0.0])
    assert lr.signed_ulps(a, b.astype(np.float16)).tolist() == [-1.0, 1.0, 0.0]


def test_parse_pipelines_and_targets():
    t = parse_pipeline("bfloat16:float32")
    assert (t.storage, t.compute, t.accumulate, t.name) == (
        "bfloat16",
        "float32",
        "float32",
        "bfloat16:float32:float32",
    )
    assert t.u_compute == 2.0**-24 and t.simulated
    targets = parse_targets(["float16", "float16"], ["float8_e4m3fn:bfloat16:float32"])
    assert [x.name for x in targets] == ["float16", "float8_e4m3fn:bfloat16:float32"]
    assert not targets[0].simulated and targets[0].u_compute == 2.0**-24
    with pytest.raises(PipelineError, match="accumulate format 'f32'"):
        parse_pipeline("float16:float16:f32")
    with pytest.raises(PipelineError, match="storage format 'float64'"):
        parse_targets(["float64"], [])


def test_stochastic_pipelines_parse_and_run_reproducibly():
    t = parse_pipeline("bfloat16:bfloat16:float32:stochastic")
    assert (t.compute, t.accumulate, t.rounding) == ("bfloat16", "float32", "stochastic")
    assert t.name == "bfloat16:bfloat16:float32:stochastic" and "stochastic" in t.label
    # one ulp, not half, per stochastically rounded operation; float32 accumulates natively
    assert (t.u_compute, t.u_accumulate) == (2.0**-7, 2.0**-24)
    short = parse_pipeline("float16:float16:stochastic")  # ACCUMULATE = COMPUTE
    assert (short.accumulate, short.rounding) == ("float16", "stochastic")
    assert parse_pipeline("float16:float16:float32:nearest") == parse_pipeline(
        "float16:float16:float32"
    )
    with pytest.raises(PipelineError, match="rounding 'sr'"):
        parse_pipeline("float16:float16:float32:sr")
    with pytest.raises(PipelineError, match="simulated formats only"):
        parse_pipeline("bfloat16:float32:float32:stochastic")
    x = (np.random.default_rng(4).standard_normal((6, 300)) * 3).astype(FORMATS["bfloat16"].dtype)
    nearest = parse_pipeline("bfloat16:bfloat16:float32")
    got = t.compute_fn("softmax", "shifted", x, 1.0, None)
    assert got.tobytes() == t.compute_fn("softmax", "shifted", x, 1.0, None).tobytes()
    # stochastic rounding moves some results off the round-to-nearest ones
    assert got.tobytes() != nearest.compute_fn("softmax", "shifted", x, 1.0, None).tobytes()
    # the bound check takes 2u for the stochastic target: on the same results, a smaller ratio
    ref = reference.softmax(x)
    ratios = [
        lr.measure_low(target, "softmax", "shifted", x, got, ref)["bound_ratio_max"]
        for target in (nearest, t)
    ]
    assert ratios[0] is not None and ratios[1] < ratios[0]


@pytest.mark.parametrize("fmt", ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"])
def test_ours_default_is_the_float32_kernel_rounded_once(fmt):
    # the public API on low-precision input (what the report measures) against the path
    # written out (astype float32, float32 kernel, astype back): the same bits, NaNs included
    import stable_softmax as ss

    dtype = FORMATS[fmt].dtype
    rng = np.random.default_rng(2)
    for scale in (1.0, 4.0, 30.0):
        x = (rng.standard_normal((8, 40)) * scale).astype(dtype)
        for function, methods in ss.METHODS.items():
            for method in methods:
                got = ours_default(function, x, method, 1.0, None)
                want = float32_then_round(function, x, method, 1.0, None)
                assert got.dtype == dtype and got.tobytes() == want.tobytes(), (function, method)


def _fp16_ordinal(v: np.ndarray) -> np.ndarray:
    """Sign-magnitude float16 bits to a signed integer line (written out here on purpose)."""
    bits = v.astype(np.float16).view(np.uint16).astype(np.int64)
    mag = bits & 0x7FFF
    return np.where(bits & 0x8000, -mag, mag)


def test_certified_versus_fp32_numbers_by_an_independent_computation():
    rows, n, sigma, seed = 3, 8, 3.0, 5
    (got,) = lr.reference_matters(
        [("float16", "float16", "float16")],
        rows=rows,
        n=n,
        sigma=sigma,
        seed=seed,
        methods=("shifted",),
    )
    x = (np.random.default_rng(seed).standard_normal((rows, n)) * sigma).astype(np.float16)
    h = np.float16
    # The all-float16 pipeline: each operation correctly rounded to float16. + - / of float16
    # values in float64 then rounded to float16 is correctly rounded (Figueroa 1995: 53 >= 2*11+1);
    # exp comes correctly rounded from the reference.
    d = np.array([[h(float(v) - float(r.max())) for v in r] for r in x])
    e = reference.exp(d, dtype=np.float16)
    sim = np.empty_like(x)
    for i in range(rows):
        s = e[i, 0]
        for j in range(1, n):
            s = h(float(s) + float(e[i, j]))
        sim[i] = [h(float(v) / float(s)) for v in e[i]]
    # The fp32 run: float32 arithmetic (NumPy's float32 exp), one rounding to float16.
    x32 = x.astype(np.float32)
    e32 = np.exp(x32 - x32.max(axis=1, keepdims=True))
    run32 = np.empty_like(x)
    for i in range(rows):
        s = np.float32(0)
        for v in e32[i]:
            s = np.float32(s + v)
        run32[i] = (e32[i] / s).astype(np.float16)
    exact = reference.softmax(x)
    d32 = np.abs(_fp16_ordinal(sim) - _fp16_ordinal(run32))
    dex = np.abs(_fp16_ordinal(sim) - _fp16_ordinal(exact))
    assert got["vs_fp32_mean"] == d32.mean() and got["vs_fp32_max"] == d32.max()
    assert got["vs_exact_mean"] == dex.mean() and got["vs_exact_max"] == dex.max()
    assert got["bias_exact"] == (_fp16_ordinal(sim) - _fp16_ordinal(exact)).mean()
    assert got["judged_differently"] == np.mean(d32 != dex)
    assert got["fp32_run_not_cr"] == np.mean(run32 != exact)
    assert got["vs_exact_max"] > 0  # the case is not trivial


def test_small_end_to_end_report_with_float16_and_a_pipeline(tmp_path, capsys):
    out = tmp_path / "rep"
    argv = [
        "report",
        "--dtypes",
        "float16",
        "--pipelines",
        "float16:float16:float32",
        "--functions",
        "softmax",
        "--methods",
        "shifted,online",
        "--out",
        str(out),
    ]
    assert cli.main(argv) == 0
    assert "lowprec.csv" in capsys.readouterr().out
    doc = json.loads((out / "report.json").read_text())
    assert doc["dtypes"] == [] and doc["low_dtypes"] == ["float16"] and doc["records"] == []
    low = doc["lowprec"]
    assert [t["name"] for t in low["targets"]] == ["float16", "float16:float16:float32"]
    assert [f["format"] for f in low["formats"]] == ["float16"]  # theory once per format
    assert {(r["target"], r["method"]) for r in low["thresholds"]} == {
        ("float16", "shifted"),
        ("float16", "online"),
        ("float16:float16:float32", "shifted"),
        ("float16:float16:float32", "online"),
    }
    recs = low["records"]
    assert len(recs) == 2 * 2 * len(lr.LOW_GRIDS["quick"].points())
    assert all(r["error"] is None for r in recs)
    # our default path: float32 kernel rounded once, within 1 ULP of float16
    assert max(r["max_ulp"] for r in recs if r["target"] == "float16") <= 1
    # the first-order bounds (BHH; online: docs/online-softmax-error.md) hold where checked
    checked = [r for r in recs if r["bound_checked"]]
    assert checked and all(r["bound_inside"] == 1.0 for r in checked)
    assert [c["pipeline"] for c in low["certified"]] == ["float16:float16:float32"] * 2
    with open(out / "lowprec.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(lr.LOW_FIELDS) and len(rows) == len(recs)
    md = (out / "report.md").read_text()
    assert (out / "lowprec_error_vs_n.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert doc["plots"] == ["lowprec_error_vs_n.png"] and "![lowprec_error_vs_n.png]" in md
    for heading in (
        "### exp in each storage format",
        "### Error vs n",
        "### Error vs logit scale",
        "### Low-precision figures",
        "### What a certified reference changes",
    ):
        assert heading in md
    assert "| float16 | 11 | -14 | 15 | 65504 | inf | 2^-11 | 11.0901107 |" in md


def test_mixed_dtypes_keep_the_main_sweep_and_add_the_section(tmp_path, monkeypatch):
    config = report.check(
        report.ReportConfig(dtypes=("float32", "bfloat16"), pipelines=("float16:float32",))
    )
    assert config.dtypes == ("float32",) and config.low_dtypes == ("bfloat16",)
    assert config.pipelines == ("float16:float32",)
    assert report.check(config) == config  # checking twice changes nothing
    tiny = Grid("tiny", (Block("b", ("gaussian",), (8,), (1.0,), elements=16),), (1.0,))
    small = lr.LowGrid("quick", ("gaussian",), (8,), 1.0, (1.0,), 8, 16, 2, 8)
    monkeypatch.setitem(lr.LOW_GRIDS, "quick", small)
    doc = report.build_report(
        report.ReportConfig(
            grid=tiny,
            dtypes=("float32", "bfloat16"),
            functions={"softmax": ("shifted",)},
            workers=1,
            special_values=False,
            costs=False,
        )
    )
    assert {r["dtype"] for r in doc.records} == {"float32"}
    assert {r["target"] for r in doc.lowprec["records"]} == {"bfloat16"}
    assert {r["method"] for r in doc.lowprec["records"]} == {"shifted"}
    assert doc.lowprec["certified"] == []  # no simulated pipeline
    report.write_report(doc, tmp_path, plots=False)
    md = (tmp_path / "report.md").read_text()
    assert "## Summary per implementation and dtype" in md
    assert "## Low precision: storage formats and pipelines" in md
    assert "No simulated pipeline was asked for" in md


def test_error_versus_tables_have_a_row_per_family():
    # Synthetic records (no computation): two families at the grid's fixed scale, one cell
    # off it that must not appear; each family's worst ULP and bias land in its own row.
    from stable_softmax.accuracy.lowprec_markdown import _versus

    grid = {
        "families": ["gaussian", "ties"],
        "ns": [4, 16],
        "n_scale": 4.0,
        "scales": [1.0],
        "scale_n": 16,
    }

    def rec(family, n, scale, max_ulp, bias):
        return {
            "error": None,
            "target": "float16",
            "function": "softmax",
            "method": "shifted",
            "family": family,
            "n": n,
            "scale": scale,
            "max_ulp": max_ulp,
            "bias_ulp": bias,
            "overflow": 0.0,
            "underflow": 0.0,
            "nan": 0.0,
        }

    records = [
        rec("ties", 4, 4.0, 3, -0.5),
        rec("gaussian", 4, 4.0, 1, 0.25),
        rec("gaussian", 16, 4.0, 2, 0.0),
        rec("ties", 16, 1.0, 99, 9.0),
    ]
    lines = _versus({"grid": grid, "records": records}, "n")
    body = [line for line in lines if line.startswith("| float16")]
    assert body == [
        "| float16 | softmax | `shifted` | gaussian | 1 (+0.250) | 2 (+0.000) |",
        "| float16 | softmax | `shifted` | ties | 3 (-0.500) |  |",
    ]


def test_peer_targets_run_the_peers_own_low_precision_kernels():
    torch = pytest.importorskip("torch")
    targets = parse_targets(["float16", "bfloat16", "float8_e4m3fn"], [], ["torch"])
    assert [t.name for t in targets] == [
        "float16",
        "bfloat16",
        "float8_e4m3fn",
        "float16/torch",
        "bfloat16/torch",
    ]
    rng = np.random.default_rng(6)
    for t in targets[3:]:
        assert t.methods("softmax") == ("torch",) and not t.simulated
        x = (rng.standard_normal((4, 50)) * 3).astype(t.format.dtype)
        got = t.compute_fn("log_softmax", "torch", x, 1.0, None)
        # independently: through float32, exact for both formats, and torch's own dtype
        tx = torch.from_numpy(x.astype(np.float32)).to(getattr(torch, t.storage))
        want = torch.log_softmax(tx, dim=-1).float().numpy().astype(t.format.dtype)
        assert got.dtype == t.format.dtype and got.tobytes() == want.tobytes()
