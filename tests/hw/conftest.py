"""Shared by the hardware tests: the YoWASP tools' cache (`run_cli` is the suite's,
``tests/conftest.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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

