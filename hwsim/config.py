"""YAML configuration at the edge: dotted paths into nested mappings, and schema errors.

- Dotted paths (``buffers.weight.kib``): `leaf_paths`, `get_field`, `set_field`,
  `pop_field`, `with_overrides` on plain mappings, and `schema_paths` on a schema type; the
  hardware spec's `hwsim.hw.with_overrides` and the sweep engine both walk with them.
- `validation_error`: a pydantic `ValidationError` as one `HwsimError` line naming every
  problem, one wording for every schema (workload, hardware, roofline machine, sweep)::

    w.yaml: weights.group_size: Input should be greater than 0; batch: unknown key (allowed: ...)

  `validate_mapping` validates a parsed file with it, refusing a file that is not a mapping.

- `at_most`, `at_least`: a bound of `hwsim.limits` on a schema's number, refused with the
  limit and the reason (``clock_mhz: 1,000,000,000 is above the limit of 100,000 (100 GHz;
  the clock is in MHz)``).

A leaf beside `hwsim.errors` and `hwsim.files`: it knows pydantic, not hwsim's layers.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from pydantic import AfterValidator, BaseModel, ValidationError

from hwsim.errors import HwsimError

__all__ = [
    "at_least",
    "at_most",
    "check_at_most",
    "get_field",
    "leaf_paths",
    "pop_field",
    "schema_paths",
    "set_field",
    "validate_mapping",
    "validation_error",
    "with_overrides",
    "yaml_path",
]


def _number(x: float) -> str:
    # Whole numbers in full (2**16 as 65,536, not 65536.0), others as typed (100000.5, 1e+300:
    # `:g` would show 100000.5 as 100000, which reads as within a limit of 100,000).
    if isinstance(x, int) or (x.is_integer() and abs(x) < 1e15):
        return f"{int(x):,}"
    return repr(float(x))


def check_at_most(limit: float, why: str, value: float) -> float:
    """`value`, or a ValueError ``"<value> is above the limit of <limit> (<why>)"``."""
    if value > limit:
        raise ValueError(f"{_number(value)} is above the limit of {_number(limit)} ({why})")
    return value


def _check_at_least(limit: float, why: str, value: float) -> float:
    if value < limit:
        raise ValueError(f"{_number(value)} is below the limit of {_number(limit)} ({why})")
    return value


def at_most(limit: float, why: str) -> AfterValidator:
    """A schema's upper bound on a validated number (``Annotated[float, ..., at_most(...)]``),
    refused by `check_at_most`."""
    return AfterValidator(partial(check_at_most, limit, why))


def at_least(limit: float, why: str) -> AfterValidator:
    """The lower bound of `at_most`: ``"<value> is below the limit of <limit> (<why>)"``."""
    return AfterValidator(partial(_check_at_least, limit, why))


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


def set_field(data: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path in ``data`` in place, creating missing parents."""
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})  # a field the mapping leaves at its default
    node[last] = value


def pop_field(data: dict[str, Any], path: str) -> None:
    """Remove a dotted path from ``data`` in place, if it is there."""
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node.get(part)
        if not isinstance(node, dict):
            return
    node.pop(last, None)


