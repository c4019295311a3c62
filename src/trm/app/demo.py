"""``trm demo``: a Tiny Recursive Model learns 6×6 Sudoku on this machine's CPU, with no download and no flags.

1. builds the ``sudoku6`` dataset (5,000 training and 1,000 held-out puzzles; kept and reused);
2. times the training step for each candidate set-up (dtype x kernels) and keeps the fastest on this CPU;
3. trains the demo preset (TRM-MLP, deep recursion with a depth curriculum, deep supervision, learned
   halting, EMA) until the held-out exact accuracy on a fixed 250-puzzle subset reaches ``target`` or the
   time budget runs out, whichever comes first; then scores it on all 1,000 held-out puzzles;
4. trains the same network as direct prediction (one call, no recursion) for the same wall-clock time on the
   same machine, and scores it on the same 1,000 puzzles;
5. solves one held-out puzzle and prints the answer after every supervision step.

Every figure it prints was measured in this run, on this machine. The run directory (default ``runs/demo``) is
an ordinary training run: ``trm eval runs/demo --data runs/demo/data``, ``trm solve runs/demo PUZZLE --trace``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import load_model, read_config
from ..config import Config, parse_depth_curriculum
from ..data.format import load_split, load_task_info
from ..data.presets import DATASET_PRESETS
from ..data.sampler import test_batches
from ..hardware import cpu_capability, cpu_model
from ..infer import DEFAULT_HALT_THRESHOLD, load_solver
from ..infer.render import trace_text, use_colour
from ..presets import get_preset
from ..tasks.sudoku import decode, format_sudoku
from ..train.evaluate import evaluate
from ..train.step import autotune_cpu_setup, time_train_step
from ..train.trainer import TrainResult, train
from ..utils import resolve_device

DEMO_DATASET = "sudoku6"
DEMO_PRESET = "sudoku6_mlp_fast"
STOP_SUBSET = 250  # held-out puzzles scored during training for the stopping rule (all 1,000 at the end)
MILESTONES = (0.90, 0.97, 0.99)
# a step in the training loop takes longer than the timed step (sampling, logging, the EMA): measured on a 2-core
# AMD EPYC, 685 TRM steps in 4.0 min against 335 ms timed (x1.05), 1,137 direct steps against 141 ms (x1.5)
LOOP_OVERHEAD_TRM, LOOP_OVERHEAD_DIRECT = 1.05, 1.5


@dataclass
class DemoResult:
    run_dir: Path
    data_dir: Path
    trm: TrainResult
    trm_final: dict[str, float]
    direct: TrainResult | None
    direct_final: dict[str, float] | None
    curve: list[dict[str, Any]] = field(default_factory=list)
    trace: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0


def build_demo_data(out: Path, seed: int = 0, log: Callable[[str], None] = print) -> Path:
    """The demo dataset in ``out`` (reused when a 6x6 Sudoku dataset is already there)."""
    if (out / "train" / "dataset.json").is_file() and (out / "test" / "dataset.json").is_file():
        info = load_task_info(out)
        if info.get("task") == "sudoku" and load_split(out, "train").metadata.seq_len == 36:
            log(f"using the dataset in {out}")
            return out
    preset = DATASET_PRESETS[DEMO_DATASET]
    log(f"generating the {DEMO_DATASET} dataset ({preset.description}) into {out} ...")
    t0 = time.perf_counter()
    preset.build(out, seed=seed, overwrite=True)
    log(f"  done in {time.perf_counter() - t0:.0f} s")
    return out


def demo_config(minutes: float, target: float, device: str, seed: int, overrides: list[str]) -> Config:
    return get_preset(DEMO_PRESET).override(
        [
            f"train.max_minutes={minutes}",
            f"train.target_accuracy={target}",
            f"train.device={device}",
            f"train.seed={seed}",
            f"data.test_limit={STOP_SUBSET}",
            "train.autotune=true",
            *overrides,
        ]
    )


def choose_setup(cfg: Config, minutes: float, device: torch.device, log: Callable[[str], None]) -> Config:
    """Choose the set-up for this machine (dtype x kernels, measured) and say how much of the preset's schedule
    the budget should cover. The schedule is not shortened on a slow machine: a 700-step cosine schedule cut off
    at step 600 scored 96% where a complete 500-step one scored 90% (docs/BENCHMARKS.md, x9 against x4)."""
    cfg = autotune_cpu_setup(cfg, device, note=log)
    sec = time_train_step(cfg, device) * curriculum_cost(cfg) * LOOP_OVERHEAD_TRM
    planned = cfg.train.max_steps
    fits = int(minutes * 60 / sec)
    log(
        f"  about {sec * 1000:.0f} ms per step on average (measured): "
        + (
            f"{planned:,} steps fit in {minutes:g} min"
            if fits >= planned
            else f"about {fits:,} of the schedule's {planned:,} steps fit in {minutes:g} min"
        )
    )
    return cfg


def curriculum_cost(cfg: Config) -> float:
    """Mean cost of a step under the depth curriculum relative to a step at its final depth: a TRM step costs
    (T + 2)(n + 1) network-call equivalents (T(n + 1) calls forward, the last n + 1 also backward)."""
    stages = parse_depth_curriculum(cfg.train.depth_curriculum)
    if not stages:
        return 1.0
    cost = [(T + 2) * (n + 1) for _, T, n in stages]
    ends = [f for f, _, _ in stages[1:]] + [1.0]
    mean = sum((end - f) * c for (f, _, _), end, c in zip(stages, ends, cost, strict=True))
    return mean / cost[-1]


def direct_config(
    trm_cfg: Config, minutes: float, device: torch.device, log: Callable[[str], None]
) -> Config:
    """The same network and recipe as direct prediction (T = n = N_sup = 1, no curriculum), with its step count
    planned from its measured step time so that its schedule fits the same wall-clock budget."""
    cfg = trm_cfg.override(
        [
            "model.T=1",
            "model.n=1",
            "model.N_sup=1",
            "train.depth_curriculum=",
            "train.autotune=false",
            "train.target_accuracy=0",
            f"train.max_minutes={minutes}",
            "data.test_limit=0",
        ]
    )
    cfg.name = "sudoku6_direct"
    sec = time_train_step(cfg, device) * LOOP_OVERHEAD_DIRECT
    steps = max(cfg.train.lr_warmup_steps + 1, int(minutes * 60 / sec))
    log(
        f"  measured {sec * 1000:.0f} ms per direct-prediction step: planning {steps:,} steps for {minutes:.1f} min"
    )
    return cfg.override([f"train.max_steps={steps}", f"train.eval_interval_steps={steps}"])


def run_demo(
    out: str | Path = "runs/demo",
    minutes: float = 4.0,
    target: float = 0.99,
    data: str | Path | None = None,
    device: str = "auto",
    seed: int = 0,
    overrides: list[str] | None = None,
    baseline: bool = True,
    log: Callable[[str], None] = print,
) -> DemoResult:
    t_start = time.perf_counter()
    out = Path(out)
    overrides = list(overrides or [])
    machine = {"cpu": cpu_model(), "cpu_capability": cpu_capability(), "threads": torch.get_num_threads()}
    log(
        f"trm demo: a Tiny Recursive Model learns 6x6 Sudoku on this machine ({machine['cpu']}, "
        f"{machine['cpu_capability']}, {machine['threads']} threads)"
    )
    log(f"run directory: {out.resolve()}")
    data_dir = Path(data) if data else build_demo_data(out / "data", seed=seed, log=log)

    dev = resolve_device(device)
    cfg = choose_setup(demo_config(minutes, target, device, seed, overrides), minutes, dev, log)
    m = cfg.model
    log("")
    log(
        f"[1/4] TRM: one {m.num_layers}-layer network (hidden {m.hidden_size}) applied recursively: T={m.T} "
        f"recursions of n={m.n} latent updates per supervision step (growing to that depth during training), up "
        f"to N_sup={m.N_sup} supervision steps; stops at {target:.0%} held-out exact accuracy or after {minutes:g} min"
    )
    curve: list[dict[str, Any]] = []
    trm = train(cfg, data_dir, out, overwrite=True, on_eval=curve.append)
    if trm.status == "interrupted":
        raise KeyboardInterrupt
    trm_final = score(out, data_dir, dev)
    log(f"  held-out exact accuracy on all {trm_final['count']:,} puzzles: {trm_final['exact_accuracy']:.1%}")

    direct = direct_final = None
    if baseline:
        minutes_used = trm.train_seconds / 60
        log("")
        log(
            f"[2/4] direct prediction: the same network called once (T=1, n=1, N_sup=1), trained for the same "
            f"{minutes_used:.1f} min on this machine"
        )
        dcfg = direct_config(read_config(out / "checkpoints" / "last")[0], minutes_used, dev, log)
        direct = train(dcfg, data_dir, out / "baseline_direct", overwrite=True)
        if direct.status == "interrupted":
            raise KeyboardInterrupt
        direct_final = direct.final_eval  # the trainer's last evaluation: EMA weights, all held-out puzzles

    log("")
    log(
        "[3/4] results (held-out puzzles never seen in training; EMA weights; every puzzle runs all N_sup steps)"
    )
    log(summary_text(trm, trm_final, curve, direct, direct_final))
    log("")
    log(
        "[4/4] solving a held-out puzzle, step by step: the answer after each supervision step (changed cells "
        f"highlighted), p = sigmoid(q_halt), the model's confidence that it is done; it stops once "
        f"p > {DEFAULT_HALT_THRESHOLD}"
    )
    trace = solve_with_trace(out, data_dir)
    log(trace)
    wall = time.perf_counter() - t_start
    log("")
    log(f"demo finished in {wall / 60:.1f} min. Next:")
    log(f"  trm eval {out} --data {data_dir}          # score the saved model again")
    log(f"  trm solve {out} <36-character puzzle> --trace")
    log(
        f"  metrics: {out / 'metrics.jsonl'}; checkpoints: {out / 'checkpoints'}; summary: {out / 'demo_summary.json'}"
    )
    return DemoResult(out, data_dir, trm, trm_final, direct, direct_final, curve, trace, machine, wall)


def score(run_dir: Path, data_dir: Path, device: torch.device) -> dict[str, float]:
    """Exact accuracy of a run's saved (EMA) model on the whole held-out split, official mode."""
    model, cfg, _ = load_model(run_dir / "checkpoints" / "last", device=device)
    test = load_split(data_dir, "test")
    batches = (
        {k: v[:real] for k, v in batch.items()} for batch, real in test_batches(test, cfg.eval.batch_size)
    )
    return evaluate(model, batches, device, loss=cfg.model.loss)


