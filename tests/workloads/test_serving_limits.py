"""A served trace is held to the limits of a plain workload's sequence and of its steps."""

import json

import pytest

import hwsim.workloads.serving as serving
from hwsim.errors import HwsimError
from hwsim.limits import MAX_TOKENS
from hwsim.workloads import workload_from_dict
from hwsim.workloads.serving import Request, ServingPolicy, StepCost, serve

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
