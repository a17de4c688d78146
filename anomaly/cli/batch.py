"""`anomaly batch` and `anomaly runs`: score an inbox once or on a schedule; read the ledger."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from anomaly.cli.app import app, check_choice, echo, load
from anomaly.cli.options import BAD_ROWS, ModelRef, OptFloat, OptInt, OptStr, Workspace
from anomaly.errors import InputError


@app.command(epilog="Example: anomaly batch transactions --inbox inbox --outbox outbox --every 10m")
def batch(
    model: ModelRef,
    inbox: Annotated[Path, typer.Option(help="Folder of files to score (not recursive).")],
    outbox: Annotated[Path, typer.Option(help="Folder for <name>.scored.csv outputs.")],
    pattern: Annotated[list[str] | None, typer.Option(
        help="Glob of input files, repeatable [*.csv, *.parquet, *.pq; for log models "
             "*.log, *.log.gz, *.txt, *.csv].")] = None,
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
    settle: Annotated[OptFloat, typer.Option(
        help="A file must be unchanged for SECONDS to be scored; one still changing is left "
             "for the next run [2].")] = None,
    metrics_file: Annotated[Path | None, typer.Option(
        help="Write Prometheus metrics here after every run (a *.prom file for "
             "node-exporter's textfile collector).")] = None,
    metrics_port: Annotated[OptInt, typer.Option(
        help="With --every: serve /metrics on 127.0.0.1:PORT.")] = None,
    alert_webhook: Annotated[OptStr, typer.Option(
        help="POST a JSON alert here for each file with flagged rows and each failure "
             "(once per file, model and threshold version).")] = None,
    alert_format: Annotated[str, typer.Option(help="json | slack ({\"text\": ...}).")
                            ] = "json",
    alert_min: Annotated[int, typer.Option(help="Flagged rows that make a file worth an alert.")
                         ] = 1,
    alert_give_up: Annotated[float, typer.Option(
        help="Seconds to keep retrying an alert (5xx, timeouts) before leaving it pending for "
             "the next run.")] = 60.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars (shown per "
                                                              "file on a terminal).")] = False,
    workspace: Workspace = Path(),
) -> None:
    """Score each new file of an inbox once (per content, model and threshold version).

    Outputs appear atomically; unscorable files go to quarantine with an .error.txt (exit 3);
    a fault of the machine (outbox full or unwritable) stops the run and leaves the files in
    the inbox (exit 1); every file of every run is recorded in <workspace>/runs.db (see
    `anomaly runs`).
    Operators can scrape metrics (--metrics-file, --metrics-port) and get alerts
    (--alert-webhook).
    """
    from anomaly.clock import parse_duration
    from anomaly.errors import LockedError
    from anomaly.jobs.batch import (
        BatchOptions,
        BatchResult,
        inbox_lock,
        run_batch,
    )
    from anomaly.jobs.ledger import Ledger
    from anomaly.jobs.schedule import Stopper, run_every

    check_choice("--engine", engine, ("local", "dask"))
    check_choice("--format", output_format, ("csv", "parquet"))
    check_choice("--on-bad-rows", on_bad_rows, BAD_ROWS)
    if scheduler and engine != "dask":
        raise InputError("--scheduler needs --engine dask")
    interval = parse_duration(every, "--every") if every else None
    if settle is not None and not settle >= 0:
        raise InputError(f"--settle {settle}: give seconds >= 0")
    ops = _operations(workspace, interval, metrics_file, metrics_port, alert_webhook,
                      alert_format, alert_min, alert_give_up)
    options = BatchOptions(inbox, outbox, tuple(pattern or ()), quarantine, output_format,
                           on_bad_rows, **({} if settle is None else {"settle": settle}))
    stopper = Stopper()
    results: list[BatchResult] = []

    def job(scorer: Any) -> None:
        try:
            with inbox_lock(inbox):
                try:
                    detector = load(model, workspace)  # picks up new versions
                    ops.begin(detector)
                    with Ledger(workspace) as ledger:
                        results.append(run_batch(detector, ledger, options, scorer,
                                                 stop=stopper.is_set, echo=echo,
                                                 on_file=ops.file_done))
                except Exception as exc:  # an internal or input error: the run failed
                    ops.failed(model, exc)
                    raise
                finally:
                    ops.end()
        except LockedError as exc:
            if interval is None:
                raise
            typer.echo(f"skipping this tick: {exc}", err=True)

    with stopper.handle_signals(), _engine(engine, scheduler, workers, quiet) as scorer:
        try:
            if interval is None:
                job(scorer)
            else:
                echo(f"scoring {inbox} every {every}; stop with Ctrl-C or SIGTERM")
                run_every(lambda: job(scorer), interval, stopper)
        finally:
            ops.close()
    if stopper.signal_name:
        echo(f"stopped by {stopper.signal_name}")
    if results and interval is None and results[-1].exit_code:
        # SystemExit, not typer.Exit: with standalone_mode=False click would return the code
        sys.exit(results[-1].exit_code)


def _operations(workspace: Path, interval: float | None, metrics_file: Path | None,
                metrics_port: int | None, webhook: str | None, fmt: str, alert_min: int,
                give_up: float) -> Any:
    """The metrics and alerts of the command, its options checked before any run."""
    from anomaly.jobs.alerts import FORMATS, Delivery
    from anomaly.jobs.metrics import check_metrics_file
    from anomaly.jobs.operations import Operations, OpsOptions

    check_choice("--alert-format", fmt, FORMATS)
    if metrics_port is not None and interval is None:
        raise InputError("--metrics-port needs --every (a one-off run ends before anyone "
                         "scrapes it); use --metrics-file for cron or systemd timers")
    if metrics_port is not None and not 0 < metrics_port < 65536:
        raise InputError(f"--metrics-port {metrics_port}: give a port between 1 and 65535")
    if metrics_file is not None:
        check_metrics_file(metrics_file)
    if webhook is not None and not webhook.startswith(("http://", "https://")):
        raise InputError(f"--alert-webhook {webhook!r}: give an http:// or https:// URL")
    if alert_min < 1:
        raise InputError(f"--alert-min {alert_min}: give 1 or more flagged rows")
    if give_up <= 0:
        raise InputError(f"--alert-give-up {give_up:g}: give a positive number of seconds")
    delivery = Delivery(webhook, fmt, give_up=give_up) if webhook else None
    return Operations(workspace, OpsOptions(metrics_file, metrics_port, delivery, alert_min,
                                            drain=give_up))


def _engine(name: str, scheduler: str | None, workers: int | None, quiet: bool) -> Any:
    import contextlib
    from functools import partial

    from anomaly.cli.progress import bar_for, wanted

    bars = partial(bar_for, enabled=wanted(quiet), min_bytes=0)
    if name == "dask":
        from anomaly.jobs.dask_engine import dask_engine

        return dask_engine(scheduler, workers, bars=bars)
    from anomaly.jobs.batch import LocalEngine

    return contextlib.nullcontext(LocalEngine(bars))


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
    from anomaly.text import excerpt

    if run:
        files = list_files(workspace, run)
        if as_json:
            echo(json.dumps(files, indent=2))
            return
        if not files:
            raise InputError(f"run {run!r}: no such run in {workspace / 'runs.db'} — see "
                             "`anomaly runs`")
        echo(f"{'status':<8} {'rows':>9} {'flagged':>8} {'rate':>7} {'p50':>8} {'p99':>8} "
              f"{'max':>8} {'secs':>6}  input / error")
        for f in files:
            detail = excerpt(f["input_path"] + (f"  — {f['error']}" if f["error"] else ""),
                             DETAIL_CHARS)
            echo(f"{f['status']:<8} {_num(f['rows'], ',')} {_num(f['anomalies'], ',', 8)} "
                  f"{_num(f['anomaly_rate'], '.2%', 7)} {_num(f['score_p50'], '.3g', 8)} "
                  f"{_num(f['score_p99'], '.3g', 8)} {_num(f['score_max'], '.3g', 8)} "
                  f"{_num(f['seconds'], '.1f', 6)}  {detail}")
        return
    rows = list_runs(workspace, model, since, limit)
    if as_json:
        echo(json.dumps(rows, indent=2))
        return
    if not rows:
        echo(f"no runs in {workspace / 'runs.db'}" + (" matching the filters" if model or since
                                                        else " — run `anomaly batch`"))
        return
    echo(f"{'run_id':<26} {'started (UTC)':<20} {'status':<11} {'model':<18} "
          f"{'ok':>4} {'fail':>4} {'skip':>4} {'rows':>10} {'flagged':>8} {'rate':>7}")
    for r in rows:
        rate = r["anomalies"] / r["rows"] if r["rows"] else None
        label = f"{r['model']}@{r['model_version']} t{r['threshold_version']}"
        echo(f"{r['run_id']:<26} {r['started_at'][:19]:<20} {r['status']:<11} {label:<18} "
              f"{r['files_ok']:>4} {r['files_failed']:>4} {r['files_skipped']:>4} "
              f"{r['rows']:>10,} {r['anomalies']:>8,} {_num(rate, '.2%', 7)}")


DETAIL_CHARS = 300  # `anomaly runs --run`: the full text is in runs.db and `--json`


def _num(value: Any, spec: str, width: int = 9) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"
