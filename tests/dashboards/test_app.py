"""Dashboard pages with Streamlit's AppTest on real workspaces (trained bundle, scored file), one
per data kind: tabular rows, a time series of two machines, HDFS-like log sessions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from anomaly.analysis.scored import slider_spec
from anomaly.analysis.threshold import picker_methods, starting_params
from anomaly.core.detector import Detector
from anomaly.core.thresholds import METHODS
from tests.dashboards.dashboard_ws import (
    EPOCHS,
    FAILED_ERROR,
    MODELS,
    ODD_SESSION,
    ODD_TEXT,
    SPIKE_MACHINE,
    SPIKE_SENSOR,
    workspace_copy,
)

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
BUNDLE = Path("models") / "toy" / "v1"


@pytest.fixture
def ws(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
       monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the workspace (tests change bundles), set as the dashboard's."""
    copy = workspace_copy(tmp_path_factory.getbasetemp(), tmp_path / "ws")
    monkeypatch.setenv("ANOMALY_WORKSPACE", str(copy))
    return copy


@pytest.fixture
def kind_ws(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """A private copy of the workspace of the kind in `request.param`, set as the dashboard's."""
    copy = workspace_copy(tmp_path_factory.getbasetemp(), tmp_path / "ws", request.param)
    monkeypatch.setenv("ANOMALY_WORKSPACE", str(copy))
    return copy


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(f"views/{page}.py")
    return at.run()


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r} in {[m.label for m in at.metric]}"
    return str(values[0])


def count(text: str) -> int:
    return int(text.replace(",", ""))


def scored_scores(ws: Path) -> np.ndarray:
    return pd.read_csv(ws / "scores" / "test.scored.csv")["anomaly_score"].to_numpy()


def on_grid(ws: Path, value: float) -> float:
    """`value` snapped onto the dashboard's threshold slider grid."""
    detector = Detector.load(ws / BUNDLE)
    spec = slider_spec(detector.validation_scores_, scored_scores(ws), detector.threshold_)
    return spec.snap(value)


def time_axes(at: AppTest) -> list[dict[str, Any]]:
    """The x encodings of the page's charts (layers included) that are on time fields."""
    found = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        for part in [spec, *spec.get("layer", [])]:
            x = part.get("encoding", {}).get("x", {})
            if x.get("field") in ("time", "started_at"):
                found.append(x)
    return found


def clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_anomalies_page_slider_changes_flagged_count(ws: Path) -> None:
    at = open_page("anomalies")
    clean(at)
    scores = scored_scores(ws)
    assert metric(at, "Rows") == f"{len(scores):,}"
    slider = at.slider(key="what_if:test.scored.csv")
    before = count(metric(at, "Flagged at this threshold"))
    assert before == int((scores > slider.value).sum())
    higher = on_grid(ws, float(np.quantile(scores, 0.99)))
    slider.set_value(higher).run()
    after = count(metric(at, "Flagged at this threshold"))
    assert after == int((scores > higher).sum()) < before
    assert len(at.get("vega_lite_chart")) >= 2  # score over time + error shares of the drill-down
    axes = time_axes(at)  # ten days of hourly rows: dates, about a tick a day, UTC
    assert axes and all(x["type"] == "temporal" and x["scale"]["type"] == "utc" for x in axes)
    assert {(x["axis"]["format"], x["axis"]["tickCount"]) for x in axes} == {("%Y-%m-%d", 9)}
    table = at.dataframe[0].value
    assert len(table) == after and table["anomaly_score"].is_monotonic_decreasing
    # drill-down: the input file is found by name, the row by id; shares sum to 1
    shares = at.dataframe[1].value
    assert set(shares.columns) >= {"feature", "value", "reconstruction", "error_share"}
    assert abs(float(shares["error_share"].sum()) - 1) < 1e-6


def test_training_page_shows_curves_and_settings(ws: Path) -> None:
    at = open_page("training")
    clean(at)
    meta = json.loads((ws / BUNDLE / "bundle.json").read_text())
    assert metric(at, "Best epoch (kept)") == str(meta["training"]["best_epoch"])
    assert metric(at, "Epochs run") == str(EPOCHS)
    assert len(at.get("vega_lite_chart")) == 2  # losses, learning rate
    assert at.success or at.warning  # the diagnosis is always shown


