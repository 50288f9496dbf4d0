"""How an operator is laid onto a hardware description: tiles, loop order, dataflow.

`gemm_candidates` lists every blocking and loop order that fits the hardware, least DRAM
traffic first; `map_gemm` is the first of them (the mapper's own choice). `hwsim.sim` costs
the candidates and runs the fastest (ties to the least traffic), reported per operator with
what chose it (`Mapping.chosen_by`). `block_schedule` lists the blocks in execution order with
the bytes each one moves, which `hwsim.sim` turns into cycles and energy;
`representative_blocks` the few that stand for them all.
"""

from hwsim.mapping.attention import fused_attention_schedule, fused_buffer_needs
from hwsim.mapping.tiling import (
    CHOSEN_BY_CYCLES,
    CHOSEN_BY_TRAFFIC,
    BlockSchedule,
    Candidates,
    Mapping,
    Mappings,
    block_schedule,
    block_schedules,
    gemm_candidates,
    map_gemm,
    map_gemms,
    representative_blocks,
    tile_quanta,
)

__all__ = [
    "CHOSEN_BY_CYCLES",
    "CHOSEN_BY_TRAFFIC",
    "BlockSchedule",
    "Candidates",
    "Mapping",
    "Mappings",
    "block_schedule",
    "block_schedules",
    "fused_attention_schedule",
    "fused_buffer_needs",
    "gemm_candidates",
    "map_gemm",
    "map_gemms",
    "representative_blocks",
    "tile_quanta",
]
