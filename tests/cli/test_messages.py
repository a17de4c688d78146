"""What the CLI prints reads as plain words and tells the truth: thresholds as a person writes
them (and whether a change flags more or fewer items), labels used rather than called unused,
labels joined from a file of their own, and dates kept as the input wrote them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_tabular, run_main


@pytest.fixture
def private_ws(workspace: Path, tmp_path: Path) -> Path:
    shutil.copytree(workspace / "models" / "toy", tmp_path / "ws" / "models" / "toy")
    return tmp_path / "ws"


def test_threshold_change_reads_in_words(private_ws: Path) -> None:
    lower = run_main("threshold", "toy", "--method", "quantile", "--q", "0.5", "--dry-run",
                     "--workspace", str(private_ws))
    assert lower.returncode == 0, lower.stderr
    assert lower.stdout.startswith("quantile q=0.5 → threshold ")
    assert "lower, more rows will be flagged" in lower.stdout
    assert "{" not in lower.stdout  # no Python objects
    higher = run_main("threshold", "toy", "--method", "margin", "--margin", "3", "--dry-run",
                      "--workspace", str(private_ws))
    assert "margin 3× the largest validation score" in higher.stdout
    assert "higher, fewer rows will be flagged" in higher.stdout
    info = run_main("info", "toy", "--workspace", str(private_ws))
    assert "{" not in info.stdout and "best_epoch=" in info.stdout


def test_quantile_on_too_few_validation_rows_says_what_to_do(private_ws: Path) -> None:
    result = run_main("threshold", "toy", "--method", "quantile", "--q", "0.9999", "--dry-run",
                      "--workspace", str(private_ws))
    assert result.returncode == 0
    assert "placing it needs at least 10,000" in result.stderr
    assert "anomaly threshold toy --method margin" in result.stderr


def test_label_column_is_used_not_called_unused(workspace: Path,
                                                tabular_files: dict[str, Path]) -> None:
    result = run_main("evaluate", "toy", str(tabular_files["test"]), "--label-col", "label",
                      "--workspace", str(workspace))
    assert result.returncode == 0, result.stderr
    assert "does not use" not in result.stderr
    assert "300 rows, 15 labelled anomalies" in result.stdout


def test_labels_from_a_file_of_their_own(workspace: Path, tabular_files: dict[str, Path],
                                         tmp_path: Path) -> None:
    test = pd.read_csv(tabular_files["test"])
    test.drop(columns=["label"]).to_csv(tmp_path / "data.csv", index=False)
    labels = test[["row_id", "label"]].sample(frac=1.0, random_state=0)  # any order
    labels.to_csv(tmp_path / "labels.csv", index=False)
    joined = run_main("evaluate", "toy", str(tmp_path / "data.csv"), "--labels",
                      str(tmp_path / "labels.csv"), "--label-col", "label", "--json",
                      "--workspace", str(workspace))
    inline = run_main("evaluate", "toy", str(tabular_files["test"]), "--label-col", "label",
                      "--json", "--workspace", str(workspace))
    assert joined.returncode == 0, joined.stderr
    pick = ("roc_auc", "pr_auc", "anomalies")
    assert [json.loads(joined.stdout)[k] for k in pick] == \
        [json.loads(inline.stdout)[k] for k in pick]
    labels.iloc[1:].to_csv(tmp_path / "short.csv", index=False)
    missing = run_main("evaluate", "toy", str(tmp_path / "data.csv"), "--labels",
                       str(tmp_path / "short.csv"), "--label-col", "label",
                       "--workspace", str(workspace))
    assert missing.returncode == 2
    assert "short.csv: no label for 1 item(s)" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_dates_keep_their_notation_in_outputs(tmp_path: Path) -> None:
    frame = make_tabular(200, seed=3).drop(columns=["label"])
    frame["ts"] = pd.date_range("2024-03-31", periods=200, freq="min").strftime(
        "%Y-%m-%dT%H:%M:%S")
    frame.to_csv(tmp_path / "train.csv", index=False)
    ws = tmp_path / "ws"
    trained = run_main("train", str(tmp_path / "train.csv"), "--id-col", "row_id",
                       "--time-col", "ts", "--epochs", "2", "--no-progress",
                       "--workspace", str(ws))
    assert trained.returncode == 0, trained.stderr
    scored = run_main("score", "train", str(tmp_path / "train.csv"), "-o",
                      str(tmp_path / "out.csv"), "--workspace", str(ws))
    assert scored.returncode == 0, scored.stderr
    assert "200 rows, " in scored.stdout
    out = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert out["ts"].tolist() == frame["ts"].tolist()  # 2024-03-31T00:00:00, not ' ' for 'T'