def test_threshold_page_counts_and_saves_a_new_version(ws: Path) -> None:
    at = open_page("threshold")
    clean(at)
    scores = scored_scores(ws)
    key = next(s.key for s in at.slider if s.key and s.key.startswith("thr:"))
    value = on_grid(ws, float(np.quantile(scores, 0.9)))
    at.slider(key=key).set_value(value).run()
    assert count(metric(at, "Flagged rows")) == int((scores > value).sum())
    assert metric(at, "Precision") and metric(at, "F1")  # labels joined from data/test.csv by id
    at.text_input(key="thr_why").input("fewer alerts")
    at.button[-1].click().run()  # the form's "Save threshold"
    clean(at)
    meta = json.loads((ws / BUNDLE / "bundle.json").read_text())
    assert meta["threshold"]["version"] == 2
    assert meta["threshold"]["value"] == pytest.approx(value)
    last = meta["threshold"]["history"][-1]
    assert last["why"] == "fewer alerts" and last["by"].startswith("dashboard")
    assert Detector.load(ws / BUNDLE).threshold_ == pytest.approx(value)  # later scoring uses it


def test_threshold_method_picker_moves_slider_and_saves_method(ws: Path) -> None:
    at = open_page("threshold")
    at.selectbox(key="thr_method").set_value("quantile").run()
    at.number_input(key="thr_quantile_q").set_value(0.9).run()
    at.button(key="thr_use").click().run()
    clean(at)
    detector = Detector.load(ws / BUNDLE)
    expected = float(np.quantile(detector.validation_scores_, 0.9))
    key = next(s.key for s in at.slider if s.key and s.key.startswith("thr:"))
    assert at.slider(key=key).value == pytest.approx(on_grid(ws, expected))
    at.button[-1].click().run()
    meta = json.loads((ws / BUNDLE / "bundle.json").read_text())
    assert meta["threshold"]["method"] == "quantile"
    assert meta["threshold"]["value"] == pytest.approx(expected)


def test_threshold_picker_starts_methods_at_their_core_defaults(ws: Path) -> None:
    at = open_page("threshold")
    assert at.selectbox(key="thr_method").options[0] == METHODS["manual"].title
    for method in picker_methods():
        at.selectbox(key="thr_method").set_value(method).run()
        assert not at.exception, method
        for name, start in starting_params(method).items():
            assert at.number_input(key=f"thr_{method}_{name}").value == pytest.approx(start)


def test_monitoring_page_shows_runs_failures_and_drift(ws: Path) -> None:
    at = open_page("monitoring")
    clean(at)
    assert metric(at, "Failed files") == "1" and metric(at, "Files scored") == "4"
    failed = at.table[0].value
    assert FAILED_ERROR in failed["error"].tolist()
    drift = [s.value for s in at.success if "PSI" in s.value]
    assert drift and "stable" in drift[0]  # ledger quantiles equal the validation ones
    axes = time_axes(at)  # runs 10:00-10:02: a 24-hour clock, a tick a minute, UTC
    assert len(axes) == 3 and all(x["type"] == "temporal" and x["scale"]["type"] == "utc"
                                  for x in axes)
    assert all(x["axis"] == {"format": "%H:%M", "tickCount": 2} for x in axes)  # 10:00 10:01 10:02


def test_monitoring_without_ledger_says_so(ws: Path) -> None:
    (ws / "runs.db").unlink()
    at = open_page("monitoring")
    assert not at.exception and "No runs yet" in at.info[0].value


# ------------------------------------------------------------------- time series and logs
def scored_of(ws: Path) -> pd.DataFrame:
    return pd.read_csv(ws / "scores" / "test.scored.csv")


@pytest.mark.parametrize("kind_ws", ["timeseries"], indirect=True)
def test_timeseries_drill_down_judges_the_timestamp_in_its_context(kind_ws: Path) -> None:
    at = open_page("anomalies")
    clean(at)
    scored = scored_of(kind_ws)
    assert metric(at, "Timestamps") == f"{len(scored):,}"
    assert count(metric(at, "Flagged at this threshold")) == 1
    spike = scored.loc[scored["anomaly_score"].idxmax()]
    drill = at.selectbox(key="drill_row")
    assert drill.format_func(drill.value) == f"{spike['timestamp']} · machine={SPIKE_MACHINE}"
    # the input file is found by name, the timestamp in it by time and machine (the file holds
    # both machines interleaved), and it is explained with the windows around it
    assert at.selectbox(key="input:test.csv").value == "data/test.csv"
    assert any("windows around it" in c.value and "'machine'" in c.value for c in at.caption)
    shares = at.dataframe[1].value
    assert shares["feature"].iloc[0] == SPIKE_SENSOR and shares["error_share"].iloc[0] > 0.9
    assert abs(float(shares["error_share"].sum()) - 1) < 1e-6
    summary = next(m.value for m in at.markdown if m.value.startswith("Score "))
    assert f"**{SPIKE_SENSOR}** carries" in summary
    assert summary.startswith(f"Score {spike['anomaly_score']:.4g} ")  # = its score in the file
    assert time_axes(at)  # the score over time: a UTC time axis
    assert any(c.value.startswith("The window ending at this timestamp") for c in at.caption)


