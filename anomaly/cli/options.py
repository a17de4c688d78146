"""Option types shared by the commands: the workspace, a model reference, optional values."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Workspace = Annotated[Path, typer.Option("--workspace", envvar="ANOMALY_WORKSPACE",
                                         help="Folder holding models/, scores/ and runs.db.")]
ModelRef = Annotated[str, typer.Argument(help="Model name (newest version), name@N, or a bundle "
                                              "folder.", show_default=False)]
OptStr = str | None
OptFloat = float | None
OptInt = int | None
BAD_ROWS = ("fail", "skip")
