"""Reports name hwsim's own files relative to its install folder: no absolute path in them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hwsim.cli import main
from hwsim.files import portable_path


@pytest.mark.parametrize("command", [["run", "gemm-kernels"], ["roofline", "gemm-kernels"]])
def test_summaries_hold_no_absolute_path(tmp_path, monkeypatch, command):
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["hwsim", *command, "--out", str(out)])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code in (0, None)
    root = str(Path(__file__).resolve().parents[2])
    for path in out.glob("*.json"):
        text = path.read_text()
        assert root not in text and str(tmp_path) not in text, path.name


def test_portable_path_keeps_paths_outside_hwsim_and_the_working_directory(tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    from hwsim.hw.presets import PRESET_DIR

    assert portable_path(PRESET_DIR / "bitmod.yaml") == "hw/presets/bitmod.yaml"
    assert portable_path(f"{tmp_path}/mine/hw.yaml with array.rows=8") == \
        "mine/hw.yaml with array.rows=8"
    assert portable_path("/elsewhere/hw.yaml") == "/elsewhere/hw.yaml"
