"""`anomaly feedback` (list and export the analysts' marks) and `anomaly threshold --method f1
--from-feedback` (the marks as labels), on a real workspace and runs.db."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from anomaly.jobs.feedback import Mark, read_marks, save_mark
from tests.conftest import run_main, score_toy, toy_meta

SCORED = "scores/test.scored.parquet"


@pytest.fixture
def ws(workspace: Path, tmp_path: Path, tabular_files: dict[str, Path]) -> Path:
    """A workspace with model toy, its scored test file and marks on its top 6 rows: the 4
    highest confirmed, the next 2 false alarms."""
    ws = tmp_path / "ws"
    shutil.copytree(workspace / "models", ws / "models")
    scored = score_toy(ws, tabular_files["test"], ws / SCORED)
    top = scored.nlargest(6, "anomaly_score")
    for i, (_, row) in enumerate(top.iterrows()):
        save_mark(ws, Mark("toy", 1, SCORED, json.dumps({"row_id": row["row_id"]}),
                           "confirmed" if i < 4 else "false_alarm", row=int(row.name) + 1,
                           anomaly_score=float(row["anomaly_score"]),
                           note="checked" if i == 4 else "", marked_by="ana"))
    return ws


def test_feedback_lists_and_exports_marks(ws: Path, tmp_path: Path) -> None:
    result = run_main("feedback", "toy", "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["verdict", "model", "score"] and len(lines) == 8
    assert lines[-1] == "6 mark(s): 4 confirmed, 2 false alarm(s)"
    assert sum("false_alarm" in line for line in lines) == 2 and "checked" in lines[5]

    export = tmp_path / "marks.csv"
    result = run_main("feedback", "toy", "--export", str(export), "--workspace", str(ws))
    assert result.returncode == 0 and "wrote 6 mark(s)" in result.stdout
    table = pd.read_csv(export)
    assert table.columns.tolist() == ["model", "model_version", "scored_file", "item", "row",
                                      "anomaly_score", "verdict", "note", "marked_by",
                                      "marked_at"]
    assert table["verdict"].value_counts().to_dict() == {"confirmed": 4, "false_alarm": 2}
    assert (table["scored_file"] == SCORED).all() and (table["marked_by"] == "ana").all()
    assert table["anomaly_score"].is_monotonic_decreasing

    assert "no marks for toy@2" in run_main("feedback", "toy@2", "--workspace",
                                            str(ws)).stdout
    assert "no marks for other" in run_main("feedback", "other", "--workspace",
                                            str(tmp_path)).stdout  # no runs.db at all


def test_threshold_f1_from_feedback_moves_only_as_far_as_the_marks_justify(ws: Path) -> None:
    marks = read_marks(ws, "toy").sort_values("anomaly_score", ascending=False)
    top = marks["anomaly_score"].to_numpy()
    old = toy_meta(ws)["threshold"]["value"]
    assert (top > old).all()  # all six were flagged
    result = run_main("threshold", "toy", "--method", "f1", "--from-feedback",
                      "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    assert "6 reviewed item(s), 4 confirmed" in result.stdout
    meta = toy_meta(ws)["threshold"]
    # the lowest threshold that drops both false alarms: the higher one's score
    assert meta["method"] == "f1" and meta["value"] == top[4]
    assert meta["params"] == {"f1": 1.0, "reviewed": 6.0}
    scored = pd.read_parquet(ws / SCORED)
    unreviewed = scored[~scored["row_id"].isin(marks["item"].map(lambda t: json.loads(t)[
        "row_id"]))]
    assert (unreviewed["anomaly_score"] <= top[4]).all()  # nothing unreviewed in between

    # the two were real after all: the threshold comes down just below the lower one …
    for i in (4, 5):
        save_mark(ws, Mark("toy", 1, SCORED, marks["item"].iloc[i], "confirmed",
                           anomaly_score=float(top[i])))
    assert run_main("threshold", "toy", "--method", "f1", "--from-feedback",
                    "--workspace", str(ws)).returncode == 0
    lowered = toy_meta(ws)["threshold"]["value"]
    assert lowered == math.nextafter(top[5], -math.inf) and lowered > old
    # … and marks that agree with the threshold leave it where it is
    result = run_main("threshold", "toy", "--method", "f1", "--from-feedback", "--dry-run",
                      "--workspace", str(ws))
    assert f"threshold {lowered:.4g} (was {lowered:.4g})" in result.stdout


@pytest.mark.parametrize(("extra", "message"), [
    (("--method", "pot"), "--from-feedback is for --method f1"),
    (("--method", "f1", "--data", "x.csv"), "two sources of labels"),
])
def test_from_feedback_misuse_exits_2(ws: Path, extra: tuple[str, ...], message: str) -> None:
    result = run_main("threshold", "toy", *extra, "--from-feedback", "--workspace", str(ws))
    assert result.returncode == 2 and message in result.stderr


def test_from_feedback_without_confirmed_marks_exits_2(workspace: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(workspace / "models", ws / "models")
    save_mark(ws, Mark("toy", 1, SCORED, '{"row_id": "r1"}', "false_alarm", anomaly_score=9.0))
    result = run_main("threshold", "toy", "--method", "f1", "--from-feedback",
                      "--workspace", str(ws))
    assert result.returncode == 2 and "no item of model version 1 is marked confirmed" in \
        result.stderr
    assert toy_meta(ws)["threshold"]["version"] == 1  # nothing saved
