"""Dotted field paths into a nested configuration: list, read, override, and resolve a user's name.

A sweep's base configuration is a mapping of sections (``{"workload": {...}, "hardware": {...}}``)
whose leaves are the fields an axis may vary. Users may name a field with its section
(``hardware.array.rows``) or without it (``array.rows``) when only one section has it.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from typing import Any

from hwsim.errors import HwsimError

__all__ = ["get_field", "leaf_paths", "resolve_field", "with_overrides"]


def leaf_paths(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of every leaf (a value that is not a mapping), in insertion order."""
    paths: list[str] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            paths.extend(leaf_paths(value, path + "."))
        else:
            paths.append(path)
    return paths


def get_field(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path; `KeyError` if any part is missing."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def with_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with each dotted path in `overrides` set to its value.

    The paths must already be resolved (see `resolve_field`); `base` is left untouched.
    """
    out = copy.deepcopy(dict(base))
    for path, value in overrides.items():
        *parents, last = path.split(".")
        node = out
        for part in parents:
            node = node[part]
        node[last] = value
    return out


def resolve_field(name: str, base: Mapping[str, Mapping[str, Any]], where: str) -> str:
    """The full dotted path (section first) of the leaf field a user named.

    Args:
        name: the field as written in the sweep file, with or without its section.
        base: the resolved base configuration, one mapping per section.
        where: the YAML location for error messages, e.g. ``"sweep.yaml: axes[0].field"``.

    Raises:
        HwsimError: the field does not exist (the message lists the valid fields and the
            closest names), names a group rather than a field, or is ambiguous.
    """
    candidates = [name] if name.split(".", 1)[0] in base else []
    candidates += [f"{section}.{name}" for section in base]
    found = []
    for path in candidates:
        try:
            value = get_field(base, path)
        except KeyError:
            continue
        if isinstance(value, Mapping) and value:
            inner = ", ".join(leaf_paths(value, f"{name}."))
            raise HwsimError(f"{where}: {name!r} is a group of fields, not a field; "
                             f"its fields are: {inner}")
        found.append(path)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise HwsimError(f"{where}: {name!r} is ambiguous; write one of: {', '.join(found)}")
    valid = [p for section, data in base.items() for p in leaf_paths(data, f"{section}.")]
    short = [p.split(".", 1)[1] for p in valid]
    close = difflib.get_close_matches(name, valid + short, n=3, cutoff=0.6)
    hint = f" (closest: {', '.join(close)})" if close else ""
    raise HwsimError(f"{where}: no field {name!r}{hint}; valid fields: {', '.join(valid)}")
