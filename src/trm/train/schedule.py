"""Learning-rate schedule of the official code: linear warm-up from 0, then cosine down to ``lr · min_ratio``."""

from __future__ import annotations

import math


def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_ratio: float = 1.0) -> float:
    """Learning rate of optimizer step ``step`` (1-based: the first update uses ``step = 1``).

    Warm-up: ``base_lr · step / warmup_steps``; afterwards ``base_lr · (min_ratio + (1 − min_ratio) ·
    ½(1 + cos(π · progress)))`` with progress going from 0 at the end of warm-up to 1 at ``total_steps``
    (clamped there). ``min_ratio = 1`` gives the paper's constant rate after warm-up.
    """
    if step < warmup_steps:
        return base_lr * step / max(1, warmup_steps)
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return base_lr * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))
