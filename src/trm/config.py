"""Typed, strict, saved configuration.

Every config is a dataclass whose fields carry a docstring-like ``help`` in their metadata; unknown keys are
rejected, values are validated, and the resolved config is saved next to every checkpoint and run.

Paper notation is used for field names where the paper has one (``T``, ``n``, ``N_sup``); the official code's
names are accepted on import through :mod:`trm.model.official`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .typed import ConfigError, _check, _set_dotted, _split_override, field_help, from_dict

__all__ = ["Config", "ConfigError", "DataConfig", "EvalConfig", "ModelConfig", "TrainConfig", "field_help"]


def _f(default: Any, help: str, **kw: Any) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


def find_multiple(a: int, b: int) -> int:
    """Smallest multiple of ``b`` that is >= ``a``."""
    return -(a // -b) * b


def swiglu_width(k: int, expansion: float, multiple: int = 256) -> int:
    """Intermediate width m of a SwiGLU acting on an axis of size k (SPEC §2: rounded up to a multiple of 256)."""
    return find_multiple(round(expansion * k * 2 / 3), multiple)


def parse_depth_curriculum(text: str) -> list[tuple[float, int, int]]:
    """``"0:1,2;0.3:2,3"`` -> ``[(0.0, 1, 2), (0.3, 2, 3)]`` (start fraction of training, T, n), sorted."""
    if not text.strip():
        return []
    out = []
    for part in text.split(";"):
        try:
            frac, depth = part.split(":")
            T, n = (int(v) for v in depth.split(","))
            out.append((float(frac), T, n))
        except ValueError:
            raise ConfigError(
                f"train.depth_curriculum: cannot read {part!r}; expected 'F:T,n;F:T,n;...' "
                "such as '0:1,2;0.3:2,3'"
            ) from None
    out.sort()
    if out[0][0] != 0.0 or any(not 0.0 <= f < 1.0 or T < 1 or n < 1 for f, T, n in out):
        raise ConfigError(
            "train.depth_curriculum: fractions must start at 0 and be in [0, 1); T, n must be >= 1"
        )
    return out


@dataclass
class ModelConfig:
    """The network, its recursion and its halting wrapper (SPEC §2–3)."""

    arch: Literal["trm", "hrm"] = _f(
        "trm", "trm: one tiny net, deep recursion; hrm: H and L nets, 1-step grad"
    )
    vocab_size: int = _f(11, "V: token vocabulary size including PAD (0)")
    seq_len: int = _f(81, "number of token positions, excluding the puzzle-embedding prefix")
    hidden_size: int = _f(512, "D: hidden width")
    num_heads: int = _f(8, "attention heads (attention mixer only)")
    expansion: float = _f(4.0, "SwiGLU expansion factor")
    swiglu_multiple: int = _f(256, "SwiGLU widths are rounded up to a multiple of this (256 in the paper)")
    num_layers: int = _f(2, "blocks in the tiny net (official L_layers; HRM: blocks in L_net)")
    h_layers: int = _f(4, "HRM only: blocks in H_net (official H_layers)")
    T: int = _f(3, "recursions per supervision step (official H_cycles); the first T-1 run without gradient")
    n: int = _f(6, "latent updates per recursion (official L_cycles)")
    N_sup: int = _f(16, "maximum supervision steps (official halt_max_steps)")
    mixer: Literal["attention", "mlp_t"] = _f(
        "attention", "token mixing: self-attention or an MLP over positions"
    )
    pos_encodings: Literal["rope", "learned", "none"] = _f("rope", "positional encoding")
    rope_theta: float = _f(10000.0, "RoPE base")
    rms_norm_eps: float = _f(1e-5, "epsilon of the (unscaled) RMS norm")
    puzzle_emb_ndim: int = _f(512, "width of a puzzle-embedding row (0 = no puzzle embedding, no prefix)")
    puzzle_emb_len: int = _f(16, "prefix positions P (0 = ceil(puzzle_emb_ndim / D); HRM always uses that)")
    num_puzzle_identifiers: int = _f(1, "rows of the puzzle-embedding table (identifier 0 is the blank id)")
    halt_exploration_prob: float = _f(
        0.1, "probability per row of a random minimum number of steps in training"
    )
    act_continue: bool = _f(
        False,
        "halt on q_halt > q_continue and learn q_continue with the Q-learning target "
        "(HRM always does; for TRM this is the 'with continue loss' ablation, official no_ACT_continue=False)",
    )
    loss: Literal["stablemax", "softmax"] = _f("stablemax", "cross entropy used for the answer tokens")
    swiglu_norm: bool = _f(
        False, "RMS-normalise the SwiGLU intermediate before its down projection (SIC); off in the paper"
    )

    @property
    def prefix_len(self) -> int:
        """P: number of puzzle-embedding prefix positions."""
        if self.puzzle_emb_ndim == 0:
            return 0
        if self.arch == "hrm" or self.puzzle_emb_len == 0:
            return -(self.puzzle_emb_ndim // -self.hidden_size)
        return self.puzzle_emb_len

    @property
    def total_len(self) -> int:
        """L: sequence length including the prefix."""
        return self.seq_len + self.prefix_len

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def uses_continue(self) -> bool:
        return self.arch == "hrm" or self.act_continue

    def validate(self) -> None:
        _check(self.arch in ("trm", "hrm"), "model.arch", f"must be 'trm' or 'hrm', got {self.arch!r}")
        _check(
            self.mixer in ("attention", "mlp_t"),
            "model.mixer",
            f"must be 'attention' or 'mlp_t', got {self.mixer!r}",
        )
        _check(
            self.pos_encodings in ("rope", "learned", "none"),
            "model.pos_encodings",
            f"must be 'rope', 'learned' or 'none', got {self.pos_encodings!r}",
        )
        _check(
            self.loss in ("stablemax", "softmax"),
            "model.loss",
            f"must be 'stablemax' or 'softmax', got {self.loss!r}",
        )
        for key in ("vocab_size", "seq_len", "hidden_size", "num_heads", "num_layers", "T", "n", "N_sup"):
            _check(getattr(self, key) >= 1, f"model.{key}", f"must be >= 1, got {getattr(self, key)}")
        _check(self.h_layers >= 1 or self.arch == "trm", "model.h_layers", "HRM needs at least one H block")
        _check(self.expansion > 0, "model.expansion", "must be > 0")
        _check(self.swiglu_multiple >= 1, "model.swiglu_multiple", "must be >= 1")
        _check(self.puzzle_emb_ndim >= 0, "model.puzzle_emb_ndim", "must be >= 0")
        _check(self.puzzle_emb_len >= 0, "model.puzzle_emb_len", "must be >= 0")
        _check(
            self.num_puzzle_identifiers >= 1,
            "model.num_puzzle_identifiers",
            "must be >= 1 (0 is the blank id)",
        )
        _check(0.0 <= self.halt_exploration_prob <= 1.0, "model.halt_exploration_prob", "must be in [0, 1]")
        if self.puzzle_emb_ndim > 0:
            _check(
                self.puzzle_emb_ndim <= self.prefix_len * self.hidden_size,
                "model.puzzle_emb_len",
                f"prefix of {self.prefix_len} x {self.hidden_size} cannot hold a {self.puzzle_emb_ndim}-wide embedding",
            )
        if self.mixer == "attention":
            _check(
                self.hidden_size % self.num_heads == 0,
                "model.num_heads",
                f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}",
            )
            if self.pos_encodings == "rope":
                _check(self.head_dim % 2 == 0, "model.num_heads", "RoPE needs an even head dimension")


@dataclass
class DataConfig:
    """Where the training data lives and how it is sampled (SPEC §6)."""

    path: str = _f("", "dataset directory in the official layout (train/ and test/ inside)")
    test_split: str = _f(
        "test", "held-out split, scored once at the end of training (eval.select_on=test: also during it)"
    )
    val_split: str = _f(
        "val",
        "validation split: evaluated during training, it decides early stopping and checkpoints/best; "
        "a dataset without it gets one carved from its training groups (data.val_groups)",
    )
    val_groups: int = _f(
        500,
        "datasets without a validation split: hold out this many training groups (a puzzle with all its "
        "augmented copies; at most a tenth of them, at least one, seeded by train.seed) for validation, never trained on; "
        "0 = none (then the dataset needs a val split, or eval.select_on=test)",
    )
    val_limit: int = _f(
        0, "evaluate during training on a fixed random subset of this many validation examples (0 = all)"
    )
    augment_on_the_fly: bool = _f(False, "apply random symmetry augmentation when sampling (Sudoku/Maze)")
    test_limit: int = _f(
        0,
        "score the test split on a fixed random subset of this many examples (0 = all): the final score, "
        "and with eval.select_on=test the evaluations during training",
    )


@dataclass
class TrainConfig:
    """Optimisation and the training loop (SPEC §3–5)."""

    global_batch_size: int = _f(768, "examples per optimizer step, summed over all ranks")
    epochs: int = _f(50000, "passes over the training groups")
    max_steps: int = _f(0, "stop after this many optimizer steps (0 = derived from epochs)")
    max_minutes: float = _f(0.0, "stop after this much wall-clock training time (0 = no limit)")
    target_accuracy: float = _f(
        0.0, "stop at the first evaluation whose exact accuracy reaches this (0 = never)"
    )
    lr: float = _f(1e-4, "peak learning rate of the dense parameters")
    lr_min_ratio: float = _f(
        1.0, "cosine floor as a fraction of lr (1.0 = constant after warm-up, as in the paper)"
    )
    lr_warmup_steps: int = _f(2000, "linear warm-up steps")
    beta1: float = _f(0.9, "first-moment decay")
    beta2: float = _f(0.95, "second-moment decay")
    weight_decay: float = _f(1.0, "decoupled weight decay of the dense parameters")
    optimizer: Literal["adam_atan2", "adamw", "muon"] = _f(
        "adam_atan2",
        "dense optimizer; muon = Muon on the hidden weight matrices, AdamW (train.lr) on the rest",
    )
    muon_lr: float = _f(0.02, "learning rate of the Muon parameter group (train.optimizer=muon)")
    muon_weight_decay: float | None = _f(None, "weight decay of the Muon group (null: train.weight_decay)")
    grad_clip: float = _f(
        0.0, "clip the dense gradients to this global norm (0 = no clipping, as in the paper)"
    )
    halt_loss_weight: float = _f(
        0.5, "weight of the halting (and continue) BCE in the total loss (0.5 in the paper)"
    )
    step_weight_decay: float = _f(
        1.0,
        "loss weight of supervision step s is d^(s-1), scaled to mean 1 over N_sup steps (CGAR); "
        "1 = every step weighs the same (paper)",
    )
    label_smoothing: float = _f(0.0, "label smoothing of the answer-token cross entropy (0 in the paper)")
    init_noise: float = _f(
        0.0, "std of Gaussian noise added to y_init, z_init when a row starts a puzzle in training (EqR)"
    )
    latent_noise: float = _f(
        0.0, "std of Gaussian noise added to z before every supervision step in training"
    )
    depth_curriculum: str = _f(
        "",
        "training depth schedule 'F:T,n;F:T,n;...': from fraction F of the training steps on, the recursion "
        "uses T, n (CGAR); empty = the model's T, n throughout. Evaluation always uses the model's T, n",
    )
    puzzle_emb_lr: float = _f(1e-4, "sign-SGD learning rate of the puzzle-embedding table")
    puzzle_emb_weight_decay: float = _f(1.0, "weight decay of the puzzle-embedding table")
    ema: bool = _f(True, "keep an exponential moving average of the dense weights for evaluation and saving")
    ema_rate: float = _f(0.999, "EMA decay per optimizer step")
    ema_warmup: bool = _f(
        False, "ramp the EMA decay as min(ema_rate, (1 + k) / (10 + k)) over the first steps"
    )
    eval_interval: int = _f(5000, "evaluate every this many epochs (0 = only at the end)")
    eval_interval_steps: int = _f(
        0, "evaluate every this many optimizer steps (overrides eval_interval if > 0)"
    )
    checkpoint_every_eval: bool = _f(True, "save the last checkpoint at every evaluation")
    seed: int = _f(0, "seed of every random choice (init, sampler, exploration)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _f(
        "auto", "forward dtype: auto = bfloat16 on CUDA, float32 elsewhere"
    )
    device: str = _f("auto", "auto, cpu, cuda, cuda:N or mps")
    compile: Literal["off", "loss", "step"] = _f(
        "off",
        "torch.compile: loss = the forward and loss (and so their backward); step = the whole optimizer step "
        "(forward, backward, clipping, dense optimizer; CUDA graphs on CUDA), static shapes; falls back to "
        "eager if compilation fails. true/false are read as loss/off",
    )
    kernels: Literal["auto", "eager", "fused"] = _f(
        "auto",
        "elementwise kernels of the blocks: fused = compiled SwiGLU activation and residual + RMS norm; "
        "auto = fused when training in bfloat16/float16 without train.compile, eager otherwise",
    )
    autotune: bool = _f(
        False,
        "on the CPU, choose dtype and kernels by timing the real step for each candidate "
        "(a few seconds; cached per machine in ~/.cache/trm); only with dtype and kernels 'auto'",
    )
    log_interval: int = _f(10, "steps between console/JSONL metric lines")
    tensorboard: bool = _f(False, "also log to TensorBoard (needs the tensorboard package)")
    wandb: bool = _f(False, "also log to Weights & Biases (needs the wandb package)")
    project: str = _f("trm", "W&B project name")


@dataclass
class EvalConfig:
    """The inference protocol of this run (SPEC §3, §7): ``trm eval`` and ``trm solve`` of the run start from
    these settings and its model card states them. Unset (null) fields take the library's defaults, declared
    with their bounds in :class:`trm.infer.engine.Settings`; command-line flags override both."""

    mode: Literal["official", "adaptive"] | None = _f(
        None,
        "official: every puzzle runs max_steps steps; adaptive: "
        "a puzzle stops once sigmoid(q_halt) > threshold",
    )
    threshold: float | None = _f(None, "adaptive halting threshold on sigmoid(q_halt), in (0, 1)")
    max_steps: int | None = _f(
        None, "supervision steps (null or 0: the model's N_sup; larger = test-time depth)"
    )
    batch_size: int = _f(256, "rows per forward pass at evaluation (the trainer's evaluations too)")
    samples: int | None = _f(None, "trajectories per puzzle (K > 1: noisy latent sampling)")
    noise: float | None = _f(None, "std of the latent noise of the extra trajectories")
    # a name registered in trm.infer.selectors, checked there when the run is evaluated or served: config sits
    # below the inference layer, and a run naming a plug-in selector loads where that plug-in is not registered
    select: str | None = _f(
        None,
        "how one answer is chosen among trajectories and symmetric copies: a selector's name, see --select "
        "of trm eval (formerly 'vote')",
    )
    augment_votes: int | None = _f(
        None, "symmetric copies per puzzle for augmentation voting (null, 0 or 1: off)"
    )
    select_on: Literal["val", "test"] = _f(
        "val",
        "split the trainer evaluates on during training, stops early on (train.target_accuracy) and keeps "
        "checkpoints/best by: val (data.val_split), or test for the official protocol (paper comparisons; "
        "the test score is then no longer an unbiased estimate)",
    )

    def options(self) -> dict[str, Any]:
        """The inference options this section sets, by their :class:`trm.infer.engine.Settings` names."""
        out = {k: getattr(self, k) for k in ("mode", "threshold", "samples", "noise", "select", "batch_size")}
        out["max_steps"] = self.max_steps or None  # 0 meant N_sup in configs saved before null did
        out["augment"] = self.augment_votes or None
        return {k: v for k, v in out.items() if v is not None}


@dataclass
class Config:
    """Everything a run needs; saved as ``config.json``."""

    name: str = _f("custom", "preset or run name")
    task: str = _f("custom", "sudoku, maze, arc or custom")
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self) -> Config:
        self.model.validate()
        t = self.train
        _check(t.global_batch_size >= 1, "train.global_batch_size", "must be >= 1")
        _check(t.lr > 0, "train.lr", "must be > 0")
        _check(0.0 <= t.lr_min_ratio <= 1.0, "train.lr_min_ratio", "must be in [0, 1]")
        _check(0.0 <= t.ema_rate < 1.0, "train.ema_rate", "must be in [0, 1)")
        _check(
            t.dtype in ("auto", "float32", "bfloat16", "float16"), "train.dtype", f"unknown dtype {t.dtype!r}"
        )
        _check(
            t.optimizer in ("adam_atan2", "adamw", "muon"),
            "train.optimizer",
            f"unknown optimizer {t.optimizer!r}",
        )
        _check(t.kernels in ("auto", "eager", "fused"), "train.kernels", f"unknown kernels {t.kernels!r}")
        _check(t.grad_clip >= 0, "train.grad_clip", "must be >= 0")
        _check(0.0 <= t.target_accuracy <= 1.0, "train.target_accuracy", "must be in [0, 1]")
        _check(t.halt_loss_weight >= 0, "train.halt_loss_weight", "must be >= 0")
        _check(t.step_weight_decay > 0, "train.step_weight_decay", "must be > 0")
        _check(0.0 <= t.label_smoothing < 1.0, "train.label_smoothing", "must be in [0, 1)")
        _check(t.init_noise >= 0, "train.init_noise", "must be >= 0")
        _check(t.latent_noise >= 0, "train.latent_noise", "must be >= 0")
        _check(
            t.muon_weight_decay is None or t.muon_weight_decay >= 0, "train.muon_weight_decay", "must be >= 0"
        )
        _check(t.compile in ("off", "loss", "step"), "train.compile", "must be off, loss or step")
        parse_depth_curriculum(t.depth_curriculum)
        e = self.eval
        _check(e.threshold is None or 0.0 < e.threshold < 1.0, "eval.threshold", "must be in (0, 1)")
        _check(e.samples is None or e.samples >= 1, "eval.samples", "must be >= 1")
        _check(e.batch_size >= 1, "eval.batch_size", "must be >= 1")
        _check(
            e.select_on in ("val", "test"), "eval.select_on", f"must be 'val' or 'test', got {e.select_on!r}"
        )
        d = self.data
        for key in ("val_groups", "val_limit", "test_limit"):
            _check(getattr(d, key) >= 0, f"data.{key}", "must be >= 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        if isinstance(d, dict) and isinstance(d.get("train"), dict) and "compile" in d["train"]:
            d = {**d, "train": {**d["train"], "compile": _legacy_compile(d["train"]["compile"])}}
        ev = d.get("eval") if isinstance(d, dict) else None
        if isinstance(ev, dict) and "vote" in ev and "select" not in ev:  # saved before "select" replaced it
            d = {**d, "eval": {("select" if k == "vote" else k): v for k, v in ev.items()}}
        return from_dict(cls, d).validate()

    def override(self, overrides: list[str] | dict[str, Any]) -> Config:
        """Return a copy with dotted overrides applied: ``["model.n=4", "train.lr=3e-4"]``."""
        d = self.to_dict()
        items = overrides.items() if isinstance(overrides, dict) else (_split_override(o) for o in overrides)
        for key, value in items:
            _set_dotted(type(self), d, key, _legacy_compile(value) if key == "train.compile" else value)
        return Config.from_dict(d)


def _legacy_compile(value: Any) -> Any:
    """``train.compile`` was a boolean (compile the forward and loss): true/false still mean loss/off."""
    text = str(value).lower()
    return {"true": "loss", "1": "loss", "yes": "loss", "false": "off", "0": "off", "no": "off"}.get(
        text, value
    )
