"""Option types shared by the commands: the workspace, a model reference, optional values."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def existing_workspace(path: Path) -> Path:
    """Reading commands use a workspace; they never create one (a mistyped name is an error)."""
    from anomaly.errors import InputError

    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise InputError(f"workspace {path} {what} — check --workspace or ANOMALY_WORKSPACE "
                         "(`anomaly train` creates a new workspace)")
    return path


def new_workspace(path: Path) -> Path:
    """Writing commands (train, demo) create the workspace, and say so."""
    from anomaly.errors import InputError

    if path.exists() and not path.is_dir():
        raise InputError(f"workspace {path} is not a folder — check --workspace or "
                         "ANOMALY_WORKSPACE")
    if not path.exists():
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise InputError(f"workspace {path}: cannot be created ({exc.strerror}) — check "
                             "--workspace or ANOMALY_WORKSPACE") from exc
        typer.echo(f"created workspace {path}", err=True)
    return path


HELP = "Folder holding models/, scores/ and runs.db."
Workspace = Annotated[Path, typer.Option("--workspace", envvar="ANOMALY_WORKSPACE", help=HELP,
                                         callback=existing_workspace)]
NewWorkspace = Annotated[Path, typer.Option("--workspace", envvar="ANOMALY_WORKSPACE",
                                            help=HELP + " Created if missing.",
                                            callback=new_workspace)]
ModelRef = Annotated[str, typer.Argument(help="Model name (newest version), name@N, or a bundle "
                                              "folder.", show_default=False)]
OptStr = str | None
OptFloat = float | None
OptInt = int | None
BAD_ROWS = ("fail", "skip")
