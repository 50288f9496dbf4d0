"""Shared setup of the FPGA flow tests: the stored real tool logs (the YoWASP cache comes
from ``tests/hw/conftest.py``, `run_cli` and `run_gemm` from ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def data() -> Path:
    """Folder of the stored real Yosys / nextpnr outputs (see data/README.md)."""
    return DATA
