"""The PyTorch backend of the engine, and loading a trained model as a :class:`~trm.infer.solver.Solver`.

The engine's big arrays (y, z, inputs) stay tensors on the model's device between steps; only the halting
logits, and the answers of rows that finish (or every answer, when a trace is asked for), come back to the
host. Everything runs under ``torch.inference_mode``.

On a CPU a step is cut into cache-sized parts of rows (about :data:`PART_FLOATS` floats of y each, at least
one per core) that worker threads take one at a time, each running its part on one core; the engine's own
array operations run on one core too. The matrices of a tiny model are too small to split across cores with
profit, and with several intra-op threads one core busy elsewhere stalls the others at every operation's
barrier (a 2.4 MB concatenation took 40 ms instead of 0.1 ms on a 2-core machine with the other core busy).
Float32 models with the MLP over positions run :mod:`trm.model.fast_step` (the same arithmetic, laid out
without transposes). ``fast=False`` keeps the plain path: ``model.step`` on the whole batch, torch's threads.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import load_model
from ..data.format import load_identifiers, load_task_info
from ..hardware import choose_part_rows
from ..model import TRM, fast_step
from ..tasks import get_task
from ..utils import TRMError, resolve_device, resolve_dtype
from .settings import Settings
from .solver import Solver
from .tasks import task_info


@contextlib.contextmanager
def one_core():
    """Inference mode, with torch's CPU operations of this thread on one thread (the setting is per thread)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(n)


class TorchOps:
    """The engine's array operations on tensors of one device and float dtype."""

    def __init__(self, device: torch.device, dtype: torch.dtype):
        self.device, self.dtype = device, dtype

    def _idx(self, idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(idx, np.int64)).to(self.device)

    @one_core()
    def tokens(self, a):
        return torch.from_numpy(np.ascontiguousarray(a, np.int64)).to(self.device)

    @one_core()
    def floats(self, a):
        return torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(self.device, self.dtype)

    def numpy(self, a):
        a = a.detach()
        return (a.float() if a.is_floating_point() else a).cpu().numpy()

    @one_core()
    def cat(self, parts):
        return torch.cat(parts)

    @one_core()
    def take(self, a, idx):
        return a.index_select(0, self._idx(idx))

    @one_core()
    def argmax(self, logits):
        return logits.argmax(-1)

    @one_core()
    def fill(self, vec, n, length):
        return vec.expand(n, length, vec.shape[-1]).contiguous()

    @one_core()
    def add_noise(self, z, rows, table, traj, std):
        i = self._idx(rows)
        noise = (
            table.index_select(0, self._idx(traj))
            * torch.from_numpy(std).to(self.device, z.dtype)[:, None, None]
        )
        return z.index_add_(0, i, noise)


# floats of y per part of a CPU step before the part size has been measured on this machine (batches under
# TUNE_ROWS rows, or part_rows given): 256 KiB, so that a part's activations stay near its core (on the 2-core
# AMD EPYC, 32-row parts of the 6x6 demo model ran 1.2-1.8x faster per core than 128-row ones)
PART_FLOATS = 1 << 16
# the first CPU batch of at least this many rows times the candidate part sizes on its first TUNE_ROWS rows
# (hardware.choose_part_rows; once per machine and model shape, ~2 s for the 6x6 demo model on 2 cores)
TUNE_ROWS = 256


class TorchBackend:
    """``model.step`` behind the engine's :class:`~trm.infer.engine.Backend` interface. ``threads`` sets
    torch's intra-op threads (default: torch's, one per physical core); on a CPU as many parts of a step run
    at once, one per thread (see the module doc). ``fast=False``, or a model that is not a :class:`TRM`: its
    plain ``step`` on the whole batch. ``part_rows``: rows per part (default: measured on this machine by
    :func:`~trm.hardware.choose_part_rows` at the first large batch, and cached)."""

    def __init__(self, model, threads: int | None = None, fast: bool = True, part_rows: int | None = None):
        self.model = model.eval()
        self.total_len, self.hidden_size = model.cfg.total_len, model.cfg.hidden_size
        self.device, self.dtype = model.y_init.device, model.dtype
        self.ops = TorchOps(self.device, self.dtype)
        self.puzzle_ids = model.cfg.num_puzzle_identifiers
        self.workers = set_threads(threads)
        self.fast = fast and isinstance(model, TRM)  # another class (a wrapper, a fake) runs as it is
        self._step = partial(fast_step.step, model) if self.fast and fast_step.supports(model) else model.step
        self.part = part_rows or max(1, PART_FLOATS // (self.total_len * self.hidden_size))
        self._tuned = part_rows is not None
        self._pool: ThreadPoolExecutor | None = None

    def init_state(self):
        return self.model.y_init.detach().to(self.dtype), self.model.z_init.detach().to(self.dtype)

    def puzzle_rows(self, pids: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(pids, np.int32)).to(self.device)  # the model looks rows up

    @torch.inference_mode()
    def _run(self, y, z, inputs, rows):
        return self._step(y, z, {"inputs": inputs, "puzzle_identifiers": rows})

    def step(self, y, z, inputs, rows):
        if not self.fast or self.device.type != "cpu":
            return self._run(y, z, inputs, rows)
        B = len(y)
        if not self._tuned and B >= TUNE_ROWS:
            self._tuned = True  # before measuring: the measurement runs this method
            self.part = self._measure_part(y, z, inputs, rows)
        k = min(B, max(self.workers, -(-B // self.part)))  # parts of equal size
        ends = np.linspace(0, B, k + 1).round().astype(int).tolist()
        parts = [(y[a:b], z[a:b], inputs[a:b], rows[a:b]) for a, b in pairwise(ends)]
        if k == 1 or self.workers == 1:
            with one_core():
                outs = [self._run(*p) for p in parts]
        else:
            if self._pool is None:  # worker threads run single-threaded (see one_core)
                self._pool = ThreadPoolExecutor(self.workers, "trm-step", torch.set_num_threads, (1,))
            outs = list(self._pool.map(lambda p: self._run(*p), parts))
        if k == 1:
            return outs[0]
        with one_core():
            return tuple(torch.cat(o) for o in zip(*outs, strict=True))

    def _measure_part(self, y, z, inputs, rows) -> int:
        """Rows per part with the least time per row, timed as the step runs: on this batch's first
        :data:`TUNE_ROWS` rows, every worker thread busy."""
        cfg = self.model.cfg
        key = f"{cfg.mixer} L={self.total_len} D={self.hidden_size} layers={cfg.num_layers} {self.dtype}"
        sample = (y[:TUNE_ROWS], z[:TUNE_ROWS], inputs[:TUNE_ROWS], rows[:TUNE_ROWS])

        def seconds_per_row(c: int) -> float:
            self.part = c
            best = float("inf")
            for _ in range(3):  # the first also warms up
                t = time.perf_counter()
                self.step(*sample)
                best = min(best, time.perf_counter() - t)
            return best / TUNE_ROWS

        return choose_part_rows(key, seconds_per_row)


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
