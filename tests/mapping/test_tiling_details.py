"""Blocking details the traffic search does not pin: the output width of the writes, the
first-k flags of the schedule, and no duplicate loop order among the candidates."""

from __future__ import annotations

import numpy as np

from hwsim.hw import hardware_from_dict
from hwsim.mapping import block_schedule, gemm_candidates, map_gemm
from hwsim.mapping.tiling import Mapping


def small_hw(w_kib: float = 64.0) -> object:
    return hardware_from_dict({
        "name": "small", "clock_mhz": 100,
        "pe": {"kind": "mac", "lanes": 1, "energy_pj_per_cycle": 1, "area_um2": 1},
        "array": {"rows": 8, "cols": 4},
        "buffers": {"weight": {"kib": w_kib}, "activation": {"kib": 64},
                    "output": {"kib": 64}},
        "dram": {"bytes_per_cycle": 8},
    })


def test_outputs_are_written_at_the_output_width() -> None:
    # 30 x 20 outputs at 8 bits = 600 B written (16-bit inputs read: (30 x 50 + 50 x 20) x 2).
    mp = map_gemm(30, 20, 50, 16, 16, 8, small_hw())
    assert mp.dram_write_bytes == 30 * 20
    assert mp.dram_read_bytes == (30 * 50 + 50 * 20) * 2


def test_schedule_flags_the_first_k_block_and_writes_on_the_last() -> None:
    # m 4, n 8, k 32 in blocks of 4 x 8 x 16: one output block, two k blocks. The first
    # starts a partial sum, the second finishes it and writes 4 x 8 x 2 B.
    mp = Mapping(4, 8, 32, 8, 4, "n_outer", 4, 8, 16, 1, 1, 0.0, 0.0)
    s = block_schedule(mp, 16, 16, 16)
    assert s.first_k.tolist() == [True, False]
    assert s.writeback_bytes.tolist() == [0, 4 * 8 * 2]
    assert s.last_block.tolist() == [False, True]
    # Two output blocks along n, k split in two: first-k on blocks 0 and 2.
    mp2 = Mapping(4, 16, 32, 8, 4, "n_outer", 4, 8, 16, 2, 1, 0.0, 0.0)
    assert block_schedule(mp2, 16, 16, 16).first_k.tolist() == [True, False, True, False]


def test_a_single_block_along_m_keeps_only_the_n_outer_order() -> None:
    # m 4 is one block (the 4-column quantum) whatever the blocking: m_outer walks the same
    # blocks as n_outer, so it is not a candidate of its own (no two candidates tie).
    one = np.ones(1, dtype=np.int64)
    c = gemm_candidates(one * 4, one * 64, one * 64, 16, 16, 16, small_hw(w_kib=8)).mappings
    assert len(c.n_outer) > 1
    assert c.n_outer.all()
    keys = set(zip(c.block_m.tolist(), c.block_n.tolist(), c.block_k.tolist(), strict=True))
    assert len(keys) == len(c.n_outer)
