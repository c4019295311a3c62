"""Drive the official TRM/HRM code on a CPU, with its own training step (``pretrain.train_batch``).

Used by ``tests/golden_train/generate.py`` (the training parity fixtures) and ``benchmarks/train_parity.py``
(learning curves of both codes). Needs a checkout of the official repository (``--official PATH``) and its
model dependencies (``einops``, ``pydantic``); nothing of it is copied here.

The official ``pretrain.py`` imports a CUDA extension and services at module level; :func:`import_official`
substitutes exactly these and nothing else:

* ``adam_atan2.AdamATan2`` -> :class:`ReferenceAdamATan2`: the algorithm of the reference implementation in
  the ``adam-atan2`` package's own test file (``_adam_atan2_reference_impl``), per element in float32;
* ``wandb``, ``coolname``, ``hydra``, ``omegaconf``, ``argdantic``: empty stand-ins (the training step and the
  dataset do not use them);
* ``Tensor.cuda`` -> identity while ``train_batch`` runs (it moves each batch to CUDA); the carry is created
  before the first call (the official code creates it under ``torch.device("cuda")``); no ``torch.compile``
  (``DISABLE_COMPILE``).
"""

from __future__ import annotations

import math
import os
import sys
import types
from pathlib import Path

import torch

from trm.parity import TRAIN_KEYS


class ReferenceAdamATan2(torch.optim.Optimizer):
    """Stand-in for the CUDA ``adam_atan2.AdamATan2``: the package test's reference algorithm, per step t
    ``θ ← θ·(1 − lr·wd); m ← lerp(m, g, 1 − β1); v ← β2·v + (1 − β2)·g²;
    θ ← θ − lr/(1 − β1ᵗ) · atan2(m, sqrt(v)/sqrt(1 − β2ᵗ))``, in float32, the step count a float32 tensor."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-2):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = float(state["step"])
                step_size = lr / (1 - beta1**t)
                bias_correction2_sqrt = math.sqrt(1 - beta2**t)
                p.mul_(1 - lr * wd)
                state["exp_avg"].lerp_(p.grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = state["exp_avg_sq"].sqrt() / bias_correction2_sqrt
                p.add_(torch.atan2(state["exp_avg"], denom), alpha=-step_size)


def import_official(path: str | os.PathLike) -> types.SimpleNamespace:
    """Make the official checkout importable (with the stand-ins above) and return its modules."""
    root = Path(path).resolve()
    if not (root / "pretrain.py").is_file() or not (root / "models").is_dir():
        raise SystemExit(f"error: {root} is not a checkout of the official TinyRecursiveModels code")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))

    def stand_in(name, **attrs):
        if name not in sys.modules:
            m = types.ModuleType(name)
            m.__dict__.update(attrs)
            sys.modules[name] = m

    stand_in("adam_atan2", AdamATan2=ReferenceAdamATan2)
    stand_in("wandb", run=None)
    stand_in("coolname", generate_slug=lambda n: "parity")
    stand_in("hydra", main=lambda **kw: lambda fn: fn)
    stand_in("omegaconf", DictConfig=dict)
    stand_in("argdantic", ArgParser=object)
    os.environ["DISABLE_COMPILE"] = "1"
    import pretrain
    from models.ema import EMAHelper
    from models.losses import ACTLossHead
    from models.sparse_embedding import CastedSparseEmbeddingSignSGD_Distributed
    from utils.functions import load_model_class

    return types.SimpleNamespace(
        pretrain=pretrain,
        EMAHelper=EMAHelper,
        ACTLossHead=ACTLossHead,
        SignSGD=CastedSparseEmbeddingSignSGD_Distributed,
        load_model_class=load_model_class,
    )


def model_kwargs(arch: dict) -> dict:
    """The official model's config dict from an arch dict (our ``model``/``name``/``loss`` keys dropped)."""
    return {k: v for k, v in arch.items() if k not in ("model", "name", "loss")} | {"causal": False}


