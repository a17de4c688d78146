"""Settings as frozen dataclasses; a TOML config file mirrors them section by section.

Example config file (every key optional)::

    [data]
    id_col = "transaction_id"
    time_col = "timestamp"
    label_col = "label"
    column_types = { hour = "categorical" }

    [model]
    hidden = [64, 32]
    dropout = 0.0

    [training]
    optimizer = "adamw"
    lr = 0.001
    max_epochs = 100
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from anomaly.errors import ConfigError

Kind = Literal["tabular", "timeseries", "logs"]
Optimizer = Literal["adam", "adamw", "sgd", "rmsprop", "adagrad"]
Activation = Literal["relu", "gelu", "tanh", "leaky_relu", "elu", "silu"]
Norm = Literal["none", "batch", "layer"]
Schedule = Literal["none", "cosine", "plateau", "step"]
ColumnType = Literal["numeric", "categorical", "ignore"]
BadRows = Literal["fail", "skip"]
CategoricalEncoding = Literal["onehot", "embed"]
WindowNetwork = Literal["conv", "lstm", "dense"]
Aggregate = Literal["mean", "point", "min"]

OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
ACTIVATIONS: tuple[str, ...] = ("relu", "gelu", "tanh", "leaky_relu", "elu", "silu")
NORMS: tuple[str, ...] = ("none", "batch", "layer")
SCHEDULES: tuple[str, ...] = ("none", "cosine", "plateau", "step")
WEIGHTINGS: tuple[str, ...] = ("raw", "log", "tfidf")


@dataclass(frozen=True)
class DataConfig:
    """How to read the input: column roles, type overrides and bad-row policy."""

    id_col: tuple[str, ...] = ()
    time_col: str | None = None
    label_col: str | None = None
    column_types: dict[str, ColumnType] = field(default_factory=dict)
    on_bad_rows: BadRows = "fail"
    max_categories: int = 50
    categorical: CategoricalEncoding = "onehot"  # tabular: "embed" = embeddings + softmax


@dataclass(frozen=True)
class ModelConfig:
    """Network shape. `hidden=()` means: size the network from the number of inputs."""

    hidden: tuple[int, ...] = ()
    activation: Activation = "gelu"
    dropout: float = 0.0
    norm: Norm = "none"
    residual: bool = False


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings. `patience=0` turns early stopping off."""

    optimizer: Optimizer = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    l1: float = 0.0
    noise: float = 0.0
    schedule: Schedule = "cosine"
    gradient_clip: float = 1.0
    batch_size: int = 256
    max_epochs: int = 50
    min_epochs: int = 5
    patience: int = 15
    val_fraction: float = 0.2
    seed: int = 0
    accelerator: str = "auto"
    devices: str = "1"
    strategy: str = "auto"
    num_nodes: int = 1
    progress_bar: bool = True
    logger: str = "none"  # none | csv | tensorboard | mlflow (anomaly.training.loggers)
    logger_dir: str = ""  # where the logger writes ["training-logs"]


MIN_STEPS = 10  # optimiser steps per epoch at least, for kinds that adapt the batch size
MIN_BATCH = 16


