"""Losses and per-step metrics (docs/PARITY.md).

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
    logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None, smoothing: float = 0.0
) -> torch.Tensor:
    """Per-position stablemax CE in float64; zero where ``mask`` is False. [B, S, V], [B, S] -> [B, S].
    ``smoothing`` ε: (1 − ε)·CE(label) + ε·mean over the vocabulary of CE(v) (label smoothing)."""
    if mask is None:
        mask = labels != IGNORE
    logp = log_stablemax(logits.to(torch.float64), dim=-1)
    target = torch.where(mask, labels, 0).long().unsqueeze(-1)
    picked = logp.gather(-1, target).squeeze(-1)
    if smoothing:
        picked = (1 - smoothing) * picked + smoothing * logp.mean(-1)
    return -torch.where(mask, picked, 0)


def softmax_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None, smoothing: float = 0.0
) -> torch.Tensor:
    """Per-position softmax CE in float32; zero at ignored positions. [B, S, V], [B, S] -> [B, S]."""
    if mask is None:
        mask = labels != IGNORE
    target = torch.where(mask, labels, IGNORE).long()
    ce = F.cross_entropy(
        logits.float().flatten(0, -2),
        target.flatten(),
        ignore_index=IGNORE,
        reduction="none",
        label_smoothing=smoothing,
    )
    return ce.view(labels.shape)


def step_weights(n_sup: int, decay: float) -> torch.Tensor | None:
    """Loss weight of supervision steps 1..N_sup: ``decay^(s-1)`` scaled to mean 1 (CGAR); None for decay 1."""
    if decay == 1.0:
        return None
    w = decay ** torch.arange(n_sup, dtype=torch.float64)
    return w * (n_sup / w.sum())


LOSSES = {"stablemax": stablemax_cross_entropy, "softmax": softmax_cross_entropy}


def act_loss(
    carry: Carry,
    outputs: dict[str, torch.Tensor],
    loss: str = "stablemax",
    halt_weight: float = 0.5,
    smoothing: float = 0.0,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss of one supervision step (summed over rows; divide by the global batch before backward)
    and summed metrics over the rows that halted at this step.

    total = LM + halt_weight · (halt BCE + continue BCE); the paper's weight is 0.5. ``smoothing``: label
    smoothing of the LM loss; ``weights`` [N_sup] (:func:`step_weights`): each row's loss is scaled by the
    weight of the supervision step it just took. The metrics' losses are the unweighted ones.
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
        # as the official code: a row with no labelled position counts as correct for the halting target (such
        # rows only pad evaluation batches); the metrics count only rows with labels
        seq_correct = correct.sum(-1) == count
        valid = carry.halted & (count > 0)
        metrics = {
            "count": valid.sum(),
            "accuracy": torch.where(valid, (correct.float() / divisor).sum(-1), 0).sum(),
            "exact_accuracy": (valid & seq_correct).sum(),
            "q_halt_accuracy": (valid & ((q_halt >= 0) == seq_correct)).sum(),
            "steps": torch.where(valid, carry.steps, 0).sum(),
        }
    ce = LOSSES[loss](logits, labels, mask, smoothing) / divisor  # [B, S]
    halt = F.binary_cross_entropy_with_logits(q_halt, seq_correct.to(q_halt.dtype), reduction="none")
    lm_loss, halt_loss = ce.sum(), halt.sum()
    total = lm_loss + halt_weight * halt_loss
    metrics["lm_loss"] = lm_loss.detach()
    metrics["q_halt_loss"] = halt_loss.detach()
    if "target_q_continue" in outputs:
        cont = F.binary_cross_entropy_with_logits(
            outputs["q_continue_logits"], outputs["target_q_continue"], reduction="none"
        )
        total = total + halt_weight * cont.sum()
        metrics["q_continue_loss"] = cont.sum().detach()
        halt = halt + cont
    if weights is not None:  # CGAR: each row's whole loss scaled by the weight of its supervision step
        w = weights.to(ce.device)[(carry.steps.long() - 1).clamp(0, weights.numel() - 1)]
        total = (w * (ce.sum(-1) + halt_weight * halt.to(ce.dtype))).sum()
    outputs["preds"] = preds
    outputs["seq_correct"] = seq_correct
    return total, metrics