def live_halting_state(off: types.SimpleNamespace, arch: dict, seed: int) -> dict[str, torch.Tensor]:
    """The official initialisation (after ``torch.manual_seed(seed)``), then the halting head made live and the
    puzzle table (if any) non-zero, from a generator seeded ``seed + 1``: the official zero Q weight / -5 bias
    would never halt a row early, and a zero table would hide its decay. The training fixtures and
    ``train_parity.py --lockstep`` start from it."""
    torch.manual_seed(seed)
    model = off.load_model_class(arch["name"])(model_kwargs(arch | {"halt_exploration_prob": 0.0}))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        inner = model.inner
        inner.q_head.weight.copy_(
            torch.randn(inner.q_head.weight.shape, generator=g) / math.sqrt(arch["hidden_size"])
        )
        inner.q_head.bias.copy_(torch.tensor([0.2, -0.2]))
        if arch.get("puzzle_emb_ndim", 0) > 0:
            inner.puzzle_emb.weights.copy_(0.5 * torch.randn(inner.puzzle_emb.weights.shape, generator=g))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class OfficialRun:
    """One official training run: the official model + ``ACTLossHead``, its two optimizers, ``EMAHelper`` and
    ``pretrain.train_batch``; ``arch`` is an official arch config (with ``name`` = the model class identifier,
    e.g. ``recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1``), ``train`` the pretrain keys
    (``lr`` ... ``ema_rate``, ``total_steps``). ``state`` replaces the initial weights; otherwise they are the
    official initialisation after ``torch.manual_seed(seed)``, as ``pretrain.launch`` seeds."""

    def __init__(self, off: types.SimpleNamespace, arch: dict, train: dict, seed: int = 0, state=None):
        self.off = off
        loss = arch.get("loss", {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"})
        self.config = off.pretrain.PretrainConfig(
            arch={"name": arch["name"], "loss": loss},
            data_paths=[],
            epochs=1,
            ema=True,
            seed=seed,
            **{k: v for k, v in train.items() if k in _PRETRAIN_KEYS},
        )
        torch.manual_seed(seed)
        model = off.load_model_class(arch["name"])(model_kwargs(arch))
        self.model = off.ACTLossHead(model, loss_type=loss["loss_type"])
        if state is not None:
            self.model.model.load_state_dict(state)
        c = self.config
        dense = ReferenceAdamATan2(
            self.model.parameters(), lr=0, weight_decay=c.weight_decay, betas=(c.beta1, c.beta2)
        )
        if arch.get("puzzle_emb_ndim", 0) > 0:
            table = off.SignSGD(
                self.model.model.puzzle_emb.buffers(),
                lr=0,
                weight_decay=c.puzzle_emb_weight_decay,
                world_size=1,
            )
            optimizers, lrs = [table, dense], [c.puzzle_emb_lr, c.lr]
        else:
            optimizers, lrs = [dense], [c.lr]
        self.optimizers = optimizers
        self.state = off.pretrain.TrainState(
            model=self.model,
            optimizers=optimizers,
            optimizer_lrs=lrs,
            carry=None,
            step=0,
            total_steps=int(train["total_steps"]),
        )
        self.ema = off.EMAHelper(mu=c.ema_rate)
        self.ema.register(self.model)
        self.model.train()

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float] | None:
        """One call of ``pretrain.train_batch`` (and the EMA update after it, as ``pretrain.launch`` does);
        returns its logged metrics (``train/...``)."""
        if self.state.carry is None:
            self.state.carry = self.model.initial_carry(batch)
        cuda = torch.Tensor.cuda
        torch.Tensor.cuda = lambda t, *a, **kw: t
        try:
            out = self.off.pretrain.train_batch(
                self.config, self.state, batch, self.config.global_batch_size, rank=0, world_size=1
            )
        finally:
            torch.Tensor.cuda = cuda
        self.ema.update(self.model)
        return out

    @torch.no_grad()
    def evaluate(self, batches) -> dict[str, float]:
        """Exact and token accuracy of the EMA weights, official evaluation: every row runs all N_sup steps
        (the loop of ``pretrain.evaluate``), metrics from ``ACTLossHead`` of the last step."""
        model = self.ema.ema_copy(self.model)
        model.eval()
        sums: dict[str, float] = {}
        for batch in batches:
            carry = model.initial_carry(batch)
            while True:
                carry, _, metrics, _, done = model(carry=carry, batch=batch, return_keys=[])
                if done:
                    break
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        count = max(sums.get("count", 0.0), 1.0)
        return {"exact_accuracy": sums["exact_accuracy"] / count, "accuracy": sums["accuracy"] / count}


# the pretrain config keys of TRAIN.json (trm.parity); total_steps goes to the TrainState, not the config
_PRETRAIN_KEYS = tuple(k for k in TRAIN_KEYS if k != "total_steps")
