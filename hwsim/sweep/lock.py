"""One sweep process at a time in an output folder.

Two runs into one ``--out`` would interleave their ``sweep.yaml``, ``plan.json`` and tables.
A run (and ``--report``) holds an exclusive `fcntl.flock` on ``OUT/.sweep.lock`` while it
works; a second one is refused at once, naming the folder and the holder's process id. The
kernel drops the lock when its holder ends, however it ends (SIGKILL included), so no stale
lock blocks a rerun. The holder writes its process id into the file for that message and
empties it on release, so a finished folder's bytes do not depend on which process ran last.
Workers (the local pool, Dask) never write into the folder: only the process that holds the
lock does.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hwsim.errors import HwsimError

__all__ = ["LOCK_FILE", "check_unlocked", "folder_lock"]

LOCK_FILE = ".sweep.lock"

# Folders this process holds (resolved path -> nesting depth): `run_sweep` inside a caller's
# `folder_lock`, say. A second flock on a new descriptor would conflict with our own.
_held: dict[Path, int] = {}


def _busy(out: Path, fd: int) -> HwsimError:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    who = f" (process {text})" if text.isdigit() else ""
    return HwsimError(f"{out}: another hwsim sweep{who} is using this folder; wait for it to "
                      "end, or give another --out")


def _try_lock(out: Path, fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _busy(out, fd) from None


def check_unlocked(out: Path) -> None:
    """Refuse a folder another process holds, creating nothing (a run checks this before
    planning, which may take minutes, and takes the lock when it writes)."""
    if out.resolve() in _held:
        return
    try:
        fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CLOEXEC)
    except OSError:  # no lock file (a new folder), or one we may not open: told when locking
        return
    try:
        _try_lock(out, fd)
    finally:
        os.close(fd)  # closing releases the probe's lock


@contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.sweep.lock`` (the folder must exist) for the ``with`` block.

    Raises:
        HwsimError: another process holds it (names the folder and that process), or the lock
            file cannot be created.
    """
    key = out.resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    try:
        # O_CLOEXEC: a worker process must not inherit the descriptor, and with it the lock.
        fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise HwsimError(f"{out}: cannot create the lock file {LOCK_FILE} "
                         f"({exc.strerror or exc})") from None
    try:
        _try_lock(out, fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock
