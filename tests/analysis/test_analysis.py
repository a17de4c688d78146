"""What the dashboard computes (anomaly.analysis): safe paths, checks, reductions, time axes,
diagnostics, threshold methods, drift, the run ledger."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomaly.analysis import monitoring, scored, threshold, timeline, training, workspace
from anomaly.errors import InputError, SchemaError
from tests.dashboards.dashboard_ws import LEDGER_DDL

META = {"name": "toy", "version": 1, "schema": {"columns": [
    {"name": "a", "role": "feature"}, {"name": "b", "role": "feature"},
    {"name": "row_id", "role": "id"}, {"name": "ts", "role": "time"}]}}


def scored_frame(n: int = 10) -> pd.DataFrame:
    scores = np.arange(n, dtype=float)
    return pd.DataFrame({"row_id": [f"r{i}" for i in range(n)],
                         "ts": pd.date_range("2024-01-01", periods=n, freq="h").astype(str),
                         "anomaly_score": scores, "score_percentile": scores / n,
                         "is_anomaly": scores > 6, "top_features": ["a 80%, b 20%"] * n})


def test_inside_refuses_paths_outside_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "scores").mkdir()
    assert workspace.inside(tmp_path, "scores") == (tmp_path / "scores").resolve()
    for bad in ("../x.csv", "/etc/passwd", "scores/../../x"):
        with pytest.raises(InputError, match="outside the workspace"):
            workspace.inside(tmp_path, bad)
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(InputError, match="outside the workspace"):
        workspace.inside(tmp_path, "link/passwd")


def test_listing_and_guessing_inputs(tmp_path: Path) -> None:
    for name in ("scores/t.scored.csv", "data/t.csv", "models/m/x.csv", "notes.txt", "u.parquet"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("a\n1\n")
    assert [p.name for p in workspace.list_scored(tmp_path)] == ["t.scored.csv"]
    inputs = workspace.list_inputs(tmp_path)
    assert sorted(p.name for p in inputs) == ["t.csv", "u.parquet"]  # not models/ or scores/
    guessed = workspace.guess_input(tmp_path / "scores" / "t.scored.csv", inputs)
    assert guessed == tmp_path / "data/t.csv"
    assert workspace.list_scored(tmp_path / "nothing") == []


def test_check_scored_accepts_own_and_refuses_foreign_files() -> None:
    scored.check_scored(scored_frame(), META, "s.csv")
    with pytest.raises(SchemaError, match="not a scored file"):
        scored.check_scored(scored_frame().drop(columns=["anomaly_score"]), META, "s.csv")
    with pytest.raises(SchemaError, match=r"row_id.*another model"):
        scored.check_scored(scored_frame().drop(columns=["row_id"]), META, "s.csv")
    with pytest.raises(SchemaError, match=r"amount.*another model"):
        scored.check_scored(scored_frame().assign(top_features="amount 90%"), META, "s.csv")


def test_read_upload_refuses_other_types_and_big_files() -> None:
    assert workspace.read_upload("x.csv", b"a,b\n1,2\n", 100).shape == (1, 2)
    with pytest.raises(InputError, match="not a CSV or Parquet"):
        workspace.read_upload("x.xlsx", b"PK\x03\x04", 100)
    with pytest.raises(InputError, match="upload limit"):
        workspace.read_upload("x.csv", b"a,b\n1,2\n" * 50, 100)
    with pytest.raises(InputError, match="binary"):
        workspace.read_upload("x.csv", b"\x00\x01\x02", 100)


def test_slider_spec_grid_covers_scores_and_threshold() -> None:
    spec = scored.slider_spec(np.array([0.1, 0.5, 1.0]), np.array([0.2, 3.0]), 0.987654)
    assert spec.lo == 0 and spec.hi >= 3.0 and spec.step == 0.001 and spec.decimals == 3
    assert spec.value == 0.988 and spec.format == "%.3f"
    assert spec.snap(99.0) == spec.hi and spec.snap(-1) == 0.0


def test_flagged_rows_filter_sort_and_cap() -> None:
    frame = scored_frame(10).assign(top_features=["a 90%"] * 5 + ["b 90%"] * 5)
    rows, total = scored.flagged_rows(frame, 2.5)
    assert total == 7 and rows["anomaly_score"].tolist() == [9, 8, 7, 6, 5, 4, 3]
    assert rows["row"].tolist() == [10, 9, 8, 7, 6, 5, 4]  # 1-based row of the scored file
    rows, total = scored.flagged_rows(frame, 2.5, contains="A 9", min_score=3.5)
    assert total == 1 and rows["anomaly_score"].tolist() == [4]
    rows, total = scored.flagged_rows(frame, -1, limit=3)
    assert total == 10 and rows["anomaly_score"].tolist() == [9, 8, 7]


def test_time_reductions_bound_the_points() -> None:
    n = 100_000
    times = timeline.parse_times(pd.Series(pd.date_range("2024-01-01", periods=n, freq="min")))
    assert times is not None
    scores = np.zeros(n)
    scores[[10, 5000, 99_999]] = [5.0, 7.0, 9.0]
    line = timeline.score_over_time(times, scores, bins=100)
    assert len(line) == 100 and line["max"].max() == 9.0 and line["p50"].max() == 0.0
    points = timeline.flagged_points(times, scores, 6.0, limit=1)
    assert points["score"].tolist() == [9.0] and points["row"].tolist() == [100_000]
    assert timeline.parse_times(pd.Series(["x", "y"])) is None


def stamps(*texts: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(texts)))


MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


def test_time_axis_format_follows_the_data_range() -> None:
    minutes = timeline.time_axis(stamps("2024-01-01 00:52", "2024-01-01 01:40"))
    assert minutes == timeline.TimeAxis("%H:%M", 5 * MINUTE, 9)  # 48 min: 10 ticks at most
    day = timeline.time_axis(stamps("2024-01-01 00:00", "2024-01-02 00:00"))  # exactly a day
    assert (day.format, day.step_ms, day.ticks) == ("%H:%M", 3 * HOUR, 8)
    days = timeline.time_axis(stamps("2024-01-01 00:00", "2024-01-02 00:01"))
    assert (days.format, days.step_ms) == ("%b %d %H:%M", 3 * HOUR)
    ten = timeline.time_axis(stamps("2024-02-01 00:00", "2024-02-10 23:00"))
    assert (ten.format, ten.step_ms, ten.ticks) == ("%Y-%m-%d", DAY, 9)
    year = timeline.time_axis(stamps("2024-01-01 00:00", "2024-01-08 00:01", "2024-12-01 12:00"))
    assert (year.format, year.step_ms, year.domain_ms) == ("%Y-%m-%d", 90 * DAY, None)
    decades = timeline.time_axis(stamps("2000-01-01 00:00", "2030-01-01 00:00"))
    assert decades.step_ms == 4 * 365 * DAY and decades.ticks <= 10


def test_time_axis_ticks_are_never_finer_than_the_labels() -> None:
    # two minutes apart: a tick per minute, not every 30 s under repeated "10:00" labels
    runs = timeline.time_axis(stamps("2024-03-01 10:00", "2024-03-01 10:02"))
    assert runs == timeline.TimeAxis("%H:%M", MINUTE, 2)
    # a batch run scores many files within a second: whole seconds on an axis rounded out to
    # the minute, no ".950"-style fractions
    burst = timeline.time_axis(stamps("2024-03-01T10:00:00.120+00:00",
                                      "2024-03-01T10:00:00.950+00:00"))
    ten = int(pd.Timestamp("2024-03-01T10:00:00+00:00").value // 1_000_000)
    assert burst == timeline.TimeAxis("%H:%M:%S", 15_000, 4, (ten, ten + MINUTE))
    across = timeline.time_axis(stamps("2024-03-01T10:00:59.5", "2024-03-01T10:01:00.2"))
    assert across.domain_ms == (ten, ten + 2 * MINUTE) and across.step_ms == 15_000
    single = timeline.time_axis(stamps("2024-03-01T10:00:00"))
    assert single.format == "%H:%M:%S" and single.domain_ms == (ten, ten + MINUTE)
    assert timeline.time_axis(pd.Series([], dtype="datetime64[ns]")).format == "%H:%M:%S"
    with_nat = pd.Series([pd.NaT, pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-03")])
    assert timeline.time_axis(with_nat).format == "%b %d %H:%M"  # NaT ignored


@pytest.mark.parametrize("texts", [
    ["2024-01-01T00:52:00", "2024-01-02T03:04:05.123"], ["2024-01-01 00:52:00"],
    ["2024-01-01"], ["2024-01-01T00:52"], ["2024-01-01T00:52:00+02:00"],
    ["2024-01-01T00:52:00Z"], ["2024-01-01T00:00:00", None], ["01/02/2024 10:00"], ["x", "y"]])
@pytest.mark.parametrize("dtype", [object, "str"])
def test_times_parse_as_pandas_parses_them(texts: list[str | None], dtype: object) -> None:
    """Zone-less ISO times take a faster path (Arrow); the result is pandas' ISO 8601 parse."""
    values = pd.Series(texts, dtype=dtype)  # type: ignore[call-overload]
    parsed = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    expected = None if parsed.notna().mean() <= 0.9 else parsed.dt.tz_convert(None).dt.as_unit(
        "ns")
    got = timeline.parse_times(values)
    assert (got is None) == (expected is None)
    if got is not None and expected is not None:
        pd.testing.assert_series_equal(got, expected)


