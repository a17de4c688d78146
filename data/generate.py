"""Generate the synthetic, seeded demo data sets used by ``anomaly``.

Run ``python data/generate.py [--out data] [--seed 7]``. The output is fully
deterministic for a given seed (numpy ``default_rng``) and uses only numpy and
pandas. These files are written:

``transactions_train.csv`` (4,000 rows, normal only)
    Card transactions over 30 days starting 2024-03-01.

``transactions_test.csv`` (1,500 rows, 60 = 4% anomalies)
    Transactions over the following 30 days, with ``label`` (0/1) and
    ``anomaly_type`` (empty for normal rows).

    Columns of both files:

    - ``transaction_id``: string ``T000001``..; test ids continue after train.
    - ``timestamp``: ISO 8601 (seconds), sorted; hour of day follows a daily
      pattern (quiet nights, lunch and evening peaks).
    - ``amount``: log-normal; location and spread depend on the category.
    - ``merchant_category``: grocery, fuel, restaurant, pharmacy, clothing,
      entertainment, electronics, travel.
    - ``country``: US (~86%), CA, GB, MX, DE, FR.
    - ``channel``: online / pos / atm (mix depends on the category).
    - ``hour``: 0-23, equal to the hour of ``timestamp``.
    - ``customer_age``: years, ~2% missing.
    - ``n_items``: integer >= 1, grows with ``amount`` / category unit price.
    - ``distance_km``: distance from home, larger abroad; ~2% missing.

    Injected anomaly types (15 rows each, ``anomaly_type`` value):

    - ``large_amount``: amount 4-7 log-standard-deviations above the category
      median (n_items stays consistent with the amount).
    - ``foreign_night_atm``: ATM or online use abroad between 01:00 and 04:59
      at a large distance; each attribute alone is seen in training, the
      combination is very rare.
    - ``amount_items_mismatch``: n_items 8-20 times what the amount implies
      (many items for a small bill).
    - ``unseen_category``: merchant_category ``crypto``, never seen in training,
      with otherwise plausible values.

``sensors_train.csv`` (4,000 rows, normal only)
    One-minute samples of five process sensors of two machines (``machine`` =
    pump-a, pump-b; 2,000 rows each) starting 2024-05-01 00:00.

``sensors_test.csv`` (2,000 rows, 180 = 9% anomalies)
    Each machine's 1,000 minutes right after its training window, with
    ``label`` (0/1) and ``anomaly_type`` (empty for normal rows).

    Columns: ``timestamp`` (ISO 8601, regular 1-minute steps), ``machine``, ``temperature``
    (deg C), ``pressure`` (bar), ``vibration`` (mm/s), ``current`` (A),
    ``flow`` (l/min). All five follow a shared latent load with daily
    periodicity plus slow AR(1) variation, each with its own gain and noise,
    so they are strongly correlated.

    Injected anomaly segments (contiguous, 10-60 rows, ``anomaly_type`` value):

    - ``spike``: two short segments (15 and 10 rows) where vibration (then
      pressure) jumps by ~3 standard deviations with a decaying tail.
    - ``drift``: temperature drifts linearly away, reaching ~1.5 standard
      deviations at the segment end (45 rows).
    - ``broken_correlation``: flow decouples from the load for 40 rows; its
      values stay within the normal range but stop tracking the other sensors.
    - ``stuck``: current freezes at its value at the segment start (30 rows).

``app_train.log`` / ``app_test.log`` (1,200 / 400 requests of a web shop)
    Raw log lines ``time level component req=<id> message`` (ISO 8601 times with
    milliseconds); requests interleave. Train on them with
    ``--session-regex 'req=(r\\d+)'``. Test faults (20 requests, 5 of each):
    ``db_timeout``, ``retry_storm``, ``no_response``, ``payment_refused`` (a
    template never seen in training). ``app_test_labels.csv``: ``session``,
    ``label``, ``anomaly_type`` per test request.

``events_train.csv`` / ``events_test.csv``
    The same requests as parsed events (``time``, ``request_id``, ``event``);
    the test file adds ``label`` and ``anomaly_type`` of each event's request.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SEED = 7
SENSOR_TRAIN_ROWS = 2000  # per machine
SENSOR_TEST_ROWS = 1000

# name: (log-median amount, log-sd, unit price, sampling weight, P(online), P(atm))
CATEGORIES: dict[str, tuple[float, float, float, float, float, float]] = {
    "grocery": (3.6, 0.55, 6.0, 0.26, 0.10, 0.00),
    "fuel": (3.9, 0.35, 50.0, 0.14, 0.00, 0.00),
    "restaurant": (3.4, 0.50, 15.0, 0.16, 0.15, 0.00),
    "pharmacy": (3.0, 0.60, 12.0, 0.08, 0.20, 0.00),
    "clothing": (4.2, 0.60, 35.0, 0.10, 0.45, 0.00),
    "entertainment": (3.3, 0.70, 20.0, 0.10, 0.50, 0.00),
    "electronics": (5.3, 0.80, 150.0, 0.06, 0.55, 0.00),
    "travel": (6.0, 0.70, 300.0, 0.04, 0.80, 0.00),
    "cash": (4.3, 0.50, 1000.0, 0.06, 0.00, 1.00),
}
COUNTRIES = ("US", "CA", "GB", "MX", "DE", "FR")
COUNTRY_P = (0.86, 0.05, 0.03, 0.03, 0.015, 0.015)
# Relative frequency of each hour of day (quiet nights, lunch and evening peaks).
HOUR_WEIGHTS = np.array(
    [0.6, 0.35, 0.2, 0.15, 0.15, 0.3, 0.8, 1.6, 2.6, 3.2, 3.6, 4.0,
     4.8, 4.6, 3.8, 3.6, 3.8, 4.4, 5.0, 4.8, 4.0, 3.0, 1.9, 1.1]
)  # fmt: skip


def _sample_transactions(rng: np.random.Generator, n: int, start: str, days: int) -> pd.DataFrame:
    """Sample ``n`` normal transactions spread over ``days`` days from ``start``."""
    names = list(CATEGORIES)
    weights = np.array([CATEGORIES[c][3] for c in names])
    cat = rng.choice(names, size=n, p=weights / weights.sum())
    mu = np.array([CATEGORIES[c][0] for c in cat])
    sd = np.array([CATEGORIES[c][1] for c in cat])
    unit = np.array([CATEGORIES[c][2] for c in cat])
    p_online = np.array([CATEGORIES[c][4] for c in cat])
    p_atm = np.array([CATEGORIES[c][5] for c in cat])

    amount = np.round(np.exp(rng.normal(mu, sd)), 2)
    u = rng.random(n)
    channel = np.where(u < p_atm, "atm", np.where(u < p_atm + p_online, "online", "pos"))
    n_items = np.maximum(1, rng.poisson(amount / unit * rng.uniform(0.8, 1.25, n))).astype(int)

    country = rng.choice(COUNTRIES, size=n, p=COUNTRY_P)
    abroad = country != "US"
    distance = np.where(
        abroad,
        rng.lognormal(np.log(2500.0), 0.6, n),
        np.where(
            channel == "online", rng.lognormal(np.log(300.0), 1.0, n), rng.exponential(8.0, n)
        ),
    )
    distance = np.round(distance, 1)
    age = np.round(np.clip(rng.normal(43.0, 14.0, n), 18.0, 92.0)).astype(float)

    day = rng.integers(0, days, n)
    hour = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    second = rng.integers(0, 3600, n)
    ts = pd.Timestamp(start) + pd.to_timedelta(day * 86400 + hour * 3600 + second, unit="s")
    return pd.DataFrame(
        {
            "timestamp": ts,
            "amount": amount,
            "merchant_category": cat,
            "country": country,
            "channel": channel,
            "hour": hour,
            "customer_age": age,
            "n_items": n_items,
            "distance_km": distance,
        }
    )


def _inject_transaction_anomalies(
    rng: np.random.Generator, df: pd.DataFrame, n_per_type: int
) -> pd.DataFrame:
    """Overwrite ``4 * n_per_type`` random rows of ``df`` with injected anomalies."""
    df = df.copy()
    df["label"] = 0
    df["anomaly_type"] = ""
    rows = rng.choice(len(df), size=4 * n_per_type, replace=False)
    groups = np.split(rows, 4)

    idx = groups[0]  # large amount for the category, n_items consistent with it
    cats = df.loc[idx, "merchant_category"].to_numpy()
    mu = np.array([CATEGORIES[c][0] for c in cats])
    sd = np.array([CATEGORIES[c][1] for c in cats])
    unit = np.array([CATEGORIES[c][2] for c in cats])
    amount = np.round(np.exp(mu + sd * rng.uniform(4.0, 7.0, len(idx))), 2)
    df.loc[idx, "amount"] = amount
    df.loc[idx, "n_items"] = np.maximum(1, rng.poisson(amount / unit)).astype(int)
    df.loc[idx, "anomaly_type"] = "large_amount"

    idx = groups[1]  # abroad, ATM/online, at night, far away
    hour = rng.integers(1, 5, len(idx))
    day_start = df.loc[idx, "timestamp"].dt.normalize()
    df.loc[idx, "timestamp"] = day_start + pd.to_timedelta(
        hour * 3600 + rng.integers(0, 3600, len(idx)), unit="s"
    )
    df.loc[idx, "hour"] = hour
    df.loc[idx, "country"] = rng.choice(["MX", "GB", "DE", "FR"], size=len(idx))
    df.loc[idx, "channel"] = rng.choice(["atm", "online"], size=len(idx), p=[0.7, 0.3])
    cats = np.where(df.loc[idx, "channel"] == "atm", "cash", "electronics")
    df.loc[idx, "merchant_category"] = cats
    mu = np.array([CATEGORIES[c][0] for c in cats])
    sd = np.array([CATEGORIES[c][1] for c in cats])
    df.loc[idx, "amount"] = np.round(np.exp(rng.normal(mu, sd)), 2)
    df.loc[idx, "n_items"] = 1
    df.loc[idx, "distance_km"] = np.round(rng.lognormal(np.log(6000.0), 0.3, len(idx)), 1)
    df.loc[idx, "anomaly_type"] = "foreign_night_atm"

    idx = groups[2]  # far too many items for the amount
    cats = df.loc[idx, "merchant_category"].to_numpy()
    unit = np.array([CATEGORIES[c][2] for c in cats])
    expected = np.maximum(1.0, df.loc[idx, "amount"].to_numpy() / unit)
    df.loc[idx, "n_items"] = np.round(expected * rng.uniform(8.0, 20.0, len(idx))).astype(int) + 5
    df.loc[idx, "anomaly_type"] = "amount_items_mismatch"

    idx = groups[3]  # category never seen in training
    df.loc[idx, "merchant_category"] = "crypto"
    df.loc[idx, "channel"] = "online"
    df.loc[idx, "amount"] = np.round(np.exp(rng.normal(5.0, 0.7, len(idx))), 2)
    df.loc[idx, "n_items"] = 1
    df.loc[idx, "anomaly_type"] = "unseen_category"

    df.loc[rows, "label"] = 1
    return df


def _finish_transactions(rng: np.random.Generator, df: pd.DataFrame, first_id: int) -> pd.DataFrame:
    """Sort by time, add ids and ~2% missing values, format the timestamp."""
    df = df.sort_values("timestamp", kind="stable").reset_index(drop=True)
    n = len(df)
    for col in ("customer_age", "distance_km"):
        df.loc[rng.random(n) < 0.02, col] = np.nan
    df.insert(0, "transaction_id", [f"T{first_id + i:06d}" for i in range(n)])
    df["timestamp"] = df["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return df


def make_transactions(seed: int = DEFAULT_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the (train, test) transaction tables."""
    rng = np.random.default_rng([seed, 1])
    train = _finish_transactions(rng, _sample_transactions(rng, 4000, "2024-03-01", 30), 1)
    test_raw = _inject_transaction_anomalies(
        rng, _sample_transactions(rng, 1500, "2024-03-31", 30), n_per_type=15
    )
    test = _finish_transactions(rng, test_raw, len(train) + 1)
    return train, test


