"""The real tools: synthesis, place and route of one PE on one ECP5 and one iCE40, a failed fit.

The first Yosys run on a fresh machine compiles its WebAssembly (about 1.5 minutes, cached in
the repo's .yowasp-cache/ by conftest); after that the module takes about 30 s.

The PE is the registry's `int_mac` with its defaults (1 lane, INT8 x INT8, k = 128), whose
ports give the harness' size: inputs in_valid (1) + a (8) + w (8) + out_ready (1) = 18 bits;
outputs in_ready (1) + out_valid (1) + out (23: the worst case 128 x 128 x 128 = 2**21 needs
22 magnitude bits and a sign) = 25 bits.
"""

from __future__ import annotations

import json
import math
import re

import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwsim.errors import HwsimError
from hwsim.hw import load_hardware
from hwsim.hw.fpga import fpga_block, synth_block, synthesize
from hwsim.hw.fpga.flow import load_implementation

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fpga")]

IN_BITS, OUT_BITS = 18, 25


def test_fpga_command_on_ecp5_is_reproducible_and_feeds_the_simulator(run_cli, capsys,
                                                                       tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert run_cli("fpga", "int_mac", "--device", "ecp5-25k",
                       "--out", str(out)) == 0
    result = json.loads((outs[0] / "fpga.json").read_text())
    use = {r["resource"]: r for r in result["resources"]}
    assert use["dsp"]["used"] == 1  # one 8 x 8 product: one MULT18X18D
    assert use["dsp"]["available"] == 28
    assert use["io"]["used"] == 5  # din, dout, load, clk, rst
    assert result["wrapper"]["ff"] == IN_BITS + OUT_BITS
    assert use["ff"]["used"] >= IN_BITS + OUT_BITS + 23 + 23  # + accumulator and result
    # Built for the ECP5: the multiply is a MULT18X18D with its own operand and product
    # registers (Yosys would leave them in the fabric).
    top = (outs[0] / "top.v").read_text()
    assert top.count("MULT18X18D ") == 1 and '.REG_OUTPUT_CLK("CLK0")' in top
    fmax = result["fmax_mhz"]["clk"]
    assert fmax > 0 and result["fmax_pass"]["clk"] == (fmax >= 100.0)
    path = result["critical_path"]
    assert 1000.0 / path["delay_ns"] == pytest.approx(fmax, rel=0.01)
    # Where the ranking before placement put the path's endpoint (ECP5 only).
    rank, of = result["critical_cone_rank"]
    assert 0 <= rank < of
    assert load_implementation(outs[0] / "fpga.json").critical_cone_rank == (rank, of)
    for name in ("top.v", "yosys.log", "nextpnr_seed1.log", "report_seed1.json"):
        assert (outs[0] / name).is_file()
    # Same inputs, same seed: the same bytes.
    for name in ("fpga.json", "hardware.yaml", "top.v", "cones.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    # Rerun in a folder that holds the same Verilog: Yosys is not run again.
    first = (outs[0] / "fpga.json").read_bytes()
    capsys.readouterr()
    assert run_cli("fpga", "int_mac", "--device", "ecp5-25k", "--cones", "2",
                   "--out", str(outs[0])) == 0
    shown = capsys.readouterr().out
    assert "int_mac: deepest cones before placement" in shown
    assert f"ranked before placement: {rank} (0 = first" in " ".join(shown.split())
    assert json.loads((outs[0] / "tool_times.json").read_text())["yosys"] == 0.0
    assert (outs[0] / "fpga.json").read_bytes() == first
    hw = load_hardware(outs[0] / "hardware.yaml")
    assert hw.clock_mhz <= fmax < hw.clock_mhz + 0.1
    assert hw.pe.kind == "mac" and hw.pe.act_bits == 8 and hw.pe.weight_bits == 8


def test_place_and_route_on_ice40_with_its_dsp(tmp_path):
    # Two seeds, placed at once: each gives what it gives alone.
    impl = fpga_block("int_mac", {}, "ice40-up5k", tmp_path / "both", freq_mhz=30, seeds=(1, 2))
    assert impl.resource("dsp").used == 1  # one SB_MAC16 of the UP5K's 8
    assert impl.resource("dsp").available == 8
    assert impl.resource("io").available == 39  # SG48
    assert impl.critical_path is not None and impl.min_fmax_mhz > 0
    assert impl.critical_cone_rank is None  # the ranking is ECP5's
    alone = fpga_block("int_mac", {}, "ice40-up5k", tmp_path / "alone", freq_mhz=30, seeds=(2,))
    ((clock, by_seed),) = impl.fmax_by_seed_mhz.items()
    assert alone.fmax_by_seed_mhz == {clock: (by_seed[1],)}
    assert ((tmp_path / "both" / "report_seed2.json").read_bytes()
            == (tmp_path / "alone" / "report_seed2.json").read_bytes())


def test_a_seed_that_does_not_finish_in_time_is_reported_not_fatal(tmp_path, monkeypatch):
    # Seed 3's nextpnr gets 0.5 s, real and stopped; seeds 1 and 2 route. An unrouted seed
    # ranks below both, so the median is the slower of the two; with 1 of 2 routed there is
    # no median, and the error says what each seed gave.
    from hwsim.hw.fpga import flow
    from hwsim.hw.fpga.reports import nextpnr_progress, parse_nextpnr_report

    real = flow.run_tool

    def short_for_seed(unrouted: int):
        def run(tool: str, args: list[str], workdir, *, timeout_s: float):
            short = "--seed" in args and int(args[args.index("--seed") + 1]) == unrouted
            return real(tool, args, workdir, timeout_s=0.5 if short else timeout_s)
        return run

    monkeypatch.setattr(flow, "run_tool", short_for_seed(3))
    monkeypatch.setattr(flow, "_PROGRESS_S", 0.05)
    heard: list[str] = []
    impl = fpga_block("int_mac", {}, "ice40-up5k", tmp_path, freq_mhz=30, seeds=(1, 2, 3),
                      jobs=2, progress=heard.append)
    # What the tools are doing: Yosys, then each seed's stage from its log (seed 3 waits for
    # one of the 2 jobs, then stops at 0.5 s).
    assert heard[0] == "Yosys: synthesizing int_mac for ice40-up5k"
    assert len(heard) > 2 and all(
        re.fullmatch(r"seed 1: [a-z].*; seed 2: [a-z].*; seed 3: [a-z].*", h) for h in heard[1:])
    assert any(re.match(r"seed 1: (packing|placing|routing)", h) for h in heard)  # its log
    ((clock, (f1, f2, f3)),) = impl.fmax_by_seed_mhz.items()
    assert f3 is None and f1 and f2 and impl.fmax_mhz == {clock: min(f1, f2)}
    def stopped(seed: int) -> str:
        """Where the seed's log says it stopped: how far nextpnr gets in 0.5 s depends on the
        machine (an idle one routes int_mac in less, a busy one may not start it)."""
        log = tmp_path / f"nextpnr_seed{seed}.log"
        now = nextpnr_progress(log.read_text() if log.exists() else "")
        assert re.match(r"(starting|packing|placing|routing)", now), now
        return f"{'routing' if now.startswith('routing') else 'placement'} did not finish in 0.5 s"

    assert impl.unrouted == {3: stopped(3)}
    saved = json.loads((tmp_path / "fpga.json").read_text())
    assert saved["unrouted"] == {"3": stopped(3)}
    assert saved["fmax_by_seed_mhz"][clock][2] is None
    assert load_implementation(tmp_path / "fpga.json") == impl
    # The critical path is the median seed's: the slower routed one (seed 1 on a tie).
    reports = {s: parse_nextpnr_report((tmp_path / f"report_seed{s}.json").read_text())
               for s in (1, 2)}
    median_seed = min((1, 2), key=lambda s: reports[s].fmax_mhz[clock][0])
    paths = reports[median_seed].critical_paths
    assert impl.critical_path == max(paths, key=lambda p: p.delay_ns)

    # Again in the same folder, seed 2 stopped: seed 2's log of the run above (which reached
    # routing) is gone before it starts, and 1 of 2 routed is no median.
    monkeypatch.setattr(flow, "run_tool", short_for_seed(2))
    with pytest.raises(HwsimError) as err:
        fpga_block("int_mac", {}, "ice40-up5k", tmp_path, freq_mhz=30, seeds=(1, 2))
    assert re.fullmatch(
        rf"int_mac on ice40-up5k: too few seeds routed for a median \(seed 1: {f1:g} MHz; "
        rf"seed 2: {re.escape(stopped(2))}; fmax of the slowest clock\); logs in "
        r".*\. Allow more time or run more seeds", str(err.value))


@pytest.mark.parametrize("seeds", [(), (1, 1), (-1,)])
def test_seeds_must_be_distinct_and_non_negative(tmp_path, seeds):
    with pytest.raises(HwsimError, match="seeds must be distinct non-negative integers"):
        fpga_block("int_mac", {}, "ice40-up5k", tmp_path, seeds=seeds)
    assert not tmp_path.joinpath("top.v").exists()


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True])
def test_jobs_must_be_a_positive_integer(tmp_path, jobs):
    with pytest.raises(HwsimError, match="jobs must be a positive integer"):
        fpga_block("int_mac", {}, "ice40-up5k", tmp_path, jobs=jobs)
    assert not tmp_path.joinpath("top.v").exists()


