"""The sweep bound to hwsim's simulator: fields, overrides, metrics, failures, the CLI."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.errors import HwsimError
from hwsim.hw import area_mm2, load_hardware, with_overrides
from hwsim.sim import simulate_workload
from hwsim.sweep import (
    METRICS,
    hwsim_evaluator,
    load_results,
    plan_points,
    run_sweep,
    sweep_from_dict,
    write_report,
)
from hwsim.workloads import workload_from_dict

# A short generation keeps each simulation to a few milliseconds.
WORKLOAD = {"model": "llama-2-7b", "prompt_tokens": 8, "generate_tokens": 3,
            "weights": {"format": "bitmod3", "group_size": 128}}


def spec(axes, **changes):
    data = {"workload": WORKLOAD, "hardware": "bitmod", "axes": axes,
            "objectives": ["latency_ms", "energy_uj"]}
    data.update(changes)
    return sweep_from_dict(data, metrics=METRICS, source="hw.yaml",
                           optional_sections=("fidelity",))


def test_metrics_match_a_direct_simulation(tmp_path):
    axes = [{"field": "array.rows", "values": [16, 32]},
            {"field": "dram.gb_per_s", "values": [16.0, 64.0]},
            {"field": "weights.format", "values": ["int4", "bitmod4"]},
            {"field": "prompt_tokens", "values": [8, 16]}]
    run_sweep(spec(axes), tmp_path, workers=1)
    _, table = load_results(tmp_path)
    assert len(table) == 16 and table.error.isna().all()
    row = table[(table["array.rows"] == 16) & (table["dram.gb_per_s"] == 64.0)
                & (table["weights.format"] == "int4") & (table["prompt_tokens"] == 16)].iloc[0]
    # The same design built by hand through the hw and workloads APIs.
    hw = with_overrides(load_hardware("bitmod"), {"array.rows": 16, "dram.gb_per_s": 64.0})
    wl = workload_from_dict({**WORKLOAD, "prompt_tokens": 16,
                             "weights": {"format": "int4", "group_size": 128}})
    direct = simulate_workload(wl, hw)
    assert row.latency_ms == pytest.approx(direct.latency_ms, rel=1e-12)
    assert row.energy_uj == pytest.approx(direct.energy_uj, rel=1e-12)
    assert row.area_mm2 == pytest.approx(area_mm2(hw), rel=1e-12)
    assert row.edp_uj_ms == pytest.approx(direct.energy_uj * direct.latency_ms, rel=1e-12)
    assert row.tokens_per_s == pytest.approx(direct.throughput_tokens_per_s, rel=1e-12)
    stages = direct.stage_totals()  # the simulator's own per-stage sums
    assert row.prefill_latency_ms == pytest.approx(stages["prefill"]["latency_ms"], rel=1e-12)
    assert row.decode_latency_ms == pytest.approx(stages["decode"]["latency_ms"], rel=1e-12)
    assert row.decode_tokens_per_s == pytest.approx(stages["decode"]["tokens_per_s"], rel=1e-12)
    # generate_tokens 3 -> 2 decode steps of one token each (batch 1).
    assert row.decode_ms_per_token == pytest.approx(stages["decode"]["latency_ms"] / 2,
                                                    rel=1e-12)
    # 512 + 512 + 128 KiB of buffers in the bitmod preset.
    assert row.sram_kib == 1152
    # More bandwidth never makes the same design slower.
    slow = table[(table["array.rows"] == 16) & (table["dram.gb_per_s"] == 16.0)
                 & (table["weights.format"] == "int4") & (table["prompt_tokens"] == 16)].iloc[0]
    assert slow.latency_ms >= row.latency_ms


def test_invalid_combination_is_recorded_and_the_sweep_goes_on(tmp_path):
    axes = [{"field": "weights.format", "values": ["int4", "fp6_e2m3"]}]
    run = run_sweep(spec(axes), tmp_path, workers=1)
    assert (run.points, run.failed) == (2, 1)
    _, table = load_results(tmp_path)
    bad = table[table["weights.format"] == "fp6_e2m3"].iloc[0]
    assert "cannot run weights" in bad.error
    assert table[table["weights.format"] == "int4"].error.isna().all()


def test_values_that_only_clash_with_each_other_fail_their_points_not_the_sweep(tmp_path):
    # splits 2 is fine at 200 tokens (4 key blocks) and unusable at 8 (one); each alone is
    # valid, so the sweep runs and records the one combination, not refuses before running.
    axes = [{"field": "prompt_tokens", "values": [8, 200]},
            {"field": "attention.splits", "values": [1, 2]}]
    run = run_sweep(spec(axes, workload={**WORKLOAD, "attention": {"kernel": "fused"}}),
                    tmp_path, workers=1)
    assert (run.points, run.failed) == (4, 1)
    _, table = load_results(tmp_path)
    bad = table[table.error.notna()].iloc[0]
    assert (bad["prompt_tokens"], bad["attention.splits"]) == (8, 2)
    assert "attention.splits: 2 parts of a decode step's keys" in bad.error


@pytest.mark.parametrize(("axes", "message"), [
    ([{"field": "array.rows", "values": [16, 32]},
      {"field": "weights.format", "values": ["int4", "bitmod5"]}],
     "the point array.rows=16, weights.format='bitmod5' is invalid: workload: weights.format: "
     "unknown format 'bitmod5'"),
    ([{"field": "array.rows", "values": [16, 0]}],
     "the point array.rows=0 is invalid: "),
])
def test_a_bad_axis_value_is_refused_before_any_point_runs(tmp_path, axes, message):
    # A typo in a value used to surface only as half the points failing (exit 0).
    out = tmp_path / "out"
    with pytest.raises(HwsimError, match="^hw.yaml: axes: " + message.replace("(", r"\(")):
        run_sweep(spec(axes), out, workers=1)
    assert not out.exists()


PREFILL_ONLY = {**WORKLOAD, "generate_tokens": 1}
NO_DECODE = ("the workload has no decode stage (generate_tokens is 1, and the prefill makes "
             "the first token; decoding needs generate_tokens >= 2)")


@pytest.mark.parametrize(("workload", "changes", "message"), [
    (PREFILL_ONLY, {"constraints": [{"field": "array.rows", "max": 16},
                                    {"metric": "decode_ms_per_token", "max": 1000}]},
     f"constraints[1]: no point can have a value for decode_ms_per_token: {NO_DECODE}"),
    ({"gemms": [{"name": "g", "m": 16, "n": 16, "k": 16}]},
     {"objectives": ["tokens_per_s", "ttft_p99_s"]},
     "objectives[0]: no point can have a value for tokens_per_s: a raw-GEMM workload "
     "(`gemms:`) has no tokens and no decode stage; objectives[1]: no point can have a value "
     "for ttft_p99_s: a serving metric needs a served workload (`requests:` or a `batch:` "
     "list)"),
    (WORKLOAD, {"report": {"heatmaps": [{"x": "array.rows", "y": "array.cols",
                                         "metric": "sqnr_db_mean"}]}},
     "report.heatmaps[0]: no point can have a value for sqnr_db_mean: a fidelity metric "
     "needs a `fidelity:` folder written by `hwsim quantize`"),
    (PREFILL_ONLY, {"objectives": ["latency_ms", "decode_latency_ms"],
                    "strategy": {"kind": "optuna", "trials": 4}},
     f"objectives[1]: no point can have a value for decode_latency_ms: {NO_DECODE}"),
], ids=["decode-constraint", "gemm-tokens-and-serving", "fidelity-heatmap", "optuna"])
def test_a_metric_no_point_can_have_is_refused_before_any_point_runs(tmp_path, workload,
                                                                      changes, message):
    # It was found out after every point had run (and an optuna search stopped on it midway).
    axes = [{"field": "array.rows", "values": [16, 32]},
            {"field": "array.cols", "values": [16, 32]}]
    out = tmp_path / "out"
    with pytest.raises(HwsimError) as info:
        run_sweep(spec(axes, workload=workload, **{"objectives": ["latency_ms"], **changes}),
                  out, workers=1)
    assert str(info.value) == f"hw.yaml: {message}"
    assert not out.exists()


def test_a_space_too_large_to_go_through_runs_and_null_keys_are_left_out(tmp_path):
    # Above MAX_ABSENCE_CHECK points an optuna search is not checked before it runs (it
    # crashed with a KeyError, the bundled optuna-nsga2 example included).
    from hwsim.sweep.run import MAX_ABSENCE_CHECK

    axes = [{"field": "array.rows", "range": {"start": 1, "stop": 101}},
            {"field": "array.cols", "range": {"start": 1, "stop": 51}}]
    assert MAX_ABSENCE_CHECK < 100 * 50
    run = run_sweep(spec(axes, objectives=["decode_latency_ms"],
                         strategy={"kind": "optuna", "trials": 2}), tmp_path / "o", workers=1)
    assert run.points >= 1
    # Not checked before: said at the first point that lacks it, with the reason.
    with pytest.raises(HwsimError, match=r"^hw.yaml: objectives: decode_latency_ms: not "
                       r"returned for the point array.rows=\d+, array.cols=\d+: the workload "
                       r"has no decode stage \(generate_tokens is 1"):
        run_sweep(spec(axes, workload=PREFILL_ONLY, objectives=["decode_latency_ms"],
                       strategy={"kind": "optuna", "trials": 2}), tmp_path / "p", workers=1)
    # `requests: null` / `gemms: null` are keys left out: not a served or raw-GEMM workload.
    for key in ("requests", "gemms"):
        plan_points(spec(axes[:1], workload={**WORKLOAD, key: None},
                         objectives=["decode_latency_ms"]), hwsim_evaluator())


def test_a_metric_some_points_have_is_not_refused(tmp_path):
    # Decode metrics exist at generate_tokens 3, not at 1: the sweep runs, and the prefill-only
    # points are infeasible rather than the sweep refused (a grid, and an optuna search).
    axes = [{"field": "generate_tokens", "values": [1, 3]}]
    for strategy in ({"kind": "grid"}, {"kind": "optuna", "trials": 2}):
        out = tmp_path / strategy["kind"]
        run_sweep(spec(axes, objectives=["decode_latency_ms"], strategy=strategy), out,
                  workers=1)
    _, table = load_results(tmp_path / "grid")
    assert table.set_index("generate_tokens")["decode_latency_ms"].isna().tolist() == [True,
                                                                                      False]


def test_unknown_field_lists_the_valid_fields():
    with pytest.raises(HwsimError) as info:
        plan_points(spec([{"field": "array.row", "values": [8]}]), hwsim_evaluator())
    msg = str(info.value)
    assert msg.startswith("hw.yaml: axes[0].field: no field 'array.row' (closest: array.rows")
    for valid in ("hardware.array.rows", "hardware.pe.lanes", "hardware.buffers.weight.kib",
                  "hardware.dram.bytes_per_cycle", "workload.weights.format",
                  "workload.prompt_tokens"):
        assert valid in msg


def test_two_names_of_one_field_are_refused():
    axes = [{"field": "array.rows", "values": [8]},
            {"field": "hardware.array.rows", "values": [16]}]
    with pytest.raises(HwsimError) as info:
        plan_points(spec(axes), hwsim_evaluator())
    assert str(info.value) == ("hw.yaml: axes: 'array.rows' and 'hardware.array.rows' both set "
                               "hardware.array.rows")


PRECISION = (" precision is a format with its group size, or a width in bits); keep one of "
             "the two axes")


@pytest.mark.parametrize(("axes", "zip_", "message"), [
    ([{"field": "weights.format", "values": ["int4", "int8"]},
      {"field": "weights.bits", "values": [4, 8]}], [],
     "axes[0] and axes[1]: weights.format and weights.bits set the same quantity (the weights"),
    ([{"field": "kv_cache.bits", "values": [8, 16]}, {"field": "array.rows", "values": [16]},
      {"field": "workload.kv_cache.group_size", "values": [32, 64]}], [],
     "axes[0] and axes[2]: kv_cache.bits and workload.kv_cache.group_size set the same "
     "quantity (the kv_cache"),
    ([{"field": "activations.bits", "values": [8, 16]},
      {"field": "activations.format", "values": ["int8", "fp16"]}],
     [["activations.bits", "activations.format"]],
     "axes[0] and axes[1]: activations.bits and activations.format set the same quantity (the "
     "activations"),
], ids=["weights", "kv-cache-group", "zipped-activations"])
def test_two_axes_on_one_workload_precision_are_refused(tmp_path, axes, zip_, message):
    # Setting one dropped the other at every point: points of different values shared a key,
    # and the table labelled both with the first one's values.
    out = tmp_path / "out"
    with pytest.raises(HwsimError) as info:
        run_sweep(spec(axes, zip=zip_), out, workers=1)
    assert str(info.value) == f"hw.yaml: {message}{PRECISION}"
    assert not out.exists()


def test_weight_bits_are_those_the_design_stores():
    # fp16 stores its own fp16 weights whatever the workload asks (as `hwsim run` says): 16
    # bits, not the workload's int4 with its scales (4.125), which the metric reported.
    from hwsim.hw import hardware_to_dict
    from hwsim.sweep.hwsim_eval import evaluate

    gemms = {"gemms": [{"name": "g1", "m": 8, "n": 512, "k": 512}],
             "weights": {"format": "int4", "group_size": 128}}
    served = {"model": "llama-2-7b", "weights": {"format": "int4", "group_size": 128},
              "requests": [{"arrival_s": 0.0, "prompt_tokens": 8, "generate_tokens": 2}]}
    for workload, hardware, bits in ((gemms, "fp16", 16.0), (gemms, "bitmod", 4.125),
                                     (served, "fp16", 16.0)):
        metrics = evaluate({"hardware": hardware_to_dict(load_hardware(hardware)),
                            "hardware_overrides": {}, "workload": workload})
        assert metrics["weight_bits"] == bits, (workload, hardware)
    # A MoE model's: its stored experts, not the ones a prompt touches (4.79 bits at one
    # token, 4.40 at four).
    mixtral = {"model": "mixtral-8x7b", "generate_tokens": 1,
               "weights": {"format": "int4", "group_size": 128,
                           "overrides": {"attn_proj": {"format": "int8", "group_size": 128}}}}
    figures = {evaluate({"hardware": hardware_to_dict(load_hardware("bitmod")),
                         "hardware_overrides": {},
                         "workload": {**mixtral, "batch": batch, "prompt_tokens": prompt}}
                        )["weight_bits"] for batch, prompt in ((1, 1), (1, 4), (2, 64))}
    assert len(figures) == 1


def test_a_gemm_workloads_precision_is_an_axis():
    # `weights.bits` of a `gemms:` workload was no workload field: it went to the hardware's
    # own weight storage without a word.
    gemms = {"gemms": [{"name": "g1", "m": 8, "n": 512, "k": 512}],
             "weights": {"format": "int4", "group_size": 128}}
    axes = [{"field": "weights.bits", "values": [4]}]
    (point,) = plan_points(spec(axes, workload=gemms), hwsim_evaluator())
    assert point.config["workload"]["weights"] == {"bits": 4}
    assert point.config["hardware_overrides"] == {}
    # fp16 sets weights of its own: either could be meant.
    with pytest.raises(HwsimError) as info:
        plan_points(spec(axes, workload=gemms, hardware="fp16"), hwsim_evaluator())
    assert str(info.value) == ("hw.yaml: axes[0].field: 'weights.bits' is ambiguous; write one "
                               "of: workload.weights.bits, hardware.weights.bits")


def test_only_points_whose_pe_figures_come_from_the_rtl_carry_its_fingerprint(monkeypatch):
    # A `-rtl` design's PE figures are computed from hw/asic and hw/rtl when the point runs
    # (its configuration says `rtl`): a change there reused stale points.
    from hwsim.hw import hardware_to_dict
    from hwsim.sweep import hwsim_eval, point_key

    evaluator = hwsim_evaluator()
    plain = hardware_to_dict(load_hardware("bitmod"))
    rtl = {**plain, "pe": {**plain["pe"], "rtl": {"block": "bitmod_pe"}}}  # not built here

    def keys(fingerprint: str) -> list[str]:
        monkeypatch.setattr(hwsim_eval, "rtl_fingerprint", lambda: fingerprint)
        return [point_key(evaluator.name, evaluator.config(
            {"workload": WORKLOAD, "hardware": hw}, {"hardware.array.rows": 16}))
            for hw in (plain, rtl)]

    (plain_a, rtl_a), (plain_b, rtl_b) = keys("a"), keys("b")
    assert plain_a == plain_b and rtl_a != rtl_b


def test_the_fingerprints_cover_the_code_and_data_of_the_numbers(monkeypatch):
    from hwsim.sweep import hwsim_eval

    def hashed(fingerprint) -> set[str]:
        names: list[str] = []
        monkeypatch.setattr(hwsim_eval, "_digest",
                            lambda files: names.extend(n for n, _ in files) or "")
        fingerprint.__wrapped__()
        return set(names)

    model, rtl = hashed(hwsim_eval.model_fingerprint), hashed(hwsim_eval.rtl_fingerprint)
    # The metrics are computed in the evaluator's module (weight_bits changed there).
    assert {"hwsim.sweep/hwsim_eval.py", "hwsim.sim/run.py", "hwsim.hw/spec.py"} <= model
    assert not any(n.startswith(("hwsim.hw.asic", "hwsim.hw.rtl")) for n in model)
    assert {"hwsim.hw.asic/pe_costs.py", "hwsim.hw.asic/data/sky130_fd_sc_hd.json",
            "hwsim.hw.rtl/bitmod.py"} <= rtl


def test_precision_width_replaces_the_format():
    evaluator = hwsim_evaluator()
    points = plan_points(spec([{"field": "weights.bits", "values": [4.5]}]), evaluator)
    assert points[0].config["workload"]["weights"] == {"bits": 4.5}
    assert points[0].config["hardware_overrides"] == {}


def test_cli_runs_resumes_and_re_renders(tmp_path):
    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text(
        "workload: {model: llama-2-7b, prompt_tokens: 8, generate_tokens: 3}\n"
        "hardware: bitmod\n"
        "axes:\n"
        "  - {field: buffers.weight.kib, values: [256, 512]}\n"
        "  - {field: dram.bytes_per_cycle, values: [16, 32]}\n"
        "objectives: [latency_ms, area_mm2]\n")
    out = tmp_path / "out"
    runner = CliRunner()
    first = runner.invoke(app, ["sweep", str(sweep_file), "--out", str(out), "-j", "1"])
    assert first.exit_code == 0, first.output
    assert "4 points: 4 simulated, 0 already stored, 0 failed" in first.output
    assert (out / "sweep.yaml").read_text() == sweep_file.read_text()
    assert (out / "heatmap_latency_ms__buffers.weight.kib__dram.bytes_per_cycle.png").exists()
    again = runner.invoke(app, ["sweep", str(sweep_file), "--out", str(out), "-j", "1"])
    assert "4 points: 0 simulated, 4 already stored" in again.output
    before = (out / "results.csv").read_bytes()
    (out / "results.csv").unlink()
    rendered = runner.invoke(app, ["sweep", "--report", str(out)])
    assert rendered.exit_code == 0, rendered.output
    assert (out / "results.csv").read_bytes() == before


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text(
        "workload: {model: llama-2-7b, prompt_tokens: 8, generate_tokens: 3}\n"
        "hardware: bitmod\n"
        "axes: [{field: array.rows, range: {start: 64, stop: 16}}]\n"
        "objectives: [latency_ms]\n")
    done = subprocess.run([sys.executable, "-m", "hwsim", "sweep", str(sweep_file), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "axes[0] (array.rows): empty range: start 64 > stop 16" in done.stderr
    assert "Traceback" not in done.stderr
    # A folder where the file belongs (a sweep's output, say): named as such.
    done = subprocess.run([sys.executable, "-m", "hwsim", "sweep", str(tmp_path), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert f"{tmp_path}: a folder, not a sweep file" in " ".join(done.stderr.split())


def test_unsatisfiable_area_budget(tmp_path):
    axes = [{"field": "array.rows", "values": [16, 32]}]
    run_sweep(spec(axes, constraints=[{"metric": "area_mm2", "max": 0.1}]), tmp_path,
              workers=1)
    with pytest.raises(HwsimError, match=r"no point satisfies the constraints together: "
                                         r"area_mm2 <= 0\.1: 0 of 2 points \(nearest "):
        write_report(tmp_path)


@pytest.mark.parametrize("name", ["decode-shape-format", "buffer-bandwidth",
                                  "llama2-decode-1000", "optuna-nsga2"])
def test_bundled_examples_are_valid(name):
    from hwsim.sweep import DesignSpace, load_sweep
    from hwsim.sweep.run import _Planner

    path = Path(__file__).resolve().parents[2] / "hwsim/sweep/examples" / f"{name}.yaml"
    example = load_sweep(path, metrics=METRICS)
    planner = _Planner(example, hwsim_evaluator())  # resolves the base and every axis field
    size = DesignSpace.from_spec(example).size
    # Products of the axis lengths written in the files.
    expected = {"decode-shape-format": 4 * 4 * 4, "buffer-bandwidth": 5 * 5,
                "llama2-decode-1000": 5 * 5 * 4 * 10,
                "optuna-nsga2": 6 * 6 * 5 * 5 * 5 * 6 * 6 * 3 * 5 * 5}
    assert size == expected[name]
    assert planner.point(tuple(0 for _ in planner.space.dims)).key


def test_fidelity_numbers_join_by_weight_format(tmp_path, summary_row):
    import pandas as pd

    folder = tmp_path / "quantized"
    folder.mkdir()
    # A summary as `hwsim quantize` writes it; the test picks the numbers.
    rows = {"int4": {"sqnr_db_mean": 20.5, "sqnr_db_min": 12.0, "mse": 3e-4},
            "bitmod4": {"sqnr_db_mean": 23.0, "sqnr_db_min": 15.5, "mse": 1e-4}}
    pd.DataFrame([summary_row(f, **v) for f, v in rows.items()]).to_csv(
        folder / "summary.csv", index=False)
    sweep = spec([{"field": "weights.format", "values": ["INT4", "bitmod4", "bitmod3"]}],
                 objectives=["decode_ms_per_token", "sqnr_db_mean"], fidelity="quantized")
    sweep = dataclasses.replace(sweep, folder=tmp_path)
    run_sweep(sweep, tmp_path / "out", workers=1)
    _, table = load_results(tmp_path / "out")
    by_format = table.set_index("weights.format")
    assert by_format.loc["INT4", "sqnr_db_mean"] == 20.5  # names are matched canonically
    assert by_format.loc["bitmod4", "quant_mse"] == 1e-4
    assert by_format.loc["bitmod4", "sqnr_db_min"] == 15.5
    assert by_format.loc["bitmod3", "error"] == (
        "fidelity: no row for weight format bitmod3 in quantized "
        "(formats: int4, bitmod4)")


def test_fidelity_numbers_join_by_group_size_too(tmp_path, summary_row):
    # Measured at group 128 (int4's own): every group size of the axis took those figures,
    # and the Pareto front called group 1024 "as accurate, cheaper".
    import pandas as pd

    folder = tmp_path / "quantized"
    folder.mkdir()
    pd.DataFrame([summary_row("int4", sqnr_db_mean=17.9)]).to_csv(folder / "summary.csv",
                                                                  index=False)
    sweep = spec([{"field": "weights.format", "values": ["int4"]},
                  {"field": "weights.group_size", "values": [32, 128]}],
                 objectives=["decode_ms_per_token", "sqnr_db_mean"], fidelity="quantized")
    sweep = dataclasses.replace(sweep, folder=tmp_path)
    run_sweep(sweep, tmp_path / "out", workers=1)
    _, table = load_results(tmp_path / "out")
    by_group = table.set_index("weights.group_size")
    assert by_group.loc[128, "sqnr_db_mean"] == 17.9
    assert np.isnan(by_group.loc[32, "sqnr_db_mean"])
    assert by_group.loc[32, "error"] == (
        "fidelity: quantized measured int4 at group size 128, the point's weights are at "
        "group size 32 (run hwsim quantize with --group-size 32 into another folder)")


@pytest.mark.parametrize(("hardware", "message"), [
    ("nope", "s.yaml: hardware: unknown hardware preset 'nope'"),
    ("nope.yaml", "s.yaml: hardware: {folder}/nope.yaml: cannot read hardware description"),
])
def test_a_bad_hardware_entry_names_the_sweep_file_and_key(tmp_path, hardware, message):
    with pytest.raises(HwsimError) as info:
        hwsim_evaluator().base({"workload": WORKLOAD, "hardware": hardware}, tmp_path,
                               "s.yaml")
    assert str(info.value).startswith(message.format(folder=tmp_path))


def test_a_problem_inside_a_hardware_file_names_that_file(tmp_path):
    bad = tmp_path / "hw.yaml"
    bad.write_text("clock_mhz: -1\n")
    with pytest.raises(HwsimError) as info:
        hwsim_evaluator().base({"workload": WORKLOAD, "hardware": "hw.yaml"}, tmp_path,
                               "s.yaml")
    assert str(info.value).startswith(f"{bad}: ")  # not the sweep file: the hardware one
    assert "clock_mhz: Input should be greater than 0" in str(info.value)


def test_a_section_the_model_does_not_use_is_refused():
    with pytest.raises(HwsimError, match="extra: not used by the model"):
        hwsim_evaluator().base({"workload": {}, "hardware": {}, "extra": 1}, Path(), "s.yaml")


def test_a_served_trace_is_swept_against_its_percentiles(tmp_path):
    # A CSV trace next to the sweep file; the sweep varies the batch cap and minimizes the
    # p99 time per output token. Each point equals a direct serving simulation.
    from hwsim.sim.serving import simulate_serving

    (tmp_path / "trace.csv").write_text(
        "arrival_s,prompt_tokens,generate_tokens\n0,24,4\n0,40,3\n0.001,16,5\n",
        encoding="utf-8")
    served = {"model": "llama-2-7b", "requests": "trace.csv",
              "weights": {"format": "bitmod3", "group_size": 128}}
    sweep = sweep_from_dict(
        {"workload": served, "hardware": "bitmod",
         "axes": [{"field": "serving.max_batch", "values": [1, 3]}],
         "objectives": ["tpot_p99_s", "output_tokens_per_s"]},
        metrics=METRICS, source="sweep.yaml", folder=tmp_path,
        optional_sections=("fidelity",))
    run_sweep(sweep, tmp_path / "out", workers=1)
    _, table = load_results(tmp_path / "out")
    assert table.error.isna().all()
    for batch in (1, 3):
        row = table[table["serving.max_batch"] == batch].iloc[0]
        direct = simulate_serving(workload_from_dict(
            {**served, "serving": {"max_batch": batch}}, base_dir=tmp_path),
            load_hardware("bitmod")).summary()
        assert row.tpot_p99_s == pytest.approx(direct["tpot_s"]["p99"], rel=1e-12)
        assert row.ttft_p50_s == pytest.approx(direct["ttft_s"]["p50"], rel=1e-12)
        assert row.latency_ms == pytest.approx(direct["makespan_s"] * 1e3, rel=1e-12)
    # Batching the three requests serves them sooner than one at a time.
    by_batch = table.set_index("serving.max_batch")
    assert by_batch.loc[3, "e2e_p99_s"] < by_batch.loc[1, "e2e_p99_s"]


def test_served_latency_counts_from_the_first_arrival():
    # One request arriving at 100 s runs its steps back to back: the makespan (latency_ms)
    # is the plain workload's latency, not 100 s more; EDP and tokens/s follow from it.
    from hwsim.hw import hardware_to_dict
    from hwsim.sweep.hwsim_eval import evaluate

    hw = load_hardware("bitmod")
    plain = simulate_workload(workload_from_dict(WORKLOAD), hw)
    served = {"model": "llama-2-7b", "weights": WORKLOAD["weights"],
              "requests": [{"arrival_s": 100.0, "prompt_tokens": 8, "generate_tokens": 3}]}
    metrics = evaluate({"hardware": hardware_to_dict(hw), "hardware_overrides": {},
                        "workload": served})
    assert metrics["latency_ms"] == pytest.approx(plain.latency_ms, rel=1e-12)
    assert metrics["edp_uj_ms"] == pytest.approx(plain.energy_uj * plain.latency_ms, rel=1e-9)
    assert metrics["output_tokens_per_s"] == pytest.approx(3 / (plain.latency_ms * 1e-3),
                                                           rel=1e-12)
    # A served sweep had no energy per token (and blamed the hardware's energy model): the
    # energy over the 8 + 2 tokens processed, as the plain workload's.
    assert metrics["energy_per_token_uj"] == pytest.approx(plain.energy_uj / 10, rel=1e-12)
    assert plain.energy_per_token_uj == pytest.approx(plain.energy_uj / 10, rel=1e-12)


def test_a_design_without_energy_or_area_model_has_no_such_metric(tmp_path):
    # A measured FPGA build models latency only: its energy and area are absent (NaN), never
    # a 0 that would win a minimized objective.
    fpga = Path(__file__).resolve().parents[2] / "hw" / "fpga" / "presets" / \
        "fpga-int8_mac-ecp5-25k.yaml"
    workload = {"gemms": [{"name": "g1", "m": 16, "n": 64, "k": 128}],
                "weights": {"format": "int8"}, "activations": {"bits": 8}}
    run_sweep(spec([{"field": "array.rows", "values": [4, 7]}], workload=workload,
                   hardware=str(fpga), objectives=["latency_ms"]), tmp_path, workers=1)
    _, table = load_results(tmp_path)
    assert len(table) == 2 and table.error.isna().all()
    assert (table.latency_ms > 0).all()
    for metric in ("energy_uj", "edp_uj_ms", "area_mm2"):
        assert metric not in table or table[metric].isna().all()
