"""Losses and per-step metrics (SPEC §4).

Labels use ``IGNORE`` (-100, :data:`trm.tasks.IGNORE`) for positions that carry no target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..tasks import IGNORE
from .recursive import Carry


def _stablemax_s(v: torch.Tensor) -> torch.Tensor:
    return torch.where(v < 0, 1 / (1 - v + 1e-30), v + 1)


def log_stablemax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    s = _stablemax_s(logits)
    return torch.log(s / s.sum(dim=dim, keepdim=True))


def stablemax_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-position stablemax CE in float64; zero where ``mask`` is False. [B, S, V], [B, S] -> [B, S]."""
    if mask is None:
        mask = labels != IGNORE
    logp = log_stablemax(logits.to(torch.float64), dim=-1)
    target = torch.where(mask, labels, 0).long().unsqueeze(-1)
    return -torch.where(mask, logp.gather(-1, target).squeeze(-1), 0)


def softmax_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-position softmax CE in float32; zero at ignored positions. [B, S, V], [B, S] -> [B, S]."""
    if mask is None:
        mask = labels != IGNORE
    target = torch.where(mask, labels, IGNORE).long()
    ce = F.cross_entropy(
        logits.float().flatten(0, -2), target.flatten(), ignore_index=IGNORE, reduction="none"
    )
    return ce.view(labels.shape)


LOSSES = {"stablemax": stablemax_cross_entropy, "softmax": softmax_cross_entropy}


def act_loss(
    carry: Carry, outputs: dict[str, torch.Tensor], loss: str = "stablemax", halt_weight: float = 0.5
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss of one supervision step (summed over rows; divide by the global batch before backward)
    and summed metrics over the rows that halted at this step.

    total = LM + halt_weight · (halt BCE + continue BCE); the paper's weight is 0.5.
    """
    labels = carry.data["labels"]
    logits = outputs["logits"]
    q_halt = outputs["q_halt_logits"]
    with torch.no_grad():
        mask = labels != IGNORE
        count = mask.sum(-1)
        divisor = count.clamp_min(1).unsqueeze(-1)
        preds = logits.argmax(-1)
        correct = mask & (preds == labels)
        seq_correct = (correct.sum(-1) == count) & (count > 0)
        valid = carry.halted & (count > 0)
        metrics = {
            "count": valid.sum(),
            "accuracy": torch.where(valid, (correct.float() / divisor).sum(-1), 0).sum(),
            "exact_accuracy": (valid & seq_correct).sum(),
            "q_halt_accuracy": (valid & ((q_halt >= 0) == seq_correct)).sum(),
            "steps": torch.where(valid, carry.steps, 0).sum(),
        }
    lm_loss = (LOSSES[loss](logits, labels, mask) / divisor).sum()
    halt_loss = F.binary_cross_entropy_with_logits(q_halt, seq_correct.to(q_halt.dtype), reduction="sum")
    total = lm_loss + halt_weight * halt_loss
    metrics["lm_loss"] = lm_loss.detach()
    metrics["q_halt_loss"] = halt_loss.detach()
    if "target_q_continue" in outputs:
        cont_loss = F.binary_cross_entropy_with_logits(
            outputs["q_continue_logits"], outputs["target_q_continue"], reduction="sum"
        )
        total = total + halt_weight * cont_loss
        metrics["q_continue_loss"] = cont_loss.detach()
    outputs["preds"] = preds
    outputs["seq_correct"] = seq_correct
    return total, metrics
