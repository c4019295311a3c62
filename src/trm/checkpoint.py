"""Model folders and checkpoints: ``config.json`` + ``model.safetensors``, never pickles.

A *model folder* (also every checkpoint directory) holds:

    config.json          {"format_version", "config": <resolved Config>, "meta": {...}}
    model.safetensors    the weights used for inference (EMA weights when training used EMA), our key names,
                         no wrapper prefixes; includes the puzzle-embedding table and y_init / z_init

A *run directory* (``trm train --out RUN``) holds ``config.json`` and ``checkpoints/{last,best}/`` model
folders; training adds its resumable state next to the weights (see :mod:`trm.train.checkpoint`).
:func:`load_model` accepts any of the three.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from .config import Config, ConfigError
from .model import TRM
from .utils import TRMError, atomic_directory, atomic_write_json

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def write_model_files(folder: Path, state: dict[str, torch.Tensor], cfg: Config, meta: dict[str, Any] | None = None) -> None:
    """Write config.json and model.safetensors into an existing folder (no atomicity of its own)."""
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(folder / WEIGHTS_FILE),
              metadata={"format": "pt", "trm_format_version": str(FORMAT_VERSION)})
    atomic_write_json(folder / CONFIG_FILE, {"format_version": FORMAT_VERSION, "config": cfg.to_dict(),
                                             "meta": meta or {}})


def save_model(path: str | os.PathLike, model: TRM, cfg: Config, meta: dict[str, Any] | None = None,
               state: dict[str, torch.Tensor] | None = None) -> Path:
    """Atomically write a model folder. ``state`` overrides the weights (e.g. the EMA copy)."""
    with atomic_directory(path) as tmp:
        write_model_files(tmp, model.state_dict() if state is None else state, cfg, meta)
    return Path(path)


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A run directory resolves to its best checkpoint, else its last; a model folder to itself."""
    p = Path(path)
    if not p.exists():
        raise TRMError(f"{p}: no such file or directory")
    if p.is_file():
        if p.name in (WEIGHTS_FILE, CONFIG_FILE):
            p = p.parent
        else:
            raise TRMError(f"{p}: expected a run directory, a checkpoint directory or a model folder")
    if (p / WEIGHTS_FILE).is_file():
        return p
    for sub in ("checkpoints/best", "checkpoints/last", "best", "last"):
        if (p / sub / WEIGHTS_FILE).is_file():
            return p / sub
    raise TRMError(f"{p}: no {WEIGHTS_FILE} found (not a model folder, checkpoint or run directory with checkpoints)")


def read_config(folder: str | os.PathLike) -> tuple[Config, dict[str, Any]]:
    path = Path(folder) / CONFIG_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise TRMError(f"{path}: missing") from None
    except json.JSONDecodeError as e:
        raise TRMError(f"{path}: corrupt JSON ({e})") from None
    if not isinstance(raw, dict) or "config" not in raw:
        raise TRMError(f"{path}: not a trm config (no 'config' key)")
    version = raw.get("format_version", 0)
    if version > FORMAT_VERSION:
        raise TRMError(f"{path}: format version {version} is newer than this trm supports ({FORMAT_VERSION}); upgrade trm")
    try:
        cfg = Config.from_dict(raw["config"])
    except ConfigError as e:
        raise TRMError(f"{path}: invalid config: {e}") from None
    return cfg, raw.get("meta", {})


def load_state(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    path = Path(folder) / WEIGHTS_FILE
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise TRMError(f"{path}: missing") from None
    except Exception as e:  # safetensors raises SafetensorError / OSError on corrupt files
        raise TRMError(f"{path}: corrupt or not a safetensors file ({e})") from None


def load_state_into(model: TRM, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict load that explains mismatches in terms of the config instead of a torch traceback."""
    ours = model.state_dict()
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    if missing or unexpected:
        raise TRMError(f"{source}: weights do not match this config (missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                       f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''})")
    for k, v in state.items():
        if tuple(v.shape) != tuple(ours[k].shape):
            raise TRMError(f"{source}: {k!r} has shape {tuple(v.shape)} but the config expects {tuple(ours[k].shape)}; "
                           "the checkpoint was made with a different config")
    model.load_state_dict(state)


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32) -> tuple[TRM, Config, dict[str, Any]]:
    """Load a model folder / checkpoint / run directory for inference (eval mode)."""
    folder = resolve_model_dir(path)
    cfg, meta = read_config(folder)
    model = TRM(cfg.model, dtype=dtype)
    load_state_into(model, load_state(folder), source=str(folder))
    model.to(device).eval()
    return model, cfg, meta
