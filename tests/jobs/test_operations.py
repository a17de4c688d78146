"""`anomaly batch` for operators: Prometheus metrics (a textfile-collector file, a /metrics port)
and webhook alerts (a real HTTP server on 127.0.0.1), each alert delivered once."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.jobs.batchkit import batch_args, cli, fill_inbox, ledger_files, new_workspace
from tests.jobs.webhook import webhook


@pytest.fixture
def ws(workspace: Path, tmp_path: Path) -> Path:
    return new_workspace(workspace, tmp_path)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition text, by name and labels (parsed by prometheus_client)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return found[(name, tuple(sorted({"model": "toy", **labels}.items())))]


def alerts_table(ws: Path) -> pd.DataFrame:
    with sqlite3.connect(ws / "runs.db") as db:
        return pd.read_sql_query("SELECT * FROM alerts ORDER BY id", db)


# ------------------------------------------------------------------------------ metrics
def test_metrics_file_is_written_after_every_run(ws: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    fill_inbox(ws / "inbox", 2)
    prom = ws / "textfile" / "anomaly_toy.prom"
    prom.parent.mkdir()
    before = time.time()
    code, _out, err = cli(capsys, *batch_args(ws, "--metrics-file", str(prom)))
    assert code == 0, err
    first = samples(prom.read_text())
    files = ledger_files(ws)
    assert value(first, "anomaly_batch_files_total", status="ok") == 2
    assert value(first, "anomaly_batch_files_total", status="skipped") == 0
    assert value(first, "anomaly_batch_files_total", status="failed") == 0
    assert value(first, "anomaly_batch_rows_total") == 240
    assert value(first, "anomaly_batch_anomalies_total") == files["anomalies"].sum()
    assert value(first, "anomaly_batch_threshold_version") == 1
    assert value(first, "anomaly_batch_model_version") == 1
    assert value(first, "anomaly_batch_last_run_failed") == 0
    assert before - 1 <= value(first, "anomaly_batch_last_success_timestamp_seconds") \
        <= time.time()
    assert 0 < value(first, "anomaly_batch_last_run_duration_seconds") < time.time() - before
    assert value(first, "anomaly_model_attention", reason="drift") == 0

    (ws / "inbox" / "bad.csv").write_text("x,y\n1,2\n")  # quarantined: counted as failed
    code, _, _ = cli(capsys, *batch_args(ws, "--metrics-file", str(prom)))
    assert code == 3
    second = samples(prom.read_text())
    assert value(second, "anomaly_batch_files_total", status="skipped") == 2
    assert value(second, "anomaly_batch_files_total", status="failed") == 1
    assert value(second, "anomaly_batch_rows_total") == 240  # totals over runs, not per run
    assert value(second, "anomaly_batch_last_run_failed") == 1
    assert value(second, "anomaly_batch_last_success_timestamp_seconds") == \
        value(first, "anomaly_batch_last_success_timestamp_seconds")
    assert sorted(p.name for p in prom.parent.iterdir()) == ["anomaly_toy.prom"]  # no temp left


@pytest.mark.parametrize(("flags", "message"), [
    (("--metrics-port", "9999"), "--metrics-port needs --every"),
    (("--metrics-file", "metrics.txt"), "name it *.prom"),
    (("--metrics-file", "/nonexistent/x.prom"), "folder /nonexistent not found"),
    (("--alert-webhook", "ftp://host/x"), "give an http:// or https:// URL"),
    (("--alert-webhook", "http://127.0.0.1:9/x", "--alert-format", "teams"), "json or slack"),
])
def test_bad_operations_options_exit_2_before_scoring(
        ws: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], message: str
) -> None:
    fill_inbox(ws / "inbox", 1)
    code, _, err = cli(capsys, *batch_args(ws, *flags))
    assert code == 2 and message in err and "Traceback" not in err
    assert not (ws / "outbox").exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_metrics_port_serves_while_every_runs(ws: Path) -> None:
    fill_inbox(ws / "inbox", 2)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "anomaly.cli", *batch_args(
        ws, "--every", "1h", "--metrics-port", str(port))], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 120
        found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        while time.monotonic() < end:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    found = samples(r.read().decode())
                if found.get(("anomaly_batch_files_total",
                              (("model", "toy"), ("status", "ok")))) == 2:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert value(found, "anomaly_batch_rows_total") == 240
        assert value(found, "anomaly_batch_threshold_version") == 1
        assert not any(name.startswith("process_") for name, _ in found)  # only ours
        proc.terminate()
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    with pytest.raises(OSError):  # the server stops with the command
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


# ------------------------------------------------------------------------------- alerts
def test_alert_retries_after_two_failures_and_is_sent_once(
        ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill_inbox(ws / "inbox", 1)
    with webhook(fail_first=2) as hook:
        code, out, err = cli(capsys, *batch_args(ws, "--alert-webhook", hook.url))
        assert code == 0, err
        assert hook.answers == [503, 503, 200]
        body = hook.delivered[0]
        files = ledger_files(ws)
        row = files.iloc[0]
        assert row["anomalies"] >= 1  # the seeded file has flagged rows
        assert {k: body[k] for k in ("event", "model", "model_version", "threshold_version",
                                     "rows", "flagged", "output")} == {
            "event": "flagged", "model": "toy", "model_version": 1, "threshold_version": 1,
            "rows": 120, "flagged": int(row["anomalies"]), "output": row["output_path"]}
        assert body["file"] == str((ws / "inbox" / "f0.csv").resolve())
        scored = pd.read_csv(row["output_path"])
        top = scored.nlargest(len(body["top"]), "anomaly_score")
        assert [r["row_id"] for r in body["top"]] == top["row_id"].tolist()
        assert [r["top_features"] for r in body["top"]] == top["top_features"].tolist()
        assert len(body["top"]) == min(5, int(row["anomalies"]))
        sent = alerts_table(ws)
        assert sent[["status", "attempts"]].values.tolist() == [["sent", 3]]

        code, out, _ = cli(capsys, *batch_args(ws, "--alert-webhook", hook.url))
        assert code == 0 and "already done" in out
        assert len(hook.requests) == 3  # a re-run sends nothing new


def test_alert_min_and_slack_format(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill_inbox(ws / "inbox", 2)
    with webhook() as hook:
        code, _, err = cli(capsys, *batch_args(ws, "--alert-webhook", hook.url,
                                               "--alert-format", "slack", "--alert-min", "2"))
    assert code == 0, err
    files = ledger_files(ws)
    expected = files[files["anomalies"] >= 2]
    assert len(hook.delivered) == len(expected) >= 1
    for body, (_, row) in zip(hook.delivered, expected.iterrows(), strict=True):
        assert list(body) == ["text"]
        assert body["text"].startswith(f":rotating_light: anomaly toy@1 (threshold v1): "
                                       f"{row['anomalies']} of 120 rows flagged in ")
        assert row["output_path"] in body["text"] and "• row_id=r" in body["text"]


def test_quarantined_file_and_failed_run_alert(ws: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (ws / "inbox").mkdir()
    (ws / "inbox" / "bad.csv").write_text("x,y\n1,2\n")
    with webhook() as hook:
        code, _, _ = cli(capsys, *batch_args(ws, "--alert-webhook", hook.url))
        assert code == 3
        assert [b["event"] for b in hook.delivered] == ["failed"]
        assert "missing" in hook.delivered[0]["error"]
        assert hook.delivered[0]["file"].endswith("bad.csv")
        code, _, err = cli(capsys, "batch", "nosuchmodel", "--inbox", str(ws / "inbox"),
                           "--outbox", str(ws / "outbox"), "--workspace", str(ws),
                           "--alert-webhook", hook.url)
        assert code == 2 and "nosuchmodel" in err
    assert [b["event"] for b in hook.delivered] == ["failed", "run_failed"]
    assert hook.delivered[1]["model"] == "nosuchmodel"
    assert "nosuchmodel" in hook.delivered[1]["error"]


def test_unreachable_webhook_gives_up_in_time_then_next_run_delivers(
        ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill_inbox(ws / "inbox", 1)
    with webhook(fail_first=1000, status=500) as down:
        started = time.monotonic()
        code, out, err = cli(capsys, *batch_args(ws, "--alert-webhook", down.url,
                                                 "--alert-give-up", "2"))
        took = time.monotonic() - started
    assert code == 0 and "1 scored" in out  # scoring went on
    assert took < 20 and len(down.requests) >= 2  # retried, then gave up
    assert "stays pending" in err
    assert alerts_table(ws)["status"].tolist() == ["pending"]
    with webhook() as up:
        code, out, _ = cli(capsys, *batch_args(ws, "--alert-webhook", up.url))
    assert code == 0 and "already done" in out
    assert [b["event"] for b in up.delivered] == ["flagged"]  # the pending one, once
    assert up.delivered[0]["input_sha256"] == ledger_files(ws)["input_sha256"].iloc[0]
    assert alerts_table(ws)["status"].tolist() == ["sent"]


def test_refused_alert_is_not_retried(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill_inbox(ws / "inbox", 1)
    with webhook(fail_first=1000, status=404) as hook:
        code, _, err = cli(capsys, *batch_args(ws, "--alert-webhook", hook.url))
    assert code == 0 and len(hook.requests) == 1 and "not retried" in err
    table = alerts_table(ws)
    assert table["status"].tolist() == ["failed"] and "404" in table["last_error"].iloc[0]
    assert json.loads(table["body"].iloc[0])["event"] == "flagged"


def test_health_metrics_follow_drift_and_false_alarm_marks(
        ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from anomaly.jobs.feedback import Mark, save_mark

    paths = fill_inbox(ws / "inbox", 3)
    for path in paths:  # every file far from the training data: scores move up
        frame = pd.read_csv(path)
        frame[["a", "b", "c"]] *= 4
        frame.to_csv(path, index=False)
    prom = ws / "toy.prom"
    code, _, err = cli(capsys, *batch_args(ws, "--metrics-file", str(prom)))
    assert code == 0, err
    found = samples(prom.read_text())
    assert value(found, "anomaly_model_attention", reason="drift") == 1
    assert value(found, "anomaly_model_drift_psi") > 0.25
    assert value(found, "anomaly_model_attention", reason="false_alarms") == 0
    assert ("anomaly_model_false_alarm_share", (("model", "toy"),)) not in found  # no marks

    for i in range(5):
        save_mark(ws, Mark("toy", 1, "scores/x.csv", f'{{"row": {i}}}',
                           "false_alarm" if i else "confirmed", anomaly_score=1e6))
    code, _, _ = cli(capsys, *batch_args(ws, "--metrics-file", str(prom)))
    found = samples(prom.read_text())
    assert value(found, "anomaly_model_attention", reason="false_alarms") == 1  # 4 of 5 > 50 %
    assert value(found, "anomaly_model_false_alarm_share") == pytest.approx(0.8)


def test_undelivered_alerts_are_claimed_once_by_the_same_models_next_run(tmp_path: Path) -> None:
    from anomaly.jobs.alerts import Alerter, Delivery
    from anomaly.jobs.ledger import Ledger

    Ledger(tmp_path).close()  # runs.db at the newest schema (alerts included)
    db_path = tmp_path / "runs.db"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with sqlite3.connect(db_path) as db:
        for key, model, status, owner in [("a", "toy", "pending", None),
                                          ("b", "toy", "sending", f"pid {dead}"),  # died
                                          ("c", "toy", "sending", "pid 1"),  # still running
                                          ("d", "other", "pending", None),  # another model
                                          ("e", "toy", "sent", None)]:
            db.execute("INSERT INTO alerts (key, event, model, created_at, status, owner, body) "
                       "VALUES (?, 'flagged', ?, 'now', ?, ?, ?)",
                       (key, model, status, owner, json.dumps({"event": "flagged", "key": key,
                                                               "model": model})))
    with webhook() as hook:
        alerter = Alerter(tmp_path, Delivery(hook.url), "toy")
        alerter.close(drain=10)
        assert sorted(b["key"] for b in hook.delivered) == ["a", "b"]
        Alerter(tmp_path, Delivery(hook.url), "toy").close(drain=10)
        assert len(hook.requests) == 2  # nothing twice
    with sqlite3.connect(db_path) as db:
        assert dict(db.execute("SELECT key, status FROM alerts")) == {
            "a": "sent", "b": "sent", "c": "sending", "d": "pending", "e": "sent"}


def test_taken_metrics_port_exits_2_before_scoring(ws: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    fill_inbox(ws / "inbox", 1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = cli(capsys, *batch_args(ws, "--every", "1h", "--metrics-port",
                                               str(port)))
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err
    assert not (ws / "outbox").exists()
