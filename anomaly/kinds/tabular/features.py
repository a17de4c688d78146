"""Tabular features: scaled numerics with missingness flags, then categoricals.

Categoricals are encoded one of two ways (`encoding`, recorded in the bundle): "onehot" (one
input per category, reconstructed with squared error, as every bundle before it) or "embed"
(one input per column holding the category's index, embedded and predicted by a softmax in
`anomaly.nn.MixedAutoencoder`). Fitted on training rows only; every learned parameter is plain
JSON so that it travels in the bundle. The input layout is described by `input_names` (one per
network input) and `input_sources` (the user column each input comes from), which explanation
uses to fold the error of one-hot and missing-flag inputs back onto the user's columns.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from anomaly.config import DataConfig
from anomaly.errors import InputError, SchemaError
from anomaly.text import quoted

log = logging.getLogger("anomaly")

UNKNOWN = "__unknown__"
MISSING = "__missing__"
NUMERIC_SHARE = 0.98  # text columns that are this numeric are numeric columns with bad values
ID_LIKE_SHARE = 0.5  # text columns with this share of distinct values look like identifiers
ID_LIKE_NOTE = "looks like an identifier or free text"
CLIP = 1e4  # scaled values are clipped so that a wild value cannot overflow float32
ENCODINGS = ("onehot", "embed")  # how categorical columns become network inputs
_NOTES = threading.Lock()  # guards `TabularFeatures._noted`


def str_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with column labels as strings (features are stored by name: 0 becomes '0')."""
    if all(isinstance(c, str) for c in frame.columns):
        return frame
    return frame.rename(columns=str)


def first_bad_row(series: pd.Series, bad: np.ndarray) -> tuple[int, int]:
    """(row in the data as read, position in `series`) of the earliest flagged row.

    Training rows arrive shuffled (train/validation split): an integer index still says which
    row of the file a value came from, so the message names that row, not the position.
    """
    positions = np.flatnonzero(bad)
    if pd.api.types.is_integer_dtype(series.index):
        rows = series.index.to_numpy()[positions]
        k = int(np.argmin(rows))
        return int(rows[k]), int(positions[k])
    return int(positions[0]), int(positions[0])


def fmt_row(index: int) -> str:
    """Data-row number as users count it (1 = first row after the header)."""
    return f"{index + 1:,}"


@dataclass
class NumericColumn:
    name: str
    center: float
    scale: float
    fill: float
    missing_flag: bool


