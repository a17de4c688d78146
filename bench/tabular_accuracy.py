"""Tabular accuracy: our default `Detector` against three peers on the ODDS data sets.

Data: ``<repo>/../shared/data/odds/{cardio,thyroid,shuttle}.csv`` (columns x0..x(d-1), label).
Protocol, per data set and seed (3 seeds): a seeded 60% of the normal rows is the training set;
the test set is the other 40% of the normal rows plus every anomaly. Each method is fitted on
the training rows only and scores the test rows; we report ROC-AUC and PR-AUC (average precision,
anomalies as the positive class), each the mean over seeds, and the seconds each method took
(fit + score, summed over seeds).

Methods:
  ours       `anomaly.Detector()` with default arguments (progress_bar=False, seed=seed).
  iforest    scikit-learn IsolationForest, defaults, random_state=seed.
  knn5       distance to the 5th nearest training neighbour (scikit-learn NearestNeighbors) on
             features standardised with statistics of the training rows.
  pyod_ae    PyOD AutoEncoder, defaults (random_state=seed where the version accepts it).

Machine load varies, so the seconds are only comparable within one run.

Run:  python -m bench.tabular_accuracy [--datasets cardio,thyroid] [--seeds 3] [--methods ...]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

DATASETS = ("cardio", "thyroid", "shuttle")
METHODS = ("ours", "iforest", "knn5", "pyod_ae")
TRAIN_SHARE = 0.6
Scorer = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def data_dir() -> Path:
    """``<repo>/../shared/data/odds``."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "odds"


def split(frame: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded split: (train rows, test rows, test labels) — train is 60% of the normals."""
    x = frame.drop(columns="label").to_numpy(dtype=np.float64)
    y = frame["label"].to_numpy().astype(int)
    normal = np.flatnonzero(y == 0)
    order = np.random.default_rng(seed).permutation(normal)
    n_train = round(TRAIN_SHARE * len(normal))
    train, rest = order[:n_train], order[n_train:]
    test = np.concatenate([rest, np.flatnonzero(y == 1)])
    return x[train], x[test], y[test]


# ------------------------------------------------------------------ methods
def score_ours(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    from anomaly import Detector

    det = Detector(progress_bar=False, seed=seed).fit(train)
    scores: np.ndarray = det.anomaly_scores(test)
    return scores


def score_iforest(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    model = IsolationForest(random_state=seed).fit(train)
    scores: np.ndarray = -model.score_samples(test)
    return scores


def score_knn5(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train)
    model = NearestNeighbors(n_neighbors=5).fit(scaler.transform(train))
    distances, _ = model.kneighbors(scaler.transform(test))
    scores: np.ndarray = distances[:, -1]  # distance to the 5th neighbour
    return scores


def score_pyod_ae(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    import inspect

    import torch
    from pyod.models.auto_encoder import AutoEncoder

    torch.manual_seed(seed)
    np.random.seed(seed)
    kwargs = {"random_state": seed} if "random_state" in inspect.signature(
        AutoEncoder.__init__).parameters else {}
    model = AutoEncoder(**kwargs, verbose=0)
    model.fit(train)
    scores: np.ndarray = model.decision_function(test)
    return scores


SCORERS: dict[str, Scorer] = {"ours": score_ours, "iforest": score_iforest,
                              "knn5": score_knn5, "pyod_ae": score_pyod_ae}


# ------------------------------------------------------------------- runner
def evaluate(datasets: list[str], methods: list[str], seeds: int,
             folder: Path) -> pd.DataFrame:
    """One row per (dataset, method, seed): roc, pr, seconds."""
    rows = []
    for name in datasets:
        frame = pd.read_csv(folder / f"{name}.csv")
        for seed in range(seeds):
            train, test, labels = split(frame, seed)
            for method in methods:
                started = time.perf_counter()
                scores = SCORERS[method](train, test, seed)
                seconds = time.perf_counter() - started
                rows.append({"dataset": name, "method": method, "seed": seed,
                             "roc": roc_auc_score(labels, scores),
                             "pr": average_precision_score(labels, scores),
                             "seconds": seconds})
                print(f"  {name:8s} seed {seed} {method:8s} ROC {rows[-1]['roc']:.3f} "
                      f"PR {rows[-1]['pr']:.3f} ({seconds:.1f} s)", flush=True)
    return pd.DataFrame(rows)


def table(results: pd.DataFrame, methods: list[str]) -> str:
    """Per data set and mean: ROC-AUC / PR-AUC / seconds for each method, side by side."""
    per = results.groupby(["dataset", "method"], sort=False).agg(
        roc=("roc", "mean"), pr=("pr", "mean"), seconds=("seconds", "sum")).reset_index()
    datasets = list(dict.fromkeys(per["dataset"]))
    header = f"{'dataset':10s}" + "".join(f"{m:>24s}" for m in methods)
    sub = f"{'':10s}" + "".join(f"{'ROC    PR     sec':>24s}" for _ in methods)
    lines = [header, sub]
    for name in [*datasets, "mean"]:
        cells = []
        for m in methods:
            part = per[(per["method"] == m) & ((per["dataset"] == name) | (name == "mean"))]
            seconds = part["seconds"].sum()
            cells.append(f"{part['roc'].mean():.3f}  {part['pr'].mean():.3f} {seconds:7.1f}")
        lines.append(f"{name:10s}" + "".join(f"{c:>24s}" for c in cells))
    return "\n".join(lines)


def verdict(results: pd.DataFrame) -> str:
    """Whether our defaults beat every peer on the mean ROC-AUC and the mean PR-AUC."""
    means = results.groupby(["method", "dataset"])[["roc", "pr"]].mean().groupby("method").mean()
    if "ours" not in means.index or len(means) < 2:
        return ""
    out = []
    for metric in ("roc", "pr"):
        ours = float(means[metric]["ours"])
        peers = means.drop(index="ours")[metric]
        best, top = str(peers.idxmax()), float(peers.max())
        status = "beats" if ours > top else "does NOT beat"
        out.append(f"mean {metric.upper()}-AUC: ours {ours:.3f} {status} the best peer "
                   f"({best} {top:.3f}); ratio ours/best {ours / top:.3f}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    folder = data_dir()
    if not folder.is_dir():
        print(f"ODDS data not found at {folder} — nothing to benchmark (needs ../shared/data/odds "
              "next to the repository).")
        return 0
    datasets = [d for d in args.datasets.split(",") if d]
    missing = [d for d in datasets if not (folder / f"{d}.csv").is_file()]
    if missing:
        print(f"{folder}: no {', '.join(f'{d}.csv' for d in missing)} — skipping those.")
        datasets = [d for d in datasets if d not in missing]
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(SCORERS))
    if unknown:
        print(f"unknown method(s) {', '.join(unknown)} — known: {', '.join(SCORERS)}")
        return 2
    logging.getLogger("anomaly").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    print(f"ODDS tabular accuracy: data from {folder}; train on a seeded {TRAIN_SHARE:.0%} of "
          f"the normal rows, test on the rest + all anomalies; {args.seeds} seed(s).")
    results = evaluate(datasets, methods, args.seeds, folder)
    print()
    print(table(results, methods))
    print()
    print(verdict(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
