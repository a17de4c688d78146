"""The `Kind` interface: what a data kind (tabular, time series, logs) does for the `Detector`.

A kind turns its data into network inputs and scored items. Every step takes what it needs as
arguments and returns what it made; nothing is left on an object for a later step. The
`Detector` composes one kind with the steps every kind shares (training, thresholds, bundles).

Training::

    read → split → fit_features → inputs → network_spec → (train) → calibrate

Scoring: `read_file` yields chunks, `score_stream` turns them into scored frames, `row_scores`
scores a frame in its own row order (the scikit-learn methods), and `explain` takes one item
*in its context*: a row, a timestamp with the window before it, a session with its lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
from torch import nn

from anomaly.config import Settings, TrainingConfig
from anomaly.core.scoring import Scorer
from anomaly.core.thresholds import ThresholdChoice
from anomaly.errors import InputError
from anomaly.spans import Span

if TYPE_CHECKING:
    from anomaly.kinds.timeseries.events import EventCollector


def source_of(frame: pd.DataFrame) -> str:
    """The file a frame was read from (set by `Kind.find`), for messages; else ``"input"``."""
    return str(frame.attrs.get("source", "input"))


def paths_of(data: Any) -> list[Path] | None:
    """`data` as a list of file paths when it is a path or a list of paths, else None.

    Example:
        >>> paths_of("a.csv"), paths_of(["a.log", Path("b.log")]), paths_of([[1.0, 2.0]])
        ([PosixPath('a.csv')], [PosixPath('a.log'), PosixPath('b.log')], None)
    """
    if isinstance(data, str | Path):
        return [Path(data)]
    if isinstance(data, list | tuple) and data and all(isinstance(p, str | Path) for p in data):
        return [Path(p) for p in data]
    return None


class Features(Protocol):
    """A fitted feature transform: which columns it reads and carries, and its JSON form."""

    @property
    def feature_columns(self) -> list[str]: ...  # what `top_features` and explanations name

    @property
    def carried_columns(self) -> list[str]: ...  # copied into the scored output (id, time…)

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Split:
    """Normal data cut for training: rows to fit on, rows to validate on, and all of them."""

    train: pd.DataFrame
    validation: pd.DataFrame
    normal: pd.DataFrame


@dataclass(frozen=True)
class Model:
    """What a trained detector knows, handed to a kind's scoring and explaining steps."""

    settings: Settings
    features: Any
    network: nn.Module
    scorer: Scorer
    validation_scores: np.ndarray  # sorted: percentiles and threshold tuning
    baseline_rows: int | None = None  # re-centre each file (group) on its first rows first
    # (a run-relative time-series model sets it to its own; --baseline-rows overrides it)


@dataclass(frozen=True)
class Calibration:
    """The scorer fitted on validation normals, their sorted scores and the first threshold."""

    scorer: Scorer
    validation_scores: np.ndarray
    threshold: ThresholdChoice
    why: str


@dataclass(frozen=True)
class RowScores:
    """Scores of a frame in its own row order: per kept row a score and error shares."""

    scores: np.ndarray
    shares: np.ndarray  # rows × features, each row sums to 1
    keep: np.ndarray  # rows of the frame that were scored (bad rows may be skipped)


@dataclass(frozen=True)
class Item:
    """One item found in a file by its key: the frame holding it, its row, its raw lines."""

    frame: pd.DataFrame
    position: int
    lines: list[tuple[int, str]]  # (line number, text) for logs; empty for tables
    lines_are: str = "raw lines"  # what `lines` hold: raw lines, or events (numbered in order)


@dataclass(frozen=True)
class Explanation:
    """Why one item scores as it does: its score and a table with each feature's error share."""

    score: float
    table: pd.DataFrame  # columns "feature", "error_share" and what the kind can add
    window: pd.DataFrame | None = None  # time series: time, sensor, input, reconstruction


class ByteRanges(Protocol):
    """A file cut at line ends into byte ranges counted apart (on Dask workers) and merged by
    key on the driver into the items the kind scores (`anomaly.kinds.logs.ranges`)."""

    @property
    def spans(self) -> tuple[Span, ...]: ...

    def read(self, model: Model, index: int) -> dict[str, Any]:
        """The state of range `index` (on a worker): plain lists, arrays and numbers."""
        ...

    def merge(self, model: Model, parts: Iterable[dict[str, Any]]) -> Iterator[pd.DataFrame]:
        """The file's items, as `Kind.read_file` gives them, from every range's `read`."""
        ...