def test_time_axis_reads_zoned_and_naive_times_alike() -> None:
    zoned = stamps("2024-01-01T00:52:00+02:00", "2024-01-01T23:00:00+02:00")
    assert timeline.time_axis(zoned).format == "%H:%M"
    parsed = timeline.parse_times(pd.Series(["2024-01-01T00:52:00+02:00"]))
    assert parsed is not None and parsed.tolist() == [pd.Timestamp("2023-12-31 22:52")]


def test_threshold_picker_takes_methods_and_starting_values_from_core() -> None:
    from anomaly.core.thresholds import METHODS

    offered = threshold.picker_methods()
    assert offered[0] == "manual" and "margin" not in offered
    assert set(offered) == set(METHODS) - {"margin"}
    assert threshold.starting_params("quantile") == {"q": 0.995}
    assert threshold.starting_params("contamination") == {"contamination": 0.01}  # its example
    assert threshold.starting_params("manual") == {} and threshold.starting_params("f1") == {}


def history(train: list[float], val: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"epoch": range(1, len(train) + 1), "train_loss": train,
                         "val_loss": val, "lr": 1e-3})


def test_training_diagnosis() -> None:
    good = training.diagnose_training(history([1, .5, .3, .2], [1.1, .6, .35, .25]), 4)
    assert [f.level for f in good] == ["ok"]
    overfit = training.diagnose_training(history([1, .5, .3, .2, .1], [1, .5, .6, .7, .8]), 2)
    assert any("overfitting" in f.message for f in overfit)
    stalled = training.diagnose_training(history([1, .99, .98], [1, .99, .98]), 3)
    assert any("stalled" in f.message for f in stalled)
    assert training.diagnose_training(pd.DataFrame(), None)[0].level == "warning"