def _sensor_frame(rng: np.random.Generator, n: int, start: str) -> pd.DataFrame:
    """Sample ``n`` one-minute rows of normal operation driven by a latent load."""
    minutes = np.arange(n)
    ar = np.zeros(n)
    eps = rng.normal(0.0, 0.02, n)
    for i in range(1, n):
        ar[i] = 0.98 * ar[i - 1] + eps[i]
    daily = np.sin(2 * np.pi * minutes / 1440.0 - np.pi / 2)
    load = 0.6 + 0.25 * daily + 0.05 * np.sin(2 * np.pi * minutes / 180.0) + ar
    sensors = {
        "temperature": (55.0, 20.0, 0.4),
        "pressure": (2.5, 1.5, 0.04),
        "vibration": (1.0, 2.0, 0.08),
        "current": (10.0, 12.0, 0.25),
        "flow": (80.0, 60.0, 1.2),
    }
    data: dict[str, object] = {
        "timestamp": pd.date_range(start, periods=n, freq="min").strftime("%Y-%m-%dT%H:%M:%S")
    }
    for name, (base, gain, noise) in sensors.items():
        data[name] = base + gain * load + rng.normal(0.0, noise, n)
    return pd.DataFrame(data)


# Anomaly segments of each machine's test rows: (type, sensor, length in rows).
SENSOR_PLANS: dict[str, list[tuple[str, str, int]]] = {
    "pump-a": [("spike", "vibration", 15), ("drift", "temperature", 45),
               ("broken_correlation", "flow", 40)],
    "pump-b": [("stuck", "current", 30), ("spike", "pressure", 10),
               ("drift", "temperature", 40)],
}


