"""A served trace on the simulator reproduces the plain workloads it generalizes, exactly."""

import dataclasses

import numpy as np
import pytest

from hwsim.dtypes import get_format
from hwsim.hw import load_hardware
from hwsim.hw.spec import with_overrides
from hwsim.sim import simulate_workload
from hwsim.sim.engine import op_shapes_key
from hwsim.sim.serving import simulate_serving
from hwsim.workloads import operators, workload_from_dict

BASE = {"model": "llama-2-7b", "weights": {"format": "bitmod3", "group_size": 128}}


@pytest.fixture(scope="module")
def hw():
    return load_hardware("bitmod")


@pytest.mark.parametrize("extra", [{}, {"attention": {"kernel": "fused"}}, {"logits": "last"}])
def test_one_request_is_the_single_request_workload(hw, extra):
    # logits: last runs the prefill's lm_head on one row, not the linear layers' 200: the
    # step cache fills the two apart.
    plain = simulate_workload(workload_from_dict(
        {**BASE, "prompt_tokens": 200, "generate_tokens": 12, **extra}), hw)
    served = simulate_serving(workload_from_dict(
        {**BASE, **extra,
         "requests": [{"arrival_s": 1.5, "prompt_tokens": 200, "generate_tokens": 12}]}), hw)
    steps = np.concatenate([plain.step_cycles["prefill"], plain.step_cycles["decode"]])
    assert served.step_cycles.tolist() == steps.tolist()
    clock = hw.clock_mhz * 1e6
    assert served.ttft_s[0] == pytest.approx(plain.step_cycles["prefill"][0] / clock, rel=1e-12)
    assert served.e2e_s[0] == pytest.approx(plain.total_cycles / clock, rel=1e-12)
    assert served.summary()["energy_uj"] == pytest.approx(plain.energy_uj, rel=1e-9)


# A llama-shaped model of one layer and one KV head: its attention operators have one instance
# per sequence.
ONE_HEAD = {"model_type": "llama", "hidden_size": 256, "num_attention_heads": 2,
            "num_key_value_heads": 1, "num_hidden_layers": 1, "intermediate_size": 512,
            "vocab_size": 1000}
# Small enough that the fastest blocking of the attention depends on the sequences in a
# group: scaling one sequence's cost gave 1,072,764 prefill cycles for 1,068,894 batched.
SMALL = {"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4,
         "num_key_value_heads": 2, "num_hidden_layers": 2, "intermediate_size": 512,
         "vocab_size": 1000}


@pytest.mark.parametrize(("workload", "batch", "prompt", "generate"), [
    (BASE, 3, 150, 6), ({**BASE, "attention": {"kernel": "fused"}}, 3, 150, 6),
    ({"model": ONE_HEAD, "weights": {"format": "bitmod3", "group_size": 128}}, 3, 150, 6),
    ({"model": SMALL, "weights": {"format": "fp16"}}, 7, 49, 2)])
def test_identical_simultaneous_requests_are_the_batched_workload(hw, workload, batch, prompt,
                                                                  generate):
    # Every step has one group of equal sequences: the cache costs the group, and must give
    # the batched cycles.
    batched = simulate_workload(workload_from_dict(
        {**workload, "batch": batch, "prompt_tokens": prompt, "generate_tokens": generate}), hw)
    served = simulate_serving(workload_from_dict(
        {**workload, "requests": [{"prompt_tokens": prompt, "generate_tokens": generate}] * batch,
         "serving": {"max_batch": batch, "max_tokens_per_step": None}}), hw)
    steps = np.concatenate([batched.step_cycles["prefill"], batched.step_cycles["decode"]])
    assert served.step_cycles.tolist() == steps.tolist()
    assert served.summary()["energy_uj"] == pytest.approx(batched.energy_uj, rel=1e-9)


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


def test_leakage_is_charged_while_idle_between_arrivals(hw):
    hw = with_overrides(hw, {"leakage_mw": 40.0})
    # Two requests of one step each (16-token prompt, 1 token out) at 0 s and 1 s. Each step
    # costs what the plain 16-token workload costs (its dynamic energy and its leakage over
    # its own time t); in between the accelerator idles 1 - t seconds and leaks
    # leakage_mw x (1 - t) mJ. Makespan 1 + t.
    plain = simulate_workload(workload_from_dict(
        {**BASE, "prompt_tokens": 16, "generate_tokens": 1}), hw)
    t = plain.total_cycles / (hw.clock_mhz * 1e6)
    assert t < 1.0
    served = simulate_serving(workload_from_dict(
        {**BASE, "requests": [{"arrival_s": 0.0, "prompt_tokens": 16, "generate_tokens": 1},
                              {"arrival_s": 1.0, "prompt_tokens": 16, "generate_tokens": 1}]}),
        hw).summary()
    assert served["makespan_s"] == pytest.approx(1.0 + t, rel=1e-12)
    idle_uj = 40.0 * (1.0 - t) * 1e3  # mW x s = mJ = 1e3 uJ
    assert served["idle_energy_uj"] == pytest.approx(idle_uj, rel=1e-9)
    assert served["energy_uj"] == pytest.approx(2 * plain.energy_uj + idle_uj, rel=1e-9)


def test_the_step_cache_keys_on_every_field_the_engine_reads():
    # The engine reads these fields of an op (the name only labels its errors): ops that
    # differ in any of them must not share a cached cost.
    op = next(o for o in operators(workload_from_dict(
        {**BASE, "prompt_tokens": 8, "generate_tokens": 1})) if o.name == "q_proj")
    changed = {"m": op.m + 1, "n": op.n + 1, "k": op.k + 1, "count": op.count + 1,
               "stage": "decode", "a_bits": 16.5, "b_bits": 4.0, "out_bits": 8.0,
               "a_format": get_format("int8"), "b_format": get_format("int4"),
               "out_format": get_format("int8"), "b_kind": "kv", "group_size": 64,
               "stored_code_bits": (16.0, 8.0, 128.0)}
    for name, value in changed.items():
        assert op_shapes_key(dataclasses.replace(op, **{name: value})) != op_shapes_key(op), name
    assert op_shapes_key(dataclasses.replace(op, name="o_proj")) == op_shapes_key(op)


def test_equal_sequences_decoding_in_lockstep_are_costed_in_one_batch(hw, monkeypatch):
    # Costed at their count, each decode step of a group missed the cache and made its own
    # fill (32 identical requests took 20x as long): the KV lengths ahead are filled at once.
    from hwsim.workloads.step_costs import CachedStepCoster

    fills = []
    original = CachedStepCoster._fill_attention

    def counted(self, stage, q, kv, n):
        fills.append((stage, n, len(kv)))
        return original(self, stage, q, kv, n)

    monkeypatch.setattr(CachedStepCoster, "_fill_attention", counted)
    simulate_serving(workload_from_dict(
        {**BASE, "requests": [{"prompt_tokens": 16, "generate_tokens": 40}] * 4,
         "serving": {"max_batch": 4, "max_tokens_per_step": None}}), hw)
    grouped = [f for f in fills if f[1] == 4]
    assert len(grouped) <= 2 and sum(length for _, _, length in grouped) >= 39
