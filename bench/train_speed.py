"""Training throughput (rows/s) of our Lightning path vs a plain torch loop vs PyOD's AutoEncoder.

Same network shape (32 → 64 → 32 → 64 → 32), batch size, epochs and optimizer (Adam, lr 1e-3,
no weight decay) on seeded synthetic data (correlated features, standardised). All three run in
this one process, interleaved round by round, so machine noise hits them alike; the verdict is
the ratios (best of the rounds), never absolute numbers.

- ours:  `anomaly.training.train_autoencoder` as `anomaly train` runs it — Lightning Trainer,
  validation on a held-out 10% every epoch, best-weights copy, gradient-norm clipping (1.0) with
  the per-epoch gradient-norm curve, history rows; early stopping off (`patience=0`) so every
  tool runs the same number of epochs; Adam without weight decay at a constant lr to match the
  others (our defaults are AdamW + cosine schedule). Timed: the whole call, Trainer setup
  included.
- plain: the same `DenseAutoencoder` module (our default layer options: GELU, no normalisation) in a
  hand-written loop — shuffle per epoch, slice batches, zero_grad/backward/step with torch's
  default Adam. No validation, no clipping, no bookkeeping: the floor the target refers to.
  `plain+fused` is the same loop with `Adam(fused=True)` (what ours uses), shown for context: it
  separates "our loop has little overhead" from "we use the faster optimizer kernel".
- pyod:  `pyod.models.auto_encoder.AutoEncoder` (hidden_neuron_list=[64, 32] gives the same
  widths). Its own defaults stay: BatchNorm + ReLU + dropout 0.2 on every hidden layer (the code
  layer too), per-row standardisation inside its Dataset, a DataLoader over single rows,
  drop_last. Timed: its training loop only (`fit` also scores the training set afterwards; that
  part is shown separately and not counted).

Threads: every tool runs with the same torch thread count, 1 by default (`--threads`). These
networks are too small for intra-op threads to help, and on a shared machine OpenMP threads that
wait on descheduled siblings made 2-thread runs up to 100× slower and erratic. With
`--threads 0` plain torch and PyOD keep torch's default while ours applies its own rule (one
thread for small networks on CPU, see `anomaly.training.fit`): that shows what a user gets.

Run:  python -m bench.train_speed            (defaults: 100k rows × 32, 3 epochs, 5 rounds)
      python -m bench.train_speed --rows 20000 --epochs 2 --repeats 1   (a quick look)
Targets: ours ≥ 0.9× plain torch and ≥ 4× PyOD.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):  # `python bench/train_speed.py` as well as `python -m bench...`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anomaly.config import TrainingConfig
from anomaly.nn import DenseAutoencoder
from anomaly.training import train_autoencoder
from bench._common import best, interleaved, median, print_table, quiet

LR = 1e-3


def make_data(rows: int, features: int, seed: int) -> np.ndarray:
    """Seeded correlated rows: 8 latent factors mixed (linearly and through tanh) plus noise."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 8))
    mix = rng.normal(size=(8, features)) / np.sqrt(8)
    bend = rng.normal(size=(8, features)) / np.sqrt(8)
    x = latent @ mix + 0.5 * np.tanh(latent @ bend) + 0.1 * rng.normal(size=(rows, features))
    x = (x - x.mean(0)) / x.std(0)
    out: np.ndarray = x.astype(np.float32)
    return out


def run_ours(train: torch.Tensor, val: torch.Tensor, hidden: tuple[int, ...], epochs: int,
             batch: int, seed: int) -> float:
    """Seconds for one `train_autoencoder` call (what `anomaly train` runs)."""
    torch.manual_seed(seed)
    network = DenseAutoencoder(train.shape[1], hidden=hidden)
    cfg = TrainingConfig(optimizer="adam", lr=LR, weight_decay=0.0, schedule="none",
                         batch_size=batch, max_epochs=epochs, min_epochs=epochs, patience=0,
                         seed=seed, accelerator="cpu", progress_bar=False)
    started = time.perf_counter()
    result = train_autoencoder(network, train, val, cfg)
    took = time.perf_counter() - started
    assert result.epochs_run == epochs, result.epochs_run
    return took


