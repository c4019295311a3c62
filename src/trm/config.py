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
from typing import Any, ClassVar, Literal

from .tasks import TASKS, TokensTask
from .typed import (
    ConfigError,
    _check,
    _set_dotted,
    _short,
    _split_override,
    check_fields,
    field_help,
    from_dict,
)

__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "LogConfig",
    "LoopConfig",
    "ModelConfig",
    "OptimConfig",
    "RecipeConfig",
    "SystemConfig",
    "TrainConfig",
    "field_help",
]


# Caps on the recursion, for what a run can compute at all. One supervision step applies T * (n + 1) blocks
# of num_layers layers (HRM: T * (n * num_layers + h_layers)), and the last recursion keeps the activations of
# its (n + 1) * num_layers block calls for the backward pass: MAX_BLOCKS_PER_STEP bounds both the time of a step
# (it is ~25x the paper's Sudoku setting of 3 * 7 * 2 = 42) and the activation memory of the batch. N_sup bounds
# the steps of a puzzle in training and evaluation (the paper uses 16; inference's own max_steps is at most 256).
MAX_DEPTH = 64  # T and n (also in train.depth_curriculum)
MAX_LAYERS = 64  # num_layers, h_layers
MAX_N_SUP = 1024
MAX_BLOCKS_PER_STEP = 1024


def blocks_per_step(arch: str, T: int, n: int, num_layers: int, h_layers: int) -> int:
    """Layer applications of one supervision step (see :data:`MAX_BLOCKS_PER_STEP`)."""
    return T * (n * num_layers + h_layers) if arch == "hrm" else T * (n + 1) * num_layers


def _f(
    default: Any,
    help: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Any:
    """A config field: its default, its help and its bounds (``ge`` >=, ``gt`` >, ``le`` <=, ``lt`` <; a
    ``Literal`` type gives the allowed values), declared once: :meth:`Config.validate` checks them, ``trm train
    --help`` lists them."""
    bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **bounds})
    return field(default=default, metadata={"help": help, **bounds})


