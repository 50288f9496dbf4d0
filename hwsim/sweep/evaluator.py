"""What a sweep evaluates: a pure function of one point's full configuration, and how the base
configuration is read from the sweep file."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.config import leaf_paths, with_overrides
from hwsim.errors import HwsimError
from hwsim.sweep.spec import Goal

__all__ = ["Evaluator", "Resolve"]

Resolve = Callable[[str, Any, Path, str], dict[str, Any]]


@dataclass(frozen=True)
class Evaluator:
    """The model a sweep runs.

    Attributes:
        name: a stable identifier; it is part of every point's key, so results of different
            models never mix in one store. Change it when the model's numbers change.
        evaluate: ``evaluate(config) -> {metric: value}``, a top-level function (worker
            processes import it by name), deterministic and without global state. Raise
            `HwsimError` for an invalid combination: the point is recorded with the message.
        sections: the top-level keys of the sweep file that make up the base configuration.
        optional_sections: more such keys that a sweep file may leave out.
        resolve: ``resolve(section, entry, folder, where) -> mapping`` turns an entry as
            written (a preset name, a file relative to `folder`, an inline mapping) into the
            full configuration of that section, every field present, so that axes can be
            checked against it and keys cover every value. ``None``: entries must be mappings.
        metrics: the metrics `evaluate` returns, with their natural goals (``None``: unknown
            until the first point runs).
        fields: ``fields(section, base) -> dotted fields`` an axis may set in a section
            (default: every leaf of the resolved base mapping).
        combine: ``combine(base, overrides) -> config`` builds a point's configuration from
            the base and ``{"section.dotted.path": value}`` (default: set the values into a
            copy of the base). The configuration is what `evaluate` receives and what the
            point's key hashes.
        check: ``check(config)`` validates a configuration without evaluating it and raises
            `HwsimError` on a bad value; the sweep checks every axis value with it before
            running any point (default: no check).
        absent: ``absent(metric, config) -> reason or None``: why a point of this
            configuration can have no value for ``metric`` (``None``: it may have one). A
            metric the sweep needs (an objective, a metric constraint, a heatmap) that every
            point lacks is refused before running any (default: found out after running).
    """

    name: str
    evaluate: Callable[[dict[str, Any]], Mapping[str, float]]
    sections: tuple[str, ...] = ("workload", "hardware")
    optional_sections: tuple[str, ...] = ()
    resolve: Resolve | None = None
    metrics: Mapping[str, Goal] | None = None
    fields: Callable[[str, Mapping[str, Any]], Sequence[str]] | None = None
    combine: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
    check: Callable[[dict[str, Any]], None] | None = None
    absent: Callable[[str, Mapping[str, Any]], str | None] | None = None

    def base(self, sections: Mapping[str, Any], folder: Path, source: str) -> dict[str, Any]:
        """The full base configuration, one mapping per section."""
        known = (*self.sections, *self.optional_sections)
        unused = [n for n, entry in sections.items() if entry is not None and n not in known]
        if unused:
            raise HwsimError(f"{source}: {', '.join(unused)}: not used by the model "
                             f"{self.name!r} (its sections: {', '.join(known)})")
        out = {}
        given = [n for n in self.optional_sections if sections.get(n) is not None]
        for name in (*self.sections, *given):
            entry, where = sections[name], f"{source}: {name}"
            if self.resolve is not None:
                out[name] = self.resolve(name, entry, folder, where)
            elif isinstance(entry, Mapping):
                out[name] = dict(entry)
            else:
                raise HwsimError(f"{where}: expected a mapping, got {type(entry).__name__}")
        return out

    def valid_fields(self, base: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
        """Per section, the dotted fields an axis may set."""
        if self.fields is None:
            return {name: leaf_paths(data) for name, data in base.items()}
        return {name: list(self.fields(name, data)) for name, data in base.items()}

    def config(self, base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
        """One point's configuration (see `combine`)."""
        if self.combine is None:
            return with_overrides(base, overrides)
        return self.combine(base, overrides)
