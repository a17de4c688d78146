"""The run ledger (runs.db): contract schema, WAL, per-file commits, interrupted runs and
`anomaly runs`."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from anomaly.clock import now
from anomaly.errors import InputError
from anomaly.jobs.ledger import (
    TIMESPEC,
    FileRecord,
    Ledger,
    connect_readonly,
    list_runs,
    parse_since,
)
from tests.jobs.batchkit import cli

RUNS = ["run_id", "started_at", "finished_at", "model", "model_version", "threshold_version",
        "inbox", "outbox", "engine", "status", "files_ok", "files_failed", "files_skipped",
        "rows", "anomalies", "error"]
FILES = ["id", "run_id", "input_path", "input_sha256", "model", "model_version",
         "threshold_version", "threshold", "status", "error", "rows", "anomalies", "anomaly_rate",
         "score_p50", "score_p90", "score_p99", "score_max", "started_at", "finished_at",
         "seconds", "output_path", "unknown_share"]


def record(status: str, name: str = "a.csv", rows: int = 10, anomalies: int = 2,
           out: str = "/out") -> FileRecord:
    return FileRecord(input_path=f"/in/{name}", input_sha256="ab" * 32, model="toy",
                      model_version=1, threshold_version=1, threshold=2.5, status=status,
                      started_at=now(TIMESPEC), finished_at=now(TIMESPEC), seconds=0.1, rows=rows,
                      anomalies=anomalies, anomaly_rate=anomalies / rows if rows else None,
                      score_p50=1.0,
                      score_p90=2.0, score_p99=3.0, score_max=4.0,
                      output_path=f"{out}/{name}.scored.csv" if status == "ok" else None)


def test_schema_matches_the_contract_and_uses_wal(tmp_path: Path) -> None:
    Ledger(tmp_path).close()
    db = sqlite3.connect(tmp_path / "runs.db")
    assert [r[1] for r in db.execute("PRAGMA table_info(runs)")] == RUNS
    assert [r[1] for r in db.execute("PRAGMA table_info(files)")] == FILES
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_ledger_from_before_template_drift_gains_its_column(tmp_path: Path) -> None:
    from anomaly.jobs.ledger import MIGRATIONS

    with sqlite3.connect(tmp_path / "runs.db") as db:  # a version-2 ledger (runs.error)
        db.executescript(f"{MIGRATIONS[0]}; {MIGRATIONS[1]}; PRAGMA user_version = 2;")
    with Ledger(tmp_path) as ledger:
        run = ledger.start_run("toy", 1, 1, "in", "out", "local")
        ledger.record_file(run, replace(record("ok"), unknown_share=0.25))
    db = sqlite3.connect(tmp_path / "runs.db")
    assert [r[1] for r in db.execute("PRAGMA table_info(files)")] == FILES
    assert db.execute("SELECT unknown_share FROM files").fetchone()[0] == 0.25


def test_each_file_is_committed_at_once_and_dead_runs_become_interrupted(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    run = ledger.start_run("toy", 1, 1, "/in", "/out", "local")
    ledger.record_file(run, record("ok", out=str(tmp_path)))
    ledger.record_file(run, record("failed", "b.csv", rows=0, anomalies=0))
    # a reader sees both rows while the run is still open (process could die now)
    reader = connect_readonly(tmp_path)
    assert reader is not None
    assert reader.execute("SELECT count(*) FROM files").fetchone()[0] == 2
    row = reader.execute("SELECT * FROM runs").fetchone()
    assert (row["status"], row["files_ok"], row["files_failed"], row["rows"], row["anomalies"]) \
        == ("running", 1, 1, 10, 2)
    output = tmp_path / "a.csv.scored.csv"
    assert ledger.done("ab" * 32, "toy", 1, 1, str(output)) is None  # output missing: make again
    output.write_text("x\n")
    assert ledger.done("ab" * 32, "toy", 1, 1, str(output)) is not None
    assert ledger.done("ab" * 32, "toy", 1, 2, str(output)) is None
    assert ledger.done("ab" * 32, "toy", 1, 1, "/other/a.csv.scored.csv") is None
    ledger.close()  # "killed": the run stays 'running'

    again = Ledger(tmp_path)
    assert again.interrupt_stale("/other-inbox") == []
    assert again.interrupt_stale("/in") == [run]
    second = again.start_run("toy", 1, 1, "/in", "/out", "local")
    again.record_file(second, record("skipped", rows=0, anomalies=0))
    assert again.finish_run(second) == "ok"
    statuses = dict(reader.execute("SELECT run_id, status FROM runs").fetchall())
    assert statuses == {run: "interrupted", second: "ok"}
    with pytest.raises(ValueError, match="file status"):
        again.record_file(second, record("weird"))


def test_parse_since() -> None:
    assert parse_since("2026-11-28") == "2026-11-28T00:00:00.000+00:00"
    assert parse_since("2026-11-28T06:00+02:00") == "2026-11-28T04:00:00.000+00:00"
    assert parse_since("24h") < parse_since("1h") < now(TIMESPEC)
    with pytest.raises(InputError, match="--since 'yesterday'"):
        parse_since("yesterday")


def test_runs_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "runs", "--workspace", str(tmp_path))
    assert code == 0 and "no runs" in out and list_runs(tmp_path) == []
    ledger = Ledger(tmp_path)
    first = ledger.start_run("toy", 1, 1, "/in", "/out", "local")
    ledger.record_file(first, record("ok"))
    ledger.record_file(first, record("failed", "b.csv", rows=0, anomalies=0))
    ledger.finish_run(first)
    other = ledger.start_run("other", 3, 2, "/in2", "/out", "dask")
    ledger.finish_run(other)
    ledger.close()

    code, out, _ = cli(capsys, "runs", "--workspace", str(tmp_path))
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3 and lines[0].startswith("run_id")
    assert other in lines[1] and "other@3 t2" in lines[1]
    assert first in lines[2] and "failed" in lines[2] and "20.00%" in lines[2]
    code, out, _ = cli(capsys, "runs", "--model", "toy", "--since", "1h",
                       "--workspace", str(tmp_path))
    assert first in out and other not in out
    code, out, _ = cli(capsys, "runs", "--since", "2999-01-01", "--workspace", str(tmp_path))
    assert "no runs" in out
    code, out, _ = cli(capsys, "runs", "--run", first, "--workspace", str(tmp_path))
    assert "/in/a.csv" in out and "/in/b.csv" in out and "20.00%" in out
    code, _, err = cli(capsys, "runs", "--run", "nope", "--workspace", str(tmp_path))
    assert code == 2 and "no such run" in err
