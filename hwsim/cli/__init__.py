"""The `hwsim` command line: parse, call library functions, print.

Each command group lives in its own module and keeps heavy imports inside its functions, so
`hwsim --help` stays fast. Register a new group or command in `_register` below.
"""

from __future__ import annotations

import copy
import logging
import signal
import sys
from typing import Any

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from hwsim import __version__
from hwsim.errors import HwsimError, Interrupted

__all__ = ["app", "main"]

_VERBOSE_KEY = "hwsim.verbose"


# Libraries whose info and debug messages are about themselves, not about the user's job.
_CHATTY = ("matplotlib", "PIL", "bokeh", "fontTools", "distributed")


class _WarningsOnlyFrom(logging.Filter):
    """Drops records below WARNING from the `_CHATTY` libraries. A filter on the handler, not a
    logger level, because Dask's `distributed` sets its loggers to INFO when it is imported,
    which happens after the CLI configured logging (a sweep printed 24 INFO lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return not any(record.name == n or record.name.startswith(n + ".") for n in _CHATTY)


def _configure_logging(verbose: int) -> None:
    # Only the CLI configures logging; the library just logs.
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    # -v is about hwsim: the libraries' font, backend and cluster chatter stays out.
    for handler in logging.getLogger().handlers:
        handler.addFilter(_WarningsOnlyFrom())
    for noisy in _CHATTY:  # and is not even formatted
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _verbosity(ctx: typer.Context, param: typer.CallbackParam, value: int) -> None:
    # `hwsim -v run -v` counts both: the root's count is kept in the shared context meta.
    total = ctx.meta.get(_VERBOSE_KEY, 0) + (value or 0)
    ctx.meta[_VERBOSE_KEY] = total
    _configure_logging(total)


class _VerboseEverywhere(TyperGroup):
    """The root group: every command and sub-group also takes the root's -v/--verbose after
    its name (the same option and callback, not passed to the command's function)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        verbose = next(p for p in self.params if p.name == "verbose")
        shared = copy.copy(verbose)
        shared.expose_value = False
        _add_verbose(list(self.commands.values()), shared)


def _add_verbose(commands: list[Any], option: Any) -> None:
    for cmd in commands:
        if not any(p.name == "verbose" for p in cmd.params):
            cmd.params.append(option)
        _add_verbose(list(getattr(cmd, "commands", {}).values()), option)


app = typer.Typer(
    name="hwsim",
    cls=_VerboseEverywhere,
    help="Co-design low-bit LLM accelerators: number formats, RTL, cycle-level simulation, "
    "roofline and cost reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

_stderr = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hwsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, callback=_verbosity,
        help="More log output (-vv: debug); also accepted after the command."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    del verbose  # applied by the shared _verbosity callback, also used after the command


def _register() -> None:
    # In the order of the data flow: formats, workloads on machines, RTL and FPGA, real
    # checkpoints, sweeps. Each module keeps its heavy imports inside its commands.
    from hwsim.cli import (
        area_cmd,
        dtypes_cmd,
        fidelity_cmd,
        fpga_cmd,
        roofline_cmd,
        run_cmd,
        sweep_cmd,
        verilog_cmd,
    )

    app.add_typer(dtypes_cmd.app, name="dtypes")
    app.command("roofline")(roofline_cmd.roofline)
    app.command("run")(run_cmd.run)
    app.command("verilog")(verilog_cmd.verilog)
    app.command("synth")(fpga_cmd.synth)
    app.command("fpga")(fpga_cmd.fpga)
    app.command("fpga-scale")(fpga_cmd.fpga_scale)
    app.command("area")(area_cmd.area)
    app.command("quantize")(fidelity_cmd.quantize)
    app.command("fidelity")(fidelity_cmd.fidelity)
    app.command("tradeoff")(fidelity_cmd.tradeoff)
    app.command("sweep")(sweep_cmd.sweep)


_register()


def _interrupt(signum: int, _frame: object) -> None:
    # Ctrl-C and SIGTERM end the command like an exception: `with` blocks close (a sweep stops
    # its workers), the exit code is the shell's 128 + signal number. Later signals are
    # ignored so that the cleanup finishes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Interrupted(128 + signum)


def _error(message: str) -> None:
    # The message is plain text: it may hold brackets that are not rich markup.
    _stderr.print("[bold red]error:[/]", Text(" ".join(message.split())), highlight=False,
                  soft_wrap=True)
    sys.exit(2)


def main() -> None:
    """Entry point of the `hwsim` console script: bad input -> one line on stderr, exit 2;
    Ctrl-C -> one line, exit 130."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        # Not standalone: a wrong option is reported like any other bad input (one line),
        # not as the framework's usage box.
        code = app(standalone_mode=False)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # plain `hwsim`: the help, as before
            exc.show()
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path.partition(" ")[2] if ctx is not None else ""
        _error(f"{path + ': ' if path else ''}{exc.format_message()}")
    except typer.Abort:
        _stderr.print("[bold red]interrupted[/]", highlight=False)
        sys.exit(130)
    except HwsimError as exc:
        _error(str(exc))
    except OSError as exc:
        # A file the system refuses (a name too long, a full disk, no permission) is the
        # environment or the input, not a bug: one line naming it. Others keep their traceback.
        if exc.filename is None:
            raise
        name = str(exc.filename)
        _error(f"{name[:200] + '...' if len(name) > 200 else name}: {exc.strerror or exc}")
    except (Interrupted, KeyboardInterrupt) as exc:
        _stderr.print("[bold red]interrupted[/]", highlight=False)
        sys.exit(exc.code if isinstance(exc, Interrupted) else 130)
    sys.exit(code if isinstance(code, int) else 0)
