"""Write a report's files all at once, so a failure never leaves half a report behind.

Every file is rendered to bytes first; only then is the folder created and each file written
to a temporary name beside its final one and renamed into place. A crash before the renames
leaves no report file; the temporaries are removed on any error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from hwsim.errors import HwsimError

__all__ = ["render", "write_outputs"]

Content = bytes | str | pd.DataFrame


def render(content: Content) -> bytes:
    """Bytes of one output: a DataFrame as CSV (no index), text as UTF-8, bytes as they are."""
    if isinstance(content, pd.DataFrame):
        return content.to_csv(index=False, lineterminator="\n").encode("utf-8")
    if isinstance(content, str):
        return content.encode("utf-8")
    return bytes(content)


def write_outputs(out_dir: str | Path, files: Mapping[str, Content]) -> list[Path]:
    """Write ``{file name: content}`` into `out_dir` (created if needed).

    Args:
        out_dir: the user's output folder.
        files: plain file names (no folders) and their contents.

    Returns:
        The paths written, in the order given.

    Raises:
        HwsimError: a name with a folder part, or the folder cannot be written.
    """
    out = Path(out_dir)
    for name in files:
        if Path(name).name != name or name in ("", ".", ".."):
            raise HwsimError(f"output name {name!r}: must be a plain file name")
    blobs = {name: render(content) for name, content in files.items()}
    if out.exists() and not out.is_dir():
        raise HwsimError(f"--out {out}: exists and is not a folder")
    temps: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, blob in blobs.items():
            tmp = out / f".{name}.tmp-{os.getpid()}"
            temps.append(tmp)
            tmp.write_bytes(blob)
        paths = []
        for (name, _), tmp in zip(blobs.items(), temps, strict=True):
            tmp.replace(out / name)
            paths.append(out / name)
        return paths
    except OSError as exc:
        raise HwsimError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
