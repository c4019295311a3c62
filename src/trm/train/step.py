"""One optimizer step (one ACT call; docs/PARITY.md), the model/optimizer/EMA set-up, and the speed switches.

Every switch defaults to the official behaviour; the fast recipes (presets ``*_fast`` and the CPU demo) turn
some of them on: Muon for the hidden matrices, gradient clipping, the halting-loss weight, a curriculum over
the recursion depth and decaying supervision-step weights (CGAR), label smoothing, training noise (EqR), an EMA
whose decay ramps up, and the whole step compiled (``train.compile=step``).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import fields, replace

import torch

from ..config import Config, ModelConfig, parse_depth_curriculum
from ..hardware import Setup, choose_train_setup, fused_kernels
from ..model import TRM, act_loss
from ..model.layers import inductor_isa_options
from ..model.losses import step_weights
from ..model.recursive import Batch, Carry
from ..utils import seed_everything
from . import distributed as D
from .ema import EMA
from .optim import PuzzleEmbeddingSignSGD, build_dense_optimizer
from .schedule import lr_at

# the per-step metric sums kept on the device between logging intervals, by the names the loss function gives
# them (and the official code logs); "loss" is the optimized total (its halting weight, CGAR weights included)
METRICS = (
    "count",
    "accuracy",
    "exact_accuracy",
    "q_halt_accuracy",
    "steps",
    "lm_loss",
    "q_halt_loss",
    "q_continue_loss",
    "loss",
)
LOSS_METRICS = tuple(k for k in METRICS if k.endswith("loss"))


def reduce_metrics(sums: dict[str, float], global_batch: int, steps: int = 1) -> dict[str, float]:
    """Metric sums of ``steps`` optimizer steps -> the logged means, as the official trainer divides them:
    losses per example of the global batch (and per step), everything else per halted row counted."""
    count = max(sums["count"], 1.0)
    return {k: v / (global_batch * steps if k in LOSS_METRICS else count) for k, v in sums.items()}


_log = logging.getLogger(__name__)


class TrainStep:
    """One optimizer step = one ACT call (docs/PARITY.md), usable on its own (benchmarks) and by the trainer.

    ``carry, loss, sums = step(carry, batch, k)`` runs the supervision step of every row, backpropagates the
    loss divided by the global batch, updates the dense parameters with the schedule's learning rate for the
    k-th update (1-based), the used rows of the puzzle table by sign-SGD and the EMA. ``sums`` holds the
    per-step metric sums of :data:`METRICS` on the device (no host synchronisation).

    ``train.compile=step`` compiles :meth:`update` (forward, loss, backward, clipping, dense optimizer) as
    one function with static shapes, CUDA graphs on CUDA; the learning rates then live in 0-d tensors that the
    schedule fills, so changing them never recompiles. Sign-SGD and the EMA stay eager (a few kernels).
    """

    def __init__(
        self,
        model: TRM,
        opt: torch.optim.Optimizer,
        puzzle_opt: PuzzleEmbeddingSignSGD | None,
        ema: EMA | None,
        cfg: Config,
        total_steps: int,
        dist: D.DistInfo | None = None,
        note: Callable[[str], None] = _log.info,
    ):
        self.model, self.opt, self.puzzle_opt, self.ema = model, opt, puzzle_opt, ema
        self.cfg, self.total_steps = cfg, total_steps
        self.dist = dist or D.DistInfo()
        self.global_batch = cfg.train.loop.global_batch_size
        self.curriculum = [
            (round(f * total_steps), T, n)
            for f, T, n in parse_depth_curriculum(cfg.train.recipe.depth_curriculum)
        ]
        device = model.y_init.device
        weights = step_weights(cfg.model.N_sup, cfg.train.recipe.step_weight_decay)
        self.weights = None if weights is None else weights.to(device)
        self.ddp_model: torch.nn.Module = model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            # the puzzle table is a buffer that every rank updates identically: no buffer broadcast per forward
            no_sync = (
                {"forward_sync_buffers": False}
                if "forward_sync_buffers" in inspect.signature(DDP).parameters
                else {"broadcast_buffers": False}
            )
            self.ddp_model = DDP(model, **no_sync)
        mode = cfg.train.system.compile
        self.cuda_graphs = mode == "step" and device.type == "cuda"
        self.forward_loss = _MaybeCompiled(self._forward_loss, note) if mode == "loss" else self._forward_loss
        self.update = self._update
        if mode == "step":
            for group in opt.param_groups:
                group["lr"] = torch.tensor(float(group["lr"]), device=device)
            self.update = _MaybeCompiled(self._update, note, self.cuda_graphs, on_failure=self.opt.zero_grad)
            note("train.compile=step: the first step (and each curriculum stage's first) compiles the step")

    def depth_at(self, k: int) -> tuple[int, int] | None:
        """(T, n) of the k-th update under the depth curriculum (None: the model's own)."""
        depth = None
        for start, T, n in self.curriculum:
            if k > start:
                depth = (T, n)
        return depth

    def _forward_loss(self, carry: Carry, batch: Batch):
        carry, outputs = self.ddp_model(carry, batch)
        t = self.cfg.train.recipe
        loss, metrics = act_loss(
            carry,
            outputs,
            loss=self.cfg.model.loss,
            halt_weight=t.halt_loss_weight,
            smoothing=t.label_smoothing,
            weights=self.weights,
        )
        metrics["loss"] = loss.detach()
        zero = torch.zeros((), dtype=torch.float64, device=loss.device)
        return carry, loss, torch.stack([metrics.get(k, zero).to(torch.float64) for k in METRICS])

    def _with_noise(self, carry: Carry, batch: Batch) -> Carry:
        """Training noise (EqR): halted rows are reset here, their y, z starting at y_init, z_init plus
        N(0, init_noise²); every row's z gets N(0, latent_noise²). The model then sees no halted row."""
        t = self.cfg.train.recipe
        carry = self.model.reset_rows(carry, batch)
        y, z = carry.y, carry.z
        if t.init_noise:
            fresh = (carry.halted.view(-1, 1, 1) * t.init_noise).to(y.dtype)
            y, z = y + fresh * torch.randn_like(y), z + fresh * torch.randn_like(z)
        if t.latent_noise:
            z = z + t.latent_noise * torch.randn_like(z)
        return replace(carry, y=y, z=z, halted=torch.zeros_like(carry.halted))

    def _update(self, carry: Carry, batch: Batch) -> tuple[Carry, torch.Tensor, torch.Tensor]:
        r = self.cfg.train.recipe
        if r.init_noise or r.latent_noise:
            carry = self._with_noise(carry, batch)
        carry, loss, sums = self.forward_loss(carry, batch)
        # DDP averages gradients over ranks: scale so that the result is Σ_ranks loss / global batch
        (loss * (self.dist.world_size / self.global_batch)).backward()
        clip = self.cfg.train.optim.grad_clip
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.dense_parameters(), clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return carry, loss.detach(), sums

    def __call__(self, carry: Carry, batch: Batch, k: int) -> tuple[Carry, torch.Tensor, torch.Tensor]:
        t = self.cfg.train.optim
        if self.curriculum:
            self.model.train_depth = self.depth_at(k)
        for group in self.opt.param_groups:
            lr = lr_at(k, group.get("base_lr", t.lr), t.lr_warmup_steps, self.total_steps, t.lr_min_ratio)
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
        carry, loss, sums = self.update(carry, batch)
        if self.cuda_graphs:  # outputs of a CUDA graph are overwritten by its next replay
            carry = Carry(**{f.name: _clone(getattr(carry, f.name)) for f in fields(carry)})
            loss, sums = loss.clone(), sums.clone()
        if self.puzzle_opt is not None:
            emb = self.model.puzzle_emb
            plr = lr_at(k, t.puzzle_emb_lr, t.lr_warmup_steps, self.total_steps, t.lr_min_ratio)
            self.puzzle_opt.step(emb.local_ids, emb.local_weights.grad, plr, self.dist.group)
            emb.local_ids = emb.local_weights = None
        if self.ema is not None:
            self.ema.update(self.model, k)
        return carry, loss, sums


def _clone(v):
    return {k: t.clone() for k, t in v.items()} if isinstance(v, dict) else v.clone()


def use_fused_kernels(cfg: Config, dtype: torch.dtype) -> bool:
    """Whether the blocks' elementwise parts run as compiled fused kernels (``train.kernels``)."""
    return fused_kernels(cfg.train.system.kernels, dtype, cfg.train.system.compile)


def build_training(
    cfg: Config,
    device: torch.device,
    dtype: torch.dtype,
    total_steps: int,
    dist: D.DistInfo | None = None,
    note: Callable[[str], None] = _log.info,
    model: TRM | None = None,
) -> tuple[TRM, torch.optim.Optimizer, PuzzleEmbeddingSignSGD | None, EMA | None, TrainStep]:
    """Model (seeded by ``cfg.train.loop.seed``; or ``model``, e.g. with imported weights), optimizers, EMA (starting
    from the model's weights) and the step function for ``cfg``."""
    seed_everything(cfg.train.loop.seed)
    model = (TRM(cfg.model, dtype=dtype) if model is None else model).to(device)
    model.train()
    if use_fused_kernels(cfg, dtype):
        model.use_fused_kernels(True)
    o = cfg.train.optim
    opt = build_dense_optimizer(model, o)
    puzzle_opt = (
        PuzzleEmbeddingSignSGD(model.puzzle_emb.weight, o.puzzle_emb_weight_decay)
        if hasattr(model, "puzzle_emb")
        else None
    )
    ema = EMA(model, o.ema_rate, warmup=o.ema_warmup) if o.ema else None
    step = TrainStep(model, opt, puzzle_opt, ema, cfg, total_steps, dist=dist, note=note)
    return model, opt, puzzle_opt, ema, step


def random_batch(m: ModelConfig, batch: int, device: torch.device, generator: torch.Generator) -> Batch:
    """Random tokens of the model's shape (inputs, labels, puzzle identifiers): for timing a step without data."""
    inputs = torch.randint(1, m.vocab_size, (batch, m.seq_len), generator=generator, dtype=torch.int32)
    labels = torch.randint(2, m.vocab_size, (batch, m.seq_len), generator=generator, dtype=torch.int32)
    ids = torch.randint(0, m.num_puzzle_identifiers, (batch,), generator=generator, dtype=torch.int32)
    return {k: v.to(device) for k, v in (("inputs", inputs), ("labels", labels), ("puzzle_identifiers", ids))}


def time_train_step(cfg: Config, device: torch.device, repeats: int = 2, warmup: int = 1) -> float:
    """Seconds per training step of ``cfg`` on ``device`` (the fastest of ``repeats`` timed steps after
    ``warmup`` untimed ones) on random tokens of the model's shape, at the deepest depth of a curriculum.
    Nothing of the caller's random state or model is touched (the global RNG is saved and restored)."""
    from ..utils import resolve_dtype

    rng = torch.get_rng_state()
    try:
        trial = cfg.override(["train.optim.ema=false"])
        model, _, _, _, step = build_training(
            trial,
            device,
            resolve_dtype(trial.train.system.dtype, device),
            total_steps=10**6,
            note=lambda _: None,
        )
        batch = random_batch(
            cfg.model, cfg.train.loop.global_batch_size, device, torch.Generator().manual_seed(0)
        )
        carry = model.initial_carry(batch)
        k = 10**6 if step.curriculum else 1  # past every start of the curriculum: its final depth
        times = []
        for _ in range(warmup + repeats):
            t0 = time.perf_counter()
            carry, loss, _ = step(carry, batch, k)
            float(loss)  # waits for an accelerator
            times.append(time.perf_counter() - t0)
        return min(times[warmup:])
    finally:
        torch.set_rng_state(rng)


def autotune_cpu_setup(cfg: Config, device: torch.device, note: Callable[[str], None] = _log.info) -> Config:
    """``cfg`` with ``train.dtype`` and ``train.kernels`` set to the fastest set-up measured on this CPU (the
    choice and its rules are :func:`trm.hardware.choose_train_setup`'s; this supplies the real step to time);
    unchanged where the chooser does not choose."""
    from ..model import layers

    def time_step(setup: Setup) -> float:
        trial = cfg.override([f"train.system.dtype={setup.dtype}", f"train.system.kernels={setup.kernels}"])
        sec = time_train_step(trial, device, repeats=3 if setup.kernels == "fused" else 2)
        if setup.kernels == "fused" and (
            layers.fused_add_rms_norm.failed or layers.fused_swiglu_activation.failed
        ):
            raise RuntimeError("compiling the fused kernels failed")
        return sec

    chosen = choose_train_setup(cfg, device, time_step, log=note)
    if chosen is None:
        return cfg
    return cfg.override([f"train.system.dtype={chosen.dtype}", f"train.system.kernels={chosen.kernels}"])


class _MaybeCompiled:
    """``torch.compile(fn)`` with static shapes (CUDA graphs with ``cuda_graphs``), falling back to eager with
    one note if the first call fails to compile (``on_failure`` then undoes what the failed call left, such as
    accumulated gradients, before ``fn`` runs eagerly)."""

    def __init__(
        self,
        fn: Callable,
        note: Callable[[str], None],
        cuda_graphs: bool = False,
        on_failure: Callable[[], object] | None = None,
    ):
        self.fn, self.note, self.cuda_graphs, self.on_failure = fn, note, cuda_graphs, on_failure
        if cuda_graphs:  # torch.compile takes a mode or options, not both
            self.compiled = torch.compile(fn, dynamic=False, mode="reduce-overhead")
        else:  # the CPU vector width in the cache key (see inductor_isa_options)
            self.compiled = torch.compile(fn, dynamic=False, options=inductor_isa_options())
        self.checked = False

    def __call__(self, *args):
        if self.compiled is None:
            return self.fn(*args)
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        if self.checked:
            return self.compiled(*args)
        try:
            out = self.compiled(*args)
        except Exception as e:  # compilation errors come in many types (backend, inductor, C++ toolchain)
            self.note(
                f"torch.compile failed ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                "continuing without compilation"
            )
            self.compiled = None
            if self.on_failure is not None:
                self.on_failure()
            return self.fn(*args)
        self.checked = True
        return out
