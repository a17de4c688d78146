"""How a threshold's method and parameters read to a person (stdlib only: quick commands use it).

Example:
    >>> describe("quantile", {"q": 0.995})
    'quantile q=0.995'
    >>> describe("margin", {"margin": 2.0})
    'margin 2× the largest validation score'
    >>> describe("f1", {"f1": 0.71875})
    'f1 (best F1 0.719 on the labels)'
    >>> describe("manual", {})
    'manual'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def describe(method: str, params: Mapping[str, Any]) -> str:
    """The method and its parameters, numbers rounded to 4 significant digits."""
    numbers = {k: float(v) for k, v in params.items()
               if isinstance(v, float | int) and not isinstance(v, bool)}
    if method == "margin" and "margin" in numbers:
        return f"margin {numbers['margin']:.4g}× the largest validation score"
    if method == "f1" and "f1" in numbers:
        return f"f1 (best F1 {numbers['f1']:.3f} on the labels)"
    if method == "manual":
        return "manual"
    return " ".join([method, *(f"{k}={v:.4g}" for k, v in numbers.items())])
