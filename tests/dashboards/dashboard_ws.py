"""Small real workspaces for the dashboard tests: a trained bundle, a scored file, a run ledger.

One workspace per data kind: `toy` (tabular rows with ids), `pump` (two machines' sensors per
minute: a time series with a group column) and `hdfs` (HDFS-like block sessions in a log file).
Each model is trained with the real Detector (Lightning) on tiny seeded data; its test file is
scored with the real runner; runs.db is made with the ledger contract's DDL.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from anomaly.bundle import sha256_file
from anomaly.core.detector import Detector
from anomaly.jobs.ledger import SCHEMA
from anomaly.jobs.score import score_file
from tests.conftest import make_tabular
from tests.kinds.logs.logkit import NEW_TEMPLATE, make_log

LEDGER_DDL = SCHEMA  # the real runs.db schema, so these tests follow any change to it
EPOCHS = 6
FAILED_ERROR = "inbox/bad.csv: column 'b' row 3: 'abc' is not a number — fix the value"
KINDS = ("tabular", "timeseries", "logs")
MODELS = {"tabular": "toy", "timeseries": "pump", "logs": "hdfs"}
# time series: one reading far off its normal wave (what the drill-down must find and explain)
SPIKE_MACHINE, SPIKE_TIME, SPIKE_SENSOR = "m2", "2024-02-01T00:45:00", "temperature"
# logs: one session with a line of a template never seen in training
ODD_SESSION, ODD_TEXT = "blk_2007", "Disk failure on volume"


def timed(frame: pd.DataFrame, start: str) -> pd.DataFrame:
    """Add an hourly `timestamp` column (ISO text, as in real files)."""
    stamps = pd.date_range(start, periods=len(frame), freq="h").strftime("%Y-%m-%dT%H:%M:%S")
    return frame.assign(timestamp=stamps)


def build_workspace(ws: Path, kind: str = "tabular") -> Path:
    """The workspace of one data kind (trained, scored, with runs.db); returns it."""
    return {"tabular": build_tabular, "timeseries": build_timeseries,
            "logs": build_logs}[kind](ws)


def build_tabular(ws: Path) -> Path:
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


def sensors(n: int, seed: int, machine: str, start: str) -> pd.DataFrame:
    """One machine's readings a minute apart: two coupled waves and a slow one, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    return pd.DataFrame({
        "timestamp": pd.date_range(start, periods=n, freq="min").strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": machine,
        "pressure": np.sin(t / 6) + 0.05 * rng.normal(size=n),
        "flow": 0.8 * np.sin(t / 6 + 0.5) + 0.05 * rng.normal(size=n),
        "temperature": np.cos(t / 11) + 0.05 * rng.normal(size=n),
    })


def machines(n: int, seeds: tuple[int, int], start: str) -> pd.DataFrame:
    """Machines m1 and m2, their rows interleaved in time order (as a plant's export is)."""
    both = pd.concat([sensors(n, seeds[0], "m1", start), sensors(n, seeds[1], "m2", start)])
    return both.sort_values("timestamp", kind="stable", ignore_index=True)


def build_timeseries(ws: Path) -> Path:
    """Train `pump` (window 6, grouped by machine); data/test.csv has one spike and labels."""
    (ws / "data").mkdir(parents=True)
    train = machines(160, (1, 2), "2024-01-01")
    test = machines(90, (3, 4), "2024-02-01")
    spike = (test["machine"] == SPIKE_MACHINE) & (test["timestamp"] == SPIKE_TIME)
    test.loc[spike, SPIKE_SENSOR] += 5.0
    train.to_csv(ws / "data" / "train.csv", index=False)
    test.assign(label=spike.astype(int)).to_csv(ws / "data" / "test.csv", index=False)
    detector = Detector("timeseries", time_col="timestamp", group_col="machine", window=6,
                        max_epochs=3, patience=0, batch_size=32, seed=0,
                        progress_bar=False).fit(train)
    detector.save(ws / "models", MODELS["timeseries"])
    score_file(detector, ws / "data" / "test.csv", ws / "scores" / "test.scored.csv")
    write_ledger(ws / "runs.db", np.asarray(detector.validation_scores_), MODELS["timeseries"])
    return ws


