"""Tests for anomaly.core.thresholds with hand-checkable expectations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from anomaly.core.thresholds import (
    METHODS,
    ThresholdChoice,
    best_f1_threshold,
    choose_threshold,
    contamination_threshold,
    mad_threshold,
    pot_threshold,
    quantile_threshold,
    sigma_threshold,
)


def test_quantile_of_arange() -> None:
    scores = np.arange(101, dtype=float)  # 0..100: the q quantile is 100 * q
    assert quantile_threshold(scores, 0.95) == pytest.approx(95.0)
    assert quantile_threshold(scores) == pytest.approx(99.5)


def test_contamination_flags_expected_share() -> None:
    scores = np.arange(100, dtype=float)
    t = contamination_threshold(scores, 0.05)
    assert t == pytest.approx(94.5)  # midway between 94 and 95
    assert int(np.sum(scores > t)) == 5


def test_contamination_on_shuffled_data() -> None:
    scores = np.random.default_rng(0).normal(size=1000)
    t = contamination_threshold(scores, 0.1)
    assert int(np.sum(scores > t)) == 100


def test_sigma_threshold() -> None:
    scores = np.array([1.0, 3.0])  # mean 2, population std 1
    assert sigma_threshold(scores) == pytest.approx(5.0)
    assert sigma_threshold(scores, k=2.0) == pytest.approx(4.0)


def test_mad_threshold_known_array() -> None:
    scores = np.array([1.0, 2.0, 3.0, 4.0, 100.0])  # median 3, |x - 3| = 2,1,0,1,97 -> MAD 1
    assert mad_threshold(scores) == pytest.approx(3.0 + 3.5 * 1.4826)
    assert mad_threshold(scores, k=1.0) == pytest.approx(3.0 + 1.4826)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pot_close_to_exponential_quantile(seed: int) -> None:
    scores = np.random.default_rng(seed).exponential(1.0, 20_000)
    exact = -math.log(1e-3)  # P(X > z) = 1e-3 for Exp(1)
    z = pot_threshold(scores, risk=1e-3, level=0.98)
    assert z == pytest.approx(exact, rel=0.08)
    assert z > quantile_threshold(scores, 0.98)


def test_pot_heavy_tail_pareto() -> None:
    scores = np.random.default_rng(3).pareto(3.0, 20_000) + 1.0  # P(X > z) = z ** -3
    assert pot_threshold(scores, risk=1e-3) == pytest.approx(10.0, rel=0.15)


def test_pot_needs_enough_excesses() -> None:
    scores = np.random.default_rng(0).exponential(1.0, 200)  # 2% of 200 = 4 excesses
    with pytest.raises(ValueError, match="at least 10"):
        pot_threshold(scores)


def test_pot_rejects_risk_above_tail_share() -> None:
    scores = np.random.default_rng(0).exponential(1.0, 2000)
    with pytest.raises(ValueError, match="1 - level"):
        pot_threshold(scores, risk=0.05, level=0.98)


def test_best_f1_separable() -> None:
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.7])
    labels = np.array([0, 0, 0, 1, 0, 1, 1])
    t, f1 = best_f1_threshold(scores, labels)
    assert f1 == pytest.approx(1.0)
    assert t == pytest.approx(0.55)  # midway between 0.4 and 0.7
    np.testing.assert_array_equal((scores > t).astype(int), labels)


def test_best_f1_ties_and_overlap() -> None:
    scores = np.array([0.0, 1.0, 1.0, 2.0, 3.0])
    labels = np.array([0, 0, 1, 1, 1])
    t, f1 = best_f1_threshold(scores, labels)
    # Cut at >= 1 gives P = 3/4, R = 1, F1 = 6/7; cut at >= 2 gives P = 1, R = 2/3, F1 = 0.8.
    assert f1 == pytest.approx(6 / 7)
    assert 0.0 <= t < 1.0
    flags = scores > t
    tp = int(np.sum(flags & (labels == 1)))
    assert 2 * tp / (flags.sum() + labels.sum()) == pytest.approx(f1)


def test_best_f1_all_positive_flags_everything() -> None:
    scores = np.array([0.2, 0.1])
    t, f1 = best_f1_threshold(scores, np.array([1, 1]))
    assert f1 == pytest.approx(1.0)
    assert bool(np.all(scores > t))


def test_best_f1_without_positives_raises() -> None:
    with pytest.raises(ValueError, match="no anomalies"):
        best_f1_threshold(np.array([0.1, 0.2]), np.array([0, 0]))


def test_methods_tuple() -> None:
    assert list(METHODS) == ["quantile", "contamination", "sigma", "mad", "pot", "f1", "margin",
                            "manual"]


def test_choose_threshold_defaults_and_params() -> None:
    val = np.arange(101, dtype=float)
    choice = choose_threshold("quantile", val)
    assert isinstance(choice, ThresholdChoice)
    assert (choice.method, choice.params) == ("quantile", {"q": 0.995})
    assert choice.value == pytest.approx(99.5)
    assert choose_threshold("quantile", val, q=0.9).value == pytest.approx(90.0)
    assert choose_threshold("sigma", val).params == {"k": 3.0}
    assert choose_threshold("mad", val).params == {"k": 3.5}
    assert choose_threshold("mad", val, k=1.0).value == pytest.approx(50.0 + 1.4826 * 25.0)


def test_choose_threshold_contamination_prefers_scores() -> None:
    val = np.arange(100, dtype=float)
    test_scores = np.arange(100, dtype=float) + 1000.0
    own = choose_threshold("contamination", val, contamination=0.05)
    other = choose_threshold("contamination", val, contamination=0.05, scores=test_scores)
    assert own.value == pytest.approx(94.5)
    assert other.value == pytest.approx(1094.5)
    assert other.params == {"contamination": 0.05}


def test_choose_threshold_pot_and_f1() -> None:
    val = np.random.default_rng(0).exponential(1.0, 5000)
    pot = choose_threshold("pot", val)
    assert pot.params == {"risk": 1e-3, "level": 0.98}
    assert pot.value == pytest.approx(pot_threshold(val))
    scores = np.array([0.1, 0.2, 0.9])
    f1 = choose_threshold("f1", val, scores=scores, labels=np.array([0, 0, 1]))
    assert f1.value == pytest.approx(0.55)
    assert f1.params["f1"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "median"}, "unknown threshold method"),
        ({"method": "f1"}, "--label-col"),
        ({"method": "f1", "scores": np.array([0.1, 0.2])}, "--label-col"),
        ({"method": "contamination"}, "--contamination"),
        ({"method": "contamination", "contamination": 0.6}, r"\(0, 0.5\]"),
        ({"method": "contamination", "contamination": 0.0}, r"\(0, 0.5\]"),
        ({"method": "quantile", "q": 1.0}, "q must be in"),
        ({"method": "quantile", "q": 0.0}, "q must be in"),
        ({"method": "sigma", "k": -1.0}, "k must be a positive"),
        ({"method": "pot", "level": 1.5}, "level must be in"),
        ({"method": "pot", "risk": 0.0}, "risk must be in"),
    ],
)
def test_choose_threshold_errors(kwargs: dict[str, object], match: str) -> None:
    val = np.arange(1000, dtype=float)
    method = str(kwargs.pop("method"))
    with pytest.raises(ValueError, match=match):
        choose_threshold(method, val, **kwargs)  # type: ignore[arg-type]


def test_choose_threshold_f1_label_errors() -> None:
    val = np.arange(10, dtype=float)
    scores = np.array([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="0 \\(normal\\) or 1"):
        choose_threshold("f1", val, scores=scores, labels=np.array([0, 2, 1]))
    with pytest.raises(ValueError, match="one label per score"):
        choose_threshold("f1", val, scores=scores, labels=np.array([0, 1]))


@pytest.mark.parametrize(
    "bad",
    [np.array([1.0, np.nan, 2.0]), np.array([1.0, np.inf]), np.array([]), np.ones((2, 2))],
)
def test_invalid_scores_raise(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="scores"):
        quantile_threshold(bad)
    with pytest.raises(ValueError, match="scores"):
        choose_threshold("mad", bad)
