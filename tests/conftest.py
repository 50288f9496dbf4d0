"""Suite-wide: the gate-level cache (`hwsim.hw.asic.cache`) goes to a temporary folder per
test process, never to the user's ~/.cache (CLI subprocesses inherit it)."""

from __future__ import annotations

import os

import pytest

# hwsim.hw.asic.cache.CACHE_ENV, spelled out so collection does not import the ASIC flow.
CACHE_ENV = "HWSIM_CACHE_DIR"


@pytest.fixture(autouse=True, scope="session")
def _private_hwsim_cache(tmp_path_factory):
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("hwsim-cache"))
    yield
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before