@pytest.mark.parametrize("kind_ws", ["timeseries"], indirect=True)
def test_timeseries_drill_down_in_the_wrong_file_says_so(kind_ws: Path) -> None:
    at = open_page("anomalies")
    at.selectbox(key="input:test.csv").set_value("data/train.csv").run()
    assert "no timestamp with timestamp=2024-02-01T00:45:00, machine=m2" in error_text(at)


@pytest.mark.parametrize("kind_ws", ["logs"], indirect=True)
def test_logs_drill_down_shows_templates_and_raw_lines(kind_ws: Path) -> None:
    at = open_page("anomalies")
    clean(at)
    scored = scored_of(kind_ws)
    assert metric(at, "Sessions") == f"{len(scored):,}"
    odd = scored.set_index("session").loc[ODD_SESSION]
    drill = at.selectbox(key="drill_row")
    assert drill.format_func(drill.value) == (f"{ODD_SESSION} · lines {odd['first_line']}–"
                                              f"{odd['last_line']}")
    # the files a log model reads (no upload); the log file before the labels table of the
    # same name
    picker = at.selectbox(key="input:test.log")
    assert picker.value == "logs/test.log"
    assert picker.options == ["(none)", "labels/test.csv", "logs/test.log", "logs/train.log"]
    templates = at.dataframe[1].value
    assert templates["feature"].iloc[0] == "unknown templates"
    assert {"count", "reconstruction", "error_share"} <= set(templates.columns)
    summary = next(m.value for m in at.markdown if m.value.startswith("Score "))
    assert "**unknown templates** carries" in summary
    lines = at.code[0].value.splitlines()  # the session's raw lines, numbered as in the file
    assert len(lines) == odd["n_lines"]
    assert lines[0].startswith(f"{odd['first_line']}  ") and ODD_SESSION in lines[0]
    assert lines[-1].startswith(f"{odd['last_line']}  ")
    assert any(ODD_TEXT in line for line in lines)
    assert time_axes(at)  # sessions over time: when each one starts


@pytest.mark.parametrize("kind_ws", ["timeseries", "logs"], indirect=True)
def test_training_page_counts_what_each_kind_learns_from(kind_ws: Path) -> None:
    at = open_page("training")
    clean(at)
    name = next(iter((kind_ws / "models").iterdir())).name
    summary = json.loads((kind_ws / "models" / name / "v1" / "bundle.json").read_text())[
        "training"]
    if name == MODELS["timeseries"]:
        assert count(metric(at, "Training timestamps")) == summary["train_rows"]
        assert count(metric(at, "Training windows")) == summary["train_windows"]
        assert metric(at, "Window (rows)") == "6"
    else:
        assert count(metric(at, "Training sessions")) == summary["train_rows"]
        assert count(metric(at, "Log templates")) == summary["templates"] == 4
    assert len(at.get("vega_lite_chart")) == 2


@pytest.mark.parametrize("kind_ws", ["timeseries", "logs"], indirect=True)
def test_threshold_page_joins_labels_on_each_kinds_keys(kind_ws: Path) -> None:
    # time series: data/test.csv's label column, by timestamp and machine; logs: a table of
    # sessions (labels/test.csv), by session key
    at = open_page("threshold")
    clean(at)
    scores = scored_of(kind_ws)["anomaly_score"].to_numpy()
    key = next(s.key for s in at.slider if s.key and s.key.startswith("thr:"))
    noun = "sessions" if (kind_ws / "logs").exists() else "timestamps"
    assert count(metric(at, f"Flagged {noun}")) == int((scores > at.slider(key=key).value).sum())
    assert metric(at, "Precision") == "1.000" and metric(at, "Recall") == "1.000"
    at.selectbox(key="label_input").set_value("(none)").run()  # labels may be absent
    clean(at)
    assert not [m for m in at.metric if m.label == "Precision"]


@pytest.mark.parametrize("kind_ws", ["timeseries", "logs"], indirect=True)
def test_monitoring_page_for_each_kind(kind_ws: Path) -> None:
    at = open_page("monitoring")
    clean(at)
    assert metric(at, "Files scored") == "4" and metric(at, "Failed files") == "1"
    drift = [s.value for s in at.success if "PSI" in s.value]
    assert drift and "stable" in drift[0]


