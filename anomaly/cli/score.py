"""`anomaly score`, `anomaly evaluate` and `anomaly explain`: use a trained model on files."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from anomaly.cli.app import app, check_choice, echo, load, models_dir, note
from anomaly.cli.options import BAD_ROWS, ModelRef, OptFloat, OptInt, OptStr, Workspace
from anomaly.errors import InputError
from anomaly.text import count


@app.command(epilog="Example: anomaly score transactions data/transactions_test.csv "
                    "-o scores/transactions_test.scored.csv")
def score(
    model: ModelRef,
    inputs: Annotated[list[Path], typer.Argument(help="CSV, Parquet or log file(s) to score.")],
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="Output file (.csv or .parquet; - for CSV "
                                                     "on standard output); one input only.")
                                 ] = None,
    threshold: Annotated[OptFloat, typer.Option(help="Threshold for this run only.")] = None,
    on_bad_rows: Annotated[OptStr, typer.Option(help="fail | skip [the model's].")] = None,
    show: Annotated[int, typer.Option(help="How many flagged rows to print.")] = 10,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar (shown on a "
                                                              "terminal for files over 50 MB).")
                     ] = False,
    baseline_rows: Annotated[int | None, typer.Option(
        help="Time series: re-centre and re-scale each file (and group) on its own first N "
             "rows, a known-good warm-up, before scoring — for a new run of the machine whose "
             "levels differ from the training run's. A model trained with --baseline-rows "
             "does this with its own N unless given.")] = None,
    events: Annotated[bool, typer.Option(
        "--events/--no-events",
        help="Time series: also write <output>.events.csv, one line per alarm event (start, "
             "end, peak, top sensors).")] = True,
    engine: Annotated[str, typer.Option(
        help="local | dask: score on a Dask cluster (a big CSV in row partitions, a big raw "
             "log in byte ranges merged by session; the scored file only).")] = "local",
    scheduler: Annotated[OptStr, typer.Option(
        help="Dask scheduler address (default: start a LocalCluster).")] = None,
    workers: Annotated[OptInt, typer.Option(help="LocalCluster workers [CPU count].")] = None,
    workspace: Workspace = Path(),
) -> None:
    """Score files: anomaly_score, score_percentile, is_anomaly and top_features per item."""
    from anomaly.cli.progress import bar_for, wanted
    from anomaly.core.persist import load_fitted
    from anomaly.core.thresholds import check_threshold
    from anomaly.jobs.readahead import early_start
    from anomaly.jobs.score import score_file
    from anomaly.outputs import check_targets, is_stdout

    if output is not None and len(inputs) > 1:
        raise InputError("-o/--output takes one input file — leave it out to write "
                         f"{workspace / 'scores'}/<input>.scored.csv for each")
    check_choice("--on-bad-rows", on_bad_rows, BAD_ROWS)
    check_choice("--engine", engine, ("local", "dask"))
    if (scheduler or workers) and engine != "dask":
        raise InputError("--scheduler and --workers need --engine dask")
    check_threshold(threshold)
    targets = [output or workspace / "scores" / f"{path.name.split('.')[0]}.scored.csv"
               for path in inputs]
    for i, target in enumerate(targets):
        if target in targets[:i]:
            raise InputError(f"{inputs[targets.index(target)]} and {inputs[i]} would both be "
                             f"written to {target} — score them one at a time with -o")
    check_targets(targets, inputs)
    if engine == "dask" and baseline_rows is not None:
        raise InputError("--baseline-rows needs --engine local")
    cluster: Any = contextlib.nullcontext()
    if engine == "dask":
        from anomaly.jobs.dask_engine import dask_engine

        cluster = dask_engine(scheduler, workers)
    early = (early_start(model, models_dir(workspace), inputs[0])  # reads while torch loads
             if engine == "local" else None)
    detector = load_fitted(model, models_dir(workspace))  # no scikit-learn: starts faster
    say = note if is_stdout(output) else echo  # with -o - standard output holds the CSV
    bars = wanted(quiet)
    scores = (workspace / "scores").resolve()
    with cluster as on_dask:
        for path, target in zip(inputs, targets, strict=True):
            # the dashboard lists <workspace>/scores: only there a Parquet copy is worth leaving
            copy = not is_stdout(target) and target.resolve().parent == scores
            with bar_for(path, bars) as progress:
                if on_dask is not None:
                    summary = on_dask.score(detector, path, target, threshold, on_bad_rows,
                                            sidecar=copy, progress=progress)
                else:
                    summary = score_file(detector, path, target, threshold, on_bad_rows,
                                         keep_flagged=show, progress=progress, sidecar=copy,
                                         baseline_rows=baseline_rows, events=events,
                                         chunks=early if path == inputs[0] else None)
            _report(say, path, target, summary, detector, model, show)


def _report(say: Any, path: Path, target: Path, summary: Any, detector: Any, model: str,
            show: int) -> None:
    """What scoring one file gave: counts, alarm events, template drift, the top flagged."""
    from anomaly.kinds.logs.drift import detector_note
    from anomaly.outputs import is_stdout

    where = "standard output" if is_stdout(target) else target
    say(f"{path}: {count(summary.rows, detector.kind_.item)}, {summary.anomalies:,} flagged "
        f"({summary.anomaly_rate:.2%}) → {where}")
    if summary.events is not None:
        say(f"  {summary.events:,} alarm event(s) → {summary.events_path}")
    drift = detector_note(summary.unknown_share, str(detector.meta.get("name", model)),
                          detector.features)
    if drift:
        say(f"note: {path}: {drift}")
    if summary.flagged is not None and show > 0:
        say(_table(summary.flagged.head(show)))


def _table(frame: Any) -> str:
    from anomaly.text import CELL_CHARS, excerpt

    shown = frame.drop(columns=["is_anomaly"]).copy()
    shown["anomaly_score"] = shown["anomaly_score"].map("{:.3g}".format)
    shown["score_percentile"] = shown["score_percentile"].map("{:.3f}".format)
    for column in shown.columns[shown.dtypes.map(lambda t: t.kind == "O")]:
        shown[column] = shown[column].map(lambda v: excerpt(v, CELL_CHARS))
    shown.columns = [excerpt(c, CELL_CHARS) for c in shown.columns]
    return str(shown.to_string(index=False))


@app.command(epilog="Example: anomaly evaluate transactions data/transactions_test.csv "
                    "--label-col label --json")
def evaluate(
    model: ModelRef,
    data: Annotated[Path, typer.Argument(help="Labelled CSV or Parquet file (or a log).")],
    label_col: Annotated[str, typer.Option(help="0/1 label column (1 = anomaly).")],
    labels_file: Annotated[Path | None, typer.Option(
        "--labels", help="Labels in a file of their own (CSV/Parquet): the label column and "
                         "a key column of the data, e.g. session or id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    workspace: Workspace = Path(),
) -> None:
    """ROC-AUC, PR-AUC, precision, recall and F1 at the bundle's threshold and at best F1."""
    from anomaly.core.metrics import binary_report
    from anomaly.core.thresholds import best_f1_threshold

    detector = load(model, workspace)
    frame, labels = labelled(detector, data, label_col, labels_file)
    rows = detector.row_scores(frame, str(data))
    labels, scores = labels[rows.keep], rows.scores
    report = binary_report(labels, scores, detector.threshold_)
    result: dict[str, Any] = {"model": str(detector.bundle_path_), "data": str(data),
                              "rows": len(labels), "anomalies": int(labels.sum()),
                              "threshold": detector.threshold_, **report.as_dict()}
    if 0 < labels.sum() < len(labels):
        best, best_f1 = best_f1_threshold(scores, labels)
        result["best_f1"] = {"threshold": best, "f1": best_f1}
    extra, lines = detector.kind_metrics(frame[rows.keep], labels,
                                         scores > detector.threshold_)
    result.update(extra)
    if as_json:
        echo(json.dumps(result, indent=2))
        return
    echo(f"{data}: {count(len(labels), detector.kind_.item)}, "
         f"{int(labels.sum()):,} labelled anomalies")
    for key in ("roc_auc", "pr_auc"):
        value = result[key]
        echo(f"  {key:<10} {'n/a' if value is None else f'{value:.4f}'}")
    echo(f"  at threshold {detector.threshold_:.4g}: precision {report.precision:.4f}  "
         f"recall {report.recall:.4f}  F1 {report.f1:.4f}  "
         f"(TP {report.tp}, FP {report.fp}, FN {report.fn}, TN {report.tn})")
    if "best_f1" in result:
        echo(f"  best F1 {result['best_f1']['f1']:.4f} at threshold "
             f"{result['best_f1']['threshold']:.4g} (chosen with the labels: optimistic)")
    for line in lines:
        echo(line)