def _inject_sensor_anomalies(rng: np.random.Generator, df: pd.DataFrame,
                             plan: list[tuple[str, str, int]]) -> pd.DataFrame:
    """Inject contiguous anomaly segments (spike, drift, broken correlation, stuck)."""
    df = df.copy()
    df["label"] = 0
    df["anomaly_type"] = ""
    # Place the segments in order, in equal slots, at a random offset within each slot.
    slot = (len(df) - 100) // len(plan)
    for i, (kind, col, length) in enumerate(plan):
        start = 100 + i * slot + int(rng.integers(0, slot - length - 20))
        seg = slice(start, start + length)
        values = df[col].to_numpy(dtype=float, copy=True)
        std = float(values.std())
        t = np.arange(length)
        if kind == "spike":
            values[seg] += std * rng.uniform(2.5, 3.5) * np.exp(-t / (length / 2.0))
        elif kind == "drift":
            values[seg] += std * 1.5 * (t + 1) / length
        elif kind == "broken_correlation":
            # Jump to the opposite side of the overall mean and wander independently.
            side = 1.0 if values[seg].mean() < values.mean() else -1.0
            walk = np.cumsum(rng.normal(0.0, 0.05 * std, length))
            values[seg] = values.mean() + side * 0.8 * std + walk
        elif kind == "stuck":
            values[seg] = values[start]
        df[col] = values
        df.loc[df.index[seg], "label"] = 1
        df.loc[df.index[seg], "anomaly_type"] = kind
    return df


