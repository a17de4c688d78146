"""Class 8 in the dashboard: a refused bundle is a message on every page, never an exception."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from anomaly.bundle import update_meta
from tests.dashboards.dashboard_ws import workspace_copy

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
PAGES = ("anomalies", "training", "threshold", "monitoring")


@pytest.mark.parametrize("page", PAGES)
def test_a_refused_bundle_is_a_message_on_every_page(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    ws = workspace_copy(tmp_path_factory.getbasetemp(), tmp_path / "ws")
    monkeypatch.setenv("ANOMALY_WORKSPACE", str(ws))
    folder = ws / "models" / "toy" / "v1"
    meta = json.loads((folder / "bundle.json").read_text())
    meta["threshold"]["value"] = math.nan  # edited, checksum recomputed
    update_meta(folder, meta)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception
    if page == "monitoring":  # reads the ledger only: it never opens the bundle
        return
    errors = " ".join(e.value for e in at.error)
    assert "threshold.value" in errors and "finite number" in errors
