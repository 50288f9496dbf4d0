"""`hwsim roofline` end to end: files on success; one line and exit code 2 on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hwsim.cli import main


def _hwsim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hwsim", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def test_roofline_writes_the_contract_files(tmp_path: Path) -> None:
    wl = tmp_path / "w.yaml"
    wl.write_text("model: phi-2\nprompt_tokens: 64\ngenerate_tokens: 4\n"
                  "weights: {format: int8, group_size: 128}\n")
    # Plots are covered in-process (test_roofline.py); here the real console script path.
    res = _hwsim("roofline", str(wl), "--hardware", "rtx4090", "--out", "out", "--no-plots",
                 cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for f in ("roofline.csv", "roofline.md", "summary.json"):
        assert (tmp_path / "out" / f).is_file()
    assert "prefill" in res.stdout and "decode" in res.stdout and "TTFT" in res.stdout


def test_bad_input_from_the_console_script_has_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text("model: llama-2-7b\nprompt_tokens: -4\n")
    res = _hwsim("roofline", "w.yaml", "--no-plots", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "prompt_tokens: Input should be greater than 0" in " ".join(res.stderr.split())


@pytest.mark.parametrize(
    ("yaml_text", "args", "expected"),
    [
        ("model: llama-2-7b\nprompt_tokens: [1,\n", (), "malformed YAML"),
        ("model: llama-9b\nprompt_tokens: 8\ngenerate_tokens: 2\n", (), "unknown model"),
        ("model: llama-2-7b\nprompt_tokens: 0\ngenerate_tokens: -1\n", (),
         "prompt_tokens: Input should be greater than 0"),
        ("model: cfg/config.json\nprompt_tokens: 8\ngenerate_tokens: 2\n", (),
         "unsupported architecture 'bert'"),
        ("model: llama-2-7b\nprompt_tokens: 8\ngenerate_tokens: 2\n", ("--hardware", "a100"),
         "unknown machine preset 'a100'"),
        ("model: llama-2-7b\nprompt_tokens: 8\ngenerate_tokens: 2\n", ("--figure-format", "svg"),
         "--figure-format chooses the figures' files: leave it out with --no-plots"),
    ],
)
def test_bad_input_is_one_message_and_exit_2(tmp_path: Path, yaml_text: str,
                                             args: tuple[str, ...], expected: str,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text('{"model_type": "bert", "hidden_size": 8}')
    (tmp_path / "w.yaml").write_text(yaml_text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["hwsim", "roofline", "w.yaml", "--hardware", "a100-40g",
                                      *args, "--no-plots"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    # The CLI prints one message; the console may wrap it to the terminal width.
    err = capsys.readouterr().err
    text = " ".join(err.split())
    assert text.startswith("error: ") and text.count("error:") == 1, err
    assert expected in text and "Traceback" not in text


@pytest.mark.parametrize(("out", "message"), [
    ("file", "exists and is not a folder"),
    ("file/sub", "cannot write (Not a directory)"),
])
def test_an_unwritable_out_is_one_line_and_exit_2(tmp_path: Path, out: str, message: str,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "w.yaml").write_text("model: phi-2\nprompt_tokens: 8\ngenerate_tokens: 2\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["hwsim", "roofline", "w.yaml", "--hardware", "rtx4090",
                                      "--out", out, "--no-plots"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    text = " ".join(capsys.readouterr().err.split())
    assert f"--out {out}: {message}" in text and "Traceback" not in text


def test_figures_in_svg_and_pdf_name_workload_format_and_machine(tmp_path: Path) -> None:
    from hwsim.reports.roofline import load_machine, roofline_report
    from hwsim.workloads import load_workload

    wl = tmp_path / "w.yaml"
    wl.write_text("model: phi-2\nprompt_tokens: 64\ngenerate_tokens: 4\n"
                  "weights: {format: int8, group_size: 128}\n")
    rep = roofline_report(load_workload(wl), load_machine("rtx4090"), tmp_path / "o",
                          figure_formats=("svg", "pdf"))
    assert rep.files["roofline_svg"] == tmp_path / "o" / "roofline.svg"
    assert sorted(p.name for p in (tmp_path / "o").glob("*.*") if p.suffix != ".csv") == [
        "latency_breakdown.pdf", "latency_breakdown.svg", "report.html", "roofline.md",
        "roofline.pdf", "roofline.svg", "summary.json"]
    svg = (tmp_path / "o" / "roofline.svg").read_text()
    assert "roofline: w (int8 weights) on rtx4090" in svg
    # Engineering units on the performance axis instead of a bare 1e12 offset.
    assert "TFLOP/s" in svg and "1e12" not in svg


def test_roofline_on_a_cores_yaml_says_its_bytes_are_the_cores_storage(run_cli,
                                                                       tmp_path: Path) -> None:
    from hwsim.hw.fpga.design_point import write_hardware_yaml
    from hwsim.hw.rtl.core_config import CoreConfig
    from hwsim.hw.rtl.core_layout import core_hardware

    core = CoreConfig(rows=2, cols=2, lanes=2, group_size=8, k_max=64)
    hw = write_hardware_yaml(core_hardware(core), tmp_path / "core.yaml")
    wl = tmp_path / "w.yaml"
    wl.write_text("gemms:\n  - {name: g, m: 4, n: 4, k: 16}\nactivations: {bits: 16}\n"
                  "weights: {format: bitmod4, group_size: 8}\n")
    code, captured = run_cli("roofline", str(wl), "--hardware", str(hw), "--out",
                             str(tmp_path / "out"), "--no-plots")
    assert code == 0, captured.err
    assert ("accel_core: GEMM bytes as the RTL core stores them: 4-bit code slots and a "
            "16-bit scale per group of 8, FP16 activations, 64-bit output words") in \
        " ".join(captured.out.split())


def _files_after(run_cli, out: Path, *args: str) -> set[str]:
    """The names in `out` after a successful ``hwsim *args --out out``."""
    code, cap = run_cli(*args, "--out", str(out))
    assert code == 0, cap.err
    return {p.name for p in out.iterdir()}


def test_a_rerun_removes_only_the_figures_its_own_earlier_run_wrote(run_cli, tmp_path: Path,
                                                                    small_gemms: str) -> None:
    # --no-plots or another --figure-format kept the earlier roofline.png beside new results.
    wl = tmp_path / "g.yaml"
    wl.write_text(small_gemms)
    out = tmp_path / "o"

    def hwsim(command: str, *args: str) -> set[str]:
        return _files_after(run_cli, out, command, str(wl), *args)

    tables = {"roofline.csv", "roofline.md", "summary.json", "report.html"}
    assert hwsim("roofline", "-H", "a100-80g", "--figure-format", "png,svg") == tables | {
        "roofline.png", "roofline.svg", "latency_breakdown.png", "latency_breakdown.svg"}
    (out / "roofline.pdf").write_text("mine")  # named like a figure no roofline wrote there
    assert hwsim("roofline", "-H", "a100-80g") == tables | {
        "roofline.png", "latency_breakdown.png", "roofline.pdf"}
    assert hwsim("roofline", "-H", "a100-80g", "--no-plots") == tables | {"roofline.pdf"}
    # Only the files a roofline wrote: `hwsim run`'s figures stay, and roofline's for the run.
    run_files = hwsim("run")
    assert {"roofline.csv", "roofline.md", "energy_breakdown.png"} <= run_files
    assert "energy_breakdown.png" in hwsim("roofline", "-H", "a100-80g", "--no-plots")
    assert "roofline.csv" in hwsim("run", "--figure-format", "svg")


def test_a_served_roofline_and_a_workloads_replace_each_others_files(run_cli, tmp_path: Path,
                                                                    small_gemms: str) -> None:
    # A served trace's roofline recorded itself as `hwsim run`'s: a roofline of a workload
    # into its folder left requests.csv, steps.csv and serving.png beside its results.
    wl = tmp_path / "g.yaml"
    wl.write_text(small_gemms)
    out = tmp_path / "o"

    def hwsim(*args: str) -> set[str]:
        return _files_after(run_cli, out, "roofline", *args)

    served = hwsim("llama-2-7b-served-trace")
    assert {"requests.csv", "steps.csv", "serving.png"} <= served
    plain = hwsim(str(wl), "-H", "a100-80g")
    assert not {"requests.csv", "steps.csv", "serving.png"} & plain
    assert not {"roofline.csv", "roofline.md", "roofline.png"} & hwsim("llama-2-7b-served-trace")
