"""`anomaly threshold`: choose a new threshold by a named method and record it as a version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from anomaly.cli.app import app, echo, load, log, models_dir
from anomaly.cli.options import ModelRef, OptFloat, OptStr, Workspace
from anomaly.errors import InputError

METHOD_HELP = "quantile|contamination|sigma|mad|pot|f1|margin|manual"


@app.command(epilog="Example: anomaly threshold transactions --method pot --risk 0.001 "
                    "--why 'fewer alerts'")
def threshold(
    model: ModelRef,
    method: Annotated[str, typer.Option(help=METHOD_HELP)],
    q: Annotated[OptFloat, typer.Option(help="quantile: share of validation normals below.")
                 ] = None,
    contamination: Annotated[OptFloat, typer.Option(help="contamination: share to flag.")
                             ] = None,
    k: Annotated[OptFloat, typer.Option(help="sigma/mad: multiplier.")] = None,
    risk: Annotated[OptFloat, typer.Option(help="pot: target false-alarm probability.")] = None,
    level: Annotated[OptFloat, typer.Option(help="pot: initial quantile of the tail fit.")
                     ] = None,
    margin: Annotated[OptFloat, typer.Option(help="margin: multiple of the largest validation "
                                                  "score.")] = None,
    value: Annotated[OptFloat, typer.Option(help="manual: the threshold itself.")] = None,
    data: Annotated[Path | None, typer.Option(help="Data to score (contamination, f1).")] = None,
    label_col: Annotated[OptStr, typer.Option(help="Label column in --data (f1).")] = None,
    labels_file: Annotated[Path | None, typer.Option(
        "--labels", help="Labels in a file of their own, matched by key (f1).")] = None,
    from_feedback: Annotated[bool, typer.Option(
        "--from-feedback", help="f1: labels from the analysts' marks of this model version "
                                "(confirmed = 1, false alarm = 0) instead of --data; moves the "
                                "threshold only as far as the marks justify.")] = False,
    why: Annotated[str, typer.Option(help="Reason, kept in the threshold history.")] = "",
    by: Annotated[OptStr, typer.Option(help="Who changes it [the logged-in user].")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, do not save.")] = False,
    workspace: Workspace = Path(),
) -> None:
    """Choose a new threshold by a stated method and record it as a new threshold version."""
    # bundle.json and the validation scores only: no torch unless --data must be scored
    from anomaly.bundle import read_validation_scores, save_threshold, verify
    from anomaly.core.thresholds import caveat, choose_threshold, current_user, record
    from anomaly.kinds import KIND_ITEMS

    path, meta = verify(model, models_dir(workspace))
    validation = read_validation_scores(path)
    scores = labels = None
    if data is not None and not from_feedback:
        scores, labels = _scores_and_labels(load(str(path), workspace), data, label_col,
                                            labels_file)
    try:
        choice = (_from_feedback(meta, method, data, workspace) if from_feedback else
                  choose_threshold(method, validation, q=q, contamination=contamination, k=k,
                                   risk=risk, level=level, margin=margin, value=value,
                                   scores=scores, labels=labels))
    except ValueError as exc:
        raise InputError(f"anomaly threshold --method {method}: {exc}") from None
    old = float(meta["threshold"]["value"])
    item = KIND_ITEMS.get(str(meta.get("kind")), "item")
    flagged = float((validation > choice.value).mean())
    change = _direction(choice.value, old, item)
    echo(f"{choice.describe()} → threshold {choice.value:.4g} (was {old:.4g}{change}); "
         f"flags {flagged:.2%} of validation normals")
    warning = caveat(choice, len(validation), item)
    if warning:
        log.warning("%s", warning.replace("MODEL", model))
    if dry_run:
        return
    info = record(meta["threshold"], choice, by or current_user(), why)
    save_threshold(path, meta, info)
    echo(f"saved as threshold version {info['version']} in {path}")


def _direction(new: float, old: float, item: str) -> str:
    """``": lower, more rows will be flagged"`` and the like: what the change means."""
    if new < old:
        return f": lower, more {item}s will be flagged"
    if new > old:
        return f": higher, fewer {item}s will be flagged"
    return ""


def _from_feedback(meta: dict[str, Any], method: str, data: Path | None, workspace: Path
                   ) -> Any:
    """Best F1 over the marked items of the bundle's version (`f1_from_marks`)."""
    from anomaly.jobs.feedback import f1_from_marks, labels_from_marks, read_marks

    if method != "f1":
        raise InputError(f"--from-feedback is for --method f1, not {method}")
    if data is not None:
        raise InputError("--from-feedback and --data are two sources of labels: pass one")
    scores, labels = labels_from_marks(read_marks(workspace, str(meta["name"])),
                                       int(meta["version"]))
    echo(f"labels: {len(scores):,} reviewed item(s), {int(labels.sum()):,} confirmed")
    return f1_from_marks(scores, labels, float(meta["threshold"]["value"]))


def _scores_and_labels(detector: Any, data: Path, label_col: str | None,
                       labels_file: Path | None = None) -> tuple[Any, Any]:
    """Scores of `--data` and, with `--label-col`, its labels (both in the file's row order)."""
    from anomaly.cli.score import labelled

    if label_col or labels_file:
        frame, labels = labelled(detector, data, label_col or "label", labels_file)
    else:
        frame, labels = detector.read([data], str(data)), None
    rows = detector.row_scores(frame, str(data))
    return rows.scores, None if labels is None else labels[rows.keep]
