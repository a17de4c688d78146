"""Turn anomaly scores (higher = more anomalous) into a decision threshold.

Every function is pure and takes a 1-D array of finite scores. A point is flagged
when ``score > threshold``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from anomaly.clock import now
from anomaly.core.labels import binary
from anomaly.core.threshold_text import describe

_MAD_SCALE = 1.4826
_MIN_EXCESSES = 10


def _as_scores(scores: np.ndarray, name: str = "scores") -> np.ndarray:
    """Return ``scores`` as a finite, non-empty 1-D float array or raise ValueError."""
    arr = np.asarray(scores, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one score.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{name} contain NaN or infinite values; drop or impute the rows before thresholding."
        )
    return arr


def _as_labels(labels: np.ndarray, n: int) -> np.ndarray:
    """Return ``labels`` as a 0/1 int array of length ``n`` or raise ValueError."""
    arr = binary(labels, "labels")
    if arr.shape[0] != n:
        raise ValueError(
            f"labels has shape {arr.shape} but scores has {n} values; pass one label per score."
        )
    return arr


def _check_open_unit(name: str, value: float, upper: float = 1.0) -> float:
    """Check ``0 < value < upper`` and return it as float."""
    if not (math.isfinite(value) and 0.0 < value < upper):
        raise ValueError(f"{name} must be in (0, {upper:g}), got {value!r}.")
    return float(value)


def _check_positive(name: str, value: float) -> float:
    """Check ``value > 0`` and finite, return it as float."""
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


def quantile_threshold(scores: np.ndarray, q: float = 0.995) -> float:
    """Return the ``q`` quantile of ``scores`` (linear interpolation)."""
    arr = _as_scores(scores)
    return float(np.quantile(arr, _check_open_unit("q", q)))


def contamination_threshold(scores: np.ndarray, contamination: float) -> float:
    """Return a threshold flagging about ``contamination`` of ``scores`` (``score > t``).

    With ``k = round(contamination * n)``, the threshold lies midway between the
    ``k``-th and ``(k+1)``-th largest score, so exactly ``k`` scores are flagged
    unless there are ties at the cut.
    """
    arr = _as_scores(scores)
    if not (math.isfinite(contamination) and 0.0 < contamination <= 0.5):
        raise ValueError(f"contamination must be in (0, 0.5], got {contamination!r}.")
    ordered = np.sort(arr)
    n = len(ordered)
    k = round(contamination * n)
    if k <= 0:
        return float(ordered[-1])
    below, above = float(ordered[n - k - 1]), float(ordered[n - k])
    return _between(below, above)


def _between(below: float, above: float) -> float:
    """Return a value ``t`` with ``below <= t < above`` (midpoint when representable)."""
    mid = below + (above - below) / 2.0
    return mid if below <= mid < above else below


def sigma_threshold(scores: np.ndarray, k: float = 3.0) -> float:
    """Return ``mean + k * std`` of ``scores`` (population standard deviation)."""
    arr = _as_scores(scores)
    return float(arr.mean() + _check_positive("k", k) * arr.std())


def mad_threshold(scores: np.ndarray, k: float = 3.5) -> float:
    """Return ``median + k * 1.4826 * MAD`` of ``scores`` (robust sigma rule)."""
    arr = _as_scores(scores)
    median = float(np.median(arr))
    mad = float(np.median(np.abs(arr - median)))
    return median + _check_positive("k", k) * _MAD_SCALE * mad


def _fit_gpd(excesses: np.ndarray) -> tuple[float, float]:
    """Fit a generalized Pareto distribution to positive excesses; return ``(gamma, sigma)``.

    Uses the maximum-likelihood fit with location fixed at 0 and falls back to the
    method of moments, then to an exponential tail, when a fit is unusable.
    """
    from scipy import stats  # here, not at the top: importing SciPy costs a second

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            gamma, _, sigma = stats.genpareto.fit(excesses, floc=0)
        if _plausible_gpd(float(gamma), float(sigma)):
            return float(gamma), float(sigma)
    except (RuntimeError, ValueError, FloatingPointError):
        pass
    mean = float(excesses.mean())
    var = float(excesses.var(ddof=1)) if excesses.size > 1 else 0.0
    if var > 0.0:
        ratio = mean * mean / var
        gamma, sigma = 0.5 * (1.0 - ratio), 0.5 * mean * (ratio + 1.0)
        if _plausible_gpd(gamma, sigma):
            return gamma, sigma
    return 0.0, mean


def _plausible_gpd(gamma: float, sigma: float) -> bool:
    """Whether GPD parameters are finite with ``sigma > 0`` and ``-1 < gamma < 1``."""
    return math.isfinite(gamma) and math.isfinite(sigma) and sigma > 0.0 and -1.0 < gamma < 1.0


def pot_threshold(scores: np.ndarray, risk: float = 1e-3, level: float = 0.98) -> float:
    """Return the peaks-over-threshold (SPOT, Siffer et al. 2017) threshold.

    The initial threshold ``t`` is the ``level`` quantile; a generalized Pareto
    distribution is fitted to the excesses over ``t`` and the score whose
    exceedance probability is ``risk`` is returned:
    ``t + sigma / gamma * ((risk * n / N_t) ** -gamma - 1)``, or
    ``t - sigma * log(risk * n / N_t)`` when ``gamma`` is about 0.

    Raises:
        ValueError: on invalid parameters or fewer than 10 scores above ``t``.
    """
    arr = _as_scores(scores)
    level = _check_open_unit("level", level)
    risk = _check_open_unit("risk", risk)
    if risk >= 1.0 - level:
        raise ValueError(
            f"risk ({risk:g}) must be smaller than 1 - level ({1.0 - level:g}); "
            "lower risk or level."
        )
    t = float(np.quantile(arr, level))
    excesses = arr[arr > t] - t
    n_t = excesses.size
    if n_t < _MIN_EXCESSES:
        raise ValueError(
            f"POT needs at least {_MIN_EXCESSES} scores above the level-{level:g} quantile but "
            f"found {n_t}; use more validation rows or a lower level (e.g. --level 0.9)."
        )
    gamma, sigma = _fit_gpd(excesses)
    ratio = risk * len(arr) / n_t
    if abs(gamma) < 1e-8:
        return t - sigma * math.log(ratio)
    return t + sigma / gamma * (float(ratio ** (-gamma)) - 1.0)


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Return ``(threshold, f1)`` maximising F1 of ``score > threshold`` on labelled data.

    The threshold lies just below the best cut found by
    :func:`sklearn.metrics.precision_recall_curve` (midway to the next lower score),
    so ``score > threshold`` reproduces the best F1 exactly.
    """
    arr = _as_scores(scores)
    y = _as_labels(labels, arr.size)
    if not y.any():
        raise ValueError("labels contain no anomalies (1s); F1 needs at least one positive row.")
    from sklearn.metrics import precision_recall_curve  # only here: slow to import

    precision, recall, cuts = precision_recall_curve(y, arr)
    precision, recall = precision[:-1], recall[:-1]
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    best = int(np.argmax(f1))
    cut = float(cuts[best])
    lower = arr[arr < cut]
    # No lower score: every row is flagged at the best cut, so any value below it works.
    if lower.size == 0:
        return math.nextafter(cut, -math.inf), float(f1[best])
    return _between(float(lower.max()), cut), float(f1[best])


