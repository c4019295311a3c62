"""The training loop of SPEC §3–5, on one CPU core or several GPUs, from one code path.

Every call of the ACT wrapper is one optimizer step: halted rows are refilled from the sampler, one
supervision step runs, the loss (summed over rows) is divided by the global batch size, the dense parameters
take an AdamATan2 (or AdamW) step, the rows of the puzzle-embedding table used by the batch take a sign-SGD
step, and the EMA is updated. Evaluation (EMA weights, official mode) runs every few epochs on the test split;
the last and the best-by-validation checkpoints are kept.

Run directory::

    RUN/config.json          resolved config (seed included), written before any compute
    RUN/run_info.json        versions, devices, command line, dataset path, resumes
    RUN/metrics.jsonl        one JSON object per logging interval ("kind": "train") and evaluation ("eval")
    RUN/checkpoints/last/    resumable checkpoint (see trm.train.checkpoint)
    RUN/checkpoints/best/    model folder of the best evaluation so far
"""

from __future__ import annotations

import inspect
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import Config
from ..model import TRM, act_loss
from ..model.recursive import Batch, Carry
from ..utils import TRMError, atomic_write_json, resolve_dtype, seed_everything
from . import distributed as D
from .checkpoint import (
    TrainingState,
    carry_from_tensors,
    carry_tensors,
    host_rng_state,
    load_optimizer_tensors,
    model_parameter_names,
    optimizer_tensors,
    read_checkpoint,
    rng_state_tensors,
    set_host_rng_state,
    set_rng_state_tensors,
    write_checkpoint,
)
from .data import DATASET_KEYS, TrainData, open_data
from .ema import EMA
from .evaluate import evaluate
from .optim import PuzzleEmbeddingSignSGD, build_dense_optimizer
from .schedule import lr_at

# order of the per-step metric sums kept on the device between logging intervals
METRICS = ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps", "lm_loss", "q_halt_loss")


@dataclass
class TrainResult:
    """What a call of :func:`train` did."""

    run_dir: Path
    step: int
    status: str  # "finished", "time_limit", "interrupted" or "stopped" (stop_at_step)
    train_seconds: float
    final_eval: dict[str, float] | None
    best_metric: float | None
    best_step: int | None
    evals: list[dict[str, Any]] = field(default_factory=list)
    is_main: bool = True  # rank 0 (the process that writes files and prints)


