"""CLI glue for logs: `anomaly train LOGS… --kind logs` and `anomaly explain MODEL LOGS --session`.

`anomaly.cli` calls `train_logs` from its `train` command and registers `explain` as a command;
the log logic itself lives in `anomaly.kinds.logs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from anomaly.config import Settings
from anomaly.errors import InputError


def train_logs(paths: list[Path], settings: Settings, name: str | None, workspace: Path,
               **log_args: Any) -> None:
    """Train a `LogDetector` on one or more log files and save the bundle."""
    from anomaly.bundle import sha256_file
    from anomaly.cli.main import _default_name, _echo, _models
    from anomaly.kinds.logs.parse import log_options, read_sessions

    reading = {k: log_args.get(k) for k in ("session_regex", "window", "time_format",
                                            "session_col", "event_col", "sequence_col",
                                            "max_line_length")}
    options = log_options(**reading, time_col=settings.data.time_col,
                          label_col=settings.data.label_col)
    sessions, _ = read_sessions(paths, options)  # bad input fails here, before torch loads
    from anomaly.kinds.logs.detector import LogDetector

    detector = LogDetector.from_settings(settings, **log_args)
    source = ", ".join(map(str, paths)) if len(paths) > 1 else str(paths[0])
    detector.fit(sessions, source=source)
    if not detector.is_global_zero_:
        return  # DDP worker: rank 0 writes the bundle
    model_name = name or _default_name(paths[0])
    bundle = detector.save(_models(workspace), model_name, {
        "path": source, "files": [{"path": str(p), "sha256": sha256_file(p)} for p in paths],
        "sha256": sha256_file(paths[0]), "rows": len(sessions),
        "lines": int(sessions["n_lines"].sum()), "columns": [detector.features_.options.key_name]})
    s = detector.training_summary_
    _echo(f"trained {model_name}: {len(detector.features_.templates)} templates, "
          f"{s['epochs_run']} epochs (best {s['best_epoch']}), {s['train_rows']:,} train / "
          f"{s['validation_rows']:,} validation sessions, {s['seconds']:.1f}s; threshold "
          f"{detector.threshold_:.4g} ({detector.threshold_info_['method']} "
          f"{detector.threshold_info_['params']})")
    _echo(f"bundle: {bundle}")


def explain(
    model: Annotated[str, typer.Argument(help="Model name (newest version), name@N, or a bundle "
                                              "folder.", show_default=False)],
    logs: Annotated[Path, typer.Argument(help="The log file (or CSV of events) holding the "
                                              "session.")],
    session: Annotated[str, typer.Option(help="Session key (or window start) to explain.")],
    max_lines: Annotated[int, typer.Option(help="Print at most this many raw lines.")] = 200,
    workspace: Annotated[Path, typer.Option("--workspace", envvar="ANOMALY_WORKSPACE",
                                            help="Folder holding models/.")] = Path(),
) -> None:
    """Explain one log session: its score, the templates behind it, and its raw lines."""
    from anomaly.cli.main import _echo, _models
    from anomaly.kinds.registry import load_detector

    detector = load_detector(model, _models(workspace))
    if getattr(detector, "session_lines", None) is None:
        raise InputError(f"{model}: `anomaly explain --session` is for log models; this one is "
                         f"of kind {detector.kind!r}")
    frame, raw = detector.session_lines(logs, session)
    if len(frame) == 0:
        raise InputError(f"{logs}: no session {session!r} — keys are in the first column of "
                         "the scored output (`anomaly score`)")
    scored = detector.score_frame(frame, str(logs)).iloc[0]
    key = detector.features_.options.key_name
    _echo(f"{key} {session}: anomaly_score {scored['anomaly_score']:.4g} (threshold "
          f"{detector.threshold_:.4g}), percentile {scored['score_percentile']:.3f}, "
          f"{'ANOMALY' if scored['is_anomaly'] else 'normal'}; {int(frame['n_lines'].iloc[0])} "
          f"lines {int(frame['first_line'].iloc[0])}–{int(frame['last_line'].iloc[0])}")
    table = detector.explain_row(frame).head(10)
    _echo("templates by share of the error (count = lines in this session):")
    for row in table.itertuples():
        _echo(f"  {row.error_share:6.1%}  count {row.count:>4}  {row.feature}")
    if any(text for _, text in raw):
        _echo(f"raw lines ({min(len(raw), max_lines)} of {len(raw)}):")
        for number, text in raw[:max_lines]:
            _echo(f"  {number:>8}: {text}")
