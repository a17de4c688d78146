"""A small real workspace for the dashboard tests: a trained bundle, a scored file, a run ledger.

The model is trained with the real Detector (Lightning) on tiny seeded time-stamped data; the
test file is scored with the real runner; runs.db is made with the ledger contract's DDL.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import make_tabular

from anomaly.bundle import sha256_file
from anomaly.core.detector import Detector
from anomaly.jobs.ledger import SCHEMA
from anomaly.jobs.score import score_file

LEDGER_DDL = SCHEMA  # the real runs.db schema, so these tests follow any change to it
EPOCHS = 6
FAILED_ERROR = "inbox/bad.csv: column 'b' row 3: 'abc' is not a number — fix the value"


def timed(frame: pd.DataFrame, start: str) -> pd.DataFrame:
    """Add an hourly `timestamp` column (ISO text, as in real files)."""
    stamps = pd.date_range(start, periods=len(frame), freq="h").strftime("%Y-%m-%dT%H:%M:%S")
    return frame.assign(timestamp=stamps)


def build_workspace(ws: Path) -> Path:
    """Train `toy`, score data/test.csv into scores/, and write runs.db; returns the workspace."""
    (ws / "data").mkdir(parents=True)
    train = timed(make_tabular(500, seed=1).drop(columns=["label"]), "2024-01-01")
    test = timed(make_tabular(240, seed=2, anomalies=12), "2024-02-01")
    train.to_csv(ws / "data" / "train.csv", index=False)
    test.to_csv(ws / "data" / "test.csv", index=False)
    detector = Detector(max_epochs=EPOCHS, patience=0, batch_size=64, seed=0, id_col="row_id",
                        time_col="timestamp", progress_bar=False).fit(train)
    detector.save(ws / "models", "toy", {"path": "data/train.csv", "rows": len(train),
                                         "sha256": sha256_file(ws / "data" / "train.csv")})
    score_file(detector, ws / "data" / "test.csv", ws / "scores" / "test.scored.csv")
    write_ledger(ws / "runs.db", np.asarray(detector.validation_scores_))
    return ws


def workspace_copy(base_temp: Path, target: Path) -> Path:
    """A copy of the one workspace built per test session (built on first use)."""
    built = base_temp / "dashboard-ws"
    if not (built / "runs.db").exists():
        shutil.rmtree(built, ignore_errors=True)
        build_workspace(built)
    shutil.copytree(built, target)
    return target


def write_ledger(path: Path, validation: np.ndarray, shift: float = 1.0) -> None:
    """Three ok files whose score quantiles are the validation ones (x shift), one failed file."""
    q = np.quantile(validation, [0.5, 0.9, 0.99, 1.0]) * shift
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(LEDGER_DDL)
        conn.execute("INSERT INTO runs VALUES ('r1','2024-03-01T10:00:00+00:00',"
                     "'2024-03-01T10:01:00+00:00','toy',1,1,'inbox','outbox','local','failed',"
                     "3,1,0,300,4)")
        for i in range(3):
            conn.execute(
                "INSERT INTO files(run_id,input_path,input_sha256,model,model_version,"
                "threshold_version,threshold,status,rows,anomalies,anomaly_rate,score_p50,"
                "score_p90,score_p99,score_max,started_at,finished_at,seconds,output_path) VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                ("r1", f"inbox/part{i}.csv", f"{i}" * 64, "toy", 1, 1, float(q[2]), "ok", 100,
                 1 + i, (1 + i) / 100, *map(float, q), f"2024-03-01T10:0{i}:00+00:00",
                 f"2024-03-01T10:0{i}:30+00:00", 0.5, f"outbox/part{i}.scored.csv"))
        conn.execute(
            "INSERT INTO files(run_id,input_path,input_sha256,model,model_version,"
            "threshold_version,status,error,rows,anomalies,started_at) VALUES ('r1',"
            "'inbox/bad.csv',?,'toy',1,1,'failed',?,0,0,'2024-03-01T10:05:00+00:00')",
            ("9" * 64, FAILED_ERROR))
