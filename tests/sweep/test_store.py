"""The store: keys hash the whole configuration; records are written whole or not at all."""

from __future__ import annotations

import json

import pytest

from hwsim.errors import HwsimError
from hwsim.sweep import ResultStore, point_key
from hwsim.sweep.store import canonical_json


def test_key_covers_every_value_and_ignores_key_order():
    config = {"hardware": {"array": {"rows": 32, "cols": 16}}, "workload": {"batch": 1}}
    same = {"workload": {"batch": 1}, "hardware": {"array": {"cols": 16, "rows": 32}}}
    assert point_key("m", config) == point_key("m", same)
    assert len(point_key("m", config)) == 64
    changed = {"hardware": {"array": {"rows": 32, "cols": 17}}, "workload": {"batch": 1}}
    assert point_key("m", changed) != point_key("m", config)
    assert point_key("other-model", config) != point_key("m", config)
    # 1 and 1.0 are different configurations as written (an int field vs a float field).
    assert point_key("m", {"a": 1}) != point_key("m", {"a": 1.0})


def test_put_get_and_no_temporary_files(tmp_path):
    store = ResultStore(tmp_path)
    assert store.get("abc") is None
    assert store.keys() == []
    record = {"key": "abc", "metrics": {"latency_s": 0.1}, "error": None}
    store.put(record)
    assert store.has("abc")
    assert store.get("abc") == record
    assert store.keys() == ["abc"]
    files = sorted(p.name for p in (tmp_path / "points").iterdir())
    assert files == ["abc.json"]
    text = (tmp_path / "points" / "abc.json").read_text()
    assert text == canonical_json(record) + "\n"
    assert json.loads(text) == record


def test_a_corrupt_record_is_a_clear_error(tmp_path):
    store = ResultStore(tmp_path)
    store.put({"key": "abc", "metrics": {}})
    path = next((tmp_path / "points").glob("*.json"))
    path.write_text("garbage", encoding="utf-8")
    with pytest.raises(HwsimError, match="not a sweep record"):
        store.get(path.stem)
