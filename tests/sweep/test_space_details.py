"""Design-space details the broader tests leave open: every option of a dimension can be drawn
from a huge space, and which dimensions a model-based sampler may treat as ordered."""

from __future__ import annotations

from sweep_support import METRICS

from hwsim.sweep import DesignSpace, sweep_from_dict
from hwsim.sweep.space import _EXACT_SAMPLE_LIMIT, Dimension


def space(axes):
    data = {"params": {}, "axes": axes, "objectives": ["latency_s"]}
    return DesignSpace.from_spec(sweep_from_dict(data, sections=("params",), metrics=METRICS))


def test_a_huge_space_draws_every_option_of_each_dimension():
    # 26 axes of three values: 3**26 (about 2.5e12) points, more than the exact sampler takes,
    # so the sample is drawn per dimension. Each of the 200 points picks each axis' value
    # independently; an axis missing one of its values in all 200 has odds of about
    # 3 * (2/3)**200 (1e-35), so every value of every axis must appear (a draw that never
    # reaches an axis' last value would leave every axis without its 2).
    axes = [{"field": f"f{i}", "values": [0, 1, 2]} for i in range(26)]
    s = space(axes)
    assert s.size == 3**26 > _EXACT_SAMPLE_LIMIT
    picked = s.sample(200, seed=0)
    assert len(set(picked)) == 200
    for d in range(26):
        assert {choice[d] for choice in picked} == {0, 1, 2}, f"axis f{d}"


def test_only_numeric_dimensions_are_ordinal():
    # Numbers (int or float) have an order a sampler may use; names and booleans do not
    # (True and False are ints to isinstance, but "true < false" means nothing for a switch).
    assert Dimension(("x",), ((1,), (2,), (4.5,))).ordinal
    assert not Dimension(("on",), ((True,), (False,))).ordinal
    assert not Dimension(("kind",), (("a",), ("b",))).ordinal
    # A zip group is ordinal only when every field in it is numeric.
    assert Dimension(("x", "y"), ((1, 2.0), (2, 3.0))).ordinal
    assert not Dimension(("x", "on"), ((1, True), (2, False))).ordinal
