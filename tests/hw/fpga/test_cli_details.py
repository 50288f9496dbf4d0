"""`hwsim synth` / `fpga` / `fpga-scale` details with the flow replaced by stand-ins: the
seeds each command hands the flow, the verdict it prints, what a rerun may remove, and the
parameter split."""

from __future__ import annotations

import json

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.fpga.flow import Implementation, ResourceUse
from hwsim.hw.fpga.wrapper import WrapperCost


def test_a_dotted_value_is_a_value_not_a_block():
    from hwsim.cli.fpga_cmd import _split_params

    # Only the key may name a block: "weights=fp4.5" is a bad value of bitmod_pe's weights.
    with pytest.raises(HwsimError, match=r"^parameter weights = 'fp4\.5' is not allowed"):
        _split_params(["bitmod_pe"], ["weights=fp4.5"])
    assert _split_params(["int_mac", "dint_mac"], ["int_mac.lanes=2"])["int_mac"]["lanes"] == 2


def test_an_earlier_synth_json_names_only_folders_directly_inside(tmp_path):
    """A synth.json naming "../x" or "a/b" (edited, or not hwsim's) must not lead a rerun to
    remove folders outside its --out."""
    from hwsim.cli.fpga_cmd import _earlier_synth_blocks

    blocks = [{"block": b} for b in ("int_mac", "../elsewhere", "a/b", "/abs", 3)]
    (tmp_path / "synth.json").write_text(json.dumps({"blocks": blocks}))
    assert _earlier_synth_blocks(tmp_path) == {"int_mac"}


def test_a_rerun_removes_only_plain_folders_of_synthesis_files(tmp_path):
    from hwsim.cli.fpga_cmd import _remove_block_folders

    plain, odd, target = tmp_path / "plain", tmp_path / "odd", tmp_path / "target"
    for folder in (plain, odd, target):
        folder.mkdir()
        (folder / "top.v").write_text("module top; endmodule\n")
    (odd / "netlist.json").mkdir()  # a synthesis file's name, but a folder: not ours
    (tmp_path / "link").symlink_to(target)
    _remove_block_folders(tmp_path, {"plain", "odd", "link"})
    assert not plain.exists()
    assert (odd / "top.v").is_file() and (odd / "netlist.json").is_dir()
    assert (tmp_path / "link").is_symlink() and (target / "top.v").is_file()


def test_a_recorded_digest_that_is_no_text_is_no_record(tmp_path):
    from hwsim.cli.fpga_cmd import _recorded_design_point

    (tmp_path / "fpga.json").write_text(json.dumps({"hardware_yaml_sha256": 123}))
    assert _recorded_design_point(tmp_path) is None


def test_the_cones_table_shows_as_many_cones_as_asked(tmp_path):
    from hwsim.cli.fpga_cmd import _cones_table

    cone = {"score_ns": 1.0, "luts": 1, "carries": 0, "max_fanout": 1, "width": 1,
            "end": "q", "start": "d"}
    path = tmp_path / "cones.json"
    path.write_text(json.dumps({"cones": [cone] * 5}))
    assert _cones_table("b", path, 2).row_count == 2


def _impl(fmax: float) -> Implementation:
    return Implementation(
        block="dequant", params={}, device="ice40-up5k", freq_mhz=100.0, dsp=True,
        seeds=(1, 2, 3), resources=(ResourceUse("logic", "ICESTORM_LC", 10, 5280),),
        fmax_mhz={"clk": fmax}, fmax_by_seed_mhz={"clk": (fmax, fmax, fmax)},
        critical_path=None, cells={}, wrapper=WrapperCost(1, 1, 1, 2, 1, 5))


def test_fpga_places_seeds_1_to_n_and_an_fmax_at_the_request_meets_it(
    run_cli, monkeypatch, capsys, tmp_path
):
    seen: dict = {}

    def implement(*args: object, **kwargs: object) -> Implementation:
        seen.update(kwargs)
        return _impl(100.0)

    monkeypatch.setattr("hwsim.hw.fpga.blocks.build_block",
                        lambda name, params: (object(), name, {}))
    monkeypatch.setattr("hwsim.hw.fpga.blocks.implement", implement)
    assert run_cli("fpga", "dequant", "--device", "ice40-up5k", "--seeds", "3",
                   "--out", str(tmp_path)) == 0
    assert seen["seeds"] == (1, 2, 3)
    out = " ".join(capsys.readouterr().out.split())
    assert "clock clk: fmax 100 MHz (meets 100 MHz; seeds: 100, 100, 100;" in out


def test_fpga_scale_places_seeds_1_to_n(run_cli, monkeypatch, tmp_path):
    seen: dict = {}

    def largest_array(*args: object, **kwargs: object) -> None:
        seen.update(kwargs)
        raise HwsimError("stand-in search")

    monkeypatch.setattr("hwsim.hw.fpga.largest_array", largest_array)
    assert run_cli("fpga-scale", "--kind", "bipolar", "--seeds", "2",
                   "--out", str(tmp_path)) == 2
    assert seen["seeds"] == (1, 2)


def test_synth_shows_a_resource_any_block_uses(run_cli, monkeypatch, capsys, tmp_path):
    from hwsim.hw.fpga.flow import SynthResult

    def synth_block(name, values, target, out_dir, *, dsp):
        res = {"logic": 5, "dsp": 1} if name == "int_mac" else {"logic": 7}
        return SynthResult(name, dict(values), target, dsp, {}, res)

    monkeypatch.setattr("hwsim.hw.fpga.synth_block", synth_block)
    assert run_cli("synth", "int_mac", "dint_mac", "--dsp", "--out", str(tmp_path)) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if "block" in line)
    assert [c.strip() for c in header.split("┃")[1:-1]] == ["block", "LUT4", "dsp", "Yosys s"]