def with_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with each dotted path in ``overrides`` set to its value
    (missing parents created; ``base`` left untouched)."""
    out = copy.deepcopy(dict(base))
    for path, value in overrides.items():
        set_field(out, path, value)
    return out


def schema_paths(schema: Any, choose: Callable[[str, Any], Any] | None = None,
                 skip: tuple[str, ...] = (), leaves: tuple[type, ...] = ()) -> list[str]:
    """Dotted paths of every leaf field of a schema type (nested models and dataclasses).

    Args:
        schema: a pydantic model or dataclass.
        choose: ``(path, union type) -> member`` picks the member of a union of schemas to
            walk (e.g. the PE kind a spec has); without it a union is a leaf.
        skip: field names left out at every level (e.g. ``"source"``).
        leaves: schema types set as a whole (one path), not field by field.
    """
    paths: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for name, tp in (_fields(node) or {}).items():
            if name in skip:
                continue
            schemas = [m for m in _members(tp) if _fields(m) is not None]
            sub = choose(prefix + name, tp) if choose and schemas else tp
            if _fields(sub) is None or _unwrap(sub) in leaves:
                paths.append(prefix + name)
            else:
                walk(sub, prefix + name + ".")

    walk(schema, "")
    return paths


def yaml_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("buffers", "weight", "kib")`` -> ``buffers.weight.kib``; list indices as ``[i]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validation_error(exc: ValidationError, source: str, schema: Any = None,
                     prefix: tuple[Any, ...] = ()) -> HwsimError:
    """``"<source>: <yaml.path>: <problem>; ..."`` naming every problem of ``exc``.

    Args:
        exc: the error of validating a mapping against ``schema``.
        source: the file (or what stands for it) the mapping came from.
        schema: the validated type (a pydantic model or dataclass); with it an unknown key
            lists the allowed ones and union tags leave the path.
        prefix: where the validated mapping sits in its file (e.g. ``("requests", 3)``).
    """
    found: list[tuple[tuple[Any, ...], str]] = []  # (path, problem), in pydantic's order
    # A value of the wrong type, per path: its schema node, the value, the expected types and
    # pydantic's messages. A union gives one such error per member.
    typed: dict[tuple[Any, ...], tuple[Any, Any, list[str], list[str]]] = {}
    for err in exc.errors():
        loc, node = _walk(schema, tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        kind = err["type"]
        ctx = err.get("ctx") or {}
        if kind in ("extra_forbidden", "unexpected_keyword_argument"):
            parent = _fields(_walk(schema, tuple(err["loc"][:-1]))[1])
            allowed = [name for name in parent if name != "source"] if parent else []
            msg = f"unknown key (allowed: {', '.join(allowed)})" if allowed else "unknown key"
        elif kind == "union_tag_invalid":
            loc = (*loc, ctx.get("discriminator", "").strip("'"))
            msg = f"unknown value {ctx.get('tag')!r} (allowed: {_tags(ctx)})"
        elif kind == "union_tag_not_found":
            msg = f"missing {ctx.get('discriminator')} (allowed: {_tags(node, True)})"
        elif kind in _EXPECTED:
            if kind in _SCALARS:
                msg += _what_was_given(err.get("input"), kind)
            slot = typed.setdefault(loc, (node, err.get("input"), [], []))
            slot[2].append(kind)
            slot[3].append(msg)
            continue
        found.append((loc, msg))
    paths = [loc for loc, _ in found] + list(typed)
    for loc, (node, given, kinds, said) in typed.items():
        if any(len(other) > len(loc) and other[:len(loc)] == loc for other in paths):
            continue  # a union member with problems inside the value: the member meant
        # One number or flag: pydantic's words and what was given. Otherwise in the file's
        # words: pydantic names the private schema class ("instance of _ServingIn"), and a
        # union gives one error per member (text, then a list under "list[any]").
        one = len(kinds) == 1 and kinds[0] in _SCALARS
        found.append((loc, said[0] if one else _expected(node, kinds, given)))
    return HwsimError(f"{source}: " + "; ".join(f"{yaml_path((*prefix, *loc))}: {msg}"
                                                for loc, msg in found))


# A value of the wrong YAML type, in words: what was expected, by pydantic's error type.
_SCALARS = {"bool_type": "true or false", "int_type": "an integer", "float_type": "a number"}
_EXPECTED = {**_SCALARS, "model_type": "a mapping", "dataclass_type": "a mapping",
             "model_attributes_type": "a mapping", "dict_type": "a mapping",
             "list_type": "a list", "tuple_type": "a list", "string_type": "text"}


def _expected(node: Any, kinds: list[str], given: Any) -> str:
    """``expected a mapping (keys: a, b), got a list`` for a value of the wrong type."""
    words = list(dict.fromkeys(_EXPECTED[k] for k in kinds))
    if "a number" in words and "an integer" in words:
        words.remove("an integer")
    fields = [name for name in _fields(node) or () if name != "source"]
    keys = f" (keys: {', '.join(fields)})" if fields and words == ["a mapping"] else ""
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    return f"expected {listed}{keys}, got {_yaml_type(given)}"


def _yaml_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return "a list" if isinstance(value, list | tuple) else "a mapping"


def validate_mapping(schema: Any, data: object, source: str, keys: str,
                     validate: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    """``data`` (a parsed YAML or JSON file) validated against ``schema``.

    Args:
        schema: a pydantic model, or the dataclass that ``validate`` validates.
        data: the parsed file.
        source: the file (or what stands for it), for the error.
        keys: what the mapping holds, for the error (``"workload keys"``).
        validate: how to validate the mapping (default: ``schema.model_validate``).

    Raises:
        HwsimError: ``"<source>: expected a mapping of <keys>, got a list"`` (or: the file is
            empty), or `validation_error`'s line naming every problem.
    """
    if data is None:  # what YAML gives for an empty file or one of comments only
        raise HwsimError(f"{source}: the file is empty; expected a mapping of {keys}")
    if not isinstance(data, dict):
        raise HwsimError(f"{source}: expected a mapping of {keys}, got {_yaml_type(data)}")
    try:
        return (validate or schema.model_validate)(data)
    except ValidationError as exc:
        raise validation_error(exc, source, schema) from None


def _what_was_given(value: Any, kind: str) -> str:
    """What a strict number or flag got instead, where that is the likely slip: a flag for a
    number (``true``), or text (``"1000"``, ``"yes"``)."""
    if isinstance(value, bool):
        return f", not {str(value).lower()}"
    if isinstance(value, str):
        hint = "" if kind == "bool_type" else " (write a number unquoted)"
        return f", not the text {value[:40]!r}{hint}"
    if isinstance(value, list | tuple | dict):
        return f", not {_yaml_type(value)}"
    return ""


def _tags(ctx_or_node: Any, from_node: bool = False) -> str:
    if from_node:
        return ", ".join(_member_tags(ctx_or_node))
    return ", ".join(t.strip().strip("'") for t in str(ctx_or_node.get("expected_tags", ""))
                     .split(","))


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``None`` from a type."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return tp


def _fields(tp: Any) -> dict[str, Any] | None:
    """Field name -> type of a pydantic model or dataclass (None for anything else)."""
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {name: f.annotation for name, f in tp.model_fields.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        return {f.name: hints.get(f.name) for f in dataclasses.fields(tp)}
    return None


def _members(tp: Any) -> tuple[Any, ...]:
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return ()


def _member_tags(tp: Any) -> list[str]:
    """The discriminator values (``kind`` defaults) of a tagged union's members."""
    tags = []
    for member in _members(tp):
        fields = _fields(member) or {}
        for name in fields:
            default = _default(member, name)
            if isinstance(default, str) and name == "kind":
                tags.append(default)
    return tags