def batch_for_steps(cfg: TrainingConfig, n_train: int, min_steps: int = MIN_STEPS,
                    min_batch: int = MIN_BATCH) -> TrainingConfig:
    """`cfg` with a smaller batch when `n_train` items would give fewer than `min_steps`
    optimiser steps an epoch (400 rows in batches of 256 train 2 steps an epoch).

    Example:
        >>> batch_for_steps(TrainingConfig(), 400).batch_size, batch_for_steps(
        ...     TrainingConfig(), 100_000).batch_size
        (40, 256)
    """
    batch = min(cfg.batch_size, max(min_batch, n_train // min_steps))
    return replace(cfg, batch_size=batch) if batch < cfg.batch_size else cfg


@dataclass(frozen=True)
class WindowConfig:
    """Time-series windows (`--kind timeseries` only; see anomaly/kinds/timeseries).

    `max_gap=0` means: a gap is a time step over 3 × the median step of the training data.
    `score_stride`: scoring runs the network on a window every N rows (each row gets the
    windows covering it); the default is chosen on SKAB by cross-fitting (bench/skab.py).
    `baseline_rows`: a run-relative model — training runs (a long series cut every `run_rows`
    rows, default 2.5 × `baseline_rows`) and every scored file are re-based on their own first
    rows (anomaly/kinds/timeseries/runs.py).
    """

    group_col: str | None = None
    window: int = 32
    stride: int = 1
    model: WindowNetwork = "conv"
    max_gap: float = 0.0
    aggregate: Aggregate = "point"
    score_stride: int = 2
    baseline_rows: int | None = None
    run_rows: int | None = None


@dataclass(frozen=True)
class LogConfig:
    """How logs are cut into sessions and counted (`--kind logs` only; see anomaly/kinds/logs).

    Raw lines need `session_regex` (a line's session key) or `session_window` (fixed time
    windows, e.g. "5m"); a CSV of events needs `session_col` with `event_col` or `sequence_col`.
    `max_line_length` and `sim_th` left None take the defaults of the log reader and Drain3.
    """

    session_regex: str | None = None
    session_window: str | None = None
    time_format: str | None = None
    session_col: str | None = None
    event_col: str | None = None
    sequence_col: str | None = None
    weighting: str = "log"
    max_line_length: int | None = None
    sim_th: float | None = None


@dataclass(frozen=True)
class Settings:
    """Everything `anomaly train` needs besides the data."""

    kind: Kind = "tabular"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    logs: LogConfig = field(default_factory=LogConfig)


# Settings sections (a TOML config file has one table per section) and their dataclasses.
SECTIONS: dict[str, type[Any]] = {"data": DataConfig, "model": ModelConfig,
                                  "training": TrainingConfig, "window": WindowConfig,
                                  "logs": LogConfig}

T = TypeVar("T")


def _coerce(cls: type[T], values: dict[str, Any], section: str, source: str) -> T:
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(unknown)} in [{section}] — "
            f"known keys: {', '.join(sorted(known))}"
        )
    clean: dict[str, Any] = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if isinstance(default, tuple) and isinstance(value, list | tuple):
            value = tuple(value)
        elif isinstance(default, tuple) and isinstance(value, str):
            value = (value,)
        clean[name] = value
    return cls(**clean)


def load_settings(path: Path | None, kind: str = "tabular") -> Settings:
    """Read a TOML config file into `Settings` (defaults where a key is absent).

    Example:
        >>> load_settings(None).training.optimizer
        'adamw'
    """
    if path is None:
        return Settings(kind=kind)  # type: ignore[arg-type]
    if not path.exists():
        raise ConfigError(f"{path}: config file not found — check the path given to --config")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid TOML file ({exc}) — fix the syntax") from exc
    unknown = sorted(set(raw) - {"kind", *SECTIONS})
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(unknown)} — use "
                          f"{', '.join(f'[{name}]' for name in SECTIONS)}")
    settings = _from_dict(raw, kind, str(path))
    validate(settings)
    return settings


def override(settings: Settings, section: str, **values: Any) -> Settings:
    """Return `settings` with the non-None `values` replaced in one section (CLI flags win)."""
    chosen = {k: v for k, v in values.items() if v is not None}
    if not chosen:
        return settings
    updated = replace(getattr(settings, section), **chosen)
    return replace(settings, **{section: updated})


