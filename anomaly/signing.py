"""Optional bundle signing: HMAC-SHA256 with a key the operator configures.

With a key set — ``ANOMALY_SIGNING_KEY`` (the key itself) or ``ANOMALY_SIGNING_KEY_FILE`` (a file
holding it) — every bundle written gets a ``signature`` in bundle.json, and a bundle without a
valid one is refused: recomputing the checksum after an edit is then not enough. Without a key,
bundles are checked by their checksum and file hashes only.

Example:
    >>> sign({"a": 1}, b"k") == sign({"a": 1, "signature": "x", "checksum": "y"}, b"k")
    True
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from anomaly.errors import BundleError, ConfigError

KEY_ENV = "ANOMALY_SIGNING_KEY"
KEY_FILE_ENV = "ANOMALY_SIGNING_KEY_FILE"
UNSIGNED = ("checksum", "signature")  # what the checksum and the signature do not cover


def body(meta: dict[str, Any]) -> bytes:
    """The canonical bytes that the checksum and the signature cover."""
    return json.dumps({k: v for k, v in meta.items() if k not in UNSIGNED},
                      sort_keys=True).encode()


def signing_key() -> bytes | None:
    """The configured key, or None when signing is off."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode()
    name = os.environ.get(KEY_FILE_ENV)
    if not name:
        return None
    try:
        key = Path(name).read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"{KEY_FILE_ENV}={name}: cannot read the key file ({exc.strerror}) — "
                          "fix the path or unset the variable") from exc
    if not key:
        raise ConfigError(f"{KEY_FILE_ENV}={name}: the key file is empty — put the key in it")
    return key


def sign(meta: dict[str, Any], key: bytes) -> str:
    """Hex HMAC-SHA256 of the bundle's canonical body."""
    return hmac.new(key, body(meta), hashlib.sha256).hexdigest()


def with_signature(meta: dict[str, Any]) -> dict[str, Any]:
    """`meta` signed with the configured key (or without a signature when none is set)."""
    key = signing_key()
    unsigned = {k: v for k, v in meta.items() if k != "signature"}
    return unsigned if key is None else {**unsigned, "signature": sign(unsigned, key)}


def verify(meta: dict[str, Any], file: Path) -> None:
    """With a key configured, `BundleError` unless `meta` carries a valid signature."""
    key = signing_key()
    if key is None:
        return
    found = meta.get("signature")
    if not isinstance(found, str):
        raise BundleError(f"{file}: not signed, and bundle signing is on ({KEY_ENV} or "
                          f"{KEY_FILE_ENV} is set) — retrain the model with the key set")
    if not hmac.compare_digest(found, sign(meta, key)):
        raise BundleError(f"{file}: signature does not match — the bundle was edited or signed "
                          "with another key; restore it or retrain with this key")
