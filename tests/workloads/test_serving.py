"""The continuous-batching scheduler with a step cost derived by hand, trace errors and the
limits a trace is held to."""

import json

import numpy as np
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
    read_trace_csv,
    serve,
)


def tokens_cost(shape):
    """One second per token in the step: every figure below follows by hand."""
    return StepCost(seconds=float(shape.tokens))


def test_one_request_prefill_then_decodes():
    # 10-token prompt, 4 tokens out: prefill step (10 s, first token at 10 s after arrival
    # at 2 s), then 3 decode steps of 1 s.
    run = serve([Request(2.0, 10, 4)], ServingPolicy(), tokens_cost)
    # The timeline counts from the first arrival, which was at 2 s on the trace's clock.
    assert run.origin_s == 2.0 and run.summary()["first_arrival_s"] == 2.0
    assert run.step_start_s.tolist() == [0.0, 10.0, 11.0, 12.0]
    assert run.arrival_s.tolist() == [0.0]
    assert run.first_token_s.tolist() == [10.0] and run.finish_s.tolist() == [13.0]
    assert run.step_s.tolist() == [10.0, 1.0, 1.0, 1.0]
    assert run.ttft_s.tolist() == [10.0]
    assert run.tpot_s.tolist() == [1.0]
    assert run.e2e_s.tolist() == [13.0]


def short_steps_cost(shape):
    """Steps of about 20 ms that are not binary fractions: a clock of 1.7e9 s rounds them."""
    return StepCost(seconds=0.020775434 + 1.1e-6 * shape.tokens)


@pytest.mark.parametrize("offset", [1.7e9, 9.9e10])
def test_results_do_not_depend_on_where_the_trace_starts(offset):
    # On one absolute clock a Unix-time trace rounded every time to 2**-22 s (at 1.7e9): TTFT
    # 20.7753 ms became 20.7752 ms, and at 1e300 every time was 0.
    # Gaps the offset's float can hold exactly (2**-10 s), so the arrivals are the same.
    gaps = [0.0, 2.0**-10, 0.5, 40.0]
    base = serve([Request(g, 4, 3) for g in gaps], ServingPolicy(), short_steps_cost)
    run = serve([Request(offset + g, 4, 3) for g in gaps], ServingPolicy(), short_steps_cost)
    assert run.origin_s == offset
    for key in ("ttft_s", "tpot_s", "e2e_s", "step_s"):
        assert getattr(run, key).tolist() == getattr(base, key).tolist(), key
    assert run.step_start_s.tolist() == base.step_start_s.tolist()
    assert run.summary()["makespan_s"] == base.summary()["makespan_s"]


def test_a_long_idle_gap_keeps_the_later_requests_exact():
    # Idle for 1e10 s, then a request: its TTFT is the step's 20.78 ms, not rounded to 2**-19.
    run = serve([Request(0.0, 4, 3), Request(1e10, 4, 3)], ServingPolicy(), short_steps_cost)
    assert run.ttft_s[1] == run.ttft_s[0] == short_steps_cost(run.shapes[0]).seconds
    assert run.e2e_s[1] == run.e2e_s[0]
    assert run.step_start_s[3] == 1e10


def test_minus_zero_arrival_is_the_time_zero(tmp_path):
    w = workload_from_dict({**BASE, "requests": [{"arrival_s": -0.0, "prompt_tokens": 4,
                                                   "generate_tokens": 3}]})
    assert str(w.requests[0].arrival_s) == "0.0"
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,generate_tokens\n-0,4,3\n", encoding="utf-8")
    assert str(read_trace_csv(trace)[0].arrival_s) == "0.0"
    run = serve(w.requests, ServingPolicy(), tokens_cost)
    assert str(run.origin_s) == "0.0" and str(run.arrival_s[0]) == "0.0"