def train(cfg: Config | None, data_dir: str | os.PathLike | None, out_dir: str | os.PathLike, resume: bool = False, *,
          explicit: frozenset[str] | set[str] = frozenset(), overwrite: bool = False, stop_at_step: int | None = None,
          console: bool = True, on_eval: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train ``cfg`` on the dataset in ``data_dir`` (official layout), writing the run to ``out_dir``.

    ``resume=True`` continues the run in ``out_dir`` from ``checkpoints/last`` (``cfg`` None means the run's
    saved config; a given ``cfg`` must describe the same model; ``data_dir`` defaults to the one recorded). The vocabulary size, sequence length and number of
    puzzle identifiers come from the dataset unless named in ``explicit`` (dotted keys set by the user), in
    which case a mismatch is an error. ``stop_at_step`` ends the call early as if interrupted (for tests).
    Launched under ``torchrun``, every rank calls this with the same arguments.
    """
    trainer = Trainer(cfg, data_dir, out_dir, resume=resume, explicit=frozenset(explicit), overwrite=overwrite,
                      console=console, on_eval=on_eval)
    try:
        return trainer.run(stop_at_step=stop_at_step)
    finally:
        trainer.close()


class Trainer:
    def __init__(self, cfg: Config | None, data_dir, out_dir, *, resume: bool, explicit: frozenset[str], overwrite: bool,
                 console: bool, on_eval):
        self.run_dir = Path(out_dir)
        self.on_eval = on_eval
        self.loggers: list[Any] = []
        self.ckpt_dir = self.run_dir / "checkpoints"
        if cfg is None:
            if not resume:
                raise TRMError("no config given")
            cfg = self._saved_config()
        self.dist, self.device = D.setup(cfg.train.device)
        self.main = self.dist.is_main
        self.console = console and self.main
        resume_state = None
        if resume:
            cfg, data_dir, resume_state = self._prepare_resume(cfg, data_dir, explicit)
        if data_dir is None:
            raise TRMError("no dataset given (--data DIR)")

        _check_loggers_available(cfg)
        # data first: a missing or incompatible dataset fails before anything is written or built
        self.data: TrainData = open_data(Path(data_dir), cfg, explicit=explicit, strict=resume,
                                         rank=self.dist.rank, world_size=self.dist.world_size, note=self.note)
        if not resume:
            self._check_fresh_out_dir(overwrite)
        cfg = self.data.cfg
        self.cfg = cfg
        self.dtype = resolve_dtype(cfg.train.dtype, self.device)
        if self.dtype == torch.float16 and self.device.type == "cpu":
            raise TRMError("float16 training on the CPU is not supported; use bfloat16 or float32")
        self.global_batch = cfg.train.global_batch_size
        if self.global_batch % self.dist.world_size:
            raise TRMError(f"train.global_batch_size {self.global_batch} is not divisible by the "
                           f"{self.dist.world_size} processes")
        self.steps_per_epoch = self.data.sampler.steps_per_epoch()
        self.total_steps = cfg.train.max_steps or max(1, int(cfg.train.epochs * self.steps_per_epoch))
        if cfg.train.eval_interval_steps > 0:
            self.eval_every = cfg.train.eval_interval_steps
        elif cfg.train.eval_interval > 0:
            self.eval_every = max(1, round(cfg.train.eval_interval * self.steps_per_epoch))
        else:
            self.eval_every = 0
        self._open_loggers(fresh=not resume)
        if self.main:
            atomic_write_json(self.run_dir / "config.json", {"format_version": 1, "config": cfg.to_dict()})
            if resume:
                self._append_resume_info()
            else:
                self._write_run_info(data_dir)

        # model, optimizers, EMA: identical on every rank (same seed); the exploration RNG differs per rank
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.model, self.opt, self.puzzle_opt, self.ema, self.stepper = build_training(
            cfg, self.device, self.dtype, self.total_steps, dist=self.dist, note=self.note)
        self.names = model_parameter_names(self.model)
        torch.manual_seed(cfg.train.seed + 1 + self.dist.rank)
        self.state = TrainingState(world_size=self.dist.world_size)
        self.carry: Carry | None = None
        if resume_state is not None:
            self._load_resume(*resume_state)
        self._stop_requested = False

    # ------------------------------------------------------------------ setup helpers
    def note(self, msg: str) -> None:
        if self.main:
            _print(msg, self.console)

    def _check_fresh_out_dir(self, overwrite: bool) -> None:
        """Every rank checks (so that all of them stop together); rank 0 clears and creates the directory."""
        if (self.ckpt_dir / "last").exists() or (self.run_dir / "metrics.jsonl").exists():
            if not overwrite:
                raise TRMError(f"{self.run_dir} already holds a run; continue it with --resume {self.run_dir} "
                               "or choose another --out")
            if not self.main:
                return
            import shutil

            for name in ("checkpoints", "metrics.jsonl", "tensorboard"):
                p = self.run_dir / name
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)

    def _saved_config(self) -> Config:
        from ..checkpoint import read_config

        last = self.ckpt_dir / "last"
        if not last.is_dir():
            raise TRMError(f"{self.run_dir}: nothing to resume (no checkpoints/last)")
        return read_config(last)[0]

    def _prepare_resume(self, cfg: Config, data_dir, explicit: frozenset[str]):
        saved = self._saved_config()
        # the dataset-determined sizes were filled in when the run started
        cfg = cfg.override({f"model.{k}": getattr(saved.model, k) for k in DATASET_KEYS if f"model.{k}" not in explicit})
        if cfg.model != saved.model:
            diff = [k for k in saved.model.__dataclass_fields__ if getattr(saved.model, k) != getattr(cfg.model, k)]
            raise TRMError(f"cannot resume {self.run_dir}: its checkpoint was made with a different model config "
                           f"(differs in {', '.join('model.' + k for k in diff)})")
        model_state, tensors, state = read_checkpoint(self.ckpt_dir / "last")
        if data_dir is None:
            data_dir = saved.data.path or None
        return cfg, data_dir, (model_state, tensors, state)

    def _load_resume(self, model_state: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor],
                     state: TrainingState) -> None:
        from ..checkpoint import load_state_into

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
            self.note(f"note: the run was saved with {state.world_size} process(es) and resumes with "
                      f"{self.dist.world_size}; the halting-exploration random stream restarts")
        carry = carry_from_tensors(tensors, self.device, self.dtype)
        if carry is not None:
            per_rank = self.global_batch // self.dist.world_size
            sl = slice(self.dist.rank * per_rank, (self.dist.rank + 1) * per_rank)
            carry = Carry(y=carry.y[sl], z=carry.z[sl], steps=carry.steps[sl], halted=carry.halted[sl],
                          data={k: v[sl] for k, v in carry.data.items()})
        self.carry = carry
        state.world_size = self.dist.world_size
        self.state = state
        self.note(f"resumed {self.run_dir} at step {state.step}")

    def _write_run_info(self, data_dir) -> None:
        import platform

        import numpy

        from .. import __version__

        info = {
            "trm": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "command": sys.argv, "cwd": os.getcwd(), "dataset": str(Path(data_dir).resolve()),
            "seed": self.cfg.train.seed, "device": str(self.device), "dtype": str(self.dtype).replace("torch.", ""),
            "world_size": self.dist.world_size, "cpu_threads": torch.get_num_threads(),
            "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if torch.cuda.is_available() else [],
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "resumes": [],
        }
        atomic_write_json(self.run_dir / "run_info.json", info)

    def _append_resume_info(self) -> None:
        path = self.run_dir / "run_info.json"
        try:
            info = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            info = {}
        info.setdefault("resumes", []).append({"command": sys.argv, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                               "device": str(self.device), "world_size": self.dist.world_size})
        atomic_write_json(path, info)

    def _open_loggers(self, fresh: bool) -> None:
        if not self.main:
            return
        t = self.cfg.train
        if t.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.loggers.append(_TensorBoard(SummaryWriter(str(self.run_dir / "tensorboard"))))
        if t.wandb:
            import wandb

            run = wandb.init(project=t.project, name=self.cfg.name, config=self.cfg.to_dict(),
                             dir=str(self.run_dir), resume="allow" if not fresh else None)
            self.loggers.append(_WandB(run))

    # ------------------------------------------------------------------ the step
    def _train_step(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        if self.carry is None:
            self.carry = self.model.initial_carry(batch)
        self.carry, loss, sums = self.stepper(self.carry, batch, self.state.step + 1)
        self.state.step += 1
        return loss, sums

    # ------------------------------------------------------------------ the loop
    def run(self, stop_at_step: int | None = None) -> TrainResult:
        t = self.cfg.train
        sampler_iter = iter(self.data.sampler)
        limit_s = t.max_minutes * 60.0 if t.max_minutes > 0 else math.inf
        log_every = max(1, t.log_interval)
        # non-finite losses: checked every step on the CPU (free), at logging intervals on accelerators (a host
        # synchronisation); under DDP only on the all-reduced logging sums, so that every rank stops together
        check_every = 1 if self.device.type == "cpu" else log_every
        evals: list[dict[str, Any]] = []
        status = "finished"
        self._install_sigint()
        self._print_header()
        progress = _Progress(self.total_steps, self.state.step, self.console, limit_s, self.state.train_seconds)
        sums = torch.zeros(len(METRICS), dtype=torch.float64, device=self.device)
        window_steps, window_t = 0, 0.0
        last_eval_step = None
        try:
            while self.state.step < self.total_steps:
                t0 = time.perf_counter()
                batch = _to_device(next(sampler_iter), self.device)
                loss, step_sums = self._train_step(batch)
                sums += step_sums
                step = self.state.step
                window_steps += 1
                dt = time.perf_counter() - t0
                self.state.train_seconds += dt
                window_t += dt
                if not self.dist.enabled and step % check_every == 0 and not bool(torch.isfinite(sums[5:]).all()):
                    self._nonfinite(step)
                if step % log_every == 0 or step == self.total_steps:
                    record = self._log_train(sums, window_steps, window_t, step)
                    if not all(math.isfinite(record[k]) for k in ("loss", "lm_loss")):
                        self._nonfinite(step)
                    progress.update(step, record, self.state.train_seconds)
                    sums.zero_()
                    window_steps, window_t = 0, 0.0
                if self.eval_every and step % self.eval_every == 0:
                    evals.append(self._evaluate_and_save(step, progress))
                    last_eval_step = step
                stop = self._stop_requested
                timed_out = self.state.train_seconds >= limit_s
                if self.dist.enabled and (step % log_every == 0):
                    stop = D.broadcast_flag(stop, self.dist, self.device)
                    timed_out = D.broadcast_flag(timed_out and self.main, self.dist, self.device)
                elif self.dist.enabled:
                    stop = timed_out = False
                if stop:
                    status = "interrupted"
                    break
                if timed_out:
                    status = "time_limit"
                    break
                if stop_at_step is not None and step >= stop_at_step:
                    status = "stopped"
                    break
        finally:
            progress.close()
            self._restore_sigint()
        final = None
        if status == "stopped":
            self.save()
        elif status == "interrupted":
            self.note(f"interrupted at step {self.state.step}: writing a checkpoint")
            self.save()
            self.note(f"checkpoint written to {self.ckpt_dir / 'last'}; continue with: trm train --resume {self.run_dir}")
        else:
            if status == "time_limit":
                self.note(f"time limit of {t.max_minutes:g} min reached at step {self.state.step}")
            if last_eval_step != self.state.step:
                evals.append(self._evaluate_and_save(self.state.step, None))
            final = evals[-1] if evals else None
        return TrainResult(self.run_dir, self.state.step, status, self.state.train_seconds, final,
                           self.state.best_metric, self.state.best_step, evals, is_main=self.main)

    def _print_header(self) -> None:
        c, t = self.cfg, self.cfg.train
        n = self.model.num_dense_parameters()
        where = f"{self.device}" + (f" x{self.dist.world_size} processes" if self.dist.enabled else "")
        self.note(f"training {c.name}: {n:,} parameters, {where}, {str(self.dtype).replace('torch.', '')}, "
                  f"global batch {self.global_batch}, {self.total_steps:,} steps "
                  f"({self.steps_per_epoch:,.1f} per epoch)" + (f", at most {t.max_minutes:g} min" if t.max_minutes else ""))
        self.note(f"run directory: {self.run_dir}")

    def _nonfinite(self, step: int) -> None:
        last = self.ckpt_dir / "last"
        kept = f"the last good checkpoint is {last}" if last.is_dir() else "no checkpoint had been written yet"
        self._write_jsonl({"kind": "error", "step": step, "error": "non-finite loss"})
        raise TRMError(f"the loss became NaN or infinite by step {step}; training stopped and nothing was saved "
                       f"after that point ({kept}). Lower train.lr, use float32 (train.dtype=float32) or check the data.")

    def _log_train(self, sums: torch.Tensor, steps: int, seconds: float, step: int) -> dict[str, Any]:
        D.all_reduce_sum(sums, self.dist)
        count, acc, exact, qacc, halt_steps, lm, qh = sums.tolist()
        G = self.global_batch
        c = max(count, 1.0)
        lr = lr_at(step, self.cfg.train.lr, self.cfg.train.lr_warmup_steps, self.total_steps, self.cfg.train.lr_min_ratio)
        record = {
            "kind": "train", "step": step, "epoch": step / self.steps_per_epoch, "lr": lr,
            "loss": (lm + 0.5 * qh) / (G * steps), "lm_loss": lm / (G * steps), "q_halt_loss": qh / (G * steps),
            "accuracy": acc / c, "exact_accuracy": exact / c, "q_halt_accuracy": qacc / c,
            "halt_steps": halt_steps / c, "halted": int(count),
            "steps_per_s": steps / max(seconds, 1e-9), "examples_per_s": steps * G / max(seconds, 1e-9),
            "train_seconds": round(self.state.train_seconds, 3),
        }
        self._write_jsonl(record)
        return record

    def _write_jsonl(self, record: dict[str, Any]) -> None:
        if not self.main:
            return
        record = {**record, "time": round(time.time(), 3)}
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        for logger in self.loggers:
            logger.log(record)

    # ------------------------------------------------------------------ evaluation and checkpoints
    def evaluate(self) -> dict[str, float]:
        batches = self.data.test_batches(self.cfg.eval.batch_size)
        if self.ema is not None:
            with self.ema.swapped_in(self.model):
                return evaluate(self.model, batches, self.device, loss=self.cfg.model.loss, group=self.dist.group)
        return evaluate(self.model, batches, self.device, loss=self.cfg.model.loss, group=self.dist.group)

    def _evaluate_and_save(self, step: int, progress: _Progress | None) -> dict[str, Any]:
        t0 = time.perf_counter()
        metrics = self.evaluate()
        eval_s = time.perf_counter() - t0
        record = {"kind": "eval", "step": step, "epoch": step / self.steps_per_epoch,
                  "train_seconds": round(self.state.train_seconds, 3), "eval_seconds": round(eval_s, 3), **metrics}
        # best = highest exact accuracy, ties broken by token accuracy (early in training everything is at 0%)
        key = (metrics["exact_accuracy"], metrics["accuracy"])
        best = (self.state.best_metric, self.state.extra.get("best_token_accuracy", -1.0))
        improved = self.state.best_metric is None or key > best
        if improved:
            self.state.best_metric, self.state.best_step = metrics["exact_accuracy"], step
            self.state.extra["best_token_accuracy"] = metrics["accuracy"]
        record["best_exact_accuracy"] = self.state.best_metric
        self._write_jsonl(record)
        msg = (f"eval @ step {step:,} ({self.state.train_seconds / 60:.1f} min): exact {metrics['exact_accuracy']:.2%}, "
               f"tokens {metrics['accuracy']:.2%}, q_halt acc {metrics['q_halt_accuracy']:.2%} "
               f"on {metrics['count']:,} puzzles" + (" (best)" if improved else ""))
        if progress is not None:
            progress.write(msg)
        else:
            self.note(msg)
        if self.cfg.train.checkpoint_every_eval or progress is None:
            self.save(best=improved, eval_metrics=metrics)
        if self.on_eval is not None and self.main:
            self.on_eval(record)
        return record

    def save(self, best: bool = False, eval_metrics: dict[str, float] | None = None) -> None:
        """Write checkpoints/last (collective under DDP: every rank must call it) and, if ``best``, checkpoints/best."""
        carry = None
        if self.carry is not None:
            carry = {k: D.all_gather_cat(v.to(torch.uint8) if v.dtype == torch.bool else v, self.dist)
                     for k, v in carry_tensors(self.carry).items()}
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
            if self.ema is not None:
                model_state = self.ema.model_state(self.model)
                tensors.update({f"live.{n}": p for n, p in self.model.named_parameters()})
            else:
                model_state = self.model.state_dict()
            meta = {"step": self.state.step, "weights": "ema" if self.ema is not None else "live",
                    "train_seconds": round(self.state.train_seconds, 3), "dataset": self.cfg.data.path}
            if eval_metrics is not None:
                meta["eval"] = eval_metrics
            write_checkpoint(self.ckpt_dir / "last", self.cfg, model_state, tensors, self.state, meta)
            if best:
                write_checkpoint(self.ckpt_dir / "best", self.cfg, model_state, None, self.state, meta)
        if self.dist.enabled:
            import torch.distributed as dist

            dist.barrier(group=self.dist.group)

    # ------------------------------------------------------------------ signals and cleanup
    def _install_sigint(self) -> None:
        """Ctrl-C (SIGINT) or SIGTERM (torchrun, schedulers) stop the run after the current step with a
        checkpoint; a second signal stops at once."""
        self._old_handlers = {}
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True
            self.note("stopping after this step with a checkpoint (Ctrl-C again to abort without one)")

        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old_handlers[sig] = signal.signal(sig, handler)

    def _restore_sigint(self) -> None:
        for sig, old in self._old_handlers.items():
            signal.signal(sig, old)
        self._old_handlers = {}

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()
        D.teardown(self.dist)


# ---------------------------------------------------------------------- one optimizer step


class TrainStep:
    """One optimizer step = one ACT call (SPEC §3–5), usable on its own (benchmarks) and by :class:`Trainer`.

    ``carry, loss, sums = step(carry, batch, k)`` runs the supervision step of every row, backpropagates the
    loss divided by the global batch, updates the dense parameters with the schedule's learning rate for the
    k-th update (1-based), the used rows of the puzzle table by sign-SGD and the EMA. ``sums`` holds the
    per-step metric sums of :data:`METRICS` on the device (no host synchronisation).
    """

    def __init__(self, model: TRM, opt: torch.optim.Optimizer, puzzle_opt: PuzzleEmbeddingSignSGD | None,
                 ema: EMA | None, cfg: Config, total_steps: int, dist: D.DistInfo | None = None,
                 note: Callable[[str], None] = print):
        self.model, self.opt, self.puzzle_opt, self.ema = model, opt, puzzle_opt, ema
        self.cfg, self.total_steps = cfg, total_steps
        self.dist = dist or D.DistInfo()
        self.global_batch = cfg.train.global_batch_size
        self.ddp_model: torch.nn.Module = model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            # the puzzle table is a buffer that every rank updates identically: no buffer broadcast per forward
            no_sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DDP).parameters
                       else {"broadcast_buffers": False})
            self.ddp_model = DDP(model, **no_sync)
        self.forward_loss = _MaybeCompiled(self._forward_loss, cfg.train.compile, note)

    def _forward_loss(self, carry: Carry, batch: Batch):
        carry, outputs = self.ddp_model(carry, batch)
        loss, metrics = act_loss(carry, outputs, loss=self.cfg.model.loss)
        return carry, loss, torch.stack([metrics[k].to(torch.float64) for k in METRICS])

    def __call__(self, carry: Carry, batch: Batch, k: int) -> tuple[Carry, torch.Tensor, torch.Tensor]:
        carry, loss, sums = self.forward_loss(carry, batch)
        # DDP averages gradients over ranks: scale so that the result is Σ_ranks loss / global batch
        (loss * (self.dist.world_size / self.global_batch)).backward()
        t = self.cfg.train
        lr = lr_at(k, t.lr, t.lr_warmup_steps, self.total_steps, t.lr_min_ratio)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        if self.puzzle_opt is not None:
            emb = self.model.puzzle_emb
            plr = lr_at(k, t.puzzle_emb_lr, t.lr_warmup_steps, self.total_steps, t.lr_min_ratio)
            self.puzzle_opt.step(emb.local_ids, emb.local_weights.grad, plr, self.dist.group)
            emb.local_ids = emb.local_weights = None
        if self.ema is not None:
            self.ema.update(self.model)
        return carry, loss.detach(), sums


def use_fused_kernels(cfg: Config, dtype: torch.dtype) -> bool:
    """Whether the blocks' elementwise parts run as compiled fused kernels (``train.kernels``)."""
    k = cfg.train.kernels
    return k == "fused" or (k == "auto" and dtype != torch.float32 and not cfg.train.compile)


def build_training(cfg: Config, device: torch.device, dtype: torch.dtype, total_steps: int,
                   dist: D.DistInfo | None = None, note: Callable[[str], None] = print
                   ) -> tuple[TRM, torch.optim.Optimizer, PuzzleEmbeddingSignSGD | None, EMA | None, TrainStep]:
    """Model (seeded by ``cfg.train.seed``), optimizers, EMA and the step function for ``cfg``."""
    seed_everything(cfg.train.seed)
    model = TRM(cfg.model, dtype=dtype).to(device)
    model.train()
    if use_fused_kernels(cfg, dtype):
        model.use_fused_kernels(True)
    opt = build_dense_optimizer(model.dense_parameters(), cfg.train)
    puzzle_opt = (PuzzleEmbeddingSignSGD(model.puzzle_emb.weight, cfg.train.puzzle_emb_weight_decay)
                  if hasattr(model, "puzzle_emb") else None)
    ema = EMA(model, cfg.train.ema_rate) if cfg.train.ema else None
    step = TrainStep(model, opt, puzzle_opt, ema, cfg, total_steps, dist=dist, note=note)
    return model, opt, puzzle_opt, ema, step


# ---------------------------------------------------------------------- helpers


def _check_loggers_available(cfg: Config) -> None:
    import importlib.util

    if cfg.train.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise TRMError("train.tensorboard=true needs the tensorboard package (pip install tensorboard)")
    if cfg.train.wandb and importlib.util.find_spec("wandb") is None:
        raise TRMError("train.wandb=true needs the wandb package (pip install wandb)")


def _to_device(batch: Batch, device: torch.device) -> Batch:
    if device.type == "cpu":
        return batch
    return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}


