"""`anomaly batch`: exactly-once per (content, model, threshold version), quarantine, lock,
atomic outputs, crash safety under kill -9 (a real subprocess) and a clean stop on SIGTERM.

The subprocess tests slow scoring down with a delay that SLOW_BATCH injects (seconds slept after
each scored chunk).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from anomaly.jobs.batch import inbox_lock
from tests.conftest import ROOT, make_tabular
from tests.jobs.batchkit import (
    batch_args,
    cli,
    fill_inbox,
    ledger_files,
    ledger_runs,
    new_workspace,
)


@pytest.fixture
def ws(workspace: Path, tmp_path: Path) -> Path:
    return new_workspace(workspace, tmp_path)


def test_rerun_skips_and_changed_file_is_scored_again(ws: Path, capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    inputs = fill_inbox(ws / "inbox", 2)
    code, out, _ = cli(capsys, *batch_args(ws))
    assert code == 0, out
    outputs = sorted((ws / "outbox").glob("*.scored.csv"))
    assert [p.name for p in outputs] == ["f0.scored.csv", "f1.scored.csv"]
    scored = pd.read_csv(outputs[0])
    assert len(scored) == 120 and {"row_id", "anomaly_score", "is_anomaly"} <= set(scored.columns)
    stamps = [p.stat().st_mtime_ns for p in outputs]

    code, out, _ = cli(capsys, *batch_args(ws))
    assert code == 0 and "0 scored, 2 already done" in out
    assert [p.stat().st_mtime_ns for p in outputs] == stamps  # not rewritten

    make_tabular(80, seed=99).to_csv(inputs[1], index=False)  # new content, same name
    code, out, _ = cli(capsys, *batch_args(ws))
    assert code == 0 and "1 scored, 1 already done" in out
    assert len(pd.read_csv(outputs[1])) == 80
    files = ledger_files(ws)
    assert files["status"].tolist() == ["ok", "ok", "skipped", "skipped", "skipped", "ok"]
    assert files.loc[5, "input_sha256"] != files.loc[1, "input_sha256"]
    runs = ledger_runs(ws)
    assert runs["status"].tolist() == ["ok", "ok", "ok"]
    assert runs[["files_ok", "files_skipped"]].values.tolist() == [[2, 0], [0, 2], [1, 1]]


def test_inputs_sharing_a_stem_keep_separate_outputs(ws: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    inbox = ws / "inbox"
    inbox.mkdir(parents=True)
    make_tabular(50, seed=1).to_csv(inbox / "a.csv", index=False)
    make_tabular(70, seed=2).to_parquet(inbox / "a.parquet", index=False)
    make_tabular(30, seed=3).to_csv(inbox / "b.csv", index=False)
    code, out, _ = cli(capsys, *batch_args(ws, "--pattern", "*.csv", "--pattern", "*.parquet"))
    assert code == 0, out
    rows = {p.name: len(pd.read_csv(p)) for p in (ws / "outbox").glob("*.scored.csv")}
    assert rows == {"a.csv.scored.csv": 50, "a.parquet.scored.csv": 70, "b.scored.csv": 30}


def test_new_threshold_version_scores_again(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill_inbox(ws / "inbox", 2)
    assert cli(capsys, *batch_args(ws))[0] == 0
    code, out, err = cli(capsys, "threshold", "toy", "--method", "quantile", "--q", "0.5",
                         "--workspace", str(ws))
    assert code == 0, err
    code, out, _ = cli(capsys, *batch_args(ws))
    assert code == 0 and "2 scored, 0 already done" in out
    files = ledger_files(ws)
    assert files["threshold_version"].tolist() == [1, 1, 2, 2]
    assert (files.loc[2:, "anomalies"] > files.loc[:1, "anomalies"].to_numpy()).all()
    assert cli(capsys, *batch_args(ws))[1].count("already done") == 1


def test_bad_files_are_quarantined_and_the_rest_scored(ws: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    inbox = ws / "inbox"
    fill_inbox(inbox, 1)
    (inbox / "wrong_schema.csv").write_text("x,y\n1,2\n3,4\n")
    (inbox / "binary.csv").write_bytes(b"\x00\x01\x02garbage")
    (inbox / "notes.txt").write_text("not matched by the patterns")
    code, out, _ = cli(capsys, *batch_args(ws))
    assert code == 3, out
    assert [p.name for p in (ws / "outbox").iterdir()] == ["f0.scored.csv"]
    quarantine = inbox / "quarantine"
    assert sorted(p.name for p in quarantine.iterdir()) == [
        "binary.csv", "binary.csv.error.txt", "wrong_schema.csv", "wrong_schema.csv.error.txt"]
    why = (quarantine / "wrong_schema.csv.error.txt").read_text()
    assert "feature column(s) 'a', 'b', 'c', 'color' missing" in why
    assert "binary" in (quarantine / "binary.csv.error.txt").read_text()
    assert not (inbox / "wrong_schema.csv").exists() and (inbox / "notes.txt").exists()
    files = ledger_files(ws).set_index(ledger_files(ws)["input_path"].map(lambda p: Path(p).name))
    assert files.loc["wrong_schema.csv", "status"] == "failed"
    assert "missing" in files.loc["wrong_schema.csv", "error"]
    assert files.loc["f0.csv", "status"] == "ok"
    assert ledger_runs(ws)["status"].tolist() == ["failed"]
    code, out, _ = cli(capsys, *batch_args(ws))  # quarantined files are gone from the inbox
    assert code == 0 and "0 scored, 1 already done, 0 quarantined" in out


@pytest.mark.parametrize(("kind", "name"), [("timeseries", "timeseries_test.csv"),
                                            ("logs", "logs_test.log")])
def test_every_kind_runs_in_batch(kind: str, name: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A time-series and a log model score their inbox; logs pick up *.log files by default."""
    fixtures = ROOT / "tests" / "fixtures" / "v1"
    ws = new_workspace(fixtures / "workspace", tmp_path)
    (tmp_path / "inbox").mkdir()
    shutil.copy(fixtures / name, tmp_path / "inbox" / name)
    code, out, _ = cli(capsys, "batch", kind, "--inbox", str(tmp_path / "inbox"), "--outbox",
                       str(tmp_path / "outbox"), "--settle", "0", "--workspace", str(ws))
    assert code == 0 and "1 scored" in out
    scored = pd.read_csv(tmp_path / "outbox" / f"{Path(name).stem}.scored.csv")
    expected = pd.read_csv(fixtures / f"{kind}_expected.csv")
    assert scored["anomaly_score"].to_numpy() == pytest.approx(
        expected["anomaly_score"].to_numpy(), rel=1e-5)


