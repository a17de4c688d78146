"""Bad input through the CLI: exit code 2, one message naming file/column/row and the fix, no
traceback, nothing half-written. Odd-but-legal input (extra columns, NaN, a constant column) is
scored or trained with a note instead.

Most cases call `anomaly.cli.main` in-process (`run_main`: the console script's own entry point,
without paying ~4 s of interpreter start per case); a few run the real subprocess to prove that
no traceback reaches a user's terminal.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomaly.errors import InputError
from tests.conftest import ROOT, CliResult, make_tabular, run_cli, run_main


def ws_args(workspace: Path) -> list[str]:
    return ["--workspace", str(workspace)]


def assert_clean_error(result: CliResult, *needles: str, output: Path | None = None) -> None:
    """Exit 2, exactly one `error:` line naming every needle, no traceback, no leftovers."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    if output is not None:
        assert not output.exists()
        assert not list(output.parent.glob(".*.tmp")), "stray temp file left behind"


@pytest.fixture
def test_frame(tabular_files: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(tabular_files["test"])


def score(workspace: Path, data: Path, *extra: str) -> tuple[CliResult, Path]:
    out = data.parent / "out" / f"{data.stem}.scored.csv"
    result = run_main("score", "toy", str(data), "-o", str(out), "--show", "0", *extra,
                      *ws_args(workspace))
    return result, out


# ------------------------------------------------------------------- unreadable files
def test_missing_file(workspace: Path, tmp_path: Path) -> None:
    result, out = score(workspace, tmp_path / "nope.csv")
    assert_clean_error(result, "nope.csv", "not found", "check the path", output=out)


def test_empty_file(workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    result, out = score(workspace, path)
    assert_clean_error(result, str(path), "empty", "header row and data rows", output=out)


def test_header_only(workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("row_id,a,b,c,color\n")
    result, out = score(workspace, path)
    assert_clean_error(result, str(path), "no data rows", "add rows", output=out)


@pytest.mark.parametrize("blob", [bytes(range(256)) * 8, bytes(range(128, 256)) * 8],
                         ids=["with-nul", "not-utf8"])
def test_binary_file(workspace: Path, tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "blob.csv"
    path.write_bytes(blob)
    result, out = score(workspace, path)
    assert_clean_error(result, str(path), output=out)
    assert "CSV" in result.stderr


def test_latin1_text_short_or_late_in_the_file(workspace: Path, tmp_path: Path,
                                               test_frame: pd.DataFrame) -> None:
    """A Latin-1 'é' in a small file (all of it sniffed) or far past the sniffed start: one
    message naming the cell (pandas could not decode pyarrow's bytes: a traceback before)."""
    short = tmp_path / "short.csv"
    short.write_bytes(b"row_id,a,b,c,color\nr1,1,2,3,r\xe9d\n")
    result, out = score(workspace, short)
    assert_clean_error(result, str(short), "is not UTF-8 text", "save the file as UTF-8",
                       output=out)
    late = tmp_path / "late.csv"
    rows = pd.concat([test_frame] * 10, ignore_index=True).drop(columns=["label"])
    text = rows.to_csv(index=False).encode()
    cut = text.index(b"\n", 70_000) + 1  # a row past the first 64 KB
    late.write_bytes(text[:cut] + text[cut:].replace(b",", b"\xe9,", 1))
    result, out = score(workspace, late)
    row = text[:cut].count(b"\n")  # data rows before it (the header line is not one)
    assert_clean_error(result, str(late), f"column 'row_id' row {row:,}: b'",
                       "is not UTF-8 text", output=out)


def test_semicolon_separated(workspace: Path, tmp_path: Path, test_frame: pd.DataFrame) -> None:
    path = tmp_path / "semi.csv"
    test_frame.head(20).to_csv(path, sep=";", index=False)
    result, out = score(workspace, path)
    assert_clean_error(result, str(path), "semicolon", "comma-separated", output=out)


# ----------------------------------------------------------------------- schema
def test_missing_feature_column(workspace: Path, tmp_path: Path, test_frame: pd.DataFrame
                                ) -> None:
    path = tmp_path / "no_b.csv"
    test_frame.drop(columns=["b"]).to_csv(path, index=False)
    result, out = score(workspace, path)
    assert_clean_error(result, str(path), "'b'", "missing", "add them", output=out)


def test_extra_columns_are_scored_with_a_note(workspace: Path, tmp_path: Path,
                                              test_frame: pd.DataFrame) -> None:
    path = tmp_path / "extra.csv"
    test_frame.assign(extra_col=1.5).to_csv(path, index=False)
    result, out = score(workspace, path)
    assert result.returncode == 0, result.stderr
    assert "extra_col" in result.stderr and "error" not in result.stderr
    scored = pd.read_csv(out)
    assert len(scored) == len(test_frame)
    assert not list(out.parent.glob(".*.tmp"))


def test_two_inputs_with_one_default_output_are_refused(workspace: Path, tmp_path: Path,
                                                         test_frame: pd.DataFrame) -> None:
    (tmp_path / "day1").mkdir()
    (tmp_path / "day2").mkdir()
    first, second = tmp_path / "day1" / "a.csv", tmp_path / "day2" / "a.csv"
    test_frame.to_csv(first, index=False)
    test_frame.to_csv(second, index=False)
    scores = tmp_path / "ws"
    shutil.copytree(workspace / "models", scores / "models")
    result = run_main("score", "toy", str(first), str(second), *ws_args(scores))
    assert_clean_error(result, str(first), str(second), "a.scored.csv", "-o")
    assert not (scores / "scores").exists()  # refused before anything was written


# ----------------------------------------------------------------------- values
def test_text_in_numeric_column(workspace: Path, tmp_path: Path, test_frame: pd.DataFrame
                                ) -> None:
    frame = test_frame.astype({"a": object})
    frame.loc[4, "a"] = "abc"
    path = tmp_path / "text.csv"
    frame.to_csv(path, index=False)
    result, out = score(workspace, path)
    assert_clean_error(result, str(path), "'a'", "row 5", "'abc'", "--on-bad-rows skip",
                       output=out)

    skipped, out = score(workspace, path, "--on-bad-rows", "skip")
    assert skipped.returncode == 0, skipped.stderr
    scored = pd.read_csv(out)
    assert len(scored) == len(frame) - 1
    assert "r00004" not in set(scored["row_id"])  # the bad row (5th data row) is the one left out
    assert "skipped 1 row" in skipped.stderr


def test_missing_values_are_imputed(workspace: Path, tmp_path: Path, test_frame: pd.DataFrame
                                    ) -> None:
    frame = test_frame.copy()
    frame.loc[3, "a"] = np.nan
    frame.loc[7, "color"] = None
    path = tmp_path / "nan.csv"
    frame.to_csv(path, index=False)
    result, out = score(workspace, path)
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(out)
    assert len(scored) == len(frame)
    assert np.isfinite(scored["anomaly_score"]).all()


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_value(workspace: Path, tmp_path: Path, test_frame: pd.DataFrame,
                        value: float) -> None:
    frame = test_frame.copy()
    frame.loc[6, "c"] = value
    path = tmp_path / "inf.csv"
    frame.to_csv(path, index=False)
    result, out = score(workspace, path)
    assert_clean_error(result, str(path), "'c'", "row 7", "infinite", "finite value",
                       output=out)


def test_bad_value_in_a_later_chunk_names_the_file_row_and_leaves_no_output(
        workspace: Path, tmp_path: Path, test_frame: pd.DataFrame) -> None:
    """Chunked scoring: the row number counts from the file's start; no partial output remains."""
    from anomaly import Detector
    from anomaly.jobs.score import score_file

    frame = test_frame.astype({"b": str})  # a text column in Parquet, like an export would give
    frame.loc[249, "b"] = "n/a?"
    path = tmp_path / "chunks.parquet"
    frame.to_parquet(path, index=False)
    out = tmp_path / "out" / "chunks.scored.parquet"
    detector = Detector.load("toy", workspace / "models")
    with pytest.raises(InputError, match=r"'b' row 250: 'n/a\?'"):
        score_file(detector, path, out, chunk_rows=100)
    assert not out.exists()
    assert not list(out.parent.glob(".*.tmp"))


# ---------------------------------------------------------------------- training
def test_constant_column_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "const.csv"
    make_tabular(200, seed=3).drop(columns=["label"]).assign(k=5.0).to_csv(path, index=False)
    result = run_main("train", str(path), "--name", "const", "--id-col", "row_id",
                      "--epochs", "2", "--no-progress", *ws_args(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "'k'" in result.stderr and "constant" in result.stderr
    meta = json.loads((tmp_path / "models" / "const" / "v1" / "bundle.json").read_text())
    features = [c["name"] for c in meta["schema"]["columns"] if c["role"] == "feature"]
    assert "k" not in features and {"a", "b", "c", "color"} <= set(features)


def test_too_few_rows_to_train(tmp_path: Path) -> None:
    path = tmp_path / "few.csv"
    make_tabular(5).drop(columns=["label"]).to_csv(path, index=False)
    result = run_main("train", str(path), "--name", "few", "--epochs", "2", *ws_args(tmp_path))
    assert_clean_error(result, str(path), "5 normal row", "at least 10", "add rows")
    assert not (tmp_path / "models" / "few").exists()


def test_text_in_numeric_column_at_training(tmp_path: Path) -> None:
    frame = make_tabular(200, seed=4).drop(columns=["label"]).astype({"c": object})
    frame.loc[150, "c"] = "oops"
    path = tmp_path / "train_text.csv"
    frame.to_csv(path, index=False)
    result = run_main("train", str(path), "--name", "tt", "--id-col", "row_id", "--epochs", "2",
                      *ws_args(tmp_path))
    # training rows are shuffled before the split: the message still names the file's row
    assert_clean_error(result, str(path), "'c'", "row 151", "'oops'", "--on-bad-rows skip")
    assert not (tmp_path / "models" / "tt").exists()


@pytest.fixture
def bad_labels(tmp_path: Path) -> Path:
    frame = make_tabular(200, seed=5, anomalies=5).astype({"label": object})
    frame.loc[2, "label"] = "yes"
    path = tmp_path / "labels.csv"
    frame.to_csv(path, index=False)
    return path


def test_train_label_not_0_1(tmp_path: Path, bad_labels: Path) -> None:
    result = run_main("train", str(bad_labels), "--name", "lab", "--label-col", "label",
                      "--id-col", "row_id", "--epochs", "2", *ws_args(tmp_path))
    assert_clean_error(result, str(bad_labels), "'label'", "row 3", "'yes'", "0 or 1")
    assert not (tmp_path / "models" / "lab").exists()


def test_evaluate_label_not_0_1(workspace: Path, bad_labels: Path) -> None:
    result = run_main("evaluate", "toy", str(bad_labels), "--label-col", "label",
                      *ws_args(workspace))
    assert_clean_error(result, str(bad_labels), "'label'", "row 3", "'yes'", "0 or 1")


def test_evaluate_missing_label_column(workspace: Path, tabular_files: dict[str, Path]) -> None:
    result = run_main("evaluate", "toy", str(tabular_files["test"]), "--label-col", "truth",
                      *ws_args(workspace))
    assert_clean_error(result, "'truth'", "not found")


# ------------------------------------------------------------------ options, models
def test_unknown_model_lists_known_ones(workspace: Path, tabular_files: dict[str, Path]) -> None:
    result = run_main("score", "nosuch", str(tabular_files["test"]), *ws_args(workspace))
    assert_clean_error(result, "'nosuch'", "known models: ", "toy")


def test_unknown_model_version(workspace: Path, tabular_files: dict[str, Path]) -> None:
    result = run_main("score", "toy@99", str(tabular_files["test"]), *ws_args(workspace))
    assert_clean_error(result, "'toy'", "99", "versions: 1")


@pytest.mark.parametrize(("args", "needles"), [
    (["--hidden", "abc"], ["--hidden 'abc'", "64,32"]),
    (["--hidden", "8,0"], ["--hidden '8,0'", "positive"]),
    (["--optimizer", "bogus"], ["'bogus'", "adam, adamw, sgd, rmsprop, adagrad"]),
    (["--norm", "group"], ["'group'", "batch", "layer"]),
    (["--kind", "images"], ["'images'", "tabular"]),
    (["--baseline-rows", "100"], ["--baseline-rows", "are for --kind timeseries"]),
    (["--group-col", "merchant"], ["--group-col", "are for --kind timeseries"]),
    (["--session-regex", "x"], ["--session-regex", "are for --kind logs"]),
], ids=["hidden-text", "hidden-zero", "optimizer", "norm", "kind", "baseline-rows-tabular",
        "group-col-tabular", "session-regex-tabular"])
def test_bad_training_options(tmp_path: Path, tabular_files: dict[str, Path], args: list[str],
                              needles: list[str]) -> None:
    result = run_main("train", str(tabular_files["train"]), "--name", "opt", *args,
                      *ws_args(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("error:") == 1
    for needle in needles:
        assert needle in result.stderr
    assert not (tmp_path / "models").exists()


def test_bad_on_bad_rows_value(workspace: Path, tabular_files: dict[str, Path]) -> None:
    result = run_main("score", "toy", str(tabular_files["test"]), "--on-bad-rows", "maybe",
                      *ws_args(workspace))
    assert_clean_error(result, "'maybe'", "fail or skip")


@pytest.mark.parametrize("args", [
    ["score", "toy", "x.csv", "--bogus"],
    ["score"],
    ["frobnicate"],
    ["train", "x.csv", "--epochs", "many"],
], ids=["unknown-option", "missing-argument", "unknown-command", "bad-int"])
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run_main(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "Error" in result.stderr or "Usage" in result.stderr


def test_help_exits_0() -> None:
    result = run_main("score", "--help")
    assert result.returncode == 0
    assert "Example: anomaly score" in result.stdout


# -------------------------------------------------------------------- bundles
@pytest.fixture
def bundle_copy(workspace: Path, tmp_path: Path) -> Path:
    """A private copy of model 'toy' that a test may damage."""
    target = tmp_path / "ws" / "models" / "toy" / "v1"
    shutil.copytree(workspace / "models" / "toy" / "v1", target)
    return target


def _score_copy(bundle: Path, tabular_files: dict[str, Path]) -> tuple[CliResult, Path]:
    out = bundle.parents[3] / "scored.csv"
    result = run_main("score", "toy", str(tabular_files["test"]), "-o", str(out),
                      "--workspace", str(bundle.parents[2]))
    return result, out


def test_edited_weights_are_refused(bundle_copy: Path, tabular_files: dict[str, Path]) -> None:
    weights = bundle_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF  # flip bits inside the last tensor's values
    weights.write_bytes(bytes(data))
    result, out = _score_copy(bundle_copy, tabular_files)
    assert_clean_error(result, "model.safetensors", "SHA-256", "restore it or retrain",
                       output=out)


def test_missing_bundle_file_is_refused(bundle_copy: Path, tabular_files: dict[str, Path]
                                        ) -> None:
    (bundle_copy / "validation_scores.csv").unlink()
    result, out = _score_copy(bundle_copy, tabular_files)
    assert_clean_error(result, "validation_scores.csv", "missing", output=out)


def test_foreign_format_is_refused(bundle_copy: Path, tabular_files: dict[str, Path]) -> None:
    meta_file = bundle_copy / "bundle.json"
    meta = json.loads(meta_file.read_text())
    meta["format"] = "someone-elses-model"
    meta_file.write_text(json.dumps(meta))
    result, out = _score_copy(bundle_copy, tabular_files)
    assert_clean_error(result, "bundle.json", "foreign format", "'someone-elses-model'",
                       output=out)


def test_edited_bundle_json_fails_its_checksum(bundle_copy: Path,
                                               tabular_files: dict[str, Path]) -> None:
    meta_file = bundle_copy / "bundle.json"
    meta = json.loads(meta_file.read_text())
    meta["threshold"]["value"] = 1e9  # hand-editing the threshold instead of `anomaly threshold`
    meta_file.write_text(json.dumps(meta, indent=2))
    result, out = _score_copy(bundle_copy, tabular_files)
    assert_clean_error(result, "bundle.json", "checksum", "anomaly threshold", output=out)
    info = run_main("info", "toy", "--workspace", str(bundle_copy.parents[2]))
    assert_clean_error(info, "checksum")


def test_corrupt_bundle_json_is_refused(bundle_copy: Path, tabular_files: dict[str, Path]) -> None:
    (bundle_copy / "bundle.json").write_text('{"format": "anomaly-bundle", ')
    result, out = _score_copy(bundle_copy, tabular_files)
    assert_clean_error(result, "bundle.json", "corrupt JSON", output=out)


# ------------------------------------------------- real subprocess: what a user sees
@pytest.mark.slow
def test_real_process_bad_value_no_traceback(workspace: Path, tmp_path: Path,
                                             test_frame: pd.DataFrame) -> None:
    frame = test_frame.drop(columns=["label"]).astype({"a": object})
    frame.loc[10, "a"] = "12,5"
    path = tmp_path / "text.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "scored.csv"
    result = run_cli("score", "toy", str(path), "-o", str(out), "--workspace", str(workspace))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {path}: column 'a' row 11: '12,5' is not a number (1 such row(s)) — fix the "
        "value or pass --on-bad-rows skip")
    assert result.stdout == ""
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def test_real_process_writes_everything_before_it_leaves(workspace: Path, tmp_path: Path,
                                                         test_frame: pd.DataFrame) -> None:
    """Once torch is loaded the command skips Python's slow shutdown (`anomaly.cli.app.run`):
    the output file, the summary on a piped standard output and the exit code are complete."""
    path = tmp_path / "in.csv"
    test_frame.drop(columns=["label"]).to_csv(path, index=False)
    out = tmp_path / "scored.csv"
    result = run_cli("score", "toy", str(path), "-o", str(out), "--workspace", str(workspace))
    assert result.returncode == 0, result.stderr
    assert f"{path}: {len(test_frame):,} rows" in result.stdout
    assert len(pd.read_csv(out)) == len(test_frame) and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def test_real_process_stops_quietly_when_its_reader_leaves(workspace: Path,
                                                           tmp_path: Path) -> None:
    """`anomaly score … -o - | head -1`: exit 141 (as tools killed by SIGPIPE report it), no
    message (Click alone would exit 1 on the broken pipe)."""
    path = tmp_path / "big.csv"  # ~10 MB of scores: more than any pipe holds
    make_tabular(150_000, seed=11).drop(columns=["label"]).to_csv(path, index=False)
    command = [sys.executable, "-m", "anomaly.cli", "score", "toy", str(path), "-o", "-",
               "--show", "0", "--quiet", "--workspace", str(workspace)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, cwd=ROOT) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith(b'"row_id",')
        process.stdout.close()  # megabytes of CSV are still to come: the next write breaks
        code = process.wait(timeout=240)
        assert (code, process.stderr.read()) == (141, b"")


@pytest.mark.slow
def test_real_process_usage_error_no_traceback() -> None:
    result = run_cli("score", "toy", "x.csv", "--no-such-option")
    assert result.returncode == 2
    assert "No such option: --no-such-option" in result.stderr
    assert "Traceback" not in result.stderr


def test_version() -> None:
    from anomaly import __version__

    result = run_main("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"anomaly {__version__}"


def test_log_options_are_refused_for_other_kinds(tmp_path: Path,
                                                 tabular_files: dict[str, Path]) -> None:
    result = run_main("train", str(tabular_files["train"]), "--session-window", "5m",
                      *ws_args(tmp_path))
    assert_clean_error(result, "--session-window", "--kind logs")
    result = run_main("train", str(tabular_files["train"]), "--kind", "timeseries",
                      "--time-col", "a", "--window", "5m", *ws_args(tmp_path))
    assert_clean_error(result, "--window '5m'", "--session-window")
    assert not (tmp_path / "models").exists()
