"""The `anomaly` command line."""

from anomaly.cli.main import app, main

__all__ = ["app", "main"]
