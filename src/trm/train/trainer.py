"""The training loop of the paper and the official code (docs/PARITY.md), on one CPU core or several GPUs, from one code path.

Every call of the ACT wrapper is one optimizer step: halted rows are refilled from the sampler, one
supervision step runs, the loss (summed over rows) is divided by the global batch size, the dense parameters
take an AdamATan2 (or AdamW) step, the rows of the puzzle-embedding table used by the batch take a sign-SGD
step, and the EMA is updated. Evaluation (EMA weights, official mode) runs every few epochs on the validation
split (:mod:`.data`: the dataset's ``val`` split, or training groups carved out for it); early stopping and
the best checkpoint follow it. When the run ends (finished, time limit, target reached) the test split is
scored once with the best checkpoint and recorded apart ("kind": "test"); it chooses nothing.
``eval.select_on=test`` evaluates and selects on the test split instead (the official protocol), and says so.

Run directory::

    RUN/config.json          resolved config (seed included), written before any compute
    RUN/run_info.json        versions, devices, command line, dataset path, validation set, resumes
    RUN/metrics.jsonl        one JSON object per logging interval ("kind": "train"), evaluation ("eval") and
                             the final test score ("test")
    RUN/checkpoints/last/    resumable checkpoint (see trm.train.checkpoint)
    RUN/checkpoints/best/    model folder of the best evaluation so far
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import load_model
from ..config import Config
from ..model.recursive import Batch, Carry
from ..utils import TRMError, atomic_write_json
from . import distributed as D
from .checkpoint import (
    TrainingState,
    model_parameter_names,
)
from .data import TrainData, open_data
from .evaluate import evaluate
from .progress import Progress, StopRequest, check_loggers_available, enable_console, open_loggers
from .resolve import Resolved, resolve
from .resume import Checkpointer, Trained, saved_config
from .rundir import append_resume_info, prepare_run_dir, write_run_info
from .schedule import lr_at
from .step import METRICS, TrainStep, build_training, reduce_metrics, use_fused_kernels

log = logging.getLogger(__name__)

__all__ = [
    "train",
    "TrainResult",
    "Trainer",
    "Resolved",
    "TrainStep",
    "build_training",
    "use_fused_kernels",
    "METRICS",
]


@dataclass
class TrainResult:
    """What a call of :func:`train` did."""

    run_dir: Path
    step: int
    status: str  # "finished", "time_limit", "target_reached", "interrupted" or "stopped" (stop_at_step)
    train_seconds: float
    final_eval: dict[str, float] | None
    best_metric: float | None
    best_step: int | None
    evals: list[dict[str, Any]] = field(default_factory=list)
    is_main: bool = True  # rank 0 (the process that writes files and prints)
    test_eval: dict[str, Any] | None = None  # the one score on the test split, with the best checkpoint
    selected_on: str = "val"  # the split evaluations, early stopping and the best checkpoint used


def train(
    cfg: Config | None,
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    resume: bool = False,
    *,
    explicit: frozenset[str] | set[str] = frozenset(),
    overwrite: bool = False,
    stop_at_step: int | None = None,
    console: bool = True,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
    score_test: bool = True,
) -> TrainResult:
    """Train ``cfg`` on the dataset in ``data_dir`` (official layout), writing the run to ``out_dir``.

    ``resume=True`` continues the run in ``out_dir`` from ``checkpoints/last`` (``cfg`` None means the run's
    saved config; a given ``cfg`` must describe the same model; ``data_dir`` defaults to the one recorded). The vocabulary size, sequence length and number of
    puzzle identifiers come from the dataset unless named in ``explicit`` (dotted keys set by the user), in
    which case a mismatch is an error. ``stop_at_step`` ends the call early as if interrupted (for tests).
    ``score_test=False`` leaves the one score on the test split to the caller (``trm demo`` scores it with
    the inference evaluator, whose report has more than the trainer's); ``TrainResult.test_eval`` is then None.
    Launched under ``torchrun``, every rank calls this with the same arguments.
    """
    trainer = Trainer(
        cfg,
        data_dir,
        out_dir,
        resume=resume,
        explicit=frozenset(explicit),
        overwrite=overwrite,
        console=console,
        on_eval=on_eval,
    )
    finished = False
    try:
        result = trainer.run(stop_at_step=stop_at_step, score_test=score_test)
        finished = True
        return result
    finally:
        trainer.close(finished=finished)


class Trainer:
    """One training run (see the module doc); :func:`train` is the way to use it."""

    def __init__(
        self,
        cfg: Config | None,
        data_dir,
        out_dir,
        *,
        resume: bool,
        explicit: frozenset[str],
        overwrite: bool,
        console: bool,
        on_eval,
    ):
        self.run_dir = Path(out_dir)
        self.on_eval = on_eval
        self.loggers: list[Any] = []
        self.ckpt_dir = self.run_dir / "checkpoints"
        if cfg is None:
            if not resume:
                raise TRMError("no config given")
            cfg = saved_config(self.run_dir)
        self.dist, self.device = D.setup(cfg.train.system.device)
        self.main = self.dist.is_main
        self.console = console and self.main
        if self.console:
            enable_console()
        self.checkpointer = Checkpointer(self.run_dir, self.dist, self.note)
        resume_state = None
        if resume:
            cfg, data_dir, resume_state = self.checkpointer.prepare_resume(cfg, data_dir, explicit)
        if data_dir is None:
            raise TRMError("no dataset given (--data DIR)")

        check_loggers_available(cfg)
        # data first: a missing or incompatible dataset fails before anything is written or built
        self.data: TrainData = open_data(
            Path(data_dir),
            cfg,
            explicit=explicit,
            strict=resume,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            note=self.note,
        )
        if not resume:
            prepare_run_dir(self.run_dir, overwrite, self.main)
        # the config made final once (set-up chosen, step counts derived): everything below reads self.run_spec
        self.run_spec = resolve(
            self.data.cfg,
            device=self.device,
            world_size=self.dist.world_size,
            steps_per_epoch=self.data.sampler.steps_per_epoch(),
            choose_setup=not resume,
            note=self.note,
        )
        cfg = self.cfg
        if self.main:
            self.loggers = open_loggers(cfg, self.run_dir, fresh=not resume)
        if self.main:
            atomic_write_json(self.run_dir / "config.json", {"format_version": 1, "config": cfg.to_dict()})
            if resume:
                append_resume_info(self.run_dir, self.device, self.dist.world_size)
            else:
                write_run_info(
                    self.run_dir,
                    cfg,
                    data_dir,
                    self.device,
                    self.run_spec.dtype,
                    self.dist.world_size,
                    validation=self.data.validation,
                )

        # model, optimizers, EMA: identical on every rank (same seed); the exploration RNG differs per rank
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.model, self.opt, self.puzzle_opt, self.ema, self.stepper = build_training(
            cfg, self.device, self.run_spec.dtype, self.run_spec.total_steps, dist=self.dist, note=self.note
        )
        self.names = model_parameter_names(self.model)
        self.parts = Trained(self.model, self.opt, self.ema, self.names, self.data.sampler)
        torch.manual_seed(cfg.train.loop.seed + 1 + self.dist.rank)
        self.state = TrainingState(world_size=self.dist.world_size)
        self.carry: Carry | None = None
        if resume_state is not None:
            self.state, self.carry = self.checkpointer.restore(
                resume_state, self.parts, self.device, self.run_spec.dtype, self.run_spec.global_batch
            )
        self.stop = StopRequest(self.note)
        self._note_validation()

    # ------------------------------------------------------------------ setup helpers
    @property
    def cfg(self) -> Config:
        """The run's final config (:attr:`run_spec`'s, saved as config.json)."""
        return self.run_spec.cfg

    def note(self, msg: str) -> None:
        if self.main:
            log.info(msg, extra={"console": self.console})

    def _note_validation(self) -> None:
        v = self.data.validation
        if v["selected_on"] == "test":
            self.note(
                "warning: eval.select_on=test: evaluating, stopping early and keeping checkpoints/best on the "
                f"TEST split ({v['examples']:,} examples), as the official code does; its score is then not "
                "an unbiased estimate"
            )
        else:
            self.note(
                f"validation: {v['source']} ({v['examples']:,} examples); the test split is scored once at the end"
            )

    # ------------------------------------------------------------------ the step
    def _train_step(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        if self.carry is None:
            self.carry = self.model.initial_carry(batch)
        self.carry, loss, sums = self.stepper(self.carry, batch, self.state.step + 1)
        self.state.step += 1
        return loss, sums

    # ------------------------------------------------------------------ the loop
    def run(self, stop_at_step: int | None = None, score_test: bool = True) -> TrainResult:
        t, r = self.cfg.train.loop, self.run_spec
        sampler_iter = iter(self.data.sampler)
        evals: list[dict[str, Any]] = []
        status = "finished"
        self.stop.install()
        self._print_header()
        progress = Progress(
            r.total_steps, self.state.step, self.console, r.time_limit_s, self.state.train_seconds
        )
        sums = torch.zeros(len(METRICS), dtype=torch.float64, device=self.device)
        window_steps, window_t = 0, 0.0
        last_eval_step = None
        try:
            while self.state.step < r.total_steps:
                t0 = time.perf_counter()
                batch = _to_device(next(sampler_iter), self.device)
                loss, step_sums = self._train_step(batch)
                sums += step_sums
                step = self.state.step
                window_steps += 1
                dt = time.perf_counter() - t0
                self.state.train_seconds += dt
                window_t += dt
                if (
                    not self.dist.enabled
                    and step % r.check_every == 0
                    and not bool(torch.isfinite(sums[METRICS.index("lm_loss") :]).all())
                ):
                    self._nonfinite(step)
                if step % r.log_every == 0 or step == r.total_steps:
                    record = self._log_train(sums, window_steps, window_t, step)
                    if not all(math.isfinite(record[k]) for k in ("loss", "lm_loss")):
                        self._nonfinite(step)
                    progress.update(step, record, self.state.train_seconds)
                    sums.zero_()
                    window_steps, window_t = 0, 0.0
                if r.eval_every and step % r.eval_every == 0:
                    evals.append(self._evaluate_and_save(step, final=False))
                    last_eval_step = step
                    if 0 < t.target_accuracy <= evals[-1]["exact_accuracy"]:
                        status = "target_reached"
                        break
                stop = self.stop.requested
                timed_out = self.state.train_seconds >= r.time_limit_s
                if self.dist.enabled and (step % r.log_every == 0):
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
            self.stop.restore()
        final = test_eval = None
        if status == "stopped":
            self.save()
        elif status == "interrupted":
            self.note(f"interrupted at step {self.state.step}: writing a checkpoint")
            self.save()
            self.note(
                f"checkpoint written to {self.ckpt_dir / 'last'}; continue with: trm train --resume {self.run_dir}"
            )
        else:
            if status == "time_limit":
                self.note(f"time limit of {t.max_minutes:g} min reached at step {self.state.step}")
            elif status == "target_reached":
                self.note(
                    f"target exact accuracy {t.target_accuracy:.0%} reached at step {self.state.step} "
                    f"({self.state.train_seconds / 60:.1f} min of training)"
                )
            if last_eval_step != self.state.step:
                evals.append(self._evaluate_and_save(self.state.step, final=True))
            elif not t.checkpoint_every_eval:  # evaluated at the last step without saving: save now
                self.save(eval_metrics=evals[-1])
            final = evals[-1] if evals else None
            test_eval = self._final_test() if score_test else None
        return TrainResult(
            self.run_dir,
            self.state.step,
            status,
            self.state.train_seconds,
            final,
            self.state.best_metric,
            self.state.best_step,
            evals,
            is_main=self.main,
            test_eval=test_eval,
            selected_on=self.cfg.eval.select_on,
        )

    def _print_header(self) -> None:
        c, t, r = self.cfg, self.cfg.train.loop, self.run_spec
        n = self.model.num_dense_parameters()
        where = f"{self.device}" + (f" x{self.dist.world_size} processes" if self.dist.enabled else "")
        self.note(
            f"training {c.name}: {n:,} parameters, {where}, {str(r.dtype).replace('torch.', '')}, "
            f"global batch {r.global_batch}, {r.total_steps:,} steps "
            f"({r.steps_per_epoch:,.1f} per epoch)"
            + (f", at most {t.max_minutes:g} min" if t.max_minutes else "")
        )
        self.note(f"run directory: {self.run_dir}")

    def _nonfinite(self, step: int) -> None:
        last = self.ckpt_dir / "last"
        kept = (
            f"the last good checkpoint is {last}" if last.is_dir() else "no checkpoint had been written yet"
        )
        self._write_jsonl({"kind": "error", "step": step, "error": "non-finite loss"})
        raise TRMError(
            f"the loss became NaN or infinite by step {step}; training stopped and nothing was saved "
            f"after that point ({kept}). Lower train.lr, use float32 (train.dtype=float32) or check the data."
        )

    def _log_train(self, sums: torch.Tensor, steps: int, seconds: float, step: int) -> dict[str, Any]:
        D.all_reduce_sum(sums, self.dist)
        r = self.run_spec
        m = reduce_metrics(dict(zip(METRICS, sums.tolist(), strict=True)), r.global_batch, steps)
        o = self.cfg.train.optim
        lr = lr_at(step, o.lr, o.lr_warmup_steps, r.total_steps, o.lr_min_ratio)
        record = {
            "kind": "train",
            "step": step,
            "epoch": step / r.steps_per_epoch,
            "lr": lr,
            "loss": m["loss"],
            "lm_loss": m["lm_loss"],
            "q_halt_loss": m["q_halt_loss"],
            **({"q_continue_loss": m["q_continue_loss"]} if self.cfg.model.uses_continue else {}),
            "accuracy": m["accuracy"],
            "exact_accuracy": m["exact_accuracy"],
            "q_halt_accuracy": m["q_halt_accuracy"],
            "halt_steps": m["steps"],
            "halted": int(sums[METRICS.index("count")]),
            "steps_per_s": steps / max(seconds, 1e-9),
            "examples_per_s": steps * r.global_batch / max(seconds, 1e-9),
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
        """Score the current (EMA) weights on the validation split (see :mod:`.data`)."""
        batches = self.data.val_batches(self.cfg.eval.batch_size)
        if self.ema is not None:
            with self.ema.swapped_in(self.model):
                return evaluate(
                    self.model, batches, self.device, loss=self.cfg.model.loss, group=self.dist.group
                )
        return evaluate(self.model, batches, self.device, loss=self.cfg.model.loss, group=self.dist.group)

    def _evaluate_and_save(self, step: int, final: bool) -> dict[str, Any]:
        t0 = time.perf_counter()
        metrics = self.evaluate()
        eval_s = time.perf_counter() - t0
        record = {
            "kind": "eval",
            "split": self.data.validation["split"],
            "selected_on": self.cfg.eval.select_on,
            "step": step,
            "epoch": step / self.run_spec.steps_per_epoch,
            "train_seconds": round(self.state.train_seconds, 3),
            "eval_seconds": round(eval_s, 3),
            **metrics,
        }
        # best = highest exact accuracy, ties broken by token accuracy (early in training everything is at 0%)
        key = (metrics["exact_accuracy"], metrics["accuracy"])
        best = (self.state.best_metric, self.state.extra.get("best_token_accuracy", -1.0))
        improved = self.state.best_metric is None or key > best
        if improved:
            self.state.best_metric, self.state.best_step = metrics["exact_accuracy"], step
            self.state.extra["best_token_accuracy"] = metrics["accuracy"]
        record["best_exact_accuracy"] = self.state.best_metric
        self._write_jsonl(record)
        self.note(
            f"eval @ step {step:,} ({self.state.train_seconds / 60:.1f} min): exact {metrics['exact_accuracy']:.2%}, "
            f"tokens {metrics['accuracy']:.2%}, q_halt acc {metrics['q_halt_accuracy']:.2%} "
            f"on {metrics['count']:,} puzzles" + (" (best)" if improved else "")
        )
        if self.cfg.train.loop.checkpoint_every_eval or final:
            self.save(best=improved, eval_metrics=metrics)
        elif improved and self.main:  # the best weights are kept even when the resumable state is not
            self.checkpointer.save_best(self.cfg, self.parts, self.state, self._meta(metrics))
        if self.on_eval is not None and self.main:
            self.on_eval(record)
        return record

    def _final_test(self) -> dict[str, Any]:
        """Score the test split once with checkpoints/best (checkpoints/last if there is none) and record it
        as ``"kind": "test"``; nothing is chosen by it."""
        slot = "best" if (self.ckpt_dir / "best").is_dir() else "last"
        if self.dist.enabled:
            torch.distributed.barrier(group=self.dist.group)
        model, _, meta = load_model(self.ckpt_dir / slot, device=self.device, dtype=self.run_spec.dtype)
        t0 = time.perf_counter()
        batches = self.data.test_batches(self.cfg.eval.batch_size)
        metrics = evaluate(model, batches, self.device, loss=self.cfg.model.loss, group=self.dist.group)
        record = {
            "kind": "test",
            "split": self.cfg.data.test_split,
            "selected_on": self.cfg.eval.select_on,
            "checkpoint": slot,
            "step": self.state.step,  # the run's last step (loggers want steps in order)
            "checkpoint_step": meta.get("step", self.state.step),
            "eval_seconds": round(time.perf_counter() - t0, 3),
            **metrics,
        }
        self._write_jsonl(record)
        self.note(
            f"test ({self.cfg.data.test_split} split, scored once with checkpoints/{slot} from step "
            f"{record['checkpoint_step']:,}): exact {metrics['exact_accuracy']:.2%}, tokens {metrics['accuracy']:.2%} "
            f"on {metrics['count']:,} puzzles"
        )
        return record

    def _meta(self, eval_metrics: dict[str, float] | None) -> dict[str, Any]:
        """What a checkpoint records about the run besides its weights."""
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
        """checkpoints/last (and best): collective under DDP, every rank calls it."""
        self.checkpointer.save(
            self.cfg, self.parts, self.state, self.carry, self.device, self._meta(eval_metrics), best
        )

    # ------------------------------------------------------------------ cleanup
    def close(self, finished: bool = True) -> None:
        """Close the loggers and leave the process group (``finished``: the run ended normally on this rank)."""
        for logger in self.loggers:
            logger.close()
        D.teardown(self.dist, finished=finished)


def _to_device(batch: Batch, device: torch.device) -> Batch:
    if device.type == "cpu":
        return batch
    return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
