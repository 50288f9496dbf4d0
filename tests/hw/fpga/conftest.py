"""Shared setup of the FPGA flow tests: the stored real tool logs (the YoWASP cache and
`run_cli` come from ``tests/hw/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def data() -> Path:
    """Folder of the stored real Yosys / nextpnr outputs (see data/README.md)."""
    return DATA