@dataclass(frozen=True)
class ThresholdChoice:
    """A chosen threshold with the method and effective parameters that produced it."""

    method: str
    params: dict[str, float]
    value: float

    def describe(self) -> str:
        """``"quantile q=0.995"``: the method and its parameters as a person reads them."""
        return describe(self.method, self.params)


def caveat(choice: ThresholdChoice, n_validation: int, item: str = "row") -> str | None:
    """Why a threshold cannot mean what its method says, with what to do; None when it can.

    A quantile q of n validation scores is only placed when n ≥ 1 / (1 − q): with fewer, it is
    about the largest of them, and normal data is flagged more often than the method promises.

    Example:
        >>> caveat(ThresholdChoice("quantile", {"q": 0.999}, 3.2), 240, "session") is None
        False
        >>> caveat(ThresholdChoice("quantile", {"q": 0.995}, 17.4), 800) is None
        True
    """
    q = choice.params.get("q")
    if choice.method != "quantile" or q is None or q >= 1:
        return None
    needed = math.ceil(round(1 / (1 - q), 6))
    if n_validation >= needed:
        return None
    return (f"the threshold (quantile q={q:.4g}) rests on {n_validation:,} validation "
            f"{item}s: placing it needs at least {needed:,}, so expect more than 1 in "
            f"{needed:,} normal {item}s to be flagged — train on a longer healthy period, or "
            "put the threshold a margin above the largest validation score: "
            "`anomaly threshold MODEL --method margin --margin 1.5`")


@dataclass(frozen=True)
class Method:
    """One named way to choose a threshold: what it is called and its default parameters."""

    name: str
    title: str
    defaults: dict[str, float]
    example: dict[str, float]  # a sensible starting value for parameters without a default


