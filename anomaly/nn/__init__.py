"""Plain torch autoencoders (no Lightning inside): each maps x → reconstruction of x."""

from anomaly.nn.dense import DenseAutoencoder

__all__ = ["DenseAutoencoder"]
