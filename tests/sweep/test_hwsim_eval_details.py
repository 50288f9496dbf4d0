"""Metric details the broader tests leave open: the sweep's utilization is weighted by MACs
(README: not `hwsim run`'s cycle weighting), and a served trace's p99 metrics are the p99
of its requests, not their median."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.hw import hardware_to_dict, load_hardware
from hwsim.sim import simulate_workload
from hwsim.sim.serving import simulate_serving
from hwsim.sweep.hwsim_eval import evaluate
from hwsim.workloads import workload_from_dict


def test_utilization_is_weighted_by_macs():
    # Two GEMMs of different shapes run at different utilizations; the sweep's figure is
    # sum(utilization_i * macs_i) / sum(macs_i) over the simulator's per-layer table.
    workload = {"gemms": [{"name": "a", "m": 8, "n": 512, "k": 512},
                          {"name": "b", "m": 64, "n": 128, "k": 128}],
                "weights": {"format": "int4", "group_size": 128}}
    hw = load_hardware("bitmod")
    layers = simulate_workload(workload_from_dict(workload), hw).layers
    util = layers["utilization"].to_numpy(dtype=float)
    macs = layers["macs"].to_numpy(dtype=float)
    # 8*512*512 = 2,097,152 and 64*128*128 = 1,048,576 MACs: weights 2/3 and 1/3.
    assert macs.tolist() == [2_097_152, 1_048_576]
    expected = (2 * util[0] + util[1]) / 3
    assert abs(expected - util.mean()) > 1e-3  # the weighting matters for this pair
    metrics = evaluate({"hardware": hardware_to_dict(hw), "hardware_overrides": {},
                        "workload": workload})
    assert metrics["utilization"] == pytest.approx(expected, rel=1e-12)


def test_served_p99_metrics_are_the_requests_p99():
    # Three requests one at a time: they wait for each other, so first-token and end-to-end
    # times spread out and their p99 lies well above their median.
    served = {"model": "llama-2-7b", "weights": {"format": "bitmod3", "group_size": 128},
              "serving": {"max_batch": 1},
              "requests": [{"arrival_s": 0.0, "prompt_tokens": 24, "generate_tokens": 4},
                           {"arrival_s": 0.0, "prompt_tokens": 40, "generate_tokens": 3},
                           {"arrival_s": 0.001, "prompt_tokens": 16, "generate_tokens": 5}]}
    hw = load_hardware("bitmod")
    direct = simulate_serving(workload_from_dict(served), hw).summary()
    metrics = evaluate({"hardware": hardware_to_dict(hw), "hardware_overrides": {},
                        "workload": served})
    for metric, key in (("ttft_p99_s", "ttft_s"), ("e2e_p99_s", "e2e_s")):
        assert direct[key]["p99"] > 1.1 * direct[key]["p50"]
        assert metrics[metric] == pytest.approx(direct[key]["p99"], rel=1e-12)
    assert metrics["ttft_p50_s"] == pytest.approx(direct["ttft_s"]["p50"], rel=1e-12)
    assert np.isfinite(metrics["tpot_p99_s"])
