"""Cycle-level DRAM model behind the accelerator core's streams (testbenches, benchmarks).

Semantics (the ones `hwsim.sim.engine` assumes, ``dram(bytes) = beats + latency``):
- a request transferred at the edge ending cycle t is served from cycle ``t + 1 + latency``;
  requests of one direction are served in order, one beat per cycle;
- read data: ``rd_valid`` with the beat at the served address, one beat per cycle while the
  core is ready;
- write data: ``wr_ready`` is high while a served write request has beats left; each beat
  transferred is stored at the next address of that request.
The model is always ready for requests. With ``stall`` > 0 it also withholds read data and
write readiness in random cycles (each with that probability, seeded): back-pressure on both
data streams, which the core must survive without losing or repeating a beat.

Between transfers the model's outputs do not change, so an event-driven testbench need not step
it every cycle: `quiet` says for how many cycles nothing is served, `skip` advances over cycles
in which the core requested nothing (exactly what `step` does then). A testbench also need not
touch every port every cycle: `CoreOutputs` reads an output only when the model looks at it,
`InputWrites` writes an input only when its value changes.

Standard library only: the cocotb testbench loads this file into the simulator's process by
its path, without the package.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterator, Mapping

__all__ = ["CORE_INPUTS", "CORE_OUTPUTS", "CoreOutputs", "DramModel", "InputWrites"]

CORE_INPUTS = ("rd_req_ready", "rd_valid", "rd_data", "wr_req_ready", "wr_ready")
CORE_OUTPUTS = ("rd_req_valid", "rd_req_addr", "rd_req_beats", "rd_ready",
                "wr_req_valid", "wr_req_addr", "wr_req_beats", "wr_valid", "wr_data")


class DramModel:
    """DRAM contents (beat address -> value) behind the core's four streams."""

    def __init__(self, beats: dict[int, int], latency: int, stall: float = 0.0,
                 seed: int = 0) -> None:
        self.mem = dict(beats)
        self.latency = latency
        self.stall = stall
        self._rng = random.Random(seed)
        self._held = (False, False)   # this cycle: read data withheld, write not ready
        self.cycle = 0
        self.reads: deque[list[int]] = deque()   # [start cycle, address, beats left]
        self.writes: deque[list[int]] = deque()
        self.read_beats = self.write_beats = 0

    def _front(self, queue: deque) -> list[int] | None:
        return queue[0] if queue and queue[0][0] <= self.cycle else None

    def drive(self) -> dict[str, int]:
        """The values the model drives in the current cycle."""
        rd, wr = self._front(self.reads), self._front(self.writes)
        rd = None if self._held[0] else rd
        wr = None if self._held[1] else wr
        return {"rd_req_ready": 1, "wr_req_ready": 1, "rd_valid": int(rd is not None),
                "rd_data": self.mem.get(rd[1], 0) if rd else 0,
                "wr_ready": int(wr is not None)}

    def quiet(self) -> int | None:
        """Cycles from the current one in which the model serves nothing (0: a transfer is
        served now; None: no request pending, nothing is served until the core asks)."""
        starts = [queue[0][0] for queue in (self.reads, self.writes) if queue]
        if starts and self.stall:
            return 0    # every cycle draws the stalls: none is skipped
        return max(0, min(starts) - self.cycle) if starts else None

    def skip(self, cycles: int) -> None:
        """Advance over ``cycles`` cycles in which the core raised no request valid."""
        quiet = self.quiet()
        if cycles < 0 or (quiet is not None and cycles > quiet):
            raise ValueError(f"cannot skip {cycles} cycles: the model serves a transfer "
                             f"after {quiet}")
        self.cycle += cycles

    def step(self, core: dict[str, int]) -> None:
        """Apply the transfers of the edge ending this cycle, given the core's outputs."""
        ours = self.drive()
        start = self.cycle + 1 + self.latency
        rd, wr = self._front(self.reads), self._front(self.writes)
        rd = rd if ours["rd_valid"] else None
        wr = wr if ours["wr_ready"] else None
        if rd is not None and core["rd_ready"]:
            rd[1] += 1
            rd[2] -= 1
            self.read_beats += 1
            if rd[2] == 0:
                self.reads.popleft()
        if wr is not None and core["wr_valid"]:
            self.mem[wr[1]] = int(core["wr_data"])
            wr[1] += 1
            wr[2] -= 1
            self.write_beats += 1
            if wr[2] == 0:
                self.writes.popleft()
        if core["rd_req_valid"] and ours["rd_req_ready"] and core["rd_req_beats"]:
            self.reads.append([start, int(core["rd_req_addr"]), int(core["rd_req_beats"])])
        if core["wr_req_valid"] and ours["wr_req_ready"] and core["wr_req_beats"]:
            self.writes.append([start, int(core["wr_req_addr"]), int(core["wr_req_beats"])])
        if self.stall:
            self._held = (self._rng.random() < self.stall, self._rng.random() < self.stall)
        self.cycle += 1


class CoreOutputs(Mapping):
    """The core's outputs in one cycle, as `DramModel.step` takes them: each read through
    ``read(name)`` when the model first looks at it (simulator accesses are what a testbench
    costs); `sample` starts the next cycle."""

    def __init__(self, read: Callable[[str], int]) -> None:
        self._read = read
        self._values: dict[str, int] = {}

    def sample(self) -> CoreOutputs:
        self._values.clear()
        return self

    def __getitem__(self, name: str) -> int:
        if name not in self._values:
            if name not in CORE_OUTPUTS:
                raise KeyError(name)
            self._values[name] = int(self._read(name))
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(CORE_OUTPUTS)

    def __len__(self) -> int:
        return len(CORE_OUTPUTS)


class InputWrites:
    """Writes `DramModel.drive`'s values to the core's inputs through ``write(name, value)``,
    only those that differ from the last written (a write can cost a simulator a settle)."""

    def __init__(self, write: Callable[[str, int], None]) -> None:
        self._write = write
        self._last: dict[str, int] = {}

    def drive(self, values: dict[str, int]) -> None:
        for name, value in values.items():
            if self._last.get(name) != value:
                self._write(name, value)
                self._last[name] = value
