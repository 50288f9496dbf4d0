"""Cycle-level DRAM model behind the accelerator core's streams (testbenches, benchmarks).

Semantics (the ones `hwsim.sim.engine` assumes, ``dram(bytes) = beats + latency``):
- a request transferred at the edge ending cycle t is served from cycle ``t + 1 + latency``;
  requests of one direction are served in order, one beat per cycle;
- read data: ``rd_valid`` with the beat at the served address, one beat per cycle while the
  core is ready;
- write data: ``wr_ready`` is high while a served write request has beats left; each beat
  transferred is stored at the next address of that request.
The model is always ready for requests.
"""

from __future__ import annotations

from collections import deque

__all__ = ["CORE_INPUTS", "CORE_OUTPUTS", "DramModel"]

CORE_INPUTS = ("rd_req_ready", "rd_valid", "rd_data", "wr_req_ready", "wr_ready")
CORE_OUTPUTS = ("rd_req_valid", "rd_req_addr", "rd_req_beats", "rd_ready",
                "wr_req_valid", "wr_req_addr", "wr_req_beats", "wr_valid", "wr_data")


class DramModel:
    """DRAM contents (beat address -> value) behind the core's four streams."""

    def __init__(self, beats: dict[int, int], latency: int) -> None:
        self.mem = dict(beats)
        self.latency = latency
        self.cycle = 0
        self.reads: deque[list[int]] = deque()   # [start cycle, address, beats left]
        self.writes: deque[list[int]] = deque()
        self.read_beats = self.write_beats = 0

    def _front(self, queue: deque) -> list[int] | None:
        return queue[0] if queue and queue[0][0] <= self.cycle else None

    def drive(self) -> dict[str, int]:
        """The values the model drives in the current cycle."""
        rd, wr = self._front(self.reads), self._front(self.writes)
        return {"rd_req_ready": 1, "wr_req_ready": 1, "rd_valid": int(rd is not None),
                "rd_data": self.mem.get(rd[1], 0) if rd else 0,
                "wr_ready": int(wr is not None)}

    def step(self, core: dict[str, int]) -> None:
        """Apply the transfers of the edge ending this cycle, given the core's outputs."""
        ours = self.drive()
        start = self.cycle + 1 + self.latency
        rd, wr = self._front(self.reads), self._front(self.writes)
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
        self.cycle += 1
