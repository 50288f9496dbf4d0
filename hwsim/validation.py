"""A pydantic `ValidationError` as one `HwsimError` line: every problem, one wording.

Used by every YAML schema (workload, hardware, roofline machine, sweep), so the same mistake
reads the same wherever it is made::

    w.yaml: weights.group_size: Input should be greater than 0; batch: unknown key (allowed: ...)

A leaf beside `hwsim.errors`: it knows pydantic, not hwsim's layers.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from hwsim.errors import HwsimError

__all__ = ["validation_error", "yaml_path"]


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
    msgs = []
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
        msgs.append(f"{yaml_path((*prefix, *loc))}: {msg}")
    return HwsimError(f"{source}: " + "; ".join(msgs))


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
        name = getattr(_unwrap(member), "__name__", None)
        if part == name:
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
