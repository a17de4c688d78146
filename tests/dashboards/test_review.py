"""Analyst feedback on the dashboard (AppTest, real workspace and runs.db): marking flagged rows
on the Anomalies page, precision among reviewed rows on the Threshold page, and the health
advice of the Monitoring page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomaly.core.detector import Detector
from anomaly.jobs.feedback import Mark, read_marks, save_mark
from tests.dashboards.dashboard_ws import write_ledger
from tests.dashboards.test_app import BUNDLE, clean, metric, open_page, ws  # noqa: F401  (ws: the fixture)

SCORED = "scores/test.scored.csv"


def flagged(folder: Path) -> pd.DataFrame:
    scored = pd.read_csv(folder / SCORED)
    return scored[scored["is_anomaly"]].sort_values("anomaly_score", ascending=False)


def mark_all(folder: Path, verdict: str, rows: pd.DataFrame) -> None:
    for _, row in rows.iterrows():
        save_mark(folder, Mark("toy", 1, SCORED, f'{{"row_id": "{row["row_id"]}"}}', verdict,
                           anomaly_score=float(row["anomaly_score"]), marked_by="test"))


def test_anomalies_page_marks_a_flagged_row_and_shows_it(ws: Path) -> None:  # noqa: F811
    at = open_page("anomalies")
    clean(at)
    top = flagged(ws).iloc[0]
    assert at.selectbox(key="drill_row").value == 0  # the highest flagged row
    at.radio(key="review_verdict").set_value("false_alarm")
    at.text_input(key="review_note").input("pump test run")
    at.button(key="review_save").click().run()
    clean(at)
    marks = read_marks(ws, "toy")
    assert len(marks) == 1
    mark = marks.iloc[0]
    assert (mark["scored_file"], mark["item"], mark["verdict"], mark["note"]) == (
        SCORED, f'{{"row_id": "{top["row_id"]}"}}', "false_alarm", "pump test run")
    assert mark["model_version"] == 1 and mark["anomaly_score"] == pytest.approx(
        top["anomaly_score"])
    table = at.dataframe[0].value
    assert table.loc[table["row_id"] == top["row_id"], "review"].tolist() == [
        "false alarm: pump test run"]
    assert (table.loc[table["row_id"] != top["row_id"], "review"] == "").all()
    assert any("Marked false alarm" in m.value for m in at.markdown)

    at.radio(key="review_verdict").set_value("confirmed")  # a second mark replaces the first
    at.text_input(key="review_note").input("")
    at.button(key="review_save").click().run()
    clean(at)
    marks = read_marks(ws, "toy")
    assert marks["verdict"].tolist() == ["confirmed"] and marks["note"].tolist() == [""]
    assert at.dataframe[0].value["review"].iloc[0] == "confirmed"


def test_threshold_page_shows_precision_among_reviewed_rows(ws: Path) -> None:  # noqa: F811
    rows = flagged(ws)
    assert len(rows) >= 3
    mark_all(ws, "confirmed", rows.head(2))
    mark_all(ws, "false_alarm", rows.iloc[2:3])
    at = open_page("threshold")
    clean(at)
    key = next(s.key for s in at.slider if s.key and s.key.startswith("thr:"))
    threshold = at.slider(key=key).value
    above = rows.head(3)[rows.head(3)["anomaly_score"] > threshold]
    expected = (above.index.isin(rows.head(2).index)).mean()
    assert metric(at, "Precision among reviewed") == f"{expected:.2f}"
    # the picker's best F1 on the marks: between the false alarm and the confirmed rows
    at.selectbox(key="label_input").set_value("(none)").run()
    at.selectbox(key="thr_method").set_value("f1").run()
    clean(at)
    assert at.checkbox(key="thr_from_marks").value
    value = float(next(m.value for m in at.markdown if "→ threshold" in m.value)
                  .split("**")[1])
    shown = float(f"{rows['anomaly_score'].iloc[2]:.6g}")  # the page shows 6 significant digits
    assert shown <= value < rows["anomaly_score"].iloc[1]


def test_monitoring_page_recommends_retraining_on_drift(ws: Path) -> None:  # noqa: F811
    validation = np.asarray(Detector.load(ws / BUNDLE).validation_scores_)
    (ws / "runs.db").unlink()
    write_ledger(ws / "runs.db", validation, shift=4.0)  # every file's scores 4x higher
    at = open_page("monitoring")
    assert not at.exception
    assert any("major" in e.value for e in at.error)  # the drift signal itself
    advice = [w.value for w in at.warning if "has drifted" in w.value]
    assert advice and "`anomaly train RECENT_NORMAL.csv --name toy`" in advice[0]
    assert "last 3 scored files each have a PSI above 0.25" in advice[0]


def test_monitoring_page_recommends_recalibrating_on_false_alarms(ws: Path) -> None:  # noqa: F811
    rows = flagged(ws)
    mark_all(ws, "false_alarm", rows.head(5))
    at = open_page("monitoring")
    clean(at)
    advice = [w.value for w in at.warning if "false alarms" in w.value]
    assert advice and "5 of its last 5 reviewed flags (100%" in advice[0]
    assert "`anomaly threshold toy --method f1 --from-feedback`" in advice[0]
    assert not [w for w in at.warning if "has drifted" in w.value]
