"""Pareto extraction against a brute-force double loop; constraint violations."""

from __future__ import annotations

import numpy as np
import pytest
from sweep_support import brute_force

from hwsim.sweep import Constraint, pareto_mask
from hwsim.sweep.pareto import violation


@pytest.mark.parametrize("goals", [("min", "min"), ("min", "max"), ("max", "min", "min"),
                                   ("min", "min", "max")])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force(goals, seed):
    rng = np.random.default_rng(seed)
    # Small integers: many ties and duplicate rows, the cases a sloppy front gets wrong.
    values = rng.integers(0, 6, size=(300, len(goals))).astype(float)
    np.testing.assert_array_equal(pareto_mask(values, goals), brute_force(values, goals))


def test_continuous_values_across_chunks():
    rng = np.random.default_rng(7)
    values = rng.normal(size=(700, 2))  # more rows than one comparison chunk
    np.testing.assert_array_equal(pareto_mask(values, ("min", "min")),
                                  brute_force(values, ("min", "min")))


def test_small_cases_by_hand():
    # (1, 3) and (3, 1) trade off; (2, 2) too; (3, 3) is dominated by (2, 2); a copy of (1, 3)
    # is not dominated by its twin.
    values = np.array([[1, 3], [3, 1], [2, 2], [3, 3], [1, 3]], dtype=float)
    assert pareto_mask(values, ("min", "min")).tolist() == [True, True, True, False, True]
    assert pareto_mask(values, ("max", "max")).tolist() == [False, False, False, True, False]
    assert pareto_mask(np.empty((0, 2)), ("min", "min")).tolist() == []
    with pytest.raises(ValueError, match="do not match 3 goals"):
        pareto_mask(values, ("min", "min", "min"))


def test_violation_is_distance_outside_bounds():
    c = Constraint("area_mm2", "metric", min=1.0, max=4.0)
    got = violation(c, np.array([0.5, 1.0, 3.0, 4.0, 6.0, np.nan]))
    np.testing.assert_array_equal(got, [0.5, 0.0, 0.0, 0.0, 2.0, np.inf])
    assert c.describe() == "area_mm2 >= 1 and area_mm2 <= 4"