def write_log(path: Path, sessions: int, seed: int, odd: tuple[int, ...] = ()) -> None:
    """`sessions` block sessions 7 s apart, keys blk_<seed*1000+i>; sessions `odd` go wrong."""
    make_log(path, sessions, seed, dict.fromkeys(odd, NEW_TEMPLATE),
             start=datetime(2024, 3, 1) + timedelta(days=seed), first_key=seed * 1000)


def build_logs(ws: Path) -> Path:
    """Train `hdfs` on logs/train.log; score logs/test.log (session blk_2007 goes wrong);
    labels/test.csv labels its sessions."""
    (ws / "logs").mkdir(parents=True)
    (ws / "labels").mkdir()
    write_log(ws / "logs" / "train.log", 150, seed=1)
    write_log(ws / "logs" / "test.log", 30, seed=2, odd=(7,))
    keys = [f"blk_{2000 + i}" for i in range(30)]
    pd.DataFrame({"session": keys, "label": [int(k == ODD_SESSION) for k in keys]}).to_csv(
        ws / "labels" / "test.csv", index=False)
    detector = Detector("logs", session_regex=r"blk_-?\d+", max_epochs=5, patience=0,
                        batch_size=32, seed=0, progress_bar=False).fit([ws / "logs" / "train.log"])
    detector.save(ws / "models", MODELS["logs"])
    score_file(detector, ws / "logs" / "test.log", ws / "scores" / "test.scored.csv")
    write_ledger(ws / "runs.db", np.asarray(detector.validation_scores_), MODELS["logs"], ".log")
    return ws


def workspace_copy(base_temp: Path, target: Path, kind: str = "tabular") -> Path:
    """A copy of the workspace of one data kind, built once per test session (on first use)."""
    built = base_temp / f"dashboard-ws-{kind}"
    if not (built / "runs.db").exists():
        shutil.rmtree(built, ignore_errors=True)
        build_workspace(built, kind)
    shutil.copytree(built, target)
    return target


def write_ledger(path: Path, validation: np.ndarray, model: str = "toy", suffix: str = ".csv",
                 shift: float = 1.0) -> None:
    """Three ok files whose score quantiles are the validation ones (x shift), one failed file."""
    q = np.quantile(validation, [0.5, 0.9, 0.99, 1.0]) * shift
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(LEDGER_DDL)
        conn.execute("INSERT INTO runs VALUES ('r1','2024-03-01T10:00:00+00:00',"
                     "'2024-03-01T10:01:00+00:00',?,1,1,'inbox','outbox','local','failed',"
                     "3,1,0,300,4)", (model,))
        for i in range(3):
            conn.execute(
                "INSERT INTO files(run_id,input_path,input_sha256,model,model_version,"
                "threshold_version,threshold,status,rows,anomalies,anomaly_rate,score_p50,"
                "score_p90,score_p99,score_max,started_at,finished_at,seconds,output_path) VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                ("r1", f"inbox/part{i}{suffix}", f"{i}" * 64, model, 1, 1, float(q[2]), "ok", 100,
                 1 + i, (1 + i) / 100, *map(float, q), f"2024-03-01T10:0{i}:00+00:00",
                 f"2024-03-01T10:0{i}:30+00:00", 0.5, f"outbox/part{i}.scored.csv"))
        conn.execute(
            "INSERT INTO files(run_id,input_path,input_sha256,model,model_version,"
            "threshold_version,status,error,rows,anomalies,started_at) VALUES ('r1',"
            "'inbox/bad.csv',?,?,1,1,'failed',?,0,0,'2024-03-01T10:05:00+00:00')",
            ("9" * 64, model, FAILED_ERROR))
