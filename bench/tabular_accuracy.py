"""Tabular accuracy: our default `Detector` against PyOD/scikit-learn peers on 17 ODDS tables.

Data: ``<repo>/../shared/data/odds/<table>.csv`` (columns x0..x(d-1), label), 17 tables.
Protocol, per table and seed (3 seeds): a seeded 60% of the normal rows is the training set;
the test set is the other 40% of the normal rows plus every anomaly. Each method is fitted on
the training rows only and scores the test rows; we report ROC-AUC and PR-AUC (average precision,
anomalies as the positive class), each the mean over seeds.

Ours: each (table, seed) network is trained ONCE with the default `Detector` settings; every
score recipe below is then calibrated from that same network with the product's own code
(`anomaly.kinds.rowwise.calibrate_rows`, `score_inputs`), so a recipe's figures are exactly what
`Detector(latent_weight=…, neighbours=…)` gives:

  R        reconstruction error alone                      (latent_weight=0, neighbours=0)
  R+2L     reconstruction + 2 × latent Mahalanobis         (the default before issue 14)
  N5, N10  distance to the 5 / 10 nearest training rows in autoencoder coordinates
           ([standardised code, residual / validation RMS residual, input]), relative to
           those rows' own spread (`NeighbourDistance`; neighbours=5 / 10)
  N5b, N10b  the same with the three blocks weighted equally (each ÷ √its width;
           `neighbours.BALANCED_BLOCKS`)

The neighbour search of the shipped network's recipe (`SEARCH_RECIPE`, `anomaly.core.search`) is
scored too: every reference row ("exact") or by cells — X candidate rows per query, cells of ~Y
reference rows (wXcY; a reference set of at most X rows is searched exactly). Among the settings
with at most 256 candidates a row (`FAST_SEARCHES`; 4–7× cheaper than exact search on 4,096
reference rows), the one with the best mean PR-AUC on the other tables is picked for each
held-out table; the shipped default is the one most folds pick.

The default recipe is chosen by leave-one-table-out: for each table, the candidate with the best
mean PR-AUC on the other 16 tables is evaluated on it. The cross-validated mean is printed next
to each fixed candidate's plain mean; the shipped default is the one most folds pick. Ablation
rows add the latent distance alone (L) and sums of the calibrated parts (each part divided by
its mean on validation normals, as the scorer does).

Peers (features standardised with training statistics where the method needs it):
  iforest  scikit-learn IsolationForest, defaults, random_state=seed.
  knn5     mean distance to the 5 nearest training rows (scikit-learn NearestNeighbors).
  pyod_ae  PyOD AutoEncoder, defaults (random_state=seed where the version accepts it).
  ecod     PyOD ECOD, defaults.
  lof      PyOD LOF (novelty scoring of test rows), defaults.

Bundled transactions (data/transactions_*.csv, as `anomaly demo` trains: id and time columns,
60 epochs): PR-AUC of each recipe on the labelled test file, 3 seeds.

Results are cached per (table, seed, method) in ``artifacts/tabular_accuracy.json``: a rerun only
prints (``--fresh`` recomputes). Seconds are fit + score, comparable only within one run.

Run:  python -m bench.tabular_accuracy [--datasets cardio,thyroid] [--seeds 3] [--fresh]
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

if __package__ in (None, ""):  # `python bench/tabular_accuracy.py` as well as `python -m`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO, quiet, shared_data

DATASETS = ("breastw", "cardio", "glass", "ionosphere", "letter", "musk", "optdigits",
            "pageblocks", "shuttle", "thyroid", "vertebral", "vowels", "waveform", "wbc", "wdbc",
            "wine", "yeast")
PEERS = ("iforest", "knn5", "pyod_ae", "ecod", "lof")
CANDIDATES = ("R", "R+2L", "N5", "N10", "N5b", "N10b")
# the batch size: 256 always / cut so that every epoch takes at least 10, 30 or 100 steps
NETWORKS = {"": 0, "steps:": 10, "steps30:": 30, "steps100:": 100}
ABLATION = {"R": {"R": 1.0}, "L": {"L": 1.0}, "N5": {"N5": 1.0}, "N10": {"N10": 1.0},
            "N5b": {"N5b": 1.0}, "N10b": {"N10b": 1.0},
            "R+2L": {"R": 1.0, "L": 2.0}, "R+N5": {"R": 1.0, "N5": 1.0},
            "N5+2L": {"N5": 1.0, "L": 2.0}, "R+2L+N5": {"R": 1.0, "L": 2.0, "N5": 1.0}}
# the neighbour search of the shipped network and recipe: every reference row ("exact", the
# figures above) or by cells (`anomaly.core.search`): candidates per query × reference rows a cell
SEARCH_NET = "steps30:"  # the shipped network (MIN_STEPS = 30)
SEARCH_RECIPE = "N5b"  # the shipped recipe (neighbours.BALANCED_BLOCKS)
SEARCHES = {"exact": (0, 0), "w128c32": (128, 32), "w128c64": (128, 64),
            "w256c32": (256, 32), "w256c64": (256, 64), "w512c64": (512, 64)}
FAST_SEARCHES = ("w128c32", "w128c64", "w256c32", "w256c64")  # ≤ 256 candidates a row
TRAIN_SHARE = 0.6
TIE = 0.01  # |PR-AUC difference| below this is a tie
CACHE = REPO / "artifacts" / "tabular_accuracy.json"
DEMO_EPOCHS = 60
Scorer = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


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


# ------------------------------------------------------------------ ours
def our_parts(train: Any, test: Any, seed: int, network: str = "", searches: bool = False,
              **options: Any) -> dict[str, np.ndarray]:
    """Train the default network once; the calibrated score parts R, L, N5, N10 on `test`.

    `network` "steps:" / "steps30:" trains with the batch cut so that every epoch takes at least
    10 / 30 steps (`anomaly.config.batch_for_steps`), "" with the configured batch always; the
    tabular kind's own rule is set aside for the run, so the figures do not depend on it.
    """
    from unittest import mock

    from anomaly import Detector
    from anomaly.config import TrainingConfig, batch_for_steps
    from anomaly.core import neighbours, search
    from anomaly.core.kind import Model
    from anomaly.kinds.rowwise import calibrate_rows, score_inputs
    from anomaly.kinds.tabular.kind import TabularKind

    def rule(self: Any, cfg: TrainingConfig, n_train: int) -> TrainingConfig:
        steps = NETWORKS[network]
        return batch_for_steps(cfg, n_train, steps) if steps else cfg

    with mock.patch.object(TabularKind, "training_config", rule):
        det = Detector(progress_bar=False, seed=seed, **options).fit(train)
    kind, settings = det.kind_, det.settings_
    frame = det.read(det._frame(train, reset=False))
    cut = kind.split(det._normal_rows(frame, settings, "train"), settings)
    train_x = kind.inputs(det.features_, cut.train, settings, "train")
    val_x = kind.inputs(det.features_, cut.validation, settings, "validation")
    test_x, _ = det.features_.transform(det.read(det._frame(test, reset=False)), "test", "fail")

    def part(weight: float, k: int, balanced: bool = False, width: int = 1 << 30,
             cell_rows: int = 64) -> np.ndarray:
        with mock.patch.object(search, "WIDTH", width), \
                mock.patch.object(search, "CELL_ROWS", cell_rows), \
                mock.patch.object(neighbours, "BALANCED_BLOCKS", balanced):
            calibration = calibrate_rows(det.features_, det.network_, train_x, val_x, weight,
                                         0.99, k, seed)
            model = Model(settings, det.features_, det.network_, calibration.scorer,
                          calibration.validation_scores)
            return score_inputs(model, np.asarray(test_x))[0]

    if searches:  # the neighbour search's settings on the shipped recipe ("exact": every row)
        balanced = SEARCH_RECIPE.endswith("b")
        return {f"{SEARCH_RECIPE}@{label}": part(0.0, 5, balanced, *((w, c) if w else ()))
                for label, (w, c) in SEARCHES.items()}
    parts = {name: part(*spec) for name, spec in (
        ("R", (0.0, 0)), ("R+L", (1.0, 0)), ("N5", (0.0, 5)), ("N10", (0.0, 10)),
        ("N5b", (0.0, 5, True)), ("N10b", (0.0, 10, True)))}
    parts["L"] = parts.pop("R+L") - parts["R"]
    return parts


def recipe(parts: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """A weighted sum of calibrated parts."""
    total: np.ndarray = sum(w * parts[name] for name, w in weights.items())  # type: ignore[assignment]
    return total


# ----------------------------------------------------------------- peers
def standardised(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train)
    return scaler.transform(train), scaler.transform(test)


def score_iforest(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    model = IsolationForest(random_state=seed).fit(train)
    scores: np.ndarray = -model.score_samples(test)
    return scores


def score_knn5(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    train_s, test_s = standardised(train, test)
    distances, _ = NearestNeighbors(n_neighbors=5).fit(train_s).kneighbors(test_s)
    scores: np.ndarray = distances.mean(axis=1)
    return scores


def score_pyod_ae(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
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


def score_ecod(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    from pyod.models.ecod import ECOD

    scores: np.ndarray = ECOD().fit(train).decision_function(test)
    return scores


def score_lof(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    from pyod.models.lof import LOF

    train_s, test_s = standardised(train, test)
    scores: np.ndarray = LOF(novelty=True).fit(train_s).decision_function(test_s)
    return scores


SCORERS: dict[str, Scorer] = {"iforest": score_iforest, "knn5": score_knn5,
                              "pyod_ae": score_pyod_ae, "ecod": score_ecod, "lof": score_lof}


# ------------------------------------------------------------------ cache
class Cache(dict[str, dict[str, float]]):
    """Results per "table|seed|method", kept in a JSON file."""

    def __init__(self, path: Path, fresh: bool) -> None:
        super().__init__({} if fresh or not path.exists() else json.loads(path.read_text()))
        self.path = path

    def save(self) -> None:
        """Write the file, keeping entries another run wrote meanwhile."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        merged = {**(json.loads(self.path.read_text()) if self.path.exists() else {}), **self}
        self.path.write_text(json.dumps(merged, indent=1, sort_keys=True))