def _default(tp: Any, name: str) -> Any:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp.model_fields[name].default
    for f in dataclasses.fields(tp):
        if f.name == name:
            return f.default
    return None


def _walk(schema: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any]:
    """The path to show (union member tags dropped) and the schema node it reaches."""
    shown: list[Any] = []
    node = schema
    for part in loc:
        members = _members(node)
        if members:
            pick = _pick_member(members, part)
            if pick is not None:
                node = pick
                continue  # a union tag: not a YAML key
        shown.append(part)
        node = _child(node, part)
    return tuple(shown), node


def _pick_member(members: tuple[Any, ...], part: Any) -> Any:
    for member in members:
        tp = _unwrap(member)
        name = getattr(typing.get_origin(tp) or tp, "__name__", None)
        # pydantic tags a member by its type's name, a generic one as ``list[any]``
        if isinstance(part, str) and name is not None and part.partition("[")[0] == name:
            return member
        fields = _fields(member) or {}
        if "kind" in fields and _default(_unwrap(member), "kind") == part:
            return member
    return None


def _child(node: Any, part: Any) -> Any:
    if node is None:
        return None
    tp = _unwrap(node)
    if isinstance(part, int):
        args = typing.get_args(tp)
        return args[0] if typing.get_origin(tp) in (list, tuple) and args else None
    fields = _fields(tp)
    if fields is not None:
        return fields.get(part)
    if typing.get_origin(tp) is dict:
        return typing.get_args(tp)[1] if typing.get_args(tp) else None
    return None
