"""Classes 9 and 10: the ledger fails clearly and migrates; bad names, folders and workspaces
fail before the work."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from anomaly.jobs.ledger import MIGRATIONS, SCHEMA, Ledger, list_runs
from tests.conftest import run_main
from tests.jobs.batchkit import fill_inbox
from tests.reliability.kit import one_error, private_ws


def broken_ledger(ws: Path, how: str) -> None:
    path = ws / "runs.db"
    if how == "folder":
        path.mkdir()
    elif how == "corrupt":
        path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    elif how == "garbage":
        path.write_bytes(b"not a database at all" * 100)
    elif how == "foreign":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE invoices (id INTEGER)")


@pytest.mark.parametrize("how", ["folder", "corrupt", "garbage", "foreign"])
def test_a_broken_ledger_is_a_clear_exit_2(workspace: Path, tmp_path: Path, how: str) -> None:
    ws = private_ws(workspace, tmp_path)
    broken_ledger(ws, how)
    for args in (["runs"], ["batch", "toy", "--inbox", str(ws / "inbox"), "--outbox",
                            str(ws / "outbox")]):
        fill_inbox(ws / "inbox", 1)
        message = one_error(run_main(*args, "--workspace", str(ws)))
        assert str(ws / "runs.db") in message and " — " in message  # the file, cause, fix
    assert (ws / "inbox" / "f0.csv").exists() and not (ws / "inbox" / "quarantine").exists()


def test_an_empty_ledger_file_means_no_runs_yet(tmp_path: Path) -> None:
    (tmp_path / "runs.db").write_bytes(b"")
    assert list_runs(tmp_path) == []
    Ledger(tmp_path).close()  # and a batch run makes it a ledger
    assert list_runs(tmp_path) == []


def test_an_unversioned_ledger_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "runs.db") as db:  # as written before versioning
        db.executescript(SCHEMA)
        db.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('r1', 'x', 'ok')")
    Ledger(tmp_path).close()
    with sqlite3.connect(tmp_path / "runs.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("SELECT run_id, error FROM runs").fetchall() == [("r1", None)]
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(Exception, match="newer than this anomaly knows"):
        Ledger(tmp_path)


def test_bad_name_or_model_path_fails_before_training(workspace: Path, tmp_path: Path,
                                                      tabular_files: dict[str, Path]) -> None:
    ws = tmp_path / "ws"
    (ws / "models").mkdir(parents=True)
    (ws / "models" / "taken").write_text("a file where the model folder would go")
    for name, needle in (("../../x", "not allowed"), ("taken", "not a folder")):
        started = time.monotonic()
        result = run_main("train", str(tabular_files["train"]), "--name", name, "--epochs",
                          "50", "--patience", "0", "--no-progress", "--workspace", str(ws))
        assert needle in one_error(result)
        assert time.monotonic() - started < 10  # refused before 50 epochs of training
    assert not (tmp_path / "x").exists()


def test_reading_commands_never_create_a_workspace(tmp_path: Path,
                                                   tabular_files: dict[str, Path]) -> None:
    typo = tmp_path / "wrokspace"
    for args in (["models"], ["runs"], ["info", "toy"],
                 ["score", "toy", str(tabular_files["test"])]):
        assert "does not exist" in one_error(run_main(*args, "--workspace", str(typo)))
    assert not typo.exists()
    result = run_main("train", str(tabular_files["train"]), "--id-col", "row_id", "--epochs",
                      "1", "--patience", "0", "--no-progress", "--workspace", str(typo))
    assert result.returncode == 0, result.stderr
    assert f"created workspace {typo}" in result.stderr