def _print(msg: str, enabled: bool) -> None:
    if not enabled:
        return
    from tqdm import tqdm

    tqdm.write(msg, file=sys.stdout)
    sys.stdout.flush()


class _MaybeCompiled:
    """``torch.compile(fn)`` when asked, falling back to eager (with a note) if the first call fails to compile."""

    def __init__(self, fn: Callable, enabled: bool, note: Callable[[str], None]):
        self.fn, self.note = fn, note
        self.compiled = torch.compile(fn) if enabled else None
        self.checked = False

    def __call__(self, *args):
        if self.compiled is None:
            return self.fn(*args)
        if self.checked:
            return self.compiled(*args)
        try:
            out = self.compiled(*args)
        except Exception as e:  # compilation errors come in many types (backend, inductor, C++ toolchain)
            self.note(f"torch.compile failed ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                      "continuing without compilation")
            self.compiled = None
            return self.fn(*args)
        self.checked = True
        return out


class _Progress:
    """A tqdm bar on a terminal; plain lines about every 30 s otherwise (logs, notebooks, CI).

    The bar counts steps, or seconds of training when the run has a time limit (so that its ETA is right)."""

    def __init__(self, total: int, initial: int, enabled: bool, limit_s: float, initial_s: float = 0.0):
        self.enabled = enabled
        self.limit_s = limit_s
        self.timed = math.isfinite(limit_s)
        self.bar = None
        self.last_line = 0.0
        self.total = total
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            if self.timed:
                self.bar = tqdm(total=int(limit_s), initial=int(initial_s), unit="s", dynamic_ncols=True,
                                leave=True, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}{postfix}]")
            else:
                self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, smoothing=0.05,
                                leave=True)

    def update(self, step: int, r: dict[str, Any], train_seconds: float) -> None:
        if not self.enabled:
            return
        fields = {"loss": f"{r['loss']:.3f}", "acc": f"{r['accuracy']:.1%}", "exact": f"{r['exact_accuracy']:.1%}",
                  "halt": f"{r['halt_steps']:.1f}", "ex/s": f"{r['examples_per_s']:.0f}"}
        if self.bar is not None:
            if self.timed:
                self.bar.n = min(int(train_seconds), self.bar.total)
                fields = {"step": f"{step:,}", **fields}
            else:
                self.bar.n = step
            self.bar.set_postfix(fields, refresh=True)
        elif time.monotonic() - self.last_line >= 30 or step == self.total:
            self.last_line = time.monotonic()
            left = (self.total - step) / max(r["steps_per_s"], 1e-9)
            if self.timed:
                left = min(left, max(0.0, self.limit_s - train_seconds))
            text = " ".join(f"{k} {v}" for k, v in fields.items())
            print(f"step {step:,}/{self.total:,} {text} {r['steps_per_s']:.2f} step/s, ETA {left / 60:.1f} min",
                  flush=True)

    def write(self, msg: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(msg, file=sys.stdout)
        else:
            print(msg, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _TensorBoard:
    def __init__(self, writer):
        self.writer = writer

    def log(self, record: dict[str, Any]) -> None:
        kind, step = record.get("kind"), record.get("step", 0)
        for k, v in record.items():
            if isinstance(v, (int, float)) and k not in ("step", "time"):
                self.writer.add_scalar(f"{kind}/{k}", v, step)

    def close(self) -> None:
        self.writer.close()


class _WandB:
    def __init__(self, run):
        self.run = run

    def log(self, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        self.run.log({f"{kind}/{k}": v for k, v in record.items() if isinstance(v, (int, float)) and k != "step"},
                     step=record.get("step"))

    def close(self) -> None:
        self.run.finish()
