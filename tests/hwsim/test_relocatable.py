"""Reports name hwsim's own files relative to its install folder: no absolute path in them."""

from __future__ import annotations

import json
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


def test_portable_path_names_a_users_file_by_its_name(tmp_path, monkeypatch):
    # An absolute path was recorded as given, and one under the working directory relative
    # to it: the same input gave other bytes from another folder or spelling.
    monkeypatch.chdir(tmp_path)
    from hwsim.hw.presets import PRESET_DIR

    assert portable_path(PRESET_DIR / "bitmod.yaml") == "hw/presets/bitmod.yaml"
    assert portable_path(f"{tmp_path}/mine/hw.yaml with array.rows=8") == \
        "hw.yaml with array.rows=8"
    assert portable_path("/elsewhere/hw.yaml") == "hw.yaml"
    assert portable_path("mine/hw.yaml") == portable_path("hw.yaml") == "hw.yaml"
    assert portable_path("workload: hardware") == "workload: hardware"  # not a file


@pytest.mark.parametrize("command", ["run", "roofline"])
def test_the_same_input_spelled_otherwise_gives_the_same_summary(tmp_path, monkeypatch,
                                                                  command):
    from hwsim.hw.presets import PRESET_DIR

    inputs = tmp_path / "inp"
    inputs.mkdir()
    (inputs / "myhw.yaml").write_bytes((PRESET_DIR / "bitmod.yaml").read_bytes())
    (inputs / "wl.yaml").write_text("gemms: [{name: g, m: 16, n: 64, k: 128}]\n"
                                    "weights: {format: int4, group_size: 128}\n"
                                    "hardware: myhw.yaml\n", encoding="utf-8")
    summaries = []
    for cwd, workload in ((tmp_path, inputs / "wl.yaml"), (inputs, Path("wl.yaml")),
                          (tmp_path, Path("inp/wl.yaml"))):
        monkeypatch.chdir(cwd)
        out = tmp_path / f"out{len(summaries)}"
        monkeypatch.setattr(sys, "argv", ["hwsim", command, str(workload), "--no-plots"
                                          if command == "roofline" else "--figure-format=svg",
                                          "--out", str(out)])
        with pytest.raises(SystemExit) as info:
            main()
        assert info.value.code in (0, None)
        summaries.append(json.loads((out / "summary.json").read_text()))
    for summary in summaries:
        summary.pop("files", None)  # the figures' bytes are checked elsewhere
    assert summaries[0] == summaries[1] == summaries[2]
    assert str(tmp_path) not in json.dumps(summaries[0])
