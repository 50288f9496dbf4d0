"""Sizes beyond `hwsim.limits` are refused before the work, with the limit named; counters
that would wrap int64 are refused instead of reported wrapped."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim import limits
from hwsim.errors import HwsimError
from hwsim.hw import hardware_from_dict, load_hardware, with_overrides
from hwsim.limits import MAX_BLOCKS, MAX_DECODE_STEPS, MAX_TOKENS, SAFE_COUNT
from hwsim.sim import simulate_workload
from hwsim.workloads import workload_from_dict

BASE = {"model": "llama-2-7b", "prompt_tokens": 16, "generate_tokens": 4}


def _err(data: dict) -> str:
    with pytest.raises(HwsimError) as info:
        workload_from_dict(data, source="w.yaml")
    return str(info.value)


@pytest.mark.parametrize("patch, expected", [
    ({"prompt_tokens": 10**12}, f"prompt_tokens + generate_tokens - 1: 1,000,000,000,003 is "
                                f"above the limit of {MAX_TOKENS:,}"),
    ({"generate_tokens": 10**9}, "prompt_tokens + generate_tokens - 1"),
    ({"generate_tokens": MAX_DECODE_STEPS + 2}, f"generate_tokens: {MAX_DECODE_STEPS + 2:,} is "
                                                f"above the limit of {MAX_DECODE_STEPS + 1:,}"),
    ({"batch": 10**18}, "batch x (prompt_tokens + generate_tokens - 1)"),
])
def test_token_counts_beyond_the_limits_are_refused(patch, expected):
    assert expected in _err({**BASE, **patch})


def test_the_largest_decode_run_is_accepted():
    w = workload_from_dict({**BASE, "generate_tokens": MAX_DECODE_STEPS + 1}, source="w.yaml")
    assert w.decode_steps == MAX_DECODE_STEPS


def test_a_gemm_beyond_int64_is_refused_at_the_edge():
    message = _err({"gemms": [{"name": "g", "m": 10**15, "n": 10**15, "k": 10**15}]})
    assert f"gemms[0]: count x m x n x k: {10**45:,} is above the limit of {SAFE_COUNT:,}" \
        in message


def test_the_simulator_refuses_counters_that_would_wrap():
    # Within the edge's MAC limit, but a DRAM so slow (1e-12 bytes per cycle) that the load
    # cycles of one block pass 2**62: refused, not wrapped to a small or negative count.
    hw = with_overrides(load_hardware("bitmod"), {"dram.bytes_per_cycle": 1e-12})
    w = workload_from_dict({"gemms": [{"name": "g", "m": 64, "n": 4096, "k": 4096}],
                            "weights": {"format": "int4"}}, source="w.yaml")
    with pytest.raises(HwsimError, match=r"DRAM cycles of one GEMM: about .* beyond the 2\*\*62"):
        simulate_workload(w, hw)


def test_cycles_beyond_the_counters_from_the_hardware_name_its_cycle_keys():
    # A small GEMM, a DRAM latency of 10**18 cycles: the message blamed the workload alone.
    hw = with_overrides(load_hardware("bitmod"), {"dram.latency_cycles": 10**18})
    w = workload_from_dict({"gemms": [{"name": "g", "m": 64, "n": 4096, "k": 4096}],
                            "weights": {"format": "int4"}}, source="w.yaml")
    with pytest.raises(HwsimError, match=r"DRAM cycles of one GEMM: about .* make the workload "
                                         r"smaller, or the hardware's cycle counts "
                                         r"\(dram.latency_cycles, "):
        simulate_workload(w, hw)


def test_a_gemm_with_too_many_blocks_is_refused_before_its_schedule_is_built():
    w = workload_from_dict({"gemms": [{"name": "g", "m": 2**20, "n": 2**20, "k": 2**12}],
                            "weights": {"format": "int4"}}, source="w.yaml")
    # The design is named: beside --compare, which one's buffers are too small is not obvious.
    with pytest.raises(HwsimError, match=rf"g on .*bitmod.yaml: blocks of all its step shapes: "
                                         rf"[\d,]+ is above "
                                         rf"the limit of {MAX_BLOCKS:,}"):
        simulate_workload(w, load_hardware("bitmod"))


def test_limits_leave_the_bundled_long_context_example_alone():
    from hwsim.workloads import load_workload

    w = load_workload("llama-3-8b-long-context")
    result = simulate_workload(w, load_hardware("bitmod"))
    assert np.isfinite(result.latency_ms) and result.total_cycles > 0


def _every_number(tree: object) -> list[object]:
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in _every_number(v)]
    if isinstance(tree, list):
        return [x for v in tree for x in _every_number(v)]
    return [tree]


def test_hardware_at_every_limit_still_reports_finite_figures():
    # The corner the bounds exist for: the slowest clock, the largest array, buffers, energies,
    # areas and overheads at once. Beyond them a report said null for an energy that overflowed
    # float64 (1e308 pJ per cycle) instead of refusing the input.
    from hwsim.reports.run_report import run_summary

    big = {"kib": limits.MAX_BUFFER_KIB, "banks": limits.MAX_ARRAY_DIM,
           "port_bits": limits.MAX_ARRAY_DIM, "read_pj": limits.MAX_EVENT_PJ,
           "write_pj": limits.MAX_EVENT_PJ, "area_mm2": limits.MAX_CHIP_MM2}
    hw = hardware_from_dict({
        "name": "edge", "clock_mhz": limits.MIN_CLOCK_MHZ,
        "pe": {"kind": "bitmod", "lanes": limits.MAX_ARRAY_DIM,
               "energy_pj_per_cycle": limits.MAX_EVENT_PJ,
               "dequant_pj_per_cycle": limits.MAX_EVENT_PJ,
               "area_um2": limits.MAX_CHIP_MM2 * 1e6},
        "array": {"rows": limits.MAX_ARRAY_DIM, "cols": limits.MAX_ARRAY_DIM},
        "buffers": {"weight": big, "activation": big, "output": big},
        "dram": {"bytes_per_cycle": limits.MAX_BYTES_PER_CYCLE,
                 "energy_pj_per_bit": limits.MAX_EVENT_PJ},
        "energy_overhead": limits.MAX_ENERGY_OVERHEAD, "leakage_mw": limits.MAX_POWER_MW,
        "other_area_mm2": limits.MAX_CHIP_MM2, "sram_mm2_per_kib": limits.MAX_SRAM_MM2_PER_KIB,
    }, source="edge.yaml")
    w = workload_from_dict(BASE, source="w.yaml")
    summary = run_summary([simulate_workload(w, hw)])
    figures = [x for x in _every_number(summary) if isinstance(x, int | float)]
    assert len(figures) > 20 and all(np.isfinite(figures))
    assert summary["energy_uj"] > 0 and summary["latency_ms"] > 0
    assert None not in [summary[k] for k in ("energy_uj", "latency_ms", "area_mm2")]


@pytest.mark.parametrize("patch, message", [
    ({"clock_mhz": 1e9}, "clock_mhz: 1,000,000,000 is above the limit of 100,000 (100 GHz; "
                         "the clock is in MHz)"),
    ({"clock_mhz": 1e-300}, "clock_mhz: 1e-300 is below the limit of 0.001 (1 kHz"),
    # Shown as given: in short (`:g`) it read "100000 is above the limit of 100,000".
    ({"clock_mhz": 100000.5}, "clock_mhz: 100000.5 is above the limit of 100,000"),
    ({"array": {"rows": 2**62, "cols": 2}}, "array.rows: 4,611,686,018,427,387,904 is above "
                                            "the limit of 65,536"),
    ({"pe": {"kind": "bitmod", "lanes": 4, "energy_pj_per_cycle": 1e308, "area_um2": 1}},
     "pe.energy_pj_per_cycle: 1e+308 is above the limit of 1,000,000 (1 uJ per PE cycle"),
    ({"pe": {"kind": "bitmod", "lanes": 4, "energy_pj_per_cycle": 1, "area_um2": 1e12}},
     "pe.area_um2: 1,000,000,000,000 is above the limit of 100,000,000,000"),
    ({"pe": {"kind": "mac", "lanes": 2**17, "energy_pj_per_cycle": 1, "area_um2": 1}},
     "pe.lanes: 131,072 is above the limit of 65,536"),
    ({"buffers": {b: {"kib": 2.0**31} for b in ("weight", "activation", "output")}},
     "buffers.weight.kib: 2,147,483,648 is above the limit of 1,073,741,824 (1 TiB"),
    ({"buffers": {b: {"kib": 1, "read_pj_per_bit": 2e6}
                  for b in ("weight", "activation", "output")}},
     "buffers.activation.read_pj_per_bit: 2,000,000 is above the limit of 1,000,000"),
    ({"dram": {"gb_per_s": 1.2e12}}, "dram.gb_per_s: 1,200,000,000,000 is above the limit of "
                                     "1,000,000 (1 PB/s; the unit is GB/s)"),
    ({"dram": {"bytes_per_cycle": 2.0**21}}, "dram.bytes_per_cycle: 2,097,152 is above"),
    ({"energy_overhead": 1e300}, "energy_overhead: 1e+300 is above the limit of 100"),
    ({"leakage_mw": 1e8}, "leakage_mw: 100,000,000 is above the limit of 10,000,000"),
    ({"other_area_mm2": 1e6}, "other_area_mm2: 1,000,000 is above the limit of 100,000"),
    ({"sram_mm2_per_kib": 3700}, "sram_mm2_per_kib: 3,700 is above the limit of 1 (270x"),
])
def test_hardware_quantities_beyond_the_limits_are_refused(patch, message):
    data = {"name": "t", "clock_mhz": 500,
            "pe": {"kind": "bitmod", "lanes": 4, "energy_pj_per_cycle": 0.5, "area_um2": 1000},
            "array": {"rows": 4, "cols": 2},
            "buffers": {b: {"kib": 64} for b in ("weight", "activation", "output")},
            "dram": {"gb_per_s": 16}} | patch
    with pytest.raises(HwsimError) as info:
        hardware_from_dict(data, source="t.yaml")
    assert str(info.value).startswith("t.yaml: ") and message in str(info.value)


def test_command_cycles_count_in_the_operator_check():
    # command_cycles = 2**62 - 1 passed the operator check (which left it out) and the run
    # reported a wrapped, negative total_cycles.
    hw = with_overrides(load_hardware("bitmod"), {"command_cycles": SAFE_COUNT - 1})
    w = workload_from_dict({"gemms": [{"name": "g", "m": 64, "n": 64, "k": 128}],
                            "weights": {"format": "int4"}}, source="w.yaml")
    with pytest.raises(HwsimError, match=r"cycles of one operator: about .*command_cycles"):
        simulate_workload(w, hw)


def test_operators_within_the_counters_whose_sum_is_not_are_refused():
    # Each GEMM's command is 1.5 * 2**61 cycles, within the counters; two of them are not.
    hw = with_overrides(load_hardware("bitmod"), {"command_cycles": 3 * 2**60})
    gemm = {"m": 64, "n": 64, "k": 128}
    one = workload_from_dict({"gemms": [{"name": "g", **gemm}], "weights": {"format": "int4"}},
                             source="w.yaml")
    assert simulate_workload(one, hw).total_cycles > 3 * 2**60
    two = workload_from_dict({"gemms": [{"name": "g", **gemm}, {"name": "h", **gemm}],
                              "weights": {"format": "int4"}}, source="w.yaml")
    with pytest.raises(HwsimError, match=r"^cycles of the whole workload: about 6.92e\+18"):
        simulate_workload(two, hw)


def test_an_operators_decode_steps_within_the_counters_whose_sum_is_not_are_refused():
    from hwsim.sim import simulate_ops
    from hwsim.workloads import operators

    w = workload_from_dict({**BASE, "generate_tokens": 5}, source="w.yaml")
    lm_head = [op for op in operators(w) if op.stage == "decode" and op.name == "lm_head"]
    assert len(lm_head) == 1 and lm_head[0].count == 1 and lm_head[0].steps == 4
    hw = with_overrides(load_hardware("bitmod"), {"command_cycles": 2**61})
    with pytest.raises(HwsimError, match=r"^decode/lm_head: cycles of all its steps: about "
                                         r"9.22e\+18"):
        simulate_ops(lm_head, hw)


def test_the_fill_and_drain_slots_count_in_the_operator_check():
    # Every block's slot pays slot_cycles, and so do the fill and drain slots around them:
    # one block of 2**61 cycles of slot is within the counters, its three slots are not.
    from hwsim.sim.engine import _check_operator_cycles

    hw = with_overrides(load_hardware("bitmod"), {"slot_cycles": 2**61})
    one = np.zeros(1, dtype=np.int64)
    with pytest.raises(HwsimError, match=r"cycles of one operator: about 6.92e\+18"):
        _check_operator_cycles(one, one, one, np.ones(1, dtype=np.int64), 1, hw)
    _check_operator_cycles(one, one, one, np.ones(1, dtype=np.int64), 1,
                           with_overrides(hw, {"slot_cycles": 2**60}))
