"""Units scaled to magnitude and numbers written whole."""

import math

import pytest

from hwsim.reports.units import (
    format_number,
    format_quantity,
    format_ratio,
    format_share,
    pick_unit,
)


@pytest.mark.parametrize(
    ("seconds", "unit"),
    [(135.2, "min"), (60.0, "min"), (59.9, "s"), (1.0, "s"), (0.0846, "ms"), (2.5e-6, "us"),
     (3e-10, "ns"), (0.0, "s")],
)
def test_time_unit_is_the_largest_the_value_reaches(seconds, unit):
    assert pick_unit([seconds], "time")[0] == unit


def test_a_column_shares_the_unit_of_its_largest_value():
    # 135 s and 30 ms in one column: minutes, so the small one reads 5e-4 min, not "0".
    name, size = pick_unit([135.2, 0.03, float("nan"), None], "time")
    assert (name, size) == ("min", 60.0)
    assert format_number(0.03 / size) == "5e-4"


@pytest.mark.parametrize(
    ("joules", "text"),
    [(74.6e-3, "74.6 mJ"), (1.5, "1.5 J"), (2.5e-6, "2.5 uJ"), (7e-10, "700 pJ")],
)
def test_energy_quantity(joules, text):
    assert format_quantity(joules, "energy") == text


@pytest.mark.parametrize(
    ("x", "text"),
    [(1.352e5, "135200"), (13.52, "13.52"), (0.9897, "0.9897"), (2.5, "2.5"), (1e-4, "1e-4"),
     (3.4e38, "3.4e+38"), (-1.2375e-7, "-1.238e-7"), (float("nan"), "-"), (None, "-"),
     (123456, "123,456"), (42, "42"), (0.0, "0"), (math.inf, "inf")],
)
def test_numbers_are_written_whole(x, text):
    # 1.352e5 ms was printed "1.352…" at 80 columns: digits left of the point are never lost.
    assert format_number(x) == text


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown quantity kind 'mass'"):
        pick_unit([1.0], "mass")


@pytest.mark.parametrize(
    ("fraction", "text"),
    [(0.0, "0"), (0.004, "<1"), (1e-9, "<1"), (0.005, "<1"), (0.4, "40"), (0.994, "99"),
     (0.996, ">99"), (1.0, "100"), (None, "-"), (float("nan"), "-")],
)
def test_a_share_never_reads_as_none_or_all_when_it_is_not(fraction, text):
    assert format_share(fraction) == text


@pytest.mark.parametrize(
    ("ratio", "text"),
    [(1.0, "1"), (0.9996001, "0.9996"), (1.00001, "1.00001"), (1.0004, "1.0004"), (2.5, "2.5"),
     (0.98765, "0.988"), (1 + 2**-52, "1.0000000000000002"), (None, "-"),
     (float("nan"), "-")],
)
def test_a_ratio_other_than_1_never_reads_as_1(ratio, text):
    assert format_ratio(ratio) == text
