"""From reconstruction errors to anomaly scores, percentiles and explanations.

How a row's score is made (DESIGN.md), from signals of the trained autoencoder:

1. Reconstruction: each feature's squared reconstruction error divided by that feature's mean
   error on validation normals (so features are comparable), averaged over features. Mean ≈ 1
   on normal data. This part alone says *why* a row is unusual (`top_features`).
2. Latent distance: the squared Mahalanobis distance of the row's code (the bottleneck vector)
   from the codes of the training rows (Ledoit–Wolf shrunk covariance), divided by its mean on
   validation normals, so its mean ≈ 1 on normal data too.
3. Neighbours: the mean distance d from the row's *autoencoder coordinates* — its code
   standardised by the training codes, each input's signed residual divided by that input's
   root-mean-square residual on validation normals, and the (standardised) inputs, each of the
   three blocks divided by √(its width) so that a narrow code weighs as much as the wide
   residual and input blocks — to the k nearest coordinates of (up to `REFERENCE_ROWS`)
   training rows, relative to how far those neighbours lie from their own: d × d / (their mean
   d), divided by its mean on validation normals. (Bundles of 0.x before this recipe: d alone,
   without the inputs; then unbalanced blocks, recorded as `balanced: false`.)

    score = w_rec × reconstruction + w_lat × latent + w_nb × neighbours

Old bundles have no neighbour part: w_rec = 1, w_lat = their `latent_weight`, w_nb = 0.

Why both: a network that reconstructs normal rows well also reconstructs many far-out rows
(it extrapolates), so reconstruction error alone misses rows that are extreme along the
directions the network *does* model; those rows land far out in the latent space. The two parts
are like PCA's residual (SPE) and in-subspace (Hotelling T²) statistics. On the ODDS benchmark
(`bench/tabular_accuracy.py`) the sum beats either part alone; this needs a network without
per-row normalisation (LayerNorm rescales every row, which erases how far out a code lies), hence
the default `norm="none"`. `latent_weight=0` gives reconstruction only; the bundle records the
weight and the latent statistics.

Why neighbours: when the normal rows form several clusters (letters, digits, cultivars) one
Gaussian over the codes says nothing about a row between clusters, and a network that generalises
reconstructs such rows too. Distances among training rows in the network's own coordinates see
them, and the density factor tells a tight cluster from a loose one (as LOF does): on the 17
ODDS tables (`bench/tabular_accuracy.py`, chosen by leave-one-table-out; bench/README.md) it
lifts the mean PR-AUC from 0.68 (the sum above) to about 0.75, above k-NN on the raw features
(0.74), IsolationForest, LOF, ECOD and PyOD's AutoEncoder. `top_features` stays the
reconstruction-error share of each feature: the residual half of the coordinates is what the
network could not rebuild, feature by feature. The reference coordinates are saved as
safetensors next to the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import nn

from anomaly.core.neighbours import NeighbourDistance
from anomaly.nn.threads import is_small, one_thread

SCORE_BATCH = 8192  # rows per network call: small intermediates, as fast as larger ones
EPS = 1e-12


def run_network(network: nn.Module, inputs: np.ndarray, want_codes: bool = False,
                batch: int = SCORE_BATCH, signed: bool = False
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """Squared reconstruction error per input (rows × inputs) and, if asked, the codes.

    `signed=True` returns the residuals (reconstruction − input) instead of their squares.
    A network with a `residual(x, code)` method says itself what its residuals are (categories
    predicted by a softmax: √cross-entropy; missing values: 0).
    """
    network.eval()
    errors = np.empty(inputs.shape, dtype=np.float32)
    codes: list[np.ndarray] = []
    encode = getattr(network, "encode", None)
    own_residual = getattr(network, "residual", None)
    with torch.inference_mode(), one_thread(is_small(network, min(batch, len(inputs)))):
        for start in range(0, len(inputs), batch):
            x = torch.from_numpy(np.ascontiguousarray(inputs[start:start + batch]))
            code = encode(x) if want_codes and encode is not None else None
            if code is not None:
                codes.append(code.reshape(len(x), -1).numpy())
            if own_residual is not None:
                residual = own_residual(x, code)
            else:
                recon = network(x) if code is None else network.decoder(code)  # type: ignore[operator]
                residual = recon.sub_(x)  # in place: no copies
            errors[start:start + batch] = (residual if signed else residual.square_()).numpy()
    return errors, (np.concatenate(codes) if codes else None)


def work_dtype(values: np.ndarray) -> type[np.floating[Any]]:
    """float32 for the network's float32 outputs (half the memory traffic), else float64."""
    return np.float32 if values.dtype == np.float32 else np.float64