def find_multiple(a: int, b: int) -> int:
    """Smallest multiple of ``b`` that is >= ``a``."""
    return -(a // -b) * b


def swiglu_width(k: int, expansion: float, multiple: int = 256) -> int:
    """Intermediate width m of a SwiGLU acting on an axis of size k (rounded up to a multiple of 256)."""
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
    if out[0][0] != 0.0 or any(
        not 0.0 <= f < 1.0 or not 1 <= T <= MAX_DEPTH or not 1 <= n <= MAX_DEPTH for f, T, n in out
    ):
        raise ConfigError(
            f"train.depth_curriculum: {_short(text)}: fractions must start at 0 and be in [0, 1); T, n must be "
            f"in [1, {MAX_DEPTH}]"
        )
    return out


@dataclass
class ModelConfig:
    """The network, its recursion and its halting wrapper (docs/PARITY.md)."""

    arch: Literal["trm", "hrm"] = _f(
        "trm", "trm: one tiny net, deep recursion; hrm: H and L nets, 1-step grad"
    )
    vocab_size: int = _f(11, "V: token vocabulary size including PAD (0)", ge=1, le=65536)
    seq_len: int = _f(81, "number of token positions, excluding the puzzle-embedding prefix", ge=1, le=2**20)
    hidden_size: int = _f(512, "D: hidden width", ge=1, le=16384)
    num_heads: int = _f(8, "attention heads (attention mixer only)", ge=1, le=1024)
    expansion: float = _f(4.0, "SwiGLU expansion factor", gt=0, le=64)
    swiglu_multiple: int = _f(
        256, "SwiGLU widths are rounded up to a multiple of this (256 in the paper)", ge=1, le=4096
    )
    num_layers: int = _f(
        2, "blocks in the tiny net (official L_layers; HRM: blocks in L_net)", ge=1, le=MAX_LAYERS
    )
    h_layers: int = _f(4, "HRM only: blocks in H_net (official H_layers)", ge=0, le=MAX_LAYERS)
    T: int = _f(
        3,
        "recursions per supervision step (official H_cycles); the first T-1 run without gradient",
        ge=1,
        le=MAX_DEPTH,
    )
    n: int = _f(6, "latent updates per recursion (official L_cycles)", ge=1, le=MAX_DEPTH)
    N_sup: int = _f(16, "maximum supervision steps (official halt_max_steps)", ge=1, le=MAX_N_SUP)
    mixer: Literal["attention", "mlp_t"] = _f(
        "attention", "token mixing: self-attention or an MLP over positions"
    )
    pos_encodings: Literal["rope", "learned", "none"] = _f("rope", "positional encoding")
    rope_theta: float = _f(10000.0, "RoPE base", gt=0)
    rms_norm_eps: float = _f(1e-5, "epsilon of the (unscaled) RMS norm", gt=0, le=1)
    puzzle_emb_ndim: int = _f(
        512, "width of a puzzle-embedding row (0 = no puzzle embedding, no prefix)", ge=0, le=65536
    )
    puzzle_emb_len: int = _f(
        16, "prefix positions P (0 = ceil(puzzle_emb_ndim / D); HRM always uses that)", ge=0, le=4096
    )
    num_puzzle_identifiers: int = _f(
        1, "rows of the puzzle-embedding table (identifier 0 is the blank id)", ge=1, le=2**31 - 1
    )
    halt_exploration_prob: float = _f(
        0.1,
        "probability per row of a random minimum number of steps in training",
        ge=0,
        le=1,
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
        """Every field's type and declared bounds, then the rules between fields (one-line ConfigError)."""
        check_fields(self, "model.")
        _check(self.h_layers >= 1 or self.arch == "trm", "model.h_layers", "HRM needs at least one H block")
        blocks = blocks_per_step(self.arch, self.T, self.n, self.num_layers, self.h_layers)
        _check(
            blocks <= MAX_BLOCKS_PER_STEP,
            "model.T",
            f"T={self.T}, n={self.n}, num_layers={self.num_layers}"
            + (f", h_layers={self.h_layers}" if self.arch == "hrm" else "")
            + f" make {blocks} block applications per supervision step; at most {MAX_BLOCKS_PER_STEP}",
        )
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
    """Where the training data lives and how it is sampled (docs/DATA.md)."""

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
        "augmented copies; at most a tenth of them, at least one, seeded by train.loop.seed) for validation, never trained on; "
        "0 = none (then the dataset needs a val split, or eval.select_on=test)",
        ge=0,
        le=2**31 - 1,
    )
    val_limit: int = _f(
        0,
        "evaluate during training on a fixed random subset of this many validation examples (0 = all)",
        ge=0,
    )
    augment_on_the_fly: bool = _f(False, "apply random symmetry augmentation when sampling (Sudoku/Maze)")
    test_limit: int = _f(
        0,
        "score the test split on a fixed random subset of this many examples (0 = all): the final score, "
        "and with eval.select_on=test the evaluations during training",
        ge=0,
    )


@dataclass
class OptimConfig:
    """The optimizers of the dense parameters and of the puzzle-embedding table, their learning-rate schedule
    and the EMA of the weights (``train.optim``)."""

    optimizer: Literal["adam_atan2", "adamw", "muon"] = _f(
        "adam_atan2",
        "dense optimizer; muon = Muon on the hidden weight matrices, AdamW (train.optim.lr) on the rest",
    )
    lr: float = _f(1e-4, "peak learning rate of the dense parameters", gt=0, le=10)
    lr_min_ratio: float = _f(
        1.0,
        "cosine floor as a fraction of lr (1.0 = constant after warm-up, as in the paper)",
        ge=0,
        le=1,
    )
    lr_warmup_steps: int = _f(2000, "linear warm-up steps", ge=0)
    beta1: float = _f(0.9, "first-moment decay", ge=0, lt=1)
    beta2: float = _f(0.95, "second-moment decay", ge=0, lt=1)
    weight_decay: float = _f(1.0, "decoupled weight decay of the dense parameters", ge=0)
    muon_lr: float = _f(
        0.02, "learning rate of the Muon parameter group (train.optim.optimizer=muon)", gt=0, le=10
    )
    muon_weight_decay: float | None = _f(
        None, "weight decay of the Muon group (null: train.optim.weight_decay)", ge=0
    )
    grad_clip: float = _f(
        0.0,
        "clip the dense gradients to this global norm (0 = no clipping, as in the paper)",
        ge=0,
    )
    puzzle_emb_lr: float = _f(1e-4, "sign-SGD learning rate of the puzzle-embedding table", ge=0)
    puzzle_emb_weight_decay: float = _f(1.0, "weight decay of the puzzle-embedding table", ge=0)
    ema: bool = _f(True, "keep an exponential moving average of the dense weights for evaluation and saving")
    ema_rate: float = _f(0.999, "EMA decay per optimizer step", ge=0, lt=1)
    ema_warmup: bool = _f(
        False, "ramp the EMA decay as min(ema_rate, (1 + k) / (10 + k)) over the first steps"
    )


@dataclass
class RecipeConfig:
    """What the loss weighs and how the recursion is trained beyond the optimizer: the halting-loss weight,
    supervision-step weights, label smoothing, training noise, the depth curriculum (``train.recipe``)."""

    halt_loss_weight: float = _f(
        0.5,
        "weight of the halting (and continue) BCE in the total loss (0.5 in the paper)",
        ge=0,
    )
    step_weight_decay: float = _f(
        1.0,
        "loss weight of supervision step s is d^(s-1), scaled to mean 1 over N_sup steps (CGAR); "
        "1 = every step weighs the same (paper)",
        gt=0,
    )
    label_smoothing: float = _f(
        0.0, "label smoothing of the answer-token cross entropy (0 in the paper)", ge=0, lt=1
    )
    init_noise: float = _f(
        0.0,
        "std of Gaussian noise added to y_init, z_init when a row starts a puzzle in training (EqR)",
        ge=0,
    )
    latent_noise: float = _f(
        0.0,
        "std of Gaussian noise added to z before every supervision step in training",
        ge=0,
    )
    depth_curriculum: str = _f(
        "",
        "training depth schedule 'F:T,n;F:T,n;...': from fraction F of the training steps on, the recursion "
        "uses T, n (CGAR); empty = the model's T, n throughout. Evaluation always uses the model's T, n",
    )


@dataclass
class LoopConfig:
    """How long the run goes and when it evaluates and saves (``train.loop``)."""

    global_batch_size: int = _f(768, "examples per optimizer step, summed over all ranks", ge=1, le=2**20)
    epochs: int = _f(50000, "passes over the training groups", ge=1)
    max_steps: int = _f(0, "stop after this many optimizer steps (0 = derived from epochs)", ge=0)
    max_minutes: float = _f(0.0, "stop after this much wall-clock training time (0 = no limit)", ge=0)
    target_accuracy: float = _f(
        0.0,
        "stop at the first evaluation whose exact accuracy reaches this (0 = never)",
        ge=0,
        le=1,
    )
    eval_interval: int = _f(5000, "evaluate every this many epochs (0 = only at the end)", ge=0)
    eval_interval_steps: int = _f(
        0,
        "evaluate every this many optimizer steps (overrides eval_interval if > 0)",
        ge=0,
    )
    checkpoint_every_eval: bool = _f(True, "save the last checkpoint at every evaluation")
    seed: int = _f(0, "seed of every random choice (init, sampler, exploration)", ge=0)


@dataclass
class SystemConfig:
    """Where and how the step runs: device, dtype, compilation, kernels, the measured CPU set-up
    (``train.system``)."""

    device: str = _f("auto", "auto, cpu, cuda, cuda:N or mps")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _f(
        "auto", "forward dtype: auto = bfloat16 on CUDA, float32 elsewhere"
    )
    compile: Literal["off", "loss", "step"] = _f(
        "off",
        "torch.compile: loss = the forward and loss (and so their backward); step = the whole optimizer step "
        "(forward, backward, clipping, dense optimizer; CUDA graphs on CUDA), static shapes; falls back to "
        "eager if compilation fails. true/false are read as loss/off",
    )
    kernels: Literal["auto", "eager", "fused"] = _f(
        "auto",
        "elementwise kernels of the blocks: fused = compiled SwiGLU activation and residual + RMS norm; "
        "auto = fused when training in bfloat16/float16 without train.system.compile, eager otherwise",
    )
    autotune: bool = _f(
        False,
        "on the CPU, choose dtype and kernels by timing the real step for each candidate "
        "(a few seconds; cached per machine in ~/.cache/trm); only with dtype and kernels 'auto'",
    )


@dataclass
class LogConfig:
    """Where metrics go besides the console and metrics.jsonl (``train.log``)."""

    log_interval: int = _f(10, "steps between console/JSONL metric lines", ge=1)
    tensorboard: bool = _f(False, "also log to TensorBoard (needs the tensorboard package)")
    wandb: bool = _f(False, "also log to Weights & Biases (needs the wandb package)")
    project: str = _f("trm", "W&B project name")


# the groups of ``train``, by attribute name; every field name is unique across them (the flat ``train.KEY``
# spelling of earlier versions names it)
TRAIN_GROUPS: dict[str, type] = {
    "optim": OptimConfig,
    "recipe": RecipeConfig,
    "loop": LoopConfig,
    "system": SystemConfig,
    "log": LogConfig,
}
TRAIN_KEYS: dict[str, str] = {f.name: g for g, cls in TRAIN_GROUPS.items() for f in dataclasses.fields(cls)}
assert len(TRAIN_KEYS) == sum(len(dataclasses.fields(c)) for c in TRAIN_GROUPS.values()), (
    "duplicate train keys"
)


@dataclass(init=False)
class TrainConfig:
    """Optimisation and the training loop (docs/PARITY.md), in groups: ``optim``, ``recipe``, ``loop``, ``system``,
    ``log`` (``cfg.train.optim.lr``; ``trm train ... train.optim.lr=3e-4``; config files ``train: {optim: {lr:
    ...}}``).

    The flat spellings of earlier versions keep working: ``cfg.train.lr`` reads and assigns the group's field,
    ``TrainConfig(lr=...)`` sets it, ``train.lr=...`` overrides it and a flat ``train:`` mapping (config files,
    saved runs and checkpoints written before the groups) loads. Messages name a field as an override spelled
    it, else ``train.KEY``, the spelling both versions accept (``_flat_keys``)."""

    _flat_keys: ClassVar[bool] = True

    optim: OptimConfig = field(default_factory=OptimConfig, metadata={"help": "optimizers, schedule, EMA"})
    recipe: RecipeConfig = field(
        default_factory=RecipeConfig, metadata={"help": "loss weights, noise, curriculum"}
    )
    loop: LoopConfig = field(
        default_factory=LoopConfig, metadata={"help": "length, evaluations, checkpoints"}
    )
    system: SystemConfig = field(default_factory=SystemConfig, metadata={"help": "device, dtype, kernels"})
    log: LogConfig = field(default_factory=LogConfig, metadata={"help": "metric logging"})

    def __init__(
        self,
        optim: OptimConfig | None = None,
        recipe: RecipeConfig | None = None,
        loop: LoopConfig | None = None,
        system: SystemConfig | None = None,
        log: LogConfig | None = None,
        **flat: Any,
    ):
        self.optim = OptimConfig() if optim is None else optim
        self.recipe = RecipeConfig() if recipe is None else recipe
        self.loop = LoopConfig() if loop is None else loop
        self.system = SystemConfig() if system is None else system
        self.log = LogConfig() if log is None else log
        for name, value in flat.items():  # the flat keywords of earlier versions: TrainConfig(lr=1e-3)
            if name not in TRAIN_KEYS:
                raise TypeError(f"TrainConfig got an unexpected keyword argument {name!r}")
            setattr(getattr(self, TRAIN_KEYS[name]), name, value)


def _forward(group: str, name: str) -> property:
    def get(self: TrainConfig) -> Any:
        return getattr(getattr(self, group), name)

    def put(self: TrainConfig, value: Any) -> None:
        setattr(getattr(self, group), name, value)

    return property(get, put, doc=f"``train.{group}.{name}``, by the flat name of earlier versions")


for _name, _group in TRAIN_KEYS.items():
    setattr(TrainConfig, _name, _forward(_group, _name))


def grouped_train(train: Any) -> Any:
    """A ``train`` mapping with the flat keys of earlier versions moved into their groups (``{"lr": 1e-3}`` ->
    ``{"optim": {"lr": 1e-3}}``); grouped keys stay, unknown keys are left for :func:`~trm.typed.from_dict` to
    refuse. A key given both ways is a :class:`ConfigError`."""
    if not isinstance(train, dict) or not any(k in TRAIN_KEYS for k in train):
        return train
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in train.items() if k not in TRAIN_KEYS}
    for name, value in train.items():
        if name not in TRAIN_KEYS:
            continue
        group = out.setdefault(TRAIN_KEYS[name], {})
        if not isinstance(group, dict):
            continue  # from_dict says train.GROUP must be a mapping
        if name in group:
            raise ConfigError(f"train.{name}: given twice (also as train.{TRAIN_KEYS[name]}.{name})")
        group[name] = value
    return out


