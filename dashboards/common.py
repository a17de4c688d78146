"""Shared parts of the dashboard pages: workspace, cached loading, pickers and error display.

Caching: detectors (bundles) with `st.cache_resource`, keyed by the bundle.json timestamp so a
saved threshold is picked up at once; small frames (ledger, binned series, slider grid) with
`st.cache_data`. Scored and input files are *resources* too: `st.cache_data` would copy (pickle)
a million-row frame on every rerun — every slider step — so they are shared read-only instead
(nothing mutates them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from anomaly.analysis.items import (
    DrillPlan,
    Found,
    guess_item_input,
    item_id,
    locate,
    offered_inputs,
)
from anomaly.analysis.monitoring import RunHistory, read_run_history
from anomaly.analysis.scored import SliderSpec, check_scored, read_scored, time_column
from anomaly.analysis.scored import slider_spec as spec_for
from anomaly.analysis.timeline import parse_times
from anomaly.analysis.workspace import (
    guess_input,
    inside,
    list_inputs,
    list_scored,
    read_upload,
    resolve_workspace,
)
from anomaly.bundle import list_models, resolve, versions
from anomaly.core.detector import Detector
from anomaly.errors import AnomalyError
from anomaly.io import read_table


def workspace() -> Path:
    """The workspace folder (ANOMALY_WORKSPACE, else the current folder)."""
    return resolve_workspace(os.environ.get("ANOMALY_WORKSPACE", "."))


def run(page: Callable[[], None]) -> None:
    """Run a page; bad input (missing/corrupt bundle, wrong file…) becomes an st.error, no trace."""
    try:
        page()
    except AnomalyError as exc:
        st.error(str(exc))
    except OSError as exc:
        st.error(f"{exc.filename or ''}: {exc.strerror or exc} — check the path and permissions")


def _stamp(path: Path) -> int:
    return path.stat().st_mtime_ns if path.exists() else 0


@st.cache_resource(show_spinner=False, max_entries=8)
def _detector(bundle: str, stamp: int) -> Any:
    return Detector.load(Path(bundle), Path(bundle).parent.parent)


def detector_at(bundle: Path) -> Any:
    """The verified detector of a bundle folder (cached until its bundle.json changes)."""
    return _detector(str(bundle), _stamp(bundle / "bundle.json"))


def forget_detectors() -> None:
    """Drop cached detectors (after a threshold was saved)."""
    _detector.clear()


@st.cache_resource(show_spinner="Reading the scored file…", max_entries=4)
def _scored(path: str, stamp: int) -> pd.DataFrame:
    return read_scored(Path(path))


@st.cache_resource(show_spinner="Reading the file…", max_entries=4)
def _table(path: str, stamp: int) -> pd.DataFrame:
    return read_table(Path(path))


def read_workspace_file(path: Path) -> pd.DataFrame:
    """An input file of the workspace, cached (shared read-only) until it changes."""
    return _table(str(path), _stamp(path))


@st.cache_data(show_spinner=False, max_entries=4)
def _runs(path: str, stamp: int) -> RunHistory:
    return read_run_history(Path(path))


def run_history(ws: Path) -> RunHistory:
    """The run ledger of the workspace, read (empty when there is no runs.db yet)."""
    path = inside(ws, "runs.db")
    wal = path.with_name("runs.db-wal")
    return _runs(str(path), _stamp(path) + _stamp(wal))


def pick_model(ws: Path) -> Any:
    """Sidebar: choose a model (and version); returns its loaded detector or stops the page."""
    models_dir = inside(ws, "models")
    names = list_models(models_dir)
    if not names:
        st.error(f"No models in {models_dir} — train one first: `anomaly train DATA --name NAME "
                 f"--workspace {ws}` (or run `make demo`).")
        st.stop()
    name = st.sidebar.selectbox("Model", names, key="model")
    found = versions(models_dir / name)
    version = st.sidebar.selectbox("Version", found[::-1], key=f"version:{name}")
    bundle = inside(ws, resolve(f"{name}@{version}", models_dir))
    return detector_at(bundle)


@dataclass
class Scored:
    """The scored data shown on a page: a frame and where it came from."""

    frame: pd.DataFrame
    source: str
    path: Path | None
    key: str

    @property
    def scores(self) -> np.ndarray:
        return self.frame["anomaly_score"].to_numpy(dtype=np.float64, na_value=np.nan)


def pick_scored(ws: Path, detector: Any, required: bool = True) -> Scored | None:
    """Sidebar: a scored file from `<workspace>/scores/` or an upload, checked against the model."""
    files = list_scored(ws)
    upload_label = "Upload a scored file…"
    options = [p.name for p in files] + [upload_label]
    choice = st.sidebar.selectbox("Scored file", options, key="scored")
    if choice == upload_label:
        upload = st.sidebar.file_uploader("Scored CSV or Parquet", key="scored_upload",
                                          type=None)
        if upload is None:
            if required:
                st.info("Upload a scored file (made by `anomaly score`) in the sidebar, or "
                        f"score one into {ws / 'scores'}: `anomaly score MODEL FILE`.")
                st.stop()
            return None
        frame = read_upload(upload.name, upload.getvalue())
        scored = Scored(frame, upload.name, None, f"upload:{upload.file_id}")
    else:
        path = inside(ws, Path("scores") / choice)
        stamp = _stamp(path)
        scored = Scored(_scored(str(path), stamp), choice, path, f"{path}:{stamp}")
    check_scored(scored.frame, detector.meta_, scored.source)
    return scored


@st.cache_resource(show_spinner=False, max_entries=4)
def _times(key: str, column: str, _frame: pd.DataFrame) -> pd.Series | None:
    return parse_times(_frame[column])


def scored_times(detector: Any, scored: Scored | None) -> pd.Series | None:
    """The scored file's times parsed (naive UTC), or None without a time column; parsed once
    per file and shared read-only (every rerun — each slider step — reuses them)."""
    column = time_column(detector.meta_, scored.frame.columns) if scored is not None else None
    if scored is None or column is None:
        return None
    return _times(scored.key, column, scored.frame)


def prefetch(ws: Path) -> None:
    """Load what the first page shows by default — the first model's newest version and the
    newest scored file, its times parsed — into the shared caches (the server runs this before
    it opens, so the first visitor does not wait for it). Errors are left for the page to show."""
    models_dir = inside(ws, "models")
    names = list_models(models_dir)
    if names:
        found = versions(models_dir / names[0])
        detector = detector_at(inside(ws, resolve(f"{names[0]}@{found[-1]}", models_dir)))
    files = list_scored(ws)
    if names and files:
        path = inside(ws, Path("scores") / files[0].name)
        stamp = _stamp(path)
        scored = Scored(_scored(str(path), stamp), files[0].name, path, f"{path}:{stamp}")
        scored_times(detector, scored)


@dataclass
class Input:
    """An original input chosen on a page: its name, its path (workspace files), its table
    (read when the page needs a table), and a key that changes when the file does."""

    name: str
    path: Path | None
    table: pd.DataFrame | None
    key: str


def pick_input(ws: Path, inputs: list[Path], guess: Path | None, key: str, read: bool = True,
               uploads: bool = True, label: str = "Original input file",
               help: str | None = None) -> Input | None:
    """Choose an input file among `inputs` (workspace files) or an upload; `read` reads the
    chosen file as a table (cached), uploads are CSV/Parquet tables only."""
    names = [str(p.relative_to(ws)) for p in inputs]
    none, upload_label = "(none)", "Upload…"
    options = [none, *names, *([upload_label] if uploads else [])]
    guessed = str(guess.relative_to(ws)) if guess else None
    index = options.index(guessed) if guessed in options else 0
    choice = st.selectbox(label, options, index=index, key=key, help=help)
    if choice == none:
        return None
    if choice == upload_label:
        upload = st.file_uploader("Input CSV or Parquet", key=f"{key}_upload")
        if upload is None:
            return None
        frame = read_upload(upload.name, upload.getvalue())
        return Input(upload.name, None, frame, f"upload:{upload.file_id}")
    path = inside(ws, choice)
    return Input(choice, path, read_workspace_file(path) if read else None,
                 f"{path}:{_stamp(path)}")


def pick_table(ws: Path, scored: Scored | None, key: str) -> Input | None:
    """Choose a CSV/Parquet table of the workspace (or upload one), e.g. to read labels from."""
    inputs = list_inputs(ws)
    guess = guess_input(scored.path, inputs) if scored and scored.path else None
    return pick_input(ws, inputs, guess, key)


def pick_item_input(ws: Path, plan: DrillPlan, scored: Scored, row: pd.Series,
                    key: str = "input") -> Input | None:
    """Choose the file a scored item came from: the model's kind of files (tables, or the log
    files for sessions), the file the item names preselected."""
    inputs = offered_inputs(ws, plan, scored.frame)
    guess = guess_item_input(plan, scored.path, row, inputs)
    where = ("log files of the workspace (put the file into it to see its sessions)"
             if plan.in_file else "workspace files or an upload")
    return pick_input(ws, inputs, guess, f"{key}:{guess.name if guess else ''}",
                      read=not plan.in_file, uploads=not plan.in_file,
                      help=f"The file that was scored, among the {where}: {plan.caption}")


@st.cache_resource(show_spinner="Finding it in the input…", max_entries=8)
def _locate(bundle: str, stamp: int, input_key: str, item: str, _detector: Any,
            _plan: DrillPlan, _row: pd.DataFrame, _chosen: Input) -> Found:
    return locate(_detector, _plan, _row, _chosen.name, _chosen.path, _chosen.table)


def locate_item(detector: Any, plan: DrillPlan, row: pd.DataFrame, chosen: Input) -> Found:
    """A scored item (a one-row frame of the scored file) read back from its input (cached)."""
    bundle = Path(detector.bundle_path_)
    return _locate(str(bundle), _stamp(bundle / "bundle.json"), chosen.key,
                   item_id(plan, row.iloc[0]), detector, plan, row, chosen)


@st.cache_data(show_spinner="Explaining…", max_entries=32)
def _explain(bundle: str, stamp: int, input_key: str, item: str, _detector: Any,
             _found: Found) -> Any:
    return _detector.explain_item(_found.frame, _found.position)


def explain_item(detector: Any, plan: DrillPlan, row: pd.DataFrame, chosen: Input,
                 found: Found) -> Any:
    """The detector's explanation of a found item in its context (cached per input and item)."""
    bundle = Path(detector.bundle_path_)
    return _explain(str(bundle), _stamp(bundle / "bundle.json"), chosen.key,
                    item_id(plan, row.iloc[0]), detector, found)


@st.cache_data(show_spinner=False, max_entries=16)
def _spec(key: str, bundle: str, threshold: float, _validation: np.ndarray,
          _scores: np.ndarray) -> SliderSpec:
    return spec_for(_validation, _scores, threshold)


def slider_spec(detector: Any, scored: Scored | None) -> SliderSpec:
    """The threshold slider's grid for a model and scored file (cached: quantiles of 1M rows)."""
    scores = scored.scores if scored is not None else np.zeros(0)
    return _spec(scored.key if scored else "", str(detector.bundle_path_), detector.threshold_,
                 detector.validation_scores_, scores)


def threshold_slider(spec: SliderSpec, key: str, label: str = "Threshold") -> float:
    """A threshold slider on a round grid; returns the value rounded to the grid's decimals."""
    value = st.slider(label, min_value=spec.lo, max_value=spec.hi, value=spec.value,
                      step=spec.step, format=spec.format, key=key)
    return round(float(value), spec.decimals)
