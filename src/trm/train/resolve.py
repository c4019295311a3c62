"""A training run's configuration resolved once: the user's config, fitted to the dataset (:mod:`.data`),
with the set-up chosen for the machine and every number the loop derives from it.

:func:`resolve` is the one place where a run's config becomes final; :class:`~.trainer.Trainer` calls it
once, before building anything, reads the run's settings from the :class:`Resolved` it returns, and saves
``Resolved.cfg`` as ``RUN/config.json`` (so a resumed run, which starts from that file, does not choose its
set-up again).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..config import Config
from ..hardware import check_train_dtype
from ..utils import TRMError, resolve_dtype
from .step import autotune_cpu_setup


@dataclass(frozen=True)
class Resolved:
    """Everything a run reads from its configuration, final."""

    cfg: Config  # the saved config: dataset sizes and path filled in, dtype and kernels as chosen
    device: torch.device
    dtype: torch.dtype
    world_size: int
    steps_per_epoch: float
    total_steps: int  # train.loop.max_steps, else train.loop.epochs passes over the sampler's epoch
    eval_every: int  # optimizer steps between evaluations (0: only at the end)
    log_every: int  # optimizer steps between logged metric lines
    check_every: int  # optimizer steps between non-finite-loss checks
    time_limit_s: float  # train.loop.max_minutes in seconds (inf: no limit)

    @property
    def global_batch(self) -> int:
        return self.cfg.train.loop.global_batch_size


def resolve(
    cfg: Config,
    *,
    device: torch.device,
    world_size: int,
    steps_per_epoch: float,
    choose_setup: bool = True,
    note: Callable[[str], None] = print,
) -> Resolved:
    """The run of ``cfg`` (already fitted to its dataset, whose sampler makes ``steps_per_epoch``) on
    ``world_size`` processes using ``device``: the set-up chosen where ``train.autotune`` asks for it and
    ``choose_setup`` (a resumed run keeps its saved one), the dtype checked against the device, the batch
    against the processes, and the loop's step counts derived. A one-line :class:`TRMError` for what cannot run."""
    if choose_setup:
        cfg = autotune_cpu_setup(cfg, device, note=note)
    loop = cfg.train.loop
    dtype = resolve_dtype(cfg.train.system.dtype, device)
    check_train_dtype(dtype, device)
    if loop.global_batch_size % world_size:
        raise TRMError(
            f"train.global_batch_size {loop.global_batch_size} is not divisible by the {world_size} processes"
        )
    if loop.eval_interval_steps > 0:
        eval_every = loop.eval_interval_steps
    elif loop.eval_interval > 0:
        eval_every = max(1, round(loop.eval_interval * steps_per_epoch))
    else:
        eval_every = 0
    log_every = max(1, cfg.train.log.log_interval)
    return Resolved(
        cfg=cfg,
        device=device,
        dtype=dtype,
        world_size=world_size,
        steps_per_epoch=steps_per_epoch,
        total_steps=loop.max_steps or max(1, int(loop.epochs * steps_per_epoch)),
        eval_every=eval_every,
        log_every=log_every,
        # non-finite losses: checked every step on the CPU (free), at logging intervals on accelerators (a
        # host synchronisation); under DDP only on the all-reduced logging sums, so that every rank stops together
        check_every=1 if device.type == "cpu" else log_every,
        time_limit_s=loop.max_minutes * 60.0 if loop.max_minutes > 0 else math.inf,
    )
