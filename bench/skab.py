"""SKAB benchmark for `--kind timeseries`: ours against SKAB's Conv-AE and its level chart.

Reads ../shared/data/skab (17 labelled experiments + anomaly-free.csv; see its README). Peers
(bench only, `bench/skab_peers.py`): SKAB's published Conv-AE reproduced in PyTorch, and the
model-free level chart inside it (reconstruction = 0). Prints:

* dev table — per file: fit on the first 400 rows, score the rest (SKAB's protocol), pooled over
  files and seeds: F1 = TP / (TP + (FP+FN)/2), FAR, MAR over all test rows and with the
  published evaluation (flags only in rows 59 … len − 119 of a test part, as SKAB's loop makes
  them), pooled row-level ROC-AUC and PR-AUC (threshold-free ranking), event recall and false
  events per hour (`bench/skab_eval.py`), next to SKAB's published numbers for these files.
  "ours" is the app's defaults (what `anomaly train --kind timeseries --time-col datetime`
  does); "ours, cross-fitted margin" picks the threshold margin (× the largest validation
  score) on half of the files and scores the other half, swapped and pooled. "ours, score
  stride N" scores a window every N rows (`--score-stride`); "ours, cross-fitted stride" picks
  the largest stride that costs nothing measurable (`skab_eval.no_drop`: F1 and PR-AUC within
  0.005, FAR within 0.5 points, false events/h within 10 % of stride 1) on half of the files
  and scores the other half; the same rule on all 17 files gives the app's default.
* new run — train once on anomaly-free.csv, score all rows of the 17 files, with and without
  `anomaly score --baseline-rows` (each file re-centred and re-scaled on its own first rows);
  then the run-relative model (`anomaly train --baseline-rows N`: trained on runs re-based on
  their own warm-ups, scores relative to each file's warm-up peak, threshold 1), pooled over
  seeds, over all rows and over the rows after the warm-up, and with a threshold factor
  cross-fitted across halves of the files (FAR ≤ 20 %).
* throughput — see bench/ts_speed.py (whole `anomaly score` processes).

Expensive per-file results are cached under artifacts/skab/ (delete it, or pass --fresh, after
changing the code). Thresholds never see test labels.

Usage:
    python -m bench.skab                    # 3 seeds, every table
    python -m bench.skab --seeds 1 --skip-app
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from anomaly.config import WindowConfig
from anomaly.core.detector import Detector
from anomaly.core.metrics import skab_report
from bench import skab_peers
from bench.skab_eval import FileResult, Row, cross_fit, no_drop, pick, table_row

ROOT = Path(__file__).resolve().parents[1]
SKAB = ROOT.parent / "shared" / "data" / "skab"
CACHE = ROOT / "artifacts" / "skab"
CACHE_VERSION = 2  # bump when what is cached changes meaning
FILES = [f"valve1/{i}.csv" for i in range(8)] + ["valve2/0.csv", "valve2/1.csv"] + [
    f"other/{i}.csv" for i in (1, 2, 5, 6, 7, 10, 12)]
TRAIN_ROWS = 400
WINDOW = WindowConfig().window  # ours: the app's default window (its event gap)
MAX_FAR = 15.0  # % — the operating limit for the cross-fitted rule
SCORE_STRIDE = WindowConfig().score_stride  # ours: the app's default (chosen by this bench)
STRIDES = (1, 2, 4, 8)  # candidate score strides (a window every N rows)
STRIDE_TOLERANCE = 0.005  # a stride may cost at most this much F1 / PR-AUC (0.5 points FAR)
MARGINS = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0, 2.5, 3.0)
NEW_RUN_FACTORS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5)
RELATIVE_FACTORS = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5)  # × a run-relative model's threshold
NEW_RUN_FAR = 20.0  # % — the operating limit for a new run
PUBLISHED = {"Conv-AE": (0.75, 12.79, 33.49), "MSET": (0.76, 41.29, 16.79),
             "LSTM-AE": (0.68, 28.43, 35.4), "T-squared+Q (PCA)": (0.72, 29.5, 28.48),
             "Vanilla AE": (0.46, 4.03, 69.07), "Isolation forest": (0.24, 2.73, 86.13)}


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(SKAB / name)


def sensors(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["anomaly", "changepoint"])


def cached(key: dict[str, Any], make: Any, fresh: bool) -> dict[str, np.ndarray]:
    """`make()` (a dict of arrays) stored under artifacts/skab by a hash of `key`."""
    digest = hashlib.sha256(json.dumps({**key, "v": CACHE_VERSION}, sort_keys=True)
                            .encode()).hexdigest()[:16]
    path = CACHE / f"{key['what']}-{digest}.npz"
    if path.exists() and not fresh:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    result: dict[str, np.ndarray] = make()
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **result)
    return result


# ------------------------------------------------------------------- ours
def ours_file(name: str, seed: int, fresh: bool, stride: int = SCORE_STRIDE
              ) -> dict[str, np.ndarray]:
    """App defaults (but `stride`) fitted on the first 400 rows: all-row scores, sorted
    validation scores, the bundle's threshold."""
    def make() -> dict[str, np.ndarray]:
        x = sensors(read(name))
        det = Detector("timeseries", time_col="datetime", seed=seed, score_stride=stride).fit(
            x.iloc[:TRAIN_ROWS], source=name)
        return {"scores": det.anomaly_scores(x), "val": det.validation_scores_,
                "threshold": np.array(det.threshold_)}

    return cached({"what": "ours", "file": name, "seed": seed, "score_stride": stride}, make,
                  fresh)


