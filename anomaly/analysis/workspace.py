"""The workspace as the dashboard sees it: safe paths, the files it offers, uploads.

The dashboard reads and writes only inside its workspace: every path a page opens goes through
`inside`, which refuses `..` and symlinks that lead out.

Example:
    >>> inside(Path("/tmp"), "../etc/passwd")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: ...
"""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pandas as pd

from anomaly.errors import InputError
from anomaly.io import read_table_bytes

UPLOAD_LIMIT_MB = 200  # Streamlit's server.maxUploadSize (set by `anomaly dashboard`) and ours
DATA_SUFFIXES = (".csv", ".parquet", ".pq")
TABLE_PATTERNS = tuple(f"*{suffix}" for suffix in DATA_SUFFIXES)
SKIP_DIRS = {"models", "scores", "artifacts", "node_modules", "__pycache__"}
MAX_LISTED = 200


def resolve_workspace(path: Path | str) -> Path:
    """The workspace folder, resolved; `InputError` when it does not exist.

    Example:
        >>> resolve_workspace("/") == Path("/")
        True
    """
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise InputError(f"workspace {folder} does not exist — pass --workspace DIR (a folder "
                         "holding models/, scores/ and runs.db)")
    return folder


def inside(workspace: Path, candidate: Path | str) -> Path:
    """Resolve `candidate` (relative to the workspace) and refuse anything outside it.

    Example:
        >>> inside(Path("/tmp"), "scores") == Path("/tmp/scores").resolve()
        True
    """
    root = workspace.resolve()
    target = (root / candidate).resolve()
    if target != root and not target.is_relative_to(root):
        raise InputError(f"{candidate}: outside the workspace {root} — the dashboard only reads "
                         "and writes inside its workspace; copy the file into it")
    return target


def list_scored(workspace: Path) -> list[Path]:
    """Scored files in `<workspace>/scores/` (CSV or Parquet), newest first.

    Example:
        >>> list_scored(Path("/nonexistent"))
        []
    """
    folder = workspace / "scores"
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES
             and not p.name.startswith(".")]
    return sorted(found, key=lambda p: (-p.stat().st_mtime, p.name))[:MAX_LISTED]


def list_inputs(workspace: Path, depth: int = 3,
                patterns: tuple[str, ...] = TABLE_PATTERNS) -> list[Path]:
    """Data files in the workspace that may be the original inputs of scored files.

    Files whose name matches one of `patterns` (case-insensitive; CSV and Parquet tables by
    default, a log model's kind offers ``*.log``, ``*.log.gz``…). Folders of bundles, scored
    files and build output are skipped, and so are hidden entries and symlinked folders; at
    most `MAX_LISTED` files, `depth` folder levels deep.

    Example:
        >>> list_inputs(Path("/nonexistent"))
        []
    """
    found: list[Path] = []

    def walk(folder: Path, level: int) -> None:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(".") or len(found) >= MAX_LISTED:
                continue
            if entry.is_dir() and not entry.is_symlink():
                if level < depth and entry.name not in SKIP_DIRS:
                    walk(entry, level + 1)
            elif entry.is_file() and any(fnmatch(entry.name.lower(), p.lower())
                                         for p in patterns):
                found.append(entry)

    walk(workspace, 1)
    return found


def guess_input(scored: Path, inputs: list[Path]) -> Path | None:
    """The input whose stem matches a scored file's (``x.scored.csv`` came from ``x.csv``).

    Example:
        >>> guess_input(Path("scores/x.scored.csv"), [Path("data/y.csv"), Path("data/x.csv")])
        PosixPath('data/x.csv')
    """
    stem = scored.name.split(".")[0]
    matches = [p for p in inputs if p.name.split(".")[0] == stem]
    return matches[0] if matches else None


def read_upload(name: str, data: bytes,
                max_bytes: int = UPLOAD_LIMIT_MB * 1_000_000) -> pd.DataFrame:
    """Read an uploaded CSV/Parquet file from memory; refuse other types and oversize files.

    Example:
        >>> read_upload("x.csv", b"a,b\\n1,2\\n").shape
        (1, 2)
    """
    if Path(name).suffix.lower() not in DATA_SUFFIXES:
        raise InputError(f"{name}: not a CSV or Parquet file — upload a .csv or .parquet file")
    if len(data) > max_bytes:
        raise InputError(f"{name}: {len(data) / 1e6:.1f} MB is over the upload limit of "
                         f"{max_bytes / 1e6:.0f} MB — put the file into the workspace instead")
    return read_table_bytes(data, name)
