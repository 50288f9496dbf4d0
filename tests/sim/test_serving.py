"""A served trace on the simulator reproduces the plain workloads it generalizes, exactly."""

import numpy as np
import pytest

from hwsim.hw import load_hardware
from hwsim.sim import simulate_workload
from hwsim.sim.serving import simulate_serving
from hwsim.workloads import workload_from_dict

BASE = {"model": "llama-2-7b", "weights": {"format": "bitmod3", "group_size": 128}}


@pytest.fixture(scope="module")
def hw():
    return load_hardware("bitmod")


@pytest.mark.parametrize("attention", [{}, {"kernel": "fused"}])
def test_one_request_is_the_single_request_workload(hw, attention):
    plain = simulate_workload(workload_from_dict(
        {**BASE, "prompt_tokens": 200, "generate_tokens": 12, "attention": attention}), hw)
    served = simulate_serving(workload_from_dict(
        {**BASE, "attention": attention,
         "requests": [{"arrival_s": 1.5, "prompt_tokens": 200, "generate_tokens": 12}]}), hw)
    steps = np.concatenate([plain.step_cycles["prefill"], plain.step_cycles["decode"]])
    assert served.step_cycles.tolist() == steps.tolist()
    clock = hw.clock_mhz * 1e6
    assert served.ttft_s[0] == pytest.approx(plain.step_cycles["prefill"][0] / clock, rel=1e-12)
    assert served.e2e_s[0] == pytest.approx(plain.total_cycles / clock, rel=1e-12)
    assert served.summary()["energy_uj"] == pytest.approx(plain.energy_uj, rel=1e-9)


def test_identical_simultaneous_requests_are_the_batched_workload(hw):
    batched = simulate_workload(workload_from_dict(
        {**BASE, "batch": 3, "prompt_tokens": 150, "generate_tokens": 6}), hw)
    served = simulate_serving(workload_from_dict(
        {**BASE, "requests": [{"prompt_tokens": 150, "generate_tokens": 6}] * 3,
         "serving": {"max_batch": 3, "max_tokens_per_step": None}}), hw)
    steps = np.concatenate([batched.step_cycles["prefill"], batched.step_cycles["decode"]])
    assert served.step_cycles.tolist() == steps.tolist()


def _decode_cycles(hw, attention: bool, **workload):
    """Cycles of the one decode step of a plain workload: its attention GEMMs, or the rest."""
    r = simulate_workload(workload_from_dict({**BASE, "generate_tokens": 2, **workload}), hw)
    rows = r.layers[r.layers["stage"] == "decode"]
    picked = rows["op"].isin(["attn_qk", "attn_sv"]) == attention
    return int(rows.loc[picked, "cycles"].sum())


def test_ragged_batch_list_attends_to_each_context(hw):
    # batch: [64, 300]: one prefill step of 364 tokens, then a decode step of 2 tokens whose
    # attention follows each sequence's own KV length (65 and 301). That step costs the
    # linear layers of a batch of 2 plus each sequence's attention alone, all taken from
    # plain workloads.
    served = simulate_serving(workload_from_dict(
        {**BASE, "batch": [64, 300], "generate_tokens": 2}), hw)
    assert served.step_tokens.tolist() == [364, 2]
    assert served.shapes[1].attention == ((1, 65, 1), (1, 301, 1))
    expected = (_decode_cycles(hw, False, batch=2, prompt_tokens=64)
                + _decode_cycles(hw, True, prompt_tokens=64)
                + _decode_cycles(hw, True, prompt_tokens=300))
    assert served.step_cycles[1] == expected
