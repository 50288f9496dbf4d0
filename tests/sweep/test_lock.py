"""One process per sweep folder: a second run or report is refused naming the folder and the
holder; a killed holder leaves no lock behind."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager

import pytest
from sweep_support import METRICS, TOY

from hwsim.errors import HwsimError
from hwsim.sweep import run_sweep, sweep_from_dict, write_report
from hwsim.sweep.lock import LOCK_FILE, folder_lock

SPEC = sweep_from_dict({"params": {"x": 0, "y": 1, "kind": "a"},
                        "axes": [{"field": "x", "values": [1, 2, 3]}],
                        "objectives": ["latency_s", "energy_pj"]},
                       sections=("params",), metrics=METRICS, source="lock.yaml")

# Another process that takes the folder's lock, says so, and holds it until it is killed.
HOLDER = """
import sys, time
from pathlib import Path
from hwsim.sweep.lock import folder_lock
with folder_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(600)
"""


@contextmanager
def _holding(out):
    """Another process holding `out`'s lock for the block (killed after it)."""
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE,
                          text=True) as proc:
        try:
            assert proc.stdout.readline() == "locked\n"
            yield proc
        finally:
            proc.kill()


def _busy(out, pid):
    return (f"{out}: another hwsim sweep (process {pid}) is using this folder; wait for it to "
            "end, or give another --out")


def test_a_second_run_into_a_busy_folder_is_refused_and_a_killed_holder_frees_it(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with _holding(out) as proc:
        # Two runs at once left one's sweep.yaml beside the other's plan.json and results.
        with pytest.raises(HwsimError) as info:
            run_sweep(SPEC, out, evaluator=TOY, workers=1, sweep_text="a\n")
        assert str(info.value) == _busy(out, proc.pid)
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing written
    # SIGKILLed: the kernel dropped its lock, no stale lock to clear by hand.
    run = run_sweep(SPEC, out, evaluator=TOY, workers=1, sweep_text="a\n")
    assert (run.points, run.evaluated) == (3, 3)
    assert (out / LOCK_FILE).read_bytes() == b""  # no process id left in a finished folder


def test_a_report_of_a_busy_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    run_sweep(SPEC, out, evaluator=TOY, workers=1)
    with _holding(out) as proc:
        with pytest.raises(HwsimError) as info:
            write_report(out)
        assert str(info.value) == _busy(out, proc.pid)
        assert not (out / "results.csv").exists()
    assert len(write_report(out).table) == 3


def test_the_lock_nests_within_one_process(tmp_path):
    # A caller holding the folder (a script running and then reporting) is not refused by
    # its own lock.
    out = tmp_path / "out"
    out.mkdir()
    with folder_lock(out):
        run_sweep(SPEC, out, evaluator=TOY, workers=1)
        assert len(write_report(out).table) == 3
        assert (out / LOCK_FILE).read_text().strip().isdigit()
    assert (out / LOCK_FILE).read_bytes() == b""