def make_sensors(seed: int = DEFAULT_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the (train, test) sensor tables: two machines (``machine`` = pump-a, pump-b) over
    the same minutes; each machine's test rows continue right after its training rows."""
    trains, tests = [], []
    for i, (machine, plan) in enumerate(SENSOR_PLANS.items()):
        rng = np.random.default_rng([seed, 2, i])
        full = _sensor_frame(rng, SENSOR_TRAIN_ROWS + SENSOR_TEST_ROWS, "2024-05-01")
        full["temperature"] += 3.0 * i  # the machines run at slightly different levels
        full.insert(1, "machine", machine)
        trains.append(full.iloc[:SENSOR_TRAIN_ROWS])
        tests.append(_inject_sensor_anomalies(
            rng, full.iloc[SENSOR_TRAIN_ROWS:].reset_index(drop=True), plan))
    value_cols = ["temperature", "pressure", "vibration", "current", "flow"]
    train, test = (pd.concat(parts, ignore_index=True) for parts in (trains, tests))
    return train.round(dict.fromkeys(value_cols, 3)), test.round(dict.fromkeys(value_cols, 3))


# One request of the sample web shop's log: the steps of each kind of normal request, as
# (component, level, message, event) with {fields} filled per request. Every line carries req=<key>.
Step = tuple[str, str, str, str]  # component, level, message, event
REQUEST_FLOWS: dict[str, list[Step]] = {
    "browse": [("api", "INFO", "received GET /api/items/{item} from 10.0.{ip}", "get_item"),
               ("auth", "DEBUG", "token ok for user u{user}", "token_ok"),
               ("db", "INFO", "query items took {ms} ms", "query"),
               ("api", "INFO", "responded 200 in {total} ms", "ok")],
    "cached": [("api", "INFO", "received GET /api/items/{item} from 10.0.{ip}", "get_item"),
               ("auth", "DEBUG", "token ok for user u{user}", "token_ok"),
               ("cache", "INFO", "hit key item:{item}", "hit"),
               ("api", "INFO", "responded 200 in {total} ms", "ok")],
    "order": [("api", "INFO", "received POST /api/orders from 10.0.{ip}", "post_order"),
              ("auth", "DEBUG", "token ok for user u{user}", "token_ok"),
              ("db", "INFO", "insert order {order} took {ms} ms", "insert"),
              ("payment", "INFO", "charged {amount} USD for order {order}", "charged"),
              ("api", "INFO", "responded 201 in {total} ms", "created")],
}
FLOW_WEIGHTS = {"browse": 0.55, "cached": 0.3, "order": 0.15}

# Faulty requests of the test log (`anomaly_type`), each a variation of a normal flow.
LOG_FAULTS = ("db_timeout", "retry_storm", "no_response", "payment_refused")


def _request_lines(rng: np.random.Generator, flow: str, fault: str) -> list[Step]:
    """The (component, level, message, event) steps of one request, with a fault applied."""
    steps = list(REQUEST_FLOWS[flow])
    if fault == "db_timeout":
        steps = [*steps[:2], ("db", "WARN", "query items timed out after 5000 ms", "timeout"),
                 ("api", "ERROR", "responded 500 in {total} ms", "error")]
    elif fault == "retry_storm":
        retries = [("db", "WARN", f"query items failed, retrying (attempt {k})", "retry")
                   for k in range(1, int(rng.integers(4, 8)))]
        steps = [*steps[:2], *retries, *steps[2:]]
    elif fault == "no_response":
        steps = steps[:-1]
    elif fault == "payment_refused":
        steps = [*steps[:3], ("payment", "ERROR", "gateway refused card for order {order}: "
                                                  "fraud suspected", "refused"),
                 ("api", "INFO", "responded 402 in {total} ms", "declined")]
    return steps


def make_logs(seed: int = DEFAULT_SEED) -> dict[str, pd.DataFrame]:
    """The sample web shop's requests as log lines and as parsed events.

    Returns frames with one row per line: ``time`` (ISO 8601, ms), ``level``, ``component``,
    ``request_id``, ``event`` (the step's name), ``message`` and, for test data, ``label`` and
    ``anomaly_type`` of the request — keys "train" and "test".
    """
    rng = np.random.default_rng([seed, 3])
    frames = {}
    start = pd.Timestamp("2024-06-01")
    for part, n_requests, n_faults in (("train", 1200, 0), ("test", 400, 20)):
        faults = [""] * n_requests
        for i, pos in enumerate(rng.choice(n_requests, n_faults, replace=False)):
            faults[pos] = LOG_FAULTS[i % len(LOG_FAULTS)]
        rows = []
        begin = start
        for r, fault in enumerate(faults):
            begin += pd.Timedelta(seconds=float(rng.exponential(3.0)))
            flow = str(rng.choice(list(FLOW_WEIGHTS), p=list(FLOW_WEIGHTS.values())))
            if fault == "payment_refused":
                flow = "order"
            fields = {"item": int(rng.integers(1, 500)), "user": int(rng.integers(1, 300)),
                      "ip": f"{rng.integers(0, 8)}.{rng.integers(1, 255)}",
                      "order": int(rng.integers(10_000, 99_999)),
                      "amount": f"{rng.lognormal(3.5, 0.6):.2f}"}
            at = begin
            steps = _request_lines(rng, flow, fault)
            for component, level, message, event in steps:
                ms = int(rng.integers(2, 40))
                at += pd.Timedelta(milliseconds=ms)
                fields["ms"] = ms
                fields["total"] = int((at - begin) / pd.Timedelta(milliseconds=1))
                rows.append({"time": at, "level": level, "component": component,
                             "request_id": f"r{len(frames) * 100_000 + r + 1:06d}",
                             "event": f"{component}.{event}",
                             "message": message.format(**fields),
                             "label": int(bool(fault)), "anomaly_type": fault})
        frame = pd.DataFrame(rows).sort_values("time", kind="stable").reset_index(drop=True)
        frame["time"] = frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3]
        frames[part] = frame
        start = begin + pd.Timedelta(minutes=5)
    return frames


