"""The resumable result store: one JSON file per point, named by the hash of its configuration.

``OUT/points/<key>.json`` is written to a temporary name, flushed to disk and renamed, so a
killed process leaves either the whole record or none (a rename within one folder is atomic
on POSIX). A rerun asks `has` before evaluating and skips what is stored. Records hold no
time stamps: the same point gives the same bytes on every run and executor.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hwsim.errors import HwsimError

__all__ = ["ResultStore", "canonical_json", "point_key", "remove_stale_temporaries", "write_atomic"]


_PLAIN_NAME = re.compile(r"[0-9A-Za-z_-]+")


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no spacing choices left open: equal data, equal text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def point_key(evaluator: str, config: Mapping[str, Any]) -> str:
    """SHA-256 of the evaluator's name and the point's full configuration (hex, 64 chars)."""
    text = canonical_json({"evaluator": evaluator, "config": config})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(folder: Path) -> int:
    """Delete the temporary files `write_atomic` left in `folder` when its process was
    killed (those of a process still running are kept). Returns how many were deleted."""
    removed = 0
    for tmp in folder.glob(".*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers never see a partial file."""
    tmp = _temporary(path)
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def _is_number(value: Any) -> bool:
    # bool is an int to isinstance: a `true` metric would otherwise read as 1.
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer of hundreds of digits: no float holds it
        return False


def _shape_problem(record: dict[str, Any], key: str) -> str | None:
    """What is wrong with a record read back from disk (``None``: nothing).

    `get` checks what its readers rely on, so a hand-edited or damaged file is one message
    naming it, not a KeyError or a string among the numbers of a table column.
    """
    missing = [k for k in ("key", "values", "metrics", "error") if k not in record]
    if missing:
        return f"missing {', '.join(missing)}"
    if record["key"] != key:  # a copied file would put another point's numbers here
        return f"its key {record['key']!r} is not its file name"
    if not isinstance(record["values"], dict):
        return f"values: a mapping of axis values is expected, got {record['values']!r}"
    error, metrics = record["error"], record["metrics"]
    if error is not None and not isinstance(error, str):
        return f"error: a message or null is expected, got {error!r}"
    if metrics is None:
        return None if error is not None else "metrics: null without an error"
    if not isinstance(metrics, dict):
        return f"metrics: a mapping of metric name to number is expected, got {metrics!r}"
    if not metrics and error is None:  # `evaluate_point` records that as an error
        return "metrics: empty without an error"
    bad = {name: v for name, v in metrics.items() if v is not None and not _is_number(v)}
    if bad:
        name, value = next(iter(bad.items()))
        return f"metrics.{name}: a finite number or null is expected, got {value!r}"
    return None


class ResultStore:
    """Point records under ``root/points``.

    A record is a mapping with ``key`` (its file name), ``values`` (the axis values),
    ``metrics`` (metric name -> number, or null for a failed point) and ``error`` (null or the
    message of a failed point); `get` refuses a file of any other shape.
    """

    def __init__(self, root: str | Path) -> None:
        self.folder = Path(root) / "points"

    def _path(self, key: str) -> Path:
        # A key names a file in the store: never a path ("../plan") or a hidden name.
        if not isinstance(key, str) or not _PLAIN_NAME.fullmatch(key):
            raise ValueError(f"not a point key: {key!r}")
        return self.folder / f"{key}.json"

    def has(self, key: str) -> bool:
        return self._path(key).is_file()

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record, or ``None`` if the point has not finished."""
        path = self._path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HwsimError(f"{path}: not a sweep record ({exc}); delete it and rerun the "
                             "sweep to evaluate that point again") from None
        problem = ("a JSON mapping is expected" if not isinstance(record, dict)
                   else _shape_problem(record, key))
        if problem is not None:
            raise HwsimError(f"{path}: not a sweep record ({problem}); delete it and rerun "
                             "the sweep to evaluate that point again")
        return record

    def path(self, key: str) -> Path:
        """The file of the record `key` (named in messages about it)."""
        return self._path(key)

    def put(self, record: Mapping[str, Any]) -> None:
        """Store one finished point (replacing an earlier record of the same key)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self._path(record["key"]), canonical_json(record) + "\n")

    def remove_stale_temporaries(self) -> int:
        """Delete half-written records (and plan files) of a killed run."""
        removed = remove_stale_temporaries(self.folder.parent) if self.folder.parent.is_dir() \
            else 0
        if self.folder.is_dir():
            removed += remove_stale_temporaries(self.folder)
        return removed

    def keys(self) -> list[str]:
        """Keys of every stored record, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json"))
