"""SKAB benchmark for `--kind timeseries`, plus scoring throughput against the tabular path.

Reads ../shared/data/skab (17 labelled experiments + anomaly-free.csv; see its README) and prints:

* SKAB protocol — per file: fit on the first 400 rows, score the rest, pool the test rows of all
  files into one confusion matrix: F1 = TP / (TP + (FP+FN)/2), FAR, MAR (SKAB's definitions),
  next to the published numbers for these 17 files.
* app protocol — train once on anomaly-free.csv, score every labelled file (all rows), pooled.
* throughput — rows/s of `score_frame` on a synthetic N-row, 8-sensor series, time-series
  detector against the tabular `Detector` on the same rows, measured in the same run.

Thresholds are never chosen with test labels: the detector's own threshold (a quantile or
`--threshold-rule` of its validation scores) is used.

Usage:
    python -m bench.skab                       # defaults (what `anomaly train` uses)
    python -m bench.skab --model lstm --window 60 --rules   # compare threshold rules
    python -m bench.skab --skip-app --skip-throughput
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from anomaly.core.detector import Detector
from anomaly.core.metrics import skab_report
from bench._common import rule_thresholds

ROOT = Path(__file__).resolve().parents[1]
SKAB = ROOT.parent / "shared" / "data" / "skab"
FILES = [f"valve1/{i}.csv" for i in range(8)] + ["valve2/0.csv", "valve2/1.csv"] + [
    f"other/{i}.csv" for i in (1, 2, 5, 6, 7, 10, 12)]
TRAIN_ROWS = 400
PUBLISHED = {"Conv-AE": (0.75, 12.79, 33.49), "MSET": (0.76, 41.29, 16.79),
             "LSTM-AE": (0.68, 28.43, 35.4), "T-squared+Q (PCA)": (0.72, 29.5, 28.48),
             "Vanilla AE": (0.46, 4.03, 69.07), "Isolation forest": (0.24, 2.73, 86.13)}
RULES: dict[str, dict[str, Any]] = {
    "quantile q=0.995": {"method": "quantile", "q": 0.995},
    "quantile q=0.99": {"method": "quantile", "q": 0.99},
    "sigma k=3": {"method": "sigma", "k": 3.0},
    "sigma k=5": {"method": "sigma", "k": 5.0},
    "mad k=5": {"method": "mad", "k": 5.0},
}


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(SKAB / name)


def detector(args: argparse.Namespace, **extra: Any) -> Detector:
    params: dict[str, Any] = {"time_col": "datetime", "progress_bar": False, "seed": args.seed}
    for key in ("window", "model", "aggregate", "stride"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    for key, name in (("epochs", "max_epochs"), ("batch_size", "batch_size"),
                      ("patience", "patience")):
        if getattr(args, key) is not None:
            params[name] = getattr(args, key)
    return Detector("timeseries", **{**params, **extra})


def pooled(rows: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float, float]:
    labels = np.concatenate([y for y, _ in rows])
    flags = np.concatenate([f for _, f in rows])
    r = skab_report(labels, flags)
    return r.f1, r.far, r.mar


def skab_protocol(args: argparse.Namespace) -> dict[str, tuple[float, float, float]]:
    """Per file: fit on the first 400 rows, score the rest; one pooled confusion matrix."""
    per_rule: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    started = time.perf_counter()
    for name in FILES:
        frame = read(name)
        features = frame.drop(columns=["anomaly", "changepoint"])
        det = detector(args).fit(features.iloc[:TRAIN_ROWS], source=name)
        scores = det.anomaly_scores(features)[TRAIN_ROWS:]  # earlier rows give window context
        labels = frame["anomaly"].to_numpy(dtype=int)[TRAIN_ROWS:]
        rules = {"default": det.threshold_}
        if args.rules:
            rules.update(rule_thresholds(RULES, det.validation_scores_))
            for margin in (1.5, 3.0):
                rules[f"max x {margin}"] = margin * float(det.validation_scores_.max())
        for rule, value in rules.items():
            per_rule.setdefault(rule, []).append((labels, (scores > value).astype(int)))
        if args.verbose:
            f1, far, mar = pooled([per_rule["default"][-1]])
            print(f"  {name:<14} F1 {f1:.2f} FAR {far:5.1f} MAR {mar:5.1f} "
                  f"({det.training_summary_['epochs_run']} epochs)", flush=True)
    print(f"SKAB protocol: 17 fits + scoring in {time.perf_counter() - started:.0f}s")
    return {rule: pooled(rows) for rule, rows in per_rule.items()}


def app_protocol(args: argparse.Namespace) -> tuple[float, float, float]:
    """Train once on anomaly-free.csv, score every labelled file in full."""
    det = detector(args, max_epochs=args.app_epochs).fit(read("anomaly-free/anomaly-free.csv"),
                                                         source="anomaly-free.csv")
    rows = []
    for name in FILES:
        frame = read(name)
        scores = det.anomaly_scores(frame.drop(columns=["anomaly", "changepoint"]))
        rows.append((frame["anomaly"].to_numpy(dtype=int), (scores > det.threshold_).astype(int)))
    return pooled(rows)


def throughput(args: argparse.Namespace) -> None:
    """Rows/s scoring an N-row 8-sensor series: time-series vs tabular detector, same rows."""
    rng = np.random.default_rng(0)
    n = args.rows
    t = np.arange(n, dtype=np.float64)
    base = np.sin(t[:, None] / (5.0 + np.arange(8)) + np.arange(8))
    data = pd.DataFrame(base + 0.05 * rng.normal(size=(n, 8)),
                        columns=[f"s{i}" for i in range(8)]).astype("float32")
    data.insert(0, "t", t)
    train = data.iloc[:5000]
    ts = detector(args, max_epochs=3, time_col="t").fit(train)
    tab = Detector(max_epochs=3, progress_bar=False, id_col="t").fit(train)
    started = time.perf_counter()
    tab.score_frame(data)
    tab_s = time.perf_counter() - started
    started = time.perf_counter()
    ts.score_frame(data)
    ts_s = time.perf_counter() - started
    print(f"throughput on {n:,} rows × 8 sensors: tabular {n / tab_s:,.0f} rows/s, "
          f"time series ({ts.architecture_['class']}, window {ts.features_.window}) "
          f"{n / ts_s:,.0f} rows/s — ratio {ts_s / tab_s:.1f}× slower")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["conv", "lstm", "dense"])
    parser.add_argument("--window", type=int)
    parser.add_argument("--stride", type=int)
    parser.add_argument("--aggregate", choices=["mean", "point", "min"])
    parser.add_argument("--epochs", type=int, help="default: the app's (50)")
    parser.add_argument("--batch-size", type=int, help="default: the app's (256, smaller "
                        "when there are few training windows)")
    parser.add_argument("--patience", type=int, help="default: the app's (15)")
    parser.add_argument("--app-epochs", type=int, default=15,
                        help="epochs for the app protocol (9,405 rows: many more windows)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rules", action="store_true", help="compare threshold rules")
    parser.add_argument("--skip-skab", action="store_true")
    parser.add_argument("--skip-app", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 avoids thrashing on a shared machine)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.getLogger("anomaly").setLevel(logging.ERROR)
    if not SKAB.is_dir():
        print(f"SKAB data not found at {SKAB} — nothing to benchmark (see DESIGN.md, "
              "'Data in ../shared/data')")
        return 0
    settings = detector(args).settings().window
    print(f"settings: model {settings.model}, window {settings.window}, stride "
          f"{settings.stride}, aggregate {settings.aggregate}, seed {args.seed}")
    if not args.skip_skab:
        results = skab_protocol(args)
        print(f"{'method (17 SKAB files, SKAB protocol)':<44} {'F1':>5} {'FAR %':>7} "
              f"{'MAR %':>7}")
        for rule, (f1, far, mar) in results.items():
            print(f"{'anomaly ' + rule:<44} {f1:5.2f} {far:7.2f} {mar:7.2f}")
        for method, (f1, far, mar) in PUBLISHED.items():
            print(f"{method + ' (published)':<44} {f1:5.2f} {far:7.2f} {mar:7.2f}")
    if not args.skip_app:
        f1, far, mar = app_protocol(args)
        print(f"app protocol (train on anomaly-free.csv, score all rows of 17 files): "
              f"F1 {f1:.2f} FAR {far:.2f}% MAR {mar:.2f}%")
    if not args.skip_throughput:
        throughput(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
