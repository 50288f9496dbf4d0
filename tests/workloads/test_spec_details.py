"""Workload details the other tests leave open: KV precision at head_dim, a name override
beating its class, a served batch capped by max_batch, the batch-tokens limit at its edge,
logit rows of chunked prefill, whole words through float error. Values derived by hand."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.errors import HwsimError
from hwsim.limits import MAX_BATCH_TOKENS, MAX_TOKENS
from hwsim.workloads import Op, operators, workload_from_dict
from hwsim.workloads.serving import Request, ServingPolicy, StepCost, serve
from hwsim.workloads.traffic import whole_words, word_accesses

BASE = {"model": "llama-2-7b", "prompt_tokens": 8, "generate_tokens": 2}


def _pre(w) -> dict[str, Op]:
    return {o.name: o for o in operators(w) if o.stage == "prefill"}


def test_a_per_row_kv_format_is_sized_at_head_dim() -> None:
    # ANT4 puts one FP16 scale on each row of the reduction dimension: for the K and V
    # caches that is head_dim 128 (the attention GEMMs' k), 4 + 16 / 128 bits, not the
    # hidden size's 4 + 16 / 4096.
    w = workload_from_dict({**BASE, "kv_cache": {"format": "ant4"}})
    assert w.kv_cache.bits == pytest.approx(4 + 16 / 128)
    pre = _pre(w)
    assert pre["attn_qk"].b_bits == pytest.approx(4 + 16 / 128)
    assert pre["k_proj"].out_bits == pytest.approx(4 + 16 / 128)


def test_a_layer_name_override_beats_its_class() -> None:
    w = workload_from_dict({**BASE, "weights": {"bits": 4, "overrides": {
        "ffn": {"bits": 6}, "down_proj": {"bits": 3}}}})
    pre = _pre(w)
    assert (pre["down_proj"].b_bits, pre["up_proj"].b_bits, pre["gate_proj"].b_bits) == (3, 6, 6)
    assert pre["q_proj"].b_bits == 4


def test_a_served_workload_batch_is_capped_by_max_batch() -> None:
    # Three requests, at most two running: the footprint's worst case is two sequences of
    # the longest prompt and generation.
    w = workload_from_dict({"model": "llama-2-7b", "serving": {"max_batch": 2},
                            "requests": [{"prompt_tokens": 10, "generate_tokens": 3},
                                         {"prompt_tokens": 30, "generate_tokens": 2},
                                         {"prompt_tokens": 20, "generate_tokens": 5}]})
    assert (w.batch, w.prompt_tokens, w.generate_tokens) == (2, 30, 5)


def test_the_batch_tokens_limit_counts_the_final_kv_length() -> None:
    # batch x (prompt + generate - 1): 64 x 2**20 = 2**26 is exactly the limit (accepted);
    # one more sequence is over it.
    assert 64 * MAX_TOKENS == MAX_BATCH_TOKENS
    w = workload_from_dict({"model": "llama-2-7b", "batch": 64, "prompt_tokens": MAX_TOKENS,
                            "generate_tokens": 1})
    assert w.batch == 64
    with pytest.raises(HwsimError, match=r"batch x \(prompt_tokens \+ generate_tokens - 1\)"):
        workload_from_dict({"model": "llama-2-7b", "batch": 65, "prompt_tokens": MAX_TOKENS,
                            "generate_tokens": 1})


def test_with_logits_last_only_the_final_prefill_chunk_emits_a_token() -> None:
    # A 10-token prompt in chunks of at most 4 (4, 4, 2), then one decode step. With
    # logits: last the lm_head runs once per sequence that emits: 0, 0, 1, then 1.
    run = serve([Request(0.0, 10, 2)], ServingPolicy(1, 4, True),
                lambda s: StepCost(seconds=1.0), logits_all=False)
    assert [s.tokens for s in run.shapes] == [4, 4, 2, 1]
    assert [s.logit_rows for s in run.shapes] == [0, 0, 1, 1]


def test_whole_words_do_not_round_an_exact_multiple_up_through_float_error() -> None:
    # 640 x (0.1 x 3) is 192.00000000000003 in floating point: three 64-bit words, not four.
    bits = 640 * (0.1 * 3)
    assert bits > 192
    assert word_accesses(np.array([bits]), 64).tolist() == [3]
    assert whole_words(np.array([bits, 0.0, 193.0]), 64).tolist() == [3.0, 0.0, 4.0]
