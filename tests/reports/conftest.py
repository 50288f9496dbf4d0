"""Fixtures shared by the report tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def run_cli(run_cli, capsys) -> Callable[..., tuple[int, Any]]:
    """Run ``hwsim ARGS`` in this process (the suite's `run_cli`): (exit code, captured
    stdout and stderr)."""

    def run(*args: str) -> tuple[int, Any]:
        code = run_cli(*args)
        return code, capsys.readouterr()

    return run
