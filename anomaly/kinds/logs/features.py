"""Log features: Drain3 templates mined on training lines → per-session template counts.

Per session: one input per template (counts weighted raw, log-scaled or tf-idf), the session
length, and the share of lines that match no known template ("unknown template" signal). All
inputs are centred and scaled with training statistics. Templates live in the bundle as plain
JSON; at score time they are loaded into a fresh Drain tree (`Drain.add_seq_to_prefix_tree`) and
lines are matched against it, with a cache keyed by the masked line, so that scoring never
decodes Drain3's jsonpickle state and never learns new templates.

Example:
    >>> m = TemplateMatcher(["<*> INFO open file <*>"], DEFAULT_MASKS)
    >>> m.match_many(["12 INFO open file a.txt", "12 ERROR disk gone"])
    [0, -1]
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from drain3.drain import Drain, LogCluster

from anomaly.errors import InputError
from anomaly.kinds.logs.masking import DEFAULT_MASKS, Masker, shape
from anomaly.kinds.logs.options import LogOptions
from anomaly.kinds.logs.sessions import ITEMS

WEIGHTINGS = ("raw", "log", "tfidf")
LENGTH = "session length"
UNKNOWN = "unknown templates"
SCALE_FLOOR = 0.05
UNKNOWN_UNIT = 0.01
CLIP = 100.0
CACHE_LIMIT = 200_000
PARAM = "<*>"
UNKNOWN_COUNT = "_unknown"  # streamed sessions: lines matching no template


@dataclass(frozen=True)
class DrainConfig:
    """Drain3 settings (kept in the bundle so that score time matches like train time)."""

    depth: int = 4
    sim_th: float = 0.5
    max_children: int = 100
    extra_delimiters: tuple[str, ...] = ()
    masks: tuple[tuple[str, str], ...] = tuple((p, n) for p, n in DEFAULT_MASKS)

    def to_json(self) -> dict[str, Any]:
        return {"depth": self.depth, "sim_th": self.sim_th, "max_children": self.max_children,
                "extra_delimiters": list(self.extra_delimiters),
                "masks": [list(m) for m in self.masks]}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DrainConfig:
        return cls(int(raw["depth"]), float(raw["sim_th"]), int(raw["max_children"]),
                   tuple(raw["extra_delimiters"]), tuple((p, n) for p, n in raw["masks"]))

    def drain(self) -> Drain:
        return Drain(depth=self.depth, sim_th=self.sim_th, max_children=self.max_children,
                     extra_delimiters=self.extra_delimiters, param_str=PARAM)

    def masker(self) -> Masker:
        return Masker(self.masks)


def mine_templates(lines: list[str], config: DrainConfig) -> list[tuple[str, int]]:
    """Drain3 templates of `lines` (masked first) with their line counts, most frequent first.

    Identical masked lines are fed to Drain once (in order of first appearance) and counted,
    which gives the same clusters much faster on repetitive logs.
    """
    masker, drain = config.masker(), config.drain()
    counts = Counter(masker.mask(line) for line in lines)
    for masked in counts:
        drain.add_log_message(masked)
    matcher = TemplateMatcher([c.get_template() for c in drain.clusters], config)
    totals: Counter[str] = Counter()
    for masked, n in counts.items():
        hit = matcher.match_masked(masked)
        if hit >= 0:
            totals[matcher.templates[hit]] += n
    return totals.most_common()


class TemplateMatcher:
    """Matches lines to known templates (-1 = unknown) without ever creating a new one.

    With the default masks, a line is first looked up by its digit `shape`: a line and its shape
    are masked at the same places, so all lines of one shape share one template when every
    digit is masked away, and otherwise when their left-over digits are the same too. On real
    logs most lines differ only in ids, addresses and sizes, so almost every line costs one
    translation and one dictionary look-up instead of four regex passes.
    """

    def __init__(self, templates: list[str], config: DrainConfig | list[list[str]]) -> None:
        if not isinstance(config, DrainConfig):
            config = DrainConfig(masks=tuple((p, n) for p, n in config))
        self.templates = list(templates)
        self.masker = config.masker()
        self.drain = config.drain()
        for i, text in enumerate(self.templates):
            cluster = LogCluster(self.drain.get_content_as_tokens(text), i + 1)
            self.drain.id_to_cluster[i + 1] = cluster
            self.drain.add_seq_to_prefix_tree(self.drain.root_node, cluster)
        self._cache: dict[str, int] = {}
        self._shapes: dict[str, int] = {}  # shape → template, or _OWN: see _own
        self._own: dict[str, tuple[int, ...]] = {}  # shape → where digits stay unmasked

    def match_masked(self, masked: str) -> int:
        hit = self._cache.get(masked)
        if hit is None:
            cluster = self.drain.match(masked, full_search_strategy="fallback")
            hit = -1 if cluster is None else int(cluster.cluster_id) - 1
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[masked] = hit
        return hit

    def match_many(self, lines: list[str]) -> list[int]:
        """Template index of each line (-1 = unknown)."""
        mask, match = self.masker.mask, self.match_masked
        if not self.masker.default:
            return [match(mask(line)) for line in lines]
        shaped = shape("\n".join(lines)).split("\n")
        if len(shaped) != len(lines):  # a line holding a line break: shape each alone
            shaped = [shape(line) for line in lines]
        shapes, get, out = self._shapes, self._shapes.get, []
        for line, form in zip(lines, shaped, strict=True):
            hit = get(form)
            if hit is None:
                hit = self._learn(form)
            if hit == _OWN:  # same shape and same left-over digits → same masked line
                digits = "".join([line[i] for i in self._own[form]])
                hit = get(f"{form}\x00{digits}")
                if hit is None:
                    hit = shapes[f"{form}\x00{digits}"] = match(mask(line))
            out.append(hit)
        return out

    def _learn(self, form: str) -> int:
        if len(self._shapes) >= CACHE_LIMIT:
            self._shapes.clear()
            self._own.clear()
        masked = self.masker.mask(form)
        if _DIGIT(masked):
            self._own[form] = self.masker.unmasked_digits(form)
            hit = _OWN
        else:
            hit = self.match_masked(masked)
        self._shapes[form] = hit
        return hit


_OWN = -2  # this shape keeps digits after masking: look up the line by them too
_DIGIT = re.compile("[0-9]").search


@dataclass
class LogFeatures:
    """Fits and applies the log feature transform (see the module docstring)."""

    options: LogOptions = field(default_factory=LogOptions)
    weighting: str = "log"
    drain: DrainConfig = field(default_factory=DrainConfig)
    templates: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    idf: list[float] = field(default_factory=list)
    center: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    time_format: str | None = None
    _matcher: TemplateMatcher | None = None

    # ---------------------------------------------------------------- layout
    @property
    def feature_columns(self) -> list[str]:
        return [*self.names, LENGTH, UNKNOWN]

    @property
    def input_names(self) -> list[str]:
        return self.feature_columns

    @property
    def input_sources(self) -> list[str]:
        return self.feature_columns

    @property
    def carried_columns(self) -> list[str]:
        return [self.options.key_name, "file", "first_line", "last_line", "first_time",
                "last_time", "n_lines"]

    # ---------------------------------------------------------------- fitting
    def fit(self, sessions: pd.DataFrame, source: str = "input",
            vocabulary: pd.DataFrame | None = None) -> LogFeatures:
        """Mine templates (text) or collect the event vocabulary (CSV), then fit the scaling.

        Templates come from `vocabulary` (all normal sessions) when given, else from `sessions`;
        the scaling statistics always come from `sessions` (the training rows).
        """
        if self.weighting not in WEIGHTINGS:
            raise InputError(f"--weighting {self.weighting!r}: use one of {', '.join(WEIGHTINGS)}")
        source_rows = sessions if vocabulary is None else vocabulary
        items = [line for lines in source_rows[ITEMS] for line in lines]
        if not items:
            raise InputError(f"{source}: the training sessions hold no lines — add log lines")
        if self.options.form == "text":
            mined = mine_templates(items, self.drain)
        else:
            mined = Counter(items).most_common()
        self.templates = [t for t, _ in mined]
        self.counts = [int(n) for _, n in mined]
        self.names = _unique_names(self.templates)
        self._matcher = None
        counts, length, unknown = self.counts_of(sessions)
        df = (counts > 0).sum(axis=0)
        self.idf = (np.log((1 + len(counts)) / (1 + df)) + 1.0).tolist()
        x = self._weighted(counts, length, unknown)
        self.center = x.mean(axis=0).tolist()
        self.scale = np.maximum(x.std(axis=0), SCALE_FLOOR).tolist()
        # unknown share: no centring, and 1 % of a session's lines = 1 unit, so that even one
        # never-seen template stands out (training sessions have none by construction)
        self.center[-1], self.scale[-1] = 0.0, UNKNOWN_UNIT
        return self

    # --------------------------------------------------------------- applying
    @property
    def matcher(self) -> TemplateMatcher:
        if self._matcher is None:
            self._matcher = TemplateMatcher(self.templates, self.drain)
        return self._matcher

    def template_ids(self, items: list[str]) -> list[int]:
        """Template index of every line / event (-1 = unknown)."""
        if self.options.form == "text":
            return self.matcher.match_many(items)
        index = {t: i for i, t in enumerate(self.templates)}
        return [index.get(item, -1) for item in items]

    def counts_of(self, sessions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(template counts, lengths, unknown counts) per session: counted from its lines
        (`ITEMS`), or taken as counted while streaming (`COUNTS` columns)."""
        if ITEMS not in sessions.columns:
            columns = count_columns(len(self.templates))
            return (sessions[columns].to_numpy(dtype=np.float64),
                    sessions["n_lines"].to_numpy(dtype=np.float64),
                    sessions[UNKNOWN_COUNT].to_numpy(dtype=np.float64))
        lists = sessions[ITEMS].tolist()
        sizes = np.fromiter((len(v) for v in lists), dtype=np.int64, count=len(lists))
        flat = [item for items in lists for item in items]
        ids = np.asarray(self.template_ids(flat), dtype=np.int64)
        owner = np.repeat(np.arange(len(lists)), sizes)
        n_templates = len(self.templates)
        known = ids >= 0
        counts = np.bincount(owner[known] * n_templates + ids[known],
                             minlength=len(lists) * n_templates)
        unknown = np.bincount(owner[~known], minlength=len(lists))
        return (counts.reshape(len(lists), n_templates).astype(np.float64),
                sizes.astype(np.float64), unknown.astype(np.float64))

    def _weighted(self, counts: np.ndarray, length: np.ndarray, unknown: np.ndarray
                  ) -> np.ndarray:
        if self.weighting == "raw":
            body = counts
        elif self.weighting == "log":
            body = np.log1p(counts)
        else:
            body = counts * np.asarray(self.idf)
            norms = np.linalg.norm(body, axis=1, keepdims=True)
            body = body / np.maximum(norms, 1e-12)
        share = unknown / np.maximum(length, 1.0)
        return np.column_stack([body, np.log1p(length), share])

    def transform(self, sessions: pd.DataFrame) -> np.ndarray:
        """Network inputs (sessions × (templates + 2)), float32."""
        return self.inputs_of(*self.counts_of(sessions))

    def inputs_of(self, counts: np.ndarray, length: np.ndarray, unknown: np.ndarray
                  ) -> np.ndarray:
        """Network inputs from per-session counts (see `counts_of`)."""
        x = (self._weighted(counts, length, unknown) - np.asarray(self.center)) \
            / np.asarray(self.scale)
        inputs: np.ndarray = np.clip(x, -CLIP, CLIP).astype(np.float32)
        return inputs

    def session_counts(self, items: list[str]) -> tuple[list[int], int]:
        """Count per template and the number of unknown lines of one session."""
        ids = self.template_ids(items)
        per = np.bincount([i for i in ids if i >= 0], minlength=len(self.templates))
        return per.tolist(), sum(1 for i in ids if i < 0)

    # ----------------------------------------------------------------- JSON
    def to_json(self) -> dict[str, Any]:
        return {"options": self.options.to_json(), "weighting": self.weighting,
                "drain": self.drain.to_json(), "time_format": self.time_format,
                "templates": [{"id": i, "name": n, "template": t, "train_count": c}
                              for i, (n, t, c) in enumerate(zip(self.names, self.templates,
                                                                self.counts, strict=True))],
                "idf": self.idf, "center": self.center, "scale": self.scale}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LogFeatures:
        templates = raw["templates"]
        return cls(options=LogOptions.from_json(raw["options"]), weighting=raw["weighting"],
                   drain=DrainConfig.from_json(raw["drain"]),
                   templates=[str(t["template"]) for t in templates],
                   counts=[int(t["train_count"]) for t in templates],
                   names=[str(t["name"]) for t in templates],
                   idf=[float(v) for v in raw["idf"]], center=[float(v) for v in raw["center"]],
                   scale=[float(v) for v in raw["scale"]], time_format=raw.get("time_format"))


def count_columns(n_templates: int) -> list[str]:
    """Columns of a streamed session frame holding its count per template (in order)."""
    return [f"_t{i}" for i in range(n_templates)]


def _unique_names(templates: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    names = []
    for text in templates:
        name = text if text not in (LENGTH, UNKNOWN) else f"event {text}"
        seen[name] += 1
        names.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return names