def run_plain(train: torch.Tensor, hidden: tuple[int, ...], epochs: int, batch: int,
              seed: int, fused: bool = False) -> float:
    """Seconds for a hand-written torch loop over the same module (torch's default Adam)."""
    torch.manual_seed(seed)
    network = DenseAutoencoder(train.shape[1], hidden=hidden)
    optimizer = torch.optim.Adam(network.parameters(), lr=LR, fused=fused or None)
    generator = torch.Generator().manual_seed(seed)
    n = len(train)
    started = time.perf_counter()
    network.train()
    for _ in range(epochs):
        rows = train[torch.randperm(n, generator=generator)]
        for start in range(0, n, batch):
            x = rows[start:start + batch]
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(network(x), x)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - started


def run_pyod(train: np.ndarray, hidden: tuple[int, ...], epochs: int, batch: int, seed: int,
             fit_seconds: list[float]) -> float:
    """Seconds of PyOD's training loop (its fit's scoring pass is recorded in `fit_seconds`)."""
    from pyod.models.auto_encoder import AutoEncoder

    model = AutoEncoder(hidden_neuron_list=list(hidden), epoch_num=epochs, batch_size=batch,
                        lr=LR, optimizer_params={"weight_decay": 0.0}, device="cpu",
                        random_state=seed, verbose=0)
    loop: list[float] = []
    inner: Callable[..., None] = model.train

    def timed_train(loader: object) -> None:
        started = time.perf_counter()
        inner(loader)
        loop.append(time.perf_counter() - started)

    model.train = timed_train  # type: ignore[method-assign]
    started = time.perf_counter()
    model.fit(train)
    fit_seconds.append(time.perf_counter() - started)
    return loop[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="training rows")
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--hidden", default="64,32", help="encoder widths (code last)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads for all tools (0: torch's default)")
    parser.add_argument("--no-pyod", action="store_true", help="skip PyOD")
    args = parser.parse_args(argv)
    quiet()
    if args.threads:
        torch.set_num_threads(args.threads)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    data = make_data(args.rows + args.rows // 10, args.features, args.seed)
    train_np, val_np = data[:args.rows], data[args.rows:]
    train, val = torch.from_numpy(train_np), torch.from_numpy(val_np)
    print(f"training throughput: {args.rows:,} rows × {args.features} features, network "
          f"{args.features}→{'→'.join(map(str, hidden + hidden[-2::-1]))}→{args.features}, "
          f"batch {args.batch_size}, {args.epochs} epochs, Adam lr {LR}, "
          f"torch {torch.__version__} on {torch.get_num_threads()} thread(s); "
          f"{args.repeats} interleaved round(s)")

    pyod_fit: list[float] = []
    runs: dict[str, Callable[[], float]] = {
        "ours": lambda: run_ours(train, val, hidden, args.epochs, args.batch_size, args.seed),
        "plain torch": lambda: run_plain(train, hidden, args.epochs, args.batch_size, args.seed),
        "plain+fused": lambda: run_plain(train, hidden, args.epochs, args.batch_size, args.seed,
                                         fused=True),
    }
    if not args.no_pyod:
        runs["pyod"] = lambda: run_pyod(train_np, hidden, args.epochs, args.batch_size,
                                        args.seed, pyod_fit)
    seconds = interleaved(runs, args.repeats)
    rows_seen = args.rows * args.epochs
    rate = {name: rows_seen / best(took) for name, took in seconds.items()}
    rate_median = {name: rows_seen / median(took) for name, took in seconds.items()}
    print()
    print_table(["tool", "rows/s (best)", "rows/s (median)", "ours / tool (best)",
                 "ours / tool (median)"],
                [[name, rate[name], rate_median[name], rate["ours"] / rate[name],
                  rate_median["ours"] / rate_median[name]] for name in seconds])
    if pyod_fit:
        print(f"(pyod fit() incl. its scoring pass over the training rows: best "
              f"{min(pyod_fit):.2f} s vs its training loop {min(seconds['pyod']):.2f} s)")
    print()
    vs_plain = rate["ours"] / rate["plain torch"]
    print(f"ours / plain torch = {vs_plain:.2f}×  (target ≥ 0.9×: "
          f"{'met' if vs_plain >= 0.9 else 'NOT met'})")
    if "pyod" in rate:
        vs_pyod = rate["ours"] / rate["pyod"]
        print(f"ours / PyOD        = {vs_pyod:.2f}×  (target ≥ 4×: "
              f"{'met' if vs_pyod >= 4 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