def test_an_unfinished_seed_says_whether_it_was_placing_or_routing(tmp_path):
    from hwsim.hw.fpga.flow import _stage_reached

    log = tmp_path / "nextpnr_seed1.log"
    assert _stage_reached(log) == "placement"  # stopped before it wrote a log
    log.write_text("Info: Packing LUTs...\nInfo: Running Static placer...\n")
    assert _stage_reached(log) == "placement"
    log.write_text(log.read_text() + "Info: Routing globals...\nInfo: Routing..\n")
    assert _stage_reached(log) == "routing"


def test_a_design_that_does_not_fit_says_what_is_short(tmp_path, run_cli, capsys):
    # 9 lanes are 9 products, one SB_MAC16 each; the UP5K has 8.
    assert run_cli("fpga", "int_mac", "-p", "lanes=9", "--device", "ice40-up5k",
                   "--out", str(tmp_path / "cli")) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "does not fit ice40-up5k: ICESTORM_DSP: needs 9, device has 8" in err


def test_synth_compares_blocks_side_by_side(run_cli, tmp_path):
    assert run_cli("synth", "int_mac", "dint_mac", "-p", "int_mac.lanes=2",
                   "--target", "ice40", "--out", str(tmp_path)) == 0
    summary = json.loads((tmp_path / "synth.json").read_text())
    assert [b["block"] for b in summary["blocks"]] == ["int_mac", "dint_mac"]
    assert [b["params"]["lanes"] for b in summary["blocks"]] == [2, 1]
    for b in summary["blocks"]:
        # DSPs off by default: multiplies become LUTs and carry chains.
        assert b["resources"]["carry"] > 0 and "dsp" not in b["resources"]
    # The bare block, no harness: the block's ports are the top's ports.
    assert "input [15:0] a;" in (tmp_path / "int_mac" / "top.v").read_text()


