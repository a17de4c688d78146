"""Streaming logs: a file read in many tiny blocks scores exactly as the whole file read at once."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from drain3.masking import LogMasker, MaskingInstruction

from anomaly import Detector
from anomaly.errors import InputError
from anomaly.kinds.logs import ranges
from anomaly.kinds.logs.features import DrainConfig, TemplateMatcher
from anomaly.kinds.logs.lines import BLOCK_BYTES
from anomaly.kinds.logs.masking import DEFAULT_MASKS, Masker
from anomaly.kinds.logs.stream import stream_text
from tests.kinds.logs.logkit import NEW_TEMPLATE, make_log

FAST = {"max_epochs": 6, "patience": 0, "batch_size": 32, "progress_bar": False}
REGEX = r"blk_-?\d+"




def interleaved_log(folder: Path, gz: bool = False) -> Path:
    """Two logs merged line by line (sessions interleave and span many blocks), plus odd lines:
    blank, keyless, a continuation without time, CRLF, bad UTF-8, one longer than a block."""
    make_log(folder / "a.log", 30, seed=3, odd={4: NEW_TEMPLATE})
    make_log(folder / "b.log", 30, seed=4)
    a = (folder / "a.log").read_text().splitlines()
    b = (folder / "b.log").read_text().splitlines()
    lines: list[bytes] = []
    for i in range(max(len(a), len(b))):
        lines += [x.encode() for x in (a[i:i + 1] + b[i:i + 1])]
        if i == 10:
            lines += [b"", b"   ", b"2024-01-01 00:00:30 INFO no key on this line",
                      b"    at java.lang.Thread.run(Thread.java:619) blk_300004",
                      b"2024-01-01 00:00:31 INFO dfs.DataNode: PacketResponder 1 for block "
                      b"blk_400002 terminating\r",
                      b"2024-01-01 00:00:31 INFO dfs.DataNode: bad \xff\xfe bytes blk_300003",
                      b"2024-01-01 00:00:32 INFO dfs.DataNode: blk_400001 " + b"y" * 900]
    data = b"\n".join(lines) + b"\n"
    path = folder / ("mixed.log.gz" if gz else "mixed.log")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def streamed(det: Detector, path: Path, block_bytes: int) -> tuple[pd.DataFrame, int]:
    """The scored sessions of `path` read `block_bytes` at a time, and how many parts came;
    the network inputs of the streamed sessions are checked to equal the whole file's, bit
    for bit."""
    sessions = list(det.read_file(path, chunk_rows=7, block_bytes=block_bytes))
    whole = det.features_.transform(det.read([path]))
    assert np.array_equal(det.features_.transform(pd.concat(sessions, ignore_index=True)),
                          whole)
    parts = list(det.score_stream(iter(sessions)))
    return pd.concat(parts, ignore_index=True), len(parts)


def assert_same_scores(got: pd.DataFrame, whole: pd.DataFrame) -> None:
    """Everything equal; the scores too, to float32 rounding: the network's matrix products
    may round differently when sessions are scored in batches of another size."""
    pd.testing.assert_frame_equal(got.drop(columns=["anomaly_score", "score_percentile"]),
                                  whole.drop(columns=["anomaly_score", "score_percentile"]),
                                  check_exact=True)
    np.testing.assert_allclose(got["anomaly_score"], whole["anomaly_score"], rtol=1e-5)


def test_streamed_text_scores_equal_whole_file(tmp_path: Path, one_thread: None) -> None:
    make_log(tmp_path / "train.log", 150, seed=1)
    det = Detector("logs", session_regex=REGEX, max_line_length=500, **FAST)
    det.fit([tmp_path / "train.log"])
    for gz in (False, True):
        path = interleaved_log(tmp_path, gz)
        whole = det.score_frame(det.read([path]))
        got, _ = streamed(det, path, block_bytes=200)  # ~2 lines a block; the long line spans 5
        pd.testing.assert_frame_equal(got, whole, check_exact=True)  # one batch: bit for bit
        assert got.shape[0] == 60 and got["last_line"].max() == 292  # the last line
        keyed = whole.set_index("session")
        assert keyed.loc["blk_300004", "n_lines"] >= 6  # the continuation line joined it
        assert keyed.loc["blk_400001", "n_lines"] >= 5
        assert whole["anomaly_score"].idxmax() in set(
            whole.index[whole["session"].isin(["blk_300004", "blk_300003", "blk_400001"])])


def test_windows_close_as_time_moves_and_equal_whole_file(tmp_path: Path,
                                                          one_thread: None) -> None:
    make_log(tmp_path / "train.log.gz", 200, seed=5)
    det = Detector("logs", session_window="30s", **FAST).fit([tmp_path / "train.log.gz"])
    path = tmp_path / "test.log.gz"
    make_log(path, 120, seed=6, odd={50: NEW_TEMPLATE})  # 120 sessions 7 s apart: 28 windows
    whole = det.score_frame(det.read([path]))
    got, parts = streamed(det, path, block_bytes=300)
    assert_same_scores(got, whole)
    assert len(whole) == 28 and parts >= 20  # windows were scored while the file was read


def test_streamed_events_equal_whole_file(tmp_path: Path, one_thread: None) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for s in range(150):
        rows += [{"req": f"r{s}", "ev": e, "ts": f"t{s}-{j}"}
                 for j, e in enumerate(["E5", "E22", *["E11"] * int(rng.integers(1, 4)), "E9"])]
    train = pd.DataFrame(rows)
    train.to_csv(tmp_path / "train.csv", index=False)
    det = Detector("logs", session_col="req", event_col="ev", time_col="ts", **FAST)
    det.fit([tmp_path / "train.csv"])
    test = train.sample(frac=1.0, random_state=1).iloc[:300]  # keys scattered over the file
    test.loc[test.index[5], "ev"] = "E7"
    test.to_csv(tmp_path / "test.csv", index=False)
    whole = det.score_frame(det.read([tmp_path / "test.csv"]))
    got, _ = streamed(det, tmp_path / "test.csv", block_bytes=1 << 20)
    assert_same_scores(got, whole)


TRICKY = ["a 1.2.3.4.5 b", "1234.1.2.3.4", "-1.2.3.4", "x-1.2.3.4", "5-1.2.3.4", "v2 and 3v",
          "id 123e4567-e89b-12d3-a456-426614174000 ok", "0x1F 00x1 0xg 10x5", "+7 -8.5 9.",
          "١٢٣ arabic digits ٤.٥", "subdir11/blk_-42 part-00262.", "12.34a 12.34 .5", ""]


def test_masker_equals_drain3_masking() -> None:
    ours = Masker(DEFAULT_MASKS)
    theirs = LogMasker([MaskingInstruction(p, n) for p, n in DEFAULT_MASKS], "<", ">")
    assert ours.default
    for text in TRICKY:
        assert ours.mask(text) == theirs.mask(text), text


def test_shape_cache_matches_line_by_line() -> None:
    templates = ["INFO deleting <NUM> in subdir11", "INFO deleting <NUM> in subdir7",
                 "INFO got <IP>:<NUM>"]
    matcher = TemplateMatcher(templates, DrainConfig())
    lines = ["INFO deleting 5 in subdir11", "INFO deleting 6 in subdir7",
             "INFO deleting 7 in subdir12", "INFO got 10.0.0.1:50010", "INFO got 10.0.0.99:7",
             *TRICKY]
    one_by_one = [matcher.match_masked(matcher.masker.mask(line)) for line in lines]
    assert matcher.match_many(lines) == one_by_one == matcher.match_many(lines)
    assert one_by_one[:5] == [0, 1, -1, 2, 2]


def test_big_log_read_by_forked_processes_equals_one_process(
        tmp_path: Path, one_thread: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log past PARALLEL_MIN_BYTES is cut into ranges read by forked processes and merged
    here: the same sessions, bit for bit, as one process streaming it."""
    make_log(tmp_path / "train.log", 150, seed=1)
    det = Detector("logs", session_regex=REGEX, max_line_length=500, **FAST)
    det.fit([tmp_path / "train.log"])
    path = interleaved_log(tmp_path)
    one = pd.concat(stream_text(path, det.features_), ignore_index=True)
    monkeypatch.setattr(ranges, "PARALLEL_MIN_BYTES", 1000)
    monkeypatch.setattr(ranges, "PARALLEL_RANGE_BYTES", 300)  # ~3 lines a range
    monkeypatch.setenv("ANOMALY_LOG_PROCESSES", "2")
    chunks = det.read_file(path, chunk_rows=7, block_bytes=BLOCK_BYTES)
    assert getattr(chunks, "__name__", "") == "_merged"  # read by the processes
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), one, check_exact=True)
    assert len(one) == 60
    lines = path.read_bytes().split(b"\n")
    lines[200] = b"2024-01-01 00:00:40 \x00\x01 binary"
    path.write_bytes(b"\n".join(lines))
    errors = []
    for processes in ("2", "1"):  # a reader's error names the line of the whole file
        monkeypatch.setenv("ANOMALY_LOG_PROCESSES", processes)
        with pytest.raises(InputError) as caught:
            list(det.read_file(path, 7, BLOCK_BYTES))
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and "line 201 holds NUL bytes" in errors[0]
    assert getattr(det.read_file(path, 7, BLOCK_BYTES), "__name__", "") == "stream_text"
