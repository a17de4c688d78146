"""anomaly — autoencoder anomaly detection: train, score, explain, schedule, dashboard.

`Detector` is the one facade over every data kind; `load_detector` loads a bundle of any kind.
"""

from typing import TYPE_CHECKING

from anomaly.errors import AnomalyError, BundleError, ConfigError, InputError, SchemaError

if TYPE_CHECKING:
    from anomaly.core.detector import Detector

    load_detector = Detector.load

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Importing torch and Lightning takes seconds: load them only when the detector is used.
    if name in ("Detector", "load_detector"):
        from anomaly.core.detector import Detector

        return Detector if name == "Detector" else Detector.load
    raise AttributeError(name)


__all__ = ["AnomalyError", "BundleError", "ConfigError", "Detector", "InputError", "SchemaError",
           "__version__", "load_detector"]