def test_synth_result_matches_its_yosys_stat(tmp_path):
    res = synth_block("dint_mac", {}, "generic", tmp_path)
    stat = json.loads((tmp_path / "stat.json").read_text())["design"]["num_cells_by_type"]
    assert res.resources["logic"] == stat["$lut"]
    # The 2-input gate depth comes with the generic target: at least the 13-bit product's
    # adder chain (>= 4 gates with any adder), far below a ripple-carry of the whole width.
    assert res.gate_depth is not None and 4 <= res.gate_depth < 60


class _RegisteredAdder(wiring.Component):
    """Two registered 24-bit operands, their registered sum: one adder between registers."""

    def __init__(self) -> None:
        super().__init__({"a": In(24), "b": In(24), "s": Out(25)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        a, b = Signal(24, name="ra"), Signal(24, name="rb")
        m.d.sync += [a.eq(self.a), b.eq(self.b), self.s.eq(a + b)]
        return m


def test_gate_depth_maps_adders_as_prefix_adders(tmp_path):
    # A Kogge-Stone adder of n bits: one level of generate/propagate, ceil(log2 n) prefix
    # levels of AND-OR (2 gates each), one XOR for the sum: at most 2 ceil(log2 n) + 2 = 12
    # gates for n = 24, where a ripple chain (what an area-oriented ABC pass folds it back
    # into) is ~2n: 46. Below, the sum's top bit depends on all 48 operand bits: a tree of
    # 2-input gates needs ceil(log2 48) = 6 levels.
    res = synthesize(_RegisteredAdder(), "generic", tmp_path, name="adder24")
    assert res.gate_depth is not None
    assert math.ceil(math.log2(48)) <= res.gate_depth <= 2 * math.ceil(math.log2(24)) + 2


def test_ecp5_synthesis_ranks_the_adder_first_in_cones_json(run_cli, capsys, tmp_path):
    # The bare adder on ECP5: its sum register's cone is the operand registers -> a carry
    # chain of 13 CCU2C (2 bits each, 25 sum bits); the operands' cones are the input ports.
    synthesize(_RegisteredAdder(), "ecp5", tmp_path / "lib", name="adder24")
    cones = json.loads((tmp_path / "lib" / "cones.json").read_text())["cones"]
    top = cones[0]
    assert top["end"] == "s" and top["width"] == 25 and top["luts"] == 0
    assert top["carries"] == 13 and top["start"].startswith(("ra[", "rb["))
    assert [c["end"] for c in cones[1:3]] == ["ra", "rb"]
    # The command prints the ranking on request, ECP5 only.
    assert run_cli("synth", "int_mac", "--target", "ecp5", "--cones", "3",
                   "--out", str(tmp_path / "cli")) == 0
    out = capsys.readouterr().out
    assert "int_mac: deepest cones before placement" in out
    shown = json.loads((tmp_path / "cli" / "int_mac" / "cones.json").read_text())["cones"]
    assert shown[0]["end"] in out


def test_a_synth_rerun_leaves_no_earlier_targets_or_blocks_files(run_cli, tmp_path):
    # A rerun for another target kept ECP5's cones.json beside the iCE40 netlist, and another
    # block list kept the earlier blocks' folders beside a synth.json not listing them.
    cli = tmp_path / "cli"
    assert run_cli("synth", "int_mac", "--target", "ecp5", "--out", str(cli)) == 0
    assert (cli / "int_mac" / "cones.json").is_file()
    assert run_cli("synth", "int_mac", "--target", "generic", "--out", str(cli)) == 0
    assert not (cli / "int_mac" / "cones.json").exists()
    assert (cli / "int_mac" / "gates.json").is_file()
    assert run_cli("synth", "int_mac", "dint_mac", "--target", "ice40", "--out", str(cli)) == 0
    assert not (cli / "int_mac" / "gates.json").exists()
    (cli / "dint_mac" / "notes.txt").write_text("mine")
    assert run_cli("synth", "dequant", "--target", "ice40", "--out", str(cli)) == 0
    assert not (cli / "int_mac").exists()
    # A folder holding a file synthesis does not write is the user's too: left alone.
    assert (cli / "dint_mac" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in cli.iterdir()) == ["dequant", "dint_mac", "synth.json"]


class _Copies(wiring.Component):
    """Four copies of a registered control bit, each enabling its own 8-bit register."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        super().__init__({"c": In(1), "d": In(8), "q": Out(32)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        for i in range(4):
            copy = Signal(name=f"copy{i}", attrs={"keep": 1} if self.keep else None)
            reg = Signal(8, name=f"reg{i}")
            m.d.sync += copy.eq(self.c)
            with m.If(copy):
                m.d.sync += reg.eq(self.d)
            m.d.comb += self.q[8 * i:8 * i + 8].eq(reg)
        return m


def test_registers_marked_keep_are_not_merged(tmp_path):
    # Yosys merges identical registers; a `keep` on their signals keeps the copies apart
    # (the PE array's control copies rely on it): 4 copies + 4 x 8 data bits. Without it the
    # copies become one, and then the four data registers (same input, same enable) too.
    ffs = [synthesize(_Copies(keep), "ecp5", tmp_path / str(keep)).cells["TRELLIS_FF"]
           for keep in (False, True)]
    assert ffs == [1 + 8, 4 + 4 * 8]


def test_each_placer_adds_its_nextpnr_options():
    # No tool runs: the command line the flow builds for each placer.
    from hwsim.errors import HwsimError
    from hwsim.hw.fpga import get_device
    from hwsim.hw.fpga.flow import PLACERS, _nextpnr_args, check_placer

    dev = get_device("ecp5-25k")
    default = _nextpnr_args(dev, 50.0, 2)
    assert default == _nextpnr_args(dev, 50.0, 2, "heap") and "--no-tmdriv" not in default
    args = _nextpnr_args(dev, 50.0, 2, "heap-no-tmdriv")
    assert sorted(args) == sorted([*default, "--no-tmdriv"])
    args = _nextpnr_args(dev, 50.0, 2, "static")
    assert args[args.index("--placer") + 1] == "static"
    assert sorted(args) == sorted([*default, "--placer", "static"])
    assert set(PLACERS) == {"heap", "static", "heap-no-tmdriv"}
    for bad in ("sa", "", None, 1):
        with pytest.raises(HwsimError, match="allowed: heap, static, heap-no-tmdriv"):
            check_placer(bad)


def test_the_speed_grade_reaches_nextpnr_where_the_device_has_grades():
    # No tool runs. ECP5: always explicit (the default is nextpnr's own -6), so the command
    # line the flow logs names the timing model; iCE40: nextpnr has no grades, none is passed
    # or accepted.
    from hwsim.errors import HwsimError
    from hwsim.hw.fpga import get_device
    from hwsim.hw.fpga.flow import _nextpnr_args

    ecp5, ice40 = get_device("ecp5-85k"), get_device("ice40-up5k")
    for speed, grade in ((None, "6"), (6, "6"), (7, "7"), (8, "8")):
        args = _nextpnr_args(ecp5, 50.0, 1, "static", speed)
        assert args[args.index("--speed") + 1] == grade and args.count("--speed") == 1
    assert ecp5.part_name(8) == "LFE5U-85F-8" and ice40.part_name(None) == "iCE40UP5K"
    assert "--speed" not in _nextpnr_args(ice40, 50.0, 1)
    for bad in (5, 9, True, "8", 8.0):
        with pytest.raises(HwsimError, match=r"is not offered for ecp5-85k; allowed: 6, 7, 8"):
            _nextpnr_args(ecp5, 50.0, 1, "heap", bad)
    with pytest.raises(HwsimError, match="ice40-up5k has no speed grades"):
        ice40.check_speed(6)
