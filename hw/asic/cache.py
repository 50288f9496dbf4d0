"""The persistent cache of gate-level results (netlists, block costs), keyed by content hash.

Folder: ``$HWSIM_CACHE_DIR`` if set (set but empty: no cache), else ``$XDG_CACHE_HOME/hwsim``,
else ``~/.cache/hwsim``. It is a cache, not an output: deleting it only costs time. Each entry
is one JSON file holding its key and the sha256 of its payload; an entry that does not parse,
names another key or fails its checksum is ignored (recomputed and rewritten), never trusted.
Writes go to a temporary file in the same folder and are renamed into place, so concurrent
sweep workers never read half an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hwsim.errors import HwsimError

__all__ = ["CACHE_ENV", "read_entry", "user_cache_dir", "write_entry"]

CACHE_ENV = "HWSIM_CACHE_DIR"
_FORMAT = "hwsim-cache/1"


def user_cache_dir() -> Path | None:
    """The cache folder (see the module doc); None when ``$HWSIM_CACHE_DIR`` is set empty.

    Raises:
        HwsimError: a file in the folder's place. A cache that cannot be written only costs
            time, but a file there is a mistake to name, not a cache silently turned off.
    """
    if CACHE_ENV in os.environ:
        given = os.environ[CACHE_ENV].strip()
        folder = Path(given).expanduser() if given else None
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        folder = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "hwsim"
    if folder is not None and folder.exists() and not folder.is_dir():
        raise HwsimError(f"cache folder {folder} (${CACHE_ENV}, else the default) exists and "
                         f"is not a folder; set {CACHE_ENV} to a folder, or to nothing "
                         f"({CACHE_ENV}=) for no cache")
    return folder


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _path(folder: Path, kind: str, key: str) -> Path:
    return folder / f"{kind}-{key}.json"


def read_entry(folder: Path | None, kind: str, key: str) -> Any | None:
    """The payload cached as ``kind`` under ``key`` in ``folder``; None when there is none or
    the entry is unreadable, truncated, for another key or fails its checksum."""
    if folder is None:
        return None
    try:
        entry = json.loads(_path(folder, kind, key).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("format") != _FORMAT or \
            entry.get("kind") != kind or entry.get("key") != key or "payload" not in entry:
        return None
    return entry["payload"] if entry.get("sha256") == _digest(entry["payload"]) else None


def write_entry(folder: Path | None, kind: str, key: str, payload: Any) -> None:
    """Cache ``payload`` (JSON data) as ``kind`` under ``key``: written whole or not at all.
    A folder that cannot be written leaves the run uncached (it only costs time)."""
    if folder is None:
        return
    entry = {"format": _FORMAT, "kind": kind, "key": key, "sha256": _digest(payload),
             "payload": payload}
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, prefix=f".{kind}-", suffix=".tmp",
                                         delete=False) as f:
            tmp = Path(f.name)
            json.dump(entry, f, sort_keys=True)
        tmp.replace(_path(folder, kind, key))
    except OSError:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
