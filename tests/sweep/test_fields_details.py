"""Field resolution detail the broader tests leave open: a section whose base holds a group
as null does not set it, so it gains nothing over a section without the group."""

from __future__ import annotations

import pytest

from hwsim.errors import HwsimError
from hwsim.sweep.fields import resolve_field

VALID = {"hardware": ["weights.bits"], "workload": ["weights.bits", "weights.format"]}


def test_a_group_written_as_null_is_not_set():
    # Neither base sets `weights` (null is unset, as a key left out): still ambiguous.
    with pytest.raises(HwsimError, match=r"'weights\.bits' is ambiguous"):
        resolve_field("weights.bits", VALID, "w", {"hardware": {"weights": None},
                                                   "workload": {}})
    # The workload that does set `weights` wins over the hardware's null.
    base = {"hardware": {"weights": None}, "workload": {"weights": {"format": "int4"}}}
    assert resolve_field("weights.bits", VALID, "w", base) == "workload.weights.bits"