def ours_results(margin: float | None, files: Sequence[str], seeds: Sequence[int],
                 fresh: bool = False, stride: int = SCORE_STRIDE) -> list[FileResult]:
    """Test parts scored by ours; threshold = the bundle's, or `margin` × max validation."""
    out = []
    for name in files:
        labels = read(name)["anomaly"].to_numpy(dtype=int)[TRAIN_ROWS:]
        for seed in seeds:
            got = ours_file(name, seed, fresh, stride)
            limit = float(got["threshold"]) if margin is None else margin * got["val"].max()
            scores = got["scores"][TRAIN_ROWS:] / limit
            out.append(FileResult(name, labels, scores, (scores > 1).astype(int), WINDOW))
    return out


# ------------------------------------------------------------------ peers
def peer_results(network: bool, seeds: Sequence[int], fresh: bool
                 ) -> tuple[list[FileResult], list[FileResult]]:
    """(all rows, published loop) results of the Conv-AE (network) or the level chart."""
    every, loop = [], []
    for name in FILES:
        frame = read(name)
        labels = frame["anomaly"].to_numpy(dtype=int)[TRAIN_ROWS:]
        values = sensors(frame).drop(columns=["datetime"]).to_numpy(dtype=np.float64)
        for seed in (seeds if network else seeds[:1]):  # the chart has no seed
            got = cached({"what": "conv-ae" if network else "level", "file": name,
                          "seed": seed if network else 0},
                         lambda v=values, s=seed: {"window": skab_peers.window_scores(
                             v, TRAIN_ROWS, s, network)}, fresh)
            rows = skab_peers.all_rows_score(got["window"], len(labels))
            every.append(FileResult(name, labels, rows, (rows > 1).astype(int)))
            loop.append(FileResult(name, labels, rows,
                                   skab_peers.published_flags(got["window"], len(labels))))
    return every, loop


# ------------------------------------------------------------------ table
def print_dev(rows: dict[str, Row]) -> None:
    head = (f"{'method (17 dev files, SKAB protocol)':<40} {'all rows: F1':>12} {'FAR%':>6} "
            f"{'MAR%':>6} | {'published: F1':>13} {'FAR%':>6} {'MAR%':>6} | {'ROC':>5} "
            f"{'PR':>5} | {'ev.rec':>6} {'false ev/h':>10}")
    print(head)
    print("-" * len(head))
    for name, r in rows.items():
        print(f"{name:<40} {r.f1:12.3f} {r.far:6.1f} {r.mar:6.1f} | {r.pub_f1:13.3f} "
              f"{r.pub_far:6.1f} {r.pub_mar:6.1f} | {r.roc:5.3f} {r.pr:5.3f} | "
              f"{r.event_recall:6.2f} {r.false_events_h:10.1f}")
    for method, (f1, far, mar) in PUBLISHED.items():
        print(f"{method + ' (published)':<40} {'':>12} {'':>6} {'':>6} | {f1:13.2f} "
              f"{far:6.1f} {mar:6.1f} |")


def frontier(results_at: Any, label: str, factors: Sequence[float] = MARGINS) -> None:
    """F1 at each threshold factor: the F1–FAR frontier a threshold rule moves along."""
    points = []
    for margin in factors:
        res = results_at(margin)
        rep = skab_report(np.concatenate([r.labels for r in res]),
                          np.concatenate([r.flags for r in res]))
        points.append(f"{margin:g}: {rep.f1:.3f}/{rep.far:.1f}%")
    print(f"{label} F1/FAR by threshold factor — " + ", ".join(points))


