"""What it costs: per-tile cycle models, the tile pipeline, energy and area."""

__all__: list[str] = []