def robust_moments(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of finite `values` without overflow: computed on the values
    divided by their largest magnitude, so a column of values near 1e300 is not 'constant'.

    Example:
        >>> [f"{v:.3g}" for v in robust_moments(np.array([1e300, 3e300]))]
        ['2e+300', '1e+300']
    """
    top = float(np.abs(values).max()) if len(values) else 0.0
    if top == 0.0 or not np.isfinite(top):
        return float(values.mean()) if len(values) else 0.0, 0.0
    unit = values / top
    return float(unit.mean() * top), float(unit.std() * top)


@dataclass
class CategoricalColumn:
    name: str
    categories: list[str]


@dataclass
class TabularFeatures:
    """Fits and applies the tabular feature transform.

    Example:
        >>> f = TabularFeatures().fit(pd.DataFrame({"a": [1.0, 2.0, 3.0], "c": ["x", "y", "x"]}))
        >>> f.input_names
        ['a', 'c=x', 'c=y', 'c=__unknown__']
    """

    numeric: list[NumericColumn] = field(default_factory=list)
    categorical: list[CategoricalColumn] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    role_columns: list[str] = field(default_factory=list)
    encoding: str = "onehot"  # categoricals: "onehot" inputs or "embed" (one index per column)
    # (source, extra columns) already noted: a file scored in chunks gets the note once
    _noted: set[tuple[str, tuple[str, ...]]] = field(default_factory=set, repr=False,
                                                     compare=False)

    # ----------------------------------------------------------------- fitting
    def fit(self, frame: pd.DataFrame, config: DataConfig | None = None,
            source: str = "input") -> TabularFeatures:
        """Learn column types, scaling, imputation and vocabularies from training rows."""
        config = config or DataConfig()
        self.encoding = config.categorical
        frame = str_columns(frame)
        roles = [*config.id_col, config.time_col, config.label_col]
        self.role_columns = [c for c in roles if c]
        for col in self.role_columns:
            if col not in frame.columns:
                raise SchemaError(f"{source}: column {col!r} (given as id/time/label column) is "
                                  f"not in the file — columns are: {_list(frame.columns)}")
        unknown_overrides = sorted(set(config.column_types) - set(map(str, frame.columns)))
        if unknown_overrides:
            raise SchemaError(f"{source}: column_types names column(s) "
                              f"{', '.join(unknown_overrides)} that are not in the file — "
                              f"columns are: {_list(frame.columns)}")
        self.numeric, self.categorical, self.dropped = [], [], {}
        # with --on-bad-rows skip, unparsable cells are left out of the statistics
        keep = np.ones(len(frame), dtype=bool) if config.on_bad_rows == "skip" else None
        for name in map(str, frame.columns):
            if name in self.role_columns:
                continue
            kind = config.column_types.get(name) or self._infer(frame[name], name, config)
            if kind == "ignore":
                self.dropped.setdefault(name, "ignored by column_types")
                continue
            if kind == "numeric":
                values = self._numeric_values(frame[name], name, source, config.on_bad_rows, keep)
                self._fit_numeric(name, values)
            else:
                self._fit_categorical(name, frame[name], config.max_categories)
        for name, why in self.dropped.items():
            log.warning("%s: column %r not used as a feature: %s", source, name, why)
        if not self.numeric and not self.categorical:
            raise InputError(f"{source}: no usable feature columns (columns: {_list(frame.columns)}"
                             ") — the file needs at least one numeric or categorical column that is"
                             " not constant and not an id/time/label column")
        return self

    def _infer(self, series: pd.Series, name: str, config: DataConfig) -> str:
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            return "numeric"
        present = series.dropna()
        if len(present) == 0:
            self.dropped[name] = "has no values (every row is missing)"
            return "ignore"
        parsed = pd.to_numeric(present, errors="coerce")
        if parsed.notna().mean() >= NUMERIC_SHARE:
            return "numeric"
        distinct = present.nunique()
        if distinct > config.max_categories and distinct > ID_LIKE_SHARE * len(present):
            self.dropped[name] = (f"{ID_LIKE_NOTE} ({distinct:,} distinct values) — carried into "
                                  "the output; pass --id-col to say so, or set its type in the "
                                  "config")
            return "ignore"
        return "categorical"

    def _fit_numeric(self, name: str, values: np.ndarray) -> None:
        finite = values[~np.isnan(values)]
        if len(finite) == 0:
            self.dropped[name] = "has no values"
            return
        center, scale = robust_moments(finite)
        if scale == 0.0 or not np.isfinite(scale):
            if len(finite) == len(values):
                self.dropped[name] = f"is constant ({center:g}) in the training data"
                return
            scale = 1.0  # constant where present: the missing flag still carries information
        self.numeric.append(NumericColumn(name, center, scale, float(np.median(finite)),
                                          bool(len(finite) < len(values))))

    def _fit_categorical(self, name: str, series: pd.Series, max_categories: int) -> None:
        text = series.astype("string").fillna(MISSING)
        counts = text.value_counts()
        if len(counts) == 1:
            self.dropped[name] = f"has a single value ({counts.index[0]!r}) in the training data"
            return
        self.categorical.append(CategoricalColumn(name, [str(c) for c in
                                                         counts.index[:max_categories]]))

    # -------------------------------------------------------------- transform
    def _inputs(self) -> list[tuple[str, str]]:
        """(input name, source column) per network input, in the order of the network's inputs."""
        pairs: list[tuple[str, str]] = []
        for num in self.numeric:
            pairs.append((num.name, num.name))
            if num.missing_flag:
                pairs.append((f"{num.name}:missing", num.name))
        for cat in self.categorical:
            if self.embedded:
                pairs.append((cat.name, cat.name))
            else:
                pairs.extend((f"{cat.name}={c}", cat.name) for c in [*cat.categories, UNKNOWN])
        return pairs

    @property
    def embedded(self) -> bool:
        """Whether each categorical column is one input holding a category index."""
        return self.encoding == "embed"

    @property
    def n_dense(self) -> int:
        """Inputs before the categorical ones: scaled numerics and missing flags."""
        return len(self.numeric) + sum(c.missing_flag for c in self.numeric)

    def missing_of(self) -> list[int]:
        """Per dense input, the position of the flag saying its value is missing, or -1."""
        out: list[int] = []
        for num in self.numeric:
            out.append(len(out) + 1 if num.missing_flag else -1)
            if num.missing_flag:
                out.append(-1)
        return out

    def labels(self, column: CategoricalColumn) -> list[str]:
        """The classes of a categorical column in input order: its vocabulary, then unknown."""
        return [*column.categories, UNKNOWN]

    @property
    def input_names(self) -> list[str]:
        """One name per network input, e.g. ``amount``, ``amount:missing``, ``country=FR``."""
        return [name for name, _ in self._inputs()]

    @property
    def input_sources(self) -> list[str]:
        """The user column each network input comes from (same order as `input_names`)."""
        return [source for _, source in self._inputs()]

    @property
    def carried_columns(self) -> list[str]:
        """Columns copied into scored output: id/time/label roles and identifier-like columns."""
        ids = [c for c, why in self.dropped.items() if why.startswith(ID_LIKE_NOTE)]
        return [*self.role_columns, *ids]

    @property
    def feature_columns(self) -> list[str]:
        """The user columns the detector reads as features."""
        return [c.name for c in self.numeric] + [c.name for c in self.categorical]

    def check_columns(self, frame: pd.DataFrame, source: str) -> None:
        """Raise `SchemaError` for missing feature columns; note extra columns."""
        missing = [c for c in self.feature_columns if c not in frame.columns]
        if missing:
            raise SchemaError(f"{source}: feature column(s) {', '.join(map(repr, missing))} "
                              "missing — the model was trained with them; add them to the file "
                              "or train a new model without them")
        expected = set(self.feature_columns) | set(self.role_columns) | set(self.dropped)
        extra = [str(c) for c in frame.columns if c not in expected]
        if extra and self._first_note((source, tuple(extra))):
            log.warning("%s: ignoring column(s) the model does not use: %s", source,
                        _list(extra))

    def _first_note(self, key: tuple[str, tuple[str, ...]]) -> bool:
        """True the first time `key` is noted (chunks are scored on several threads)."""
        with _NOTES:
            if key in self._noted:
                return False
            self._noted.add(key)
            return True

    def _note_empty(self, missing: np.ndarray, source: str) -> None:
        """Warn (once per file and columns) when feature columns hold no value at all: every
        row is then scored on the training median, which the user should know."""
        empty = tuple(num.name for num, gone in zip(self.numeric,
                                                      np.asarray(missing.all(axis=1)).tolist(),
                                                      strict=True) if gone)
        if empty and self._first_note((source, ("empty", *empty))):
            log.warning("%s: feature column(s) %s have no values — filled with the training "
                        "median, so they add nothing to the scores; fill them in if you can",
                        source, _list(empty))

    def transform(self, frame: pd.DataFrame, source: str = "input",
                  on_bad_rows: str = "fail", row_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Map rows to network inputs.

        Returns:
            (inputs, kept): float32 array of shape (kept rows, len(input_names)) and a boolean
            mask of the input rows that were kept (all True unless bad rows were skipped).
        """
        frame = str_columns(frame)
        self.check_columns(frame, source)
        n = len(frame)
        out = np.empty((n, len(self.input_names)), dtype=np.float32)
        keep = np.ones(n, dtype=bool)
        if self.numeric:  # all numeric columns at once (one row per column: contiguous)
            values = np.empty((len(self.numeric), n), dtype=np.float64)
            for i, num in enumerate(self.numeric):
                values[i] = self._numeric_values(frame[num.name], num.name, source,
                                                 on_bad_rows, keep, row_offset)
            missing = np.isnan(values)
            column = np.array([[c.fill, c.center, c.scale] for c in self.numeric]).T[:, :, None]
            if missing.any():
                self._note_empty(missing, source)
                np.copyto(values, np.broadcast_to(column[0], values.shape), where=missing)
            values -= column[1]
            values *= 1.0 / column[2]
            np.clip(values, -CLIP, CLIP, out=values)
            flags = np.array([c.missing_flag for c in self.numeric])
            if flags.any():
                slots = np.arange(len(self.numeric)) + np.concatenate([[0], np.cumsum(flags)[:-1]])
                out[:, slots] = values.T
                out[:, slots[flags] + 1] = missing[flags].T
            else:
                out[:, :len(self.numeric)] = values.T
        j = self.n_dense
        for cat in self.categorical:
            width = len(cat.categories) + 1
            text = frame[cat.name].astype("string").fillna(MISSING)
            codes = pd.Categorical(text, categories=cat.categories).codes.astype(np.int64)
            codes[codes < 0] = width - 1  # unseen category → the unknown slot
            if self.embedded:
                out[:, j] = codes
                j += 1
                continue
            block = np.zeros((n, width), dtype=np.float32)
            block[np.arange(n), codes] = 1.0
            out[:, j:j + width] = block
            j += width
        return (out if keep.all() else out[keep]), keep

    @staticmethod
    def _numeric_values(series: pd.Series, name: str, source: str, on_bad_rows: str,
                        keep: np.ndarray | None = None, row_offset: int = 0) -> np.ndarray:
        if pd.api.types.is_bool_dtype(series):
            values = series.astype("float64").to_numpy()
        elif pd.api.types.is_numeric_dtype(series):
            values = series.to_numpy(dtype="float64", na_value=np.nan)
        else:
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64",
                                                                     na_value=np.nan)
            bad = np.isnan(values) & series.notna().to_numpy()
            if bad.any():
                row, first = first_bad_row(series, bad)
                if on_bad_rows != "skip" or keep is None:
                    raise InputError(
                        f"{source}: column {name!r} row {fmt_row(row + row_offset)}: "
                        f"{quoted(series.iloc[first])} is not a number ({int(bad.sum()):,} such "
                        "row(s)) — fix the value or pass --on-bad-rows skip")
                keep &= ~bad
                log.warning("%s: skipped %d row(s) with non-numeric %r", source, bad.sum(), name)
        infinite = np.isinf(values)
        if infinite.any():
            row, first = first_bad_row(series, infinite)
            if on_bad_rows != "skip" or keep is None:
                raise InputError(
                    f"{source}: column {name!r} row {fmt_row(row + row_offset)}: {values[first]} "
                    "is infinite — replace it with a finite value, leave it empty (missing), "
                    "or pass --on-bad-rows skip")
            keep &= ~infinite
            log.warning("%s: skipped %d row(s) with infinite %r", source, infinite.sum(), name)
            values = np.where(infinite, np.nan, values)
        return values

    # ------------------------------------------------------------------- JSON
    def to_json(self) -> dict[str, Any]:
        """Parameters as plain JSON (stored in bundle.json)."""
        return {
            "numeric": [vars(c) for c in self.numeric],
            "categorical": [vars(c) for c in self.categorical],
            "dropped": self.dropped,
            "role_columns": self.role_columns,
            "encoding": self.encoding,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> TabularFeatures:
        """Rebuild from `to_json` output."""
        return cls(
            numeric=[NumericColumn(**c) for c in raw["numeric"]],
            categorical=[CategoricalColumn(**c) for c in raw["categorical"]],
            dropped=dict(raw.get("dropped", {})),
            role_columns=list(raw.get("role_columns", [])),
            encoding=str(raw.get("encoding", "onehot")),  # bundles before it: one-hot
        )


def _list(columns: Any, limit: int = 12) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")
