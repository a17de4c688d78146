"""Logs: raw lines / CSV events → sessions → templates → scores, explain, and bad input."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomaly.errors import InputError
from anomaly.kinds.logs.options import LogOptions, log_options
from anomaly.kinds.logs.sessions import read_sessions
from tests.conftest import ROOT
from tests.conftest import run_cli as _run_cli
from tests.kinds.logs.logkit import NEW_TEMPLATE, make_log


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI, with one torch thread (2 shared cores: more threads only contend)."""
    return _run_cli(*args, env={"OMP_NUM_THREADS": "1"})


FAST = {"max_epochs": 12, "patience": 0, "batch_size": 32, "progress_bar": False}
REGEX = r"blk_-?\d+"


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("logs")
    make_log(folder / "train_a.log", 160, seed=1)
    make_log(folder / "train_b.log.gz", 160, seed=2)
    keys = make_log(folder / "test.log", 40, seed=3, odd={5: NEW_TEMPLATE})
    # a line with bytes that are not UTF-8 and an over-long line (both kept, reported)
    with (folder / "test.log").open("ab") as handle:
        handle.write(b"2024-01-01 00:10:00 INFO dfs.DataNode: PacketResponder 1 for block "
                     b"blk_300001 terminating \xff\xfe\n")
        handle.write(b"2024-01-01 00:10:01 INFO dfs.DataNode: blk_300002 " + b"x" * 300 + b"\n")
    ws = folder / "ws"
    result = run_cli("train", str(folder / "train_a.log"), str(folder / "train_b.log.gz"),
                     "--kind", "logs", "--session-regex", REGEX, "--name", "hdfs",
                     "--epochs", "10", "--batch-size", "32", "--patience", "0", "--no-progress",
                     "--max-line-length", "200", "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    return {"folder": folder, "ws": ws, "keys": keys, "train": result}


@pytest.mark.slow
def test_train_score_end_to_end(logs: dict[str, object]) -> None:
    folder, ws = Path(str(logs["folder"])), Path(str(logs["ws"]))
    assert "templates" in logs["train"].stdout  # type: ignore[attr-defined]
    out = folder / "test.scored.csv"
    result = run_cli("score", "hdfs", str(folder / "test.log"), "-o", str(out),
                     "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    assert "40 sessions, " in result.stdout  # items are named as the model counts them
    # undecodable bytes are replaced and counted; the over-long line is cut with a note
    assert "1 line(s) held bytes that are not UTF-8 (first at line" in result.stderr
    assert "1 line(s) longer than 200 characters were cut" in result.stderr
    scored = pd.read_csv(out)
    assert scored.columns.tolist() == ["session", "first_line", "last_line", "first_time",
                                       "last_time", "n_lines", "anomaly_score",
                                       "score_percentile", "is_anomaly", "top_features"]
    assert len(scored) == 40  # the two odd lines belong to blk_300001 and blk_300002
    first = scored.iloc[0]
    assert first["session"] == "blk_300000" and first["first_line"] == 1
    assert first["first_time"] == "2024-01-01T00:00:00"
    assert (scored["last_line"] >= scored["first_line"]).all()
    # the session with a template never seen in training scores highest, and says why
    # (the sessions with the undecodable and the cut line hold unknown templates too)
    odd_keys = {logs["keys"][5], "blk_300001", "blk_300002"}  # type: ignore[index]
    top3 = set(scored.nlargest(3, "anomaly_score")["session"])
    assert top3 == odd_keys
    odd = scored.set_index("session").loc[logs["keys"][5]]  # type: ignore[index]
    assert odd["is_anomaly"] and "unknown templates" in odd["top_features"]
    normal = scored[~scored["session"].isin(odd_keys)]
    assert normal["anomaly_score"].max() < odd["anomaly_score"] / 10
    assert normal["is_anomaly"].mean() < 0.1
    assert (scored["is_anomaly"] == (scored["anomaly_score"] > _threshold(ws))).all()


def _threshold(ws: Path) -> float:
    bundle = next((ws / "models" / "hdfs").glob("v*")) / "bundle.json"
    return float(json.loads(bundle.read_text())["threshold"]["value"])


@pytest.mark.slow
def test_bundle_holds_templates_as_json_and_no_pickle(logs: dict[str, object]) -> None:
    ws = Path(str(logs["ws"]))
    folder = next((ws / "models" / "hdfs").glob("v*"))
    meta = json.loads((folder / "bundle.json").read_text())
    assert meta["kind"] == "logs"
    templates = meta["features"]["templates"]
    texts = [t["template"] for t in templates]
    assert len(texts) == 4 and all(isinstance(t, str) for t in texts)
    assert any(t.startswith("INFO dfs.DataNode: Receiving block blk_<NUM>") for t in texts)
    assert meta["features"]["drain"]["masks"] and meta["features"]["options"]["session_regex"]
    for path in folder.iterdir():
        data = path.read_bytes()
        assert b"py/object" not in data and b"jsonpickle" not in data, path
        assert not data.startswith(b"\x80"), path  # pickle protocol header
    for source in (ROOT / "anomaly").rglob("*.py"):
        text = source.read_text()
        assert not re.search(r"^\s*(import|from) (jsonpickle|pickle|joblib)\b", text, re.M), source


@pytest.mark.slow
def test_evaluate_joins_session_labels_from_a_file(logs: dict[str, object]) -> None:
    folder, ws = Path(str(logs["folder"])), Path(str(logs["ws"]))
    keys = [str(k) for k in logs["keys"]]  # type: ignore[attr-defined]
    labels = pd.DataFrame({"session": keys, "label": [int(i == 5) for i in range(len(keys))]})
    labels.to_csv(folder / "labels.csv", index=False)
    result = run_cli("evaluate", "hdfs", str(folder / "test.log"), "--labels",
                     str(folder / "labels.csv"), "--label-col", "label", "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    assert "40 sessions, 1 labelled anomalies" in result.stdout


@pytest.mark.slow
def test_explain_prints_raw_lines(logs: dict[str, object]) -> None:
    folder, ws = Path(str(logs["folder"])), Path(str(logs["ws"]))
    key = logs["keys"][5]  # type: ignore[index]
    result = run_cli("explain", "hdfs", str(folder / "test.log"), "--session", str(key),
                     "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    assert "ANOMALY" in result.stdout and "unknown templates" in result.stdout
    assert "Disk failure on volume" in result.stdout  # the raw line itself
    assert result.stdout.count(str(key)) >= 6
    from anomaly.cli.score import explain  # an unknown key: a clear error (exit 2 in the CLI)

    with pytest.raises(InputError, match="no session 'blk_nope'"):
        explain("hdfs", folder / "test.log", session="blk_nope", workspace=ws)




@pytest.mark.slow
def test_bad_input_exits_2(tmp_path: Path) -> None:
    binary = tmp_path / "bin.log"
    binary.write_bytes(b"\x7fELF\x00\x01\x02" * 50)
    empty = tmp_path / "empty.log"
    empty.write_text("\n\n  \n")
    plain = tmp_path / "plain.log"
    make_log(plain, 5, seed=9)
    cases = [(binary, REGEX, "looks like a binary file"),
             (empty, REGEX, "the log is empty"),
             (plain, r"req-\d+", "--session-regex 'req-\\\\d+' matches none")]
    for path, regex, message in cases:
        result = run_cli("train", str(path), "--kind", "logs", "--session-regex", regex,
                         "--workspace", str(tmp_path))
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
    # the regex error shows three sample lines of the file
    assert result.stderr.count("INFO dfs.") == 3
    assert not (tmp_path / "models").exists()


def test_options_and_windows(tmp_path: Path) -> None:
    assert log_options(session_window="5m").window == 300
    assert log_options(session_window="2h").window == 7200
    with pytest.raises(InputError, match="--session-window 'soon'"):
        log_options(session_window="soon")
    with pytest.raises(InputError, match="exactly one of --session-regex"):
        log_options()
    with pytest.raises(InputError, match="not a valid regular expression"):
        log_options(session_regex="blk_(")
    path = tmp_path / "w.log.gz"
    make_log(path, 30, seed=4)  # 30 sessions 7 s apart = 210 s of lines
    frame, fmt = read_sessions([path], log_options(session_window="1m"))
    assert fmt == "iso" and frame.columns[0] == "window"
    assert frame["window"].tolist()[:2] == ["2024-01-01T00:00:00", "2024-01-01T00:01:00"]
    assert frame["n_lines"].sum() == sum(len(items) for items in frame["_items"])
    assert len(frame) == 4


def test_old_window_flag_still_cuts_time_windows(tmp_path: Path, one_thread: None) -> None:
    """`--kind logs --window 5m` (before --session-window) trains with a one-line note."""
    from tests.conftest import run_main

    path = tmp_path / "app.log"
    make_log(path, 120, seed=6)
    result = run_main("train", str(path), "--kind", "logs", "--window", "30s", "--epochs", "2",
                      "--no-progress", "--workspace", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "--window for logs is now --session-window" in result.stderr
    from anomaly import load_detector

    det = load_detector("app", tmp_path / "models")
    assert det.kind == "logs" and det.meta_["kind"] == "logs"
    assert det.features_.options.window == 30.0
    assert det.meta_["features"]["templates"]  # a log bundle, not a tabular one labelled logs


def test_time_windows_and_csv_events_train_and_score(tmp_path: Path, one_thread: None
                                                      ) -> None:
    from anomaly import Detector

    # time windows over a .gz log
    path = tmp_path / "win.log.gz"
    make_log(path, 240, seed=5)
    det = Detector("logs", session_window="30s", **FAST).fit([path])
    scored = det.score_frame(det.read([path]))
    assert scored.columns[0] == "window" and len(scored) == 56
    # a CSV of events, one event per row, and the same sessions one per row
    rng = np.random.default_rng(0)
    rows, seqs = [], []
    for s in range(200):
        events = ["E5", "E22", *["E11"] * int(rng.integers(1, 4)), "E9"]
        rows += [{"req": f"r{s}", "ev": e, "ts": f"2024-01-01 00:{s % 60:02d}:00"} for e in events]
        seqs.append({"req": f"r{s}", "events": " ".join(events), "label": 0})
    seqs.append({"req": "bad", "events": "E5 E22 E7 E7 E7", "label": 1})
    pd.DataFrame(rows).to_csv(tmp_path / "events.csv", index=False)
    pd.DataFrame(seqs).to_csv(tmp_path / "seqs.csv", index=False)
    by_event = Detector("logs", session_col="req", event_col="ev", time_col="ts", **FAST)
    by_event.fit([tmp_path / "events.csv"])
    out = by_event.score_frame(by_event.read([tmp_path / "events.csv"]))
    assert out.columns[0] == "req" and out["first_time"].iloc[0] == "2024-01-01 00:00:00"
    assert len(out) == 200 and out["n_lines"].min() >= 4
    by_seq = Detector("logs", session_col="req", sequence_col="events", label_col="label", **FAST)
    by_seq.fit([tmp_path / "seqs.csv"])
    out = by_seq.score_frame(pd.read_csv(tmp_path / "seqs.csv"))  # a plain table works too
    assert out.columns[0] == "req" and len(out) == 201
    assert out["anomaly_score"].idxmax() == 200  # unseen event E7 → top score, no crash
    assert bool(out["is_anomaly"].iloc[200])
    assert isinstance(by_seq.features_.options, LogOptions)


@pytest.mark.slow
def test_template_drift_is_noted_and_recorded(logs: dict[str, object]) -> None:
    """A log in a new format (lines no training template matches): the CLI says to retrain,
    and the batch ledger records the share of such lines per file."""
    import sqlite3

    folder, ws = Path(str(logs["folder"])), Path(str(logs["ws"]))
    inbox, outbox = folder / "inbox", folder / "outbox"
    inbox.mkdir()
    lines = [f"2024-02-01 00:00:{i % 60:02d} WARN storage.v2 block=blk_{i % 7} moved to tier "
             f"{i % 3} after {i} ms" for i in range(60)]
    (inbox / "new_format.log").write_text("\n".join(lines) + "\n")
    make_log(inbox / "same_format.log", 20, seed=8)
    result = run_cli("score", "hdfs", str(inbox / "new_format.log"), "-o",
                     str(folder / "nf.csv"), "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    assert "100.0% of log lines match no training template (limit 5%)" in result.stdout
    assert f"anomaly train NORMAL.log --kind logs --session-regex '{REGEX}' --name hdfs" \
        in result.stdout
    result = run_cli("batch", "hdfs", "--inbox", str(inbox), "--outbox", str(outbox),
                     "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("match no training template") == 1
    assert "same_format.log: 20 sessions, " in result.stdout  # counted as the model counts
    db = sqlite3.connect(ws / "runs.db")
    shares = dict(db.execute("SELECT input_path, unknown_share FROM files"))
    assert shares[str((inbox / "new_format.log").resolve())] == 1.0
    assert shares[str((inbox / "same_format.log").resolve())] == 0.0