def test_threshold_stats_and_histogram() -> None:
    scores = np.array([0.1, 0.2, 0.9, 1.5])
    times = pd.Series(pd.date_range("2024-01-01", periods=4, freq="12h"))
    stats = threshold.threshold_stats(scores, np.array([0.1, 0.3, 0.6, 1.0]), 0.5, times,
                                     np.array([0, 0, 1, 1]))
    assert stats.flagged == 2 and stats.validation_false_alarm == 0.5
    assert stats.alerts_per_day == pytest.approx(2 / 1.5)
    assert stats.report is not None and stats.report.f1 == 1.0
    hist = threshold.histogram({"x": scores, "y": scores * 2}, bins=10)
    assert len(hist) == 20 and hist.groupby("series")["share"].sum().round(9).eq(1).all()


def test_quantile_drift_stable_and_shifted() -> None:
    validation = np.random.default_rng(0).gamma(2.0, 1.0, 20_000)
    q = np.quantile(validation, [0.5, 0.9, 0.99, 1.0])

    def files(shift: float) -> pd.DataFrame:
        return pd.DataFrame({"rows": [100, 300], "score_p50": q[0] * shift,
                             "score_p90": q[1] * shift, "score_p99": q[2] * shift,
                             "score_max": q[3] * shift})

    same = monitoring.quantile_drift(files(1.0), validation)
    assert same is not None and same.level == "stable" and same.psi < 0.01
    assert same.share_above_p99 == pytest.approx(0.01, abs=1e-6)
    moved = monitoring.quantile_drift(files(2.0), validation)
    assert moved is not None and moved.level == "major" and moved.share_above_p99 > 0.05
    assert monitoring.quantile_drift(files(1.0).iloc[:0], validation) is None


def test_quantile_drift_with_tied_validation_scores() -> None:
    # a log model's sessions score alike: 3 distinct values, p90 = p99 = max
    validation = np.repeat([0.70, 0.93, 1.46], [14, 6, 10])
    q = np.quantile(validation, [0.5, 0.9, 0.99, 1.0])
    same = pd.DataFrame({"rows": [30], "score_p50": q[0], "score_p90": q[1], "score_p99": q[2],
                         "score_max": q[3]})
    drift = monitoring.quantile_drift(same, validation)
    assert drift is not None and drift.level == "stable" and drift.psi == pytest.approx(0)
    assert drift.share_above_p99 == drift.expected_above_p99 == 0.0
    higher = same.assign(score_p90=3.0, score_p99=4.0, score_max=5.0)
    moved = monitoring.quantile_drift(higher, validation)
    assert moved is not None and moved.level == "major" and moved.share_above_p99 > 0.05


def test_read_run_history_missing_wal_and_corrupt(tmp_path: Path) -> None:
    assert monitoring.read_run_history(tmp_path / "runs.db").empty
    db = tmp_path / "runs.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(LEDGER_DDL)
        conn.execute("INSERT INTO files(run_id, input_path, input_sha256, model, status, error,"
                     " rows, started_at) VALUES ('r0', 'in/a.csv', '', 'm', 'failed', 'boom', 0,"
                     " '2024-01-01T00:00:00+00:00')")
    ledger = monitoring.read_run_history(db)
    assert ledger.files["error"].tolist() == ["boom"] and ledger.runs.empty
    assert monitoring.runs_summary(ledger.files)["failed"] == 1
    (tmp_path / "bad.db").write_bytes(b"not a database" * 100)
    with pytest.raises(InputError, match="run ledger"):
        monitoring.read_run_history(tmp_path / "bad.db")


@pytest.mark.slow  # the real CLI in subprocesses
def test_dashboard_command_refuses_bad_workspace_and_port(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    missing = run_cli("dashboard", "--workspace", str(tmp_path / "nowhere"), timeout=60)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    port = run_cli("dashboard", "--workspace", str(tmp_path), "--port", "70000", timeout=60)
    assert port.returncode == 2 and "--port 70000" in port.stderr
