"""What the network adds beyond a level chart: shape faults that keep every level in range.

SKAB's Conv-AE is, in effect, a level chart (its one output channel can only rebuild a shared
series, so its residual is Σ|z|). This synthetic check trains on 3,000 rows of 8 coupled sensors
(sines with fixed phase relations plus noise) and scores 2,000 new rows with one fault in the
middle 600 rows, of one of these kinds:

* level — sensor 0 shifted by +1.5 standard deviations (a chart sees it);
* phase — sensor 0's sine shifted by half a period: same mean, same spread, but out of step
  with the sensors it moves with;
* frequency — sensor 0 oscillates twice as fast, same amplitude;
* coupling — sensors 0 and 1 swap their waves.

For each fault: row-level ROC-AUC of ours (`Detector("timeseries")`, app defaults), of the
level chart (60-row mean of Σ|z|, z from the training rows) and of SKAB's Conv-AE reproduced
(`bench/skab_peers.py`; the min over the 59 windows before a row, its rule).

Usage: python -m bench.ts_ablation [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.metrics import roc_auc_score

from anomaly.core.detector import Detector
from bench import skab_peers

SENSORS = 8
TRAIN, TEST, FAULT = 3000, 2000, (700, 1300)
PERIOD = 40.0


def series(n: int, start: int, rng: np.random.Generator, fault: str | None) -> np.ndarray:
    t = np.arange(start, start + n, dtype=np.float64)
    phase = np.arange(SENSORS) * 0.7
    speed = np.ones(SENSORS)
    values = np.empty((n, SENSORS))
    inside = np.zeros(n, dtype=bool)
    if fault:
        inside[FAULT[0]:FAULT[1]] = True
    for j in range(SENSORS):
        p = np.full(n, phase[j])
        s = np.full(n, speed[j])
        if j == 0 and fault == "phase":
            p[inside] += np.pi
        if j == 0 and fault == "frequency":
            s[inside] = 2.0
        values[:, j] = np.sin(2 * np.pi * s * t / PERIOD + p)
    if fault == "coupling":
        values[inside, 0], values[inside, 1] = values[inside, 1].copy(), values[inside, 0].copy()
    values += 0.1 * rng.normal(size=values.shape)
    if fault == "level":
        values[inside, 0] += 1.5 * values[:, 0].std()
    return values


def level_chart(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """60-row trailing mean of Σ|z| (z on the training rows' mean and spread)."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    total = np.abs((test - mean) / std).sum(axis=1)
    padded = np.concatenate([np.full(skab_peers.STEPS - 1, total[0]), total])
    return sliding_window_view(padded, skab_peers.STEPS).mean(axis=1)


def conv_ae(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    both = np.concatenate([train, test])
    window = skab_peers.window_scores(both, len(train), seed, network=True)
    return skab_peers.all_rows_score(window, len(test))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for name in ("anomaly", "lightning", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(args.seed)
    train = series(TRAIN, 0, rng, None)
    columns = [f"s{j}" for j in range(SENSORS)]
    frame = pd.DataFrame(train, columns=columns).assign(t=np.arange(TRAIN, dtype=float))
    ours = Detector("timeseries", time_col="t", seed=args.seed).fit(frame)
    labels = np.zeros(TEST, dtype=int)
    labels[FAULT[0]:FAULT[1]] = 1
    print(f"{'fault (ROC-AUC, rows)':<24} {'ours':>6} {'level chart':>12} {'Conv-AE':>8}")
    for fault in ("level", "phase", "frequency", "coupling"):
        test = series(TEST, TRAIN, np.random.default_rng(args.seed + 1), fault)
        scored = pd.DataFrame(test, columns=columns).assign(
            t=np.arange(TRAIN, TRAIN + TEST, dtype=float))
        results = [roc_auc_score(labels, s) for s in (
            ours.anomaly_scores(scored), level_chart(train, test),
            conv_ae(train, test, args.seed))]
        print(f"{fault:<24} {results[0]:6.3f} {results[1]:12.3f} {results[2]:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
