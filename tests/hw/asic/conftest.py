"""ASIC flow test support: this folder goes on ``sys.path`` so the tests import the hand-made
netlists of ``asic_netlists``; and one gate-level cache for every test process of a run, holding
the 28 nm calibration blocks, so they are synthesized and simulated once per run, not once per
test process."""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))


def _calibration_blocks() -> list[tuple[str, dict]]:
    from hwsim.hw.asic.calibration import PUBLISHED, RATIOS

    blocks = [(p.block, dict(p.params)) for p in PUBLISHED["28nm"] if p.block is not None]
    blocks += [b for _, num, den, _, _ in RATIOS for b in ((num[0], dict(num[1])),
                                                            (den[0], dict(den[1])))]
    return [b for i, b in enumerate(blocks) if b not in blocks[:i]]


@pytest.fixture(scope="session")
def asic_cache(tmp_path_factory) -> Path:
    """A cache folder shared by the run's test processes (pytest-xdist workers), holding the
    costs of every block the 28 nm calibration reads; they are in this process' memo too.

    Each block is computed under its own file lock by the first process to take it: a second
    process first computes the blocks nobody holds, then waits for the rest and reads them
    from the folder (cache entries are keyed by content and checked, so a read is as good as
    a computation)."""
    from hwsim.hw.asic.cost import block_cost

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above every worker's own
    folder = base / "hwsim-asic-cache"
    folder.mkdir(exist_ok=True)
    pending = list(enumerate(_calibration_blocks()))
    for blocking in (False, True):
        for index, (name, params) in list(pending):
            with (folder / f".block-{index}.lock").open("w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
                except BlockingIOError:
                    continue  # another process is computing it: come back to it
                block_cost(name, params, folder)
                pending.remove((index, (name, params)))
    return folder


@pytest.fixture
def calibrated(asic_cache, monkeypatch) -> Path:
    """The shared cache (`asic_cache`) as the user's cache folder for this test."""
    monkeypatch.setenv("HWSIM_CACHE_DIR", str(asic_cache))
    return asic_cache