def time_to(curve: list[dict[str, Any]], level: float) -> dict[str, Any] | None:
    """The first evaluation of the training curve at or above ``level`` exact accuracy."""
    return next((r for r in curve if r["exact_accuracy"] >= level), None)


def summary_text(
    trm: TrainResult,
    trm_final: dict[str, float],
    curve: list[dict[str, Any]],
    direct: TrainResult | None,
    direct_final: dict[str, float] | None,
) -> str:
    lines = [f"  TRM during training ({STOP_SUBSET} held-out puzzles):  minutes  steps  exact"]
    for r in curve:
        lines.append(f"  {'':34}{r['train_seconds'] / 60:7.1f} {r['step']:6,}  {r['exact_accuracy']:6.1%}")
    reached = []
    for level in MILESTONES:
        r = time_to(curve, level)
        reached.append(
            f"{level:.0%} after {r['train_seconds'] / 60:.1f} min ({r['step']:,} steps)"
            if r
            else f"{level:.0%} not reached"
        )
    lines.append("  time to accuracy: " + "; ".join(reached))
    by_step = " ".join(
        f"{trm_final[f'exact_accuracy_step_{k}']:.0%}"
        for k in range(1, 1000)
        if f"exact_accuracy_step_{k}" in trm_final
    )
    lines.append(
        f"  TRM after {trm.train_seconds / 60:.1f} min of training ({trm.step:,} steps): "
        f"{trm_final['exact_accuracy']:.1%} exact on {trm_final['count']:,} puzzles; the answer after "
        f"supervision step 1, 2, ...: {by_step}"
    )
    if direct is not None and direct_final is not None:
        gap = trm_final["exact_accuracy"] - direct_final["exact_accuracy"]
        lines.append(
            f"  direct prediction after {direct.train_seconds / 60:.1f} min ({direct.step:,} steps, same "
            f"machine, same wall time): {direct_final['exact_accuracy']:.1%} exact on "
            f"{direct_final['count']:,} puzzles"
        )
        lines.append(
            f"  recursion gains {100 * gap:+.1f} points over direct prediction at equal training time"
        )
    return "\n".join(lines)