def dev_table(args: argparse.Namespace) -> None:
    seeds = list(range(args.seeds))
    rows: dict[str, Row] = {}
    plain = ours_results(None, FILES, seeds, args.fresh)
    rows[f"ours (app defaults, score stride {SCORE_STRIDE})"] = table_row(plain)
    for stride in STRIDES:
        if stride != SCORE_STRIDE:
            rows[f"ours, score stride {stride}"] = table_row(
                ours_results(None, FILES, seeds, args.fresh, stride))
    def strided(k: float, fs: Sequence[str]) -> list[FileResult]:
        return ours_results(None, fs, seeds, args.fresh, int(k))

    fitted, chosen = cross_fit(STRIDES, strided, FILES,
                               lambda c, r, fs: no_drop(c, r, fs, STRIDE_TOLERANCE))
    rows[f"ours, cross-fitted stride ({chosen[0]:g}/{chosen[1]:g})"] = table_row(fitted)
    print(f"score stride: the rule on all 17 files picks "
          f"{no_drop(STRIDES, strided, FILES, STRIDE_TOLERANCE):g} (the app's default: "
          f"{SCORE_STRIDE})")
    fitted, chosen = cross_fit(MARGINS, lambda m, fs: ours_results(m, fs, seeds), FILES,
                               lambda c, r, fs: pick(c, r, fs, MAX_FAR))
    rows[f"ours, cross-fitted margin ({chosen[0]:g}/{chosen[1]:g})"] = table_row(fitted)
    conv_all, conv_loop = peer_results(True, seeds, args.fresh)
    level_all, level_loop = peer_results(False, seeds, args.fresh)
    for name, every, loop in (("Conv-AE (reproduced)", conv_all, conv_loop),
                              ("level chart (no network)", level_all, level_loop)):
        a, b = table_row(every), table_row(loop)
        rows[name] = Row(a.f1, a.far, a.mar, b.pub_f1, b.pub_far, b.pub_mar, a.roc, a.pr,
                         a.event_recall, a.false_events_h)
        rows[name + ", its loop"] = Row(b.f1, b.far, b.mar, b.pub_f1, b.pub_far, b.pub_mar,
                                        a.roc, a.pr, b.event_recall, b.false_events_h)
    print(f"seeds: {seeds} (results of every file × seed pooled)")
    print_dev(rows)
    frontier(lambda m: ours_results(m, FILES, seeds), "ours (margin × max validation score)")
    frontier(lambda m: [FileResult(r.name, r.labels, r.scores / m,
                                   (r.scores > m).astype(int)) for r in conv_all],
             "Conv-AE (factor × its UCL)")
    frontier(lambda m: [FileResult(r.name, r.labels, r.scores / m,
                                   (r.scores > m).astype(int)) for r in level_all],
             "level chart (factor × its UCL)")


# ---------------------------------------------------------------- new run
def app_protocol(args: argparse.Namespace) -> None:
    """Train once on anomaly-free.csv; score every labelled file in full, ± --baseline-rows."""
    from anomaly.jobs.score import score_file

    folder = CACHE / f"app-s{args.seed}-e{args.app_epochs}-k{SCORE_STRIDE}"
    try:
        det = Detector.load(folder / "skab-free", models_dir=folder)
    except Exception:  # not cached yet (or stale): train it
        det = Detector("timeseries", time_col="datetime", seed=args.seed,
                       max_epochs=args.app_epochs).fit(read("anomaly-free/anomaly-free.csv"),
                                                       source="anomaly-free.csv")
        det.save(folder, "skab-free")
    for baseline in (None, *args.baseline_rows):
        results = []
        for name in FILES:
            out = CACHE / "scored.csv"
            score_file(det, SKAB / name, out, baseline_rows=baseline)
            scored = pd.read_csv(out)
            labels = read(name)["anomaly"].to_numpy(dtype=int)
            scores = scored["anomaly_score"].to_numpy() / det.threshold_
            results.append(FileResult(name, labels, scores,
                                      scored["is_anomaly"].to_numpy(dtype=int), WINDOW))
        r = table_row(results)
        label = "no baseline" if baseline is None else f"--baseline-rows {baseline}"
        print(f"new run ({label:<20}): F1 {r.f1:.3f} FAR {r.far:5.1f}% MAR {r.mar:5.1f}%  "
              f"ROC {r.roc:.3f} PR {r.pr:.3f}  event recall {r.event_recall:.2f}, "
              f"{r.false_events_h:.1f} false events/h")
        frontier(lambda m, res=results: [  # type: ignore[misc]
            FileResult(x.name, x.labels, x.scores / m, (x.scores > m).astype(int), WINDOW)
            for x in res], f"  {label}: factor × the bundle's threshold,", NEW_RUN_FACTORS)
        if baseline is not None:
            after_warmup(results, baseline, f"  {label}")


