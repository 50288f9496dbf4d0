"""The user's files: the safe YAML loader and the output folder, with their error messages.

A leaf module (like `hwsim.errors`): every layer may use it without depending on a higher one.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from hwsim.errors import HwsimError

__all__ = ["output_folder", "read_yaml"]


def read_yaml(path: str | Path, what: str) -> object:
    """Parse the YAML file at `path` with the safe loader.

    Args:
        path: the file.
        what: what the file should hold, for messages ("workload", "hardware description").

    Raises:
        HwsimError: unreadable file or malformed YAML, naming the file, line and column.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise HwsimError(f"{p}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise HwsimError(f"{p}: malformed YAML{where}: {problem}") from None


def output_folder(path: str | Path, option: str = "--out") -> Path:
    """Create the output folder `path` (and its parents) or say in one line why not.

    Raises:
        HwsimError: `path` is a file, or cannot be created (names `option`).
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise HwsimError(f"{option} {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HwsimError(f"{option} {out}: cannot write ({exc.strerror or exc})") from None
    return out