def test_chunked_prefill_shares_the_budget_with_decodes():
    # Budget 8 tokens. A (prompt 4, 3 out) at 0; B (prompt 10, 2 out) at 0.
    # Step 0: A prefills 4, B prefills 4 (budget) -> 8 s; A's first token at 8.
    # Step 1: A decodes 1, B prefills 6 more (its last) -> 7 s, ends 15: A's 2nd token, B's
    # first. Step 2: A decodes (last, 3rd), B decodes (last, 2nd) -> 2 s, ends 17.
    run = serve([Request(0.0, 4, 3), Request(0.0, 10, 2)],
                ServingPolicy(max_batch=4, max_tokens_per_step=8), tokens_cost)
    assert run.step_s.tolist() == [8.0, 7.0, 2.0]
    assert run.step_prefill_tokens.tolist() == [8, 6, 0]
    assert run.ttft_s.tolist() == [8.0, 15.0]
    assert run.e2e_s.tolist() == [17.0, 17.0]
    assert run.tpot_s.tolist() == [4.5, 2.0]
    # The KV length of every sequence in every step (ragged): B's chunks attend to 4 then 10.
    assert run.shapes[0].attention == ((4, 4, 2),)
    assert run.shapes[1].attention == ((1, 5, 1), (6, 10, 1))
    assert run.shapes[2].attention == ((1, 6, 1), (1, 11, 1))


def test_without_chunking_a_prompt_waits_for_room_and_the_batch_is_capped():
    # max_batch 1: B waits until A is done; budget 8 without chunking: prompts run whole.
    run = serve([Request(0.0, 5, 2), Request(1.0, 8, 1)],
                ServingPolicy(max_batch=1, max_tokens_per_step=8, chunked_prefill=False),
                tokens_cost)
    assert run.step_batch.tolist() == [1, 1, 1]
    assert run.step_start_s.tolist() == [0.0, 5.0, 6.0]
    assert run.ttft_s.tolist() == [5.0, 13.0]
    assert np.isnan(run.tpot_s[1])  # one generated token: no time per output token


def test_idle_until_the_next_arrival():
    run = serve([Request(0.0, 2, 1), Request(100.0, 3, 1)], ServingPolicy(), tokens_cost)
    assert run.step_start_s.tolist() == [0.0, 100.0]
    s = run.summary()
    assert s["makespan_s"] == 103.0 and s["busy_s"] == 5.0
    assert s["ttft_s"]["p50"] == 2.5  # the median of 2 and 3


def test_makespan_and_throughput_count_from_the_first_arrival():
    # One request arriving at 100 s: prefill of 10 tokens (10 s), then 3 decode steps of 1 s,
    # done at 113 s. The server worked 13 s for it: 4 output tokens / 13 s, and it processed
    # 13 tokens (the prompt and 3 decode steps: the prefill emits the first token, as a plain
    # workload counts them; prompt + generated, 14, was once counted instead).
    run = serve([Request(100.0, 10, 4)], ServingPolicy(), tokens_cost)
    s = run.summary()
    assert s["makespan_s"] == 13.0 and s["busy_s"] == 13.0
    assert s["output_tokens_per_s"] == 4 / 13
    assert s["throughput_tokens_per_s"] == 13 / 13 == run.step_tokens.sum() / 13
    # Idle time between arrivals counts: 50 s (2 s step) and 150 s (3 s step) -> 50 .. 153.
    s = serve([Request(50.0, 2, 1), Request(150.0, 3, 1)], ServingPolicy(),
              tokens_cost).summary()
    assert s["makespan_s"] == 103.0 and s["busy_s"] == 5.0
    assert s["output_tokens_per_s"] == 2 / 103


BASE = {"model": "llama-2-7b"}


