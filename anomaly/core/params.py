"""The `Detector`'s arguments ↔ `Settings`: one argument per settings field, None = default.

Example:
    >>> s = settings_from_params({"kind": "timeseries", "window": 16, "time_col": "t"})
    >>> (s.kind, s.window.window, s.data.time_col, s.training.optimizer)
    ('timeseries', 16, 't', 'adamw')
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from anomaly.config import SECTIONS, Settings, override, validate


def params_from_settings(settings: Settings) -> dict[str, Any]:
    """Every settings field as a `Detector` argument (section names dropped)."""
    params: dict[str, Any] = {}
    for section in SECTIONS:
        obj = getattr(settings, section)
        params.update({f.name: getattr(obj, f.name) for f in fields(obj)})
    return params


def settings_from_params(params: dict[str, Any]) -> Settings:
    """Defaults overridden by every argument that is not None; checked (`ConfigError`)."""
    settings = Settings(kind=params.get("kind", "tabular"))
    for section, cls in SECTIONS.items():
        values = {f.name: params.get(f.name) for f in fields(cls)}
        if isinstance(values.get("id_col"), str):
            values["id_col"] = (values["id_col"],)
        hidden = values.get("hidden")
        if hidden is not None:
            values["hidden"] = tuple(int(h) for h in hidden)
        settings = override(settings, section, **values)
    validate(settings)
    return settings