def metrics(labels: np.ndarray, scores: np.ndarray, seconds: float) -> dict[str, float]:
    return {"roc": float(roc_auc_score(labels, scores)),
            "pr": float(average_precision_score(labels, scores)), "seconds": seconds}


def evaluate(datasets: list[str], seeds: int, folder: Path, cache: Cache,
             peers: tuple[str, ...] = PEERS) -> pd.DataFrame:
    """One row per (dataset, method, seed): roc, pr, seconds (`cache` filled as it goes).

    PyOD's AutoEncoder is by far the slowest method, so it runs in a second pass.
    """
    for phase in (["ours", *(p for p in peers if p != "pyod_ae")],
                  ["pyod_ae"] if "pyod_ae" in peers else []):
        for name in datasets:
            frame = pd.read_csv(folder / f"{name}.csv")
            for seed in range(seeds):
                train, test, labels = split(frame, seed)
                for net in NETWORKS if "ours" in phase else ():
                    if all(f"{name}|{seed}|ours:{net}{label}" in cache for label in ABLATION):
                        continue
                    started = time.perf_counter()
                    parts = our_parts(train, test, seed, net)
                    seconds = time.perf_counter() - started
                    for label, weights in ABLATION.items():
                        cache[f"{name}|{seed}|ours:{net}{label}"] = metrics(
                            labels, recipe(parts, weights), seconds)
                if "ours" in phase:
                    search_parts(cache, f"{name}|{seed}|", labels,
                                 partial(our_parts, train, test, seed, SEARCH_NET, True))
                for method in (m for m in phase if m in SCORERS):
                    key = f"{name}|{seed}|{method}"
                    if key not in cache:
                        started = time.perf_counter()
                        scores = SCORERS[method](train, test, seed)
                        cache[key] = metrics(labels, scores, time.perf_counter() - started)
                cache.save()
                print(f"  {name:10s} seed {seed}: " + "  ".join(
                    f"{m.removeprefix('ours:')} {cache[key]['pr']:.3f}"
                    for m in ("ours:R+2L", "ours:N5", *phase[1:])
                    if (key := f"{name}|{seed}|{m}") in cache), flush=True)
    rows = [{"dataset": d, "seed": int(s), "method": m, **v}
            for key, v in cache.items() for d, s, m in [key.split("|")]
            if d in datasets and int(s) < seeds]
    return pd.DataFrame(rows)


