"""The `anomaly` command line: one module per command group, all on one Typer app.

`app.py` holds the app and the entry point; importing this package registers every command.
"""

from anomaly.cli import (  # noqa: F401  (commands)
    batch,
    feedback,
    models,
    score,
    serve,
    threshold,
    train,
)
from anomaly.cli.app import app, main, run

__all__ = ["app", "main", "run"]
