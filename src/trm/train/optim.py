"""Optimizers of the official code (docs/PARITY.md): AdamATan2 for the dense parameters, sign-SGD for the puzzle-embedding table.

AdamATan2 is written in plain PyTorch (the official package is a CUDA-only extension); the update per element
at step t is

    θ ← θ·(1 − lr·wd)
    m ← β1·m + (1 − β1)·g
    v ← β2·v + (1 − β2)·g²
    θ ← θ − lr / (1 − β1ᵗ) · atan2(m, sqrt(v) / sqrt(1 − β2ᵗ))

with no epsilon: atan2 bounds every update by lr·π/2 and is defined at m = v = 0.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..config import OptimConfig


class AdamATan2(torch.optim.Optimizer):
    """Adam with ``atan2(m, sqrt(v))`` in place of ``m / (sqrt(v) + eps)`` and decoupled weight decay."""

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.95),
        weight_decay: float = 0.0,
    ):
        if lr < 0:
            raise ValueError(f"invalid learning rate {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"invalid betas {betas}")
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch.optim.Optimizer API
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs = [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamATan2 does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                params.append(p)
                grads.append(p.grad)
                exp_avgs.append(state["exp_avg"])
                exp_avg_sqs.append(state["exp_avg_sq"])
            if not params:
                continue
            lr, wd = group["lr"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            if isinstance(lr, torch.Tensor):  # train.compile=step: the step count stays a tensor too
                steps = [self.state[p]["step"] for p in params]
                if steps[0].device != params[0].device:
                    steps = [s.to(params[0].device) for s in steps]
                    for p, s in zip(params, steps, strict=True):
                        self.state[p]["step"] = s
                torch._foreach_add_(steps, 1.0)
                t = steps[0]
            else:
                # every parameter of a group shares the step count; it lives on the CPU so that reading it never
                # synchronises with an accelerator
                t = int(self.state[params[0]]["step"].item()) + 1
                for p in params:
                    self.state[p]["step"].fill_(t)
            adam_atan2_update(
                params, grads, exp_avgs, exp_avg_sqs, t=t, lr=lr, beta1=beta1, beta2=beta2, wd=wd
            )
        return loss


def adam_atan2_update(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    *,
    t: int | torch.Tensor,
    lr: float | torch.Tensor,
    beta1: float,
    beta2: float,
    wd: float,
) -> None:
    """One AdamATan2 step on lists of tensors (multi-tensor kernels where PyTorch has them); ``t`` and ``lr``
    may be 0-d tensors (compiled steps)."""
    bias1 = 1 - beta1**t
    bias2_sqrt = (1 - beta2**t) ** 0.5
    if wd != 0:
        torch._foreach_mul_(params, 1 - lr * wd)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denom, bias2_sqrt)
    for p, m, d in zip(params, exp_avgs, denom, strict=True):
        if isinstance(lr, torch.Tensor) or isinstance(t, torch.Tensor):
            p.sub_(torch.atan2(m, d) * (lr / bias1))
        else:
            p.add_(torch.atan2(m, d), alpha=-lr / bias1)


class PuzzleEmbeddingSignSGD:
    """Sign-SGD with decoupled weight decay on the rows of the puzzle-embedding table used by a batch.

    ``step(ids, grads, lr)`` takes the identifiers of this rank's batch rows [B] and the gradient of their
    gathered embedding rows [B, E]. With a process group the ids and gradients of every rank are gathered first,
    so all ranks apply the same update and their tables stay identical. Gradients of duplicate ids are summed
    before the sign; rows not in any batch are untouched (no decay either).
    """

    # tables up to this many rows are updated densely (no torch.unique, so no host synchronisation on a GPU)
    DENSE_ROWS = 4096

    def __init__(self, table: torch.Tensor, weight_decay: float):
        self.table = table
        self.weight_decay = weight_decay

    @torch.no_grad()
    def step(self, ids: torch.Tensor, grads: torch.Tensor, lr: float, group=None) -> None:
        ids = ids.reshape(-1).long()
        grads = grads.reshape(ids.shape[0], -1).to(self.table.dtype)
        if group is not None:
            ids, grads = _all_gather_cat(ids, group), _all_gather_cat(grads, group)
        if self.table.shape[0] <= self.DENSE_ROWS:
            summed = torch.zeros_like(self.table).index_add_(0, ids, grads)
            used = torch.zeros(self.table.shape[0], 1, dtype=torch.bool, device=ids.device)
            used.index_fill_(0, ids, True)
            updated = self.table * (1 - lr * self.weight_decay) - lr * torch.sign(summed)
            self.table.copy_(torch.where(used, updated, self.table))
            return
        unique, inverse = torch.unique(ids, return_inverse=True)
        summed = torch.zeros(unique.shape[0], grads.shape[1], dtype=grads.dtype, device=grads.device)
        summed.index_add_(0, inverse, grads)
        self.table[unique] = self.table[unique] * (1 - lr * self.weight_decay) - lr * torch.sign(summed)


def _all_gather_cat(t: torch.Tensor, group) -> torch.Tensor:
    import torch.distributed as dist

    world = dist.get_world_size(group)
    out = [torch.empty_like(t) for _ in range(world)]
    dist.all_gather(out, t.contiguous(), group=group)
    return torch.cat(out, dim=0)


def build_dense_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """The dense optimizer of ``cfg.optimizer`` (the ``train.optim`` group) for ``model.dense_parameters()``; the learning rate is set per
    step by the schedule (each parameter group's ``base_lr`` times the schedule's factor)."""
    betas = (cfg.beta1, cfg.beta2)
    params = model.dense_parameters()
    if cfg.optimizer == "muon":
        return MuonWithAdamW(model, cfg)
    if cfg.optimizer == "adam_atan2":
        return AdamATan2(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay, eps=1e-8)


def muon_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(hidden weight matrices of the reasoning network(s), everything else: embeddings, heads, biases)."""
    hidden, other = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_hidden = p.ndim == 2 and name.startswith(("net.", "net_H."))
        (hidden if is_hidden else other).append(p)
    return hidden, other


