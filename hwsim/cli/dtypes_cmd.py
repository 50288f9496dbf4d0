"""`hwsim dtypes`: list, show and compare number formats."""

from __future__ import annotations

import typer

app = typer.Typer(help="Number formats: list them, show code tables, compare quantization error.",
                  no_args_is_help=True)