@pytest.mark.parametrize("kind_ws", ["logs"], indirect=True)
def test_monitoring_says_when_the_log_format_changed(kind_ws: Path) -> None:
    """The latest file of a log model with most lines matching no template: retrain, how."""
    import sqlite3

    from anomaly.jobs.ledger import Ledger

    assert "template drift" not in str(open_page("monitoring").error)  # a v1 ledger: no column
    Ledger(kind_ws).close()  # brought to the newest schema, as `anomaly batch` does
    with sqlite3.connect(kind_ws / "runs.db") as db:
        db.execute("UPDATE files SET unknown_share = 0.01 WHERE status = 'ok'")
    assert not [e for e in open_page("monitoring").error if "template drift" in e.value]
    with sqlite3.connect(kind_ws / "runs.db") as db:
        db.execute("UPDATE files SET unknown_share = 0.4 WHERE input_path LIKE '%part2%'")
    at = open_page("monitoring")
    assert not at.exception, [e.value for e in at.exception]
    drift = [e.value for e in at.error if "template drift" in e.value]
    assert drift and "40.0% of log lines match no training template" in drift[0]
    assert "anomaly train NORMAL.log --kind logs --session-regex 'blk_-?\\d+' --name" in drift[0]


# ------------------------------------------------------------------------------ bad input
def error_text(at: AppTest) -> str:
    assert not at.exception, [e.value for e in at.exception]
    assert at.error, "expected an st.error"
    return " ".join(e.value for e in at.error)


@pytest.mark.parametrize("page", ["anomalies", "training", "threshold"])
def test_empty_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    monkeypatch.setenv("ANOMALY_WORKSPACE", str(tmp_path))
    assert "No models" in error_text(open_page(page))


def test_missing_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANOMALY_WORKSPACE", str(tmp_path / "nowhere"))
    assert "does not exist" in error_text(open_page("anomalies"))


def test_corrupt_bundle(ws: Path) -> None:
    (ws / BUNDLE / "bundle.json").write_text("{not json")
    assert "corrupt JSON" in error_text(open_page("training"))


def test_tampered_bundle(ws: Path) -> None:
    with (ws / BUNDLE / "history.csv").open("a") as handle:
        handle.write("99,0,0,0,0\n")
    assert "SHA-256 does not match" in error_text(open_page("anomalies"))


def test_missing_bundle_file(ws: Path) -> None:
    (ws / BUNDLE / "model.safetensors").unlink()
    assert "missing from the bundle" in error_text(open_page("threshold"))


def test_scored_file_of_another_model(ws: Path) -> None:
    pd.DataFrame({"tx": ["a", "b"], "anomaly_score": [1.0, 2.0], "score_percentile": [0.1, 0.2],
                  "is_anomaly": [False, True], "top_features": ["amount 90%", "hour 60%"]}
                 ).to_csv(ws / "scores" / "test.scored.csv", index=False)
    assert "scored by another model" in error_text(open_page("anomalies"))


def test_file_without_scores(ws: Path) -> None:
    shutil.copy(ws / "data" / "test.csv", ws / "scores" / "test.scored.csv")
    assert "not a scored file" in error_text(open_page("threshold"))


@pytest.mark.parametrize(("name", "content", "message"), [
    ("picture.png", b"\x89PNG\r\n\x1a\n\x00\x00", "not a CSV or Parquet file"),
    ("fake.csv", b"\x89PNG\r\n\x1a\n\x00\x00", "binary file"),
])
def test_upload_that_is_not_a_csv(ws: Path, name: str, content: bytes, message: str) -> None:
    at = open_page("anomalies")
    at.selectbox(key="scored").set_value("Upload a scored file…").run()
    at.file_uploader(key="scored_upload").upload(name, content).run()
    assert message in error_text(at)


def test_server_warm_up_loads_the_first_page_before_any_visit(ws: Path) -> None:
    """`dashboards/serve.py` imports the pages' modules and loads the default model and the
    newest scored file (its times parsed) into the shared caches before the server opens: the
    first visit finds them there, and shows what a visit without the warm-up shows."""
    from dashboards import common, serve

    common._scored.clear()
    common._times.clear()
    shown = {m.label: m.value for m in open_page("anomalies").metric}
    common._scored.clear()
    common._times.clear()
    common._detector.clear()
    serve.warm_up()
    reads: list[Path] = []
    original = common.read_scored
    common.read_scored = lambda path: reads.append(path) or original(path)  # type: ignore[assignment]
    try:
        warm = open_page("anomalies")
    finally:
        common.read_scored = original  # type: ignore[assignment]
    assert not warm.exception and reads == []  # the first visit read nothing itself
    assert {m.label: m.value for m in warm.metric} == shown
    common.prefetch(ws / "nowhere")  # an empty workspace: nothing to load, no error
