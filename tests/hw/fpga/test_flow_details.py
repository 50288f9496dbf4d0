"""The flow's bookkeeping around the tools, with the tools replaced: `implement` and
`check_fit` on canned nextpnr output (the stored logs, small report JSON), `_run_yosys`'s
reuse rule, the command line, and the arithmetic of results."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.fpga import flow
from hwsim.hw.fpga.devices import get_device
from hwsim.hw.fpga.reports import Shortfall
from hwsim.hw.fpga.tools import ToolRun, ToolTimeout
from hwsim.hw.fpga.wrapper import WrapperCost

_CLK = "clk$SB_IO_IN_$glb_clk"


def _report(seed: int, fmax: dict[str, float]) -> dict:
    """A nextpnr-ice40 report whose LC count and path end name the seed."""
    path = [{"type": "clk-to-q", "delay": 1.0, "from": {"cell": "a", "port": "O"},
             "to": {"cell": "a", "port": "O"}},
            {"type": "logic", "delay": 2.0, "from": {"cell": "a", "port": "O"},
             "to": {"cell": f"s{seed}", "port": "I0"}}]
    return {
        "utilization": {"ICESTORM_LC": {"used": 100 + seed, "available": 5280},
                        "SB_IO": {"used": 5, "available": 96}},
        "fmax": {f"{c}$SB_IO_IN_$glb_clk": {"achieved": f, "constraint": 50}
                 for c, f in fmax.items()},
        "critical_paths": [{"from": f"posedge {_CLK}", "to": f"posedge {_CLK}", "path": path}],
    }


def _fake_tools(monkeypatch, cells: dict[str, int], runs: dict) -> list[list[str]]:
    """Yosys replaced by ``cells``; each seed's nextpnr by ``runs[seed]``: fmax per clock (it
    routes), "timeout", or ``(returncode, log text)``. Returns the nextpnr command lines."""
    calls: list[list[str]] = []

    def synth(block, dev, out, dsp, io_width, timeout_s):
        return SimpleNamespace(cost=WrapperCost(1, 1, 1, 2, 1, 5)), dict(cells), {"yosys": 1.0}

    def run_tool(tool: str, args: list[str], workdir: Path, *, timeout_s: float) -> ToolRun:
        calls.append(args)
        what = runs[int(args[args.index("--seed") + 1])] if "--seed" in args else runs["pack"]
        if what == "timeout":
            raise ToolTimeout(tool, timeout_s, workdir)
        if isinstance(what, tuple):
            return ToolRun(tool, tuple(args), what[0], 0.5, what[1])
        seed = int(args[args.index("--seed") + 1])
        (workdir / args[args.index("--report") + 1]).write_text(json.dumps(_report(seed, what)))
        return ToolRun(tool, tuple(args), 0, 0.5, "Info: Program finished normally.\n")

    monkeypatch.setattr(flow, "_synth_for_device", synth)
    monkeypatch.setattr(flow, "run_tool", run_tool)
    return calls


def test_the_build_is_the_median_seeds_placement(monkeypatch, tmp_path):
    """Utilization and critical path come from the median seed's report (seed 3: 70 MHz of
    60/80/70), not the first seed's."""
    _fake_tools(monkeypatch, {"SB_LUT4": 90}, {1: {"clk": 60.0}, 2: {"clk": 80.0},
                                               3: {"clk": 70.0}})
    impl = flow.implement(object(), "ice40-up5k", tmp_path, seeds=(1, 2, 3))
    assert impl.fmax_mhz == {"clk": 70.0}
    assert impl.resource("logic").used == 103
    assert impl.critical_path is not None and impl.critical_path.end == "s3.I0"
    assert impl.critical_path.delay_ns == 3.0 and impl.critical_path.logic_levels == 1


def test_a_device_without_dsps_records_a_lut_only_build(monkeypatch, tmp_path):
    _fake_tools(monkeypatch, {"SB_LUT4": 90}, {1: {"clk": 60.0}})
    assert flow.implement(object(), "ice40-hx8k", tmp_path, dsp=True).dsp is False
    assert flow.implement(object(), "ice40-up5k", tmp_path, dsp=True).dsp is True


def test_dsps_on_a_device_without_them_do_not_fit(monkeypatch, tmp_path, data):
    """The HX8K's table lists no DSP at all: how many are needed comes from Yosys' 4 SB_MAC16."""
    log = (data / "ice40_hx8k_dsp_nofit_nextpnr.log").read_text()
    _fake_tools(monkeypatch, {"SB_LUT4": 90, "SB_MAC16": 4}, {1: (1, log), "pack": (1, log)})
    with pytest.raises(flow.DoesNotFit) as err:
        flow.implement(object(), "ice40-hx8k", tmp_path)
    assert err.value.shortfalls == (Shortfall("ICESTORM_DSP", 4, 0),)
    fit = flow.check_fit(object(), "ice40-hx8k", tmp_path / "fit")
    assert not fit.fits and fit.shortfalls == (Shortfall("ICESTORM_DSP", 4, 0),)


