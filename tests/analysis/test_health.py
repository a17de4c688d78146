"""Health limits: drift on files running, false alarms among the marks that still count."""

from __future__ import annotations

import numpy as np
import pandas as pd

from anomaly.analysis.health import Health, Reference, assess, live_verdicts, recent_file_psi

VALIDATION = np.random.default_rng(0).gamma(2.0, 1.0, 5000)


def ledger_rows(shifts: list[float]) -> pd.DataFrame:
    """Ok files (oldest first) whose score quantiles are the validation ones x shift."""
    q = np.quantile(VALIDATION, [0.5, 0.9, 0.99, 1.0])
    return pd.DataFrame([{"status": "ok", "rows": 100, "started_at": f"2026-01-0{i + 1}",
                          "score_p50": q[0] * s, "score_p90": q[1] * s, "score_p99": q[2] * s,
                          "score_max": q[3] * s} for i, s in enumerate(shifts)])


def test_drift_needs_every_one_of_the_last_three_files_past_the_limit() -> None:
    ref = Reference(VALIDATION, 1, 5.0)
    assert recent_file_psi(ledger_rows([1.0]), VALIDATION)[0] < 0.01
    assert assess("m", ledger_rows([1, 3, 3, 3]), ref).reasons == ["drift"]
    assert assess("m", ledger_rows([3, 3, 1, 3]), ref).reasons == []  # not 3 running
    assert assess("m", ledger_rows([3, 3]), ref).reasons == []  # too few files yet
    failed = ledger_rows([3, 3, 3]).assign(status=["ok", "failed", "ok"])
    assert not assess("m", failed, ref).drifting  # quarantined files do not count
    advice = assess("m", ledger_rows([3, 3, 3]), ref).advice()
    assert len(advice) == 1 and "anomaly train RECENT_NORMAL.csv --name m" in advice[0]


def test_false_alarms_count_only_marks_the_model_in_use_still_flags() -> None:
    marks = pd.DataFrame({"model_version": [1] * 6 + [2],
                          "anomaly_score": [9.0, 8.0, 7.0, 6.0, 5.5, 1.0, 9.0],
                          "verdict": ["false_alarm"] * 4 + ["confirmed"] * 2 + ["false_alarm"]})
    ref = Reference(VALIDATION, 1, 5.0)
    assert live_verdicts(marks, ref) == ["false_alarm"] * 4 + ["confirmed"]
    health = assess("m", ledger_rows([1.0]), ref, marks)
    assert (health.marks, health.false_alarms, health.reasons) == (5, 4, ["false_alarms"])
    assert "--method f1 --from-feedback" in health.advice()[0]
    raised = Reference(VALIDATION, 1, 7.5)  # after recalibration: 2 false alarms still flagged
    assert assess("m", ledger_rows([1.0]), raised, marks).reasons == []  # and < 5 marks
    assert Health("m", [], 4, 4).reasons == []  # too few marks to judge
    assert Health("m", [], 10, 5).reasons == []  # 50 % is not above the limit
