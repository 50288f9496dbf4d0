"""One CLI: closest-name suggestions, and -vv about hwsim only."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from hwsim.cli import app, main


def hwsim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hwsim", *args], capture_output=True,
                          text=True, cwd=cwd, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin",
                                                   "MPLCONFIGDIR": str(cwd / "mpl")},
                          timeout=120)


def test_set_suggests_the_closest_field(tmp_path: Path) -> None:
    out = hwsim("run", "--set", "array.row=64", "--out", "o", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().endswith("unknown hardware field 'array.row' (did you mean "
                                       "array.rows?)")
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_misspelt_demo_checkpoint_gets_a_suggestion(tmp_path: Path) -> None:
    out = hwsim("quantize", "minlm", "--out", "o", cwd=tmp_path)
    assert out.returncode == 2
    assert "checkpoint minlm: no such file or folder; did you mean minilm" in out.stderr
    assert not (tmp_path / "o").exists()


def test_verbose_logs_hwsim_not_the_plotting_libraries(tmp_path: Path, one_gemm: str) -> None:
    wl = tmp_path / "k.yaml"
    wl.write_text(one_gemm, encoding="utf-8")
    out = hwsim("run", str(wl), "--out", "o", "-vv", cwd=tmp_path)  # after the command
    assert out.returncode == 0, out.stderr
    # -vv used to flood the screen with matplotlib's font manager debugging.
    assert "matplotlib" not in out.stderr and "findfont" not in out.stderr


@pytest.mark.parametrize("args", [("-vv", "dtypes", "list"), ("dtypes", "list", "-vv"),
                                  ("dtypes", "-v", "list", "-v"), ("-v", "dtypes", "list", "-v")])
def test_verbose_is_counted_before_and_after_the_command(
        args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(sys, "argv", ["hwsim", *args])
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # basicConfig(force) is undone
    monkeypatch.setattr(root, "level", root.level)
    mpl = logging.getLogger("matplotlib")
    monkeypatch.setattr(mpl, "level", mpl.level)
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0
    assert root.level == logging.DEBUG  # two -v in either place: debug
    assert mpl.level == logging.WARNING


def test_every_command_takes_verbose_after_its_name() -> None:
    import typer

    group = typer.main.get_command(app)
    commands = [c for name, c in group.commands.items() if name != "dtypes"]
    commands += list(group.commands["dtypes"].commands.values())
    assert len(commands) >= 14
    for cmd in commands:
        assert any("-v" in p.opts and p.count for p in cmd.params), cmd.name


def test_every_command_that_writes_files_takes_out_with_the_same_default() -> None:
    import typer

    group = typer.main.get_command(app)
    commands = dict(group.commands)
    commands |= {f"dtypes-{n}": c for n, c in commands.pop("dtypes").commands.items()}
    outs = {name: next((p for p in cmd.params if p.name == "out"), None)
            for name, cmd in commands.items()}
    writers = {name: p for name, p in outs.items() if p is not None}
    assert {"run", "roofline", "quantize", "fidelity", "sweep", "dtypes-compare"} <= set(writers)
    for name, p in writers.items():
        assert not p.required and "-o" in p.opts, name
        if name == "tradeoff":  # writes beside the quantize results it reads
            assert p.default is None and "default: FOLDER" in p.help
        elif name == "sweep":  # None tells a run from --report
            assert p.default is None and "default: out/sweep" in p.help
        else:
            assert Path(p.default) == Path("out") / name, name
    assert not any(p.name == "csv" and not p.hidden for c in commands.values() for p in c.params)


def test_dask_cluster_chatter_stays_out_at_every_verbosity(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from hwsim.cli import _configure_logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # basicConfig(force) is undone
    monkeypatch.setattr(root, "level", root.level)
    chatty = logging.getLogger("distributed.scheduler")
    monkeypatch.setattr(logging.getLogger("distributed"), "level", logging.INFO)
    _configure_logging(2)
    # What importing distributed does after the CLI configured logging (a sweep with
    # --executor dask printed 24 such INFO lines).
    logging.getLogger("distributed").setLevel(logging.INFO)
    chatty.info("Scheduler at: tcp://127.0.0.1:33421")
    chatty.warning("Worker exceeded 95% memory budget")
    logging.getLogger("hwsim.sweep").debug("planned 2 points")
    err = capsys.readouterr().err
    assert "Scheduler at" not in err
    assert "WARNING distributed.scheduler: Worker exceeded" in err  # real problems still show
    assert "DEBUG hwsim.sweep: planned 2 points" in err
