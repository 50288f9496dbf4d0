"""The gate-level cache folder: where it is, and entries that are validated and atomic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.hw.asic.cache import CACHE_ENV, read_entry, user_cache_dir, write_entry


def test_folder_from_env_xdg_or_home(monkeypatch, tmp_path):
    assert CACHE_ENV == "HWSIM_CACHE_DIR"  # the name tests/conftest.py sets
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert user_cache_dir() == tmp_path / "c"
    monkeypatch.setenv(CACHE_ENV, "")
    assert user_cache_dir() is None  # set empty: no cache
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "xdg" / "hwsim"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache_dir() == tmp_path / "home" / ".cache" / "hwsim"


def test_a_file_in_the_folders_place_is_named(monkeypatch, tmp_path):
    # `hwsim area` named it; a hardware file with `rtl` figures silently went uncached.
    afile = tmp_path / "afile"
    afile.write_text("", encoding="utf-8")
    monkeypatch.setenv(CACHE_ENV, str(afile))
    with pytest.raises(HwsimError, match=f"^cache folder {afile} \\(\\$HWSIM_CACHE_DIR, "
                       "else the default\\) exists and is not a folder; set HWSIM_CACHE_DIR "
                       "to a folder, or to nothing"):
        user_cache_dir()


def test_entries_round_trip_and_leave_no_temporary_file(tmp_path):
    payload = {"modules": {"top": {"cells": {"g": [1, 2.5]}}}}
    write_entry(tmp_path / "c", "netlist", "k1", payload)
    assert read_entry(tmp_path / "c", "netlist", "k1") == payload
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["netlist-k1.json"]
    assert read_entry(tmp_path / "c", "netlist", "k2") is None  # another key: nothing
    assert read_entry(tmp_path / "c", "cost", "k1") is None
    assert read_entry(None, "netlist", "k1") is None
    write_entry(None, "netlist", "k1", payload)  # no folder: nothing written, no error


def _entry(folder: Path) -> Path:
    return folder / "cost-k.json"


def test_corrupt_or_foreign_entries_are_not_trusted(tmp_path):
    write_entry(tmp_path, "cost", "k", {"area_um2": 12.5})
    good = _entry(tmp_path).read_text()
    _entry(tmp_path).write_text(good[: len(good) // 2])  # truncated
    assert read_entry(tmp_path, "cost", "k") is None
    tampered = json.loads(good)
    tampered["payload"]["area_um2"] = 1.0  # checksum no longer matches
    _entry(tmp_path).write_text(json.dumps(tampered))
    assert read_entry(tmp_path, "cost", "k") is None
    moved = json.loads(good)
    moved["key"] = "other"  # an entry copied from another key
    _entry(tmp_path).write_text(json.dumps(moved))
    assert read_entry(tmp_path, "cost", "k") is None
    _entry(tmp_path).write_text("[1, 2]")
    assert read_entry(tmp_path, "cost", "k") is None
    write_entry(tmp_path, "cost", "k", {"area_um2": 12.5})  # rewritten whole
    assert read_entry(tmp_path, "cost", "k") == {"area_um2": 12.5}


def test_an_unwritable_folder_only_costs_the_cache(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    write_entry(blocker / "sub", "cost", "k", {"a": 1})
    assert read_entry(blocker / "sub", "cost", "k") is None
