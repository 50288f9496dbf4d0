"""`hwsim run` end to end: outputs, determinism, and one-line errors with exit code 2."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hwsim.hw import hardware_to_dict, load_hardware, with_overrides
from hwsim.reports.roofline_analysis import analyze
from hwsim.reports.roofline_machine import machine_from_hardware
from hwsim.workloads import DEFAULT_WORKLOAD, example_path, load_workload, operators


@pytest.fixture
def gemm_file(tmp_path, small_gemms):
    path = tmp_path / "kernels.yaml"
    path.write_text(small_gemms, encoding="utf-8")
    return path


def test_outputs_and_byte_identical_reruns(run_cli, tmp_path, gemm_file):
    outs, printed = [], []
    for name in ("a", "b"):
        code, cap = run_cli("run", str(gemm_file), "--compare", "fp16,ant",
                            "--out", str(tmp_path / name))
        assert code == 0, cap.err
        outs.append(tmp_path / name)
        printed.append(cap.out)
    files = sorted(p.name for p in outs[0].iterdir())
    assert files == ["comparison.png", "energy_breakdown.png", "latency_breakdown.png",
                     "layers.csv", "report.html", "summary.json"]
    for f in files:
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    summary = json.loads((outs[0] / "summary.json").read_text())
    for key in ("total_cycles", "latency_ms", "energy_uj", "energy_breakdown_uj", "area_mm2",
                "stages", "designs", "comparison"):
        assert key in summary
    assert [d["hardware"]["name"] for d in summary["designs"]] == ["bitmod", "fp16", "ant"]
    assert summary["comparison"]["baseline"] == "fp16"
    layers = pd.read_csv(outs[0] / "layers.csv")
    assert len(layers) == 3 * 2  # 3 designs x 2 GEMMs (one stage)
    assert {"cycles", "stall_cycles", "utilization", "dram_read_bytes", "energy_uj",
            "mapping"} <= set(layers.columns)
    assert "normalized to fp16" in printed[0]


def test_a_rerun_into_the_same_folder_leaves_no_figure_of_the_earlier_run(run_cli, tmp_path,
                                                                           gemm_file):
    out = ("--out", str(tmp_path / "o"))
    code, cap = run_cli("run", str(gemm_file), "--compare", "fp16", "--figure-format",
                        "png,svg", *out)
    assert code == 0, cap.err
    # Files of the user's stay, even one named like a figure no run there wrote.
    (tmp_path / "o" / "notes.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "o" / "comparison.pdf").write_text("mine", encoding="utf-8")
    code, cap = run_cli("run", str(gemm_file), *out)
    assert code == 0, cap.err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "comparison.pdf", "energy_breakdown.png", "latency_breakdown.png", "layers.csv",
        "notes.txt", "report.html", "summary.json"]
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["figures"] == ["latency_breakdown.png", "energy_breakdown.png"]


def test_set_overrides_the_main_hardware(run_cli, tmp_path, gemm_file):
    code, cap = run_cli("run", str(gemm_file), "--set", "array.rows=64",
                        "--set", "dram.bytes_per_cycle=8", "--out", str(tmp_path))
    assert code == 0, cap.err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["hardware"]["array"]["prefill"] == [64, 32]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hardware", "nosuch"], "--hardware: unknown hardware preset 'nosuch'"),
        (["--hardware", ""], "--hardware: empty; give a hardware preset or a hardware YAML"),
        (["--compare", "nosuch"], "--compare 'nosuch': unknown hardware preset 'nosuch'"),
        (["--compare", ""], "--compare '': an empty item"),
        (["--compare", "ant,"], "--compare 'ant,': an empty item"),
        (["--compare", "ant:"], "--compare 'ant:': no weight format after ':'"),
        (["--compare", "ant,fp16,ant"], "--compare 'ant,fp16,ant': ant given twice"),
        (["--set", "array.rows=64", "--set", "array.rows=32"],
         "--set array.rows is given twice"),
        (["--set", "array.rows=0"], "array.rows: Input should be greater than 0"),
        (["--set", "pe.nope=1"], "unknown hardware field 'pe.nope' (valid fields:"),
        (["--set", "rows"], "expected FIELD=VALUE"),
        (["--set", "array.rows="], "--set 'array.rows=': no value after '='"),
        (["--set", "buffers.weight.kib=0.001"], "buffers.weight.kib: 0.001 KiB cannot hold"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_cli, tmp_path, gemm_file, args, message):
    code, cap = run_cli("run", str(gemm_file), *args, "--out", str(tmp_path))
    assert code == 2
    err = " ".join(cap.err.split())  # rich wraps long lines
    assert message in err
    assert "Traceback" not in cap.err


def test_a_workloads_unknown_hardware_names_the_file_and_key(run_cli, tmp_path, small_gemms):
    wl = tmp_path / "w.yaml"
    wl.write_text(small_gemms.replace("hardware: bitmod", "hardware: nosuch"), encoding="utf-8")
    code, cap = run_cli("run", str(wl), "--out", str(tmp_path / "o"))
    assert code == 2
    assert f"{wl}: hardware: unknown hardware preset 'nosuch'" in " ".join(cap.err.split())


def test_a_design_compared_with_its_changed_self_gets_a_numbered_name(run_cli, tmp_path,
                                                                       gemm_file):
    # The tables and plots key rows by design name: bitmod with 64 rows against bitmod as
    # stored is bitmod+set and bitmod (before, two rows named bitmod and a plot library
    # error); two YAMLs naming one design are numbered.
    code, cap = run_cli("run", str(gemm_file), "--set", "array.rows=64", "--compare", "bitmod",
                        "--out", str(tmp_path))
    assert code == 0, cap.err
    assert "ERROR" not in cap.out + cap.err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [d["hardware"]["name"] for d in summary["designs"]] == ["bitmod+set", "bitmod"]
    assert summary["designs"][0]["hardware"]["array"]["prefill"] == [64, 32]
    mine = tmp_path / "mine.yaml"
    data = hardware_to_dict(load_hardware("ant"))
    mine.write_text(yaml.safe_dump(data), encoding="utf-8")
    # The same design under another spelling ran twice (ant:ant4 and ANT:ANT4 too).
    for items, same in ((f"ant,{mine}", "'ant'"), ("ant:ant4,ANT:ANT4", "'ant:ant4'"),
                        ("bitmod", "the main design")):
        code, cap = run_cli("run", str(gemm_file), "--compare", items,
                            "--out", str(tmp_path / "same"))
        assert code == 2 and f"the same design as {same}; give each design once" in \
            " ".join(cap.err.split())
    data["array"]["rows"] = 16  # another design of the same name
    mine.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, cap = run_cli("run", str(gemm_file), "--compare", f"ant,{mine}",
                        "--out", str(tmp_path / "two"))
    assert code == 0, cap.err
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert [d["hardware"]["name"] for d in summary["designs"]] == ["bitmod", "ant", "ant#2"]
    # The advice names the design as given, not its numbered name (ant#2:FORMAT failed).
    assert f"write{mine}:FORMATin--compare" in "".join(cap.out.split())


def test_precision_the_pe_cannot_run(run_cli, tmp_path, small_gemms):
    path = tmp_path / "nf4.yaml"
    path.write_text(small_gemms.replace("int4", "nf4"), encoding="utf-8")
    code, cap = run_cli("run", str(path), "--out", str(tmp_path / "o"))
    assert code == 2
    assert "cannot run weights format 'nf4'" in " ".join(cap.err.split())


def test_an_fpga_bitmod_build_refuses_a_kv_cache_outside_its_formats(run_cli, tmp_path):
    # The design point's build runs the formats of pe.weight_formats only: attention's FP16
    # KV cache (the workload default) is refused naming the op, the operand and the set; a
    # KV cache quantized to int8 (one of them) runs.
    preset = (Path(__file__).resolve().parents[2] / "hw" / "fpga" / "presets"
              / "fpga-bitmod-ecp5-25k.yaml")
    formats = ", ".join(load_hardware(str(preset)).pe.weight_formats)
    workload = tmp_path / "w.yaml"
    text = ("model: opt-1.3b\nprompt_tokens: 8\ngenerate_tokens: 2\n"
            "weights: {format: bitmod4, group_size: 128}\n")
    workload.write_text(text, encoding="utf-8")
    code, cap = run_cli("run", str(workload), "--hardware", str(preset),
                        "--out", str(tmp_path / "fp16"))
    assert code == 2
    err = " ".join(cap.err.split())
    assert err == (f"error: {preset}: prefill op 'attn_qk': the bitmod PE (pe.kind) cannot "
                   f"run kv_cache 16-bit width: its build runs {formats} (pe.weight_formats); "
                   "set kv_cache.format to one of them: attention's matmuls run on the PE "
                   "array with the KV cache as their second operand, and no workload key runs "
                   "them elsewhere")
    assert not (tmp_path / "fp16").exists()
    workload.write_text(text + "kv_cache: {format: int8, group_size: 64}\n", encoding="utf-8")
    code, cap = run_cli("run", str(workload), "--hardware", str(preset),
                        "--out", str(tmp_path / "int8"))
    assert code == 0, cap.err
    assert json.loads((tmp_path / "int8" / "summary.json").read_text())["total_cycles"] > 0


def test_default_run_needs_no_arguments(run_cli, tmp_path):
    # The README's main command: bundled Llama-2-7B workload on the embedded bitmod preset.
    code, cap = run_cli("run", "--out", str(tmp_path))
    assert code == 0, cap.err
    summary = json.loads((tmp_path / "summary.json").read_text())
    default = load_workload(example_path(DEFAULT_WORKLOAD))
    assert summary["hardware"]["name"] == (default.hardware or "bitmod")
    assert summary["workload"] == default.name
    # Every decode step is simulated.
    assert summary["stages"]["decode"]["steps"] == default.decode_steps
    # Two token rates, named for what they count (prompt + decode tokens over the whole run;
    # generated tokens over the decode time), both in summary.json and the printed table.
    b = default.batch
    stages = summary["stages"]
    total_s = summary["latency_ms"] / 1e3
    assert summary["throughput_tokens_per_s"] == pytest.approx(
        b * (default.prompt_tokens + default.decode_steps) / total_s)
    assert summary["decode_tokens_per_s"] == pytest.approx(
        b * default.decode_steps / (stages["decode"]["latency_ms"] / 1e3))
    out = " ".join(cap.out.split())
    assert "tok/s all" in out and "tok/s decode" in out


def test_hardware_file_relative_to_the_workload(run_cli, tmp_path, small_gemms):
    # A user's own design as a file, named by the workload relative to its folder.
    data = hardware_to_dict(load_hardware("fp16")) | {"name": "mine"}
    data["array"] = {"rows": 16, "cols": 16}
    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "mine.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    wl = tmp_path / "w.yaml"
    wl.write_text(small_gemms.replace("hardware: bitmod", "hardware: hw/mine.yaml"),
                  encoding="utf-8")
    code, cap = run_cli("run", str(wl), "--out", str(tmp_path / "o"))
    assert code == 0, cap.err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["hardware"]["name"] == "mine"
    assert summary["hardware"]["array"]["prefill"] == [16, 16]


@pytest.mark.parametrize(("out", "message"), [
    ("file", "exists and is not a folder"),
    ("file/sub", "cannot write (Not a directory)"),
])
def test_an_unwritable_out_is_one_line_and_exit_2(run_cli, tmp_path, gemm_file, out, message):
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    code, cap = run_cli("run", str(gemm_file), "--out", str(tmp_path / out))
    assert code == 2
    err = " ".join(cap.err.split())
    assert f"--out {tmp_path / out}: {message}" in err
    assert "Traceback" not in cap.err


def test_a_measured_fpga_design_point_runs_without_warnings(run_cli, tmp_path):
    # FPGA presets model no energy: every energy part is 0, and the plot must still draw
    # (pytest turns matplotlib's "no artists with labels" warning into an error).
    preset = (Path(__file__).resolve().parents[2] / "hw" / "fpga" / "presets"
              / "fpga-int8_mac-ecp5-25k.yaml")
    workload = tmp_path / "w8a8.yaml"
    workload.write_text("gemms: [{name: g1, m: 16, n: 64, k: 128}]\n"
                        "weights: {format: int8}\nactivations: {bits: 8}\n", encoding="utf-8")
    code, cap = run_cli("run", str(workload), "--hardware", str(preset),
                        "--out", str(tmp_path / "fpga"))
    assert code == 0, cap.err
    summary = json.loads((tmp_path / "fpga" / "summary.json").read_text())
    assert summary["total_cycles"] > 0
    # Energy and area are labelled as not modelled: null, never a measured-looking 0.
    assert summary["not_modelled"] == ["energy", "area"]
    assert summary["energy_uj"] is None and summary["area_mm2"] is None
    assert set(summary["energy_breakdown_uj"].values()) == {None}
    # ... nested too: the stages' and the traffic's energies read 0.0.
    def energies(value, under=False):
        if isinstance(value, dict):
            for k, v in value.items():
                yield from energies(v, under or "energy" in k)
        elif under:
            yield value
    assert set(energies(summary["stages"])) == set(energies(summary["traffic"])) == {None}
    out = " ".join(cap.out.split())
    assert "fpga-int8_mac-ecp5-25k: energy and area not modelled (shown as -, not 0" in out
    html = (tmp_path / "fpga" / "report.html").read_text()
    assert "energy and area not modelled" in html
    layers = (tmp_path / "fpga" / "layers.csv").read_text().splitlines()
    energy = layers[0].split(",").index("energy_uj")
    assert all(row.split(",")[energy] == "" for row in layers[1:])
    # Compared with a modelled design, it gets no energy efficiency and no 0 figures.
    code, cap = run_cli("run", str(workload), "--hardware", str(preset),
                        "--compare", "int8-systolic", "--out", str(tmp_path / "both"))
    assert code == 0, cap.err
    rows = json.loads((tmp_path / "both" / "summary.json").read_text())["comparison"]["rows"]
    assert rows[0]["energy_uj"] is None and rows[0]["energy_efficiency"] is None
    assert rows[0]["area_mm2"] is None and rows[1]["area_mm2"] > 0


def table_of(w, machine: str) -> float:
    from hwsim.reports.roofline import load_machine, roofline_report

    table = roofline_report(w, load_machine(machine), plots=False).table
    return float(table[table["kind"] == "vector"]["time_s"].sum())


def test_vector_operators_get_their_roofline_time(run_cli, tmp_path):
    # The 18 vector operators are outside latency and energy (the array runs GEMMs); the run
    # shows them on their own line with the time `hwsim roofline` gives them on the same
    # machine, not a bare count.
    from hwsim.reports.roofline import load_machine, roofline_report

    code, cap = run_cli("run", "--compare", "scalesim-ws", "--out", str(tmp_path))
    assert code == 0, cap.err
    summary = json.loads((tmp_path / "summary.json").read_text())
    w = load_workload(example_path(DEFAULT_WORKLOAD))
    table = roofline_report(w, load_machine("bitmod"), plots=False).table
    vector = table[table["kind"] == "vector"]
    ours = summary["designs"][0]["vector_ops"]
    assert ours["count"] == len(vector) == len(summary["not_simulated"])
    assert ours["roofline_time_s"] == pytest.approx(vector["time_s"].sum())
    # Every hardware preset has a roofline machine, derived from its description.
    ws = table_of(w, "scalesim-ws")
    assert summary["designs"][1]["vector_ops"]["roofline_time_s"] == pytest.approx(ws)
    out = " ".join(cap.out.split())
    assert f"bitmod: {len(vector)} vector operators not on the PE array; roofline time on " \
        "bitmod's vector unit" in out


def test_vector_operators_time_follows_the_hardware_that_ran(run_cli, tmp_path):
    # The vector operators' time comes from the description that ran, overrides included,
    # not from a preset of the same name.
    runs = {}
    for bpc in (32, 8):
        out = tmp_path / f"bpc{bpc}"
        code, cap = run_cli("run", "--set", f"dram.bytes_per_cycle={bpc}", "--out", str(out))
        assert code == 0, cap.err
        runs[bpc] = json.loads((out / "summary.json").read_text())["vector_ops"]
    for bpc, vector in runs.items():
        hw = with_overrides(load_hardware("bitmod"), {"dram.bytes_per_cycle": bpc})
        w = load_workload(example_path(DEFAULT_WORKLOAD))
        ops = [op for op in operators(w) if op.kind != "gemm"]
        expected = analyze(ops, machine_from_hardware(hw))["time_s"].sum()
        assert vector["roofline_time_s"] == pytest.approx(expected)
    assert runs[8]["roofline_time_s"] > runs[32]["roofline_time_s"]


def test_a_memory_level_without_access_energy_is_said_to_cost_nothing(run_cli, tmp_path,
                                                                      gemm_file):
    # Buffers without read_pj/write_pj ran at 0 pJ per access without a word, beside a
    # modelled PE energy; the FPGA builds (nothing modelled) keep their own note alone.
    data = hardware_to_dict(load_hardware("bitmod"))
    for b in ("weight", "activation"):
        for key in ("read_pj", "write_pj", "read_pj_per_bit", "write_pj_per_bit"):
            data["buffers"][b].pop(key, None)
    data["dram"]["energy_pj_per_bit"] = 0
    hw = tmp_path / "free.yaml"
    hw.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, cap = run_cli("run", str(gemm_file), "--hardware", str(hw), "--out",
                        str(tmp_path / "o"))
    assert code == 0, cap.err
    note = ("bitmod: buffers.weight, buffers.activation, dram given no access energy (read_pj/"
            "write_pj, energy_pj_per_bit): their traffic costs 0 pJ in the energy")
    assert note in " ".join(cap.out.split())
    assert note in (tmp_path / "o" / "report.html").read_text()
    code, cap = run_cli("run", str(gemm_file), "--out", str(tmp_path / "p"))
    assert code == 0 and "access energy" not in cap.out


def test_a_part_of_the_energy_below_half_a_percent_is_not_printed_as_0():
    # "0/1/98/0" hid the PE array's 0.40% (and the dequantizers' 0.006%).
    from hwsim.reports.run_report import design_metrics, summary_text_table
    from hwsim.sim import simulate_workload
    from hwsim.workloads import workload_from_dict

    w = workload_from_dict({"gemms": [{"name": "g", "m": 1, "n": 8, "k": 128}],
                            "weights": {"format": "int4", "group_size": 128}})
    result = simulate_workload(w, load_hardware("bitmod"))
    assert 0 < design_metrics(result)["energy_shares"]["pe"] < 0.005
    cell = summary_text_table([result], "t").rows[0][9]
    assert cell.split("/")[0] == "<1" and "0" not in cell.split("/"), cell


def test_a_ratio_near_1_is_not_printed_as_the_baselines_1():
    # A design 0.04% slower than the baseline printed speedup "1", as the baseline itself.
    from hwsim.reports.run_report import comparison_text_table
    from hwsim.sim import simulate_workload
    from hwsim.workloads import workload_from_dict

    w = workload_from_dict({"gemms": [{"name": "g", "m": 64, "n": 96, "k": 256}],
                            "weights": {"format": "int4", "group_size": 128}})
    base = load_hardware("bitmod")
    slower = with_overrides(base, {"clock_mhz": base.clock_mhz / 1.0004})
    results = [simulate_workload(w, slower), simulate_workload(w, base)]
    rows = comparison_text_table(results, 1).rows
    assert rows[0][1] == "0.9996" and rows[1][1] == "1"
    assert rows[0][2] == rows[1][2] == "1"  # the same energy: exactly 1


def test_an_rtl_format_beside_a_numeric_energy_is_said_to_have_no_effect(
        run_cli, tmp_path, one_gemm, rtl_figures_stood_in):
    # pe.rtl.format picks the activity of a derived energy; beside a number it did nothing,
    # silently (a sweep axis over it gave rows differing in their label only).
    wl = tmp_path / "kernels.yaml"
    wl.write_text(one_gemm, encoding="utf-8")
    code, cap = run_cli("run", str(wl), "-H", "bitmod-rtl", "--set",
                        "pe.energy_pj_per_cycle=0.5", "--set", "pe.rtl.format=bitmod3",
                        "--out", str(tmp_path / "o"))
    assert code == 0, cap.err
    assert ("bitmod-rtl: pe.rtl.format bitmod3 has no effect: pe.energy_pj_per_cycle is a "
            "number (0.5 pJ), not `rtl`") in " ".join(cap.out.split())
    code, cap = run_cli("run", str(wl), "-H", "bitmod-rtl", "--set",
                        "pe.energy_pj_per_cycle=0.5", "--out", str(tmp_path / "p"))
    assert code == 0 and "has no effect" not in cap.out


def test_layers_csv_keeps_nine_significant_digits(tmp_path):
    from hwsim.reports.run_report import write_run_outputs
    from hwsim.sim import simulate_workload
    from hwsim.workloads import workload_from_dict

    w = workload_from_dict({"gemms": [{"name": "g", "m": 16, "n": 64, "k": 128}],
                            "weights": {"format": "int4"}})
    r = simulate_workload(w, load_hardware("bitmod"))
    write_run_outputs([r], tmp_path)
    csv = pd.read_csv(tmp_path / "layers.csv")
    # "%.9g" rounds to 9 significant digits: relative error at most 5e-9 (4 digits: 5e-4).
    for col in ("energy_uj", "utilization"):
        assert csv.loc[0, col] == pytest.approx(r.layers.loc[0, col], rel=5e-9, abs=0)


def test_weights_run_other_formats_are_shares_of_all_weights():
    from hwsim.reports.run_report import weights_run
    from hwsim.sim.run import apply_weight_storage
    from hwsim.workloads import resolve_workload_path

    w = load_workload(resolve_workload_path("mixtral-8x7b-chat"))
    hw = load_hardware("ant")
    run = weights_run(w, hw)
    # Each format's bits per weight, from the operands the design runs.
    bits: dict[str, set[float]] = {}
    for op in apply_weight_storage(operators(w), hw):
        if op.kind == "gemm" and op.b_kind == "weight":
            name = op.b_format.name if op.b_format is not None else f"{op.b_bits:g}-bit"
            bits.setdefault(name, set()).add(op.b_bits)
    assert run["format"] == "mxfp4" and set(run["others"]) == {"mxfp8_e4m3", "16-bit"}
    assert all(len(b) == 1 for b in bits.values())
    # Shares of all weights: the main format holds the rest, and the share-weighted mean of
    # the formats' bits is the mean bits per weight (shares of the main format's count,
    # ~3% larger, overshoot it by ~1e-3).
    shares = {run["format"]: 1 - sum(run["others"].values()), **run["others"]}
    mean = sum(s * next(iter(bits[name])) for name, s in shares.items())
    assert mean == pytest.approx(run["bits_per_weight"], rel=1e-9)


def test_report_html_operator_latency_is_cycles_over_the_clock():
    import re

    from hwsim.reports.run_report import run_html, run_summary
    from hwsim.sim import simulate_workload
    from hwsim.workloads import workload_from_dict

    w = workload_from_dict({"gemms": [{"name": "g", "m": 16, "n": 64, "k": 128}],
                            "weights": {"format": "int4"}})
    r = simulate_workload(w, with_overrides(load_hardware("bitmod"), {"clock_mhz": 500.0}))
    page = run_html([r], run_summary([r]), 0)
    start = page.find("<table", page.find("Operators (click"))
    table = page[start:page.find("</table>", start)]
    header = re.findall(r"<th class=[^>]*>(.*?)</th>", table)
    values = re.findall(r'<td data-value="([^"]*)"', table)
    numeric = [h for h in header if h not in ("design", "stage", "operator", "class")]
    row = dict(zip(numeric, map(float, values), strict=True))
    assert row["cycles"] == r.layers.loc[0, "cycles"]
    # 500 MHz: cycles / 500 = us; / 1e3 = ms.
    assert row["latency (ms)"] == pytest.approx(row["cycles"] / 500 / 1e3)
