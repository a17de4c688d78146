"""Classes 8 and 11: a bundle is validated (and, with a key, signed) before it is used; a
model reference is a path only when it looks like one."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from anomaly.bundle import update_meta
from anomaly.signing import KEY_ENV, KEY_FILE_ENV, body
from tests.conftest import run_main, toy_meta
from tests.reliability.kit import data_file, edit_meta, one_error, private_ws, score


@pytest.fixture
def ws(workspace: Path, tmp_path: Path) -> Path:
    return private_ws(workspace, tmp_path)


def _set(path: str, value: Any) -> Any:
    def change(meta: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = meta
        for key in parents:
            node = node[key]
        if value is _set:
            del node[last]
        else:
            node[last] = value
    return change


EDITS = {
    "nan threshold": (_set("threshold.value", math.nan), "threshold.value"),
    "text threshold": (_set("threshold.value", "high"), "threshold.value"),
    "no files": (_set("files", _set), "'files' is missing"),
    "files as a list": (_set("files", ["model.safetensors"]), "'files' must be an object"),
    "file outside": (_set("files", {"../../../dev/zero": "0" * 64, "model.safetensors": "0" * 64,
                                    "history.csv": "0" * 64, "validation_scores.csv": "0" * 64}),
                     "not a file inside the bundle folder"),
    "bad network": (_set("network.class", 3), "network.class"),
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_edited_bundle_is_refused_naming_the_field(ws: Path, tmp_path: Path, edit: str) -> None:
    change, needle = EDITS[edit]
    edit_meta(ws, change)
    started = time.monotonic()
    message = one_error(score(ws, str(data_file(tmp_path)), "-o", str(tmp_path / "o.csv")))
    assert needle in message and "bundle.json" in message
    assert time.monotonic() - started < 30  # /dev/zero is never read
    assert not (tmp_path / "o.csv").exists()
    listing = run_main("models", "--workspace", str(ws))  # one bad bundle breaks nothing else
    assert listing.returncode == 0 and "unreadable" in listing.stdout


def test_nan_threshold_on_the_command_line_is_refused(ws: Path, tmp_path: Path) -> None:
    for value in ("nan", "inf"):
        message = one_error(score(ws, str(data_file(tmp_path)), "--threshold", value))
        assert "finite number" in message


def test_bundle_file_that_is_a_symlink_is_refused(ws: Path) -> None:
    folder = ws / "models" / "toy" / "v1"
    (folder / "history.csv").unlink()
    (folder / "history.csv").symlink_to("/dev/zero")
    assert "not a regular file" in one_error(run_main("info", "toy", "--workspace", str(ws)))


def test_signing_key_refuses_unsigned_and_re_checksummed_bundles(
        ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "s3cret")
    assert "not signed" in one_error(run_main("info", "toy", "--workspace", str(ws)))
    folder = ws / "models" / "toy" / "v1"
    update_meta(folder, toy_meta(ws))  # an operator with the key signs it
    assert "signature" in toy_meta(ws)
    assert run_main("info", "toy", "--workspace", str(ws)).returncode == 0
    meta = toy_meta(ws)
    meta["threshold"]["value"] = 1e9  # edit and recompute the checksum, without the key
    monkeypatch.delenv(KEY_ENV)
    update_meta(folder, meta)
    key_file = tmp_path / "key"
    key_file.write_text("s3cret\n")
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
    assert "not signed" in one_error(run_main("info", "toy", "--workspace", str(ws)))
    forged = toy_meta(ws)
    forged["signature"] = "0" * 64
    forged["checksum"] = hashlib.sha256(body(forged)).hexdigest()
    (folder / "bundle.json").write_text(json.dumps(forged))
    assert "signature does not match" in one_error(run_main("info", "toy", "--workspace",
                                                            str(ws)))


def test_a_name_is_never_shadowed_by_a_folder_in_the_current_directory(
        ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = tmp_path / "cwd"
    shutil.copytree(ws / "models" / "toy", here / "toy")
    edit_meta(ws, lambda meta: None)  # same model; only the folder tells them apart
    monkeypatch.chdir(here)
    shown = run_main("info", "toy", "--workspace", str(ws))
    assert shown.returncode == 0 and str(ws / "models" / "toy" / "v1") in shown.stdout
    local = run_main("info", "./toy", "--workspace", str(ws))
    assert local.returncode == 0 and str(ws) not in local.stdout
    assert "not a model bundle folder" in one_error(run_main("info", "./nope",
                                                             "--workspace", str(ws)))
