"""Amaranth HDL components: bit-serial PEs, dequantization units, MACs and PE arrays.

Build any block by name with `registry.build` (``hwsim verilog --list`` shows them); each block
has a bit-exact NumPy golden model in `models` and port encoders in `streams`.
"""

from hwsim.hw.rtl.registry import BLOCKS, Block, Param, build, get_block, list_blocks, parse_params

__all__ = ["BLOCKS", "Block", "Param", "build", "get_block", "list_blocks", "parse_params"]
