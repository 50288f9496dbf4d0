"""The user's files: the one reader of YAML and JSON documents, the output folder, and
references to presets or files (`resolve_reference`).

A leaf module (like `hwsim.errors`): every layer may use it without depending on a higher one.

Every workload, hardware description, sweep file, ``--set`` value and ``config.json`` goes
through the same decoding rules, so a hostile or broken file gets one line, never a traceback:

- the text is UTF-8 (an optional byte-order mark is dropped); other bytes are refused with
  their offset;
- at most `MAX_CONFIG_BYTES` of text, `MAX_NESTING` levels of lists and mappings, and
  `MAX_CONFIG_NODES` values (YAML aliases counted where they are used);
- a key given twice in one mapping is an error (YAML and JSON would silently keep the last);
- integers must fit in int64 (NumPy's integers), and are refused on their digit count before
  Python converts them;
- NaN and infinities are not numbers any input of hwsim accepts.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from hwsim.errors import HwsimError
from hwsim.limits import INT64_MAX, MAX_CONFIG_BYTES, MAX_CONFIG_NODES, MAX_NESTING

__all__ = [
    "check_inputs_spared",
    "check_output_folder",
    "comma_list",
    "output_folder",
    "parse_json",
    "parse_yaml",
    "portable_path",
    "preset_file",
    "preset_names",
    "read_json",
    "read_text",
    "read_yaml",
    "resolve_reference",
]

# An int64 has at most 19 decimal digits; longer literals are refused without converting them
# (Python refuses to convert more than 4300 digits, and the conversion is quadratic).
_MAX_INT_CHARS = 24


class _Problem(Exception):
    """A decoding rule broken inside the parser; `parse_*` adds the source to the message."""


def comma_list(text: str, option: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]`` for an option taking comma-separated names.

    Raises:
        HwsimError: an empty item (nothing given, ``a,,b`` or a trailing comma) or an item given
            twice, naming ``option``: either is more likely a slip than a wish.
    """
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        raise HwsimError(f"{option} {text!r}: an empty item; give comma-separated names")
    twice = list(dict.fromkeys(t for t in items if items.count(t) > 1))
    if twice:
        raise HwsimError(f"{option} {text!r}: {', '.join(twice)} given twice")
    return items


