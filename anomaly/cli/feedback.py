"""`anomaly feedback`: the analysts' marks (confirmed / false alarm) of a model's flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from anomaly.cli.app import app, echo
from anomaly.cli.options import OptStr, Workspace
from anomaly.errors import InputError


@app.command(epilog="Example: anomaly feedback transactions --export marks.csv")
def feedback(
    model: Annotated[str, typer.Argument(help="Model name, or name@N for one version's marks.",
                                         show_default=False)],
    scored_file: Annotated[OptStr, typer.Option(
        "--file", help="Only marks of this scored file (as the dashboard names it, e.g. "
                       "scores/x.scored.csv).")] = None,
    export: Annotated[Path | None, typer.Option(help="Write the marks to this CSV or Parquet "
                                                     "file.")] = None,
    workspace: Workspace = Path(),
) -> None:
    """List the marks analysts set on the dashboard's Anomalies page (newest last)."""
    from anomaly.io import write_table
    from anomaly.jobs.feedback import FALSE_ALARM, read_marks

    name, _, version = model.partition("@")
    if version and not version.isdigit():
        raise InputError(f"{model!r}: give a model name or name@N, e.g. {name}@2")
    marks = read_marks(workspace, name, scored_file)
    if version:
        marks = marks[marks["model_version"] == int(version)]
    if export is not None:
        write_table(marks, export)
        echo(f"wrote {len(marks):,} mark(s) to {export}")
        return
    if marks.empty:
        echo(f"no marks for {model} in {workspace / 'runs.db'} — mark flagged items on the "
             "dashboard's Anomalies page (`anomaly dashboard`)")
        return
    shown = marks.assign(model=marks["model"] + "@" + marks["model_version"].astype(str),
                         marked_at=marks["marked_at"].str[:19].str.replace("T", " "))
    shown = shown[["verdict", "model", "anomaly_score", "scored_file", "item", "marked_by",
                   "marked_at", "note"]].rename(columns={"anomaly_score": "score",
                                                         "marked_by": "by",
                                                         "marked_at": "when (UTC)"})
    echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"))
    false = int((marks["verdict"] == FALSE_ALARM).sum())
    echo(f"{len(marks):,} mark(s): {len(marks) - false:,} confirmed, {false:,} false alarm(s)")
