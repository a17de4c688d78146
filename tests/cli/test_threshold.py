"""`anomaly threshold`: every method records a new threshold version that scoring then uses; the
history is appended, never rewritten; `--dry-run` saves nothing; bad parameters exit 2; and
`anomaly score --threshold` overrides one run only."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_main, score_toy, toy_meta


@pytest.fixture
def private_ws(workspace: Path, tmp_path: Path) -> Path:
    """A workspace holding a private copy of model 'toy' (tests here change its threshold)."""
    shutil.copytree(workspace / "models" / "toy", tmp_path / "ws" / "models" / "toy")
    return tmp_path / "ws"




METHOD_ARGS = {
    "quantile": ["--q", "0.9"],
    "contamination": ["--contamination", "0.1", "--data", "{test}"],
    "sigma": ["--k", "2"],
    "mad": ["--k", "3"],
    "pot": ["--level", "0.9", "--risk", "0.01"],
    "f1": ["--data", "{test}", "--label-col", "label"],
}


@pytest.mark.parametrize("method", list(METHOD_ARGS))
def test_threshold_method_records_a_new_version_used_by_scoring(
        method: str, private_ws: Path, tmp_path: Path, tabular_files: dict[str, Path]) -> None:
    test = tabular_files["test"]
    before = toy_meta(private_ws)["threshold"]
    args = [a.format(test=test) for a in METHOD_ARGS[method]]
    result = run_main("threshold", "toy", "--method", method, *args, "--why", f"try {method}",
                      "--workspace", str(private_ws))
    assert result.returncode == 0, result.stderr
    assert "saved as threshold version 2" in result.stdout

    after = toy_meta(private_ws)["threshold"]
    assert after["version"] == 2 and after["method"] == method
    assert after["value"] != pytest.approx(before["value"])
    assert [h["version"] for h in after["history"]] == [1, 2]
    assert after["history"][0] == before["history"][0]  # history is appended, never rewritten
    assert after["history"][1]["why"] == f"try {method}"
    assert after["history"][1]["value"] == after["value"]

    scored = score_toy(private_ws, test, tmp_path / "scored.parquet")
    expected = scored["anomaly_score"] > after["value"]
    assert (scored["is_anomaly"] == expected).all()
    if method == "contamination":  # flags the requested share of --data
        assert scored["is_anomaly"].mean() == pytest.approx(0.1, abs=0.01)


def test_threshold_history_accumulates_and_dry_run_saves_nothing(private_ws: Path) -> None:
    ws = ["--workspace", str(private_ws)]
    for q in ("0.9", "0.95"):
        assert run_main("threshold", "toy", "--method", "quantile", "--q", q, *ws).returncode == 0
    before = (private_ws / "models" / "toy" / "v1" / "bundle.json").read_bytes()
    dry = run_main("threshold", "toy", "--method", "sigma", "--dry-run", *ws)
    assert dry.returncode == 0 and "sigma" in dry.stdout
    assert (private_ws / "models" / "toy" / "v1" / "bundle.json").read_bytes() == before

    threshold = toy_meta(private_ws)["threshold"]
    assert threshold["version"] == 3
    assert [h["params"] for h in threshold["history"]][1:] == [{"q": 0.9}, {"q": 0.95}]
    assert not (private_ws / "models" / "toy" / "v2").exists()  # a threshold is not a retrain
    info = run_main("info", "toy", *ws)
    assert info.returncode == 0
    assert "threshold v3" in info.stdout
    assert len(re.findall(r"^\s+v[123] \d{4}-", info.stdout, flags=re.M)) == 3


def test_threshold_bad_parameters_exit_2(private_ws: Path) -> None:
    ws = ["--workspace", str(private_ws)]
    pot = run_main("threshold", "toy", "--method", "pot", *ws)  # 120 validation rows: too few
    assert pot.returncode == 2 and "Traceback" not in pot.stderr
    assert "lower level" in pot.stderr
    f1 = run_main("threshold", "toy", "--method", "f1", *ws)
    assert f1.returncode == 2 and "--label-col" in f1.stderr
    unknown = run_main("threshold", "toy", "--method", "magic", *ws)
    assert unknown.returncode == 2 and "quantile" in unknown.stderr
    assert toy_meta(private_ws)["threshold"]["version"] == 1


def test_score_threshold_overrides_one_run_only(private_ws: Path, tmp_path: Path,
                                                tabular_files: dict[str, Path]) -> None:
    bundle_json = private_ws / "models" / "toy" / "v1" / "bundle.json"
    before = bundle_json.read_bytes()
    test = tabular_files["test"]
    once = score_toy(private_ws, test, tmp_path / "once.parquet", "--threshold", "0")
    assert once["is_anomaly"].all()  # every score is > 0
    assert bundle_json.read_bytes() == before
    normal = score_toy(private_ws, test, tmp_path / "normal.parquet")
    assert (normal["is_anomaly"] == (normal["anomaly_score"] >
                                     toy_meta(private_ws)["threshold"]["value"])).all()
    assert normal["is_anomaly"].sum() < len(normal)
