"""What a training run shows and records as it goes: the progress bar or lines, and optional loggers.

The metrics themselves are written by the trainer to ``RUN/metrics.jsonl``; TensorBoard and Weights & Biases
receive the same records when ``train.tensorboard`` / ``train.wandb`` are on.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..config import Config
from ..utils import TRMError


def open_loggers(cfg: Config, run_dir: Path, fresh: bool) -> list[Any]:
    """The loggers ``cfg.train`` asks for (TensorBoard, W&B), opened on ``run_dir``."""
    t = cfg.train.log
    loggers: list[Any] = []
    if t.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        loggers.append(TensorBoardLogger(SummaryWriter(str(run_dir / "tensorboard"))))
    if t.wandb:
        import wandb

        run = wandb.init(
            project=t.project,
            name=cfg.name,
            config=cfg.to_dict(),
            dir=str(run_dir),
            resume="allow" if not fresh else None,
        )
        loggers.append(WandBLogger(run))
    return loggers


def check_loggers_available(cfg: Config) -> None:
    import importlib.util

    if cfg.train.log.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise TRMError("train.tensorboard=true needs the tensorboard package (pip install tensorboard)")
    if cfg.train.log.wandb and importlib.util.find_spec("wandb") is None:
        raise TRMError("train.wandb=true needs the wandb package (pip install wandb)")


class _Console(logging.Handler):
    """Writes the library's log messages to stdout, above the progress bar when there is one; a record made
    with ``extra={"console": False}`` (a trainer started with ``console=False``) goes to other handlers only."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        if not getattr(record, "console", True):
            return

        tqdm.write(self.format(record), file=sys.stdout)
        sys.stdout.flush()


def enable_console(level: int = logging.INFO) -> None:
    """Show the ``trm`` loggers' messages (from ``level`` up) on stdout; idempotent. ``trm.train(console=True)``
    and the command line call it; a program that configures :mod:`logging` itself need not."""
    logger = logging.getLogger("trm")
    if not any(isinstance(h, _Console) for h in logger.handlers):
        logger.addHandler(_Console())
    logger.setLevel(level)


class Progress:
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
                self.bar = tqdm(
                    total=int(limit_s),
                    initial=int(initial_s),
                    unit="s",
                    dynamic_ncols=True,
                    leave=True,
                    bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}{postfix}]",
                )
            else:
                self.bar = tqdm(
                    total=total, initial=initial, unit="step", dynamic_ncols=True, smoothing=0.05, leave=True
                )

    def update(self, step: int, r: dict[str, Any], train_seconds: float) -> None:
        if not self.enabled:
            return
        fields = {
            "loss": f"{r['loss']:.3f}",
            "acc": f"{r['accuracy']:.1%}",
            "exact": f"{r['exact_accuracy']:.1%}",
            "halt": f"{r['halt_steps']:.1f}",
            "ex/s": f"{r['examples_per_s']:.0f}",
        }
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
            print(
                f"step {step:,}/{self.total:,} {text} {r['steps_per_s']:.2f} step/s, ETA {left / 60:.1f} min",
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class TensorBoardLogger:
    def __init__(self, writer):
        self.writer = writer

    def log(self, record: dict[str, Any]) -> None:
        kind, step = record.get("kind"), record.get("step", 0)
        for k, v in record.items():
            if isinstance(v, (int, float)) and k not in ("step", "time"):
                self.writer.add_scalar(f"{kind}/{k}", v, step)

    def close(self) -> None:
        self.writer.close()


class WandBLogger:
    def __init__(self, run):
        self.run = run

    def log(self, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        self.run.log(
            {f"{kind}/{k}": v for k, v in record.items() if isinstance(v, (int, float)) and k != "step"},
            step=record.get("step"),
        )

    def close(self) -> None:
        self.run.finish()


class StopRequest:
    """Ctrl-C (SIGINT) or SIGTERM (torchrun, schedulers) ask the run to stop after the current step with a
    checkpoint (``requested``); a second signal stops at once. Installed only in the main thread."""

    def __init__(self, note):
        self.note, self.requested, self._old = note, False, {}

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.note("stopping after this step with a checkpoint (Ctrl-C again to abort without one)")

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}
