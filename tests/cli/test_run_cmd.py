"""`hwsim run`: the workload's hardware key and the WORKLOAD argument, refused when empty."""

from __future__ import annotations

from pathlib import Path

import pytest

WORKLOAD = "model: opt-1.3b\nprompt_tokens: 4\ngenerate_tokens: 2\n"


def test_an_empty_hardware_key_is_an_error_not_the_default(run_cli, capsys,
                                                           tmp_path: Path) -> None:
    # `hardware: ""` ran the default design (bitmod) as if the key were absent.
    w = tmp_path / "w.yaml"
    w.write_text(WORKLOAD + 'hardware: ""\n')
    assert run_cli("run", str(w), "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {w}: hardware: empty; give a hardware preset or a hardware YAML, "
                   "or leave the key out")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["run", "roofline"])
def test_an_empty_workload_argument_is_refused(run_cli, capsys, tmp_path: Path,
                                               command: str) -> None:
    # It must not run the bundled example, which leaving the argument out does.
    assert run_cli(command, "", "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: workload '': empty; give a workload YAML") and "\n" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["run", "roofline"])
def test_an_output_folder_holding_the_trace_is_refused_before_writing(run_cli, capsys,
                                                                      tmp_path: Path,
                                                                      command: str) -> None:
    # A trace named requests.csv beside its workload, --out that folder: the run's own
    # requests.csv overwrote the input.
    trace = "arrival_s,prompt_tokens,generate_tokens\n0.0,8,2\n0.001,4,3\n"
    (tmp_path / "requests.csv").write_text(trace)
    w = tmp_path / "w.yaml"
    w.write_text("model: opt-1.3b\nrequests: requests.csv\nhardware: bitmod\n")
    extra = ["--hardware", "a100-80g"] if command == "roofline" else []
    assert run_cli(command, str(w), *extra, "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: --out {tmp_path}: writing requests.csv would overwrite the input "
                   f"{tmp_path / 'requests.csv'}; choose another output folder")
    assert (tmp_path / "requests.csv").read_text() == trace
    assert sorted(p.name for p in tmp_path.iterdir()) == ["requests.csv", "w.yaml"]
    # Another folder: written as before.
    assert run_cli(command, str(w), *extra, "--out", str(tmp_path / "o")) == 0
    assert (tmp_path / "o" / "requests.csv").read_text() != trace
