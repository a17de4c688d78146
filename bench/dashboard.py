"""Dashboard speed in a real browser with a 1,000,000-row scored file.

Measures, in Debian's Chromium driven by Playwright:
* first render: from page load to the Anomalies page complete (metrics shown, time plot drawn,
  app idle) — cold (the first visit reads the file) and warm (later visits, cached);
* slider update: from one keyboard step of the threshold slider (PageUp/PageDown: a tenth of
  its range) to the updated flagged count, and to the page settled (app idle again);
* baseline: the same page-load measurement on an empty Streamlit page served the same way,
  in the same run (the machine is shared and noisy, so ratios matter more than seconds).
Targets: first render < 3 s, slider update < 1 s.

The model is trained for a few epochs on the project's own data/transactions_train.csv (this
benchmark does not need ../shared/data); its real scored output of data/transactions_test.csv
is repeated to 1,000,000 rows with fresh ids and timestamps.

The scored file is written as `anomaly score` writes it: a CSV and its Parquet copy, which the
dashboard reads instead (`--csv-only` leaves the copy out, to see the dashboard parse the CSV).

Run: python bench/dashboard.py [--rows 1000000] [--repeats 3] [--csv-only]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from tests.dashboards.browser import ARGS, CHROMIUM, IDLE, dashboard  # noqa: E402

EMPTY_APP = 'import streamlit as st\nst.title("Empty")\nst.write("ok")\n'


def build(ws: Path, rows: int, sidecar: bool = True) -> None:
    """Train a small real model and write a `rows`-row scored file into the workspace as
    `anomaly score` writes it: a CSV and (unless `sidecar` is False) its Parquet copy."""
    import numpy as np
    import pandas as pd

    from anomaly.bundle import sha256_file
    from anomaly.core.detector import Detector
    from anomaly.io import read_table
    from anomaly.jobs.score import write_scored

    train_file = ROOT / "data" / "transactions_train.csv"
    frame = read_table(train_file)
    detector = Detector(max_epochs=3, patience=0, batch_size=256, seed=0,
                        id_col="transaction_id", time_col="timestamp").fit(frame)
    detector.save(ws / "models", "transactions", {"path": str(train_file), "rows": len(frame),
                                                  "sha256": sha256_file(train_file)})
    test = read_table(ROOT / "data" / "transactions_test.csv")
    scored = detector.score_frame(test)
    big = scored.iloc[np.arange(rows) % len(scored)].reset_index(drop=True)
    big["transaction_id"] = [f"B{i:08d}" for i in range(rows)]
    big["timestamp"] = pd.date_range("2024-01-01", periods=rows, freq="30s").strftime(
        "%Y-%m-%dT%H:%M:%S")
    write_scored([big], ROOT / "data" / "transactions_test.csv", ws / "scores" / "big.scored.csv",
                 sidecar=sidecar)


def timed_load(page: object, url: str, ready: str) -> float:
    """Seconds from navigation to `ready` visible and the app idle."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    start = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_selector(ready, state="visible")
    page.wait_for_selector(IDLE)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--csv-only", action="store_true",
                        help="No Parquet copy beside the scored CSV (the dashboard parses it).")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing — install Debian's chromium (`make browser`); skipped")
        return 0
    import pandas as pd
    from playwright.sync_api import expect, sync_playwright

    from anomaly.analysis.scored import slider_spec
    from anomaly.core.detector import Detector

    expect.set_options(timeout=120_000)
    with tempfile.TemporaryDirectory(prefix="bench-dash-") as tmp:
        ws = Path(tmp) / "ws"
        t0 = time.perf_counter()
        build(ws, args.rows, sidecar=not args.csv_only)
        print(f"workspace: {args.rows:,}-row scored file built in {time.perf_counter() - t0:.1f}s")
        detector = Detector.load(ws / "models" / "transactions" / "v1")
        scores = pd.read_csv(ws / "scores" / "big.scored.csv", usecols=["anomaly_score"])[
            "anomaly_score"].to_numpy()
        spec = slider_spec(detector.validation_scores_, scores, detector.threshold_)
        empty_app = Path(tmp) / "empty.py"
        empty_app.write_text(EMPTY_APP)
        metric = ('[data-testid="stMetric"]:has-text("Flagged at this threshold") '
                  '[data-testid="stMetricValue"]')
        chart = '[data-testid="stVegaLiteChart"] svg.marks g.mark-line path'
        with (open(Path(tmp) / "log.txt", "wb") as log, dashboard(ws, log) as url,
              dashboard(ws, log, app=empty_app) as empty_url, sync_playwright() as p):
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.set_default_timeout(120_000)
            timed_load(page, empty_url, "h1:has-text('Empty')")  # warm the browser cache
            empty = [timed_load(page, empty_url, "h1:has-text('Empty')")
                     for _ in range(args.repeats)]
            cold = timed_load(page, url, metric)
            page.wait_for_selector(chart, state="attached")
            warm = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                page.goto(url, wait_until="commit")
                page.wait_for_selector(metric, state="visible")
                page.wait_for_selector(chart, state="attached")
                page.wait_for_selector(IDLE)
                warm.append(time.perf_counter() - start)
            value = page.locator(metric)
            expect(value).to_have_text(f"{int((scores > spec.value).sum()):,}")
            thumb = page.get_by_role("slider", name="Threshold (what-if")
            thumb_value = page.locator('[data-testid="stSliderThumbValue"]').first
            thumb.focus()
            slider, settled = [], []
            shown, count = thumb_value.inner_text(), value.inner_text()
            for i in range(args.repeats * 2):
                start = time.perf_counter()
                thumb.press("PageUp" if i % 2 == 0 else "PageDown")  # a tenth of the range
                expect(thumb_value).not_to_have_text(shown)
                shown = thumb_value.inner_text()
                expected = f"{int((scores > float(shown)).sum()):,}"
                assert expected != count, "pick data where a tenth of the range changes the count"
                expect(value).to_have_text(expected)
                slider.append(time.perf_counter() - start)
                page.wait_for_selector(IDLE)
                settled.append(time.perf_counter() - start)
                count = expected
            browser.close()
    base = statistics.median(empty)
    first = statistics.median(warm)
    step = statistics.median(slider)
    print(f"empty page load (baseline)  median {base:.2f}s  {[round(x, 2) for x in empty]}")
    print(f"anomalies first render, cold (reads the file)  {cold:.2f}s  = {cold / base:.1f}x "
          "the empty page")
    print(f"anomalies first render, warm  median {first:.2f}s  = {first / base:.1f}x the "
          f"empty page  {[round(x, 2) for x in warm]}  (target < 3 s)")
    print(f"slider step → updated count  median {step:.2f}s  = {step / base:.1f}x the empty "
          f"page  {[round(x, 2) for x in slider]}  (target < 1 s)")
    done = statistics.median(settled)
    print(f"slider step → page settled (script done, table and chart redrawn)  median "
          f"{done:.2f}s  = {done / base:.1f}x the empty page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
