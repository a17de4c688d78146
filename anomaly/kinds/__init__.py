"""The data kinds: each one implementation of `anomaly.core.kind.Kind`.

Kinds are imported only when used (they bring torch along); `KINDS` names them all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from anomaly.errors import ConfigError

if TYPE_CHECKING:
    from anomaly.core.kind import Kind

KINDS: dict[str, str] = {
    "tabular": "anomaly.kinds.tabular.kind:TabularKind",
    "timeseries": "anomaly.kinds.timeseries.kind:TimeseriesKind",
    "logs": "anomaly.kinds.logs.kind:LogsKind",
}

# What one scored item of each kind is, for messages (readable without importing the kind)
KIND_ITEMS: dict[str, str] = {"tabular": "row", "timeseries": "timestamp", "logs": "session"}


def get_kind(name: str) -> Kind:
    """The implementation of data kind `name`.

    Example:
        >>> get_kind("tabular").item
        'row'
    """
    if name not in KINDS:
        raise ConfigError(f"--kind {name!r} is not available — choose one of {', '.join(KINDS)}")
    module, _, cls = KINDS[name].partition(":")
    kind: Kind = getattr(importlib.import_module(module), cls)()
    return kind
