"""The runner's engine on trm's side: a PyTorch backend, trm.infer's task codecs, and loading either kind.

:class:`~trm.deploy.onnx_runner.Engine` steps puzzles through any backend with ``init_state``,
``puzzle_rows`` and ``step``; here are the PyTorch one (``model.step`` on numpy arrays) and adapters so that
answers are parsed, formatted and verified by :mod:`trm.infer.tasks`, exactly as ``trm solve`` does.

Hook for ``trm solve EXPORT_DIR PUZZLE --backend onnx``::

    from trm.deploy.backends import load_onnx_solver
    result = load_onnx_solver(path).solve(puzzle, mode=..., threshold=..., max_steps=..., samples=...,
                                          noise=..., seed=..., vote=..., trace=...)
    print(json.dumps(result))   # the same object as SolveResult.to_json()
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Config
from ..utils import TRMError
from .onnx_runner import MANIFEST, Codec, Engine, OnnxSolver, Parsed, PuzzleError


class TorchBackend:
    """``model.step`` with numpy in and out (float32 or the model's dtype inside)."""

    def __init__(self, model, threads: int | None = None):
        self.model = model.eval()
        self.total_len, self.hidden_size = model.cfg.total_len, model.cfg.hidden_size
        self.device = model.y_init.device
        if threads:
            torch.set_num_threads(threads)

    def init_state(self) -> tuple[np.ndarray, np.ndarray]:
        return self.model.y_init.float().cpu().numpy(), self.model.z_init.float().cpu().numpy()

    def puzzle_rows(self, pids: np.ndarray) -> np.ndarray:
        n = self.model.cfg.num_puzzle_identifiers
        if self.model.P > 0 and (pids.min() < 0 or pids.max() >= n):
            raise PuzzleError(f"puzzle_identifier must be in [0, {n})")
        return pids  # the model looks its table up itself

    @torch.inference_mode()
    def step(self, y, z, inputs, rows):
        dt, dev = self.model.dtype, self.device
        batch = {"inputs": torch.from_numpy(np.ascontiguousarray(inputs)).to(dev),
                 "puzzle_identifiers": torch.from_numpy(np.asarray(rows, dtype=np.int32)).to(dev)}
        y, z, logits, q_halt, _ = self.model.step(torch.from_numpy(y).to(dev, dt), torch.from_numpy(z).to(dev, dt), batch)
        return (y.float().cpu().numpy(), z.float().cpu().numpy(), logits.float().cpu().numpy(),
                q_halt.float().cpu().numpy())


def torch_noise_table(seed: int, step: int, K: int, shape: tuple[int, int]) -> np.ndarray:
    """The latent noise of :mod:`trm.infer.engine` (torch generator), so sampled answers match ``trm solve``."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    t = torch.randn((K, *shape), generator=g)
    t[0] = 0
    return t.numpy()


class InferCodec(Codec):
    """A :mod:`trm.infer.tasks` codec behind the runner's codec interface."""

    def __init__(self, codec, task: str, seq_len: int, vocab_size: int):
        super().__init__(seq_len, vocab_size)
        self.inner, self.task = codec, task

    def parse(self, puzzle: Any) -> Parsed:
        pid = 0
        if self.task == "arc" and isinstance(puzzle, dict) and "input" in puzzle:
            pid, puzzle = int(puzzle.get("puzzle_identifier", 0)), puzzle["input"]
        p = self.inner.parse(puzzle)
        return Parsed(np.asarray(p.tokens, dtype=np.int64), pid, {"puzzle": p})

    def format(self, tokens: np.ndarray, puzzle: Parsed) -> Any:
        return self.inner.format(np.asarray(tokens), puzzle.ctx["puzzle"])

    def verify(self, puzzle: Parsed, tokens: np.ndarray) -> tuple[bool | None, list[str]]:
        return self.inner.verify(puzzle.ctx["puzzle"], np.asarray(tokens))

    @property
    def info(self) -> dict[str, Any]:
        return self.inner.info.to_dict()


def infer_codec(cfg: Config, meta: dict[str, Any] | None = None) -> InferCodec:
    from ..infer.tasks import make_codec, task_info

    info = task_info(cfg, meta)
    return InferCodec(make_codec(info, cfg), info.kind, cfg.model.seq_len, cfg.model.vocab_size)


def is_export_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / MANIFEST).is_file()


def load_onnx_solver(export_dir: str | os.PathLike, variant: str = "float32", threads: int | None = None
                     ) -> OnnxSolver:
    """An :class:`OnnxSolver` whose answers are parsed, formatted and verified by trm.infer's codecs."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise TRMError("the ONNX backend needs onnxruntime: pip install 'trm[onnx]'") from None
    if not is_export_dir(export_dir):
        raise TRMError(f"{export_dir}: not an ONNX export folder (no {MANIFEST}); create one with "
                       f"`trm export CHECKPOINT --format onnx --out DIR`")
    try:
        solver = OnnxSolver(export_dir, variant=variant, threads=threads)
    except (ValueError, FileNotFoundError) as e:
        raise TRMError(str(e)) from None
    cfg = Config.from_dict(solver.manifest["config"])
    solver.codec = infer_codec(cfg, solver.manifest.get("meta"))
    solver.noise = torch_noise_table
    return solver


@dataclass
class LoadedModel:
    """A model ready to serve: its backend, codec, config and a description."""

    backend: Any
    codec: InferCodec
    cfg: Config
    meta: dict[str, Any]
    kind: str  # "torch" or "onnx"
    dense_parameters: int
    puzzle_emb_parameters: int

    def engine(self, max_rows: int) -> Engine:
        return Engine(self.backend, self.cfg.model.N_sup, max_rows, noise=torch_noise_table)


def load_for_serving(path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> LoadedModel:
    """A model folder / checkpoint / run directory (PyTorch) or an ONNX export folder."""
    if is_export_dir(path):
        solver = load_onnx_solver(path, threads=threads)
        man = solver.manifest
        return LoadedModel(solver.backend, solver.codec, Config.from_dict(man["config"]), man.get("meta", {}), "onnx",
                           man["parameters"]["dense"], man["parameters"]["puzzle_emb"])
    from ..checkpoint import load_model
    from ..utils import resolve_device

    model, cfg, meta = load_model(path, device=resolve_device(device))
    table = model.puzzle_emb.weight.numel() if model.P > 0 else 0
    return LoadedModel(TorchBackend(model, threads), infer_codec(cfg, meta), cfg, meta, "torch",
                       model.num_dense_parameters(), int(table))

