"""How an operator is laid onto a hardware description: tiles, loop order, dataflow.

`map_gemm` chooses buffer blocks and the loop order with the least DRAM traffic (the chosen
`Mapping` is reported per operator); `block_schedule` lists the blocks in execution order with
the bytes each one moves, which `hwsim.sim` turns into cycles and energy.
"""

from hwsim.mapping.attention import fused_attention_schedule, fused_buffer_needs
from hwsim.mapping.tiling import (
    BlockSchedule,
    Mapping,
    Mappings,
    block_schedule,
    block_schedules,
    map_gemm,
    map_gemms,
    tile_quanta,
)

__all__ = [
    "BlockSchedule",
    "Mapping",
    "Mappings",
    "block_schedule",
    "block_schedules",
    "fused_attention_schedule",
    "fused_buffer_needs",
    "map_gemm",
    "map_gemms",
    "tile_quanta",
]