def labelled(detector: Any, data: Path, label_col: str,
             labels_file: Path | None = None) -> tuple[Any, Any]:
    """The file read as the model reads it, and its 0/1 labels (one per item): from a column of
    the file, or joined by key from `labels_file`."""
    from anomaly.core.labels import check_labels

    frame = detector.read([data], str(data), None if labels_file else label_col)
    source = str(labels_file or data)
    if labels_file is not None:
        ids = [c["name"] for c in detector.kind_.schema(detector.features_, detector.settings_)
               if c["role"] in ("id", "time")]
        frame = frame.assign(**{label_col: join_labels(frame, labels_file, label_col, ids)})
    if label_col not in frame.columns:
        raise InputError(f"{data}: label column {label_col!r} not found — columns: "
                         f"{', '.join(map(str, frame.columns))}")
    labels = check_labels(frame[label_col], label_col, source).astype(int)
    # The labels are used, not scored: dropped here so that no note calls them unused.
    return frame.drop(columns=[label_col]), labels


def join_labels(frame: Any, path: Path, label_col: str, ids: list[str]) -> Any:
    """`label_col` of the labels file at `path`, matched to `frame`'s items by the first of the
    model's key columns `ids` (id, session, time) that both hold."""
    from anomaly.io import read_table

    table = read_table(path)
    if label_col not in table.columns:
        raise InputError(f"{path}: label column {label_col!r} not found — columns: "
                         f"{', '.join(map(str, table.columns))}")
    keys = [c for c in ids if c in table.columns and c in frame.columns]
    if not keys:
        raise InputError(f"{path}: no column to match items by — add one of the model's key "
                         f"columns ({', '.join(ids) or 'none: the model has no id column'}) "
                         f"beside {label_col!r}")
    key = keys[0]
    known = table.drop_duplicates(key).set_index(table[key].drop_duplicates().astype(str))
    matched = frame[key].astype(str).map(known[label_col])
    if matched.isna().any():
        first = frame[key].astype(str)[matched.isna()].iloc[0]
        raise InputError(f"{path}: no label for {int(matched.isna().sum()):,} item(s) of the "
                         f"data, e.g. {key} {first!r} — give every item a 0/1 label")
    return matched.to_numpy()