def search_parts(cache: Cache, prefix: str, labels: np.ndarray,
                 parts: Callable[[], dict[str, np.ndarray]]) -> None:
    """Fill the missing <recipe>@<search> entries of one (table, seed): each retrains the
    shipped network (seeded: "@exact" must match the cached recipe — printed when it does not)."""
    keys = {label: f"{prefix}ours:{SEARCH_NET}{SEARCH_RECIPE}@{label}" for label in SEARCHES}
    if all(key in cache for key in keys.values()):
        return
    started = time.perf_counter()
    scores = parts()
    seconds = time.perf_counter() - started
    for label, key in keys.items():
        cache[key] = metrics(labels, scores[f"{SEARCH_RECIPE}@{label}"], seconds)
    known = cache.get(f"{prefix}ours:{SEARCH_NET}{SEARCH_RECIPE}")
    if known and abs(known["pr"] - cache[keys["exact"]]["pr"]) > 1e-6:
        print(f"  note: {prefix} retrained network differs: {SEARCH_RECIPE} PR "
              f"{known['pr']:.4f} cached, "
              f"{cache[keys['exact']]['pr']:.4f} now", flush=True)


def transactions(seeds: int, cache: Cache) -> pd.DataFrame:
    """PR/ROC of each recipe on the bundled transactions sample (trained as `anomaly demo`)."""
    data = REPO / "data"
    train = data / "transactions_train.csv"
    test = pd.read_csv(data / "transactions_test.csv")
    labels = test.pop("label").to_numpy().astype(int)
    test = test.drop(columns="anomaly_type")
    for seed in range(seeds):
        for net in NETWORKS:
            if all(f"transactions|{seed}|ours:{net}{label}" in cache for label in ABLATION):
                continue
            started = time.perf_counter()
            parts = our_parts(train, test, seed, net, id_col="transaction_id",
                              time_col="timestamp", max_epochs=DEMO_EPOCHS)
            seconds = time.perf_counter() - started
            for label, weights in ABLATION.items():
                cache[f"transactions|{seed}|ours:{net}{label}"] = metrics(
                    labels, recipe(parts, weights), seconds)
            cache.save()
        search_parts(cache, f"transactions|{seed}|", labels, partial(
            our_parts, train, test, seed, SEARCH_NET, True, id_col="transaction_id",
            time_col="timestamp", max_epochs=DEMO_EPOCHS))
        cache.save()
    rows = [{"seed": int(s), "method": m, **v} for key, v in cache.items()
            for d, s, m in [key.split("|")] if d == "transactions" and int(s) < seeds]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- reports
