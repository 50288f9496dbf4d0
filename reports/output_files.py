"""Write a report's files all at once, so a failure never leaves half a report behind.

Every file is rendered to bytes first; only then is the folder created and each file written
to a temporary name beside its final one and renamed into place. A crash before the renames
leaves no report file; the temporaries are removed on any error.

A command that may write other files on another run (another figure format, no figure, a
histogram of another layer) records what it wrote: its ``summary.json`` names the command
(``written_by``) and holds the SHA-256 of every other file it wrote (``files``). The next run of
the same command into the folder removes what that record lists and it no longer writes
(`earlier_files`, `remove_stale_files`), so no figure sits beside results it is not of.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from hwsim.errors import HwsimError
from hwsim.reports.figure_style import FIGURE_FORMATS

__all__ = ["RUN", "digest", "earlier_files", "owned_names", "remove_stale_files", "render",
           "write_file", "write_outputs", "write_recorded_outputs", "write_summary"]

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
            tmp = _temporary(out / name)
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


def write_file(path: Path, content: Content) -> Path:
    """Write one output in place of `path` through a temporary beside it, so a crash or a full
    disk never leaves a partial file under the final name (an earlier run's file stays whole)."""
    tmp = _temporary(path)
    try:
        tmp.write_bytes(render(content))
        tmp.replace(path)
    except OSError as exc:  # named by the file the user asked for, not the hidden temporary
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


# A record without ``written_by`` is `hwsim run`'s (or its served trace's): they had none.
RUN = "hwsim run"


def digest(data: bytes | Path) -> str | None:
    """SHA-256 of `data`, or of the file at that path (None if it cannot be read)."""
    if isinstance(data, Path):
        try:
            data = data.read_bytes()
        except OSError:
            return None
    return hashlib.sha256(data).hexdigest()


def owned_names(files: Iterable[str], figure_stems: Iterable[str]) -> Callable[[str], bool]:
    """Whether a name is one a command writes: one of its `files`, or one of its figures
    (``<stem>.<format>``, any of `FIGURE_FORMATS`): the ``owned`` of `earlier_files`."""
    names, stems = frozenset(files), frozenset(figure_stems)

    def owned(name: str) -> bool:
        path = Path(name)
        return name in names or (path.stem in stems and path.suffix[1:] in FIGURE_FORMATS)

    return owned


def write_summary(out: Path, body: Mapping[str, Any], written: Iterable[Path],
                  command: str = RUN) -> Path:
    """Write ``summary.json``: `body` with ``files``, the SHA-256 of every other file the
    command wrote, by name (what `earlier_files` reads back), and ``written_by`` for a
    `command` other than `hwsim run` (whose records never had it)."""
    record = {**body, "files": {p.name: digest(p) for p in written}}
    if command != RUN:
        record["written_by"] = command
    return write_file(out / "summary.json", json.dumps(record, indent=2, sort_keys=True) + "\n")


def earlier_files(out: Path, command: str, owned: Callable[[str], bool],
                  record: str = "summary.json") -> dict[str, str | None]:
    """The files an earlier `command` into `out` listed in its `record` (``summary.json``;
    `hwsim fpga-scale`'s ``scaling.json``), with the SHA-256 it recorded (``files``;
    ``figures``, from before `hwsim run` listed them all, without one). Nothing if another
    command wrote that record; only names `owned` accepts (those `command` writes) are kept:
    never a file of the user's."""
    try:
        earlier = json.loads((out / record).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(earlier, dict) or earlier.get("written_by", RUN) != command:
        return {}
    listed = earlier.get("files", earlier.get("figures"))
    if isinstance(listed, list):
        listed = dict.fromkeys(listed)
    if not isinstance(listed, dict):
        return {}
    return {n: h if isinstance(h, str) else None for n, h in listed.items()
            if isinstance(n, str) and Path(n).name == n and owned(n)}


def remove_stale_files(out: Path, earlier: Mapping[str, str | None],
                       now: Iterable[str]) -> None:
    """Remove what an earlier run into `out` wrote (`earlier`) and this one did not (`now`):
    another figure format or none, another histogram would leave files beside these results as
    if theirs. A file whose bytes are no longer those the earlier run recorded (another
    command's file of that name written there since) is left alone.

    Raises:
        HwsimError: files that could not be removed, named, after trying every one (the new
            record no longer lists them: a later run would not remove them either).
    """
    failed = []
    for stale in sorted(set(earlier) - set(now)):
        recorded = earlier[stale]
        if recorded is None or digest(out / stale) == recorded:
            try:
                (out / stale).unlink(missing_ok=True)
            except OSError as exc:
                failed.append(f"{stale} ({exc.strerror or exc})")
    if failed:
        raise HwsimError(f"--out {out}: results written, but an earlier run's files beside "
                         f"them could not be removed: {', '.join(failed)}; remove them by hand")


def write_recorded_outputs(out_dir: str | Path, files: Mapping[str, Content],
                           summary: Mapping[str, Any], command: str,
                           owned: Callable[[str], bool]) -> list[Path]:
    """`write_outputs` of `files` and ``summary.json`` (first): `summary` with the record of
    `command` (``written_by``, ``files``). Then what an earlier `command` into the folder
    recorded and this one does not write is removed (`remove_stale_files`).

    Args:
        out_dir: the user's output folder.
        files: plain file names and their contents, ``summary.json`` not among them.
        summary: the body of ``summary.json``.
        command: the command writing, e.g. ``"hwsim tradeoff"``.
        owned: whether a file name is one `command` writes (on any run).
    """
    out = Path(out_dir)
    earlier = earlier_files(out, command, owned)
    blobs = {name: render(content) for name, content in files.items()}
    body = {**summary, "written_by": command,
            "files": {name: digest(blob) for name, blob in blobs.items()}}
    text = json.dumps(body, indent=2, sort_keys=True) + "\n"
    written = write_outputs(out, {"summary.json": text, **blobs})
    remove_stale_files(out, earlier, [p.name for p in written])
    return written
