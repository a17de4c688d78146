"""Quick commands stay quick: they read JSON and small files and never import torch or
Lightning (seconds of start-up); `anomaly score` imports torch but neither Lightning nor
scikit-learn. Each command runs in a fresh interpreter, which then reports what it imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

REPORT = """
import sys
from anomaly.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
print("IMPORTED:" + ",".join(sorted(m for m in {mods!r} if m in sys.modules)))
"""
HEAVY = ("torch", "pytorch_lightning", "lightning", "pandas", "sklearn", "scipy")


def imported(*args: str) -> set[str]:
    """The heavy modules that `anomaly ARGS` imported, run in a fresh interpreter."""
    result = subprocess.run([sys.executable, "-c", REPORT.format(mods=HEAVY), *args],
                            capture_output=True, text=True, cwd=ROOT, timeout=240,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("IMPORTED:"), result.stdout
    return {m for m in line.removeprefix("IMPORTED:").split(",") if m}


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ("--help",),
    ("models",),
    ("info", "toy"),
    ("info", "toy", "--json"),
    ("runs",),
    ("threshold", "toy", "--method", "quantile", "--q", "0.99", "--dry-run"),
    ("threshold", "toy", "--method", "sigma", "--k", "4", "--dry-run"),
    ("threshold", "toy", "--method", "manual", "--value", "3", "--dry-run"),
], ids=lambda a: " ".join(a))
def test_quick_commands_import_no_torch(workspace: Path, args: tuple[str, ...]) -> None:
    extra = () if args == ("--help",) else ("--workspace", str(workspace))
    assert imported(*args, *extra) == set()


@pytest.mark.slow
def test_score_imports_no_lightning(workspace: Path, tabular_files: dict[str, Path],
                                    tmp_path: Path) -> None:
    found = imported("score", "toy", str(tabular_files["test"]), "-o",
                     str(tmp_path / "out.csv"), "--workspace", str(workspace))
    assert "torch" in found  # the check sees imports: scoring does need torch
    assert not found & {"pytorch_lightning", "lightning", "sklearn"}
    assert (tmp_path / "out.csv").exists()
