"""trm: Tiny Recursive Models (arXiv 2510.04871) and the HRM baseline."""

from .config import Config, ConfigError, DataConfig, EvalConfig, ModelConfig, TrainConfig

__version__ = "0.1.0"
__all__ = [
    "TRM",
    "Carry",
    "Config",
    "ConfigError",
    "ModelConfig",
    "DataConfig",
    "TrainConfig",
    "EvalConfig",
    "__version__",
]


def __getattr__(name: str):
    # the model (and so torch) loads on first use, so that torch-free parts such as trm.tasks import alone
    if name in ("TRM", "Carry"):
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module 'trm' has no attribute {name!r}")
