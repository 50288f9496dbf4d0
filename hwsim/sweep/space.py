"""The design space of a sweep: dimensions (an axis, or a zip group of axes moving together),
their product, and the points a strategy picks from it.

A point is identified by its flat index in the product (row-major, last dimension fastest,
like `itertools.product`), so the same point has the same index under every strategy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwsim.sweep.spec import Scalar, SweepSpec

__all__ = ["DesignSpace", "Dimension"]

# Below this many points a random sample is drawn exactly without replacement from the flat
# index range; above it, per dimension (the flat index may not fit an int64).
_EXACT_SAMPLE_LIMIT = 1 << 40
# NumPy draws a sample of more than 1/50 of the range by permuting the whole range: allowed
# up to 2**26 points (512 MB of int64); larger spaces are drawn per dimension instead.
_PERMUTE_LIMIT = 1 << 26


@dataclass(frozen=True)
class Dimension:
    """One independent dimension: one or more zipped fields and their value tuples."""

    fields: tuple[str, ...]
    options: tuple[tuple[Scalar, ...], ...]

    @property
    def size(self) -> int:
        return len(self.options)

    @property
    def ordinal(self) -> bool:
        """Every field numeric (not bool): a model-based sampler may treat the option index as
        ordered."""
        return all(
            isinstance(v, int | float) and not isinstance(v, bool)
            for option in self.options for v in option
        )


@dataclass(frozen=True)
class DesignSpace:
    """The product of the dimensions of a sweep."""

    dims: tuple[Dimension, ...]

    @classmethod
    def from_spec(cls, spec: SweepSpec) -> DesignSpace:
        """Dimensions in file order; a zip group sits where its first axis is."""
        values = {axis.field: axis.values for axis in spec.axes}
        group_of = {f: group for group in spec.zip for f in group}
        dims, seen = [], set()
        for axis in spec.axes:
            group = group_of.get(axis.field, (axis.field,))
            if group[0] in seen:
                continue
            seen.add(group[0])
            options = tuple(zip(*(values[f] for f in group), strict=True))
            dims.append(Dimension(tuple(group), options))
        return cls(tuple(dims))

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(d.size for d in self.dims)

    @property
    def size(self) -> int:
        """Number of points in the product (a Python int: it may exceed int64)."""
        return math.prod(self.sizes)

    def flat_index(self, choice: tuple[int, ...]) -> int:
        """Row-major flat index of one option index per dimension."""
        index = 0
        for i, n in zip(choice, self.sizes, strict=True):
            index = index * n + int(i)
        return index

    def choice(self, index: int) -> tuple[int, ...]:
        """Option index per dimension of a flat index (inverse of `flat_index`)."""
        out = []
        for n in reversed(self.sizes):
            index, i = divmod(index, n)
            out.append(i)
        return tuple(reversed(out))

    def values(self, choice: tuple[int, ...]) -> dict[str, Scalar]:
        """Field (as written in the sweep file) -> value of one point."""
        out: dict[str, Scalar] = {}
        for dim, i in zip(self.dims, choice, strict=True):
            out.update(zip(dim.fields, dim.options[i], strict=True))
        return out

    def grid(self) -> list[tuple[int, ...]]:
        """Every point, in flat-index order."""
        return [self.choice(i) for i in range(self.size)]

    def sample(self, count: int, seed: int) -> list[tuple[int, ...]]:
        """`count` distinct points drawn with a seeded generator, in flat-index order (all of
        them when `count` >= the size of the space)."""
        if count >= self.size:
            return self.grid()
        rng = np.random.default_rng(seed)
        if self.size <= _PERMUTE_LIMIT or (self.size <= _EXACT_SAMPLE_LIMIT
                                           and count * 50 < self.size):
            flat = np.sort(rng.choice(self.size, size=count, replace=False))
            return [self.choice(int(i)) for i in flat]
        # Huge space: draw per dimension; collisions are rare, top up until enough.
        picked: set[tuple[int, ...]] = set()
        while len(picked) < count:
            draw = np.stack([rng.integers(0, n, size=count) for n in self.sizes], axis=1)
            for row in draw.tolist():
                if len(picked) < count:
                    picked.add(tuple(row))
        return sorted(picked, key=self.flat_index)
