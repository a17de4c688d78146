"""The neighbour score: distance to the k nearest training rows in autoencoder coordinates.

See `anomaly.core.scoring` for where it sits in a row's score, and `anomaly.core.search` for
the bounded search it runs (every reference row, or by cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anomaly.core.search import CellIndex, exact_nearest

REFERENCE_ROWS = 4096  # at most this many training rows are kept (sampled with the seed)
SPREAD_FLOOR = 0.25  # a reference row's spread is at least this share of the median spread
BALANCED_BLOCKS = True  # new models weigh the coordinate blocks equally (`NeighbourDistance.fit`)


def floored_spread(spread: np.ndarray) -> np.ndarray:
    """Spreads of at least `SPREAD_FLOOR` × their median (or mean, or 1): duplicated rows have
    spread 0, which would make the density factor infinite next to them.

    Example:
        >>> floored_spread(np.array([0.0, 0.0, 2.0, 4.0, 4.0])).tolist()
        [0.5, 0.5, 2.0, 4.0, 4.0]
        >>> floored_spread(np.zeros(3)).tolist()
        [0.25, 0.25, 0.25]
    """
    typical = float(np.median(spread)) or float(spread.mean()) or 1.0
    floored: np.ndarray = np.maximum(spread, SPREAD_FLOOR * typical).astype(np.float32)
    return floored


@dataclass
class NeighbourDistance:
    """Distance to the k nearest training rows in the autoencoder's coordinates.

    Coordinates: (code − code_mean) / code_scale, residual / residual_scale and, with `inputs`,
    the network's inputs themselves (already standardised by the features). With `balanced`, each
    block counts the same in the distance whatever its width: a block of w columns is divided by
    √w (folded into the code and residual scales, the inputs' weight kept at 1). The score is the
    mean distance d(q) to the k nearest reference rows; with `density` it is d(q) × d(q) / s,
    where s is the mean of those neighbours' own d (their `spread`, at least `SPREAD_FLOOR` ×
    its median): a row 2 units from a tight cluster scores higher than one 2 units from a loose
    one. The search (`anomaly.core.search`) runs in blocks of bounded size: memory stays flat.

    Example:
        >>> nd = NeighbourDistance(np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]], np.float32),
        ...                        np.zeros(1), np.ones(1), np.ones(1), k=2)
        >>> nd(np.array([[0.0]]), np.array([[0.0]])).round(2).tolist()
        [0.5]
    """

    reference: np.ndarray  # float32, reference rows × (code width + residuals [+ inputs])
    code_mean: np.ndarray
    code_scale: np.ndarray
    residual_scale: np.ndarray
    k: int
    inputs: bool = False  # the network inputs are part of the coordinates
    spread: np.ndarray | None = None  # with density: each reference row's own mean distance
    cells: CellIndex | None = None  # None: every reference row is searched (old bundles too)
    balanced: bool = False  # the blocks weigh the same (already folded into the scales)

    @classmethod
    def fit(cls, train_codes: np.ndarray, train_residuals: np.ndarray,
            val_residuals: np.ndarray, k: int, seed: int, max_rows: int | None = None,
            train_inputs: np.ndarray | None = None, density: bool = False,
            balanced: bool | None = None) -> NeighbourDistance:
        """Scales from training codes and validation residuals; up to `max_rows` references
        (default `REFERENCE_ROWS`); `train_inputs` adds the inputs to the coordinates;
        `balanced` (default `BALANCED_BLOCKS`) weighs the blocks equally."""
        max_rows = REFERENCE_ROWS if max_rows is None else max_rows
        balanced = BALANCED_BLOCKS if balanced is None else balanced
        codes = train_codes.astype(np.float64)
        code_scale = np.maximum(codes.std(axis=0), 1e-6)
        rms = np.sqrt(np.square(val_residuals.astype(np.float64)).mean(axis=0))
        rms = np.maximum(rms, 1e-3 * float(np.median(rms)) + 1e-6)  # perfectly fit → not ∞
        if balanced:  # a block of w columns ÷ √w, relative to the inputs (or the residuals)
            unit = train_inputs.shape[1] if train_inputs is not None else rms.size
            code_scale = code_scale * np.sqrt(code_scale.size / unit)
            rms = rms * np.sqrt(rms.size / unit)
        rows = np.arange(len(codes))
        if len(rows) > max_rows:
            rows = np.sort(np.random.default_rng(seed).choice(len(rows), max_rows, replace=False))
        near = cls(np.empty((0, 0), np.float32), codes.mean(axis=0), code_scale, rms,
                   min(k, len(rows)), inputs=train_inputs is not None, balanced=balanced)
        near.reference = near.coordinates(
            train_codes[rows], train_residuals[rows],
            train_inputs[rows] if train_inputs is not None else None)
        if density and len(rows) > 1:
            near.k = min(k, len(rows) - 1)  # a row's own neighbours exclude itself
            own, _ = near.search(near.reference, near.k + 1)  # exact: no cells yet
            near.spread = floored_spread(own[:, 1:].mean(axis=1))
        near.cells = CellIndex.build(near.reference, seed)
        return near

    def coordinates(self, codes: np.ndarray, residuals: np.ndarray,
                    inputs: np.ndarray | None = None) -> np.ndarray:
        """Each row's autoencoder coordinates (float32)."""
        if self.inputs and inputs is None:
            raise ValueError("this neighbour score needs the network inputs")
        extra = inputs if self.inputs else None
        c, r = codes.shape[1], codes.shape[1] + residuals.shape[1]
        out = np.empty((len(codes), r + (0 if extra is None else extra.shape[1])), np.float32)
        # float32 arithmetic with the scales' reciprocals: 5-10× less work than float64 (≤1e-7)
        np.multiply(codes - self.code_mean.astype(np.float32),
                    (1.0 / self.code_scale).astype(np.float32), out=out[:, :c], casting="unsafe")
        np.multiply(residuals, (1.0 / self.residual_scale).astype(np.float32), out=out[:, c:r],
                    casting="unsafe")
        if extra is not None:
            out[:, r:] = extra
        return out

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Distances to and indices of the k nearest reference rows of each query row (nearest
        first), in blocks of bounded size; with cells, among the candidates of
        each row's cell (`anomaly.core.search`)."""
        if self.cells is not None:
            return self.cells.nearest(query, self.reference, k)
        return exact_nearest(query, self.reference, k)

    def __call__(self, codes: np.ndarray, residuals: np.ndarray,
                 inputs: np.ndarray | None = None) -> np.ndarray:
        """Each row's neighbour score (see the class)."""
        distances, indices = self.search(self.coordinates(codes, residuals, inputs), self.k)
        mean: np.ndarray = distances.mean(axis=1, dtype=np.float64)
        if self.spread is None:
            return mean
        local = self.spread[indices].mean(axis=1, dtype=np.float64)
        out: np.ndarray = mean * mean / np.maximum(local, 1e-9)
        return out

    @property
    def recipe(self) -> dict[str, bool]:
        """How the score is made (bundle.json)."""
        return {"inputs": self.inputs, "density": self.spread is not None,
                "balanced": self.balanced}

    def arrays(self) -> dict[str, np.ndarray]:
        """What the bundle keeps as safetensors (the reference rows and the scales)."""
        out = {"reference": self.reference, "code_mean": self.code_mean,
               "code_scale": self.code_scale, "residual_scale": self.residual_scale}
        if self.spread is not None:
            out["spread"] = self.spread
        if self.cells is not None:
            out.update(self.cells.arrays())
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], k: int, inputs: bool = False,
                    balanced: bool = False) -> NeighbourDistance:
        spread = arrays.get("spread")
        cells = (CellIndex(np.ascontiguousarray(arrays["centroids"], dtype=np.float32),
                           np.ascontiguousarray(arrays["candidates"], dtype=np.int32))
                 if "centroids" in arrays else None)  # bundles before the cells: search all
        return cls(np.ascontiguousarray(arrays["reference"], dtype=np.float32),
                   np.asarray(arrays["code_mean"], np.float64),
                   np.asarray(arrays["code_scale"], np.float64),
                   np.asarray(arrays["residual_scale"], np.float64), k, inputs,
                   None if spread is None else np.asarray(spread, np.float32), cells, balanced)
