"""The `anomaly` command line. Bad input → one clear message and exit code 2, never a traceback.

Exit codes: 0 ok; 1 internal error; 2 bad input or usage; 3 a batch run in which files failed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from anomaly.errors import AnomalyError, InputError


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

Workspace = Annotated[Path, typer.Option("--workspace", envvar="ANOMALY_WORKSPACE",
                                         help="Folder holding models/, scores/ and runs.db.")]
ModelRef = Annotated[str, typer.Argument(help="Model name (newest version), name@N, or a bundle "
                                              "folder.", show_default=False)]
OptStr = str | None
OptFloat = float | None
OptInt = int | None


def _models(workspace: Path) -> Path:
    return workspace / "models"


def _echo(text: str = "") -> None:
    typer.echo(text)


def _setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("note: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False


# --------------------------------------------------------------------------- train
@app.command(epilog="Example: anomaly train data/transactions_train.csv --id-col transaction_id "
                    "--time-col timestamp --name transactions")
def train(
    data: Annotated[list[Path], typer.Argument(help="Training file(s) of normal data.")],
    kind: Annotated[str, typer.Option(help="tabular | timeseries | logs")] = "tabular",
    name: Annotated[OptStr, typer.Option(help="Model name (default: the file's stem).")] = None,
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
    session_regex: Annotated[OptStr, typer.Option(help="logs: regex of a line's session key, "
                                                       "e.g. 'blk_-?\\d+'.")] = None,
    window: Annotated[OptStr, typer.Option(help="timeseries: rows per window [32]; logs: fixed "
                                                "time windows as sessions, e.g. 5m.")] = None,
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
    workspace: Workspace = Path(),
) -> None:
    """Train a detector on normal data and save it as a new bundle version."""
    from anomaly.config import load_settings, override
    from anomaly.io import read_table
    from anomaly.kinds.registry import detector_class

    settings = load_settings(config, kind)
    settings = override(settings, "data", label_col=label_col, time_col=time_col,
                        id_col=tuple(id_col) if id_col else None, on_bad_rows=on_bad_rows)
    settings = override(settings, "model", hidden=_widths(hidden), dropout=dropout,
                        activation=activation, norm=norm, residual=residual)
    settings = override(settings, "training", max_epochs=epochs, batch_size=batch_size, lr=lr,
                        patience=patience, seed=seed, optimizer=optimizer, momentum=momentum,
                        weight_decay=weight_decay, l1=l1, noise=noise, schedule=schedule,
                        gradient_clip=gradient_clip, val_fraction=val_fraction,
                        accelerator=accelerator, devices=devices, strategy=strategy,
                        num_nodes=num_nodes,
                        progress_bar=sys.stderr.isatty() if progress is None else progress)
    if settings.kind == "logs":
        from anomaly.cli.logs import train_logs

        train_logs(data, settings, name, workspace, session_regex=session_regex, window=window,
                   time_format=time_format, session_col=session_col, event_col=event_col,
                   sequence_col=sequence_col, weighting=weighting,
                   max_line_length=max_line_length)
        return
    settings = override(settings, "window", group_col=group_col, window=_rows(window),
                        stride=stride, model=model)
    if len(data) != 1:
        raise InputError(f"{settings.kind} training takes one file — concatenate the files first")
    path = data[0]
    frame = read_table(path)
    detector = detector_class(settings.kind).from_settings(settings)
    detector.fit(frame, source=str(path))
    if not detector.is_global_zero_:
        return  # DDP worker: rank 0 writes the bundle
    from anomaly.bundle import sha256_file

    model_name = name or _default_name(path)
    bundle = detector.save(_models(workspace), model_name, {
        "path": str(path), "sha256": sha256_file(path), "rows": len(frame),
        "columns": [str(c) for c in frame.columns]})
    s = detector.training_summary_
    _echo(f"trained {model_name}: {s['epochs_run']} epochs (best {s['best_epoch']}), "
          f"{s['train_rows']:,} train / {s['validation_rows']:,} validation rows, "
          f"{s['seconds']:.1f}s; threshold {detector.threshold_:.4g} "
          f"({detector.threshold_info_['method']} {detector.threshold_info_['params']})")
    _echo(f"bundle: {bundle}")


def _rows(text: str | None) -> int | None:
    """`--window` for time series: a whole number of rows."""
    if text is None:
        return None
    if not text.strip().isdigit() or int(text) < 2:
        raise InputError(f"--window {text!r}: for --kind timeseries give the rows per window as a "
                         "whole number >= 2, e.g. --window 32 (durations like 5m are for logs)")
    return int(text)


def _widths(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        widths = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise InputError(f"--hidden {text!r}: give comma-separated widths, e.g. 64,32,8") from None
    if not widths or min(widths) < 1:
        raise InputError(f"--hidden {text!r}: give positive widths, e.g. 64,32,8")
    return widths


def _default_name(path: Path) -> str:
    import re

    stem = path.name.split(".")[0]
    for suffix in ("_train", "-train", "_normal"):
        stem = stem.removesuffix(suffix)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem)[:64] or "model"


# --------------------------------------------------------------------------- score
@app.command(epilog="Example: anomaly score transactions data/transactions_test.csv "
                    "-o scores/transactions_test.scored.csv")
def score(
    model: ModelRef,
    inputs: Annotated[list[Path], typer.Argument(help="CSV or Parquet file(s) to score.")],
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="Output file (.csv or .parquet); one input"
                                                     " only.")] = None,
    threshold: Annotated[OptFloat, typer.Option(help="Threshold for this run only.")] = None,
    on_bad_rows: Annotated[OptStr, typer.Option(help="fail | skip [the model's].")] = None,
    show: Annotated[int, typer.Option(help="How many flagged rows to print.")] = 10,
    workspace: Workspace = Path(),
) -> None:
    """Score files: anomaly_score, score_percentile, is_anomaly and top_features per row."""
    from anomaly.jobs.score import score_file
    from anomaly.kinds.registry import load_detector

    if output is not None and len(inputs) > 1:
        raise InputError("-o/--output takes one input file — leave it out to write "
                         f"{workspace / 'scores'}/<input>.scored.csv for each")
    if on_bad_rows not in (None, "fail", "skip"):
        raise InputError(f"--on-bad-rows {on_bad_rows!r}: use fail or skip")
    targets = [output or workspace / "scores" / f"{path.name.split('.')[0]}.scored.csv"
               for path in inputs]
    for i, target in enumerate(targets):
        if target in targets[:i]:
            raise InputError(f"{inputs[targets.index(target)]} and {inputs[i]} would both be "
                             f"written to {target} — score them one at a time with -o")
    detector = load_detector(model, _models(workspace))
    for path, target in zip(inputs, targets, strict=True):
        summary = score_file(detector, path, target, threshold, on_bad_rows, keep_flagged=show)
        _echo(f"{path}: {summary.rows:,} rows, {summary.anomalies:,} flagged "
              f"({summary.anomaly_rate:.2%}) → {target}")
        if summary.flagged is not None and show > 0:
            _echo(_table(summary.flagged.head(show)))


def _table(frame: Any) -> str:
    import pandas as pd

    shown = frame.copy()
    shown["anomaly_score"] = shown["anomaly_score"].map("{:.3g}".format)
    shown["score_percentile"] = shown["score_percentile"].map("{:.3f}".format)
    with pd.option_context("display.max_colwidth", 60, "display.width", 160):
        return str(shown.drop(columns=["is_anomaly"]).to_string(index=False))


# ------------------------------------------------------------------------ evaluate
@app.command(epilog="Example: anomaly evaluate transactions data/transactions_test.csv "
                    "--label-col label --json")
def evaluate(
    model: ModelRef,
    data: Annotated[Path, typer.Argument(help="Labelled CSV or Parquet file.")],
    label_col: Annotated[str, typer.Option(help="0/1 label column (1 = anomaly).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    workspace: Workspace = Path(),
) -> None:
    """ROC-AUC, PR-AUC, precision, recall and F1 at the bundle's threshold and at best F1."""
    from anomaly.core.detector import check_labels
    from anomaly.core.metrics import binary_report
    from anomaly.core.thresholds import best_f1_threshold
    from anomaly.io import read_table
    from anomaly.kinds.registry import load_detector

    detector = load_detector(model, _models(workspace))
    frame = read_table(data)
    if label_col not in frame.columns:
        raise InputError(f"{data}: label column {label_col!r} not found — columns: "
                         f"{', '.join(map(str, frame.columns))}")
    if hasattr(detector, "prepare_frame"):  # time series: scores come out in time order
        frame = detector.prepare_frame(frame, str(data))
    labels = check_labels(frame[label_col], label_col, str(data)).astype(int)
    scored = detector.score_frame(frame, str(data))
    scores = scored["anomaly_score"].to_numpy()
    report = binary_report(labels, scores, detector.threshold_)
    result: dict[str, Any] = {"model": str(detector.bundle_path_), "data": str(data),
                              "rows": len(frame), "anomalies": int(labels.sum()),
                              "threshold": detector.threshold_, **report.as_dict()}
    if 0 < labels.sum() < len(labels):
        best, best_f1 = best_f1_threshold(scores, labels)
        result["best_f1"] = {"threshold": best, "f1": best_f1}
    if detector.kind == "timeseries":
        from anomaly.kinds.timeseries.detector import print_metrics, timeseries_metrics

        result["timeseries"] = timeseries_metrics(labels, scored["is_anomaly"].to_numpy())
    if as_json:
        _echo(json.dumps(result, indent=2))
        return
    _echo(f"{data}: {len(frame):,} rows, {int(labels.sum()):,} labelled anomalies")
    for key in ("roc_auc", "pr_auc"):
        value = result[key]
        _echo(f"  {key:<10} {'n/a' if value is None else f'{value:.4f}'}")
    _echo(f"  at threshold {detector.threshold_:.4g}: precision {report.precision:.4f}  "
          f"recall {report.recall:.4f}  F1 {report.f1:.4f}  "
          f"(TP {report.tp}, FP {report.fp}, FN {report.fn}, TN {report.tn})")
    if "best_f1" in result:
        _echo(f"  best F1 {result['best_f1']['f1']:.4f} at threshold "
              f"{result['best_f1']['threshold']:.4g} (chosen with the labels: optimistic)")
    if "timeseries" in result:
        _echo(print_metrics(result["timeseries"]))


