"""The design space: grid order, flat indices, zip groups and seeded sampling."""

from __future__ import annotations

import itertools

from sweep_support import METRICS

from hwsim.sweep import DesignSpace, sweep_from_dict


def space(axes, zip_=()):
    data = {"params": {}, "axes": axes, "zip": [list(z) for z in zip_],
            "objectives": ["latency_s"]}
    return DesignSpace.from_spec(sweep_from_dict(data, sections=("params",), metrics=METRICS))


AXES = [{"field": "x", "values": [1, 2, 3]}, {"field": "kind", "values": ["a", "b"]},
        {"field": "y", "values": [10, 20, 30, 40]}]


def test_grid_is_itertools_product_order():
    s = space(AXES)
    expected = list(itertools.product([1, 2, 3], ["a", "b"], [10, 20, 30, 40]))
    got = [tuple(s.values(c).values()) for c in s.grid()]
    assert got == expected
    assert s.size == 24
    assert [s.flat_index(c) for c in s.grid()] == list(range(24))
    assert all(s.choice(s.flat_index(c)) == c for c in s.grid())


def test_zip_moves_axes_together():
    axes = [{"field": "x", "values": [1, 2, 3]}, {"field": "kind", "values": ["a", "b"]},
            {"field": "y", "values": [10, 20, 30]}]
    s = space(axes, zip_=[("x", "y")])
    assert s.size == 6  # 3 (x, y) pairs x 2 kinds
    pairs = {(v["x"], v["y"]) for v in (s.values(c) for c in s.grid())}
    assert pairs == {(1, 10), (2, 20), (3, 30)}
    assert [d.fields for d in s.dims] == [("x", "y"), ("kind",)]


def test_sample_is_seeded_distinct_and_ordered():
    s = space(AXES)
    a, b = s.sample(10, seed=3), s.sample(10, seed=3)
    assert a == b
    assert len(set(a)) == 10
    assert [s.flat_index(c) for c in a] == sorted(s.flat_index(c) for c in a)
    assert s.sample(10, seed=4) != a
    assert s.sample(100, seed=0) == s.grid()  # asking for more than exists gives everything


def test_huge_space_samples_per_dimension():
    # 30 axes of 10 values: 1e30 points, more than an int64 can index.
    axes = [{"field": f"f{i}", "range": {"start": 0, "stop": 9}} for i in range(30)]
    s = space(axes)
    picked = s.sample(50, seed=1)
    assert len(set(picked)) == 50
    assert picked == s.sample(50, seed=1)
    assert all(s.choice(s.flat_index(c)) == c for c in picked)
