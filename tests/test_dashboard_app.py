"""Dashboard pages with Streamlit's AppTest on a real workspace (trained bundle, scored file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dashboard_ws import EPOCHS, FAILED_ERROR, workspace_copy
from streamlit.testing.v1 import AppTest

from anomaly.analysis.scored import slider_spec
from anomaly.analysis.threshold import picker_methods, starting_params
from anomaly.core.detector import Detector
from anomaly.core.thresholds import METHODS

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")
BUNDLE = Path("models") / "toy" / "v1"


@pytest.fixture
def ws(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
       monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the workspace (tests change bundles), set as the dashboard's."""
    copy = workspace_copy(tmp_path_factory.getbasetemp(), tmp_path / "ws")
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
