"""The Typer app every command registers on, the console entry point, and shared CLI parts.

Bad input → one clear message and exit code 2, never a traceback. Exit codes: 0 ok; 1 internal
error; 2 bad input or usage; 3 a batch run in which files failed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from anomaly import __version__
from anomaly.errors import AnomalyError, InputError, MachineError, ReaderLeft
from anomaly.text import printable


def _usage_errors() -> tuple[type[Exception], ...]:
    try:  # typer >= 0.22 vendors its own copy of click: its usage errors are not click's classes
        from typer._click.exceptions import ClickException as TyperClickException
    except ImportError:  # pragma: no cover - older typer raises click's own
        return (click.ClickException,)
    return (click.ClickException, TyperClickException)


USAGE_ERRORS = _usage_errors()
EXITS: tuple[type[Exception], ...] = (click.exceptions.Exit, typer.Exit)
ABORTS: tuple[type[Exception], ...] = (click.exceptions.Abort, typer.Abort)

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="Autoencoder anomaly detection: train, score, explain, schedule, dashboard.")
log = logging.getLogger("anomaly")



def models_dir(workspace: Path) -> Path:
    """Where a workspace keeps its model bundles."""
    return workspace / "models"


def echo(text: str = "") -> None:
    """Print a line of the command's output (standard output), control characters escaped."""
    typer.echo(printable(text))


def note(text: str) -> None:
    """Print a line for the user on standard error (when standard output holds data)."""
    typer.echo(printable(text), err=True)


def check_choice(flag: str, value: str | None, choices: tuple[str, ...]) -> None:
    """`InputError` naming the flag when `value` is set and not one of `choices`."""
    if value is not None and value not in choices:
        raise InputError(f"{flag} {value!r}: use {' or '.join(choices)}")


def load(model: str, workspace: Path) -> Any:
    """The verified detector of a model name, ``name@N`` or bundle folder (any kind)."""
    from anomaly.core.detector import Detector

    return Detector.load(model, models_dir(workspace))


def _version(value: bool) -> None:
    if value:
        echo(f"anomaly {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")
        ] = False) -> None:
    """Autoencoder anomaly detection: train, score, explain, schedule, dashboard."""


class _Printable(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def setup_logging(verbose: bool = False) -> None:
    """Notes and warnings go to standard error as ``note: …``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Printable("note: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps errors to exit codes (2 for bad input, 1 for bugs)."""
    setup_logging()
    try:
        # standalone_mode=False: typer returns the code of a `typer.Exit(code)` instead of exiting
        code = app(args=argv, standalone_mode=False)
    except AnomalyError as exc:
        note(f"error: {exc}")
        sys.exit(2)
    except MachineError as exc:
        note(f"error: {exc}")
        sys.exit(1)
    except EXITS as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except USAGE_ERRORS as exc:
        exc.show()  # type: ignore[attr-defined]
        sys.exit(2)
    except ABORTS:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except (ReaderLeft, BrokenPipeError):  # `anomaly score … -o - | head`: it has what it wanted
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)  # 128 + SIGPIPE, as tools killed by SIGPIPE report it
    except OSError as exc:
        note(f"error: {exc.filename or ''}: {exc.strerror or exc} — check the path and "
             "permissions")
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)


def run() -> None:
    """The `anomaly` command (console script, ``python -m anomaly``): `main`, then, once torch is
    loaded, a quick exit. Python's own shutdown tears torch's modules down for 0.6-0.9 s after
    the work is done; by then every output is written and closed, so the exit handlers run
    (logging, temporary files), the standard streams are flushed and the process leaves."""
    code: int | str | None = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    if "torch" not in sys.modules or not isinstance(code, int | None):
        sys.exit(code)
    quick_exit(code or 0)


def quick_exit(code: int) -> None:
    """Leave now with `code`, after the exit handlers and flushing the standard streams."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
