"""`anomaly models` and `anomaly info`: what the workspace holds (JSON only: no torch import)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from anomaly.cli.app import app, echo, models_dir
from anomaly.cli.options import ModelRef, Workspace
from anomaly.errors import AnomalyError


@app.command(epilog="Example: anomaly models --workspace .")
def models(workspace: Workspace = Path()) -> None:
    """List the models in the workspace with their newest version."""
    from anomaly.bundle import list_models, read_meta, resolve, versions

    names = list_models(models_dir(workspace))
    if not names:
        echo(f"no models in {models_dir(workspace)} — train one with `anomaly train`")
        return
    echo(f"{'name':<24} {'versions':>8}  {'kind':<10} {'created':<25} threshold")
    for name in names:
        path = resolve(name, models_dir(workspace))
        try:
            meta = read_meta(path)
            row = (f"{meta['kind']:<10} {meta['created_at']:<25} "
                   f"{meta['threshold']['value']:.4g} ({meta['threshold']['method']})")
        except AnomalyError as exc:
            row = f"unreadable: {exc}"
        echo(f"{name:<24} {len(versions(path.parent)):>8}  {row}")


@app.command(epilog="Example: anomaly info transactions")
def info(model: ModelRef, as_json: Annotated[bool, typer.Option("--json")] = False,
         workspace: Workspace = Path()) -> None:
    """Show a bundle: schema, network, training summary, threshold history, files."""
    from anomaly.bundle import verify

    path, meta = verify(model, models_dir(workspace))  # hashes too, without loading weights
    if as_json:
        echo(json.dumps({k: v for k, v in meta.items() if k != "scoring"}, indent=2))
        return
    t = meta["threshold"]
    echo(f"{meta['name']}@{meta['version']}  ({path})")
    echo(f"  kind {meta['kind']}, created {meta['created_at']}, "
          f"anomaly {meta['versions']['anomaly']}, torch {meta['versions']['torch']}")
    features = [c["name"] for c in meta["schema"]["columns"] if c["role"] == "feature"]
    roles = [f"{c['name']} ({c['role']})" for c in meta["schema"]["columns"]
             if c["role"] != "feature"]
    echo(f"  features ({len(features)}): {', '.join(features)}")
    if roles:
        echo(f"  other columns: {', '.join(roles)}")
    net = meta["network"]
    echo(f"  network: {net['class']} {_pairs(net['args'])}")
    echo(f"  training: {_pairs(meta['training'])}")
    scoring = meta.get("scoring", {})
    near = scoring.get("neighbours")
    search = near.get("search") if near else None
    cells = (f"; searched by {search['cells']} cells of {search['candidates']} candidates"
             if isinstance(search, dict) else "")
    echo(f"  score: {scoring.get('method', '?')}"
         + (f" (k={near['k']}, {near['reference_rows']:,} reference rows{cells})" if near else ""))
    runs = meta.get("features", {})
    if runs.get("baseline_rows"):
        echo(f"  run-relative: each file (and group) against its first {runs['baseline_rows']:,} "
             f"rows; score = error over the last {runs['window']} rows ÷ the warm-up's peak; "
             f"trained on runs of {runs['run_rows']:,} rows")
    echo(f"  data: {meta['data'].get('path')} sha256 {str(meta['data'].get('sha256'))[:12]}… "
          f"rows {meta['data'].get('rows')}")
    echo(f"  threshold v{t['version']}: {t['value']:.4g} ({_method(t)})")
    for entry in t.get("history", []):
        echo(f"    v{entry['version']} {entry['at']} {_method(entry)} "
             f"→ {entry['value']:.4g} by {entry['by']}: {entry['why']}")
    echo("  files: " + ", ".join(f"{f} {h[:12]}…" for f, h in meta["files"].items()))


def _method(entry: dict[str, Any]) -> str:
    """``quantile q=0.995``: a threshold entry's method and parameters."""
    from anomaly.core.threshold_text import describe

    return describe(entry["method"], entry.get("params", {}))


def _pairs(values: dict[str, Any]) -> str:
    """``window=32 channels=32,16 seconds=3.207``: settings as a person reads them.

    Example:
        >>> _pairs({"window": 32, "channels": [32, 16], "loss": 0.020751738920, "ok": True})
        'window=32 channels=32,16 loss=0.02075 ok=True'
    """
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, float):
            return f"{value:.4g}"
        if isinstance(value, list | tuple):
            return ",".join(map(text, value))
        return str(value)

    return " ".join(f"{k}={text(v)}" for k, v in values.items())
