"""A served workload's errors name what the file left to a default as a default."""

import pytest

from hwsim.errors import HwsimError
from hwsim.workloads import workload_from_dict

REQUEST = {"prompt_tokens": 3, "generate_tokens": 2}


def _error(data: dict) -> str:
    with pytest.raises(HwsimError) as info:
        workload_from_dict({"model": "llama-2-7b", **data}, source="w.yaml")
    return str(info.value)


def test_a_budget_below_the_default_batch_says_the_batch_is_the_default():
    # "smaller than max_batch 32" for a file that never wrote a max_batch.
    assert _error({"batch": [10, 20], "generate_tokens": 2,
                   "serving": {"max_tokens_per_step": 16}}) == (
        "w.yaml: serving: max_tokens_per_step 16 is smaller than max_batch 32, the default: "
        "give max_batch <= 16 (a full batch decodes that many tokens a step)")
    assert "the default" not in _error({"requests": [REQUEST],
                                        "serving": {"max_batch": 64, "max_tokens_per_step": 32}})
    served = workload_from_dict({"model": "llama-2-7b", "batch": [10, 20], "generate_tokens": 2,
                                 "serving": {"max_tokens_per_step": 16, "max_batch": 16}})
    assert served.serving.max_batch == 16


def test_an_arrival_left_out_is_named_as_such_when_it_is_out_of_order():
    # "arrival_s 0.0 is before ...", a value the file never wrote.
    assert _error({"requests": [{"arrival_s": 1, **REQUEST}, REQUEST]}) == (
        "w.yaml: requests[1]: no arrival_s (0) is before the previous request's 1.0; sort the "
        "trace by arrival time")
    assert _error({"requests": [{"arrival_s": 1, **REQUEST}, {"arrival_s": 0.5, **REQUEST}]}) \
        == ("w.yaml: requests[1]: arrival_s 0.5 is before the previous request's 1.0; sort "
            "the trace by arrival time")
