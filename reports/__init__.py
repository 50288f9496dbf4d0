"""What a person sees: roofline analysis, summary tables, CSV/JSON/Markdown and figures."""

__all__: list[str] = []
