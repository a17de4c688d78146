"""Plain torch autoencoders (no Lightning inside): each maps x → reconstruction of x.

`NETWORKS` is the allow-list a bundle may name: loading a bundle builds one of these classes
from JSON arguments and loads safetensors weights into it, so no code is ever imported from it.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from anomaly.errors import BundleError
from anomaly.nn.conv import ConvAutoencoder
from anomaly.nn.dense import DenseAutoencoder
from anomaly.nn.flat import WindowDenseAutoencoder
from anomaly.nn.lstm import LSTMAutoencoder
from anomaly.nn.mixed import MixedAutoencoder

NETWORKS: dict[str, type[nn.Module]] = {
    "DenseAutoencoder": DenseAutoencoder, "ConvAutoencoder": ConvAutoencoder,
    "LSTMAutoencoder": LSTMAutoencoder, "WindowDenseAutoencoder": WindowDenseAutoencoder,
    "MixedAutoencoder": MixedAutoencoder}


def build_network(class_name: str, args: dict[str, Any]) -> nn.Module:
    """Instantiate an allow-listed network class from JSON arguments.

    Example:
        >>> type(build_network("DenseAutoencoder", {"n_inputs": 4, "hidden": [3, 2]})).__name__
        'DenseAutoencoder'
    """
    if class_name not in NETWORKS:
        raise BundleError(f"unknown network class {class_name!r} — known: {', '.join(NETWORKS)}")
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    return NETWORKS[class_name](**clean)


__all__ = ["NETWORKS", "ConvAutoencoder", "DenseAutoencoder", "LSTMAutoencoder",
           "MixedAutoencoder", "WindowDenseAutoencoder", "build_network"]
