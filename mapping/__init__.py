"""How an operator is laid onto a hardware description: tiles, loop order, dataflow."""

__all__: list[str] = []