# ----------------------------------------------------------------------- threshold
@app.command(epilog="Example: anomaly threshold transactions --method pot --risk 0.001 "
                    "--why 'fewer alerts'")
def threshold(
    model: ModelRef,
    method: Annotated[str, typer.Option(help="quantile|contamination|sigma|mad|pot|f1")],
    q: Annotated[OptFloat, typer.Option(help="quantile: share of validation normals below.")
                 ] = None,
    contamination: Annotated[OptFloat, typer.Option(help="contamination: share to flag.")
                             ] = None,
    k: Annotated[OptFloat, typer.Option(help="sigma/mad: multiplier.")] = None,
    risk: Annotated[OptFloat, typer.Option(help="pot: target false-alarm probability.")] = None,
    level: Annotated[OptFloat, typer.Option(help="pot: initial quantile of the tail fit.")
                     ] = None,
    data: Annotated[Path | None, typer.Option(help="Data to score (contamination, f1).")] = None,
    label_col: Annotated[OptStr, typer.Option(help="Label column in --data (f1).")] = None,
    why: Annotated[str, typer.Option(help="Reason, kept in the threshold history.")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, do not save.")] = False,
    workspace: Workspace = Path(),
) -> None:
    """Choose a new threshold by a stated method and record it as a new threshold version."""
    from anomaly.core.thresholds import choose_threshold
    from anomaly.kinds.registry import load_detector

    detector = load_detector(model, _models(workspace))
    scores = labels = None
    if data is not None:
        scores, labels = _scores_and_labels(detector, data, label_col)
    try:
        choice = choose_threshold(method, detector.validation_scores_, q=q,
                                  contamination=contamination, k=k, risk=risk, level=level,
                                  scores=scores, labels=labels)
    except ValueError as exc:
        raise InputError(f"anomaly threshold --method {method}: {exc}") from None
    old = detector.threshold_
    flagged = float((detector.validation_scores_ > choice.value).mean())
    _echo(f"{method} {choice.params} → threshold {choice.value:.6g} (was {old:.6g}); "
          f"flags {flagged:.2%} of validation normals")
    if dry_run:
        return
    detector.set_threshold(choice, by=os.environ.get("USER", "cli"), why=why)
    detector.save_threshold()
    _echo(f"saved as threshold version {detector.threshold_info_['version']} in "
          f"{detector.bundle_path_}")


def _scores_and_labels(detector: Any, data: Path, label_col: str | None) -> tuple[Any, Any]:
    from anomaly.core.detector import check_labels
    from anomaly.io import read_table

    frame = read_table(data)
    labels = None
    if label_col:
        if label_col not in frame.columns:
            raise InputError(f"{data}: label column {label_col!r} not found")
        labels = check_labels(frame[label_col], label_col, str(data)).astype(int)
    return detector.score_frame(frame, str(data))["anomaly_score"].to_numpy(), labels


# ------------------------------------------------------------------ models / info
@app.command(epilog="Example: anomaly models --workspace .")
def models(workspace: Workspace = Path()) -> None:
    """List the models in the workspace with their newest version."""
    from anomaly.bundle import list_models, read_meta, resolve, versions

    names = list_models(_models(workspace))
    if not names:
        _echo(f"no models in {_models(workspace)} — train one with `anomaly train`")
        return
    _echo(f"{'name':<24} {'versions':>8}  {'kind':<10} {'created':<25} threshold")
    for name in names:
        path = resolve(name, _models(workspace))
        try:
            meta = read_meta(path)
            row = (f"{meta['kind']:<10} {meta['created_at']:<25} "
                   f"{meta['threshold']['value']:.4g} ({meta['threshold']['method']})")
        except AnomalyError as exc:
            row = f"unreadable: {exc}"
        _echo(f"{name:<24} {len(versions(path.parent)):>8}  {row}")


@app.command(epilog="Example: anomaly info transactions")
def info(model: ModelRef, as_json: Annotated[bool, typer.Option("--json")] = False,
         workspace: Workspace = Path()) -> None:
    """Show a bundle: schema, network, training summary, threshold history, files."""
    from anomaly.bundle import load_bundle

    bundle = load_bundle(model, _models(workspace))  # verifies hashes too
    meta = bundle.meta
    if as_json:
        _echo(json.dumps({k: v for k, v in meta.items() if k != "scoring"}, indent=2))
        return
    t = meta["threshold"]
    _echo(f"{bundle.ref}  ({bundle.path})")
    _echo(f"  kind {meta['kind']}, created {meta['created_at']}, "
          f"anomaly {meta['versions']['anomaly']}, torch {meta['versions']['torch']}")
    features = [c["name"] for c in meta["schema"]["columns"] if c["role"] == "feature"]
    roles = [f"{c['name']} ({c['role']})" for c in meta["schema"]["columns"]
             if c["role"] != "feature"]
    _echo(f"  features ({len(features)}): {', '.join(features)}")
    if roles:
        _echo(f"  other columns: {', '.join(roles)}")
    net = meta["network"]
    _echo(f"  network: {net['class']} {net['args']}")
    _echo(f"  training: {meta['training']}")
    _echo(f"  data: {meta['data'].get('path')} sha256 {str(meta['data'].get('sha256'))[:12]}… "
          f"rows {meta['data'].get('rows')}")
    _echo(f"  threshold v{t['version']}: {t['value']:.6g} ({t['method']} {t['params']})")
    for entry in t.get("history", []):
        _echo(f"    v{entry['version']} {entry['at']} {entry['method']} {entry['params']} "
              f"→ {entry['value']:.6g} by {entry['by']}: {entry['why']}")
    _echo("  files: " + ", ".join(f"{f} {h[:12]}…" for f, h in meta["files"].items()))


# ----------------------------------------------------------------------- dashboard
LOOPBACK = ("127.0.0.1", "localhost", "::1")
UPLOAD_LIMIT_MB = 200  # dashboards/common.py checks the same limit


@app.command(epilog="Example: anomaly dashboard --workspace . --port 8501")
def dashboard(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 exposes the "
                                              "dashboard to the network.")] = "127.0.0.1",
    workspace: Workspace = Path(),
) -> None:
    """Open the Streamlit dashboard: anomalies, training curves, threshold tuning, monitoring."""
    import subprocess

    from anomaly.dashboard_data import resolve_workspace

    ws = resolve_workspace(workspace)
    root = Path(__file__).resolve().parents[2]
    app_file = root / "dashboards" / "app.py"
    if not app_file.exists():
        raise InputError(f"{app_file}: dashboard app not found — run from a source checkout of "
                         "anomaly (the dashboards/ folder ships with the repository)")
    if not 0 < port < 65536:
        raise InputError(f"--port {port}: use a port between 1 and 65535")
    if address not in LOOPBACK:
        typer.echo(f"warning: listening on {address}: anyone who can reach this machine can see "
                   "the workspace's data and change thresholds — there is no login", err=True)
    host = "127.0.0.1" if address in ("0.0.0.0", "::") else address
    _echo(f"dashboard for workspace {ws}: http://{host}:{port}  (Ctrl-C stops it)")
    env = {**os.environ, "ANOMALY_WORKSPACE": str(ws),
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    command = [sys.executable, str(app_file.with_name("serve.py")), "run", str(app_file),
               "--server.headless", "true", "--server.port", str(port),
               "--server.address", address, "--browser.gatherUsageStats", "false",
               "--server.enableXsrfProtection", "true",
               "--server.maxUploadSize", str(UPLOAD_LIMIT_MB),
               "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal"]
    import signal

    child = subprocess.Popen(command, cwd=ws, env=env, stdin=subprocess.DEVNULL)

    def stop(signum: int, frame: Any) -> None:  # SIGTERM to us stops the server too
        child.terminate()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        code = child.wait()
    except KeyboardInterrupt:
        child.terminate()
        code = child.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code not in (0, -signal.SIGINT, -signal.SIGTERM, 130):
        sys.exit(1)


# ---------------------------------------------------------------------------- demo
@app.command(epilog="Example: anomaly demo --workspace /tmp/anomaly-demo")
def demo(workspace: Workspace = Path(),
         data_dir: Annotated[Path, typer.Option(help="Folder of the sample data.")] = Path("data"),
         epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = 60) -> None:
    """Train on the bundled transactions sample, score its labelled test file, show the flags."""
    train_file, test_file = data_dir / "transactions_train.csv", data_dir / "transactions_test.csv"
    if not train_file.exists():
        raise InputError(f"{train_file}: sample data not found — run `python data/generate.py`")
    train([train_file], name="transactions", id_col=["transaction_id"], time_col="timestamp",
          epochs=epochs, progress=False, workspace=workspace, **_train_defaults())
    score("transactions", [test_file], output=None, threshold=None, on_bad_rows=None, show=10,
          workspace=workspace)
    evaluate("transactions", test_file, label_col="label", as_json=False, workspace=workspace)


def _train_defaults() -> dict[str, Any]:
    names = ["kind", "config", "label_col", "batch_size", "hidden", "lr", "patience", "seed",
             "optimizer", "momentum", "weight_decay", "l1", "noise", "dropout", "activation",
             "norm", "residual", "schedule", "gradient_clip", "val_fraction", "on_bad_rows",
             "accelerator", "devices", "strategy", "num_nodes"]
    values: dict[str, Any] = dict.fromkeys(names)
    values["kind"] = "tabular"
    return values


# ------------------------------------------------------------------------- explain
def _register_explain() -> None:
    from anomaly.cli.logs import explain

    app.command(epilog="Example: anomaly explain hdfs today.log --session blk_-1608999687919862906"
                )(explain)


_register_explain()


# --------------------------------------------------------------------------- batch
@app.command(epilog="Example: anomaly batch transactions --inbox inbox --outbox outbox --every 10m")
def batch(
    model: ModelRef,
    inbox: Annotated[Path, typer.Option(help="Folder of files to score (not recursive).")],
    outbox: Annotated[Path, typer.Option(help="Folder for <name>.scored.csv outputs.")],
    pattern: Annotated[list[str] | None, typer.Option(
        help="Glob of input files, repeatable [*.csv, *.parquet, *.pq].")] = None,
    every: Annotated[OptStr, typer.Option(
        help="Run again every interval (30s, 10m, 1h) until SIGTERM/SIGINT.")] = None,
    engine: Annotated[str, typer.Option(help="local | dask.")] = "local",
    scheduler: Annotated[OptStr, typer.Option(
        help="Dask scheduler address (default: start a LocalCluster).")] = None,
    workers: Annotated[OptInt, typer.Option(help="LocalCluster workers [CPU count].")] = None,
    quarantine: Annotated[Path | None, typer.Option(
        help="Folder for files that cannot be scored [<inbox>/quarantine].")] = None,
    output_format: Annotated[str, typer.Option("--format", help="csv | parquet.")] = "csv",
    on_bad_rows: Annotated[OptStr, typer.Option(help="fail | skip [the model's].")] = None,
    workspace: Workspace = Path(),
) -> None:
    """Score each new file of an inbox once (per content, model and threshold version).

    Outputs appear atomically; unscorable files go to quarantine with an .error.txt (exit 3);
    every file of every run is recorded in <workspace>/runs.db (see `anomaly runs`).
    """
    from anomaly.errors import LockedError
    from anomaly.jobs.batch import (
        DEFAULT_PATTERNS,
        BatchOptions,
        BatchResult,
        inbox_lock,
        run_batch,
    )
    from anomaly.jobs.ledger import Ledger
    from anomaly.jobs.schedule import Stopper, parse_every, run_every
    from anomaly.kinds.registry import load_detector

    if engine not in ("local", "dask"):
        raise InputError(f"--engine {engine!r}: use local or dask")
    if output_format not in ("csv", "parquet"):
        raise InputError(f"--format {output_format!r}: use csv or parquet")
    if on_bad_rows not in (None, "fail", "skip"):
        raise InputError(f"--on-bad-rows {on_bad_rows!r}: use fail or skip")
    if scheduler and engine != "dask":
        raise InputError("--scheduler needs --engine dask")
    interval = parse_every(every) if every else None
    options = BatchOptions(inbox, outbox, tuple(pattern or DEFAULT_PATTERNS), quarantine,
                           output_format, on_bad_rows)
    stopper = Stopper()
    results: list[BatchResult] = []

    def job(scorer: Any) -> None:
        try:
            with inbox_lock(inbox):
                detector = load_detector(model, _models(workspace))  # picks up new versions
                with Ledger(workspace) as ledger:
                    results.append(run_batch(detector, ledger, options, scorer,
                                             stop=stopper.is_set, echo=_echo))
        except LockedError as exc:
            if interval is None:
                raise
            typer.echo(f"skipping this tick: {exc}", err=True)

    with stopper.handle_signals(), _engine(engine, scheduler, workers) as scorer:
        if interval is None:
            job(scorer)
        else:
            _echo(f"scoring {inbox} every {every}; stop with Ctrl-C or SIGTERM")
            run_every(lambda: job(scorer), interval, stopper)
    if stopper.signal_name:
        _echo(f"stopped by {stopper.signal_name}")
    if results and interval is None and results[-1].exit_code:
        # SystemExit, not typer.Exit: with standalone_mode=False click would return the code
        sys.exit(results[-1].exit_code)


def _engine(name: str, scheduler: str | None, workers: int | None) -> Any:
    import contextlib

    if name == "dask":
        from anomaly.jobs.dask_engine import dask_engine

        return dask_engine(scheduler, workers)
    from anomaly.jobs.batch import LocalEngine

    return contextlib.nullcontext(LocalEngine())


@app.command(epilog="Example: anomaly runs --model transactions --since 24h")
def runs(
    model: Annotated[OptStr, typer.Option(help="Only runs of this model.")] = None,
    since: Annotated[OptStr, typer.Option(help="Only runs started since 24h, 7d, 2026-11-28…")
                     ] = None,
    run: Annotated[OptStr, typer.Option(help="Show the files of this run id.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    workspace: Workspace = Path(),
) -> None:
    """Show the run ledger (<workspace>/runs.db): batch runs, newest first, or one run's files."""
    from anomaly.jobs.ledger import list_files, list_runs

    if run:
        files = list_files(workspace, run)
        if as_json:
            _echo(json.dumps(files, indent=2))
            return
        if not files:
            raise InputError(f"run {run!r}: no such run in {workspace / 'runs.db'} — see "
                             "`anomaly runs`")
        _echo(f"{'status':<8} {'rows':>9} {'flagged':>8} {'rate':>7} {'p50':>8} {'p99':>8} "
              f"{'max':>8} {'secs':>6}  input / error")
        for f in files:
            detail = f["input_path"] + (f"  — {f['error']}" if f["error"] else "")
            _echo(f"{f['status']:<8} {_num(f['rows'], ',')} {_num(f['anomalies'], ',', 8)} "
                  f"{_num(f['anomaly_rate'], '.2%', 7)} {_num(f['score_p50'], '.3g', 8)} "
                  f"{_num(f['score_p99'], '.3g', 8)} {_num(f['score_max'], '.3g', 8)} "
                  f"{_num(f['seconds'], '.1f', 6)}  {detail}")
        return
    rows = list_runs(workspace, model, since, limit)
    if as_json:
        _echo(json.dumps(rows, indent=2))
        return
    if not rows:
        _echo(f"no runs in {workspace / 'runs.db'}" + (" matching the filters" if model or since
                                                        else " — run `anomaly batch`"))
        return
    _echo(f"{'run_id':<26} {'started (UTC)':<20} {'status':<11} {'model':<18} "
          f"{'ok':>4} {'fail':>4} {'skip':>4} {'rows':>10} {'flagged':>8} {'rate':>7}")
    for r in rows:
        rate = r["anomalies"] / r["rows"] if r["rows"] else None
        label = f"{r['model']}@{r['model_version']} t{r['threshold_version']}"
        _echo(f"{r['run_id']:<26} {r['started_at'][:19]:<20} {r['status']:<11} {label:<18} "
              f"{r['files_ok']:>4} {r['files_failed']:>4} {r['files_skipped']:>4} "
              f"{r['rows']:>10,} {r['anomalies']:>8,} {_num(rate, '.2%', 7)}")


def _num(value: Any, spec: str, width: int = 9) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps errors to exit codes (2 for bad input, 1 for bugs)."""
    _setup_logging()
    try:
        # standalone_mode=False: typer returns the code of a `typer.Exit(code)` instead of exiting
        code = app(args=argv, standalone_mode=False)
    except AnomalyError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
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
    except OSError as exc:
        typer.echo(f"error: {exc.filename or ''}: {exc.strerror or exc} — check the path and "
                   "permissions", err=True)
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
