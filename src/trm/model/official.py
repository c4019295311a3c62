"""Import of the official TRM/HRM configs and checkpoints (docs/PARITY.md).

Official checkpoints are state dicts of the compiled loss head: keys carry ``_orig_mod.model.`` (compiled) or
``model.`` (eager) prefixes, then ``inner.``. Every tensor is mapped to our module names; unknown, missing or
mis-shaped keys are errors that name the key.
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from ..config import ConfigError, ModelConfig
from .recursive import TRM

# official config field -> ours
_CONFIG_MAP = {
    "vocab_size": "vocab_size",
    "seq_len": "seq_len",
    "hidden_size": "hidden_size",
    "num_heads": "num_heads",
    "expansion": "expansion",
    "L_layers": "num_layers",
    "H_layers": "h_layers",
    "H_cycles": "T",
    "L_cycles": "n",
    "halt_max_steps": "N_sup",
    "pos_encodings": "pos_encodings",
    "rope_theta": "rope_theta",
    "rms_norm_eps": "rms_norm_eps",
    "puzzle_emb_ndim": "puzzle_emb_ndim",
    "puzzle_emb_len": "puzzle_emb_len",
    "num_puzzle_identifiers": "num_puzzle_identifiers",
    "halt_exploration_prob": "halt_exploration_prob",
}
# fields of the official configs that describe the run, not the network
_IGNORED = {"batch_size", "forward_dtype", "name", "causal", "num_key_value_heads", "_target_"}
_LOSS_TYPES = {"stablemax_cross_entropy": "stablemax", "softmax_cross_entropy": "softmax"}
_PREFIXES = ("_orig_mod.model.", "_orig_mod.", "model.", "module.")


def config_from_official(off: dict[str, Any], warn: bool = True) -> tuple[ModelConfig, torch.dtype]:
    """Map an official arch config (``all_config.yaml``'s ``arch`` section or the golden ``config.json``)
    to our :class:`ModelConfig` and the forward dtype it was run with."""
    kwargs: dict[str, Any] = {}
    arch = str(off.get("model", "")).lower()
    name = str(off.get("name", "")).lower()
    if not arch:
        arch = "hrm" if "hrm" in name else "trm"
    if arch not in ("trm", "hrm"):
        raise ConfigError(f"official config: unsupported model {arch!r} (expected 'trm' or 'hrm')")
    kwargs["arch"] = arch
    unknown = []
    for key, value in off.items():
        if key in _CONFIG_MAP:
            kwargs[_CONFIG_MAP[key]] = value
        elif key == "mlp_t":
            kwargs["mixer"] = "mlp_t" if value else "attention"
        elif key == "no_ACT_continue":
            kwargs["act_continue"] = not bool(value)
        elif key == "loss":
            loss_type = (
                value.get("loss_type", "stablemax_cross_entropy") if isinstance(value, dict) else value
            )
            if loss_type not in _LOSS_TYPES:
                raise ConfigError(f"official config: unsupported loss_type {loss_type!r}")
            kwargs["loss"] = _LOSS_TYPES[loss_type]
        elif key in _IGNORED or key == "model":
            continue
        else:
            unknown.append(key)
    if unknown and warn:
        print(
            f"warning: ignoring official config field(s) with no counterpart here: {sorted(unknown)}",
            file=sys.stderr,
        )
    if arch == "hrm":
        kwargs.pop("act_continue", None)  # HRM always learns q_continue
    if "puzzle_emb_ndim" not in kwargs and "hidden_size" in kwargs:
        kwargs["puzzle_emb_ndim"] = kwargs["hidden_size"]
    if "puzzle_emb_len" not in kwargs:
        kwargs["puzzle_emb_len"] = 16 if arch == "trm" else 0
    cfg = ModelConfig(**kwargs)
    cfg.validate()
    dtype_name = str(off.get("forward_dtype", "float32"))
    dtype = getattr(torch, dtype_name, None)
    if not isinstance(dtype, torch.dtype):
        raise ConfigError(f"official config: unknown forward_dtype {dtype_name!r}")
    return cfg, dtype


_CLASSES = {
    "trm": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
    "hrm": "recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1",
}


def official_arch_config(
    cfg: ModelConfig, batch_size: int, dtype: torch.dtype = torch.float32
) -> dict[str, Any]:
    """The official arch config of ``cfg`` (the inverse of :func:`config_from_official`), with ``name`` the
    official model class and ``model`` trm/hrm. Our extensions without an official counterpart must be off."""
    if cfg.swiglu_multiple != 256 or cfg.swiglu_norm:
        raise ConfigError("the official code has no model.swiglu_multiple != 256 or model.swiglu_norm")
    off: dict[str, Any] = {"name": _CLASSES[cfg.arch], "model": cfg.arch, "batch_size": batch_size}
    for theirs, ours in _CONFIG_MAP.items():
        off[theirs] = getattr(cfg, ours)
    if cfg.arch == "trm":
        off["H_layers"] = 0
        off["mlp_t"] = cfg.mixer == "mlp_t"
        off["no_ACT_continue"] = not cfg.act_continue
    elif cfg.mixer != "attention":
        raise ConfigError("the official HRM has no MLP mixer (model.mixer=mlp_t)")
    off["forward_dtype"] = str(dtype).replace("torch.", "")
    off["loss"] = {
        "name": "losses@ACTLossHead",
        "loss_type": {v: k for k, v in _LOSS_TYPES.items()}[cfg.loss],
    }
    return off


def complete_official_config(off: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Fill fields that an official ``arch`` config leaves to the dataset (vocab, seq_len, identifiers) or that
    the weights determine, from the tensor shapes. Fields already present are kept (and checked on load)."""
    off = dict(off)
    sd = {_strip_prefix(k): v for k, v in state_dict.items()}
    emb = sd.get("inner.embed_tokens.embedding_weight")
    if emb is not None:
        off.setdefault("vocab_size", emb.shape[0])
        off.setdefault("hidden_size", emb.shape[1])
    table = sd.get("inner.puzzle_emb.weights")
    if table is not None:
        off.setdefault("num_puzzle_identifiers", table.shape[0])
        off.setdefault("puzzle_emb_ndim", table.shape[1])
    elif "puzzle_emb_ndim" not in off:
        off["puzzle_emb_ndim"] = 0
    for level, field in (("L_level", "L_layers"), ("H_level", "H_layers")):
        ids = {int(k.split(".")[3]) for k in sd if k.startswith(f"inner.{level}.layers.")}
        if ids:
            off.setdefault(field, max(ids) + 1)
    if any(".mlp_t." in k for k in sd):
        off.setdefault("mlp_t", True)
    if "inner.embed_pos.embedding_weight" in sd:
        off.setdefault("pos_encodings", "learned")
    if "seq_len" not in off:
        hidden = off.get("hidden_size")
        ndim = off.get("puzzle_emb_ndim", hidden or 0)
        plen = off.get(
            "puzzle_emb_len", 0 if "hrm" in str(off.get("model", off.get("name", ""))).lower() else 16
        )
        prefix = (
            0
            if not ndim
            else (-(ndim // -hidden) if plen == 0 or "hrm" in str(off.get("model", "")).lower() else plen)
        )
        total = None
        if "inner.embed_pos.embedding_weight" in sd:
            total = sd["inner.embed_pos.embedding_weight"].shape[0]
        elif "inner.L_level.layers.0.mlp_t.down_proj.weight" in sd:
            total = sd["inner.L_level.layers.0.mlp_t.down_proj.weight"].shape[0]
        if total is None:
            raise ConfigError(
                "official config has no seq_len and the weights do not determine it "
                "(attention with RoPE): pass it explicitly, e.g. --seq-len 81"
            )
        off["seq_len"] = total - prefix
    return off


def _strip_prefix(key: str) -> str:
    for p in _PREFIXES:
        if key.startswith(p):
            return _strip_prefix(key[len(p) :])
    return key


def official_to_ours(key: str, arch: str) -> str:
    """Official parameter name (prefixes allowed) -> ours. Raises KeyError for names with no counterpart."""
    k = _strip_prefix(key)
    if not k.startswith("inner."):
        raise KeyError(key)
    k = k[len("inner.") :]
    fixed = {
        "embed_tokens.embedding_weight": "embed_tokens.weight",
        "embed_pos.embedding_weight": "embed_pos.weight",
        "puzzle_emb.weights": "puzzle_emb.weight",
        "lm_head.weight": "lm_head.weight",
        "q_head.weight": "q_head.weight",
        "q_head.bias": "q_head.bias",
        "H_init": "y_init",
        "L_init": "z_init",
    }
    if k in fixed:
        return fixed[k]
    if k.startswith("L_level."):
        return "net." + k[len("L_level.") :]
    if k.startswith("H_level.") and arch == "hrm":
        return "net_H." + k[len("H_level.") :]
    raise KeyError(key)


def ours_to_official(key: str, arch: str) -> str:
    """Inverse of :func:`official_to_ours` (without prefixes)."""
    inverse = {
        "embed_tokens.weight": "embed_tokens.embedding_weight",
        "embed_pos.weight": "embed_pos.embedding_weight",
        "puzzle_emb.weight": "puzzle_emb.weights",
        "y_init": "H_init",
        "z_init": "L_init",
    }
    if key in inverse:
        return "inner." + inverse[key]
    if key.startswith("net."):
        return "inner.L_level." + key[len("net.") :]
    if key.startswith("net_H."):
        return "inner.H_level." + key[len("net_H.") :]
    return "inner." + key


def load_official_state_dict(model: TRM, state_dict: dict[str, torch.Tensor], strict: bool = True) -> None:
    """Copy an official state dict into ``model``. Errors name the offending key."""
    ours = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    unknown = []
    for key, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor):
            raise ConfigError(f"official state dict: value of {key!r} is not a tensor")
        try:
            name = official_to_ours(key, model.cfg.arch)
        except KeyError:
            unknown.append(key)
            continue
        if name not in ours:
            unknown.append(key)
            continue
        if tuple(tensor.shape) != tuple(ours[name].shape):
            raise ConfigError(
                f"official state dict: {key!r} has shape {tuple(tensor.shape)} but this config expects "
                f"{tuple(ours[name].shape)} (for {name!r}); does the config match the checkpoint?"
            )
        mapped[name] = tensor.detach().to(ours[name].dtype)
    missing = sorted(set(ours) - set(mapped))
    if strict and unknown:
        raise ConfigError(
            f"official state dict: unexpected key(s) {sorted(unknown)} for a {model.cfg.arch} model"
        )
    if strict and missing:
        off = [ours_to_official(m, model.cfg.arch) for m in missing]
        raise ConfigError(f"official state dict: missing key(s) {off}")
    with torch.no_grad():
        for name, tensor in mapped.items():
            ours[name].copy_(tensor)


def export_official_state_dict(model: TRM, prefix: str = "_orig_mod.model.") -> dict[str, torch.Tensor]:
    """Our weights under the official key names (for the official trainer/evaluator)."""
    return {
        prefix + ours_to_official(k, model.cfg.arch): v.detach().clone()
        for k, v in model.state_dict().items()
    }
