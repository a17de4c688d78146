"""What the tabular score recipe costs: fit time and in-process scoring rows/s, before vs after.

Data: `bench.train_speed.make_data` (seeded correlated rows, 32 features) — training rows and a
separate set of rows to score. Recipes, all with the default network and training settings:

- before:  reconstruction + 2 × latent Mahalanobis (the tabular default before issue 14;
           `Detector(latent_weight=2, neighbours=0)`).
- after:   `Detector()` — today's defaults (see `anomaly.kinds.tabular.kind`).
- recon:   reconstruction error alone (`latent_weight=0, neighbours=0`), the floor of any recipe.

Fit: whole `Detector.fit` calls, interleaved round by round. Scoring: `Detector.anomaly_scores`
on the scoring rows (an in-memory frame: no file I/O, so the ratio isolates the scorer's own
per-row cost), interleaved, best of the rounds. Only the ratios are the result.

Run:  python -m bench.tabular_cost [--rows 100000] [--score-rows 200000] [--repeats 3]
      [--epochs N] (fewer epochs: a quicker look; the scorer's share of fit time grows)
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

if __package__ in (None, ""):  # `python bench/tabular_cost.py` as well as `python -m bench...`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anomaly import Detector
from bench._common import best, interleaved, print_table, quiet
from bench.train_speed import make_data

RECIPES: dict[str, dict[str, Any]] = {"before": {"latent_weight": 2.0, "neighbours": 0},
                                      "after": {}, "recon": {"latent_weight": 0.0,
                                                             "neighbours": 0}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="training rows")
    parser.add_argument("--score-rows", type=int, default=200_000)
    parser.add_argument("--fit-repeats", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="scoring rounds")
    parser.add_argument("--epochs", type=int, default=None, help="max epochs [the default]")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0 = torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)  # as bench.train_speed: steadier on a shared machine
    quiet()
    logging.getLogger("anomaly").setLevel(logging.ERROR)
    columns = [f"x{i}" for i in range(32)]
    train = pd.DataFrame(make_data(args.rows, 32, seed=0), columns=columns)
    score = pd.DataFrame(make_data(args.score_rows, 32, seed=1), columns=columns)
    fitted: dict[str, Detector] = {}

    def fit(name: str) -> float:
        started = time.perf_counter()
        fitted[name] = Detector(seed=0, max_epochs=args.epochs, **RECIPES[name]).fit(train)
        return time.perf_counter() - started

    def run(name: str) -> float:
        started = time.perf_counter()
        fitted[name].anomaly_scores(score)
        return time.perf_counter() - started

    print(f"fit on {args.rows:,} rows × 32, {args.fit_repeats} interleaved round(s):")
    fits = interleaved({n: (lambda n=n: fit(n)) for n in RECIPES}, args.fit_repeats)
    print(f"score {args.score_rows:,} rows in process, {args.repeats} interleaved round(s):")
    scores = interleaved({n: (lambda n=n: run(n)) for n in RECIPES}, args.repeats)
    print()
    print_table(["recipe", "score", "fit s (best)", "fit ÷ before", "rows/s (best)",
                 "rows/s ÷ before"],
                [[n, fitted[n].scorer_.to_json()["method"][:48], best(fits[n]),
                  best(fits[n]) / best(fits["before"]), args.score_rows / best(scores[n]),
                  best(scores["before"]) / best(scores[n])] for n in RECIPES])
    return 0


if __name__ == "__main__":
    sys.exit(main())
