"""Model bundles: a folder of safetensors weights + JSON, hash-checked. Never pickle.

Layout (a model name resolves to its newest version)::

    <workspace>/models/<name>/v<N>/
        bundle.json             format, schema, features, network, settings, scoring,
                                threshold (+ history), data fingerprint, versions, file hashes
        model.safetensors       weights only
        scoring.safetensors     arrays of the score (reference rows of the neighbour search);
                                only when the score has them
        history.csv             per epoch: train_loss, val_loss, lr, grad_norm
        validation_scores.csv   scores of held-out normal rows (calibration and tuning)

`bundle.json` carries the SHA-256 of every other file and a checksum of itself; a bundle whose
hashes, format or version do not match is refused with `BundleError`.

Reading and checking bundle.json needs only the standard library (`read_meta`, `verify`): the
quick commands (`anomaly models`, `info`, `threshold`) never import torch, which takes seconds;
`load_bundle` imports it to load the weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anomaly import signing
from anomaly.atomic import apply_umask, write_text
from anomaly.bundle_schema import check_files, check_meta, check_meta_size
from anomaly.clock import now
from anomaly.errors import BundleError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import torch
    from torch import nn

FORMAT = "anomaly-bundle"
FORMAT_VERSION = 1
BUNDLE_FILE = "bundle.json"
WEIGHTS_FILE = "model.safetensors"
SCORING_FILE = "scoring.safetensors"
HISTORY_FILE = "history.csv"
VALIDATION_FILE = "validation_scores.csv"
VERSION_DIR = re.compile(r"^v(\d+)$")
NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _self_checksum(meta: dict[str, Any]) -> str:
    return hashlib.sha256(signing.body(meta)).hexdigest()


def _finished(meta: dict[str, Any]) -> dict[str, Any]:
    """`meta` with its signature (when a key is configured) and self-checksum."""
    meta = signing.with_signature(meta)
    return {**meta, "checksum": _self_checksum(meta)}


def check_name(name: str) -> str:
    """Model names are folder names: letters, digits, '_', '-', '.'; no paths."""
    if not NAME_OK.match(name) or ".." in name:
        raise BundleError(f"model name {name!r} is not allowed — use letters, digits, '_', '-' "
                          "or '.' (at most 64 characters, no slashes)")
    return name


@dataclass
class Bundle:
    """A loaded, verified bundle: its folder, metadata, weights and side files."""

    path: Path
    meta: dict[str, Any]
    state: dict[str, torch.Tensor]
    history: pd.DataFrame
    validation_scores: np.ndarray
    arrays: dict[str, np.ndarray]  # scoring.safetensors ({} when the bundle has none)

    @property
    def name(self) -> str:
        return str(self.meta["name"])

    @property
    def version(self) -> int:
        return int(self.meta["version"])

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def save_bundle(models_dir: Path, name: str, meta: dict[str, Any], network: nn.Module,
                history: pd.DataFrame, validation_scores: np.ndarray,
                arrays: dict[str, np.ndarray] | None = None) -> Path:
    """Write a new version of model `name` atomically; returns its folder.

    `arrays` (the score's reference rows, …) go to scoring.safetensors when there are any.
    """
    import numpy as np
    import pandas as pd
    import torch
    from safetensors.torch import save_file

    home = prepare_home(models_dir, name)
    home.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=home))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
        save_file(state, str(staging / WEIGHTS_FILE))
        history.to_csv(staging / HISTORY_FILE, index=False)
        pd.DataFrame({"anomaly_score": validation_scores}).to_csv(staging / VALIDATION_FILE,
                                                                  index=False)
        written = [WEIGHTS_FILE, HISTORY_FILE, VALIDATION_FILE]
        if arrays:
            save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()},
                      str(staging / SCORING_FILE))
            written.append(SCORING_FILE)
        files = {f: sha256_file(staging / f) for f in written}
        apply_umask(staging, directory=True)  # mkdtemp makes 0700: readable by the owner only
        for file in files:
            apply_umask(staging / file)
        while True:
            version = max(versions(home), default=0) + 1
            full = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name,
                    "version": version, "created_at": now(), **meta, "files": files}
            full = _finished(full)
            (staging / BUNDLE_FILE).write_text(json.dumps(full, indent=2), encoding="utf-8")
            target = home / f"v{version}"
            try:
                staging.rename(target)  # atomic; fails if another run took this version
                return target
            except OSError:
                if not target.exists():
                    raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def prepare_home(models_dir: Path, name: str) -> Path:
    """The folder of model `name`, checked (not created): a valid name, no file in the way, and
    writable — called before training, so those fail in seconds, not after the work.

    Example:
        >>> prepare_home(Path("/tmp/ws/models"), "../../x")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        anomaly.errors.BundleError: model name '../../x' is not allowed — ...
    """
    home = models_dir / check_name(name)
    nearest = home
    while not nearest.exists() and nearest.parent != nearest:
        nearest = nearest.parent
    if not nearest.is_dir():
        raise BundleError(f"{nearest}: exists and is not a folder — move it away or choose "
                          "another --name / --workspace")
    try:  # a real write: permissions, read-only mounts and ACLs all show here
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=nearest)
        os.close(fd)
        Path(probe).unlink()
    except OSError as exc:
        raise BundleError(f"{nearest}: cannot write the model there ({exc.strerror}) — make the "
                          "workspace writable or pass another --workspace") from exc
    return home


def versions(home: Path) -> list[int]:
    """Version numbers present under a model's folder."""
    if not home.is_dir():
        return []
    return sorted(int(m.group(1)) for p in home.iterdir()
                  if p.is_dir() and (m := VERSION_DIR.match(p.name)))


def list_models(models_dir: Path) -> list[str]:
    """Names of the models in a workspace (folders with at least one version)."""
    if not models_dir.is_dir():
        return []
    return sorted(p.name for p in models_dir.iterdir() if p.is_dir() and versions(p))


def looks_like_path(ref: str | Path) -> bool:
    """A model reference is a folder path only when it looks like one: a `Path`, or text that
    starts with ``/``, ``./``, ``../`` or ``~`` or holds a path separator. ``tx`` is always the
    workspace model, even when a folder ``./tx`` exists.

    Example:
        >>> looks_like_path("tx"), looks_like_path("./tx"), looks_like_path("models/tx/v1")
        (False, True, True)
    """
    return (isinstance(ref, Path) or ref.startswith("~") or ref in (".", "..") or "/" in ref
            or os.sep in ref)


def resolve(ref: str | Path, models_dir: Path) -> Path:
    """Find a bundle folder from a path, a model name (newest version) or ``name@version``."""
    if looks_like_path(ref):
        path = Path(ref).expanduser()
        if (path / BUNDLE_FILE).exists():
            return path
        if path.is_dir() and versions(path):
            return path / f"v{versions(path)[-1]}"
        raise BundleError(f"{ref}: not a model bundle folder (no {BUNDLE_FILE}, no v<N> "
                          "versions) — pass a bundle folder or a model name")
    text = str(ref)
    name, _, wanted = text.partition("@")
    home = models_dir / name
    if NAME_OK.match(name) and versions(home):
        if not wanted:
            return home / f"v{versions(home)[-1]}"
        number = wanted.lstrip("v")
        if number.isdigit() and int(number) in versions(home):
            return home / f"v{int(number)}"
        raise BundleError(f"model {name!r} has no version {wanted!r} — versions: "
                          f"{', '.join(map(str, versions(home)))}")
    known = list_models(models_dir)
    hint = f"known models: {', '.join(known)}" if known else "no models yet — run `anomaly train`"
    if Path(text).is_dir():
        hint += f"; to use the folder {text!r}, write ./{text}"
    raise BundleError(f"unknown model {text!r} in {models_dir} — {hint}")


def read_meta(path: Path) -> dict[str, Any]:
    """Read and check bundle.json (format, version, self-checksum) without loading weights."""
    file = path / BUNDLE_FILE
    if not file.exists():
        raise BundleError(f"{path}: no {BUNDLE_FILE} — not a model bundle")
    check_meta_size(file)
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{file}: corrupt JSON ({exc}) — retrain or restore the bundle") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise BundleError(f"{file}: foreign format {found!r}, expected {FORMAT!r} — this folder "
                          "was not written by anomaly; train a model with `anomaly train`")
    if meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{file}: bundle format version {meta.get('format_version')!r} is not "
                          f"supported (this anomaly reads version {FORMAT_VERSION}) — retrain the "
                          "model with this version of anomaly")
    if meta.get("checksum") != _self_checksum(meta):
        raise BundleError(f"{file}: checksum mismatch — bundle.json was edited or corrupted; "
                          "restore it or retrain (use `anomaly threshold` to change thresholds)")
    signing.verify(meta, file)
    return check_meta(meta, file)