def fold_inputs(errors: np.ndarray, sources: list[str], features: list[str]) -> np.ndarray:
    """Per-input errors (… × inputs) summed into per-feature errors (… × features).

    Inputs come from user features (a one-hot block, a missing flag); when every input is
    its own feature (numeric columns only) the errors are returned as they are.
    """
    if sources == features:
        return errors
    index = {name: j for j, name in enumerate(features)}
    matrix = np.zeros((len(sources), len(features)), dtype=errors.dtype)
    for i, source in enumerate(sources):
        matrix[i, index[source]] = 1.0
    folded: np.ndarray = errors @ matrix
    return folded


@dataclass
class LatentDistance:
    """Mahalanobis distance of codes from the training codes (shrunk covariance)."""

    mean: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, codes: np.ndarray) -> LatentDistance:
        from sklearn.covariance import LedoitWolf

        model = LedoitWolf().fit(codes.astype(np.float64))
        return cls(model.location_.astype(np.float64), model.precision_.astype(np.float64))

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        dtype = work_dtype(codes)
        centered = codes - self.mean.astype(dtype)
        distance: np.ndarray = ((centered @ self.precision.astype(dtype)) * centered).sum(
            axis=1, dtype=np.float64)
        return distance


@dataclass
class Scorer:
    """Turns per-feature errors (and codes, residuals) into scores; fitted on validation normals.

    Example:
        >>> s = Scorer(["a", "b"], np.array([1.0, 2.0]))
        >>> s.score(np.array([[1.0, 2.0], [3.0, 2.0]]))[0].round(2).tolist()
        [1.0, 2.0]
    """

    features: list[str]
    feature_scale: np.ndarray
    latent: LatentDistance | None = None
    latent_scale: float = 1.0
    latent_weight: float = 0.0
    neighbours: NeighbourDistance | None = None
    neighbour_scale: float = 1.0
    neighbour_weight: float = 0.0
    reconstruction_weight: float = 1.0

    @classmethod
    def fit(cls, features: list[str], val_errors: np.ndarray, train_codes: np.ndarray | None = None,
            val_codes: np.ndarray | None = None, latent_weight: float = 0.0,
            neighbours: NeighbourDistance | None = None,
            val_residuals: np.ndarray | None = None,
            val_inputs: np.ndarray | None = None) -> Scorer:
        """Calibrate on validation normals (errors per feature; codes for the latent part).

        With `neighbours` the score is the neighbour distance (plus `latent_weight` × latent):
        its coordinates already hold every input's residual, so reconstruction gets weight 0.
        """
        scale = np.maximum(val_errors.astype(np.float64).mean(axis=0), EPS)
        scale = np.maximum(scale, 1e-3 * float(np.median(scale)) + EPS)  # perfectly fit → not ∞
        scorer = cls(features, scale)
        if latent_weight > 0 and train_codes is not None and val_codes is not None:
            scorer.latent = LatentDistance.fit(train_codes)
            scorer.latent_scale = max(float(scorer.latent(val_codes).mean()), EPS)
            scorer.latent_weight = latent_weight
        if neighbours is not None and val_codes is not None and val_residuals is not None:
            scorer.neighbours, scorer.neighbour_weight, scorer.reconstruction_weight = (
                neighbours, 1.0, 0.0)
            scorer.neighbour_scale = max(float(neighbours(val_codes, val_residuals,
                                                          val_inputs).mean()), EPS)
        return scorer

    @property
    def uses_codes(self) -> bool:
        return (self.latent is not None and self.latent_weight > 0) or self.uses_residuals

    @property
    def uses_residuals(self) -> bool:
        """Whether scoring needs the signed residuals (the neighbour part)."""
        return self.neighbours is not None and self.neighbour_weight > 0

    def score(self, feature_errors: np.ndarray, codes: np.ndarray | None = None,
              residuals: np.ndarray | None = None, inputs: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Scores (rows) and each feature's share of the reconstruction error (rows × features);
        `codes`, `residuals` and the network `inputs` feed the latent and neighbour parts."""
        dtype = work_dtype(feature_errors)  # row sums below accumulate in float64
        normalized = feature_errors / self.feature_scale.astype(dtype)
        row_sum = normalized.sum(axis=1, dtype=np.float64)
        recon = row_sum / normalized.shape[1]
        shares = normalized / np.maximum(row_sum, EPS).astype(dtype)[:, None]
        total = recon if self.reconstruction_weight == 1.0 else self.reconstruction_weight * recon
        if self.latent is not None and self.latent_weight > 0 and codes is not None:
            total = total + self.latent_weight * self.latent(codes) / self.latent_scale
        if self.neighbours is not None and self.uses_residuals and codes is not None \
                and residuals is not None:
            total = total + self.neighbour_weight * self.neighbours(
                codes, residuals, inputs) / self.neighbour_scale
        return total, shares

    @property
    def signals(self) -> dict[str, float]:
        """Each signal's weight in the score."""
        return {"reconstruction": self.reconstruction_weight, "latent": self.latent_weight,
                "neighbours": self.neighbour_weight}

    def to_json(self) -> dict[str, Any]:
        used = [name for name, weight in self.signals.items() if weight > 0]
        near = self.neighbours
        names = {"reconstruction": "mean normalized squared error",
                 "latent": "latent Mahalanobis distance",
                 "neighbours": "mean distance to the k nearest training rows in autoencoder "
                               "coordinates" + (" and inputs" if near and near.inputs else "")
                               + (", relative to their own" if near and near.spread is not None
                                  else "")
                               + (", blocks weighted equally" if near and near.balanced else "")}
        out: dict[str, Any] = {
            "method": " + ".join(names[name] for name in used),
            "features": self.features,
            "feature_scale": self.feature_scale.tolist(),
            "latent_weight": self.latent_weight,
            "signals": self.signals,
        }
        if self.latent is not None:
            out["latent"] = {"mean": self.latent.mean.tolist(),
                             "precision": self.latent.precision.tolist(),
                             "scale": self.latent_scale}
        if self.neighbours is not None:
            cells = self.neighbours.cells
            out["neighbours"] = {"k": self.neighbours.k, **self.neighbours.recipe,
                                 "reference_rows": len(self.neighbours.reference),
                                 "scale": self.neighbour_scale,
                                 "arrays": sorted(self.neighbours.arrays()),
                                 "search": "all reference rows" if cells is None else
                                 {"cells": len(cells.candidates),
                                  "candidates": cells.candidates.shape[1]}}
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays too large for bundle.json, saved as safetensors (``neighbours.<name>``)."""
        if self.neighbours is None:
            return {}
        return {f"neighbours.{k}": v for k, v in self.neighbours.arrays().items()}

    @classmethod
    def from_json(cls, raw: dict[str, Any], arrays: dict[str, np.ndarray] | None = None
                  ) -> Scorer:
        latent = raw.get("latent")
        signals = raw.get("signals", {})  # old bundles: reconstruction + latent_weight × latent
        near = raw.get("neighbours")
        neighbours = None
        if near:
            prefix = "neighbours."
            neighbours = NeighbourDistance.from_arrays(
                {k[len(prefix):]: v for k, v in (arrays or {}).items() if k.startswith(prefix)},
                int(near["k"]), bool(near.get("inputs", False)), bool(near.get("balanced", False)))
        return cls(
            features=list(raw["features"]),
            feature_scale=np.asarray(raw["feature_scale"], dtype=np.float64),
            latent=LatentDistance(np.asarray(latent["mean"]), np.asarray(latent["precision"]))
            if latent else None,
            latent_scale=float(latent["scale"]) if latent else 1.0,
            latent_weight=float(raw.get("latent_weight", 0.0)),
            neighbours=neighbours,
            neighbour_scale=float(near["scale"]) if near else 1.0,
            neighbour_weight=float(signals.get("neighbours", 0.0)),
            reconstruction_weight=float(signals.get("reconstruction", 1.0)),
        )


def percentiles(scores: np.ndarray, validation_sorted: np.ndarray) -> np.ndarray:
    """Share of validation normals scoring strictly lower than each score (0–1)."""
    if len(validation_sorted) == 0:
        return np.full(len(scores), np.nan)
    return np.searchsorted(validation_sorted, scores, side="left") / len(validation_sorted)


def top_features(shares: np.ndarray, features: list[str], k: int = 3,
                 min_share: float = 0.05) -> pd.api.extensions.ExtensionArray:
    """Per row, e.g. ``"amount 71%, country 18%"``: the k largest error shares (≥ min_share).

    Vectorised (no Python loop over rows): the labels come from a table of every
    ``"<feature> <p>%"``, gathered and joined by pyarrow, which keeps this off the hot path.

    Example:
        >>> top_features(np.array([[0.71, 0.18, 0.11], [0.5, 0.5, 0.0]]), ["a", "b", "c"],
        ...              k=2).tolist()
        ['a 71%, b 18%', 'a 50%, b 50%']
    """
    n, width = shares.shape
    k = min(k, width)
    if n == 0 or k == 0:
        return pd.array([""] * n, dtype=pd.StringDtype("pyarrow"))
    work = np.where(np.isnan(shares), 0.0, shares)  # a copy: the passes below overwrite it
    rows = np.arange(n)
    top = np.empty((n, k), dtype=np.int64)
    values = np.empty((n, k), dtype=np.float64)
    for i in range(k):  # k argmax passes beat a per-row sort (first index wins ties)
        top[:, i] = work.argmax(axis=1)
        values[:, i] = work[rows, top[:, i]]
        work[rows, top[:, i]] = -np.inf
    # the same rounding as f"{share:.0%}": round half to even of share * 100
    percent = np.clip(np.rint(values * 100), 0, 100).astype(np.int64)
    # labels[j * 101 + p] = "<feature j> <p>%" (then the same with a ", " prefix for later
    # parts); the last entry "" hides shares below min_share. pyarrow gathers and concatenates
    # in C++ (nulls are avoided: its null-skipping join drops rows in pyarrow 26).
    first, later = _labels(tuple(features))
    hidden = len(first) - 1
    parts = [(first if i == 0 else later).take(
        pa.array(np.where(values[:, i] >= min_share, top[:, i] * 101 + percent[:, i], hidden)))
        for i in range(k)]
    joined = parts[0] if k == 1 else pc.binary_join_element_wise(*parts, "")
    labels: pd.api.extensions.ExtensionArray = pd.array(joined, dtype=pd.StringDtype("pyarrow"))
    return labels  # stays in Arrow: no Python str per row


@lru_cache(maxsize=8)
def _labels(features: tuple[str, ...]) -> tuple[pa.Array, pa.Array]:
    """The label tables of `top_features`, made once per feature list (a file's chunks share
    them)."""
    names = [f"{name} {p}%" for name in features for p in range(101)]
    return (pa.array([*names, ""], type=pa.string()),
            pa.array([*(", " + n for n in names), ""], type=pa.string()))


def scored_frame(carried: pd.DataFrame, scores: np.ndarray, shares: np.ndarray,
                 validation_scores: np.ndarray, features: list[str],
                 threshold: float) -> pd.DataFrame:
    """The scored output: `carried` columns (id, time…) + the four score columns of DESIGN.md."""
    out = carried.reset_index(drop=True)
    out["anomaly_score"] = scores
    out["score_percentile"] = percentiles(scores, validation_scores)
    out["is_anomaly"] = scores > threshold
    out["top_features"] = top_features(shares, features)
    return out