@app.command(epilog="Example: anomaly explain hdfs today.log --item blk_-1608999687919862906")
def explain(
    model: ModelRef,
    data: Annotated[Path, typer.Argument(help="The file holding the item (CSV, Parquet, log).")],
    item: Annotated[OptStr, typer.Option(
        help="What to explain: an id value (or a row number when the model has no id column), "
             "a timestamp (time series), a session key or window start (logs).")] = None,
    session: Annotated[OptStr, typer.Option(help="Same as --item (for log sessions).")] = None,
    group: Annotated[OptStr, typer.Option(
        help="The series (e.g. machine) of --item, for time series with a group column.")
    ] = None,
    max_lines: Annotated[int, typer.Option(help="Print at most this many raw lines.")] = 200,
    workspace: Workspace = Path(),
) -> None:
    """Explain one item in its context: its score and the features behind it (and, for logs,
    its raw lines)."""
    key = item or session
    if key is None:
        raise InputError("give the item to explain: --item KEY (an id, a timestamp or a "
                         "session key from the scored output)")
    detector = load(model, workspace)
    found = detector.find_item(data, key, group)
    if len(found.frame) == 0:
        raise InputError(f"{data}: no {detector.kind_.item} {key!r} — keys are in the first "
                         "column of the scored output (`anomaly score`)")
    why = detector.explain_item(found.frame, found.position)
    percentile = float((detector.validation_scores_ < why.score).mean())
    verdict = "ANOMALY" if why.score > detector.threshold_ else "normal"
    echo(f"{detector.kind_.item} {key}: anomaly_score {why.score:.4g} (threshold "
         f"{detector.threshold_:.4g}), percentile {percentile:.3f}, {verdict}")
    echo("features by share of the error:")
    for row in why.table.head(10).to_dict("records"):
        detail = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                           for k, v in row.items() if k not in ("feature", "error_share"))
        echo(f"  {row['error_share']:6.1%}  {row['feature']}  {detail}".rstrip())
    if any(text for _, text in found.lines):
        echo(f"{found.lines_are} ({min(len(found.lines), max_lines)} of {len(found.lines)}):")
        for number, text in found.lines[:max_lines]:
            echo(f"  {number:>8}: {text}")
