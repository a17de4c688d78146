"""`anomaly train`: fit a detector of any kind on normal data and save a bundle version."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from anomaly.cli.app import app, echo, log, models_dir
from anomaly.cli.options import NewWorkspace, OptFloat, OptInt, OptStr
from anomaly.errors import InputError

if TYPE_CHECKING:
    from anomaly.jobs.train import Trained


@app.command(epilog="Example: anomaly train data/transactions_train.csv --id-col transaction_id "
                    "--time-col timestamp --name transactions")
def train(
    data: Annotated[list[Path], typer.Argument(help="Training file(s) of normal data.")],
    kind: Annotated[str, typer.Option(help="tabular | timeseries | logs")] = "tabular",
    name: Annotated[OptStr, typer.Option(help="Model name (default: the file's stem without a "
                                              "_train/_test suffix).")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config file; flags override it.")
                      ] = None,
    label_col: Annotated[OptStr, typer.Option(help="0/1 label column; 1-rows are left out.")
                         ] = None,
    id_col: Annotated[list[str] | None, typer.Option(help="Identifier column (repeatable).")
                      ] = None,
    time_col: Annotated[OptStr, typer.Option(help="Timestamp column (carried, not a feature).")
                        ] = None,
    epochs: Annotated[OptInt, typer.Option(help="Maximum epochs [50].")] = None,
    batch_size: Annotated[OptInt, typer.Option(help="Mini-batch size [256].")] = None,
    hidden: Annotated[OptStr, typer.Option(help="Encoder widths, e.g. 64,32,8 [auto].")] = None,
    lr: Annotated[OptFloat, typer.Option(help="Learning rate [0.001].")] = None,
    patience: Annotated[OptInt, typer.Option(help="Early-stopping patience; 0 = off [15].")
                        ] = None,
    seed: Annotated[OptInt, typer.Option(help="Random seed [0].")] = None,
    optimizer: Annotated[OptStr, typer.Option(help="adam|adamw|sgd|rmsprop|adagrad [adamw].")
                         ] = None,
    momentum: Annotated[OptFloat, typer.Option(help="Momentum for sgd/rmsprop [0.9].")] = None,
    weight_decay: Annotated[OptFloat, typer.Option(help="L2 weight decay [1e-4].")] = None,
    l1: Annotated[OptFloat, typer.Option(help="L1 penalty on weights [0].")] = None,
    noise: Annotated[OptFloat, typer.Option(help="Denoising input noise std [0].")] = None,
    dropout: Annotated[OptFloat, typer.Option(help="Dropout rate [0].")] = None,
    activation: Annotated[OptStr, typer.Option(help="relu|gelu|tanh|leaky_relu|elu|silu [gelu].")
                          ] = None,
    norm: Annotated[OptStr, typer.Option(help="layer|batch|none [none].")] = None,
    residual: Annotated[bool | None, typer.Option("--residual/--no-residual",
                                                  help="Skip connections [off].")] = None,
    schedule: Annotated[OptStr, typer.Option(help="cosine|plateau|step|none [cosine].")] = None,
    gradient_clip: Annotated[OptFloat, typer.Option(help="Max gradient norm; 0 = off [1.0].")
                             ] = None,
    val_fraction: Annotated[OptFloat, typer.Option(help="Validation share [0.2].")] = None,
    on_bad_rows: Annotated[OptStr, typer.Option(help="fail | skip [fail].")] = None,
    accelerator: Annotated[OptStr, typer.Option(help="Lightning accelerator [auto].")] = None,
    devices: Annotated[OptStr, typer.Option(help="Lightning devices, e.g. 2 or 0,1 [1].")] = None,
    strategy: Annotated[OptStr, typer.Option(help="Lightning strategy, e.g. ddp [auto].")] = None,
    num_nodes: Annotated[OptInt, typer.Option(help="Nodes for multi-node DDP [1].")] = None,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress",
                                                  help="Progress bar [on in a terminal].")
                        ] = None,
    logger: Annotated[OptStr, typer.Option(
        help="Also log the run for comparison: csv | tensorboard | mlflow (the last two are "
             "optional extras) [none].")] = None,
    logger_dir: Annotated[Path | None, typer.Option(
        help="Where --logger writes [<workspace>/training-logs/<name>].")] = None,
    session_regex: Annotated[OptStr, typer.Option(help="logs: regex of a line's session key, "
                                                       "e.g. 'blk_-?\\d+'.")] = None,
    window: Annotated[OptStr, typer.Option(help="timeseries: rows per window [32].")] = None,
    session_window: Annotated[OptStr, typer.Option(help="logs: fixed time windows as sessions, "
                                                        "e.g. 5m.")] = None,
    time_format: Annotated[OptStr, typer.Option(help="logs: strptime format of the leading "
                                                     "timestamp [auto].")] = None,
    session_col: Annotated[OptStr, typer.Option(help="logs CSV: session column.")] = None,
    event_col: Annotated[OptStr, typer.Option(help="logs CSV: event column (one per row).")
                         ] = None,
    sequence_col: Annotated[OptStr, typer.Option(help="logs CSV: space-separated events of a "
                                                      "session (one per row).")] = None,
    weighting: Annotated[OptStr, typer.Option(help="logs: raw|log|tfidf template counts [log].")
                         ] = None,
    max_line_length: Annotated[OptInt, typer.Option(help="logs: longer lines are cut [20000].")
                               ] = None,
    group_col: Annotated[OptStr, typer.Option(help="timeseries: machine/group column.")] = None,
    stride: Annotated[OptInt, typer.Option(help="timeseries: step between training windows "
                                                "[1].")] = None,
    model: Annotated[OptStr, typer.Option(help="timeseries: conv|lstm|dense [conv].")] = None,
    score_stride: Annotated[OptInt, typer.Option(help="timeseries: scoring runs the network on "
                                                      "a window every N rows; each row gets the "
                                                      "windows covering it (1 = every row) "
                                                      "[2].")] = None,
    baseline_rows: Annotated[OptInt, typer.Option(help="timeseries: a run-relative model — each "
                                                       "run (and every scored file) is judged "
                                                       "against its own first N rows, a "
                                                       "known-good warm-up.")] = None,
    run_rows: Annotated[OptInt, typer.Option(help="timeseries, with --baseline-rows: cut a long "
                                                  "training series into runs of N rows "
                                                  "[2.5 × --baseline-rows].")] = None,
    workspace: NewWorkspace = Path(),
) -> None:
    """Train a detector on normal data and save it as a new bundle version."""
    from anomaly.config import LogConfig, WindowConfig, load_settings, override
    from anomaly.jobs.train import default_name, train_model
    from anomaly.training.loggers import check_logger

    settings = load_settings(config, kind)
    if window is not None and settings.kind == "logs":
        log.warning("--window for logs is now --session-window (the old spelling still works)")
        session_window, window = session_window or window, None
    settings = override(settings, "data", label_col=label_col, time_col=time_col,
                        id_col=tuple(id_col) if id_col else None, on_bad_rows=on_bad_rows)
    settings = override(settings, "model", hidden=widths(hidden), dropout=dropout,
                        activation=activation, norm=norm, residual=residual)
    settings = override(settings, "training", max_epochs=epochs, batch_size=batch_size, lr=lr,
                        patience=patience, seed=seed, optimizer=optimizer, momentum=momentum,
                        weight_decay=weight_decay, l1=l1, noise=noise, schedule=schedule,
                        gradient_clip=gradient_clip, val_fraction=val_fraction,
                        accelerator=accelerator, devices=devices, strategy=strategy,
                        num_nodes=num_nodes, logger=logger,
                        progress_bar=sys.stderr.isatty() if progress is None else progress)
    check_logger(settings.training.logger)  # before reading data: a missing extra exits 2 now
    if settings.training.logger != "none" and (logger_dir or not settings.training.logger_dir):
        folder = logger_dir or workspace / "training-logs" / (name or default_name(data[0]))
        settings = override(settings, "training", logger_dir=str(folder))
    settings = override(settings, "window", group_col=group_col, window=rows(window),
                        stride=stride, model=model, score_stride=score_stride,
                        baseline_rows=baseline_rows, run_rows=run_rows)
    settings = override(settings, "logs", session_regex=session_regex,
                        session_window=session_window, time_format=time_format,
                        session_col=session_col, event_col=event_col, sequence_col=sequence_col,
                        weighting=weighting, max_line_length=max_line_length)
    if settings.kind != "logs" and settings.logs != LogConfig():
        raise InputError("--session-regex, --session-window and the other log options are for "
                         "--kind logs")
    if settings.kind != "timeseries" and settings.window != WindowConfig():
        raise InputError("--group-col, --window, --stride, --model, --score-stride, "
                         "--baseline-rows and --run-rows are for --kind timeseries")
    trained = train_model(data, settings, models_dir(workspace), name)
    if trained is not None:  # None: a DDP worker (rank 0 writes the bundle)
        report(trained)


def report(trained: Trained) -> None:
    """Print what training made: epochs, items, time and the initial threshold."""
    from anomaly.core.thresholds import ThresholdChoice, caveat

    det, s = trained.detector, trained.detector.training_summary_
    items = f"{det.kind_.item}s"
    extra = f"{s['templates']} templates, " if "templates" in s else ""
    windows = (f" ({s['train_windows']:,} / {s['validation_windows']:,} windows)"
               if "train_windows" in s else "")
    choice = ThresholdChoice(det.threshold_info_["method"], det.threshold_info_["params"],
                             det.threshold_)
    echo(f"trained {trained.name}: {extra}{s['epochs_run']} epochs (best {s['best_epoch']}), "
         f"{s['train_rows']:,} train / {s['validation_rows']:,} validation {items}{windows}, "
         f"{s['seconds']:.1f}s; threshold {det.threshold_:.4g} ({choice.describe()})")
    echo(f"bundle: {trained.bundle}")
    warning = caveat(choice, len(det.validation_scores_), det.kind_.item)
    if warning:
        log.warning("%s", warning.replace("MODEL", trained.name))


def rows(text: str | None) -> int | None:
    """`--window` for time series: a whole number of rows."""
    if text is None:
        return None
    if not text.strip().isdigit() or int(text) < 2:
        raise InputError(f"--window {text!r}: for --kind timeseries give the rows per window as a "
                         "whole number >= 2, e.g. --window 32 (durations like 5m are "
                         "--session-window, for logs)")
    return int(text)


def widths(text: str | None) -> tuple[int, ...] | None:
    """`--hidden 64,32,8` as a tuple of positive widths."""
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise InputError(f"--hidden {text!r}: give comma-separated widths, e.g. 64,32,8") from None
    if not values or min(values) < 1:
        raise InputError(f"--hidden {text!r}: give positive widths, e.g. 64,32,8")
    return values
