"""The real dashboard (`python -m anomaly.cli dashboard`) in Debian's Chromium via Playwright.

With the environment variable CI set these tests must run: a missing /usr/bin/chromium fails
them. Elsewhere they are skipped when Chromium is absent (`make browser` installs it as root).
Screenshots go to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from anomaly.analysis.scored import SliderSpec, slider_spec
from anomaly.core.detector import Detector
from tests.dashboards.browser import ARGS, CHROMIUM, IDLE, SCREENSHOTS, dashboard
from tests.dashboards.dashboard_ws import (
    EPOCHS,
    FAILED_ERROR,
    ODD_SESSION,
    ODD_TEXT,
    SPIKE_MACHINE,
    SPIKE_SENSOR,
    workspace_copy,
)

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is missing — install Debian's chromium (`make browser`)",
                allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright

pytestmark = pytest.mark.slow  # real dashboard servers and a real browser
expect.set_options(timeout=60_000)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return workspace_copy(tmp_path_factory.getbasetemp(), tmp_path_factory.mktemp("b") / "ws")


@pytest.fixture(scope="module")
def server(ws: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("log") / "dashboard.log"
    with log_path.open("wb") as log:
        try:
            with dashboard(ws, log) as url:
                yield url
        except RuntimeError as exc:
            pytest.fail(f"{exc}\n{log_path.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def kind_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """The dashboard on the workspace of another data kind, started on first use."""
    started: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        def start(kind: str) -> str:
            if kind not in started:
                ws = workspace_copy(tmp_path_factory.getbasetemp(),
                                    tmp_path_factory.mktemp(kind) / "ws", kind)
                log_path = ws.parent / "dashboard.log"
                log = stack.enter_context(log_path.open("wb"))
                try:
                    started[kind] = stack.enter_context(dashboard(ws, log))
                except RuntimeError as exc:
                    pytest.fail(f"{exc}\n{log_path.read_text(errors='replace')[-3000:]}")
            return started[kind]

        yield start


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing and CI is set: install Debian's chromium"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS,
                                     timeout=60_000)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    # a zone far from UTC: what the dashboard shows must not depend on the browser's zone
    tab = browser.new_page(viewport={"width": 1400, "height": 1800},
                           timezone_id="America/New_York")
    tab.set_default_timeout(60_000)
    yield tab
    tab.close()


def open_page(page: Page, url: str, title: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    # served through app.py's st.navigation (also for deep links), not as a bare script
    expect(page.get_by_role("link", name="Threshold tuning")).to_be_visible()
    page.wait_for_selector(IDLE)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def metric(page: Page, label: str) -> Any:
    return page.locator('[data-testid="stMetric"]').filter(has_text=label).locator(
        '[data-testid="stMetricValue"]')


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_selector(IDLE)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def x_labels(page: Page) -> list[list[str]]:
    """The tick labels of each chart's x axis, as rendered."""
    page.wait_for_selector('[data-testid="stVegaLiteChart"] svg.marks g.mark-line path',
                           state="attached")
    axes = page.locator('[data-testid="stVegaLiteChart"] g.role-axis[aria-label^="X-axis"]')
    return [axis.locator("g.role-axis-label text").all_text_contents() for axis in axes.all()]


def spec_and_scores(ws: Path) -> tuple[SliderSpec, np.ndarray]:
    detector = Detector.load(ws / "models" / "toy" / "v1")
    scores = pd.read_csv(ws / "scores" / "test.scored.csv")["anomaly_score"].to_numpy()
    return slider_spec(detector.validation_scores_, scores, detector.threshold_), scores


def move_and_check(page: Page, slider_name: str, label: str, ws: Path) -> None:
    """Move the threshold slider with the keyboard; the flagged count must follow exactly."""
    spec, scores = spec_and_scores(ws)
    value = metric(page, label)
    expect(value).to_have_text(f"{int((scores > spec.value).sum()):,}")
    thumb = page.get_by_role("slider", name=slider_name)
    thumb.focus()
    for _ in range(2):
        thumb.press("ArrowRight")
    moved = round(spec.value + 2 * spec.step, spec.decimals)
    thumb_value = page.locator('[data-testid="stSliderThumbValue"]').first
    expect(thumb_value).to_have_text(f"{moved:.{spec.decimals}f}")
    expect(value).to_have_text(f"{int((scores > moved).sum()):,}")
    thumb.press("PageUp")  # a tenth of the range
    page.wait_for_selector(IDLE)
    final = float(thumb_value.inner_text())
    assert final > moved
    expected = int((scores > final).sum())
    assert expected != int((scores > spec.value).sum()), "test data: the count should change"
    expect(value).to_have_text(f"{expected:,}")  # the exact final value, not just "changed"


def test_anomalies_page(server: str, page: Page, ws: Path) -> None:
    open_page(page, server, "Anomalies")
    page.wait_for_selector('[data-testid="stVegaLiteChart"] svg.marks g.mark-line path',
                           state="attached")
    move_and_check(page, "Threshold (what-if", "Flagged at this threshold", ws)
    expect(page.get_by_text("Why was this row flagged?")).to_be_visible()
    time_axis = x_labels(page)[0]  # ten days of hourly rows (UTC): dates, no 12-hour clock
    assert time_axis and all(re.fullmatch(r"2024-02-\d\d", label) for label in time_axis)
    shot(page, "anomalies")


