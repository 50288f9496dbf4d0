"""`hwsim roofline`: errors about the machine name where it came from, as `hwsim run` does."""

from __future__ import annotations

from pathlib import Path

import pytest

WORKLOAD = "model: opt-1.3b\nprompt_tokens: 4\ngenerate_tokens: 2\n"


@pytest.mark.parametrize(("hardware", "expected"), [
    # Both said only "unknown machine preset ...", without the file or the key.
    ('""', "hardware: empty; give a hardware preset or a hardware YAML, or leave the key out"),
    ("nosuch", "hardware: unknown machine preset 'nosuch'; presets: a100-40g,"),
])
def test_the_workload_s_machine_errors_name_the_file_and_key(run_cli, capsys, tmp_path: Path,
                                                             hardware: str,
                                                             expected: str) -> None:
    w = tmp_path / "w.yaml"
    w.write_text(WORKLOAD + f"hardware: {hardware}\n")
    assert run_cli("roofline", str(w), "--out", str(tmp_path / "o"), "--no-plots") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {w}: {expected}") and "\n" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("value", "expected"), [
    ("", "--hardware: empty; give a machine preset or a machine YAML"),
    ("nosuch", "--hardware: unknown machine preset 'nosuch'"),
])
def test_the_option_s_machine_errors_name_the_option(run_cli, capsys, tmp_path: Path,
                                                     value: str, expected: str) -> None:
    w = tmp_path / "w.yaml"
    w.write_text(WORKLOAD + "hardware: a100-40g\n")
    assert run_cli("roofline", str(w), "-H", value, "--out", str(tmp_path / "o")) == 2
    assert capsys.readouterr().err.strip().startswith(f"error: {expected}")