def test_lock_held_means_second_run_exits_2(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill_inbox(ws / "inbox", 1)
    with inbox_lock(ws / "inbox"):
        code, _out, err = cli(capsys, *batch_args(ws))
    assert code == 2
    assert "another `anomaly batch` run (pid" in err and "working on this inbox" in err
    assert "Traceback" not in err and not (ws / "outbox").exists()
    assert cli(capsys, *batch_args(ws))[0] == 0  # released


# `anomaly batch` in a subprocess whose scoring sleeps after each chunk (argv[1] seconds), so
# that a test can kill it mid-file: the delay is injected here, production code has no hook.
SLOW_BATCH = """
import sys, time
import anomaly.jobs.score as score
scored_chunks = score.scored_chunks
def slow(*args, **kwargs):
    for frame in scored_chunks(*args, **kwargs):
        yield frame
        time.sleep(float(sys.argv[1]))
score.scored_chunks = slow
from anomaly.cli import main
main(sys.argv[2:])
"""


def _start(ws: Path, delay: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", SLOW_BATCH, delay, *batch_args(ws, *extra)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)


def _wait_for(check: object, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_kill_9_mid_run_then_next_run_completes_exactly_once(
        ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = fill_inbox(ws / "inbox", 3)
    outbox = ws / "outbox"
    proc = _start(ws, "2")
    try:
        # kill while the second file is half-written (its temporary output exists)
        _wait_for(lambda: (outbox / "f0.scored.csv").exists()
                  and any(outbox.glob(".f1.scored.csv.*.tmp")))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert sorted(p.name for p in outbox.glob("*.scored.csv")) == ["f0.scored.csv"]
    assert len(pd.read_csv(outbox / "f0.scored.csv")) == 120
    assert ledger_runs(ws)["status"].tolist() == ["running"]

    code, out, _ = cli(capsys, *batch_args(ws))
    assert code == 0 and "was interrupted" in out and "2 scored, 1 already done" in out
    assert ledger_runs(ws)["status"].tolist() == ["interrupted", "ok"]
    assert not list(outbox.glob(".*.tmp"))
    for path in inputs:
        assert len(pd.read_csv(outbox / f"{path.stem}.scored.csv")) == 120
    files = ledger_files(ws)
    ok = files[files["status"] == "ok"]
    assert sorted(ok["input_path"].map(lambda p: Path(p).name)) == ["f0.csv", "f1.csv", "f2.csv"]


@pytest.mark.slow
def test_every_loop_stops_on_sigterm_after_the_current_file(ws: Path) -> None:
    fill_inbox(ws / "inbox", 2)
    outbox = ws / "outbox"
    proc = _start(ws, "2", "--every", "1h")
    try:
        _wait_for(lambda: any(outbox.glob(".f0.scored.csv.*.tmp")))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped by SIGTERM" in out
    assert [p.name for p in outbox.iterdir()] == ["f0.scored.csv"]  # finished, f1 not begun
    assert len(pd.read_csv(outbox / "f0.scored.csv")) == 120
    files = ledger_files(ws)
    assert files["status"].tolist() == ["ok"]
    assert ledger_runs(ws)["status"].tolist() == ["ok"]