def test_a_failed_pack_with_nothing_short_is_an_error_naming_the_log(monkeypatch, tmp_path):
    _fake_tools(monkeypatch, {"SB_LUT4": 90},
                {"pack": (1, "Info: Packing\nERROR: something else went wrong\n")})
    with pytest.raises(HwsimError, match=r"nextpnr failed on ice40-up5k: ERROR: something "
                                         r"else went wrong \(log: .*pack\.log\)"):
        flow.check_fit(object(), "ice40-up5k", tmp_path)


def test_too_few_seeds_routed_names_each_seeds_slowest_clock(monkeypatch, tmp_path):
    _fake_tools(monkeypatch, {"SB_LUT4": 90}, {1: {"clk": 80.0, "io": 120.0}, 2: "timeout"})
    with pytest.raises(HwsimError, match=r"too few seeds routed for a median \(seed 1: 80 MHz; "
                                         r"seed 2: placement did not finish in 60 s;"):
        flow.implement(object(), "ice40-up5k", tmp_path, seeds=(1, 2), timeout_s=60.0)


def test_median_fmax_is_rounded_to_10_khz():
    # Two seeds: the mean of the middle two, 74.12 and 74.77, is 74.445: kept to 0.01 MHz
    # like each seed's figure, not to the float arithmetic's last digit.
    _by_seed, fmax, _seed = flow.median_over_seeds((1, 2), {1: {"clk": 74.12},
                                                            2: {"clk": 74.77}})
    assert fmax["clk"] in (74.44, 74.45)


def test_a_clock_exactly_at_the_request_passes_and_percent_without_units_is_zero():
    from hwsim.hw.fpga.flow import Implementation, ResourceUse

    impl = Implementation(
        block="int_mac", params={}, device="ice40-hx8k", freq_mhz=50.0, dsp=False, seeds=(1,),
        resources=(ResourceUse("dsp", "ICESTORM_DSP", 2, 0),),
        fmax_mhz={"clk": 50.0, "io": 49.99}, fmax_by_seed_mhz={"clk": (50.0,), "io": (49.99,)},
        critical_path=None, cells={}, wrapper=WrapperCost(1, 1, 1, 2, 1, 5))
    out = impl.to_dict()
    assert out["fmax_pass"] == {"clk": True, "io": False}  # meets is fmax >= request
    # The device has none: 0 %, not used x 100.
    assert out["resources"][0]["percent"] == 0.0


def test_the_clock_range_includes_its_ends():
    assert flow.check_freq(0.001) == 0.001 and flow.check_freq(100_000) == 100_000.0


def test_the_command_line_requests_the_exact_clock_and_allows_a_miss():
    args = flow._nextpnr_args(get_device("ice40-up5k"), 62.5, 3)
    assert args[args.index("--freq") + 1] == "62.5"
    # fmax below the request is the result, not a failure of nextpnr.
    assert "--timing-allow-fail" in args
    assert args[args.index("--seed") + 1] == "3"


def test_a_run_stopped_while_packing_stopped_before_routing(tmp_path):
    log = tmp_path / "nextpnr_seed1.log"
    log.write_text("Info: Packing constants..\nInfo: Packing IOs..\n")
    assert flow._stage_reached(log) == "placement"


def test_carry_cells_are_counted_from_yosys_with_the_familys_primitive():
    ecp5 = flow._resources(get_device("ecp5-25k"), {}, {"carry": 21})
    ice40 = flow._resources(get_device("ice40-up5k"), {}, {"carry": 38})
    assert [r for r in ecp5 if r.resource == "carry"] == [
        flow.ResourceUse("carry", "CCU2C", 21, 24288 // 2)]
    assert [r for r in ice40 if r.resource == "carry"] == [
        flow.ResourceUse("carry", "SB_CARRY", 38, 5280)]


def test_a_netlist_older_than_its_stat_is_reused_only_when_stat_was_written_after(
    monkeypatch, tmp_path
):
    """stat.json is written after the netlist: one older than the netlist is from a run that
    stopped in between, so Yosys runs again."""
    ran: list[list[str]] = []
    stat = json.dumps({"design": {"num_cells_by_type": {"SB_LUT4": 7}}})

    def run_tool(tool, args, workdir, *, timeout_s):
        ran.append(args)
        (workdir / "stat.json").write_text(stat)
        return ToolRun(tool, tuple(args), 0, 2.0, "")

    monkeypatch.setattr(flow, "run_tool", run_tool)
    (tmp_path / "top.v").write_text("module top; endmodule\n")
    cells, _run = flow._run_yosys(tmp_path, "ice40", False, 60.0)  # writes synth.ys
    assert cells == {"SB_LUT4": 7} and len(ran) == 1
    (tmp_path / "netlist.json").write_text("{}")
    netlist_ns = (tmp_path / "netlist.json").stat().st_mtime_ns
    os.utime(tmp_path / "stat.json", ns=(netlist_ns - 10**9, netlist_ns - 10**9))
    flow._run_yosys(tmp_path, "ice40", False, 60.0, same_verilog=True)
    assert len(ran) == 2  # stat older than the netlist: not reused
    os.utime(tmp_path / "stat.json", ns=(netlist_ns + 10**9, netlist_ns + 10**9))
    _cells, run = flow._run_yosys(tmp_path, "ice40", False, 60.0, same_verilog=True)
    assert len(ran) == 2 and run.output == "reused"
