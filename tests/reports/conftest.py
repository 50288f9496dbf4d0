"""Fixtures shared by the report tests."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from hwsim.cli import main


@pytest.fixture
def run_cli(monkeypatch, capsys) -> Callable[..., tuple[int, Any]]:
    """Run ``hwsim ARGS`` in this process: (exit code, captured stdout and stderr)."""

    def run(*args: str) -> tuple[int, Any]:
        monkeypatch.setattr(sys, "argv", ["hwsim", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code or 0
        return code, capsys.readouterr()

    return run
