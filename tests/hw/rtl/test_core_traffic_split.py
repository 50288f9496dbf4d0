"""The weight load's split between weight codes and group scales, as the core moves them: the
simulator's figures on the core's YAML against the beats the Amaranth core reads from each
DRAM region (`core_layout.core_image`: codes and scales are regions of their own)."""

from __future__ import annotations

import numpy as np
import pytest
from core_bench import run_commands
from core_cases import SMALL, make_case

from hwsim.hw.rtl.accel_core import AccelCore
from hwsim.hw.rtl.core_dram import DramModel
from hwsim.hw.rtl.core_layout import core_hardware, read_outputs
from hwsim.hw.spec import hardware_from_dict
from hwsim.sim import simulate_workload
from hwsim.workloads import workload_from_dict


class RegionDram(DramModel):
    """`DramModel` counting the read beats it serves from each region of a `CoreImage`."""

    def __init__(self, image, latency: int) -> None:
        super().__init__(image.beats, latency)
        self.bounds = {"activations": (image.a_addr, image.b_addr),
                       "weights": (image.b_addr, image.s_addr),
                       "scales": (image.s_addr, image.o_addr)}
        self.region_beats = dict.fromkeys(self.bounds, 0)

    def step(self, core: dict[str, int]) -> None:
        before, served = self.read_beats, self.reads[0][1] if self.reads else None
        super().step(core)
        if self.read_beats > before:    # one beat read, at the front request's address
            for name, (lo, hi) in self.bounds.items():
                self.region_beats[name] += lo <= served < hi


@pytest.mark.parametrize(("m", "n", "k", "latency"), [
    (9, 5, 52, 4),     # k = 6.5 groups: scale lines padded to a group, codes to a beat
    (6, 10, 40, 1),    # k whole groups (the stored widths' ratio was exact here already)
])
def test_weight_and_scale_bytes_are_the_lines_read_from_each_region(m, n, k, latency):
    case = make_case(SMALL, m, n, k, latency, seed=m * 100 + n)
    dram = RegionDram(case.image, latency)
    run = run_commands(AccelCore(SMALL), dram, [case.descriptor])[0]
    assert run.status["done"] and (read_outputs(SMALL, case.image, dram.mem)
                                   == case.expected).all()
    hw = hardware_from_dict(core_hardware(SMALL, latency_cycles=latency), source="core.yaml")
    w = workload_from_dict({"gemms": [{"name": "g", "m": m, "n": n, "k": k}],
                            "activations": {"bits": 16},
                            "weights": {"format": "bitmod4", "group_size": SMALL.group_size}})
    row = simulate_workload(w, hw).layers.iloc[0]
    # The workload is run in the blocking the core ran.
    assert row["mapping"].startswith(case.mapping.describe().split(";")[0])
    bus = SMALL.bus_bytes
    got = {t: row[f"dram_{t}_bytes"] for t in dram.region_beats}
    assert got == {t: beats * bus for t, beats in dram.region_beats.items()}
    # And the weight buffer is written what DRAM delivered, split alike.
    assert (row["sram_weight_weights_bytes"] - row["dram_weights_bytes"],
            row["sram_weight_scales_bytes"] - row["dram_scales_bytes"]) == pytest.approx(
        (row["sram_weight_read_bytes"] * np.array([SMALL.code_bits, 16 / SMALL.group_size])
         / (SMALL.code_bits + 16 / SMALL.group_size)).tolist())
    if (m, n, k) == (9, 5, 52):
        # 468 / 252 bytes: the stored widths' ratio (4 : 2 bits a weight) gave 480 / 240.
        assert (got["weights"], got["scales"]) == (468, 252)
