"""`anomaly models` and `anomaly info`: the listing, an empty workspace, text and JSON info."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import run_main


def test_models_and_info_output(workspace: Path, tmp_path: Path) -> None:
    listing = run_main("models", "--workspace", str(workspace))
    assert listing.returncode == 0
    assert re.search(r"^toy\s+1\s+tabular\s+\S+\s+[\d.e+-]+ \(quantile\)$", listing.stdout,
                     flags=re.M), listing.stdout

    empty = run_main("models", "--workspace", str(tmp_path))
    assert empty.returncode == 0 and "no models" in empty.stdout

    info = run_main("info", "toy", "--workspace", str(workspace))
    assert info.returncode == 0
    lines = info.stdout.splitlines()
    assert lines[0].startswith("toy@1  (")
    assert "  features (4): a, b, c, color" in lines
    assert "  other columns: row_id (id)" in lines
    assert any(line.startswith("  threshold v1: ") for line in lines)
    assert any("model.safetensors" in line for line in lines)
    assert any(line.startswith("  score: mean distance to the k nearest training rows")
               and "(k=5, " in line for line in lines)

    as_json = run_main("info", "toy", "--json", "--workspace", str(workspace))
    meta = json.loads(as_json.stdout)
    assert meta["name"] == "toy" and meta["version"] == 1
    assert set(meta["files"]) == {"model.safetensors", "scoring.safetensors", "history.csv",
                                  "validation_scores.csv"}
    assert meta["training"]["train_rows"] + meta["training"]["validation_rows"] == 600
