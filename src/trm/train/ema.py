"""Exponential moving average of the dense weights (docs/PARITY.md), used for evaluation and saved checkpoints.

``shadow ← rate · shadow + (1 − rate) · θ`` after every optimizer step, starting from the initial weights
(``warmup=True``: the rate of update k is min(rate, (1 + k) / (10 + k)), so that a short run's average is not
dominated by the initial weights).
Buffers (the puzzle-embedding table, y_init, z_init) are not averaged: the live values are used.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, rate: float, warmup: bool = False):
        self.rate, self.warmup = rate, warmup
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        params = dict(model.named_parameters())
        self.shadow = [params[n].detach().clone() for n in self.names]

    def rate_at(self, k: int | None) -> float:
        """Decay of the k-th update (1-based): ``rate``, or with warm-up min(rate, (1 + k) / (10 + k))."""
        if not self.warmup or k is None:
            return self.rate
        return min(self.rate, (1.0 + k) / (10.0 + k))

    @torch.no_grad()
    def update(self, model: nn.Module, k: int | None = None) -> None:
        params = dict(model.named_parameters())
        torch._foreach_lerp_(self.shadow, [params[n].detach() for n in self.names], 1.0 - self.rate_at(k))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.shadow, strict=True))

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = sorted(set(self.names) - set(state))
        if missing:
            raise KeyError(f"EMA state lacks {missing[:5]}")
        with torch.no_grad():
            for n, s in zip(self.names, self.shadow, strict=True):
                s.copy_(state[n])

    def model_state(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The model's state dict with the averaged weights in place of the live dense parameters."""
        state = dict(model.state_dict())
        state.update(self.state_dict())
        return state

    @contextmanager
    def swapped_in(self, model: nn.Module):
        """Temporarily put the averaged weights into ``model`` (e.g. for evaluation)."""
        params = dict(model.named_parameters())
        live = [params[n].detach().clone() for n in self.names]
        with torch.no_grad():
            for n, s in zip(self.names, self.shadow, strict=True):
                params[n].copy_(s)
        try:
            yield model
        finally:
            with torch.no_grad():
                for n, t in zip(self.names, live, strict=True):
                    params[n].copy_(t)