def per_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds: index dataset, columns (metric, method)."""
    means = results.groupby(["dataset", "method"])[["roc", "pr"]].mean().unstack("method")
    return means


def leave_one_out(means: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Per held-out table: the candidate best on the others (mean PR) and its ROC and PR there."""
    columns = [f"ours:{net}{c}" for net in NETWORKS for c in CANDIDATES]
    pr = means["pr"][columns]
    picks = pd.Series({t: str(pr.drop(index=t).mean().idxmax()) for t in pr.index})
    roc = pd.Series({t: float(means["roc"].loc[t, picks[t]]) for t in pr.index})
    held = pd.Series({t: float(pr.loc[t, picks[t]]) for t in pr.index})
    return picks, roc, held


def main_table(means: pd.DataFrame, cv_roc: pd.Series, cv_pr: pd.Series, ours: str) -> str:
    methods = [ours, *PEERS]
    labels = ["ours(CV)", f"ours={ours.removeprefix('ours:')}", *PEERS]
    lines = [f"{'table':11s}" + "".join(f"{m:>15s}" for m in labels),
             f"{'':11s}" + "".join(f"{'ROC    PR':>15s}" for _ in labels)]
    for t in [*means.index, "mean"]:
        cells = [(cv_roc.mean(), cv_pr.mean()) if t == "mean" else (cv_roc[t], cv_pr[t])]
        for m in methods:
            roc, pr = means["roc"][m], means["pr"][m]
            cells.append((roc.mean(), pr.mean()) if t == "mean" else (roc[t], pr[t]))
        lines.append(f"{t:11s}" + "".join(f"{r:>9.3f}{p:6.3f}" for r, p in cells))
    return "\n".join(lines)


