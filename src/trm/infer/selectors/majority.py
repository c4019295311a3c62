"""``majority`` (the default): the answer given by the most candidates once every row is done, ties broken by
the mean confidence of the candidates giving it (the official ranking)."""

from __future__ import annotations

import numpy as np

from .base import Selector, register


@register
class Majority(Selector):
    name = "majority"
    help = "ties by mean confidence"

    def score(self, support: np.ndarray, mean: np.ndarray, conf: np.ndarray) -> np.ndarray:
        # votes are sums of 1/n (a copy's eligible rows share one): rounded so that equal counts tie exactly
        return np.round(support, 9) + 1e-7 * mean