def validate(settings: Settings) -> None:
    """Raise `ConfigError` naming the first invalid setting and its allowed values."""
    t, m, w = settings.training, settings.model, settings.window
    checks: list[tuple[bool, str]] = [
        (settings.kind in ("tabular", "timeseries", "logs"), f"kind {settings.kind!r} is not "
         "one of tabular, timeseries, logs"),
        (t.optimizer in OPTIMIZERS,
         f"optimizer {t.optimizer!r} is not one of {', '.join(OPTIMIZERS)}"),
        (m.activation in ACTIVATIONS, f"activation {m.activation!r} is not one of "
         f"{', '.join(ACTIVATIONS)}"),
        (m.norm in NORMS, f"norm {m.norm!r} is not one of {', '.join(NORMS)}"),
        (t.schedule in SCHEDULES, f"schedule {t.schedule!r} is not one of {', '.join(SCHEDULES)}"),
        (t.logger in ("none", "csv", "tensorboard", "mlflow"), f"logger {t.logger!r} is not one "
         "of none, csv, tensorboard, mlflow"),
        (t.lr > 0, f"lr must be > 0 (got {t.lr})"),
        (t.batch_size >= 1, f"batch size must be >= 1 (got {t.batch_size})"),
        (t.max_epochs >= 1, f"epochs must be >= 1 (got {t.max_epochs})"),
        (t.patience >= 0, f"patience must be >= 0 (got {t.patience}); 0 turns early stopping off"),
        (0.0 < t.val_fraction < 0.9, f"val_fraction must be in (0, 0.9) (got {t.val_fraction})"),
        (0.0 <= m.dropout < 1.0, f"dropout must be in [0, 1) (got {m.dropout})"),
        (t.noise >= 0 and t.l1 >= 0 and t.weight_decay >= 0,
         "noise, l1 and weight_decay must be >= 0"),
        (all(h >= 1 for h in m.hidden), f"hidden sizes must be positive (got {list(m.hidden)})"),
        (settings.data.on_bad_rows in ("fail", "skip"), "on_bad_rows must be 'fail' or 'skip'"),
        (settings.data.categorical in ("onehot", "embed"),
         f"categorical {settings.data.categorical!r} is not one of onehot, embed"),
        (settings.data.categorical == "onehot" or settings.kind == "tabular",
         f"categorical {settings.data.categorical!r} applies to tabular data only (kind "
         f"{settings.kind!r}) — leave it out"),
        (w.window >= 2, f"window must be >= 2 rows (got {w.window})"),
        (w.stride >= 1, f"stride must be >= 1 (got {w.stride})"),
        (1 <= w.score_stride <= w.window, f"score_stride must be in 1 … window ({w.window}) "
         f"(got {w.score_stride})"),
        (w.baseline_rows is None or w.baseline_rows >= w.window, f"baseline_rows must be at "
         f"least the window ({w.window} rows; got {w.baseline_rows})"),
        (w.run_rows is None or (w.baseline_rows is not None
                                and w.run_rows >= w.baseline_rows + w.window),
         f"run_rows needs baseline_rows and must be at least baseline_rows + window "
         f"(got {w.run_rows})"),
        (w.model in ("conv", "lstm", "dense"), f"model {w.model!r} is not one of conv, lstm, "
         "dense"),
        (w.aggregate in ("mean", "point", "min"), f"aggregate {w.aggregate!r} is not one of mean, "
         "point, min"),
        (w.max_gap >= 0, f"max_gap must be >= 0 seconds (got {w.max_gap}); 0 = automatic"),
        (settings.logs.weighting in WEIGHTINGS, f"weighting {settings.logs.weighting!r} is not "
         f"one of {', '.join(WEIGHTINGS)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"invalid setting: {message}")


def to_json(obj: Any) -> Any:
    """Dataclass → JSON-ready dict (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return obj


def settings_from_json(raw: dict[str, Any]) -> Settings:
    """Inverse of `to_json(settings)` for the copy stored in a bundle."""
    return _from_dict(raw, "tabular", "bundle.json")


def _from_dict(raw: dict[str, Any], kind: str, source: str) -> Settings:
    """Settings from a parsed TOML file or bundle.json (absent sections take defaults)."""
    sections = {name: _coerce(cls, raw.get(name, {}), name, source)
                for name, cls in SECTIONS.items()}
    return Settings(kind=raw.get("kind", kind), **sections)