@pytest.mark.parametrize(("extra", "match"), [
    ({"requests": []}, r"requests: empty trace"),
    ({"requests": [{"arrival_s": -1, "prompt_tokens": 3, "generate_tokens": 2}]},
     r"requests\[0\]: arrival_s -1.0 is not a time >= 0"),
    # A Unix time in milliseconds is a unit slip (a time in seconds, 1.7e9, is fine).
    ({"requests": [{"arrival_s": 1.7e12, "prompt_tokens": 3, "generate_tokens": 2}]},
     r"requests\[0\]: arrival_s 1700000000000.0 is above the limit of 1e\+11 s \(about 3,170 "
     r"years\): give seconds"),
    ({"requests": [{"arrival_s": 2, "prompt_tokens": 3, "generate_tokens": 2},
                   {"arrival_s": 1, "prompt_tokens": 3, "generate_tokens": 2}]},
     r"requests\[1\]: arrival_s 1.0 is before the previous request's 2.0; sort the trace"),
    ({"requests": [{"prompt_tokens": 4000, "generate_tokens": 100}]},
     r"requests\[0\]: prompt_tokens \+ generate_tokens - 1 = 4099 is beyond llama-2-7b's "
     r"context of 4096"),
    ({"requests": [{"prompt_tokens": 0, "generate_tokens": 1}]},
     r"requests\[0\].prompt_tokens: Input should be greater than 0"),
    ({"requests": [{"prompt_tokens": 3000, "generate_tokens": 1}],
      "serving": {"max_tokens_per_step": 2048, "chunked_prefill": False}},
     r"requests\[0\]: prompt_tokens 3000 exceeds serving.max_tokens_per_step 2048 without "
     r"chunked_prefill"),
    ({"requests": [{"prompt_tokens": 3, "generate_tokens": 1}],
      "serving": {"max_batch": 64, "max_tokens_per_step": 32}},
     r"serving: max_tokens_per_step 32 is smaller than max_batch 64"),
    ({"requests": [{"prompt_tokens": 3, "generate_tokens": 1}], "batch": 2},
     r"batch: not allowed together with 'requests'"),
    ({"batch": [4, 8], "prompt_tokens": 3, "generate_tokens": 2},
     r"prompt_tokens: not allowed with a batch list"),
    ({"prompt_tokens": 3, "generate_tokens": 2, "serving": {"max_batch": 2}},
     r"serving: only applies to 'requests' or a batch list"),
])
def test_bad_traces_are_one_line_errors(extra, match):
    with pytest.raises(HwsimError, match=match) as info:
        workload_from_dict({**BASE, **extra})
    assert "\n" not in str(info.value)


def test_mixture_of_experts_serving_is_refused():
    with pytest.raises(HwsimError, match=r"serving a mixture-of-experts model"):
        workload_from_dict({"model": "mixtral-8x7b", "batch": [4, 8], "generate_tokens": 2})


def test_csv_trace(tmp_path):
    good = tmp_path / "t.csv"
    good.write_text("arrival_s,prompt_tokens,generate_tokens\n0,12,3\n0.5,7,1\n",
                    encoding="utf-8")
    w = workload_from_dict({**BASE, "requests": "t.csv"}, source="w.yaml", base_dir=tmp_path)
    assert w.requests == (Request(0.0, 12, 3), Request(0.5, 7, 1))
    assert (w.batch, w.prompt_tokens, w.generate_tokens) == (2, 12, 3)
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival_s,prompt_tokens,generate_tokens\n0,12,x\n", encoding="utf-8")
    with pytest.raises(HwsimError, match=r"bad.csv: line 2: generate_tokens 'x' is not a "
                                         r"positive integer"):
        read_trace_csv(bad)
    header = tmp_path / "h.csv"
    header.write_text("time,prompt,gen\n", encoding="utf-8")
    with pytest.raises(HwsimError, match=r"h.csv: line 1: expected the header"):
        read_trace_csv(header)


@pytest.mark.parametrize(("text", "line", "problem"), [
    # Blank lines are lines: the request out of order is on line 6, not the third request's 4.
    ("0,10,5\n\n\n0.5,20,5\n0.1,10,5\n", 6, "arrival_s 0.1 is before the previous"),
    ("0,10,5\n\n\n\n1,4000,500\n", 6, r"prompt_tokens \+ generate_tokens - 1 = 4499 is beyond"),
    # A quoted value over two lines: the next request starts on line 4.
    ('"0\n",10,5\n0.1,10,\n', 4, "generate_tokens '' is not a positive integer"),
    # Python's int() and float() take digit separators and other scripts' digits; a CSV
    # cell means ASCII digits only.
    ("0,1_000,5\n", 2, "prompt_tokens '1_000' is not a positive integer"),
    ("0,\uff14,5\n", 2, "prompt_tokens '\uff14' is not a positive integer"),
    ("1_0.5,10,5\n", 2, r"arrival_s '1_0.5' is not a number \(seconds"),
    ("\uff11,10,5\n", 2, "arrival_s '\uff11' is not a number"),
    ("nan,10,5\n", 2, "arrival_s 'nan' is not a number"),
])
def test_csv_errors_name_the_request_s_own_line(tmp_path, text, line, problem):
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,generate_tokens\n" + text, encoding="utf-8")
    with pytest.raises(HwsimError, match=rf"t.csv: line {line}: {problem}"):
        workload_from_dict({**BASE, "requests": "t.csv"}, source="w.yaml", base_dir=tmp_path)


