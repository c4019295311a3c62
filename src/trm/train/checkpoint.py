"""Resumable training checkpoints, built on the model folders of :mod:`trm.checkpoint`.

A training checkpoint directory (``RUN/checkpoints/last``) is a model folder plus the state to resume:

    config.json              resolved config (model folder)
    model.safetensors        weights for inference: the EMA weights when EMA is on, else the live ones
    train_state.safetensors  live dense weights (``live.<name>``, with EMA on), optimizer moments
                             (``optim.<name>.<key>``), EMA weights (``ema.<name>``), the ACT carry of every
                             rank concatenated in rank order (``carry.*``) and each rank's torch RNG states as
                             uint8 tensors (``rng.<rank>.cpu``, ``rng.<rank>.<device>``)
    train_state.json         step, elapsed time, sampler state, Python/NumPy RNG states, best metric so far

Nothing is pickled. ``last`` and ``best`` are crash-safe slots (:class:`trm.checkpoint.write_slot`): a crash at
any point of a save leaves the previous or the new checkpoint, and a failed write (a full disk) keeps the
previous one and raises a one-line :class:`~trm.utils.TRMError`. :func:`read_checkpoint` checks every file and
names the file and the problem when one is missing or corrupt.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    check_format_version,
    check_state,
    load_state,
    load_tensor_file,
    meta_state,
    read_config,
    read_json_object,
    resolve_slot,
    save_tensors,
    write_model_files,
    write_slot,
)
from ..config import Config
from ..model import TRM
from ..model.recursive import Carry
from ..utils import TRMError, atomic_write_json

STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"
STATE_VERSION = 1


@dataclass
class TrainingState:
    """Everything besides the model that a resumed run needs, in plain Python and tensors."""

    step: int = 0
    train_seconds: float = 0.0
    sampler: Any = None
    best_metric: float | None = None
    best_step: int | None = None
    python_random: Any = None
    numpy_random: Any = None
    world_size: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def rng_state_tensors(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's torch RNG states as uint8 tensors (CPU, and the accelerator's when used)."""
    out = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        out["mps"] = torch.mps.get_rng_state()
    return out


def set_rng_state_tensors(states: dict[str, torch.Tensor], device: torch.device) -> None:
    if "cpu" in states:
        torch.set_rng_state(states["cpu"])
    if device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"], device)
    elif device.type == "mps" and "mps" in states:
        torch.mps.set_rng_state(states["mps"])


def host_rng_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python_random": [version, list(internal), gauss],
        "numpy_random": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }


def set_host_rng_state(state: TrainingState) -> None:
    if state.python_random is not None:
        version, internal, gauss = state.python_random
        random.setstate((version, tuple(internal), gauss))
    if state.numpy_random is not None:
        name, keys, pos, has_gauss, cached = state.numpy_random
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def optimizer_tensors(opt: torch.optim.Optimizer, names: dict[int, str]) -> dict[str, torch.Tensor]:
    """``optim.<param name>.<key>`` for every tensor in the optimizer state (by parameter name, not index)."""
    out = {}
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if not torch.is_tensor(value):
                    value = torch.tensor(value)
                out[f"optim.{names[id(p)]}.{key}"] = value
    return out


def load_optimizer_tensors(
    opt: torch.optim.Optimizer, names: dict[int, str], tensors: dict[str, torch.Tensor]
) -> None:
    for group in opt.param_groups:
        for p in group["params"]:
            prefix = f"optim.{names[id(p)]}."
            state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            if not state:
                continue
            for key, value in state.items():
                # the step counter stays where the optimizer keeps it (on the CPU), moments go to the parameter
                state[key] = value.clone() if key == "step" else value.to(p.device, dtype=p.dtype)
            opt.state[p] = state


def carry_tensors(carry: Carry) -> dict[str, torch.Tensor]:
    out = {
        "carry.y": carry.y,
        "carry.z": carry.z,
        "carry.steps": carry.steps,
        "carry.halted": carry.halted.to(torch.uint8),
    }
    out.update({f"carry.data.{k}": v for k, v in carry.data.items()})
    return out


def carry_from_tensors(
    tensors: dict[str, torch.Tensor], device: torch.device, dtype: torch.dtype
) -> Carry | None:
    if "carry.y" not in tensors:
        return None
    data = {k[len("carry.data.") :]: v.to(device) for k, v in tensors.items() if k.startswith("carry.data.")}
    return Carry(
        y=tensors["carry.y"].to(device, dtype),
        z=tensors["carry.z"].to(device, dtype),
        steps=tensors["carry.steps"].to(device),
        halted=tensors["carry.halted"].to(device).bool(),
        data=data,
    )


