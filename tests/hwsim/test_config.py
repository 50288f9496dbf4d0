"""Schema errors in the words of the YAML file: paths, what was expected and what was given."""

import pytest

from hwsim.errors import HwsimError
from hwsim.hw import hardware_from_dict, hardware_to_dict, load_hardware
from hwsim.workloads import workload_from_dict

WORKLOAD = {"model": "llama-2-7b", "prompt_tokens": 8, "generate_tokens": 2}
ONE_REQUEST = {"arrival_s": 0, "prompt_tokens": 3, "generate_tokens": 2}


def _workload_error(data: dict) -> str:
    with pytest.raises(HwsimError) as info:
        workload_from_dict(data, source="w.yaml")
    return str(info.value)


@pytest.mark.parametrize(("patch", "message"), [
    # pydantic said "Input should be a valid dictionary or instance of _ServingIn": a private
    # class, and no word of which keys go there.
    ({"attention": "fused"}, "attention: expected a mapping (keys: kernel, causal, block_q, "
                             "block_kv, splits), got the text 'fused'"),
    ({"weights": 5}, "weights: expected a mapping (keys: format, group_size, bits, overrides), "
                     "got the number 5"),
    ({"weights": {"format": "int4", "overrides": [1]}},
     "weights.overrides: expected a mapping, got a list"),
    ({"weights": {"format": 4}}, "weights.format: expected text, got the number 4"),
    ({"gemms": 5, "model": None, "prompt_tokens": None, "generate_tokens": None},
     "gemms: expected a list, got the number 5"),
    ({"prompt_tokens": [8]}, "prompt_tokens: Input should be a valid integer, not a list"),
])
def test_a_value_of_the_wrong_type_says_what_was_expected(patch, message):
    data = {k: v for k, v in {**WORKLOAD, **patch}.items() if v is not None}
    assert _workload_error(data) == f"w.yaml: {message}"


def test_a_union_of_text_and_a_list_is_one_problem_not_one_per_member():
    # It was "requests: Input should be a valid string; requests.list[any]: Input should be
    # a valid list": two problems, one under a path no file has.
    assert _workload_error({"model": "llama-2-7b", "requests": 5}) == (
        "w.yaml: requests: expected text or a list, got the number 5")
    assert _workload_error({"model": "llama-2-7b", "requests": [5]}) == (
        "w.yaml: requests[0]: expected a mapping (keys: arrival_s, prompt_tokens, "
        "generate_tokens), got the number 5")
    assert _workload_error({"model": "llama-2-7b", "requests": [ONE_REQUEST],
                            "serving": [1]}) == (
        "w.yaml: serving: expected a mapping (keys: max_batch, max_tokens_per_step, "
        "chunked_prefill), got a list")


def test_hardware_sections_of_the_wrong_type_list_their_keys():
    data = hardware_to_dict(load_hardware("bitmod"))
    with pytest.raises(HwsimError, match=r"^h.yaml: array: expected a mapping \(keys: rows, "
                                         r"cols\), got a list$"):
        hardware_from_dict({**data, "array": [32, 32]}, source="h.yaml")
    with pytest.raises(HwsimError, match=r"^h.yaml: pe: expected a mapping, got the text "
                                         r"'bitmod'$"):
        hardware_from_dict({**data, "pe": "bitmod"}, source="h.yaml")


def _sweep_error(patch: dict) -> str:
    from hwsim.sweep.spec import sweep_from_dict

    data = {"workload": {}, "hardware": {}, "objectives": ["latency_ms"],
            "axes": [{"field": "array.rows", "values": [1, 2]}], **patch}
    with pytest.raises(HwsimError) as info:
        sweep_from_dict(data, sections=("workload", "hardware"), source="s.yaml")
    return str(info.value)


def test_a_union_of_scalars_is_one_problem_naming_every_member():
    # Four problems for one value ("valid boolean", "valid integer", "valid number", "expected
    # text"): an axis value is a flag, a number or text.
    assert _sweep_error({"axes": [{"field": "array.rows", "values": [[1]]}]}) == (
        "s.yaml: axes[0].values[0]: expected true or false, a number or text, got a list")
    # One number keeps pydantic's words and what was given.
    ranged = {"field": "array.rows", "range": {"start": [1], "stop": 3}}
    assert _sweep_error({"axes": [ranged]}) == (
        "s.yaml: axes[0].range.start: Input should be a valid number, not a list")


def test_a_union_member_with_problems_inside_is_the_one_meant():
    # An objective is a metric's name or a mapping: a mapping with a bad goal also read
    # "objectives[0]: expected text, got a mapping", which is false.
    assert _sweep_error({"objectives": [{"metric": "latency_ms", "goal": "up"}]}) == (
        "s.yaml: objectives[0].goal: Input should be 'min' or 'max'")


@pytest.mark.parametrize(("text", "message"), [
    ("", "h.yaml: the file is empty; expected a mapping of hardware keys"),
    ("- 1\n", "h.yaml: expected a mapping of hardware keys, got a list"),
    ("bitmod\n", "h.yaml: expected a mapping of hardware keys, got the text 'bitmod'"),
])
def test_a_file_that_is_not_a_mapping_says_what_it_is(tmp_path, text, message):
    # It said "got NoneType", "got list", "got str": Python's names, not the file's.
    from hwsim.hw import load_hardware

    path = tmp_path / "h.yaml"
    path.write_text(text)
    with pytest.raises(HwsimError) as info:
        load_hardware(path)
    assert str(info.value) == message.replace("h.yaml", str(path))