def test_a_long_cell_is_not_echoed_whole(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,generate_tokens\n0," + "9" * 5000 + "x,3\n",
                     encoding="utf-8")
    with pytest.raises(HwsimError, match=r"line 2: prompt_tokens '9{20}'\.\.\. \(5,001 "
                                         r"characters\) is not a positive integer$"):
        read_trace_csv(trace)


def test_csv_trace_with_a_byte_order_mark(tmp_path):
    # Spreadsheets save UTF-8 CSV with a byte-order mark; it was read as part of the header.
    trace = tmp_path / "t.csv"
    trace.write_bytes(b"\xef\xbb\xbfarrival_s,prompt_tokens,generate_tokens\r\n0,12,3\r\n")
    assert read_trace_csv(trace) == [Request(0.0, 12, 3)]


def test_throughput_counts_the_tokens_the_steps_process():
    # Two requests sharing steps: 10 + 5 prompt tokens and (4 - 1) + (1 - 1) decode steps,
    # 18 tokens in all, exactly what the steps process.
    run = serve([Request(0.0, 10, 4), Request(3.0, 5, 1)], ServingPolicy(), tokens_cost)
    s = run.summary()
    assert int(run.step_tokens.sum()) == 18
    assert s["throughput_tokens_per_s"] == 18 / s["makespan_s"]
    assert s["output_tokens_per_s"] == 5 / s["makespan_s"]


def test_a_coster_without_cycles_gives_no_cycles_not_zeros():
    # The roofline costs a step by time: its steps have no cycles, which must not read as 0.
    assert serve([Request(0.0, 10, 4)], ServingPolicy(), tokens_cost).step_cycles is None
    run = serve([Request(0.0, 10, 4)], ServingPolicy(),
                lambda shape: StepCost(seconds=float(shape.tokens), cycles=7 * shape.tokens))
    assert run.step_cycles is not None and run.step_cycles.tolist() == [70, 7, 7, 7]


def test_throughput_counts_the_idle_time_between_requests():
    # 2 + 3 prompt tokens in steps of 2 s and 3 s, 100 s apart: 5 tokens over the 103 s
    # makespan (over the 5 busy seconds it would be 1 token/s).
    run = serve([Request(0.0, 2, 1), Request(100.0, 3, 1)], ServingPolicy(), tokens_cost)
    assert run.summary()["throughput_tokens_per_s"] == 5 / 103


def test_mean_batch_and_utilization_are_weighted_by_step_time():
    # Both prompts in one 14 s step (batch 2), then 2 decode steps of 1 s (batch 1).
    def cost(shape):
        return StepCost(seconds=float(shape.tokens), utilization=shape.tokens / 20)

    run = serve([Request(0.0, 10, 3), Request(0.0, 4, 1)], ServingPolicy(), cost)
    assert run.step_s.tolist() == [14.0, 1.0, 1.0]
    assert run.step_batch.tolist() == [2, 1, 1]
    s = run.summary()
    # (2 x 14 + 1 + 1) / 16; unweighted it would be 4 / 3.
    assert s["mean_batch"] == pytest.approx(30 / 16)
    # (0.7 x 14 + 0.05 + 0.05) / 16; unweighted (0.7 + 0.1) / 3.
    assert s["utilization"] == pytest.approx((0.7 * 14 + 0.1) / 16)


# Limits a trace is held to: a plain workload's sequence, its decode lengths, its steps.

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


# Errors that name what the file left to a default.

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
