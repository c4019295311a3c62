"""Checkpoints of a training run: what :class:`~.trainer.Trainer` writes to ``RUN/checkpoints`` and how it
resumes from ``checkpoints/last`` (the tensor formats are in :mod:`.checkpoint`)."""

from __future__ import annotations

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


class Checkpointing:
    """The save and resume half of :class:`~.trainer.Trainer` (a mixin: it uses the trainer's attributes)."""

    def _saved_config(self) -> Config:
        last = resolve_slot(self.ckpt_dir / "last")  # recovers a slot a crash left missing or dangling
        if not last.is_dir():
            raise TRMError(f"{self.run_dir}: nothing to resume (no checkpoints/last)")
        return read_config(last)[0]

    def _prepare_resume(self, cfg: Config, data_dir, explicit: frozenset[str]):
        saved = self._saved_config()
        if "selected_on" not in read_config(self.ckpt_dir / "last")[1] and "eval.select_on" not in explicit:
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
        model_state, tensors, state = read_checkpoint(self.ckpt_dir / "last")
        if data_dir is None:
            data_dir = saved.data.path or None
        return cfg, data_dir, (model_state, tensors, state)

    def _load_resume(
        self, model_state: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor], state: TrainingState
    ) -> None:
        load_state_into(self.model, model_state, source=str(self.ckpt_dir / "last"))
        if self.ema is not None:
            self.ema.load_state_dict({n: model_state[n].to(self.device) for n in self.ema.names})
            live = {n: tensors[f"live.{n}"] for n in self.ema.names if f"live.{n}" in tensors}
            if len(live) != len(self.ema.names):
                raise TRMError(f"{self.ckpt_dir / 'last'}: training state lacks the live weights")
            with torch.no_grad():
                params = dict(self.model.named_parameters())
                for n, v in live.items():
                    params[n].copy_(v)
        load_optimizer_tensors(self.opt, self.names, tensors)
        self.data.sampler.load_state_dict(state.sampler)
        set_host_rng_state(state)
        rngs = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"rng.{self.dist.rank}.")}
        if rngs and state.world_size == self.dist.world_size:
            set_rng_state_tensors(rngs, self.device)
        elif state.world_size != self.dist.world_size:
            self.note(
                f"note: the run was saved with {state.world_size} process(es) and resumes with "
                f"{self.dist.world_size}; the halting-exploration random stream restarts"
            )
        carry = carry_from_tensors(tensors, self.device, self.dtype)
        if carry is not None:
            per_rank = self.global_batch // self.dist.world_size
            sl = slice(self.dist.rank * per_rank, (self.dist.rank + 1) * per_rank)
            carry = Carry(
                y=carry.y[sl],
                z=carry.z[sl],
                steps=carry.steps[sl],
                halted=carry.halted[sl],
                data={k: v[sl] for k, v in carry.data.items()},
            )
        self.carry = carry
        state.world_size = self.dist.world_size
        self.state = state
        self.note(f"resumed {self.run_dir} at step {state.step}")

    def _model_state(self) -> dict[str, torch.Tensor]:
        """The weights a checkpoint's model folder holds: the EMA where there is one."""
        return self.ema.model_state(self.model) if self.ema is not None else self.model.state_dict()

    def _meta(self, eval_metrics: dict[str, float] | None) -> dict[str, Any]:
        meta = {
            "step": self.state.step,
            "weights": "ema" if self.ema is not None else "live",
            "train_seconds": round(self.state.train_seconds, 3),
            "dataset": self.cfg.data.path,
            "data_info": self.data.task,  # how the training puzzles were made (serve's examples follow it)
            "selected_on": self.cfg.eval.select_on,  # the split "eval" is on and "best" was chosen by
            "eval_split": self.data.validation["split"],
        }
        if eval_metrics is not None:
            meta["eval"] = eval_metrics
        return meta

    def save(self, best: bool = False, eval_metrics: dict[str, float] | None = None) -> None:
        """Write checkpoints/last (collective under DDP: every rank must call it) and, if ``best``, checkpoints/best."""
        carry = None
        if self.carry is not None:
            carry = {
                k: D.all_gather_cat(v.to(torch.uint8) if v.dtype == torch.bool else v, self.dist)
                for k, v in carry_tensors(self.carry).items()
            }
        rngs = D.all_gather_objects(rng_state_tensors(self.device), self.dist)
        if self.main:
            self.state.sampler = self.data.sampler.state_dict()
            host = host_rng_state()
            self.state.python_random, self.state.numpy_random = host["python_random"], host["numpy_random"]
            tensors = optimizer_tensors(self.opt, self.names)
            for rank, states in enumerate(rngs):
                tensors.update({f"rng.{rank}.{k}": v for k, v in states.items()})
            if carry is not None:
                tensors.update(carry)
            model_state = self._model_state()
            if self.ema is not None:
                tensors.update({f"live.{n}": p for n, p in self.model.named_parameters()})
            meta = self._meta(eval_metrics)
            write_checkpoint(self.ckpt_dir / "last", self.cfg, model_state, tensors, self.state, meta)
            if best:
                write_checkpoint(self.ckpt_dir / "best", self.cfg, model_state, None, self.state, meta)
        if self.dist.enabled:
            torch.distributed.barrier(group=self.dist.group)
