"""Classes 2-5: a batch run touches only what it owns, machine faults are not the input's, the
inbox is data, and exactly once means the output exists."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from anomaly.atomic import temp_owner
from tests.conftest import ROOT, make_tabular, run_main
from tests.jobs.batchkit import fill_inbox, ledger_files, ledger_runs, settled
from tests.reliability.kit import private_ws


@pytest.fixture
def ws(workspace: Path, tmp_path: Path) -> Path:
    return private_ws(workspace, tmp_path)


def batch(ws: Path, inbox: str = "inbox", outbox: str = "outbox", *extra: str) -> list[str]:
    return ["batch", "toy", "--inbox", str(ws / inbox), "--outbox", str(ws / outbox),
            "--workspace", str(ws), *extra]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_cleanup_removes_only_temps_of_dead_runs(ws: Path) -> None:
    fill_inbox(ws / "inbox", 1)
    (ws / "outbox").mkdir()
    host = os.uname().nodename
    live = ws / "outbox" / f".other.scored.csv.abc123.{host}-{os.getppid()}.tmp"  # a live run
    dead = ws / "outbox" / f".gone.scored.csv.def456.{host}-{dead_pid()}.tmp"
    foreign = ws / "outbox" / ".far.scored.csv.ghi789.otherhost-1.tmp"  # cannot be checked
    for temp in (live, dead, foreign):
        temp.write_text("partial")
    result = run_main(*batch(ws))
    assert result.returncode == 0, result.stderr
    assert live.exists() and foreign.exists() and not dead.exists()
    assert (ws / "outbox" / "f0.scored.csv").exists()
    assert temp_owner().endswith(f"-{os.getpid()}")


@pytest.mark.slow  # a subprocess with a file-size limit
def test_full_outbox_stops_the_run_and_keeps_the_inputs(ws: Path) -> None:
    inbox = ws / "inbox"
    inbox.mkdir()
    for i in range(2):  # big enough that its scored output passes the file-size limit
        make_tabular(12_000, seed=30 + i).to_csv(inbox / f"big{i}.csv", index=False)
        settled(inbox / f"big{i}.csv")
    limit = 512 * 1024

    def limited() -> None:  # writes past `limit` bytes fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run([sys.executable, "-m", "anomaly.cli", *batch(ws)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240, preexec_fn=limited,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert str(ws / "outbox") in done.stderr and "File too large" in done.stderr
    assert sorted(p.name for p in inbox.glob("*.csv")) == ["big0.csv", "big1.csv"]
    assert not (inbox / "quarantine").exists()
    assert not list((ws / "outbox").iterdir())  # no output, no temp left
    run = ledger_runs(ws).iloc[-1]
    assert run["status"] == "failed" and "File too large" in run["error"]
    assert (ledger_files(ws)["status"] != "failed").all()


def test_outbox_that_is_a_file_or_the_inbox_is_refused_before_work(ws: Path) -> None:
    fill_inbox(ws / "inbox", 1)
    (ws / "blocked").write_text("a file")
    for outbox in ("blocked", "inbox"):
        result = run_main(*batch(ws, outbox=outbox))
        assert result.returncode == 2 and "--outbox" in result.stderr, result.stderr
    assert (ws / "inbox" / "f0.csv").exists() and not (ws / "inbox" / "quarantine").exists()


def test_symlinks_and_pipes_in_the_inbox_are_skipped(ws: Path, tmp_path: Path) -> None:
    inbox = ws / "inbox"
    fill_inbox(inbox, 1)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:SECRET-HASH:0:0:root:/root:/bin/bash\n")
    (inbox / "passwd.csv").symlink_to(secret)
    os.mkfifo(inbox / "pipe.csv")
    result = run_main(*batch(ws))
    assert result.returncode == 0, result.stderr
    assert "2 inbox entries skipped" in result.stderr
    assert "1 scored" in result.stdout and "SECRET" not in result.stdout + result.stderr
    assert not (inbox / "quarantine").exists()
    assert "SECRET" not in ledger_files(ws).to_string()
    assert (inbox / "passwd.csv").is_symlink()


def test_error_texts_quote_a_short_excerpt_of_a_bad_row(ws: Path) -> None:
    inbox = ws / "inbox"
    inbox.mkdir()
    secret = "S" * 5000
    bad = inbox / "bad.csv"
    bad.write_text("row_id,a,b,c,color,label\nr1,1,2,3,red,0\n" + secret + "\n")
    settled(bad)
    result = run_main(*batch(ws))
    assert result.returncode == 3
    error = (inbox / "quarantine" / "bad.csv.error.txt").read_text()
    assert "S" * 20 in error and "S" * 100 not in error
    assert len(ledger_files(ws)["error"].iloc[0]) < 400


def test_a_file_still_being_written_is_left_for_the_next_run(ws: Path) -> None:
    inbox = ws / "inbox"
    inbox.mkdir()
    growing, done = inbox / "growing.csv", inbox / "done.csv"
    lines = make_tabular(60, seed=3).to_csv(index=False).splitlines(keepends=True)
    done.write_text("".join(lines))  # written just now, complete: the run waits and scores it
    growing.write_text("".join(lines[:2]))
    stop = threading.Event()

    def writer() -> None:  # a slow writer: a line every 0.1 s
        for line in lines[2:]:
            if stop.wait(0.1):
                return
            with growing.open("a") as handle:
                handle.write(line)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = run_main(*batch(ws, "inbox", "outbox", "--settle", "1"))
    finally:
        stop.set()
        thread.join()
    assert result.returncode == 0 and "1 scored" in result.stdout, result.stderr
    assert "growing.csv" in result.stderr and "left for the next run" in result.stderr
    assert growing.exists() and not (inbox / "quarantine").exists()
    assert (ws / "outbox" / "done.scored.csv").exists()
    assert not (ws / "outbox" / "growing.scored.csv").exists()


def test_a_deleted_output_is_made_again_and_another_outbox_gets_its_own(ws: Path) -> None:
    fill_inbox(ws / "inbox", 2)
    assert "2 scored" in run_main(*batch(ws)).stdout
    (ws / "outbox" / "f0.scored.csv").unlink()
    result = run_main(*batch(ws))
    assert "1 scored, 1 already done" in result.stdout
    assert (ws / "outbox" / "f0.scored.csv").exists()
    result = run_main(*batch(ws, outbox="outbox2"))
    assert "2 scored" in result.stdout
    assert (ws / "outbox2" / "f1.scored.csv").exists()
