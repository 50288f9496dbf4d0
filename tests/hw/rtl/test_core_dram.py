"""The core's DRAM model: transfers cost beats + latency; skipping quiet cycles (what the
event-driven cocotb testbench does) equals stepping them with the core idle."""

from __future__ import annotations

import random

import pytest

from hwsim.hw.rtl.core_dram import CORE_OUTPUTS, DramModel

IDLE = dict.fromkeys(CORE_OUTPUTS, 0)


def _core(**values: int) -> dict[str, int]:
    return {**IDLE, "rd_ready": 1, **values}


def _state(d: DramModel) -> tuple:
    return d.cycle, list(map(list, d.reads)), list(map(list, d.writes)), d.mem, \
        d.read_beats, d.write_beats


def test_a_read_of_n_beats_takes_n_plus_latency_cycles():
    d = DramModel({10 + i: 100 + i for i in range(4)}, latency=3)
    d.step(_core(rd_req_valid=1, rd_req_addr=10, rd_req_beats=4))  # request at edge 0
    got = []
    for cycle in range(1, 12):
        out = d.drive()
        if out["rd_valid"]:
            got.append((cycle, out["rd_data"]))
        d.step(_core())
    # Served from cycle 1 + latency, one beat per cycle: done 4 + 3 cycles after the request.
    assert got == [(4, 100), (5, 101), (6, 102), (7, 103)]


def test_quiet_counts_the_cycles_until_the_next_served_beat():
    d = DramModel({}, latency=5)
    assert d.quiet() is None
    d.step(_core(wr_req_valid=1, wr_req_addr=0, wr_req_beats=2))
    assert d.quiet() == 5
    d.skip(5)
    assert d.quiet() == 0 and d.drive()["wr_ready"] == 1
    with pytest.raises(ValueError, match="cannot skip 1 cycles"):
        d.skip(1)


@pytest.mark.parametrize("seed", range(5))
def test_skipping_quiet_cycles_equals_stepping_them(seed):
    rng = random.Random(seed)
    mem = {a: rng.getrandbits(32) for a in range(64)}
    latency = rng.randint(0, 6)
    stepped, skipped = DramModel(mem, latency), DramModel(mem, latency)
    for _ in range(60):
        # A cycle of core activity (a request, or taking / giving a served beat) on both...
        core = _core(rd_ready=rng.randint(0, 1), wr_valid=rng.randint(0, 1),
                     wr_data=rng.getrandbits(32))
        if rng.random() < 0.3:
            core.update(rd_req_valid=1, rd_req_addr=rng.randrange(60), rd_req_beats=3)
        if rng.random() < 0.3:
            core.update(wr_req_valid=1, wr_req_addr=rng.randrange(60), wr_req_beats=2)
        assert stepped.drive() == skipped.drive()
        stepped.step(core)
        skipped.step(core)
        # ...then the quiet cycles with the core idle: one by one against one skip.
        quiet = stepped.quiet()
        idle = rng.randint(0, 8) if quiet is None else rng.randint(0, quiet)
        for _ in range(idle):
            assert stepped.drive() == skipped.drive()
            stepped.step(_core(rd_ready=rng.randint(0, 1), wr_data=rng.getrandbits(32)))
        skipped.skip(idle)
        assert _state(stepped) == _state(skipped)
