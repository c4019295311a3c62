"""Resumable training checkpoints, built on the model folders of :mod:`trm.checkpoint`.

A training checkpoint directory (``RUN/checkpoints/last``) is a model folder plus the state to resume:

    config.json              resolved config (model folder)
    model.safetensors        weights for inference: the EMA weights when EMA is on, else the live ones
    train_state.safetensors  live dense weights (``live.<name>``, with EMA on), optimizer moments
                             (``optim.<name>.<key>``), EMA weights (``ema.<name>``), the ACT carry of every
                             rank concatenated in rank order (``carry.*``) and each rank's torch RNG states as
                             uint8 tensors (``rng.<rank>.cpu``, ``rng.<rank>.<device>``)
    train_state.json         step, elapsed time, sampler state, Python/NumPy RNG states, best metric so far

Nothing is pickled. Directories are written atomically (a crash leaves the previous checkpoint intact).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import CONFIG_FILE, WEIGHTS_FILE, write_model_files
from ..config import Config
from ..model import TRM
from ..model.recursive import Carry
from ..utils import TRMError, atomic_directory, atomic_write_json

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


def load_optimizer_tensors(opt: torch.optim.Optimizer, names: dict[int, str], tensors: dict[str, torch.Tensor]) -> None:
    for group in opt.param_groups:
        for p in group["params"]:
            prefix = f"optim.{names[id(p)]}."
            state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            if not state:
                continue
            for key, value in state.items():
                # the step counter stays where the optimizer keeps it (on the CPU), moments go to the parameter
                state[key] = value.clone() if key == "step" else value.to(p.device, dtype=p.dtype)
            opt.state[p] = state


def carry_tensors(carry: Carry) -> dict[str, torch.Tensor]:
    out = {"carry.y": carry.y, "carry.z": carry.z, "carry.steps": carry.steps,
           "carry.halted": carry.halted.to(torch.uint8)}
    out.update({f"carry.data.{k}": v for k, v in carry.data.items()})
    return out


def carry_from_tensors(tensors: dict[str, torch.Tensor], device: torch.device, dtype: torch.dtype) -> Carry | None:
    if "carry.y" not in tensors:
        return None
    data = {k[len("carry.data."):]: v.to(device) for k, v in tensors.items() if k.startswith("carry.data.")}
    return Carry(y=tensors["carry.y"].to(device, dtype), z=tensors["carry.z"].to(device, dtype),
                 steps=tensors["carry.steps"].to(device), halted=tensors["carry.halted"].to(device).bool(), data=data)


def write_checkpoint(path: Path, cfg: Config, model_state: dict[str, torch.Tensor],
                     train_tensors: dict[str, torch.Tensor] | None, state: TrainingState,
                     meta: dict[str, Any] | None = None) -> None:
    """Atomically write a checkpoint directory: model folder, plus the training state when given."""
    from safetensors.torch import save_file

    with atomic_directory(path) as tmp:
        write_model_files(tmp, model_state, cfg, meta)
        if train_tensors is not None:
            save_file({k: v.detach().contiguous().cpu() for k, v in train_tensors.items()}, str(tmp / STATE_TENSORS))
        payload = {"format_version": STATE_VERSION, **{k: v for k, v in state.__dict__.items()}}
        atomic_write_json(tmp / STATE_JSON, payload)


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], TrainingState]:
    """(model state, training tensors, training state) of a checkpoint written by :func:`write_checkpoint`."""
    from safetensors.torch import load_file

    from ..checkpoint import load_state

    for name in (CONFIG_FILE, WEIGHTS_FILE, STATE_TENSORS, STATE_JSON):
        if not (path / name).is_file():
            raise TRMError(f"{path}: not a resumable training checkpoint ({name} is missing)")
    try:
        raw = json.loads((path / STATE_JSON).read_text())
    except json.JSONDecodeError as e:
        raise TRMError(f"{path / STATE_JSON}: corrupt JSON ({e})") from None
    version = raw.pop("format_version", 0)
    if version > STATE_VERSION:
        raise TRMError(f"{path}: training state version {version} is newer than this trm supports; upgrade trm")
    known = set(TrainingState.__dataclass_fields__)
    state = TrainingState(**{k: v for k, v in raw.items() if k in known})
    try:
        tensors = load_file(str(path / STATE_TENSORS))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise TRMError(f"{path / STATE_TENSORS}: corrupt ({e})") from None
    return load_state(path), tensors, state


def model_parameter_names(model: TRM) -> dict[int, str]:
    return {id(p): name for name, p in model.named_parameters()}
