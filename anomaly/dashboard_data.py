"""Pure helpers behind the dashboard: workspace listing, safe paths, scored files, summaries.

Nothing here imports Streamlit: the pages in `dashboards/` are thin scripts that call these
functions, so everything the dashboard shows can be tested without a browser. Large inputs are
reduced here (downsampled series, binned histograms, capped tables) so that the browser never
receives millions of points.

Example:
    >>> import numpy as np
    >>> spec = slider_spec(np.array([0.1, 0.2, 0.3]), np.array([0.2, 5.0]), 0.25)
    >>> spec.lo, spec.value <= spec.hi
    (0.0, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomaly.errors import InputError, SchemaError
from anomaly.io import read_table, read_table_bytes

SCORE_COLUMNS = ("anomaly_score", "score_percentile", "is_anomaly", "top_features")
DATA_SUFFIXES = (".csv", ".parquet", ".pq")
SKIP_DIRS = {"models", "scores", "artifacts", "node_modules", "__pycache__"}
MAX_LISTED = 200
TABLE_ROWS = 1000


# ------------------------------------------------------------------ workspace and paths
def resolve_workspace(path: Path | str) -> Path:
    """The workspace folder, resolved; `InputError` when it does not exist."""
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise InputError(f"workspace {folder} does not exist — pass --workspace DIR (a folder "
                         "holding models/, scores/ and runs.db)")
    return folder


def inside(workspace: Path, candidate: Path | str) -> Path:
    """Resolve `candidate` (relative to the workspace) and refuse anything outside it.

    Example:
        >>> inside(Path("/tmp"), "../etc/passwd")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        InputError: ...
    """
    root = workspace.resolve()
    target = (root / candidate).resolve()
    if target != root and not target.is_relative_to(root):
        raise InputError(f"{candidate}: outside the workspace {root} — the dashboard only reads "
                         "and writes inside its workspace; copy the file into it")
    return target


def list_scored(workspace: Path) -> list[Path]:
    """Scored files in `<workspace>/scores/` (CSV or Parquet), newest first."""
    folder = workspace / "scores"
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES
             and not p.name.startswith(".")]
    return sorted(found, key=lambda p: (-p.stat().st_mtime, p.name))[:MAX_LISTED]


def list_inputs(workspace: Path, depth: int = 3) -> list[Path]:
    """Data files in the workspace that may be the original inputs of scored files."""
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
            elif entry.is_file() and entry.suffix.lower() in DATA_SUFFIXES:
                found.append(entry)

    walk(workspace, 1)
    return found


def guess_input(scored: Path, inputs: list[Path]) -> Path | None:
    """The input whose stem matches a scored file's (``x.scored.csv`` came from ``x.csv``)."""
    stem = scored.name.split(".")[0]
    matches = [p for p in inputs if p.name.split(".")[0] == stem]
    return matches[0] if matches else None


# ------------------------------------------------------------------------- bundles
def roles(meta: dict[str, Any]) -> dict[str, list[str]]:
    """Column names by role (feature, id, time, label) from a bundle's schema."""
    out: dict[str, list[str]] = {"feature": [], "id": [], "time": [], "label": []}
    for col in meta.get("schema", {}).get("columns", []):
        out.setdefault(str(col.get("role")), []).append(str(col.get("name")))
    return out


def time_column(meta: dict[str, Any]) -> str | None:
    """The bundle's time column, if it has one."""
    times = roles(meta)["time"]
    return times[0] if times else None


# --------------------------------------------------------------------- scored files
def read_data(path: Path) -> pd.DataFrame:
    """Read a CSV/Parquet file (`InputError` with the fix when it cannot be read)."""
    return read_table(path)


def read_upload(name: str, data: bytes, max_bytes: int) -> pd.DataFrame:
    """Read an uploaded CSV/Parquet file from memory; refuse other types and oversize files."""
    if Path(name).suffix.lower() not in DATA_SUFFIXES:
        raise InputError(f"{name}: not a CSV or Parquet file — upload a .csv or .parquet file")
    if len(data) > max_bytes:
        raise InputError(f"{name}: {len(data) / 1e6:.1f} MB is over the upload limit of "
                         f"{max_bytes / 1e6:.0f} MB — put the file into the workspace instead")
    return read_table_bytes(data, name)


