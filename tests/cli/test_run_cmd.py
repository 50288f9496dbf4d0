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
