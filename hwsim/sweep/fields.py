"""Resolve the field a user names in a sweep to its dotted path (the walkers over dotted paths
are `hwsim.config`'s).

A sweep's base configuration is a mapping of sections (``{"workload": {...}, "hardware": {...}}``)
whose leaves are the fields an axis may vary. Users may name a field with its section
(``hardware.array.rows``) or without it (``array.rows``) when only one section has it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from hwsim.errors import HwsimError

__all__ = ["resolve_field"]


def resolve_field(name: str, valid: Mapping[str, Sequence[str]], where: str,
                  base: Mapping[str, Any] | None = None) -> str:
    """The full dotted path (section first) of the field a user named.

    Args:
        name: the field as written in the sweep file, with or without its section.
        valid: per section, the dotted fields an axis may set (without the section).
        where: the YAML location for error messages, e.g. ``"sweep.yaml: axes[0].field"``.
        base: the resolved base configuration. When a name without section fits several
            sections, the section whose base already holds the longest part of the path wins
            (``weights.format`` is the workload's when the hardware leaves its optional
            ``weights`` unset); a tie is ambiguous.

    Raises:
        HwsimError: the field does not exist (the message lists the valid fields and the
            closest names), names a group rather than a field, or is ambiguous.
    """
    head, _, rest = name.partition(".")
    if head in valid and rest:
        options = [(head, rest)]
    else:
        options = [(section, name) for section in valid]
    found = [f"{section}.{path}" for section, path in options if path in valid[section]]
    if len(found) == 1:
        return found[0]
    if len(found) > 1 and base is not None:
        depth = {path: _set_depth(base, path) for path in found}
        best = max(depth.values())
        if list(depth.values()).count(best) == 1:
            return max(depth, key=depth.__getitem__)
    if len(found) > 1:
        raise HwsimError(f"{where}: {name!r} is ambiguous; write one of: {', '.join(found)}")
    inner = [f"{section}.{p}" for section, path in options
             for p in valid[section] if p.startswith(path + ".")]
    if inner:
        raise HwsimError(f"{where}: {name!r} is a group of fields, not a field; its fields: "
                         f"{', '.join(inner)}")
    every = [f"{section}.{p}" for section, paths in valid.items() for p in paths]
    short = [p.split(".", 1)[1] for p in every]
    close = difflib.get_close_matches(name, short + every, n=3, cutoff=0.6)
    hint = f" (closest: {', '.join(dict.fromkeys(close))})" if close else ""
    raise HwsimError(f"{where}: no field {name!r}{hint}; valid fields: {', '.join(every)}")


def _set_depth(data: Mapping[str, Any], path: str) -> int:
    """How many leading parts of `path` the mapping holds (with a value that is not None)."""
    node: Any = data
    for depth, part in enumerate(path.split(".")):
        if not isinstance(node, Mapping) or node.get(part) is None:
            return depth
        node = node[part]
    return len(path.split("."))