def check_scored(frame: pd.DataFrame, meta: dict[str, Any], source: str) -> None:
    """Refuse a scored file that lacks score columns or was made by another model."""
    missing = [c for c in SCORE_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"{source}: no {', '.join(missing)} column(s) — this is not a scored "
                          "file; make one with `anomaly score MODEL FILE`")
    model = f"{meta.get('name')}@{meta.get('version')}"
    carried = [c for role in ("id", "time") for c in roles(meta)[role]]
    absent = [c for c in carried if c not in frame.columns]
    if absent:
        raise SchemaError(f"{source}: column(s) {', '.join(absent)} of model {model} are missing "
                          "— the file was scored by another model; pick that model or rescore "
                          f"with `anomaly score {meta.get('name')} INPUT`")
    features = set(roles(meta)["feature"])
    sample = frame["top_features"].head(2000).dropna().astype(str).head(200)
    named = {_feature_name(part) for text in sample for part in text.split(",") if part.strip()}
    foreign = sorted(named - features)
    if foreign:
        raise SchemaError(f"{source}: top_features name(s) {', '.join(foreign[:5])} that model "
                          f"{model} does not have — the file was scored by another model; pick "
                          f"that model or rescore with `anomaly score {meta.get('name')} INPUT`")
    if not pd.api.types.is_numeric_dtype(frame["anomaly_score"]):
        raise SchemaError(f"{source}: column anomaly_score is not numeric — rescore the file")


def _feature_name(part: str) -> str:
    """'amount 71%' → 'amount' (the format of `anomaly.core.scoring.top_features`)."""
    name, _, share = part.strip().rpartition(" ")
    return name if name and share.endswith("%") else part.strip()


@dataclass(frozen=True)
class Summary:
    """Headline numbers of a scored file at one threshold."""

    rows: int
    flagged: int

    @property
    def rate(self) -> float:
        return self.flagged / self.rows if self.rows else 0.0


def summarize(scores: np.ndarray, threshold: float) -> Summary:
    """Rows and rows flagged (``score > threshold``)."""
    return Summary(len(scores), int(np.count_nonzero(scores > threshold)))


@dataclass(frozen=True)
class SliderSpec:
    """A threshold slider: range, a round step, and the start value snapped onto the grid."""

    lo: float
    hi: float
    step: float
    value: float
    decimals: int

    @property
    def format(self) -> str:
        return f"%.{self.decimals}f"

    def snap(self, value: float) -> float:
        """`value` on the slider's grid, inside its range."""
        snapped = round(round(value / self.step) * self.step, self.decimals)
        return min(max(snapped, self.lo), self.hi)


def slider_spec(validation: np.ndarray, scores: np.ndarray, threshold: float,
                steps: int = 2000) -> SliderSpec:
    """Slider from 0 to twice the largest of: the threshold, the validation p99, the data's p95.

    The range ignores the extreme tails (one score of 10,000 would otherwise make every step
    coarse); method thresholds beyond it are clamped to its end.
    """
    tops = [threshold]
    for values, q in ((validation, 0.99), (scores, 0.95)):
        arr = np.asarray(values, float)
        arr = arr[np.isfinite(arr)]
        if len(arr):
            tops.append(float(np.quantile(arr, q)))
    span = max(*tops, 1e-9) * 2
    exponent = math.floor(math.log10(span / steps))
    step = 10.0 ** exponent
    decimals = max(0, -exponent)
    hi = round(math.ceil(span / step) * step, decimals)
    spec = SliderSpec(0.0, hi, step, 0.0, decimals)
    return SliderSpec(0.0, hi, step, spec.snap(threshold), decimals)


def flagged_rows(frame: pd.DataFrame, threshold: float, contains: str = "",
                 min_score: float | None = None, limit: int = TABLE_ROWS
                 ) -> tuple[pd.DataFrame, int]:
    """Flagged rows (highest scores first, at most `limit`) and how many matched in all."""
    scores = frame["anomaly_score"].to_numpy(dtype=np.float64, na_value=np.nan)
    mask = scores > threshold if min_score is None else scores > max(threshold, min_score)
    if contains.strip():
        idx = np.flatnonzero(mask)
        sub = frame["top_features"].iloc[idx].astype(str)
        hit = sub.str.contains(contains.strip(), case=False, regex=False).to_numpy()
        mask = np.zeros(len(frame), bool)
        mask[idx[hit]] = True
    idx = np.flatnonzero(mask)
    total = len(idx)
    if total > limit:
        idx = idx[np.argpartition(-scores[idx], limit - 1)[:limit]]
    rows = frame.iloc[idx].assign(row=idx + 1)
    rows = rows.sort_values("anomaly_score", ascending=False, kind="stable")
    return rows.drop(columns=["is_anomaly"], errors="ignore").reset_index(drop=True), total


