"""Bundles: round trip, files and permissions, versions, and no pickle.

The commands that change or list bundles are tested in tests/cli/ (test_threshold, test_models).
"""

from __future__ import annotations

import ast
import os
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomaly import BundleError, Detector
from anomaly.bundle import resolve, sha256_file
from tests.conftest import ROOT, run_main, score_toy, toy_meta


# ---------------------------------------------------------------- round trip
def test_save_load_round_trip_gives_identical_scores(workspace: Path, tmp_path: Path,
                                                     tabular_files: dict[str, Path]) -> None:
    frame = pd.read_csv(tabular_files["test"])
    original = Detector.load("toy", workspace / "models")
    path = original.save(tmp_path / "models", "copy")
    assert path == tmp_path / "models" / "copy" / "v1"
    again = Detector.load(path)
    np.testing.assert_array_equal(original.anomaly_scores(frame), again.anomaly_scores(frame))
    np.testing.assert_array_equal(original.explain(frame).to_numpy(),
                                  again.explain(frame).to_numpy())
    pd.testing.assert_frame_equal(original.score_frame(frame), again.score_frame(frame))
    assert again.threshold_ == original.threshold_
    np.testing.assert_array_equal(again.validation_scores_, original.validation_scores_)
    pd.testing.assert_frame_equal(again.history_, original.history_)

    # The CLI computes the very same numbers (Parquet keeps floats exact).
    cli = score_toy(workspace, tabular_files["test"], tmp_path / "cli.parquet")
    np.testing.assert_array_equal(cli["anomaly_score"].to_numpy(),
                                  again.anomaly_scores(frame))
    assert cli["row_id"].tolist() == frame["row_id"].tolist()  # the id column is carried


def test_bundle_files_are_weights_and_json_only(workspace: Path) -> None:
    folder = workspace / "models" / "toy" / "v1"
    assert sorted(p.name for p in folder.iterdir()) == [  # the neighbour score's reference rows
        "bundle.json", "history.csv", "model.safetensors", "scoring.safetensors",
        "validation_scores.csv"]
    meta = toy_meta(workspace)
    assert meta["format"] == "anomaly-bundle" and meta["kind"] == "tabular"
    for name, digest in meta["files"].items():
        assert sha256_file(folder / name) == digest
    history = pd.read_csv(folder / "history.csv")
    assert list(history.columns) == ["epoch", "train_loss", "val_loss", "lr", "grad_norm"]
    roles = {c["name"]: c["role"] for c in meta["schema"]["columns"]}
    assert roles == {"a": "feature", "b": "feature", "c": "feature", "color": "feature",
                     "row_id": "id"}


def test_bundles_and_outputs_get_ordinary_permissions(workspace: Path, tmp_path: Path,
                                                      tabular_files: dict[str, Path]) -> None:
    """Temp-file-then-rename must not leave mkstemp's owner-only modes (0600/0700) behind."""
    umask = os.umask(0o022)
    os.umask(umask)
    folder = workspace / "models" / "toy" / "v1"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask
    for file in folder.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~umask, file.name
    score_toy(workspace, tabular_files["test"], tmp_path / "scored.parquet")
    assert stat.S_IMODE((tmp_path / "scored.parquet").stat().st_mode) == 0o666 & ~umask


# ------------------------------------------------------------------- versions
def test_versions_increment_and_resolve(workspace: Path, tmp_path: Path,
                                        tabular_files: dict[str, Path]) -> None:
    models = tmp_path / "models"
    det = Detector.load("toy", workspace / "models")
    first = det.save(models, "m")
    second = det.save(models / "m")  # the one-path form writes the same place
    assert (first.name, second.name) == ("v1", "v2")
    assert resolve("m", models) == second
    assert resolve("m@1", models) == first
    assert resolve("m@v2", models) == second
    assert Detector.load("m", models).meta_["version"] == 2
    assert Detector.load("m@1", models).meta_["version"] == 1
    with pytest.raises(BundleError, match=r"no version '3' — versions: 1, 2"):
        resolve("m@3", models)

    listing = run_main("models", "--workspace", str(tmp_path))
    assert listing.returncode == 0
    row = next(line for line in listing.stdout.splitlines() if line.startswith("m "))
    assert re.search(r"^m\s+2\s+tabular", row), row

    out = tmp_path / "old.parquet"
    result = run_main("score", "m@1", str(tabular_files["test"]), "-o", str(out), "--show", "0",
                      "--workspace", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert len(pd.read_parquet(out)) == 300


# ----------------------------------------------------------------------- safety
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "joblib", "dill", "cloudpickle", "shelve",
                  "marshal"}


def unsafe_calls(source: str) -> list[str]:
    """Imports of pickle-like modules and calls that unpickle, found in Python source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in UNSAFE_MODULES:
                found.append(node.module)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(getattr(func, "value", None), "id", "")
            flags = {k.arg: getattr(k.value, "value", None) for k in node.keywords}
            if name in ("read_pickle", "to_pickle", "load_from_checkpoint"):
                found.append(name)
            elif owner == "torch" and name == "load" and flags.get("weights_only") is not True:
                found.append("torch.load without weights_only=True")
            elif flags.get("allow_pickle") is True:
                found.append(f"{name}(allow_pickle=True)")
    return found


def test_no_pickle_anywhere_in_the_package() -> None:
    """Opening a bundle must not be able to run code: no pickle-based loading in the package."""
    hits = {}
    for path in sorted((ROOT / "anomaly").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        found = unsafe_calls(source)
        # a plain grep as well, for torch.load reached some other way (e.g. an alias)
        found += [line.strip() for line in source.splitlines()
                  if "torch.load(" in line and "weights_only=True" not in line]
        if found:
            hits[str(path.relative_to(ROOT))] = found
    assert not hits


def test_no_pickle_guard_catches_offenders() -> None:
    assert unsafe_calls("import torch\nstate = torch.load(path)")
    assert not unsafe_calls("import torch\nstate = torch.load(path, weights_only=True)")
    assert unsafe_calls("import joblib")
    assert unsafe_calls("from pickle import loads")
    assert unsafe_calls("np.load(f, allow_pickle=True)")
    assert unsafe_calls("pd.read_pickle(f)")
    assert not unsafe_calls('"""Never pickle."""\nload_file(str(path))')
