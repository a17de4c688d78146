"""The drill-down's item finding (anomaly.analysis.items) for every kind: which inputs are
offered, how a scored row, timestamp or session is found in its input, labels joined on keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from anomaly.analysis import explained, items, scored, training, workspace
from anomaly.errors import InputError, SchemaError

TABLES = ("*.csv", "*.parquet", "*.pq")
LOGS = ("*.log", "*.log.gz", "*.txt", "*.csv")


def meta(*columns: tuple[str, str], window: int = 8, group_col: str | None = None) -> dict:
    return {"name": "m", "version": 1,
            "schema": {"columns": [{"name": n, "role": r} for n, r in columns]},
            "settings": {"window": {"window": window, "group_col": group_col}}}


ROW_PLAN = items.plan_for("row", TABLES, meta(("a", "feature"), ("tx", "id"), ("ts", "time")),
                          ["tx", "ts"])
TS_PLAN = items.plan_for("timestamp", TABLES, meta(("a", "feature"), ("t", "time"),
                                                   ("pump", "group"), window=6), ["t", "pump"])
LOG_PLAN = items.plan_for("session", LOGS, meta(("session", "id"), ("unknown templates",
                                                                     "feature")), [])


def test_plans_name_items_per_kind() -> None:
    assert (ROW_PLAN.keys, ROW_PLAN.in_file, ROW_PLAN.plural) == (("tx",), False, "rows")
    assert (TS_PLAN.keys, TS_PLAN.time_col, TS_PLAN.group_col) == (("t", "pump"), "t", "pump")
    assert TS_PLAN.context == 5 and "up to 5 rows before and after it in its group" in \
        TS_PLAN.caption
    assert (LOG_PLAN.keys, LOG_PLAN.in_file, LOG_PLAN.patterns) == (("session",), True, LOGS)
    assert "raw lines" in LOG_PLAN.caption
    # a bundle whose schema lacks the group role: the window settings name it
    legacy = items.plan_for("timestamp", TABLES, meta(("t", "time"), group_col="pump"), ["t"])
    assert legacy.keys == ("t", "pump") and legacy.group_col == "pump"
    no_ids = items.plan_for("row", TABLES, meta(("a", "feature"), ("y", "label")), ["y"])
    assert no_ids.keys == ()
    with pytest.raises(InputError, match="no time column"):
        items.plan_for("timestamp", TABLES, meta(("a", "feature")), [])


def test_item_labels() -> None:
    assert items.item_label(ROW_PLAN, pd.Series({"row": 4, "tx": "t9"})) == "row 4 · tx=t9"
    stamp = pd.Series({"t": "2024-02-01 00:45:00", "pump": "p2"})
    assert items.item_label(TS_PLAN, stamp) == "2024-02-01 00:45:00 · pump=p2"
    session = pd.Series({"session": "blk_7", "file": "b.log", "first_line": 3, "last_line": 9})
    assert items.item_label(LOG_PLAN, session) == "blk_7 · lines 3–9 of b.log"


def touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x\n")


def test_offered_inputs_follow_the_kind_and_the_file_column(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    touch(ws, "data/t.csv", "logs/a.log", "logs/b.log.gz", "logs/notes.txt", "app.log.1",
          "deep/er/c.LOG", "models/m/x.log", "scores/s.scored.csv", "data/t.parquet")
    touch(tmp_path, "outside.log.1")
    tables = items.offered_inputs(ws, ROW_PLAN, None)
    assert sorted(p.name for p in tables) == ["t.csv", "t.parquet"]
    named = pd.DataFrame({"file": ["app.log.1", "../outside.log.1", "/etc/passwd", None]})
    logs = items.offered_inputs(ws, LOG_PLAN, named)
    assert sorted(str(p.relative_to(ws)) for p in logs) == [
        "app.log.1", "data/t.csv", "deep/er/c.LOG", "logs/a.log", "logs/b.log.gz",
        "logs/notes.txt"]  # the named rotated log too; nothing outside, models/ or scores/
    assert items.offered_inputs(ws, LOG_PLAN, pd.DataFrame({"file": ["logs/a.log"]})) == [
        p for p in logs if p.name != "app.log.1"]  # a named path inside: listed once
    assert workspace.list_inputs(ws) == tables  # the default: tables only


def test_guess_prefers_the_file_an_item_names() -> None:
    inputs = [Path("/w/logs/test.log"), Path("/w/logs/other.log")]
    scored_path = Path("/w/scores/test.scored.csv")
    assert items.guess_item_input(LOG_PLAN, scored_path, pd.Series({"file": "other.log"}),
                                  inputs) == inputs[1]
    assert items.guess_item_input(LOG_PLAN, scored_path, pd.Series({"session": "b"}),
                                  inputs) == inputs[0]  # by the scored file's name
    assert items.guess_item_input(LOG_PLAN, None, pd.Series({"session": "b"}), inputs) is None


def test_rows_are_found_by_id_or_row_number() -> None:
    raw = pd.DataFrame({"tx": [30, 10, 20], "a": [3.0, 1.0, 2.0]})
    assert items.find_position(ROW_PLAN, raw, pd.DataFrame({"tx": [20], "row": [1]}), "in") == 2
    with pytest.raises(InputError, match="no row with tx=99"):
        items.find_position(ROW_PLAN, raw, pd.DataFrame({"tx": [99], "row": [1]}), "in")
    with pytest.raises(InputError, match="no column"):
        items.find_position(ROW_PLAN, raw.drop(columns="tx"), pd.DataFrame({"tx": [1]}), "in")
    plain = items.DrillPlan("row", TABLES, ())
    assert items.find_position(plain, raw, pd.DataFrame({"row": [3]}), "in") == 2
    with pytest.raises(InputError, match="fewer than row 4"):
        items.find_position(plain, raw, pd.DataFrame({"row": [4]}), "in")


def test_timestamps_are_found_by_time_and_group_whatever_the_format_and_order() -> None:
    # the input: unsorted, ISO text with a T; the scored file writes times with a space
    raw = pd.DataFrame({"t": ["2024-01-01T00:02:00", "2024-01-01T00:01:00",
                              "2024-01-01T00:01:00", "2024-01-01T00:00:00"],
                        "pump": ["p1", "p2", "p1", "p2"], "a": [1.0, 2.0, 3.0, 4.0]})
    item = pd.DataFrame({"t": ["2024-01-01 00:01:00"], "pump": ["p1"]})
    assert items.find_position(TS_PLAN, raw, item, "in") == 2
    zoned = raw.assign(t=["2024-01-01T01:02:00+01:00", "2024-01-01T01:01:00+01:00",
                          "2024-01-01T01:01:00+01:00", "2024-01-01T01:00:00+01:00"])
    assert items.find_position(TS_PLAN, zoned, item, "in") == 2  # same moment, UTC
    with pytest.raises(InputError, match="no timestamp with t=2024-01-01 00:01:00, pump=p3"):
        items.find_position(TS_PLAN, raw, item.assign(pump="p3"), "in")
    numeric = items.DrillPlan("timestamp", TABLES, ("t",), "t")
    steps = pd.DataFrame({"t": [0.0, 1.0, 2.0]})
    assert items.find_position(numeric, steps, pd.DataFrame({"t": [2.0]}), "in") == 2


@dataclass
class FakeItem:
    frame: pd.DataFrame
    position: int
    lines: list[tuple[int, str]]


class FakeLogDetector:
    """What `find_session` uses of a log detector: find_item(path, key)."""

    def __init__(self) -> None:
        self.asked: list[tuple[Path, str]] = []

    def find_item(self, path: Path, key: str) -> FakeItem:
        self.asked.append((path, key))
        if key != "blk_7":
            return FakeItem(pd.DataFrame({"session": []}), 0, [])
        return FakeItem(pd.DataFrame({"session": ["blk_7"]}), 0, [(3, "a"), (5, "b")])


def test_sessions_are_found_in_the_log_file_by_key(tmp_path: Path) -> None:
    detector = FakeLogDetector()
    log = tmp_path / "test.log"
    found = items.locate(detector, LOG_PLAN, pd.DataFrame({"session": ["blk_7"]}), "test.log",
                         path=log)
    assert (found.position, found.lines, detector.asked) == (0, [(3, "a"), (5, "b")],
                                                             [(log, "blk_7")])
    with pytest.raises(InputError, match="no session blk_8"):
        items.locate(detector, LOG_PLAN, pd.DataFrame({"session": ["blk_8"]}), "x", path=log)
    with pytest.raises(InputError, match="choose a log file"):
        items.locate(detector, LOG_PLAN, pd.DataFrame({"session": ["blk_7"]}), "x")
    table = pd.DataFrame({"tx": [1, 2]})
    assert items.locate(None, ROW_PLAN, pd.DataFrame({"tx": [2]}), "t.csv",
                        table=table).position == 1


def test_raw_lines_are_capped_and_numbered() -> None:
    lines = [(i + 1, f"line {i + 1}") for i in range(500)]
    text = explained.raw_lines_text(lines)
    assert text.count("\n") == explained.RAW_LINES - 1
    assert text.splitlines()[0] == "  1  line 1" and text.splitlines()[-1] == "200  line 200"
    assert explained.raw_lines_text([]) == ""


def test_labels_join_on_the_item_keys() -> None:
    raw = pd.DataFrame({"tx": ["b", "a", "c"], "label": [1, 0, 0]})
    scored_rows = pd.DataFrame({"tx": ["a", "b"]})
    assert items.labels_for(ROW_PLAN, scored_rows, raw, "label", "in").tolist() == [0, 1]
    with pytest.raises(InputError, match="no label column"):
        items.labels_for(ROW_PLAN, scored_rows, raw, "y", "in")
    with pytest.raises(InputError, match="1 scored row"):
        items.labels_for(ROW_PLAN, pd.DataFrame({"tx": ["a", "z"]}), raw, "label", "in")
    plain = items.DrillPlan("row", TABLES, ())
    assert items.labels_for(plain, pd.DataFrame({"x": [1, 2, 3]}), raw, "label",
                            "in").tolist() == [1, 0, 0]
    stamps = pd.DataFrame({"t": ["2024-01-01T00:01:00", "2024-01-01T00:00:00"] * 2,
                           "pump": ["p1", "p1", "p2", "p2"], "label": [0, 0, 1, 0]})
    scored_ts = pd.DataFrame({"t": ["2024-01-01 00:00:00", "2024-01-01 00:01:00"] * 2,
                              "pump": ["p1", "p1", "p2", "p2"]})
    assert items.labels_for(TS_PLAN, scored_ts, stamps, "label", "in").tolist() == [0, 0, 0, 1]
    sessions = pd.DataFrame({"session": ["blk_2", "blk_1"], "label": [1, 0]})
    assert items.labels_for(LOG_PLAN, pd.DataFrame({"session": ["blk_1", "blk_2"]}), sessions,
                            "label", "in").tolist() == [0, 1]
    with pytest.raises(InputError, match=r"no column.*'session'"):
        items.labels_for(LOG_PLAN, pd.DataFrame({"session": ["blk_1"]}),
                         sessions.rename(columns={"session": "BlockId"}), "label", "in")
    assert items.label_guess(["t", "Label"]) == 1 and items.label_guess(["is_anomaly"]) is None


def test_explanation_summary_names_the_top_feature() -> None:
    table = pd.DataFrame({"feature": ["unknown templates", "session length"],
                          "error_share": [0.966, 0.034]})
    text = explained.explanation_summary(2703.2, table, 1.46)
    assert text == "Score 2703 (threshold 1.46): **unknown templates** carries 97% of the error."
    shown = explained.readable(pd.DataFrame({"feature": ["a", "b"], "value": ["4.380042", "1"],
                                         "category": ["red", "1.5"]}))
    assert shown["value"].tolist() == [4.380042, 1.0] and shown["category"].tolist() == [
        "red", "1.5"]  # numbers written as text become numbers; mixed columns stay text


def test_scored_checks_read_log_templates_with_commas() -> None:
    template = "WARN retry <NUM>, giving up"
    model = meta(("session", "id"), (template, "feature"), ("session length", "feature"))
    frame = pd.DataFrame({"session": ["a"], "anomaly_score": [1.0], "score_percentile": [0.5],
                          "is_anomaly": [False],
                          "top_features": [f"{template} 80%, session length 20%"]})
    scored.check_scored(frame, model, "s.csv")  # the comma inside the template is no separator
    with pytest.raises(SchemaError, match="another model"):
        scored.check_scored(frame.assign(top_features="WARN other, thing 90%"), model, "s.csv")
    assert scored.time_column(model, frame.columns) is None
    assert scored.time_column(model, [*frame.columns, "first_time"]) == "first_time"
    timed = meta(("ts", "time"))
    assert scored.time_column(timed, ["ts", "first_time"]) == "ts"


def test_training_counts_per_kind() -> None:
    ts = {"train_rows": 256, "validation_rows": 64, "train_windows": 246,
          "validation_windows": 54, "window": 6, "best_epoch": 3}
    assert training.data_counts(ts, "timestamp") == [
        ("Training timestamps", 256), ("Validation timestamps", 64), ("Training windows", 246),
        ("Validation windows", 54), ("Window (rows)", 6)]
    assert training.data_counts({"train_rows": 120, "templates": 4}, "session") == [
        ("Training sessions", 120), ("Log templates", 4)]
    assert training.data_counts({}, "row") == []
    settings = {"data": {"time_col": "t"}, "window": {"window": 6}, "logs": {"weighting": "log"}}
    assert training.data_settings({"kind": "timeseries", "settings": settings}) == {
        "kind": "timeseries", "time_col": "t", "window": 6}
    assert "window" not in training.data_settings({"kind": "tabular", "settings": settings})


def test_item_ids_tell_items_apart() -> None:
    first = items.item_id(TS_PLAN, pd.Series({"t": "00:01", "pump": "p1", "row": 3}))
    second = items.item_id(TS_PLAN, pd.Series({"t": "00:01", "pump": "p2", "row": 3}))
    assert first != second
    plain = items.DrillPlan("row", TABLES, ())
    assert items.item_id(plain, pd.Series({"row": 3})) == "3"
    keys = items.item_keys(TS_PLAN, pd.DataFrame({"t": ["2024-01-01T00:00:00"], "pump": [7]}),
                           "x")
    assert keys is not None and keys.iloc[0].tolist() == [1704067200.0, "7"]  # as the kind reads
    assert items.item_keys(plain, pd.DataFrame({"a": [1]}), "x") is None
