"""Checkpoints of a training run: what :class:`~.trainer.Trainer` writes to ``RUN/checkpoints`` and how it
resumes from ``checkpoints/last`` (:class:`Checkpointer`; the tensor formats are in :mod:`.checkpoint`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed

from ..checkpoint import load_state_into, read_config, resolve_slot
from ..config import Config
from ..model.recursive import Carry
from ..utils import TRMError
from . import distributed as D
from .checkpoint import (
    TrainingState,
    carry_from_tensors,
    carry_tensors,
    host_rng_state,
    load_optimizer_tensors,
    optimizer_tensors,
    read_checkpoint,
    rng_state_tensors,
    set_host_rng_state,
    set_rng_state_tensors,
    write_checkpoint,
)
from .data import DATASET_KEYS
from .ema import EMA


def saved_config(run_dir: Path) -> Config:
    """The config of the run in ``run_dir`` (from ``checkpoints/last``, which a crash may have left to recover)."""
    last = resolve_slot(Path(run_dir) / "checkpoints" / "last")
    if not last.is_dir():
        raise TRMError(f"{run_dir}: nothing to resume (no checkpoints/last)")
    return read_config(last)[0]


@dataclass
class Resume:
    """What :meth:`Checkpointer.prepare_resume` read from ``checkpoints/last``, for :meth:`Checkpointer.restore`."""

    model_state: dict[str, torch.Tensor]
    tensors: dict[str, torch.Tensor]
    state: TrainingState


@dataclass
class Trained:
    """The pieces of a run a checkpoint holds (besides its config and counters)."""

    model: torch.nn.Module
    opt: torch.optim.Optimizer
    ema: EMA | None
    names: list[str]  # the model's dense parameter names, in the optimizer's order
    sampler: Any  # trm.data.sampler.TrainSampler of this rank

    def model_state(self) -> dict[str, torch.Tensor]:
        """The weights a checkpoint's model folder holds: the EMA where there is one."""
        return self.ema.model_state(self.model) if self.ema is not None else self.model.state_dict()