def after_warmup(results: Sequence[FileResult], skip: int, label: str) -> None:
    """The ranking over the rows after each file's warm-up: pooled ROC and PR, and the best F1 at
    FAR ≤ 20 % and ≤ 30 % — oracle points (thresholds chosen on these labels), for comparing
    methods, not operating points."""
    y = np.concatenate([r.labels[skip:] for r in results])
    s = np.concatenate([r.scores[skip:] for r in results])
    reports = [skab_report(y, (s > t).astype(int))
               for t in np.quantile(s, np.linspace(0.2, 0.999, 200))]
    best = []
    for limit in (20.0, 30.0):
        ok = [rep for rep in reports if rep.far <= limit]
        top = max(ok, key=lambda rep: rep.f1) if ok else None
        best.append(f"FAR ≤ {limit:.0f} %: " + (f"{top.f1:.3f} at {top.far:.1f} %" if top else "-"))
    print(f"{label}, after the warm-up: ROC {roc_auc_score(y, s):.3f} PR "
          f"{average_precision_score(y, s):.3f}; best F1 (oracle) at " + ", ".join(best))


def relative_protocol(args: argparse.Namespace) -> None:
    """The run-relative model (`train --baseline-rows N`) on the new-run protocol."""
    from anomaly.jobs.score import score_file

    for baseline in args.baseline_rows:
        scored: list[tuple[str, np.ndarray, np.ndarray]] = []  # name, labels, score / threshold
        for seed in range(args.seeds):
            folder = CACHE / f"app-rel-N{baseline}-s{seed}-e{args.app_epochs}-k{SCORE_STRIDE}"
            try:
                det = Detector.load(folder / "skab-free", models_dir=folder)
            except Exception:  # not cached yet (or stale): train it
                det = Detector("timeseries", time_col="datetime", seed=seed,
                               max_epochs=args.app_epochs, baseline_rows=baseline).fit(
                    read("anomaly-free/anomaly-free.csv"), source="anomaly-free.csv")
                det.save(folder, "skab-free")
            for name in FILES:
                out = CACHE / "scored.csv"
                score_file(det, SKAB / name, out)
                scores = pd.read_csv(out)["anomaly_score"].to_numpy() / det.threshold_
                scored.append((name, read(name)["anomaly"].to_numpy(dtype=int), scores))

        def results(factor: float, files: Sequence[str], skip: int = 0,
                    scored: list[tuple[str, np.ndarray, np.ndarray]] = scored
                    ) -> list[FileResult]:
            return [FileResult(name, y[skip:], s[skip:] / factor,
                               (s[skip:] > factor).astype(int), WINDOW)
                    for name, y, s in scored if name in files]

        label = f"train --baseline-rows {baseline}"
        after_warmup(results(1.0, FILES), baseline, f"  {label}")
        for rows, skip in (("all rows", 0), ("after the warm-up", baseline)):
            r = table_row(results(1.0, FILES, skip))
            print(f"new run ({label}, {args.seeds} seed(s), {rows}): F1 {r.f1:.3f} FAR "
                  f"{r.far:5.1f}% MAR {r.mar:5.1f}%  ROC {r.roc:.3f} PR {r.pr:.3f}  event "
                  f"recall {r.event_recall:.2f}, {r.false_events_h:.1f} false events/h")
        frontier(lambda m: results(m, FILES), f"  {label}: factor × the bundle's threshold,",
                 RELATIVE_FACTORS)
        pooled, chosen = cross_fit(RELATIVE_FACTORS, results, FILES,
                                   lambda c, res, fs: pick(c, res, fs, NEW_RUN_FAR))
        r = table_row(pooled)
        print(f"  {label}, cross-fitted factor {' / '.join(map(str, chosen))}: F1 {r.f1:.3f} "
              f"FAR {r.far:.1f}% (event recall {r.event_recall:.2f}, "
              f"{r.false_events_h:.1f} false events/h)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 … N-1 (pooled)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new-run model")
    parser.add_argument("--app-epochs", type=int, default=15,
                        help="epochs for the new-run model (9,405 rows: many windows)")
    parser.add_argument("--baseline-rows", type=int, nargs="*", default=[400])
    parser.add_argument("--skip-dev", action="store_true")
    parser.add_argument("--skip-app", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="ignore cached results")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 avoids thrashing on a shared machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in ("anomaly", "lightning", "lightning.pytorch", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    if not SKAB.is_dir():
        print(f"SKAB data not found at {SKAB} — nothing to benchmark (see DESIGN.md, "
              "'Data in ../shared/data')")
        return 0
    if not args.skip_dev:
        dev_table(args)
    if not args.skip_app:
        app_protocol(args)
        relative_protocol(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
