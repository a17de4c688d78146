"""Chunked (streaming) scoring equals whole-file scoring; text in a later CSV block is reported
by row and column (or skipped), not as a pyarrow error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from anomaly import load_detector
from anomaly.errors import InputError
from anomaly.io import iter_table, read_table
from anomaly.jobs.score import score_file
from tests.conftest import make_tabular

BLOCK = 4096  # bytes: a 1,500-row file is read in ~25 blocks


@pytest.fixture(scope="module")
def detector(workspace: Path) -> Any:
    return load_detector("toy", workspace / "models")


def test_chunked_scoring_equals_whole_file(detector: Any, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    make_tabular(1500, seed=5, anomalies=20).to_csv(src, index=False)
    assert len(list(iter_table(src, numeric=["a", "b", "c"], block_size=BLOCK))) > 10
    summary = score_file(detector, src, tmp_path / "out.csv", block_bytes=BLOCK)
    chunked = pd.read_csv(tmp_path / "out.csv")
    whole = detector.score_frame(read_table(src), str(src))
    assert summary.rows == 1500 and summary.anomalies == int(whole["is_anomaly"].sum())
    # float32 neighbour distances from matrix products whose blocking follows how many rows of
    # a chunk share a cell: a near row's score may differ in its 6th digit between chunkings
    pd.testing.assert_frame_equal(chunked, whole.astype({"top_features": object}),
                                  check_dtype=False, rtol=1e-5)
    parquet = tmp_path / "out.parquet"
    score_file(detector, src, parquet, block_bytes=BLOCK)
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), chunked, check_dtype=False)


def test_chunks_scored_on_several_threads_equal_one_thread(
        detector: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same chunks on 3 threads or 1: the same bytes (each chunk is computed alone)."""
    src = tmp_path / "in.csv"
    make_tabular(1500, seed=8, anomalies=20).to_csv(src, index=False)
    outputs = []
    for workers in ("3", "1"):
        monkeypatch.setenv("ANOMALY_SCORE_THREADS", workers)
        out = tmp_path / f"out{workers}.csv"
        score_file(detector, src, out, block_bytes=BLOCK)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_a_large_frame_is_scored_in_pieces_on_several_threads(
        detector: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`score_frame` of a frame over 2 × PIECE_ROWS: the same rows and scores as in one piece,
    and a bad value is still reported by its row in the frame."""
    from anomaly.kinds.tabular import kind

    frame = make_tabular(1500, seed=9)
    monkeypatch.setenv("ANOMALY_SCORE_THREADS", "1")
    whole = detector.score_frame(frame, "whole")
    monkeypatch.setenv("ANOMALY_SCORE_THREADS", "3")
    monkeypatch.setattr(kind, "PIECE_ROWS", 100)
    pd.testing.assert_frame_equal(detector.score_frame(frame, "pieces"), whole,
                                  check_exact=False, rtol=1e-5)  # float32 blocks (above)
    bad = frame.astype({"b": object})
    bad.loc[1234, "b"] = "n/a?"
    with pytest.raises(InputError, match=r"row 1,235: 'n/a\?' is not a number"):
        detector.score_frame(bad, "pieces")


def test_text_in_a_later_block_is_reported_by_row_or_skipped(detector: Any,
                                                              tmp_path: Path) -> None:
    frame = make_tabular(1500, seed=6).astype({"b": object})
    frame.loc[1234, "b"] = "n/a?"
    src = tmp_path / "late.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / "late.scored.csv"
    with pytest.raises(InputError, match=r"column 'b' row 1,235: 'n/a\?' is not a number"):
        score_file(detector, src, out, block_bytes=BLOCK)
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))

    summary = score_file(detector, src, out, on_bad_rows="skip", block_bytes=BLOCK)
    scored = pd.read_csv(out)
    assert summary.rows == 1499 and "r01234" not in set(scored["row_id"])
    clean = frame.drop(index=1234).astype({"b": float})
    expected = detector.score_frame(clean.reset_index(drop=True), "clean")
    pd.testing.assert_series_equal(scored["anomaly_score"], expected["anomaly_score"],
                                   check_dtype=False, rtol=1e-5)  # float32 distances (above)


def test_extra_columns_are_noted_once_per_file(detector: Any, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    src = tmp_path / "extra.csv"
    make_tabular(1500, seed=7).assign(comment="x").to_csv(src, index=False)
    with caplog.at_level("WARNING", logger="anomaly"):
        score_file(detector, src, tmp_path / "extra.scored.csv", block_bytes=BLOCK)
    notes = [r for r in caplog.records if "ignoring column(s)" in r.getMessage()]
    assert len(notes) == 1 and "comment" in notes[0].getMessage()


def test_reading_starts_before_the_model_loads(detector: Any, workspace: Path,
                                               tmp_path: Path) -> None:
    """`anomaly score` reads a tabular file while torch and the network load (`early_chunks`):
    the same chunks as the model's own reader, the same scores; other bundles read as usual."""
    from anomaly.bundle import resolve
    from anomaly.jobs.readahead import early_chunks, early_start

    src = tmp_path / "in.csv"
    make_tabular(1500, seed=6, anomalies=20).to_csv(src, index=False)
    bundle = resolve("toy", workspace / "models")
    early = early_chunks(bundle, src, block_bytes=BLOCK)
    assert early is not None
    usual = list(detector.read_file(src, 200_000, BLOCK))
    got = list(early)
    assert len(got) == len(usual) > 10
    for a, b in zip(got, usual, strict=True):
        pd.testing.assert_frame_equal(a, b)
    out_early, out_usual = tmp_path / "early.csv", tmp_path / "usual.csv"
    score_file(detector, src, out_early, block_bytes=BLOCK,
               chunks=early_chunks(bundle, src, block_bytes=BLOCK))
    score_file(detector, src, out_usual, block_bytes=BLOCK)
    assert out_early.read_bytes() == out_usual.read_bytes()
    assert early_start("no-such-model", workspace / "models", src) is None
    assert early_chunks(bundle, tmp_path / "missing.csv") is None  # loading/reading says why
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bundle.json").write_text("{not json")
    assert early_chunks(broken, src) is None


def test_prefetch_reads_early_items_ahead_then_one() -> None:
    """Before the first item is taken the reader may run `early` items ahead, then `depth`."""
    import threading
    import time

    from anomaly.jobs.readahead import prefetch

    produced: list[int] = []
    lock = threading.Lock()

    def items() -> Any:
        for i in range(20):
            with lock:
                produced.append(i)
            yield i

    stream = prefetch(items(), depth=1, early=5)
    deadline = time.monotonic() + 10
    while len(produced) < 6 and time.monotonic() < deadline:  # 5 queued + 1 waiting for room
        time.sleep(0.01)
    time.sleep(0.2)
    assert len(produced) == 6  # not the whole file: bounded
    assert next(stream) == 0
    assert list(stream) == list(range(1, 20))
    lazy = prefetch(items(), depth=1)  # without `early` nothing is read before it is asked
    time.sleep(0.2)
    assert len(produced) == 20 and list(lazy) == list(range(20))
