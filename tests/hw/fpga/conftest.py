"""Shared setup of the FPGA flow tests: the YoWASP cache and the stored real tool logs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
_REPO = Path(__file__).resolve().parents[3]


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
def data() -> Path:
    """Folder of the stored real Yosys / nextpnr outputs (see data/README.md)."""
    return DATA
