"""``halt-first``: a puzzle's trajectories run together and all stop when the first crosses the halting
threshold; the answer is chosen (by majority) among the rows that crossed it."""

from __future__ import annotations

import numpy as np

from .base import register, settled_or_all
from .majority import Majority


@register
class HaltFirst(Majority):
    name = "halt-first"
    help = "the first to cross the threshold; the others stop"
    grouped = True
    halts = True

    def eligible(self, settled: np.ndarray) -> np.ndarray:
        return settled_or_all(settled)
