"""A served trace is held to the limits of a plain workload's sequence and of its steps."""

import json

import pytest

import hwsim.workloads.serving as serving
from hwsim.errors import HwsimError
from hwsim.limits import MAX_DECODE_STEPS, MAX_TOKENS
from hwsim.workloads import workload_from_dict
from hwsim.workloads.serving import (
    Request,
    ServingPolicy,
    StepCost,
    decode_kv_lengths,
    serve,
)

# A model whose trained context is beyond every limit: only hwsim's own limits stop a request.
_HUGE_CONTEXT = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512,
                 "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
                 "vocab_size": 1000, "max_position_embeddings": 10**11}


@pytest.mark.parametrize(("prompt", "generate"), [(MAX_TOKENS + 1, 1), (16, MAX_TOKENS)])
def test_a_request_longer_than_one_sequence_may_be_is_refused(tmp_path, prompt, generate):
    # The limits read prompt_tokens/generate_tokens, which a trace does not set: a request of
    # 50e9 prompt tokens was scheduled (24 M chunked steps) until killed.
    (tmp_path / "config.json").write_text(json.dumps(_HUGE_CONTEXT))
    data = {"model": str(tmp_path / "config.json"),
            "requests": [{"arrival_s": 0, "prompt_tokens": 8, "generate_tokens": 2},
                         {"arrival_s": 1, "prompt_tokens": prompt, "generate_tokens": generate}]}
    with pytest.raises(HwsimError, match=rf"^w.yaml: requests\[1\]: prompt_tokens \+ "
                                         rf"generate_tokens - 1: {prompt + generate - 1:,} is "
                                         rf"above the limit of {MAX_TOKENS:,} \(tokens of one "
                                         rf"sequence\)$"):
        workload_from_dict(data, source="w.yaml")
    data["requests"][1].update(prompt_tokens=MAX_TOKENS - 1, generate_tokens=2)  # at it
    assert workload_from_dict(data, source="w.yaml").prompt_tokens == MAX_TOKENS - 1


def test_a_trace_of_more_steps_than_the_limit_stops_with_its_name(monkeypatch):
    monkeypatch.setattr(serving, "MAX_SERVED_STEPS", 5)
    one_second = lambda shape: StepCost(seconds=1.0)  # noqa: E731
    # 1 prefill + 4 decodes: at the limit.
    assert len(serve([Request(0.0, 4, 5)], ServingPolicy(), one_second).step_s) == 5
    with pytest.raises(HwsimError, match=r"^t.csv: the trace takes more than 5 scheduler steps "
                                         r"\(the limit; each is costed\), 1 of its 2 requests "
                                         r"admitted by then; serve fewer or shorter requests"):
        serve([Request(0.0, 4, 6), Request(99.0, 4, 1)], ServingPolicy(), one_second,
              where="t.csv")


def test_decode_kv_lengths_count_each_length_once_and_stop_at_the_window():
    # Decodes of a request attend over prompt + 1 .. prompt + generate - 1 keys.
    trace = [Request(0, 10, 5),    # 11..14
             Request(0, 12, 6),    # 13..17: 15, 16, 17 new
             Request(0, 30, 1),    # no decode step
             Request(0, 100, 3),   # 101, 102
             Request(0, 5, 2)]     # 6
    assert decode_kv_lengths(trace) == 4 + 3 + 2 + 1
    assert decode_kv_lengths(trace, window=16) == 4 + 2 + 0 + 1  # 11..16 and 6
    assert decode_kv_lengths([Request(0, 4, 10), Request(0, 5, 2)]) == 9  # 5..13 holds 6


def test_a_trace_of_more_decode_lengths_than_a_plain_run_may_decode_is_refused(tmp_path):
    # Each length's attention is costed ahead of serving: one request of 2**20 tokens on a
    # model of a long context passed every check and needed about 50 GB (45 KB a length).
    (tmp_path / "config.json").write_text(json.dumps(_HUGE_CONTEXT))
    data = {"model": str(tmp_path / "config.json"),
            "requests": [{"arrival_s": 0, "prompt_tokens": 1,
                          "generate_tokens": MAX_DECODE_STEPS + 2}]}
    with pytest.raises(HwsimError, match=rf"^w.yaml: requests: distinct KV lengths its decode "
                                         rf"steps attend over: {MAX_DECODE_STEPS + 1:,} is above "
                                         rf"the limit of {MAX_DECODE_STEPS:,} \(each is costed "
                                         rf"ahead of serving"):
        workload_from_dict(data, source="w.yaml")
    data["requests"][0]["generate_tokens"] = MAX_DECODE_STEPS + 1
    workload_from_dict(data, source="w.yaml")
    # A sliding window caps the lengths: the same request attends over at most 4096.
    windowed = {**_HUGE_CONTEXT, "model_type": "mistral", "sliding_window": 4096}
    (tmp_path / "config.json").write_text(json.dumps(windowed))
    data["requests"][0]["generate_tokens"] = 10 * MAX_DECODE_STEPS
    workload_from_dict(data, source="w.yaml")