def train_key(key: str) -> str:
    """A dotted key with the flat ``train.KEY`` spelling of earlier versions written ``train.GROUP.KEY``."""
    parts = key.split(".")
    if len(parts) == 2 and parts[0] == "train" and parts[1] in TRAIN_KEYS:
        return f"train.{TRAIN_KEYS[parts[1]]}.{parts[1]}"
    return key


@dataclass
class EvalConfig:
    """The inference protocol of this run (docs/PARITY.md): ``trm eval`` and ``trm solve`` of the run start from
    these settings and its model card states them. Unset (null) fields take the library's defaults, declared
    with their bounds in :class:`trm.infer.engine.Settings`; command-line flags override both."""

    mode: Literal["official", "adaptive"] | None = _f(
        None,
        "official: every puzzle runs max_steps steps; adaptive: "
        "a puzzle stops once sigmoid(q_halt) > threshold",
    )
    threshold: float | None = _f(None, "adaptive halting threshold on sigmoid(q_halt), in (0, 1)", gt=0, lt=1)
    max_steps: int | None = _f(
        None,
        "supervision steps (null or 0: the model's N_sup; larger = test-time depth)",
        ge=0,
        le=256,
    )
    batch_size: int = _f(
        256, "rows per forward pass at evaluation (the trainer's evaluations too)", ge=1, le=65536
    )
    samples: int | None = _f(None, "trajectories per puzzle (K > 1: noisy latent sampling)", ge=1, le=256)
    noise: float | None = _f(None, "std of the latent noise of the extra trajectories", ge=0, le=10)
    # a name registered in trm.infer.selectors, checked there when the run is evaluated or served: config sits
    # below the inference layer, and a run naming a plug-in selector loads where that plug-in is not registered
    select: str | None = _f(
        None,
        "how one answer is chosen among trajectories and symmetric copies: a selector's name, see --select "
        "of trm eval (formerly 'vote')",
    )
    augment_votes: int | None = _f(
        None,
        "symmetric copies per puzzle for augmentation voting (null, 0 or 1: off)",
        ge=0,
        le=64,
    )
    select_on: Literal["val", "test"] = _f(
        "val",
        "split the trainer evaluates on during training, stops early on (train.loop.target_accuracy) and keeps "
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
    task: str = _f(TokensTask.kind, "the puzzle family: " + ", ".join(TASKS))
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self) -> Config:
        """Every field's type and declared bounds (:func:`trm.typed.check_fields`), then the rules between
        fields; raise :class:`ConfigError` with one line naming the key, the value and what is allowed."""
        check_fields(self)
        self.model.validate()
        t, m = self.train, self.model
        warmup, max_steps = t.optim.lr_warmup_steps, t.loop.max_steps
        if max_steps > 0:
            _check(
                warmup <= max_steps,
                "train.lr_warmup_steps",
                f"{warmup} warm-up steps exceed train.max_steps={max_steps} (lower the warm-up too)",
            )
        for _, T, n in parse_depth_curriculum(t.recipe.depth_curriculum):
            blocks = blocks_per_step(m.arch, T, n, m.num_layers, m.h_layers)
            _check(
                blocks <= MAX_BLOCKS_PER_STEP,
                "train.depth_curriculum",
                f"T={T}, n={n} make {blocks} block applications per supervision step; at most "
                f"{MAX_BLOCKS_PER_STEP}",
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        if isinstance(d, dict) and isinstance(d.get("train"), dict):  # saved before the train groups
            d = {**d, "train": grouped_train(d["train"])}
            system = d["train"].get("system")
            if isinstance(system, dict) and "compile" in system:
                system = {**system, "compile": _legacy_compile(system["compile"])}
                d["train"] = {**d["train"], "system": system}
        ev = d.get("eval") if isinstance(d, dict) else None
        if isinstance(ev, dict) and "vote" in ev and "select" not in ev:  # saved before "select" replaced it
            d = {**d, "eval": {("select" if k == "vote" else k): v for k, v in ev.items()}}
        return from_dict(cls, d).validate()

    def override(self, overrides: list[str] | dict[str, Any]) -> Config:
        """Return a copy with dotted overrides applied: ``["model.n=4", "train.optim.lr=3e-4"]`` (a train key
        may also be written flat, ``train.lr=3e-4``, as before the groups)."""
        d = self.to_dict()
        items = overrides.items() if isinstance(overrides, dict) else (_split_override(o) for o in overrides)
        for key, value in items:
            path = train_key(key)
            value = _legacy_compile(value) if path == "train.system.compile" else value
            _set_dotted(type(self), d, path, value, label=key)
        return Config.from_dict(d)


def _legacy_compile(value: Any) -> Any:
    """``train.compile`` was a boolean (compile the forward and loss): true/false still mean loss/off."""
    text = str(value).lower()
    return {"true": "loss", "1": "loss", "yes": "loss", "false": "off", "0": "off", "no": "off"}.get(
        text, value
    )
