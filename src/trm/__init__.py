"""trm: Tiny Recursive Models (arXiv 2510.04871) and the HRM baseline."""

from .config import Config, ConfigError, DataConfig, EvalConfig, ModelConfig, TrainConfig
from .model import TRM, Carry

__version__ = "0.1.0"
__all__ = ["TRM", "Carry", "Config", "ConfigError", "ModelConfig", "DataConfig", "TrainConfig", "EvalConfig", "__version__"]
