"""Every file and folder option refuses an empty path (``Path("")`` is the working directory)."""

from __future__ import annotations

import inspect
import sys
import typing
from pathlib import Path

import pytest
import typer

from hwsim.cli import app, main
from hwsim.cli.paths import given_path


def _commands(group: typer.Typer) -> list[typing.Callable[..., object]]:
    found = [c.callback for c in group.registered_commands if c.callback is not None]
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        found += _commands(sub.typer_instance)
    return found


def _path_parameters() -> list[tuple[str, str, object]]:
    out = []
    for func in _commands(app):
        hints = typing.get_type_hints(func)
        for name, param in inspect.signature(func).parameters.items():
            if Path in (hints[name], *typing.get_args(hints[name])):
                out.append((func.__name__, name, param.default))
    return out


def test_every_path_parameter_is_parsed_by_given_path() -> None:
    found = _path_parameters()
    # Each command's --out at least, and the inputs (--tensor, --texts, tradeoff's FOLDER, ...).
    assert len(found) >= 18
    unparsed = [f"{cmd} {name}" for cmd, name, info in found
                if getattr(info, "parser", None) is not given_path]
    assert unparsed == []


@pytest.mark.parametrize("args, option", [
    (["roofline", "-o", ""], "'--out' / '-o'"),
    (["run", "--out="], "'--out' / '-o'"),
    (["dtypes", "compare", "--tensor", "  "], "'--tensor'"),
    (["tradeoff", ""], "'folder'"),
    (["area", "bitmod_pe", "--cache", ""], "'--cache'"),
])
def test_an_empty_path_is_refused_before_anything_is_written(
        args: list[str], option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["hwsim", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"Invalid value for {option}: an empty path names no file or folder" in \
        " ".join(err.split())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    # Names that may be files, given empty: the working directory was read as the folder.
    (["sweep", ""], "SWEEP.yaml: empty; give a sweep file or a bundled example ("),
    (["quantize", " "], "CHECKPOINT: empty; give a checkpoint folder or weights file, or "
                        "minilm"),
    (["fidelity", ""], "CHECKPOINT: empty"),
])
def test_an_empty_file_or_example_name_is_refused(
        args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["hwsim", *args, "-o", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert f"error: {message}" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "out").exists()


def test_given_path_keeps_a_path_and_a_dot() -> None:
    assert given_path("out/run") == Path("out/run")
    assert given_path(".") == Path()  # the working directory, asked for by name
    assert given_path(Path("out/x")) == Path("out/x")
    with pytest.raises(typer.BadParameter):
        given_path("")
