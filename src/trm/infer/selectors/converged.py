"""``converged``: a trajectory stops once its answer stayed (within ``tolerance``) for ``patience`` steps; the
answer is the majority of the rows that converged."""

from __future__ import annotations

import numpy as np

from .base import register, settled_or_all
from .majority import Majority


@register
class Converged(Majority):
    name = "converged"
    help = "a trajectory stops once its answer stopped changing; majority of those"
    options = ("tolerance", "patience")
    observes = True

    def observe(self, job, rows, step, answers, state):
        # the engine's state counts the steps a row's answer has stayed put; job.preds holds the previous answer
        st = job.settings
        same = (answers != job.preds[rows]).mean(-1) <= st.tolerance
        state = np.where(same & (step > 0), state + 1, 0)
        job.preds[rows] = answers
        return state, state >= st.patience

    def eligible(self, settled: np.ndarray) -> np.ndarray:
        return settled_or_all(settled)
