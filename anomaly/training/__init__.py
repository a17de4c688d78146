"""Lightning training machinery shared by every data kind."""

from anomaly.training.fit import TrainResult, train_autoencoder

__all__ = ["TrainResult", "train_autoencoder"]
