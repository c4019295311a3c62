"""Evaluation during training: the official metrics in the official mode (every row runs N_sup steps).

The richer inference (early halting, test-time depth, voting) lives in :mod:`trm.infer`; this module is the
small, dependable scorer the trainer uses to pick its best checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..model import TRM, act_loss
from ..model.recursive import Batch
from ..tasks import IGNORE


@torch.no_grad()
def evaluate(
    model: TRM,
    batches: Iterable[Batch],
    device: torch.device | str = "cpu",
    max_steps: int | None = None,
    loss: str = "stablemax",
    group=None,
) -> dict[str, float]:
    """Score ``model`` on ``batches`` (dicts with inputs, labels, puzzle_identifiers; padding rows have all
    labels ignored and are not counted).

    Every row runs ``max_steps`` supervision steps (default N_sup), as in the official evaluation. Returns the
    metrics of the final step over the counted rows: ``exact_accuracy``, ``accuracy`` (tokens),
    ``q_halt_accuracy``, ``lm_loss`` (mean per puzzle), ``count``, plus ``exact_accuracy_step_k`` for every
    step k (what the answer would score if stopped after k steps). With a process group the sums of every
    rank are added before dividing.
    """
    was_training = model.training
    model.eval()
    N = model.cfg.N_sup if max_steps is None else max_steps
    sums: torch.Tensor | None = None
    try:
        for batch in batches:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            carry = model.initial_carry(batch)
            per_step = []
            for _ in range(N):
                carry, outputs = model(carry, batch, max_steps=N)
                labels = carry.data["labels"]
                mask = labels != IGNORE
                count = mask.sum(-1)
                seq_correct = ((mask & (outputs["logits"].argmax(-1) == labels)).sum(-1) == count) & (
                    count > 0
                )
                per_step.append(seq_correct.sum())
            _, metrics = act_loss(carry, outputs, loss=loss)
            row = torch.stack(
                [
                    metrics["count"].double(),
                    metrics["exact_accuracy"].double(),
                    metrics["accuracy"].double(),
                    metrics["q_halt_accuracy"].double(),
                    metrics["lm_loss"].double(),
                    *[s.double() for s in per_step],
                ]
            )
            sums = row if sums is None else sums + row
    finally:
        model.train(was_training)
    if sums is None:
        sums = torch.zeros(5 + N, dtype=torch.float64, device=device)
    if group is not None:
        import torch.distributed as dist

        dist.all_reduce(sums, group=group)
    values = sums.tolist()
    count = values[0]
    denom = max(count, 1.0)
    out = {
        "count": int(count),
        "exact_accuracy": values[1] / denom,
        "accuracy": values[2] / denom,
        "q_halt_accuracy": values[3] / denom,
        "lm_loss": values[4] / denom,
    }
    for k, v in enumerate(values[5:], start=1):
        out[f"exact_accuracy_step_{k}"] = v / denom
    return out