class Kind(Protocol):
    """One data kind. Implementations: `anomaly.kinds.tabular|timeseries|logs`."""

    name: str
    item: str  # what one score is for, in messages: "row", "timestamp", "session"
    default_latent_weight: float  # weight of the latent distance in the score by default
    default_neighbours: int  # k of the neighbour distance in the score by default (0 = off)
    partitionable: bool  # items are single rows: a file may be cut into parts scored apart
    file_patterns: tuple[str, ...]  # the files an inbox holds for this kind (`anomaly batch`)
    rebaselines: bool  # scoring can re-centre each file on its first rows (`baseline_rows`)

    def read(self, data: Any, settings: Settings, source: str,
             features: Any | None = None, label_col: str | None = None) -> pd.DataFrame:
        """Training or scoring data as a frame (logs read files into sessions; once fitted,
        `features` say how). `label_col` names a label column to keep (one label per item)."""
        ...

    def split(self, frame: pd.DataFrame, settings: Settings) -> Split:
        """Cut the normal rows into training and validation rows."""
        ...

    def fit_features(self, split: Split, settings: Settings, source: str) -> Features:
        """Fit the feature transform (scaling on training rows only)."""
        ...

    def features_from_json(self, raw: dict[str, Any]) -> Features:
        """Rebuild fitted features from bundle.json."""
        ...

    def inputs(self, features: Any, frame: pd.DataFrame, settings: Settings,
               source: str) -> np.ndarray:
        """Network inputs for training or validation (rows, or windows of rows)."""
        ...

    def network_spec(self, train_x: np.ndarray, settings: Settings,
                     features: Any = None) -> tuple[str, dict[str, Any]]:
        """The allow-listed network class and its JSON arguments (`features`: the fitted
        transform, for a network shaped by the input layout)."""
        ...

    def training_config(self, cfg: TrainingConfig, n_train: int) -> TrainingConfig:
        """The training settings for `n_train` training inputs (a kind may adapt them)."""
        ...

    def calibrate(self, features: Any, network: nn.Module, split: Split, train_x: np.ndarray,
                  val_x: np.ndarray, latent_weight: float, threshold_q: float | None,
                  neighbours: int = 0, seed: int = 0) -> Calibration:
        """Fit the scorer on validation normals and choose the initial threshold (`neighbours`
        > 0: score by the distance to that many nearest training rows, sampled with `seed`)."""
        ...

    def read_file(self, model: Model, path: Path, chunk_rows: int,
                  block_bytes: int) -> Iterator[pd.DataFrame]:
        """Chunks of a file to score, in order (bounded memory where the kind allows)."""
        ...

    def byte_ranges(self, model: Model, path: Path, range_bytes: int) -> ByteRanges | None:
        """`path` cut into ranges of about `range_bytes` whose items are merged after (None:
        the file is read in one piece, or cut into row partitions when `partitionable`)."""
        ...

    def csv_numeric(self, model: Model) -> list[str]:
        """Columns to parse as float64 straight from CSV (a speed hint)."""
        ...

    def score_stream(self, model: Model, chunks: Iterable[pd.DataFrame], source: str,
                     policy: str, threshold: float, row_offset: int = 0
                     ) -> Iterator[pd.DataFrame]:
        """Scored frames (carried columns + the four score columns) for consecutive chunks."""
        ...

    def row_scores(self, model: Model, frame: pd.DataFrame, source: str,
                   policy: str) -> RowScores:
        """Scores and error shares of `frame`'s items in its own row order."""
        ...

    def explain(self, model: Model, frame: pd.DataFrame, position: int) -> Explanation:
        """The item at row `position` of `frame`, in its context: its score and per feature its
        share of the error (and what the kind can say: value, reconstruction, count)."""
        ...

    def find(self, model: Model, path: Path, key: str, group: str | None = None) -> Item:
        """The item named `key` in a file (an id, a timestamp, a session key), in context;
        `group` picks one series of a grouped time series."""
        ...

    def schema(self, features: Any, settings: Settings) -> list[dict[str, str]]:
        """bundle.json's input schema: each column with its role."""
        ...

    def events(self, model: Model) -> EventCollector | None:
        """What groups flagged items into alarm events for the `.events.csv` sidecar (None:
        each flagged item is an alarm of its own)."""
        ...

    def metrics(self, model: Model, frame: pd.DataFrame, labels: np.ndarray,
                flags: np.ndarray) -> tuple[dict[str, Any], list[str]]:
        """Metrics of this kind beyond the binary report (labels and flags in `frame`'s row
        order), as JSON values and as lines to print."""
        ...

    def summary(self, features: Any, train_x: np.ndarray, val_x: np.ndarray,
                split: Split) -> dict[str, Any]:
        """Training-summary counts: train/validation items (rows, windows or sessions)."""
        ...


def rebased(model: Model, kind: Kind, baseline_rows: int | None) -> Model:
    """`model`, re-centring each file (group) on its first `baseline_rows` rows if given (time
    series only: a new run of the machine judged against its own warm-up)."""
    if baseline_rows is None:
        return model
    if not kind.rebaselines:
        raise InputError(f"--baseline-rows is for time-series models; this model is "
                         f"{kind.name!r} — leave the option out")
    if baseline_rows < 2:
        raise InputError(f"--baseline-rows {baseline_rows}: give at least 2 rows (a warm-up of "
                         "a few hundred known-good rows is typical)")
    return replace(model, baseline_rows=int(baseline_rows))