def read_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of the file at `path`, at most `MAX_CONFIG_BYTES`.

    Raises:
        HwsimError: missing, unreadable, a folder, too large, or not UTF-8.
    """
    p = Path(path)
    try:
        if p.is_dir():
            raise HwsimError(f"{p}: is a folder, not a {what} file")
        with p.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise HwsimError(f"{p}: cannot read {what} ({exc.strerror or exc})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise HwsimError(f"{p}: larger than the limit of {MAX_CONFIG_BYTES // 2**20} MiB for "
                         f"a {what} file")
    return _decode(data, str(p))


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise HwsimError(f"{source}: not UTF-8 text: byte 0x{data[exc.start]:02x} at line "
                         f"{line} (offset {exc.start}); save the file as UTF-8") from None


# ---------------------------------------------------------------------------- YAML


def _at(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


class _Loader(yaml.SafeLoader):
    """The safe loader with hwsim's rules: depth, size, duplicate keys, int64, finite floats."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> values under it, aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self._depth >= MAX_NESTING:
            mark = self.peek_event().start_mark
            raise _Problem(f"line {mark.line + 1}: nested deeper than the limit of "
                           f"{MAX_NESTING} levels")
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if id(node) not in self._sizes:
            children: list[Any] = []
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            size = 1 + sum(self._sizes.get(id(c), 1) for c in children)
            if size > MAX_CONFIG_NODES:
                raise _Problem(f"{_at(node)}: more than the limit of {MAX_CONFIG_NODES:,} "
                               "values (aliases counted where they are used)")
            self._sizes[id(node)] = size
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            merge: yaml.Node | None = None
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    # A second merge key was dropped silently (the first one's keys won);
                    # one merge of a list (<<: [*a, *b]) is the way to merge several.
                    if merge is not None:
                        raise _Problem(f"{_at(key_node)}: a second merge key << (first given "
                                       f"at {_at(merge)}); merge several with one: "
                                       "<<: [*a, *b]")
                    merge = key_node
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:
                    continue  # an unhashable key: the base class says so
                if first is not key_node:
                    raise _Problem(f"{_at(key_node)}: duplicate key {key!r} (first given at "
                                   f"{_at(first)}); give each key once")
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        text = str(node.value).replace("_", "")
        digits = text.lstrip("+-")
        # YAML 1.1's forms that YAML 1.2 (and a reader) takes otherwise: 010 is 8 (octal),
        # 1:00 is 60 (base 60), 0b1000 is 8; `prompt_tokens: 010` ran 8 tokens.
        form = ("base 60" if ":" in digits else "binary" if digits[:2].lower() == "0b" else
                "octal" if len(digits) > 1 and digits[0] == "0" and digits[1] not in "xX"
                else None)
        if form is not None:
            how = "without leading zeros" if form == "octal" else "in decimal"
            raise _Problem(f"{_at(node)}: {node.value} is a YAML 1.1 {form} integer "
                           f"({super().construct_yaml_int(node)}); write it {how}, or quote "
                           "it if it is text")
        if len(text.lstrip("+-")) > _MAX_INT_CHARS:
            raise _Problem(f"{_at(node)}: integer of {len(text)} digits is outside the "
                           f"64-bit range (at most {INT64_MAX:,} in size)")
        value = super().construct_yaml_int(node)
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise _Problem(f"{_at(node)}: integer {value:.3g} is outside the 64-bit range (at "
                           f"most {INT64_MAX:,} in size)")
        return value

    def construct_yaml_float(self, node: Any) -> float:
        if ":" in str(node.value):  # YAML 1.1's base 60: 1:30.5 is 90.5
            raise _Problem(f"{_at(node)}: {node.value} is a YAML 1.1 base 60 number "
                           f"({super().construct_yaml_float(node)}); write it in decimal, or "
                           "quote it if it is text")
        value = super().construct_yaml_float(node)
        if value != value or value in (float("inf"), float("-inf")):
            raise _Problem(f"{_at(node)}: {node.value} is not a finite number (NaN and "
                           "infinities are not accepted)")
        return value


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)
# YAML 1.2's floats: PyYAML (1.1) reads 1e3 and 5e-3, which have no dot, as text. The schemas'
# numbers are strict, so they would refuse `clock_mhz: 1e3` as "not a number".
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def parse_yaml(text: str, source: str) -> object:
    """Parse YAML `text` (a file's contents, a ``--set`` value) under hwsim's rules.

    Raises:
        HwsimError: ``"<source>: <problem>"``, with the line and column where known.
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise HwsimError(f"{source}: longer than the limit of {MAX_CONFIG_BYTES // 2**20} "
                         "MiB of text")
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except _Problem as exc:
        raise HwsimError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise HwsimError(f"{source}: malformed YAML{where}: {problem}") from None
    except RecursionError:  # a guard: the depth limit stops nesting long before this
        raise HwsimError(f"{source}: nested too deeply (limit {MAX_NESTING} levels)") from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path, what: str) -> object:
    """Read and parse the YAML file at `path` (see the module's rules).

    Args:
        path: the file.
        what: what the file should hold, for messages ("workload", "hardware description").

    Raises:
        HwsimError: unreadable file or malformed YAML, naming the file, line and column.
    """
    return parse_yaml(read_text(path, what), str(path))


# ---------------------------------------------------------------------------- JSON


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_CHARS:
        raise _Problem(f"integer of {len(text)} digits is outside the 64-bit range")
    value = int(text)
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise _Problem(f"integer {value:.3g} is outside the 64-bit range (at most "
                       f"{INT64_MAX:,} in size)")
    return value


def _json_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Problem(f"{text} is not a finite number")
    return value


def _json_constant(name: str) -> float:
    raise _Problem(f"{name} is not a finite number (NaN and infinities are not accepted)")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Problem(f"duplicate key {key!r}; give each key once")
        out[key] = value
    return out


def _check_shape(data: object, source: str) -> None:
    """Depth and size of a parsed document, without recursion."""
    stack, count = [(data, 1)], 0
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_NODES:
            raise HwsimError(f"{source}: more than the limit of {MAX_CONFIG_NODES:,} values")
        children = (item.values() if isinstance(item, dict)
                    else item if isinstance(item, list) else ())
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_NESTING:
                    raise HwsimError(f"{source}: nested deeper than the limit of "
                                     f"{MAX_NESTING} levels")
                stack.append((child, depth + 1))
            else:
                count += 1


def parse_json(text: str, source: str) -> object:
    """Parse JSON `text` under the same rules as YAML.

    Raises:
        HwsimError: ``"<source>: <problem>"``, with the line where known.
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise HwsimError(f"{source}: longer than the limit of {MAX_CONFIG_BYTES // 2**20} "
                         "MiB of text")
    try:
        data = json.loads(text, parse_int=_json_int, parse_float=_json_float,
                          parse_constant=_json_constant, object_pairs_hook=_json_object)
    except _Problem as exc:
        raise HwsimError(f"{source}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise HwsimError(f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg}") from None
    except RecursionError:
        raise HwsimError(f"{source}: nested deeper than the limit of {MAX_NESTING} "
                         "levels") from None
    _check_shape(data, source)
    return data


def read_json(path: str | Path, what: str) -> object:
    """Read and parse the JSON file at `path` (see the module's rules)."""
    return parse_json(read_text(path, what), str(path))


# ---------------------------------------------------------------------------- outputs

# The folder holding hwsim's own files (presets, examples): a checkout or site-packages.
_INSTALL_ROOT = Path(__file__).resolve().parent.parent


def portable_path(text: str | Path) -> str:
    """`text` (a path, or a description starting with one: ``hw.yaml with array.rows=8``) as
    an output may record it.

    A file of hwsim's own (a preset, a bundled example) becomes relative to hwsim's install
    folder (``hw/presets/bitmod.yaml``); any other file is named by its file name alone, so
    that neither the machine's folders nor the working directory and the spelling of the
    path (``wl.yaml``, ``inp/wl.yaml``, ``/tmp/inp/wl.yaml``) change an output's bytes: two
    checkouts, or one moved folder, write the same.
    """
    text = str(text)
    prefix = f"{_INSTALL_ROOT}{os.sep}"
    if text.startswith(prefix):
        return Path(text[len(prefix):]).as_posix()
    path, sep, rest = text.partition(" with ")  # `hwsim.hw.with_overrides`' description
    return f"{Path(path).name or path}{sep}{rest}"


def output_folder(path: str | Path, option: str = "--out", *, written: bool = True) -> Path:
    """Create the output folder `path` (and its parents) or say in one line why not.

    ``written=False`` for a folder whose files are only a cache (a read-only one is read).

    Raises:
        HwsimError: `path` is a file, or cannot be created or (``written``) written in
            (names `option`).
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise HwsimError(f"{option} {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        # An existing folder without write permission: said now, before any work, not by
        # the first file written at the end (a temporary file, gone when closed).
        if written:
            with tempfile.TemporaryFile(dir=out):
                pass
    except OSError as exc:
        raise HwsimError(f"{option} {out}: cannot write ({exc.strerror or exc})") from None
    return out


def check_output_folder(path: str | Path, option: str = "--out") -> None:
    """Refuse, without creating anything, an output folder `output_folder` could not make or
    write in: for a command that validates at length (plans a sweep's grid) before writing.

    Raises:
        HwsimError: `path` or an ancestor is a file, or the nearest existing folder is not
            writable (names `option`).
    """
    out = Path(path)
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "exists and is not a folder" if existing == out else f"{existing} is not a folder"
        raise HwsimError(f"{option} {out}: {what}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise HwsimError(f"{option} {out}: cannot write (Permission denied)")


def check_inputs_spared(out: str | Path, names: Iterable[str],
                        inputs: Iterable[str | Path | None], option: str = "--out") -> None:
    """Refuse an output folder where a file the command writes (`names`) is one of its inputs
    (a served trace named requests.csv beside its workload was overwritten by the run's
    requests.csv), before any work.

    Raises:
        HwsimError: names `option`, the file and the input it would overwrite.
    """
    out = Path(out)
    given = [Path(p) for p in inputs if p is not None and Path(p).is_file()]
    for name in names:
        target = out / name
        if not target.is_file():
            continue
        for path in given:
            if target.samefile(path):
                raise HwsimError(f"{option} {out}: writing {name} would overwrite the input "
                                 f"{path}; choose another output folder")


def resolve_reference(ref: str | Path, folder: Path | None = None) -> Path | str:
    """A preset name or a file: the one rule for every hardware and machine reference.

    A `Path`, or a text that ends in ``.yaml``/``.yml`` (any case) or contains a ``/``, is a
    file: a relative one is taken from ``folder`` (the folder of the file that names it; ``None`` on
    the command line: the current directory). Anything else is a preset name, returned
    stripped and lower-cased; a file of that name is never looked up.
    """
    if isinstance(ref, Path):
        path = ref
    else:
        text = str(ref).strip()
        if not (text.lower().endswith((".yaml", ".yml")) or "/" in text):  # myhw.YAML too
            return text.lower()
        path = Path(text)
    path = path.expanduser()
    return path if path.is_absolute() or folder is None else folder / path


def preset_names(folders: Sequence[Path]) -> list[str]:
    """Names of the preset YAML files in ``folders``, sorted."""
    return sorted({p.stem for folder in folders for p in folder.glob("*.yaml")})


def preset_file(name: str, folders: Sequence[Path], what: str) -> Path:
    """The YAML file of preset ``name`` (see `resolve_reference`) in the first of ``folders``
    that has it.

    Raises:
        HwsimError: unknown name; the message lists the presets and the closest names.
    """
    for folder in folders:
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
    names = preset_names(folders)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise HwsimError(f"unknown {what} preset {name!r}{hint}; presets: {', '.join(names)}; "
                     f"or give the path of a {what} YAML file (ending in .yaml)")