def write_log(frame: pd.DataFrame, path: Path) -> None:
    """Write events as raw text lines: ``time level component req=<id> message``."""
    lines = (frame["time"] + " " + frame["level"].str.ljust(5) + " " + frame["component"]
             + " req=" + frame["request_id"] + " " + frame["message"])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _describe(path: Path, df: pd.DataFrame) -> str:
    """One line summarising a written file."""
    text = f"wrote {path} ({len(df)} rows, {path.stat().st_size / 1024:.0f} KB"
    if "label" in df:
        counts = df.loc[df["label"] == 1, "anomaly_type"].value_counts().sort_index()
        detail = ", ".join(f"{k}={v}" for k, v in counts.items())
        text += f", {int(df['label'].sum())} anomalies = {df['label'].mean():.1%}: {detail}"
    return text + ")"


def main(argv: list[str] | None = None) -> None:
    """Write the four CSV files to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    tx_train, tx_test = make_transactions(args.seed)
    s_train, s_test = make_sensors(args.seed)
    logs = make_logs(args.seed)
    events = ["time", "request_id", "event"]
    tables = {
        "transactions_train.csv": tx_train,
        "transactions_test.csv": tx_test,
        "sensors_train.csv": s_train,
        "sensors_test.csv": s_test,
        "events_train.csv": logs["train"][events],
        "events_test.csv": logs["test"][[*events, "label", "anomaly_type"]],
    }
    for name, df in tables.items():
        path = out / name
        df.to_csv(path, index=False)
        print(_describe(path, df))
    for part, frame in logs.items():
        path = out / f"app_{part}.log"
        write_log(frame, path)
        print(f"wrote {path} ({len(frame)} lines, {frame['request_id'].nunique()} requests)")
    test = logs["test"].groupby("request_id", sort=False)[["label", "anomaly_type"]].first()
    labels = test.reset_index().rename(columns={"request_id": "session"})
    labels.to_csv(out / "app_test_labels.csv", index=False)
    print(_describe(out / "app_test_labels.csv", labels))

if __name__ == "__main__":
    main()