def parse_times(values: pd.Series) -> pd.Series | None:
    """Timestamps as datetime64, or None when the column does not parse as times."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    if parsed.notna().mean() <= 0.9:
        return None
    # naive UTC in nanoseconds: binning works on the integer axis, and numpy arrays of it stay
    # native (a tz-aware column turns into slow Python Timestamp objects)
    return parsed.dt.tz_convert(None).dt.as_unit("ns")


def score_over_time(times: pd.Series, scores: np.ndarray, bins: int = 600) -> pd.DataFrame:
    """Scores binned in time: per bin the median and the maximum (what a time plot needs)."""
    stamps = np.asarray(times.to_numpy(), dtype="datetime64[ns]")
    keep = ~np.isnat(stamps) & np.isfinite(scores)
    stamps, values = stamps[keep], np.asarray(scores, float)[keep]
    if len(values) <= bins:
        return pd.DataFrame({"time": stamps, "p50": values, "max": values})
    t = stamps.astype("int64")
    edges = np.linspace(t.min(), t.max(), bins + 1)
    which = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, bins - 1)
    grouped = pd.Series(values).groupby(which)
    out = pd.DataFrame({"p50": grouped.median(), "max": grouped.max()})
    mid = (edges[out.index.to_numpy()] + edges[out.index.to_numpy() + 1]) / 2
    out.insert(0, "time", mid.astype("int64").astype("datetime64[ns]"))
    return out.reset_index(drop=True)


def flagged_points(times: pd.Series, scores: np.ndarray, threshold: float,
                   limit: int = 500) -> pd.DataFrame:
    """The flagged points with the highest scores (at most `limit`) for a time plot."""
    idx = np.flatnonzero(scores > threshold)
    if len(idx) > limit:
        idx = idx[np.argpartition(-scores[idx], limit - 1)[:limit]]
    stamps = np.asarray(times.to_numpy(), dtype="datetime64[ns]")
    return pd.DataFrame({"time": stamps[idx], "score": scores[idx], "row": idx + 1})


# ------------------------------------------------------------------- drill-down
def find_raw_row(raw: pd.DataFrame, scored_row: pd.Series, id_cols: list[str],
                 source: str) -> pd.DataFrame:
    """The original input row behind one scored row: matched by id columns, else by position."""
    keys = [c for c in id_cols if c in raw.columns and c in scored_row.index]
    if keys:
        mask = np.ones(len(raw), bool)
        for key in keys:
            mask &= raw[key].astype(str).to_numpy() == str(scored_row[key])
        found = raw.loc[mask]
        if found.empty:
            wanted = ", ".join(f"{k}={scored_row[k]}" for k in keys)
            raise InputError(f"{source}: no row with {wanted} — choose the file this scored "
                             "file was made from")
        return found.head(1)
    position = int(scored_row["row"]) - 1
    if position >= len(raw):
        raise InputError(f"{source}: has {len(raw):,} rows, fewer than row {position + 1:,} of "
                         "the scored file — choose the file this scored file was made from")
    return raw.iloc[[position]]


def labels_for(scored: pd.DataFrame, raw: pd.DataFrame, label_col: str, id_cols: list[str],
               source: str) -> np.ndarray:
    """0/1 labels aligned with the scored rows (joined on id columns, else by position)."""
    from anomaly.core.detector import check_labels

    if label_col not in raw.columns:
        raise InputError(f"{source}: no label column {label_col!r} — columns: "
                         f"{', '.join(map(str, raw.columns))}")
    flags = check_labels(raw[label_col], label_col, source).astype(int)
    keys = [c for c in id_cols if c in raw.columns and c in scored.columns]
    if keys:
        index = pd.MultiIndex.from_frame(raw[keys].astype(str))
        if index.has_duplicates:
            raise InputError(f"{source}: id column(s) {', '.join(keys)} repeat — labels cannot "
                             "be matched to scored rows")
        lookup = pd.Series(flags, index=index)
        wanted = pd.MultiIndex.from_frame(scored[keys].astype(str))
        aligned = lookup.reindex(wanted)
        if aligned.isna().any():
            raise InputError(f"{source}: {int(aligned.isna().sum()):,} scored row(s) have no "
                             "label there — choose the file this scored file was made from")
        return aligned.to_numpy(dtype=int)
    if len(raw) != len(scored):
        raise InputError(f"{source}: {len(raw):,} rows but the scored file has {len(scored):,} "
                         "and no id column to match them — choose the matching input file")
    return flags
