"""The PyTorch backend of the engine, and loading a trained model as a :class:`~trm.infer.solver.Solver`.

The engine's big arrays (y, z, inputs) stay tensors on the model's device between steps; only the halting
logits, and the answers of rows that finish (or every answer, when a trace is asked for), come back to the
host. Everything runs under ``torch.inference_mode``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import load_model
from ..data.format import load_identifiers, load_task_info
from ..tasks import get_task
from ..utils import TRMError, resolve_device, resolve_dtype
from .settings import Settings
from .solver import Solver
from .tasks import task_info


class TorchOps:
    """The engine's array operations on tensors of one device and float dtype."""

    def __init__(self, device: torch.device, dtype: torch.dtype):
        self.device, self.dtype = device, dtype

    def _idx(self, idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(idx, np.int64)).to(self.device)

    def tokens(self, a):
        return torch.from_numpy(np.ascontiguousarray(a, np.int64)).to(self.device)

    def floats(self, a):
        return torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(self.device, self.dtype)

    def numpy(self, a):
        a = a.detach()
        return (a.float() if a.is_floating_point() else a).cpu().numpy()

    @torch.inference_mode()
    def cat(self, parts):
        return torch.cat(parts)

    @torch.inference_mode()
    def take(self, a, idx):
        return a.index_select(0, self._idx(idx))

    @torch.inference_mode()
    def argmax(self, logits):
        return logits.argmax(-1)

    @torch.inference_mode()
    def fill(self, vec, n, length):
        return vec.expand(n, length, vec.shape[-1]).contiguous()

    @torch.inference_mode()
    def add_noise(self, z, rows, table, traj, std):
        i = self._idx(rows)
        noise = (
            table.index_select(0, self._idx(traj))
            * torch.from_numpy(std).to(self.device, z.dtype)[:, None, None]
        )
        return z.index_add_(0, i, noise)


class TorchBackend:
    """``model.step`` behind the engine's :class:`~trm.infer.engine.Backend` interface. ``threads`` sets
    torch's intra-op threads (default: torch's, one per physical core)."""

    def __init__(self, model, threads: int | None = None):
        self.model = model.eval()
        self.total_len, self.hidden_size = model.cfg.total_len, model.cfg.hidden_size
        self.device, self.dtype = model.y_init.device, model.dtype
        self.ops = TorchOps(self.device, self.dtype)
        self.puzzle_ids = model.cfg.num_puzzle_identifiers
        set_threads(threads)

    def init_state(self):
        return self.model.y_init.detach().to(self.dtype), self.model.z_init.detach().to(self.dtype)

    def puzzle_rows(self, pids: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(pids, np.int32)).to(
            self.device
        )  # the model looks its table up itself

    @torch.inference_mode()
    def step(self, y, z, inputs, rows):
        return self.model.step(y, z, {"inputs": inputs, "puzzle_identifiers": rows})


def as_backend(model_or_backend):
    """An engine backend as it is, a PyTorch model wrapped in a :class:`TorchBackend`."""
    return model_or_backend if hasattr(model_or_backend, "ops") else TorchBackend(model_or_backend)


def set_threads(threads: int | None = None) -> int:
    """Use ``threads`` intra-op threads (None: leave torch's choice, one per physical core); returns the count."""
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def torch_solver(
    model,
    cfg,
    info=None,
    identifiers: list[str] | None = None,
    meta: dict[str, Any] | None = None,
    threads: int | None = None,
) -> Solver:
    """A :class:`Solver` for an in-memory model; ``info`` defaults to what the config and meta say."""
    info = info or task_info(cfg, meta)
    return Solver(
        TorchBackend(model, threads),
        get_task(info, cfg.model.seq_len, cfg.model.vocab_size),
        model.cfg.N_sup,
        defaults=Settings.from_eval(cfg.eval),
        identifiers=identifiers,
        num_identifiers=cfg.model.num_puzzle_identifiers,
    )


def load_solver(
    path: str | Path,
    device: str = "cpu",
    dtype: str = "float32",
    data: str | Path | None = None,
    threads: int | None = None,
) -> Solver:
    """Load a run directory, checkpoint or model folder as a :class:`Solver`. ``data`` (a dataset directory)
    supplies task details the checkpoint may lack (Sudoku box shape, ARC identifier names)."""
    dev = resolve_device(device)
    model, cfg, meta = load_model(path, dev, resolve_dtype(dtype, dev))
    data_info, identifiers = dataset_task_info(data) if data is not None else (None, None)
    return torch_solver(model, cfg, task_info(cfg, meta, data_info), identifiers, meta, threads)


def dataset_task_info(data: str | Path) -> tuple[dict[str, Any] | None, list[str] | None]:
    """(task info dict, identifier names) from a dataset directory, where present."""
    d = Path(data)
    if not d.is_dir():
        raise TRMError(f"{d}: not a dataset directory")
    return load_task_info(d), (load_identifiers(d) if (d / "identifiers.json").is_file() else None)