def test_training_page(server: str, page: Page) -> None:
    open_page(page, f"{server}/training", "Training")
    expect(metric(page, "Epochs run")).to_have_text(str(EPOCHS))
    page.wait_for_selector('[data-testid="stVegaLiteChart"] svg.marks g.mark-line path',
                           state="attached")
    shot(page, "training")


def test_threshold_page(server: str, page: Page, ws: Path) -> None:
    open_page(page, f"{server}/threshold", "Threshold tuning")
    move_and_check(page, "Threshold", "Flagged rows", ws)
    expect(metric(page, "Precision")).to_be_visible()  # labels from data/test.csv by id
    shot(page, "threshold")


def test_monitoring_page(server: str, page: Page) -> None:
    open_page(page, f"{server}/monitoring", "Monitoring")
    expect(metric(page, "Failed files")).to_have_text("1")
    drift = page.locator('[data-testid="stAlert"]').filter(has_text="PSI")
    expect(drift).to_contain_text("stable")  # the ledger's quantiles are the validation ones
    expect(page.get_by_text("Failed files (1)")).to_be_visible()
    expect(page.locator('[data-testid="stTable"]')).to_contain_text(FAILED_ERROR)
    # files scored at 10:00, 10:01, 10:02 UTC: one tick a minute, in UTC, on a 24-hour clock
    assert x_labels(page) == [["10:00", "10:01", "10:02"]] * 3
    shot(page, "monitoring")


def drill_down(page: Page, item: str) -> Any:
    """The drill-down section, once it shows its explanation."""
    expect(page.get_by_text(f"Why was this {item} flagged?")).to_be_visible()
    summary = page.locator('[data-testid="stMarkdownContainer"]').filter(
        has_text=re.compile(r"^Score \d"))
    expect(summary).to_have_count(1)
    page.wait_for_selector('[data-testid="stVegaLiteChart"] svg.marks g.mark-rect path',
                           state="attached")  # the error shares' bars
    return summary


def bar_labels(page: Page) -> list[str]:
    """The y-axis labels (features) of the error-shares chart, top bar first."""
    chart = page.locator('[data-testid="stVegaLiteChart"]').filter(
        has_text="share of the error").last  # not the window chart drawn under it
    axis = chart.locator('g.role-axis[aria-label^="Y-axis"]').last
    return axis.locator("g.role-axis-label text").all_text_contents()


def test_timeseries_drill_down(kind_server: Callable[[str], str], page: Page) -> None:
    open_page(page, kind_server("timeseries"), "Anomalies")
    expect(metric(page, "Timestamps")).to_have_text("180")
    summary = drill_down(page, "timestamp")
    expect(summary).to_contain_text(f"{SPIKE_SENSOR} carries 99% of the error")
    expect(page.get_by_text("judged with the windows around it")).to_be_visible()
    picked = page.get_by_role("combobox", name="Flagged timestamp")
    expect(picked).to_have_value(re.compile(f"00:45:00 · machine={SPIKE_MACHINE}$"))
    assert bar_labels(page)[0] == SPIKE_SENSOR
    expect(page.get_by_text("The window ending at this timestamp")).to_be_visible()
    window = page.locator('[data-testid="stVegaLiteChart"]').last  # one panel per sensor
    expect(window).to_contain_text(SPIKE_SENSOR)
    expect(window).to_contain_text("00:45")  # the window ends at the flagged timestamp
    shot(page, "anomalies-timeseries")


def test_logs_drill_down(kind_server: Callable[[str], str], page: Page) -> None:
    open_page(page, kind_server("logs"), "Anomalies")
    expect(metric(page, "Sessions")).to_have_text("30")
    summary = drill_down(page, "session")
    expect(summary).to_contain_text("unknown templates carries")
    lines = page.locator('[data-testid="stCode"]')
    expect(lines).to_contain_text(ODD_TEXT)  # the session's raw lines, numbered as in the file
    text = lines.inner_text()
    assert text.splitlines()[0].startswith("37  ") and ODD_SESSION in text
    assert bar_labels(page)[0] == "unknown templates"
    page.get_by_text("Why was this session flagged?").evaluate(  # the drill-down on top
        "heading => heading.scrollIntoView({block: 'start'})")
    shot(page, "anomalies-logs")


@pytest.mark.parametrize(("kind", "counted", "items"), [
    ("timeseries", "Training windows", "timestamps"), ("logs", "Log templates", "sessions")])
def test_other_pages_for_each_kind(kind_server: Callable[[str], str], page: Page, kind: str,
                                   counted: str, items: str) -> None:
    url = kind_server(kind)
    open_page(page, f"{url}/training", "Training")
    expect(metric(page, counted)).to_be_visible()  # what this kind learns from
    shot(page, f"training-{kind}")
    open_page(page, f"{url}/threshold", "Threshold tuning")
    expect(metric(page, f"Flagged {items}")).to_have_text("1")
    expect(metric(page, "Precision")).to_have_text("1.000")  # labels joined on the item keys
    shot(page, f"threshold-{kind}")
    open_page(page, f"{url}/monitoring", "Monitoring")
    expect(page.locator('[data-testid="stAlert"]').filter(has_text="PSI")).to_contain_text(
        "stable")
    shot(page, f"monitoring-{kind}")
