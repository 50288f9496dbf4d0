"""A sweep ended by any signal leaves no process behind and no temporary file after resuming,
and the resumed sweep has every point exactly once. These run `hwsim sweep` as a real process
(signals need one); the rest of the suite calls the CLI in-process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

CONFIG = {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
          "num_hidden_layers": 2, "vocab_size": 256, "intermediate_size": 128}
SWEEP = """workload: {model: config.json, prompt_tokens: 32, generate_tokens: 8}
hardware: bitmod
axes:
  - {field: array.rows, values: [4, 8, 12, 16, 20, 24]}
  - {field: array.cols, values: [4, 8, 12, 16, 20, 24]}
objectives: [latency_ms, energy_uj]
"""
POINTS = 36


def _start(folder: Path, *options: str) -> subprocess.Popen:
    # A session of its own: the test can signal the whole process group, as a terminal does.
    return subprocess.Popen(
        [sys.executable, "-m", "hwsim", "sweep", "s.yaml", "--out", "out", "--workers", "2",
         *options],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:  # a zombie has ended: only its exit status waits to be collected
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_until(condition, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _records(out: Path) -> int:
    return len(list((out / "points").glob("*.json"))) if (out / "points").is_dir() else 0


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGINT group", "SIGTERM main", "SIGKILL main",
                                 "SIGKILL worker", "SIGINT group dask"])
def test_a_signalled_sweep_leaves_nothing_behind_and_resumes_every_point_once(tmp_path, how):
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    (tmp_path / "s.yaml").write_text(SWEEP)
    out = tmp_path / "out"
    # On Dask, Ctrl-C printed the workers' KeyboardInterrupt tracebacks and Dask's warnings.
    proc = _start(tmp_path, *(["--executor", "dask"] if how.endswith("dask") else []))
    workers: list[int] = []

    def running() -> bool:  # two workers up and a first record stored
        workers[:] = [p for p in _children(proc.pid) if _alive(p)]
        spawned = [p for p in workers if b"spawn_main" in _cmdline(p)]
        return len(spawned) >= 2 and _records(out) >= 1

    assert _wait_until(running, 120), proc.communicate()[0]
    if how.startswith("SIGINT group"):
        os.killpg(proc.pid, signal.SIGINT)
    elif how == "SIGTERM main":
        proc.send_signal(signal.SIGTERM)
    elif how == "SIGKILL main":
        proc.kill()
    else:  # a worker, not the resource tracker (a child too)
        os.kill(next(p for p in workers if b"spawn_main" in _cmdline(p)), signal.SIGKILL)
    output = proc.communicate(timeout=60)[0]
    expected = {"SIGINT group": 130, "SIGTERM main": 143, "SIGKILL main": -9,
                "SIGKILL worker": 1, "SIGINT group dask": 130}[how]
    assert proc.returncode == expected, output
    if how != "SIGKILL main":
        lines = [line for line in output.splitlines() if line.strip()]
        assert len(lines) <= 2 and "rerun" in output and "Traceback" not in output, output
    # No process of the sweep outlives it (workers, the resource tracker), whatever the signal.
    assert _wait_until(lambda: not any(_alive(p) for p in workers), 20), workers

    rerun = _start(tmp_path)
    output = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0, output
    assert f"{POINTS} points" in output
    assert not list(out.rglob(".*.tmp"))
    table = pd.read_csv(out / "results.csv")
    assert len(table) == POINTS and table.key.is_unique and table.error.isna().all()
    assert _records(out) == POINTS
