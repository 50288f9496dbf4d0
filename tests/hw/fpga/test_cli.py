"""`hwsim synth`, `hwsim fpga`, `hwsim fpga-scale`: bad input is one line and exit 2, checked
before any tool runs (these tests take well under a second each)."""

from __future__ import annotations

import hashlib
import json

import pytest

from hwsim.errors import HwsimError


@pytest.mark.parametrize(("args", "message"), [
    (["fpga", "int_mac", "--device", "ecp5-12k"], "unknown device 'ecp5-12k'"),
    (["fpga", "int_mac", "--device", "ecp5-25k", "--freq", "0"],
     "--freq must be a clock in MHz from 0.001 (1 kHz) to 100,000 (100 GHz), not 0.0"),
    (["fpga", "int_mac", "--device", "ecp5-25k", "--freq", "-5"], "from 0.001 (1 kHz)"),
    (["fpga", "int_mac", "--device", "ecp5-25k", "--freq", "nan"], "from 0.001 (1 kHz)"),
    # nextpnr failed on it "with no error line", after synthesis.
    (["fpga", "int_mac", "--device", "ecp5-25k", "--freq", "1e300"], "to 100,000 (100 GHz)"),
    # Refused only after place and route, when the design point was written.
    (["fpga", "int_mac", "--device", "ice40-up5k", "--memory", "1e9"],
     "board memory bandwidth must be from 1e-06 GB/s (1 kB/s) to 1,000,000 GB/s (1 PB/s), "
     "not 1000000000.0"),
    (["fpga-scale", "--memory", "1e9"], "to 1,000,000 GB/s (1 PB/s)"),
    (["fpga", "no_such_pe", "--device", "ecp5-25k"], "unknown RTL block 'no_such_pe'"),
    (["fpga", "int_mac", "-p", "lanez=2", "--device", "ice40-up5k"],
     "block int_mac has no parameter 'lanez'; its parameters: lanes"),
    (["fpga", "int_mac", "-p", "lanes=0", "--device", "ice40-up5k"],
     "parameter lanes = 0 is not allowed; allowed: integers 1..64"),
    (["fpga", "int_mac", "-p", "lanes", "--device", "ice40-up5k"], "key=value"),
    (["fpga", "int_mac", "--device", "ice40-up5k", "--memory", "hbm9"],
     "unknown board memory 'hbm9'"),
    (["fpga", "int_mac", "--device", "ecp5-25k", "--timeout", "0"],
     "Invalid value for '--timeout'"),
    (["fpga-scale", "--timeout", "0"], "Invalid value for '--timeout'"),
    (["fpga-scale", "--max-logic", "0"], "Invalid value for '--max-logic'"),
    (["fpga-scale", "--max-logic", "101"], "Invalid value for '--max-logic'"),
    (["fpga-scale", "--jobs", "-1"], "Invalid value for '--jobs'"),
    (["synth", "int_mac", "--target", "xilinx"], "unknown --target 'xilinx'; allowed: ice40"),
    (["synth", "int_mac", "dint_mac", "-p", "lanes=2"], "with several blocks write block.key"),
    (["synth", "int_mac", "-p", "bipolar_pe.lanes=2"], "names block 'bipolar_pe', which is not"),
    (["synth", "int_mac", "int_mac"], "block int_mac given twice; give each block once"),
    (["fpga-scale", "--kind", "fp16_mac"], "unknown --kind 'fp16_mac'; allowed: bitmod, int8"),
    # The study ran a kind given twice twice; a generic target dropped --dsp without a word.
    (["fpga-scale", "-k", "bitmod", "-k", "int8_mac", "-k", "bitmod"], "--kind bitmod given twice"),
    (["synth", "int_mac", "--target", "generic", "--dsp"], "--dsp needs a device target"),
    (["synth", "int_mac", "--cones", "5"], "--cones needs --target ecp5"),
    (["synth", "int_mac", "-t", "ecp5", "--cones", "31"], "--cones 31: at most 30"),
    (["synth", "int_mac", "-t", "ecp5", "--cones", "-1"], "Invalid value for '--cones'"),
    (["fpga", "int_mac", "--device", "ice40-up5k", "--cones", "3"],
     "--cones needs an ECP5 device"),
    (["fpga", "int_mac", "--device", "ecp5-25k", "--cones", "40"], "--cones 40: at most 30"),
    (["fpga-scale", "--device", "ice40-lp1k"], "unknown device 'ice40-lp1k'"),
    (["fpga", "int_mac", "--device", "ecp5-25k", "--placer", "sa"],
     "unknown placer 'sa'; allowed: heap, static, heap-no-tmdriv"),
    (["fpga-scale", "--placer", "HEAP"],
     "unknown placer 'HEAP'; allowed: heap, static, heap-no-tmdriv"),
    (["fpga", "int_mac", "--device", "ecp5-85k", "--speed", "9"],
     "speed grade 9 is not offered for ecp5-85k; allowed: 6, 7, 8"),
    (["fpga", "int_mac", "--device", "ice40-up5k", "--speed", "6"],
     "ice40-up5k has no speed grades"),
    (["fpga-scale", "--device", "ice40-hx8k", "--speed", "8"], "ice40-hx8k has no speed grades"),
    (["fpga-scale", "--speed", "5"], "speed grade 5 is not offered for ecp5-25k"),
    # A combination of a later block's parameters was refused after the earlier blocks'
    # synthesis (their netlists written), and a single block's left an empty folder.
    (["synth", "int_mac", "fp16_int_mac", "-p", "fp16_int_mac.accumulator=fp16",
      "-p", "fp16_int_mac.lanes=2"], "parameter accumulator = 'fp16' needs lanes = 1"),
    (["synth", "bitmod_pe", "-p", "loop=decoded"], "parameter loop = 'decoded' needs "
                                                   "accumulator = 'bitmod'"),
    (["fpga", "accel_core", "-p", "rows=1", "-p", "cols=1", "-p", "lanes=1", "--device",
      "ecp5-25k"], "is not a whole number of 8-bit bus beats"),
])
def test_bad_input_is_one_line_and_exit_2(run_cli, capsys, tmp_path, args, message):
    assert run_cli(*args, "--out", str(tmp_path / "out")) == 2
    err = " ".join(capsys.readouterr().err.split())  # the console may wrap long lines
    assert err.startswith("error:") and message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


def test_commands_are_listed(run_cli, capsys):
    assert run_cli("--help") == 0
    out = capsys.readouterr().out
    for name in ("synth", "fpga", "fpga-scale"):
        assert f" {name} " in out


@pytest.mark.parametrize("command", [["synth", "int_mac", "--target", "ice40"],
                                     ["fpga", "int_mac", "--device", "ecp5-25k"],
                                     ["fpga-scale", "--device", "ecp5-25k"]])
def test_an_unwritable_out_fails_before_any_tool_runs(run_cli, capsys, tmp_path, command):
    afile = tmp_path / "afile"
    afile.write_text("", encoding="utf-8")
    for out, message in (("/dev/null/x", "cannot write"), (str(afile), "is not a folder")):
        assert run_cli(*command, "--out", out) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert err.startswith(f"error: --out {out}") and message in err


def test_fpga_passes_its_timeout_and_jobs_to_the_flow(run_cli, monkeypatch, tmp_path):
    # Stand-ins for the block and the flow record the limit the flow is given (no tool runs;
    # no Amaranth component is built, which would warn when never elaborated).
    seen: dict = {}

    def implement(*args: object, **kwargs: object) -> None:
        seen.update(kwargs)
        raise HwsimError("stand-in flow")

    monkeypatch.setattr("hwsim.hw.fpga.blocks.build_block",
                        lambda name, params: (object(), name, {}))
    monkeypatch.setattr("hwsim.hw.fpga.blocks.implement", implement)
    base = ("fpga", "int_mac", "--device", "ecp5-25k", "--out", str(tmp_path / "out"))
    assert run_cli(*base) == 2 and seen["timeout_s"] == 60 * 60
    assert run_cli(*base, "--timeout", "150") == 2 and seen["timeout_s"] == 150 * 60
    assert seen["jobs"] is None  # one nextpnr per core
    assert run_cli(*base, "--jobs", "1") == 2 and seen["jobs"] == 1


def test_fpga_and_fpga_scale_pass_their_placer(run_cli, monkeypatch, tmp_path):
    # Stand-ins record the placer each command hands the flow (no tool runs): nextpnr's own
    # by default, the one asked for otherwise.
    seen: dict = {}

    def record(*args: object, **kwargs: object) -> None:
        seen.update(kwargs)
        raise HwsimError("stand-in flow")

    monkeypatch.setattr("hwsim.hw.fpga.blocks.build_block",
                        lambda name, params: (object(), name, {}))
    monkeypatch.setattr("hwsim.hw.fpga.blocks.implement", record)
    monkeypatch.setattr("hwsim.hw.fpga.largest_array", record)
    for base in (("fpga", "int_mac", "--device", "ecp5-25k"), ("fpga-scale", "--kind", "bitmod")):
        out = ("--out", str(tmp_path / "out"))
        assert run_cli(*base, *out) == 2 and seen.pop("placer") == "heap"
        assert run_cli(*base, *out, "--placer", "static") == 2
        assert seen.pop("placer") == "static"
        # Likewise the speed grade: the device's default unless one is asked for.
        assert seen.pop("speed") is None
        assert run_cli(*base, *out, "--speed", "8") == 2 and seen.pop("speed") == 8