# The closed set of threshold methods: the CLI's --method, the dashboard's picker and the
# "method" recorded in bundle.json all name one of these.
METHODS: dict[str, Method] = {m.name: m for m in (
    Method("quantile", "Quantile of validation normals", {"q": 0.995}, {}),
    Method("contamination", "Contamination (share of the scored data)", {},
           {"contamination": 0.01}),
    Method("sigma", "Mean + k·std", {"k": 3.0}, {}),
    Method("mad", "Median + k·MAD", {"k": 3.5}, {}),
    Method("pot", "POT (extreme values)", {"risk": 1e-3, "level": 0.98}, {}),
    Method("f1", "Best F1 (needs labels)", {}, {}),
    Method("margin", "Margin × the largest validation score", {"margin": 2.0}, {}),
    Method("manual", "Manual (a value you choose)", {}, {}),
)}


def check_threshold(value: float | None, flag: str = "--threshold") -> float | None:
    """`value` itself; `InputError` when it is given and not a finite number.

    Example:
        >>> check_threshold(float("nan"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        anomaly.errors.InputError: --threshold nan: give a finite number (nan or inf would ...
    """
    from anomaly.errors import InputError

    if value is not None and not math.isfinite(value):
        raise InputError(f"{flag} {value}: give a finite number (nan or inf would flag nothing "
                         "or everything)")
    return value


def choose_threshold(
    method: str,
    validation_scores: np.ndarray,
    *,
    scores: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    **params: float | None,
) -> ThresholdChoice:
    """Choose a threshold by a method of `METHODS`; parameters left None take its defaults.

    ``quantile``, ``sigma``, ``mad``, ``pot`` and ``margin`` use ``validation_scores`` (scores
    of held-out normal rows). ``contamination`` uses ``scores`` when given, else
    ``validation_scores``. ``f1`` needs ``scores`` and ``labels`` (its params report the
    achieved ``f1``). ``manual`` takes ``value``.

    Example:
        >>> choose_threshold("quantile", np.arange(101.0), q=0.9).describe()
        'quantile q=0.9'

    Raises:
        ValueError: for an unknown method or missing or invalid parameters.
    """
    if method not in METHODS:
        raise ValueError(f"unknown threshold method {method!r}; choose one of "
                         f"{', '.join(METHODS)}.")
    spec = METHODS[method]
    given = {k: float(v) for k, v in params.items() if v is not None}
    unknown = sorted(set(given) - set(spec.defaults) - set(spec.example) - {"value"})
    if unknown or ("value" in given and method != "manual"):
        raise ValueError(f"method {method!r} takes no {', '.join(unknown or ['value'])}.")
    p = {**spec.defaults, **given}
    if method == "quantile":
        return ThresholdChoice(method, p, quantile_threshold(validation_scores, p["q"]))
    if method == "contamination":
        if "contamination" not in p:
            raise ValueError("method 'contamination' needs the expected anomaly share: pass "
                             "--contamination (a value in (0, 0.5], e.g. 0.01).")
        data = validation_scores if scores is None else scores
        return ThresholdChoice(method, p, contamination_threshold(data, p["contamination"]))
    if method == "sigma":
        return ThresholdChoice(method, p, sigma_threshold(validation_scores, p["k"]))
    if method == "mad":
        return ThresholdChoice(method, p, mad_threshold(validation_scores, p["k"]))
    if method == "pot":
        return ThresholdChoice(method, p, pot_threshold(validation_scores, p["risk"],
                                                        p["level"]))
    if method == "margin":
        top = float(_as_scores(validation_scores).max())
        return ThresholdChoice(method, p, _check_positive("margin", p["margin"]) * top)
    if method == "manual":
        if "value" not in p or not math.isfinite(p["value"]):
            raise ValueError("method 'manual' needs the threshold itself: pass --value.")
        return ThresholdChoice(method, {"value": p["value"]}, p["value"])
    if scores is None or labels is None:
        raise ValueError("method 'f1' needs labelled data: pass --label-col.")
    value, f1 = best_f1_threshold(scores, labels)
    return ThresholdChoice(method, {"f1": f1}, value)


def current_user() -> str:
    """Who changes a threshold, for its history: the logged-in user, else "unknown"."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record(info: dict[str, Any] | None, choice: ThresholdChoice, by: str,
           why: str) -> dict[str, Any]:
    """The bundle's threshold block after `choice`: the new entry plus the history of versions.

    Example:
        >>> first = record(None, ThresholdChoice("manual", {"value": 2.0}, 2.0), "me", "start")
        >>> record(first, ThresholdChoice("manual", {"value": 3.0}, 3.0), "me", "fewer")["version"]
        2
    """
    version = 1 if info is None else int(info["version"]) + 1
    entry = {"version": version, "method": choice.method, "params": choice.params,
             "value": float(choice.value), "at": now(), "by": by, "why": why}
    history = [] if info is None else list(info.get("history", []))
    return {**entry, "history": [*history, entry]}
