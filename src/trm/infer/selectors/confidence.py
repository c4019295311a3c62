"""``confidence``: the single candidate whose halting head is most sure, once every row is done."""

from __future__ import annotations

import numpy as np

from .base import Selector, register


@register
class Confidence(Selector):
    name = "confidence"
    help = "the most confident"

    def score(self, support: np.ndarray, mean: np.ndarray, conf: np.ndarray) -> np.ndarray:
        return conf