def scorecard(means: pd.DataFrame, pr_ours: pd.Series, roc_ours: pd.Series) -> str:
    """Wins/ties/losses (PR-AUC) against the best peer of each table; target checks."""
    peers_pr = means["pr"][list(PEERS)]
    best = peers_pr.max(axis=1)
    diff = pr_ours - best
    wins, ties, losses = int((diff > TIE).sum()), int((diff.abs() <= TIE).sum()), int(
        (diff < -TIE).sum())
    worst = str(diff.idxmin())
    lines = [f"PR-AUC against the best peer of each table: {wins} wins, {ties} ties (within "
             f"{TIE}), {losses} losses; worst table {worst} {diff[worst]:+.3f} "
             f"(target: none below -0.10)"]
    for metric, ours in (("roc", roc_ours), ("pr", pr_ours)):
        peer_means = means[metric][list(PEERS)].mean()
        top = str(peer_means.idxmax())
        lines.append(f"mean {metric.upper()}-AUC: ours (cross-validated) {ours.mean():.3f} vs best "
                     f"peer {top} {peer_means[top]:.3f}: {ours.mean() - peer_means[top]:+.3f}")
    return "\n".join(lines)


def ablation_table(means: pd.DataFrame, trans: pd.DataFrame, net: str) -> str:
    """Each recipe on the shipped network (`net`): mean ROC/PR on the tables, transactions PR."""
    t_means = trans.groupby("method")[["roc", "pr"]].mean() if len(trans) else None
    lines = [f"{'recipe':10s}{'ROC':>8s}{'PR':>8s}{'transactions PR':>18s}"]
    for label in ABLATION:
        m = f"ours:{net}{label}"
        extra = f"{t_means.loc[m, 'pr']:18.3f}" if t_means is not None else ""
        lines.append(f"{label:10s}{means['roc'][m].mean():8.3f}{means['pr'][m].mean():8.3f}{extra}")
    return "\n".join(lines)


