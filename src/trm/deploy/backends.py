"""Loading a model to answer puzzles: a model folder, checkpoint or run directory (PyTorch backend) or an ONNX
export folder (onnxruntime backend), as one :class:`~trm.infer.solver.Solver` with the same engine, settings
and results either way (``trm solve``, ``trm serve`` on an export folder)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checkpoint import load_model
from ..config import Config
from ..infer.solver import Solver
from ..infer.torch_backend import torch_solver
from ..utils import TRMError, install_hint, resolve_device, resolve_dtype
from .onnx_runner import MANIFEST, OnnxSolver


def is_export_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / MANIFEST).is_file()


def load_onnx_solver(
    export_dir: str | os.PathLike, variant: str = "float32", threads: int | None = None
) -> OnnxSolver:
    """An :class:`OnnxSolver` of an export folder (clear errors when onnxruntime or the folder is missing)."""
    try:
        import onnxruntime  # noqa: F401  (a clear error here rather than deep in a session)
    except ImportError:
        raise TRMError(f"the ONNX backend needs onnxruntime: {install_hint('onnx')}") from None
    if not is_export_dir(export_dir):
        raise TRMError(
            f"{export_dir}: not an ONNX export folder (no {MANIFEST}); create one with "
            f"`trm export CHECKPOINT --format onnx --out DIR`"
        )
    return OnnxSolver(export_dir, variant=variant, threads=threads)


@dataclass
class LoadedModel:
    """A model ready to serve: its solver, config and a description."""

    solver: Solver
    cfg: Config
    meta: dict[str, Any]
    kind: str  # "torch" or "onnx"
    dense_parameters: int
    puzzle_emb_parameters: int


def load_for_serving(
    path: str | os.PathLike, device: str = "cpu", threads: int | None = None, dtype: str = "float32"
) -> LoadedModel:
    """A model folder / checkpoint / run directory (PyTorch on ``device`` in ``dtype``) or an ONNX export folder."""
    if is_export_dir(path):
        solver = load_onnx_solver(path, threads=threads)
        man = solver.manifest
        return LoadedModel(
            solver,
            Config.from_dict(man["config"]),
            man.get("meta", {}),
            "onnx",
            man["parameters"]["dense"],
            man["parameters"]["puzzle_emb"],
        )
    dev = resolve_device(device)
    model, cfg, meta = load_model(path, device=dev, dtype=resolve_dtype(dtype, dev))
    table = model.puzzle_emb.weight.numel() if model.P > 0 else 0
    return LoadedModel(
        torch_solver(model, cfg, meta=meta, threads=threads),
        cfg,
        meta,
        "torch",
        model.num_dense_parameters(),
        int(table),
    )