def test_fpga_scale_requests_the_presets_clock_and_passes_its_logic_ceiling(
    run_cli, monkeypatch, tmp_path
):
    # The stored presets were measured at the study's request (their README says which); the
    # command's default is the same, so it reproduces them. A stand-in search records what it
    # is given (no tool runs).
    from pathlib import Path

    from hwsim.hw.fpga.scaling import STUDY_FREQ_MHZ

    readme = Path(__file__).parents[3] / "hw" / "fpga" / "presets" / "README.md"
    assert f"requested {STUDY_FREQ_MHZ:g} MHz" in " ".join(readme.read_text().split())
    seen: dict = {}

    def largest_array(*args: object, **kwargs: object) -> None:
        seen.update(kwargs)
        kwargs["progress"]("seed 1: placing")  # the status line takes the flow's stages
        kwargs["log"]("bipolar 1x1 on ecp5-25k: fits")  # and the search's steps
        raise HwsimError("stand-in search")

    monkeypatch.setattr("hwsim.hw.fpga.largest_array", largest_array)
    base = ("fpga-scale", "--kind", "bipolar", "--out", str(tmp_path / "out"))
    assert run_cli(*base) == 2
    assert seen["freq_mhz"] == STUDY_FREQ_MHZ and seen["max_logic"] == 1.0
    assert run_cli(*base, "--max-logic", "90", "--freq", "100") == 2
    assert seen["freq_mhz"] == 100.0 and seen["max_logic"] == 0.9
    assert seen["jobs"] is None  # one nextpnr per core, as `hwsim fpga`
    assert run_cli(*base, "--jobs", "1") == 2 and seen["jobs"] == 1


def test_a_block_without_a_design_point_removes_an_earlier_runs_hardware_yaml(tmp_path):
    # int_mac then dequant into one folder: int_mac's hardware.yaml ("Measured FPGA build:
    # int_mac ... 279.41 MHz") stayed beside dequant's fpga.json. Only the bytes the earlier
    # run recorded in its fpga.json are removed: an edited or a user's file stays.
    from hwsim.cli.fpga_cmd import (
        _record_design_point,
        _recorded_design_point,
        _remove_earlier_design_point,
    )

    path = tmp_path / "hardware.yaml"
    (tmp_path / "fpga.json").write_text('{"block": "int_mac"}\n')
    path.write_text("# Measured FPGA build: int_mac 1x1.\nname: x\n")
    _record_design_point(tmp_path, path)
    recorded = _recorded_design_point(tmp_path)
    assert recorded == hashlib.sha256(path.read_bytes()).hexdigest()
    assert json.loads((tmp_path / "fpga.json").read_text())["block"] == "int_mac"
    path.write_text("# Measured FPGA build: int_mac 1x1.\nname: edited\n")
    _remove_earlier_design_point(tmp_path, recorded)
    assert path.exists()
    _record_design_point(tmp_path, path)
    _remove_earlier_design_point(tmp_path, _recorded_design_point(tmp_path))
    assert not path.exists()
    _remove_earlier_design_point(tmp_path, None)  # nothing recorded, nothing there
    assert _recorded_design_point(tmp_path / "missing") is None


def test_a_kind_that_fails_keeps_the_kinds_that_were_placed(run_cli, capsys, tmp_path,
                                                           monkeypatch):
    """`-k dint_mac -k int8_mac` with nothing of int8_mac under the ceiling threw away the
    dint_mac array placed before it: no scaling.json, no design point. The placed kinds are
    written, and the failed one is named (exit 2)."""
    from hwsim.hw import fpga

    from .test_scaling import _point

    def largest_array(kind, device, out, **kw):
        if kind == "int8_mac":
            raise HwsimError(f"not even one int8_mac PE fits {device}: above the ceiling")
        return _point(kind, device, True)

    monkeypatch.setattr(fpga, "largest_array", largest_array)
    out = tmp_path / "out"
    assert run_cli("fpga-scale", "-k", "dint_mac", "-k", "int8_mac", "--out", str(out)) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err == ("error: results written for dint_mac, not for int8_mac: not even one "
                   "int8_mac PE fits ecp5-25k: above the ceiling")
    saved = json.loads((out / "scaling.json").read_text())
    assert [p["kind"] for p in saved["points"]] == ["dint_mac"]
    assert (out / "fpga-dint_mac-ecp5-25k.yaml").exists()
    # Every kind failing is the one error, nothing written.
    assert run_cli("fpga-scale", "-k", "int8_mac", "--out", str(tmp_path / "none")) == 2
    assert "not even one int8_mac PE fits" in capsys.readouterr().err
    assert not (tmp_path / "none" / "scaling.json").exists()