def search_report(means: pd.DataFrame, trans: pd.DataFrame) -> str:
    """Per table PR of N5 on the shipped network with each neighbour search; the search picked
    by leave-one-table-out among the fast ones (`FAST_SEARCHES`) and its cross-validated mean."""
    columns = [f"ours:{SEARCH_NET}{SEARCH_RECIPE}@{label}" for label in SEARCHES]
    if not set(columns) <= set(means["pr"].columns):
        return "(no neighbour-search results yet)"
    pr, roc = means["pr"][columns], means["roc"][columns]
    fast = [f"ours:{SEARCH_NET}{SEARCH_RECIPE}@{label}" for label in FAST_SEARCHES]
    picks = pd.Series({t: str(pr[fast].drop(index=t).mean().idxmax()) for t in pr.index})
    cv_pr = pd.Series({t: float(pr.loc[t, picks[t]]) for t in pr.index})
    cv_roc = pd.Series({t: float(roc.loc[t, picks[t]]) for t in pr.index})
    short = [c.split("@")[1] for c in columns]
    lines = [f"{'table':11s}" + "".join(f"{c:>9s}" for c in ["CV", *short]) + "   (PR-AUC)"]
    for t in pr.index:
        lines.append(f"{t:11s}{cv_pr[t]:9.3f}" + "".join(f"{v:9.3f}" for v in pr.loc[t]))
    lines.append(f"{'mean PR':11s}{cv_pr.mean():9.3f}" + "".join(f"{v:9.3f}" for v in pr.mean()))
    lines.append(f"{'mean ROC':11s}{cv_roc.mean():9.3f}"
                 + "".join(f"{v:9.3f}" for v in roc.mean()))
    if len(trans):
        t_pr = trans.groupby("method")["pr"].mean()
        lines.append(f"{'transact. PR':11s}{'':9s}" + "".join(
            f"{t_pr.get(c, float('nan')):9.3f}" for c in columns))
    counts = picks.value_counts()
    lines.append("Leave-one-table-out picks among " + ", ".join(FAST_SEARCHES) + ": " + ", ".join(
        f"{m.split('@')[1]} × {n}" for m, n in counts.items())
        + f" → ship {str(counts.idxmax()).split('@')[1]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fresh", action="store_true", help="ignore the cached results")
    parser.add_argument("--no-transactions", action="store_true")
    parser.add_argument("--cache", type=Path, default=CACHE, help="results file (JSON)")
    parser.add_argument("--peers", default=",".join(PEERS), help="peers to run (the report "
                        "needs all of them: cached ones count)")
    args = parser.parse_args(argv)
    folder = shared_data("odds")
    if not folder.is_dir():
        print(f"ODDS data not found at {folder} — nothing to benchmark (needs ../shared/data/odds "
              "next to the repository).")
        return 0
    datasets = [d for d in args.datasets.split(",") if d]
    missing = [d for d in datasets if not (folder / f"{d}.csv").is_file()]
    if missing:
        print(f"{folder}: no {', '.join(f'{d}.csv' for d in missing)} — skipping those.")
        datasets = [d for d in datasets if d not in missing]
    quiet()
    torch.set_num_threads(1)  # small networks: threads only wait on each other (train_speed)
    logging.getLogger("anomaly").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    print(f"ODDS tabular accuracy: {len(datasets)} tables from {folder}; train on a seeded "
          f"{TRAIN_SHARE:.0%} of the normal rows, test on the rest + all anomalies; "
          f"{args.seeds} seed(s). Cache: {args.cache}")
    cache = Cache(args.cache, args.fresh)
    results = evaluate(datasets, args.seeds, folder, cache, tuple(args.peers.split(",")))
    trans = pd.DataFrame() if args.no_transactions else transactions(args.seeds, cache)
    means = per_table(results)
    picks, cv_roc, cv_pr = leave_one_out(means)
    counts = picks.value_counts()
    ship = str(counts.idxmax())
    print()
    print("Leave-one-table-out picks (best mean PR-AUC on the other tables): "
          + ", ".join(f"{m.removeprefix('ours:')} × {n}" for m, n in counts.items())
          + f" → the default is {ship.removeprefix('ours:')}")
    print()
    print(main_table(means, cv_roc, cv_pr, ship))
    print()
    print(scorecard(means, cv_pr, cv_roc))
    print()
    print("Candidates, plain means over the tables (ROC/PR):")
    for net in NETWORKS:
        print(f"  {net or 'batch 256:':10s}" + "  ".join(
            f"{c} {means['roc'][m].mean():.3f}/{means['pr'][m].mean():.3f}"
            for c in CANDIDATES if (m := f"ours:{net}{c}") in means["pr"]))
    print(f"  cross-validated: {cv_roc.mean():.3f}/{cv_pr.mean():.3f}")
    net = next(n for n in sorted(NETWORKS, key=len, reverse=True) if ship.startswith(f"ours:{n}"))
    print()
    print(f"Ablation on the shipped network ({net or 'batch 256:'}) — each part is divided by its "
          "mean on validation normals; R = reconstruction, L = latent Mahalanobis, N5/N10 = "
          "neighbours in AE coordinates:")
    print(ablation_table(means, trans, net))
    print()
    print(f"Neighbour search of {SEARCH_RECIPE} on {SEARCH_NET} (anomaly.core.search): exact = "
          "every reference row; wXcY = X candidates per row, ~Y reference rows a cell (searched "
          "exactly up to X rows):")
    print(search_report(means, trans))
    return 0


if __name__ == "__main__":
    sys.exit(main())
