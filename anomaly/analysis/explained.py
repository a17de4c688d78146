"""What the drill-down shows of an explanation: one sentence, a readable table, raw lines.

`Detector.explain_item` explains an item in its context (`anomaly.analysis.items` finds it);
this module only words and formats what it returns.

Example:
    >>> print(raw_lines_text([(41, "ERROR disk failure"), (42, "INFO done")]))
    41  ERROR disk failure
    42  INFO done
"""

from __future__ import annotations

import pandas as pd

RAW_LINES = 200  # raw lines of a session shown at most


def raw_lines_text(lines: list[tuple[int, str]], limit: int = RAW_LINES) -> str:
    """A session's raw lines, each after its line number in the file (the first `limit`).

    Example:
        >>> print(raw_lines_text([(9, "a"), (10, "b")]))
         9  a
        10  b
    """
    shown = lines[:limit]
    width = len(str(max((n for n, _ in shown), default=0)))
    return "\n".join(f"{n:>{width}}  {text}" for n, text in shown)


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """An explanation table for display: columns of numbers written as text (a sensor's value)
    become numbers, so that the page can round them like the others.

    Example:
        >>> table = pd.DataFrame({"feature": ["a"], "value": ["4.380042289671707"]})
        >>> readable(table)["value"].tolist()
        [4.380042289671707]
    """
    out = table.copy()
    for col in out.columns:
        if col != "feature" and not pd.api.types.is_numeric_dtype(out[col]):
            numbers = pd.to_numeric(out[col], errors="coerce")
            if numbers.notna().all():
                out[col] = numbers
    return out


def explanation_summary(score: float, table: pd.DataFrame, threshold: float) -> str:
    """One sentence: the item's score against the threshold and the feature carrying most of
    its error.

    Example:
        >>> table = pd.DataFrame({"feature": ["b", "a"], "error_share": [0.9, 0.1]})
        >>> explanation_summary(7.0, table, 2.0)
        'Score 7 (threshold 2): **b** carries 90% of the error.'
    """
    text = f"Score {score:.4g} (threshold {threshold:.4g})"
    if table.empty:
        return text + "."
    top = table.iloc[0]
    return f"{text}: **{top['feature']}** carries {float(top['error_share']):.0%} of the error."