def solve_with_trace(run_dir: Path, data_dir: Path, max_tries: int = 64) -> str:
    """Solve held-out puzzles until one shows refinement (wrong after step 1, right at the end); render it."""
    solver = load_solver(run_dir, data=data_dir)
    test = load_split(data_dir, "test")
    n = min(max_tries, test.num_examples)
    puzzles = [format_sudoku(decode(test.batch_inputs(np.array([i]))[0])) for i in range(n)]
    results = solver.solve_many(puzzles, trace=True, mode="adaptive", threshold=DEFAULT_HALT_THRESHOLD)
    pick = next(
        (i for i, r in enumerate(results) if r.valid and len(r.trace) > 1 and r.trace[0].answer != r.answer),
        None,
    )
    if pick is None:
        pick = next((i for i, r in enumerate(results) if r.valid), 0)
    result, text = results[pick], puzzles[pick]
    p = solver.parse(text)
    frames = [solver.codec.cells(np.asarray(t.tokens), p) for t in result.trace]
    givens = p.layout["givens"] != 0
    body = trace_text(frames, [t.confidence for t in result.trace], "sudoku", givens, use_colour())
    verdict = (
        "correct (checked by the Sudoku verifier)" if result.valid else "WRONG: " + "; ".join(result.errors)
    )
    return f"puzzle #{pick} of the held-out set: {text}\n\n{body}\n\nanswer: {verdict}"


def write_summary(result: DemoResult, path: Path) -> None:
    def milestone(level):
        r = time_to(result.curve, level)
        return None if r is None else {"step": r["step"], "train_seconds": r["train_seconds"]}

    summary = {
        "machine": result.machine,
        "wall_seconds": round(result.wall_seconds, 1),
        "trm": {
            "steps": result.trm.step,
            "train_seconds": result.trm.train_seconds,
            "status": result.trm.status,
            "exact_accuracy": result.trm_final["exact_accuracy"],
            "count": result.trm_final["count"],
            "time_to": {f"{level:.2f}": milestone(level) for level in MILESTONES},
            "curve": [{k: r[k] for k in ("step", "train_seconds", "exact_accuracy")} for r in result.curve],
        },
        "direct": None
        if result.direct is None
        else {
            "steps": result.direct.step,
            "train_seconds": result.direct.train_seconds,
            "exact_accuracy": result.direct_final["exact_accuracy"] if result.direct_final else math.nan,
        },
    }
    path.write_text(json.dumps(summary, indent=2) + "\n")
