"""The run directory's bookkeeping: a fresh directory for a new run, and ``run_info.json`` (versions, machine,
command, seed, resumes), so that every run records what it ran on."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy
import torch

from .. import __version__
from ..config import Config
from ..hardware import machine_info
from ..utils import TRMError, atomic_write_json


def holds_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a training run (a checkpoint or a metrics log)."""
    return (run_dir / "checkpoints" / "last").exists() or (run_dir / "metrics.jsonl").exists()


def prepare_run_dir(run_dir: Path, overwrite: bool, is_main: bool) -> None:
    """Refuse to start over an existing run unless ``overwrite``; rank 0 clears it and creates the directory.
    Every rank checks, so that all of them stop together."""
    if holds_run(run_dir):
        if not overwrite:
            raise TRMError(
                f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose another --out"
            )
        if not is_main:
            return
        for name in ("checkpoints", "metrics.jsonl", "tensorboard"):
            p = run_dir / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)


def write_run_info(
    run_dir: Path,
    cfg: Config,
    data_dir,
    device: torch.device,
    dtype: torch.dtype,
    world_size: int,
    validation: dict | None = None,
) -> None:
    info = {
        "trm": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command": sys.argv,
        "cwd": os.getcwd(),
        "dataset": str(Path(data_dir).resolve()),
        "seed": cfg.train.loop.seed,
        "selected_on": cfg.eval.select_on,
        "validation": validation,
        "device": str(device),
        "dtype": str(dtype).replace("torch.", ""),
        "world_size": world_size,
        **machine_info(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "resumes": [],
    }
    atomic_write_json(run_dir / "run_info.json", info)


def append_resume_info(run_dir: Path, device: torch.device, world_size: int) -> None:
    path = run_dir / "run_info.json"
    try:
        info = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        info = {}
    if not isinstance(info, dict):
        info = {}
    info.setdefault("resumes", []).append(
        {
            "command": sys.argv,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "device": str(device),
            "world_size": world_size,
            **machine_info(),
        }
    )
    atomic_write_json(path, info)