class Checkpointer:
    """Writes ``RUN/checkpoints/last`` (resumable: weights, EMA, optimizer moments, sampler and RNG states, the
    carry) and ``best`` (a model folder), and resumes from ``last``. Everything it reads or writes is an argument."""

    def __init__(self, run_dir: Path, dist: D.DistInfo, note: Callable[[str], None]):
        self.run_dir, self.dir, self.dist, self.note = (
            Path(run_dir),
            Path(run_dir) / "checkpoints",
            dist,
            note,
        )

    def prepare_resume(self, cfg: Config, data_dir, explicit: frozenset[str]) -> tuple[Config, Any, Resume]:
        """``cfg`` checked against the saved run (same model; the dataset-determined sizes as saved), the data
        directory (default: the recorded one) and what :meth:`restore` needs."""
        saved = saved_config(self.run_dir)
        if "selected_on" not in read_config(self.dir / "last")[1] and "eval.select_on" not in explicit:
            # a run started before validation splits evaluated and kept its best on the test split: it goes on
            # doing so (its sampler state and best metric are about that protocol)
            cfg = cfg.override({"eval.select_on": "test"})
            self.note("note: this run was started before validation splits; it keeps eval.select_on=test")
        # the dataset-determined sizes were filled in when the run started
        cfg = cfg.override(
            {f"model.{k}": getattr(saved.model, k) for k in DATASET_KEYS if f"model.{k}" not in explicit}
        )
        if cfg.model != saved.model:
            diff = [
                k
                for k in saved.model.__dataclass_fields__
                if getattr(saved.model, k) != getattr(cfg.model, k)
            ]
            raise TRMError(
                f"cannot resume {self.run_dir}: its checkpoint was made with a different model config "
                f"(differs in {', '.join('model.' + k for k in diff)})"
            )
        model_state, tensors, state = read_checkpoint(self.dir / "last")
        if data_dir is None:
            data_dir = saved.data.path or None
        return cfg, data_dir, Resume(model_state, tensors, state)

    def restore(
        self, resume: Resume, run: Trained, device: torch.device, dtype: torch.dtype, global_batch: int
    ) -> tuple[TrainingState, Carry | None]:
        """Load ``resume`` into ``run`` (weights, EMA, live weights, optimizer, sampler, RNGs); returns the
        training counters and this rank's rows of the saved carry."""
        source = str(self.dir / "last")
        model_state, tensors, state = resume.model_state, resume.tensors, resume.state
        load_state_into(run.model, model_state, source=source)
        if run.ema is not None:
            run.ema.load_state_dict({n: model_state[n].to(device) for n in run.ema.names})
            live = {n: tensors[f"live.{n}"] for n in run.ema.names if f"live.{n}" in tensors}
            if len(live) != len(run.ema.names):
                raise TRMError(f"{source}: training state lacks the live weights")
            with torch.no_grad():
                params = dict(run.model.named_parameters())
                for n, v in live.items():
                    params[n].copy_(v)
        load_optimizer_tensors(run.opt, run.names, tensors)
        run.sampler.load_state_dict(state.sampler)
        set_host_rng_state(state)
        rank, world = self.dist.rank, self.dist.world_size
        rngs = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"rng.{rank}.")}
        if rngs and state.world_size == world:
            set_rng_state_tensors(rngs, device)
        elif state.world_size != world:
            self.note(
                f"note: the run was saved with {state.world_size} process(es) and resumes with {world}; the "
                "halting-exploration random stream restarts"
            )
        carry = carry_from_tensors(tensors, device, dtype)
        if carry is not None:
            per_rank = global_batch // world
            sl = slice(rank * per_rank, (rank + 1) * per_rank)
            carry = Carry(
                y=carry.y[sl],
                z=carry.z[sl],
                steps=carry.steps[sl],
                halted=carry.halted[sl],
                data={k: v[sl] for k, v in carry.data.items()},
            )
        state.world_size = world
        self.note(f"resumed {self.run_dir} at step {state.step}")
        return state, carry

    def save(
        self,
        cfg: Config,
        run: Trained,
        state: TrainingState,
        carry: Carry | None,
        device: torch.device,
        meta: dict[str, Any],
        best: bool = False,
    ) -> None:
        """Write checkpoints/last (collective under DDP: every rank must call it) and, if ``best``,
        checkpoints/best."""
        gathered = None
        if carry is not None:
            gathered = {
                k: D.all_gather_cat(v.to(torch.uint8) if v.dtype == torch.bool else v, self.dist)
                for k, v in carry_tensors(carry).items()
            }
        rngs = D.all_gather_objects(rng_state_tensors(device), self.dist)
        if self.dist.is_main:
            state.sampler = run.sampler.state_dict()
            host = host_rng_state()
            state.python_random, state.numpy_random = host["python_random"], host["numpy_random"]
            tensors = optimizer_tensors(run.opt, run.names)
            for rank, states in enumerate(rngs):
                tensors.update({f"rng.{rank}.{k}": v for k, v in states.items()})
            if gathered is not None:
                tensors.update(gathered)
            model_state = run.model_state()
            if run.ema is not None:
                tensors.update({f"live.{n}": p for n, p in run.model.named_parameters()})
            write_checkpoint(self.dir / "last", cfg, model_state, tensors, state, meta)
            if best:
                write_checkpoint(self.dir / "best", cfg, model_state, None, state, meta)
        if self.dist.enabled:
            torch.distributed.barrier(group=self.dist.group)

    def save_best(self, cfg: Config, run: Trained, state: TrainingState, meta: dict[str, Any]) -> None:
        """Write only checkpoints/best (a run that keeps no resumable state at evaluations); main rank."""
        write_checkpoint(self.dir / "best", cfg, run.model_state(), None, state, meta)
