"""Typed, strict, saved configuration.

Every config is a dataclass whose fields carry a docstring-like ``help`` in their metadata; unknown keys are
rejected, values are validated, and the resolved config is saved next to every checkpoint and run.

Paper notation is used for field names where the paper has one (``T``, ``n``, ``N_sup``); the official code's
names are accepted on import through :mod:`trm.model.official`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

# Adaptive halting stops a row once sigmoid(q_halt) exceeds this. The training rule (q_halt > 0) is 0.5, but
# at inference 0.9 keeps nearly all of the official mode's accuracy for most of the savings (docs/BENCHMARKS.md).
DEFAULT_HALT_THRESHOLD = 0.9


class ConfigError(ValueError):
    """A configuration value or key is invalid. The message names the key."""


def _f(default: Any, help: str, **kw: Any) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


def find_multiple(a: int, b: int) -> int:
    """Smallest multiple of ``b`` that is >= ``a``."""
    return -(a // -b) * b


def swiglu_width(k: int, expansion: float) -> int:
    """Intermediate width m of a SwiGLU acting on an axis of size k (SPEC §2)."""
    return find_multiple(round(expansion * k * 2 / 3), 256)


@dataclass
class ModelConfig:
    """The network, its recursion and its halting wrapper (SPEC §2–3)."""

    arch: Literal["trm", "hrm"] = _f("trm", "trm: one tiny net, deep recursion; hrm: H and L nets, 1-step grad")
    vocab_size: int = _f(11, "V: token vocabulary size including PAD (0)")
    seq_len: int = _f(81, "number of token positions, excluding the puzzle-embedding prefix")
    hidden_size: int = _f(512, "D: hidden width")
    num_heads: int = _f(8, "attention heads (attention mixer only)")
    expansion: float = _f(4.0, "SwiGLU expansion factor")
    num_layers: int = _f(2, "blocks in the tiny net (official L_layers; HRM: blocks in L_net)")
    h_layers: int = _f(4, "HRM only: blocks in H_net (official H_layers)")
    T: int = _f(3, "recursions per supervision step (official H_cycles); the first T-1 run without gradient")
    n: int = _f(6, "latent updates per recursion (official L_cycles)")
    N_sup: int = _f(16, "maximum supervision steps (official halt_max_steps)")
    mixer: Literal["attention", "mlp_t"] = _f("attention", "token mixing: self-attention or an MLP over positions")
    pos_encodings: Literal["rope", "learned", "none"] = _f("rope", "positional encoding")
    rope_theta: float = _f(10000.0, "RoPE base")
    rms_norm_eps: float = _f(1e-5, "epsilon of the (unscaled) RMS norm")
    puzzle_emb_ndim: int = _f(512, "width of a puzzle-embedding row (0 = no puzzle embedding, no prefix)")
    puzzle_emb_len: int = _f(16, "prefix positions P (0 = ceil(puzzle_emb_ndim / D); HRM always uses that)")
    num_puzzle_identifiers: int = _f(1, "rows of the puzzle-embedding table (identifier 0 is the blank id)")
    halt_exploration_prob: float = _f(0.1, "probability per row of a random minimum number of steps in training")
    act_continue: bool = _f(
        False,
        "halt on q_halt > q_continue and learn q_continue with the Q-learning target "
        "(HRM always does; for TRM this is the 'with continue loss' ablation, official no_ACT_continue=False)",
    )
    loss: Literal["stablemax", "softmax"] = _f("stablemax", "cross entropy used for the answer tokens")

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
        _check(self.mixer in ("attention", "mlp_t"), "model.mixer", f"must be 'attention' or 'mlp_t', got {self.mixer!r}")
        _check(
            self.pos_encodings in ("rope", "learned", "none"),
            "model.pos_encodings",
            f"must be 'rope', 'learned' or 'none', got {self.pos_encodings!r}",
        )
        _check(self.loss in ("stablemax", "softmax"), "model.loss", f"must be 'stablemax' or 'softmax', got {self.loss!r}")
        for key in ("vocab_size", "seq_len", "hidden_size", "num_heads", "num_layers", "T", "n", "N_sup"):
            _check(getattr(self, key) >= 1, f"model.{key}", f"must be >= 1, got {getattr(self, key)}")
        _check(self.h_layers >= 1 or self.arch == "trm", "model.h_layers", "HRM needs at least one H block")
        _check(self.expansion > 0, "model.expansion", "must be > 0")
        _check(self.puzzle_emb_ndim >= 0, "model.puzzle_emb_ndim", "must be >= 0")
        _check(self.puzzle_emb_len >= 0, "model.puzzle_emb_len", "must be >= 0")
        _check(self.num_puzzle_identifiers >= 1, "model.num_puzzle_identifiers", "must be >= 1 (0 is the blank id)")
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
    test_split: str = _f("test", "split used for evaluation")
    augment_on_the_fly: bool = _f(False, "apply random symmetry augmentation when sampling (Sudoku/Maze)")
    test_limit: int = _f(0, "evaluate during training on a fixed random subset of this many test examples (0 = all)")


@dataclass
class TrainConfig:
    """Optimisation and the training loop (SPEC §3–5)."""

    global_batch_size: int = _f(768, "examples per optimizer step, summed over all ranks")
    epochs: int = _f(50000, "passes over the training groups")
    max_steps: int = _f(0, "stop after this many optimizer steps (0 = derived from epochs)")
    max_minutes: float = _f(0.0, "stop after this much wall-clock training time (0 = no limit)")
    lr: float = _f(1e-4, "peak learning rate of the dense parameters")
    lr_min_ratio: float = _f(1.0, "cosine floor as a fraction of lr (1.0 = constant after warm-up, as in the paper)")
    lr_warmup_steps: int = _f(2000, "linear warm-up steps")
    beta1: float = _f(0.9, "first-moment decay")
    beta2: float = _f(0.95, "second-moment decay")
    weight_decay: float = _f(1.0, "decoupled weight decay of the dense parameters")
    optimizer: Literal["adam_atan2", "adamw"] = _f("adam_atan2", "dense optimizer")
    puzzle_emb_lr: float = _f(1e-4, "sign-SGD learning rate of the puzzle-embedding table")
    puzzle_emb_weight_decay: float = _f(1.0, "weight decay of the puzzle-embedding table")
    ema: bool = _f(True, "keep an exponential moving average of the dense weights for evaluation and saving")
    ema_rate: float = _f(0.999, "EMA decay per optimizer step")
    eval_interval: int = _f(5000, "evaluate every this many epochs (0 = only at the end)")
    eval_interval_steps: int = _f(0, "evaluate every this many optimizer steps (overrides eval_interval if > 0)")
    checkpoint_every_eval: bool = _f(True, "save the last checkpoint at every evaluation")
    seed: int = _f(0, "seed of every random choice (init, sampler, exploration)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _f(
        "auto", "forward dtype: auto = bfloat16 on CUDA, float32 elsewhere"
    )
    device: str = _f("auto", "auto, cpu, cuda, cuda:N or mps")
    compile: bool = _f(False, "torch.compile the supervision step (falls back to eager if compilation fails)")
    kernels: Literal["auto", "eager", "fused"] = _f(
        "auto", "elementwise kernels of the blocks: fused = compiled SwiGLU activation and residual + RMS norm; "
        "auto = fused when training in bfloat16/float16 without train.compile, eager otherwise")
    log_interval: int = _f(10, "steps between console/JSONL metric lines")
    tensorboard: bool = _f(False, "also log to TensorBoard (needs the tensorboard package)")
    wandb: bool = _f(False, "also log to Weights & Biases (needs the wandb package)")
    project: str = _f("trm", "W&B project name")


@dataclass
class EvalConfig:
    """Inference settings (SPEC §3, §7)."""

    mode: Literal["official", "adaptive"] = _f("official", "official: every row runs N_sup steps; adaptive: halt early")
    threshold: float = _f(DEFAULT_HALT_THRESHOLD, "adaptive halting: stop a row once sigmoid(q_halt) exceeds this")
    max_steps: int = _f(0, "supervision steps at inference (0 = the model's N_sup; larger = test-time depth)")
    batch_size: int = _f(256, "evaluation batch size")
    samples: int = _f(1, "trajectories per puzzle (K > 1: noisy latent sampling)")
    noise: float = _f(0.0, "std of the latent noise for multi-trajectory sampling")
    vote: Literal["confidence", "majority"] = _f("confidence", "how sampled trajectories pick an answer")
    augment_votes: int = _f(0, "symmetric copies per puzzle for augmentation voting (0 = off)")


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
        _check(t.dtype in ("auto", "float32", "bfloat16", "float16"), "train.dtype", f"unknown dtype {t.dtype!r}")
        _check(t.optimizer in ("adam_atan2", "adamw"), "train.optimizer", f"unknown optimizer {t.optimizer!r}")
        _check(t.kernels in ("auto", "eager", "fused"), "train.kernels", f"unknown kernels {t.kernels!r}")
        e = self.eval
        _check(e.mode in ("official", "adaptive"), "eval.mode", f"must be 'official' or 'adaptive', got {e.mode!r}")
        _check(0.0 < e.threshold < 1.0 or e.mode == "official", "eval.threshold", "must be in (0, 1)")
        _check(e.samples >= 1, "eval.samples", "must be >= 1")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        return from_dict(cls, d).validate()

    def override(self, overrides: list[str] | dict[str, Any]) -> Config:
        """Return a copy with dotted overrides applied: ``["model.n=4", "train.lr=3e-4"]``."""
        d = self.to_dict()
        items = overrides.items() if isinstance(overrides, dict) else (_split_override(o) for o in overrides)
        for key, value in items:
            _set_dotted(type(self), d, key, value)
        return Config.from_dict(d)


def _check(ok: bool, key: str, msg: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {msg}")


def _split_override(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}: must be one of {list(allowed)}, got {value!r}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{key}: expected a boolean, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                try:
                    as_float = float(value)
                except ValueError:
                    as_float = math.nan
                if as_float.is_integer():
                    return int(as_float)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(float(value)) if value.replace("e", "").replace(".", "").lstrip("-").isdigit() and float(
                    value
                ).is_integer() else int(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if math.isnan(out):
            raise ConfigError(f"{key}: NaN is not allowed")
        return out
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type, d: Any, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a dict, rejecting unknown keys and coercing types."""
    if not isinstance(d, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {type(d).__name__}")
    types = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        where = prefix.rstrip(".") or "config"
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(names)}")
    kwargs = {}
    for name, value in d.items():
        tp = types[name]
        key = f"{prefix}{name}"
        if dataclasses.is_dataclass(tp):
            kwargs[name] = from_dict(tp, value, prefix=f"{key}.")
        else:
            kwargs[name] = _coerce(tp, value, key)
    return cls(**kwargs)


def _set_dotted(cls: type, d: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node, tp = d, cls
    for i, part in enumerate(parts):
        types = _field_types(tp)
        if part not in types:
            where = ".".join(parts[:i]) or "config"
            valid = sorted(f.name for f in dataclasses.fields(tp))
            raise ConfigError(f"unknown override key {key!r}: {where} has no field {part!r}; valid: {valid}")
        sub = types[part]
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(sub):
                raise ConfigError(f"override {key!r} names a section, not a value")
            node[part] = _coerce(sub, value, key)
        else:
            if not dataclasses.is_dataclass(sub):
                raise ConfigError(f"override {key!r}: {part!r} is a value, not a section")
            node, tp = node[part], sub


def field_help(cls: type) -> dict[str, str]:
    """``{"section.key": help}`` for every field, for CLI help text."""
    out: dict[str, str] = {}
    types = _field_types(cls)
    for f in dataclasses.fields(cls):
        tp = types[f.name]
        if dataclasses.is_dataclass(tp):
            for k, v in field_help(tp).items():
                out[f"{f.name}.{k}"] = v
        else:
            out[f.name] = f.metadata.get("help", "")
    return out