class MuonWithAdamW(torch.optim.Optimizer):
    """Muon (``torch.optim.Muon``: orthogonalised momentum) on the hidden matrices at ``cfg.muon_lr`` (weight
    decay ``cfg.muon_weight_decay``) and AdamW at ``cfg.lr`` (betas ``cfg.beta1/2``, ``cfg.weight_decay``) on the
    embeddings and heads (the SIC recipe, arXiv 2601.19085), stepped together.

    ``param_groups`` lists both inner optimizers' groups so that the schedule sets their rates from each
    group's ``base_lr``; ``state`` is one dict shared by both (their parameters are disjoint)."""

    def __init__(self, model: nn.Module, cfg: OptimConfig):
        hidden, other = muon_parameters(model)
        self.muon = torch.optim.Muon(
            hidden,
            lr=cfg.muon_lr,
            weight_decay=cfg.weight_decay if cfg.muon_weight_decay is None else cfg.muon_weight_decay,
            momentum=0.95,
            adjust_lr_fn="match_rms_adamw",
        )
        self.adamw = torch.optim.AdamW(
            other, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay, eps=1e-8
        )
        for group in self.muon.param_groups:
            group["base_lr"] = cfg.muon_lr
        for group in self.adamw.param_groups:
            group["base_lr"] = cfg.lr
        # torch.optim.Optimizer bookkeeping over the union
        self.defaults = {}
        self.param_groups = self.muon.param_groups + self.adamw.param_groups
        self.state = self.adamw.state = self.muon.state
        self._optimizer_step_pre_hooks = {}
        self._optimizer_step_post_hooks = {}

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102
        self.muon.step()
        self.adamw.step()

    def zero_grad(self, set_to_none: bool = True) -> None:  # noqa: D102
        self.muon.zero_grad(set_to_none=set_to_none)
        self.adamw.zero_grad(set_to_none=set_to_none)
