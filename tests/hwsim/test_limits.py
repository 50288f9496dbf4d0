"""Sizes beyond `hwsim.limits` are refused before the work, with the limit named; counters
that would wrap int64 are refused instead of reported wrapped."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.errors import HwsimError
from hwsim.hw import load_hardware, with_overrides
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
    with pytest.raises(HwsimError, match=r"cycles of one operator: about .* make the workload "
                                         r"smaller, or the hardware's cycle counts "
                                         r"\(dram.latency_cycles, "):
        simulate_workload(w, hw)


def test_a_gemm_with_too_many_blocks_is_refused_before_its_schedule_is_built():
    w = workload_from_dict({"gemms": [{"name": "g", "m": 2**20, "n": 2**20, "k": 2**12}],
                            "weights": {"format": "int4"}}, source="w.yaml")
    with pytest.raises(HwsimError, match=rf"g: blocks of all its step shapes: [\d,]+ is above "
                                         rf"the limit of {MAX_BLOCKS:,}"):
        simulate_workload(w, load_hardware("bitmod"))


def test_limits_leave_the_bundled_long_context_example_alone():
    from hwsim.workloads import load_workload

    w = load_workload("llama-3-8b-long-context")
    result = simulate_workload(w, load_hardware("bitmod"))
    assert np.isfinite(result.latency_ms) and result.total_cycles > 0
