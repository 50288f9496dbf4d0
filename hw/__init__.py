"""What computes it: hardware descriptions, presets, Amaranth components and Verilog."""

__all__: list[str] = []