def write_checkpoint(
    path: Path,
    cfg: Config,
    model_state: dict[str, torch.Tensor],
    train_tensors: dict[str, torch.Tensor] | None,
    state: TrainingState,
    meta: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint slot (crash-safe): model folder, plus the training state when given.

    A failed write (full disk, file-size limit, permissions) keeps the previous checkpoint and raises TRMError.
    """
    path = Path(path)
    try:
        with write_slot(path) as tmp:
            write_model_files(tmp, model_state, cfg, meta)
            if train_tensors is not None:
                save_tensors(train_tensors, tmp / STATE_TENSORS)
            payload = {"format_version": STATE_VERSION, **{k: v for k, v in state.__dict__.items()}}
            atomic_write_json(tmp / STATE_JSON, payload)
    except OSError as e:
        kept = (
            "the previous checkpoint is kept" if resolve_slot(path).is_dir() else "no checkpoint was written"
        )
        what = f" while writing {Path(e.filename).name}" if e.filename else ""
        raise TRMError(f"{path}: cannot write the checkpoint ({e.strerror or e}{what}); {kept}") from None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_state_json(raw: dict[str, Any], where: Path) -> TrainingState:
    """A TrainingState from train_state.json, every field checked (types, ranges, RNG states)."""

    def bad(key: str, what: str) -> TRMError:
        return TRMError(f"{where}: {key} must be {what}, got {raw.get(key)!r:.80}")

    if not _is_int(raw.get("step")) or raw["step"] < 0:
        raise bad("step", "a non-negative integer")
    if not _is_number(raw.get("train_seconds", 0.0)) or raw.get("train_seconds", 0.0) < 0:
        raise bad("train_seconds", "a non-negative number")
    for key in ("best_metric",):
        if raw.get(key) is not None and not _is_number(raw[key]):
            raise bad(key, "a number or null")
    if raw.get("best_step") is not None and not _is_int(raw["best_step"]):
        raise bad("best_step", "an integer or null")
    if not _is_int(raw.get("world_size", 1)) or raw.get("world_size", 1) < 1:
        raise bad("world_size", "a positive integer")
    if not isinstance(raw.get("extra", {}), dict):
        raise bad("extra", "a JSON object")
    if raw.get("sampler") is not None and not isinstance(raw["sampler"], dict):
        raise bad("sampler", "a JSON object")
    known = set(TrainingState.__dataclass_fields__)
    state = TrainingState(**{k: v for k, v in raw.items() if k in known})
    if state.extra is None:
        state.extra = {}
    # the RNG states are applied later; try them on throwaway generators so that a corrupt one is named here
    try:
        if state.python_random is not None:
            version, internal, gauss = state.python_random
            random.Random().setstate((version, tuple(internal), gauss))
    except Exception:  # noqa: BLE001 - probing untrusted data: any failure means it is not a state
        raise bad("python_random", "a Python random state") from None
    try:
        if state.numpy_random is not None:
            name, keys, pos, has_gauss, cached = state.numpy_random
            np.random.RandomState().set_state(
                (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)
            )
    except Exception:  # noqa: BLE001 - probing untrusted data: any failure means it is not a state
        raise bad("numpy_random", "a NumPy random state") from None
    return state


# optimizer state entries shaped like their parameter (AdamATan2, AdamW, Muon); others are not checked here
PARAMETER_SHAPED = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer")


def _check_train_tensors(
    tensors: dict[str, torch.Tensor], model_state: dict[str, torch.Tensor], cfg: Config, where: Path
) -> None:
    """Shapes and dtypes of the training tensors against the weights and the config they belong to."""
    cpu_rng_size = torch.get_rng_state().numel()
    for key, v in tensors.items():
        kind, _, rest = key.partition(".")
        if kind == "live" or (kind == "optim" and rest.rsplit(".", 1)[-1] in PARAMETER_SHAPED):
            name = rest if kind == "live" else rest.rsplit(".", 1)[0]
            if name not in model_state:
                raise TRMError(f"{where}: {key!r} belongs to no weight of the model")
            if tuple(v.shape) != tuple(model_state[name].shape) or not v.is_floating_point():
                raise TRMError(
                    f"{where}: {key!r} has {str(v.dtype).replace('torch.', '')} {tuple(v.shape)}, expected "
                    f"floating point {tuple(model_state[name].shape)}"
                )
        elif kind == "rng":
            if v.dtype != torch.uint8 or v.ndim != 1 or (key.endswith(".cpu") and v.numel() != cpu_rng_size):
                raise TRMError(f"{where}: {key!r} is not a random generator state")
    if any(k.startswith("carry.") for k in tensors):
        need = ("carry.y", "carry.z", "carry.steps", "carry.halted")
        missing = [k for k in need if k not in tensors]
        if missing:
            raise TRMError(f"{where}: incomplete ACT carry (missing {', '.join(missing)})")
        y, z, steps, halted = (tensors[k] for k in need)
        rows = cfg.train.loop.global_batch_size
        if (
            tuple(y.shape) != (rows, cfg.model.total_len, cfg.model.hidden_size)
            or y.shape != z.shape
            or not y.is_floating_point()
            or not z.is_floating_point()
            or steps.shape != (rows,)
            or halted.shape != (rows,)
            or any(v.shape[:1] != (rows,) for k, v in tensors.items() if k.startswith("carry.data."))
        ):
            raise TRMError(f"{where}: the ACT carry tensors have inconsistent shapes")


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], TrainingState]:
    """(model state, training tensors, training state) of a checkpoint written by :func:`write_checkpoint`.

    Recovers the slot after a crash (:func:`trm.checkpoint.resolve_slot`); every file is checked and a missing
    or corrupt one is a TRMError naming it.
    """
    path = resolve_slot(Path(path))
    if not path.is_dir():
        raise TRMError(f"{path}: not a resumable training checkpoint (no such directory)")
    for name in (CONFIG_FILE, WEIGHTS_FILE, STATE_TENSORS, STATE_JSON):
        if not (path / name).is_file():
            raise TRMError(f"{path}: not a resumable training checkpoint ({name} is missing)")
    raw = read_json_object(path / STATE_JSON, "training state")
    check_format_version(raw, STATE_VERSION, path / STATE_JSON)
    raw.pop("format_version", None)
    state = _check_state_json(raw, path / STATE_JSON)
    cfg, _ = read_config(path)
    model_state = load_state(path)
    check_state(meta_state(cfg, path / CONFIG_FILE), model_state, str(path / WEIGHTS_FILE))
    tensors = load_tensor_file(path / STATE_TENSORS)
    _check_train_tensors(tensors, model_state, cfg, path / STATE_TENSORS)
    return model_state, tensors, state


def model_parameter_names(model: TRM) -> dict[int, str]:
    return {id(p): name for name, p in model.named_parameters()}
