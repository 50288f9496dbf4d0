"""Shared by the hardware tests: the YoWASP tools' cache and running the CLI in-process."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hwsim.cli import main

_REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def yowasp_cache():
    """Keep the tools' compiled WebAssembly in the repo's gitignored ``.yowasp-cache/`` unless
    the caller chose a cache: the first run on a machine compiles Yosys (~1.5 min), later runs
    reuse it."""
    key = "YOWASP_CACHE_DIR"
    before = os.environ.get(key)
    if before is None:
        os.environ[key] = str(_REPO / ".yowasp-cache")
    yield os.environ[key]
    if before is None:
        os.environ.pop(key, None)


@pytest.fixture
def run_cli(monkeypatch) -> Callable[..., int]:
    """Run ``hwsim ARGS`` in this process; returns the exit code."""

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["hwsim", *args])
        try:
            main()
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    return run