def verify(ref: str | Path, models_dir: Path) -> tuple[Path, dict[str, Any]]:
    """Resolve a bundle and check bundle.json and the SHA-256 of every file (json only).

    Returns the bundle folder and its metadata; `BundleError` when anything does not match.
    """
    path = resolve(ref, models_dir)
    meta = read_meta(path)
    check_files(path, meta)
    for file, expected in meta["files"].items():
        target = path / file
        if sha256_file(target) != expected:
            raise BundleError(f"{target}: SHA-256 does not match bundle.json — the file was "
                              "modified or corrupted (tampered?); restore it or retrain")
    return path, meta


def read_validation_scores(path: Path) -> np.ndarray:
    """The validation scores of a verified bundle folder, sorted (numpy only, no pandas)."""
    import numpy as np

    file = path / VALIDATION_FILE
    try:
        with file.open(encoding="utf-8") as handle:
            header = handle.readline().strip().split(",")
            column = header.index("anomaly_score")
            values = [line.split(",")[column].strip() or "nan" for line in handle
                      if line.strip()]
        return np.sort(np.array(values, dtype=np.float64))
    except (ValueError, IndexError, OSError) as exc:
        raise BundleError(f"{file}: unreadable validation scores ({exc}) — restore the bundle "
                          "or retrain") from exc


def load_bundle(ref: str | Path, models_dir: Path) -> Bundle:
    """Resolve, verify hashes, and load a bundle (weights via safetensors; no code runs)."""
    import pandas as pd
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path, meta = verify(ref, models_dir)
    try:
        state = load_file(str(path / WEIGHTS_FILE))
        arrays = ({k: v.numpy() for k, v in load_file(str(path / SCORING_FILE)).items()}
                  if SCORING_FILE in meta.get("files", {}) else {})
    except (SafetensorError, OSError) as exc:
        raise BundleError(f"{path}: unreadable safetensors ({exc}) — restore the bundle or "
                          "retrain") from exc
    history = pd.read_csv(path / HISTORY_FILE)
    return Bundle(path, meta, state, history, read_validation_scores(path), arrays)


def update_meta(path: Path, meta: dict[str, Any]) -> None:
    """Rewrite bundle.json atomically with a fresh self-checksum (weights are untouched)."""
    write_text(json.dumps(_finished(meta), indent=2), path / BUNDLE_FILE)


def save_threshold(path: Path, meta: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """Write a threshold block back into a bundle's bundle.json; returns the new meta."""
    updated = {**meta, "threshold": info}
    update_meta(path, updated)
    return updated
