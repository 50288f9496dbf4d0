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
    record = {"key": "abc", "values": {"x": 1}, "metrics": {"latency_s": 0.1}, "error": None}
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


GOOD = {"key": "abc", "values": {"x": 1}, "metrics": {"latency_s": 0.1, "area_mm2": None},
        "error": None}


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({}, "missing key, values, metrics, error"),
        ({**GOOD, "key": "abd"}, "its key 'abd' is not its file name"),
        ({**GOOD, "values": [1]}, "values: a mapping of axis values is expected, got [1]"),
        ({**GOOD, "metrics": [0.1]},
         "metrics: a mapping of metric name to number is expected, got [0.1]"),
        ({**GOOD, "metrics": {"latency_s": "fast"}},
         "metrics.latency_s: a finite number or null is expected, got 'fast'"),
        ({**GOOD, "metrics": {"latency_s": True}},  # would read as 1
         "metrics.latency_s: a finite number or null is expected, got True"),
        ({**GOOD, "metrics": {"latency_s": 10**400}},
         f"metrics.latency_s: a finite number or null is expected, got {10**400!r}"),
        ({**GOOD, "metrics": None}, "metrics: null without an error"),
        ({**GOOD, "metrics": {}}, "metrics: empty without an error"),  # read as a blank row
        ({**GOOD, "metrics": None, "error": 3}, "error: a message or null is expected, got 3"),
        ([GOOD], "a JSON mapping is expected"),
    ],
    ids=["empty", "other-key", "values-list", "metrics-list", "text-metric", "bool-metric",
         "huge-metric", "no-metrics-no-error", "empty-metrics-no-error", "error-number", "list"],
)
def test_a_record_of_the_wrong_shape_is_named(tmp_path, record, problem):
    store = ResultStore(tmp_path)
    store.put(GOOD)
    store.path("abc").write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(HwsimError) as info:
        store.get("abc")
    assert str(info.value) == (f"{store.path('abc')}: not a sweep record ({problem}); delete it "
                               "and rerun the sweep to evaluate that point again")


def test_records_of_a_failed_point_and_with_a_missing_metric_are_read(tmp_path):
    store = ResultStore(tmp_path)
    failed = {"key": "abd", "values": {"x": 0}, "metrics": None, "error": "x=0 is invalid"}
    for record in (GOOD, failed):
        store.put(record)
    assert (store.get("abc"), store.get("abd")) == (GOOD, failed)


@pytest.mark.parametrize("key", ["../plan", ".hidden", "a/b", "", 123])
def test_a_key_is_never_a_path(tmp_path, key):
    with pytest.raises(ValueError, match="not a point key"):
        ResultStore(tmp_path).get(key)
