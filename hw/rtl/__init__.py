"""Amaranth HDL components: bit-serial PEs, dequantization units, MACs and PE arrays."""
