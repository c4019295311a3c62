"""TRM and HRM models, losses and official-weight import."""

from .losses import IGNORE, act_loss, softmax_cross_entropy, stablemax_cross_entropy
from .recursive import TRM, Batch, Carry, count_dense_parameters

__all__ = [
    "TRM",
    "Carry",
    "Batch",
    "act_loss",
    "stablemax_cross_entropy",
    "softmax_cross_entropy",
    "IGNORE",
    "count_dense_parameters",
]
