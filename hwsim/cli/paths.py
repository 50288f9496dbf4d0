"""The one parser of the command line's file and folder options.

``Path("")`` is ``Path(".")``: without it ``-o ''`` (an unset shell variable, say) writes into
the working directory and ``--tensor ''`` reads a folder. Every `Path` option and argument
takes ``parser=given_path``; `tests/cli/test_paths.py` holds them to it.
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["given_path"]


def given_path(text: str | Path) -> Path:
    """``text`` as a `Path`; typer.BadParameter (naming the option) if it is empty."""
    if isinstance(text, Path):  # a default, already a path
        return text
    if not text.strip():
        raise typer.BadParameter("an empty path names no file or folder")
    return Path(text)
