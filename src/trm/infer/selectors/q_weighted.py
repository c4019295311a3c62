"""``q-weighted``: a puzzle's trajectories are particles, drawn again in proportion to sigmoid(q_halt) after
every step (sequential Monte Carlo); the answer is the majority of the final particles."""

from __future__ import annotations

import numpy as np

from .base import register
from .majority import Majority


@register
class QWeighted(Majority):
    name = "q-weighted"
    help = "resampled by the halting head after every step; majority"
    grouped = True  # resampling copies states within a group, so its rows must advance together
    resamples = True

    def check(self, settings):
        if settings.samples > 1 and settings.noise <= 0:
            # a resampled row copies another's state: only the noise before every step tells them apart again
            return "q-weighted with several samples needs noise > 0"
        return None

    def resample(self, conf, seed, step, group):
        # seeded systematic resampling, only once the effective sample size is below half the particles
        n = conf.size
        w = conf / conf.sum()
        if n < 2 or 1.0 / (w @ w) >= n / 2:
            return None
        u = np.random.default_rng([seed, step, group & 0xFFFFFFFF]).random()
        return np.minimum(np.searchsorted(np.cumsum(w), (np.arange(n) + u) / n), n - 1)
