"""``trm demo``: a Tiny Recursive Model learns a puzzle task on this machine's CPU, with no flags needed.
``--task`` chooses 6x6 Sudoku (default), 9x9 Sudoku, mazes or a small-grid ARC-AGI-1 subset; what differs
between them is data in :mod:`trm.app.demo_tasks`. Every task runs the same path:

1. builds the task's dataset with its train, val and test splits (kept and reused; one without a val split is
   rebuilt; ARC reads ``--source``);
2. times the training step for each candidate set-up (dtype x kernels) and keeps the fastest on this CPU;
3. trains the task's fast preset until the exact accuracy on the validation split reaches ``target`` or the
   time budget runs out, whichever comes first, keeping the best checkpoint by validation; then scores that
   checkpoint once on the whole test split with ``trm eval``'s evaluator (Sudoku: rules-valid answers; maze:
   some shortest path; ARC: voting, pass@k, submission.json);
4. trains the same network as direct prediction (one call, no recursion) for the same wall-clock time on the
   same machine, and scores it the same way;
5. solves one test puzzle and prints the answer after every supervision step, with the verifier's verdict.

The test split chooses nothing: not when to stop, not which checkpoint, not a setting.

Every figure it prints was measured in this run, on this machine. The run directory (default ``runs/demo``) is
an ordinary training run: ``trm eval runs/demo --data runs/demo/data``, ``trm solve runs/demo PUZZLE --trace``.
"""

from __future__ import annotations

import json
import os
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
from ..infer import DEFAULT_HALT_THRESHOLD, Settings, load_solver
from ..infer import evaluate as evaluate_dataset
from ..infer.evaluate import save_report
from ..infer.render import trace_text, use_colour
from ..presets import get_preset
from ..tasks import TokensTask, task_class
from ..train.evaluate import evaluate
from ..train.rundir import holds_run
from ..train.step import autotune_cpu_setup, time_train_step
from ..train.trainer import TrainResult, train
from ..utils import TRMError, atomic_write_json, resolve_device
from .demo_tasks import TASKS, DemoTask, held_out_puzzles, matches

# a step in the training loop takes longer than the timed step (sampling, logging, the EMA): measured on a 2-core
# AMD EPYC, 685 TRM steps in 4.0 min against 335 ms timed (x1.05); direct prediction on 9x9 Sudoku, alone on the
# machine, 522 ms per loop step against 467 ms timed (x1.1; an earlier x1.5 came from a machine shared with others)
LOOP_OVERHEAD_TRM, LOOP_OVERHEAD_DIRECT = 1.05, 1.1
TRAIN_SCORE_LIMIT = 500  # ARC: training pairs scored for the training-task accuracy


@dataclass
class DemoResult:
    task: DemoTask
    run_dir: Path
    data_dir: Path
    trm: TrainResult
    trm_final: dict[str, Any]
    direct: TrainResult | None
    direct_final: dict[str, Any] | None
    curve: list[dict[str, Any]] = field(default_factory=list)
    trace: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0


DEMO_DATA_MARKER = "trm_demo_data.json"  # the demo's record of the seed a dataset it built was drawn with


def build_demo_data(
    task: DemoTask, out: Path, seed: int = 0, source: str | None = None, log: Callable[[str], None] = print
) -> Path:
    """The task's dataset in ``out`` (reused when one built for the task with this ``seed`` is already there)."""
    marker = out / DEMO_DATA_MARKER
    if matches(task, out) and marker.is_file() and json.loads(marker.read_text()).get("data_seed") == seed:
        log(f"using the dataset in {out} (data seed {seed})")
        return out
    preset = DATASET_PRESETS[task.dataset]
    # the options it builds with (the preset's own description names its defaults)
    what = ", ".join(f"{k}={v}" for k, v in task.build.items()) or preset.description
    log(f"generating the {task.dataset} dataset ({what}) into {out} ...")
    t0 = time.perf_counter()
    workers = min(2, os.cpu_count() or 1)
    preset.build(out, seed=seed, overwrite=True, source=source, workers=workers, **task.build)
    atomic_write_json(marker, {"task": task.name, "data_seed": seed})
    log(f"  done in {time.perf_counter() - t0:.0f} s")
    return out


def demo_config(
    task: DemoTask, minutes: float, target: float, device: str, seed: int, overrides: list[str]
) -> Config:
    return get_preset(task.preset).override(
        [
            f"train.max_minutes={minutes}",
            f"train.target_accuracy={target}",
            f"train.device={device}",
            f"train.seed={seed}",
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
        ]
    )
    cfg.name = trm_cfg.name.replace("_fast", "") + "_direct"
    sec = time_train_step(cfg, device) * LOOP_OVERHEAD_DIRECT
    steps = max(cfg.train.lr_warmup_steps + 1, int(minutes * 60 / sec))
    log(
        f"  measured {sec * 1000:.0f} ms per direct-prediction step: planning {steps:,} steps for {minutes:.1f} min"
    )
    return cfg.override([f"train.max_steps={steps}", f"train.eval_interval_steps={steps}"])


def run_demo(
    out: str | Path = "runs/demo",
    minutes: float | None = None,
    target: float | None = None,
    data: str | Path | None = None,
    device: str = "auto",
    seed: int = 0,
    overrides: list[str] | None = None,
    baseline: bool = True,
    log: Callable[[str], None] = print,
    task: str = "sudoku6",
    source: str | None = None,
    data_seed: int = 0,
    overwrite: bool = False,
) -> DemoResult:
    """Build the task's data (``data_seed``), train TRM and the direct baseline (training ``seed``), score both
    once on the test split and solve one puzzle step by step. A run already in ``out`` is replaced only with
    ``overwrite`` (its dataset, when built for the task with the same seed, is reused)."""
    t_start = time.perf_counter()
    if task not in TASKS:
        raise TRMError(f"unknown demo task {task!r}; choose one of {', '.join(TASKS)}")
    spec = TASKS[task]
    minutes = spec.minutes if minutes is None else minutes
    target = spec.target if target is None else target
    out = Path(out)
    if not overwrite and (holds_run(out) or (out / "demo_summary.json").exists()):
        raise TRMError(
            f"{out} already holds a demo run; pass --overwrite to replace it, or choose another --out"
        )
    overrides = list(overrides or [])
    machine = {"cpu": cpu_model(), "cpu_capability": cpu_capability(), "threads": torch.get_num_threads()}
    log(
        f"trm demo: a Tiny Recursive Model learns {spec.title} on this machine ({machine['cpu']}, "
        f"{machine['cpu_capability']}, {machine['threads']} threads); measured before: {spec.reaches}"
    )
    log(f"run directory: {out.resolve()}")
    data_dir = Path(data) if data else build_demo_data(spec, out / "data", data_seed, source, log)
    kind = load_task_info(data_dir).get("task") if data else spec.kind
    # a dataset of no family (custom) is an official-layout one without trm_task.json: it may be of any kind
    if kind != spec.kind and task_class(kind) is not TokensTask:
        raise TRMError(f"{data_dir} is a {kind} dataset; --task {task} needs a {spec.kind} dataset")

    dev = resolve_device(device)
    cfg = choose_setup(demo_config(spec, minutes, target, device, seed, overrides), minutes, dev, log)
    m = cfg.model
    grows = " (growing to that depth during training)" if cfg.train.depth_curriculum else ""
    log("")
    log(
        f"[1/4] TRM: one {m.num_layers}-layer network (hidden {m.hidden_size}) applied recursively: T={m.T} "
        f"recursions of n={m.n} latent updates per supervision step{grows}, up to N_sup={m.N_sup} supervision "
        f"steps; stops at {target:.0%} exact accuracy on the validation split or after {minutes:g} min"
    )
    curve: list[dict[str, Any]] = []
    # the one test score is the demo's own evaluation below (the trainer's would score the same checkpoint again)
    trm = train(cfg, data_dir, out, overwrite=True, on_eval=curve.append, score_test=False)
    if trm.status == "interrupted":
        raise KeyboardInterrupt
    trm_final = score(out, data_dir, dev)
    if spec.family.per_task:  # a model of per-task embeddings: how well it fits its training pairs tells
        trm_final["train_exact_accuracy"] = score_split(out, data_dir, dev, "train", TRAIN_SCORE_LIMIT)
    log(f"  test (best checkpoint by validation, scored once): {metrics_text(spec, trm_final)}")

    direct = direct_final = None
    if baseline:
        minutes_used = trm.train_seconds / 60
        log("")
        log(
            f"[2/4] direct prediction: the same network called once (T=1, n=1, N_sup=1), trained for the same "
            f"{minutes_used:.1f} min on this machine"
        )
        dcfg = direct_config(read_config(out / "checkpoints" / "last")[0], minutes_used, dev, log)
        direct = train(dcfg, data_dir, out / "baseline_direct", overwrite=True, score_test=False)
        if direct.status == "interrupted":
            raise KeyboardInterrupt
        direct_final = score(out / "baseline_direct", data_dir, dev)

    log("")
    log(
        "[3/4] results (the curve on the validation split; final scores on test puzzles never seen in training "
        "nor used for any choice; EMA weights; every puzzle runs all N_sup steps)"
    )
    log(summary_text(spec, trm, trm_final, curve, direct, direct_final))
    if spec.family.per_task:
        log(arc_table(out / "eval" / "arc_per_task.json"))
    log("")
    log(
        "[4/4] solving a test puzzle, step by step: the answer after each supervision step (changed cells "
        f"highlighted), p = sigmoid(q_halt), the model's confidence that it is done; it stops once "
        f"p > {DEFAULT_HALT_THRESHOLD}"
    )
    trace = solve_with_trace(spec, out, data_dir)
    log(trace)
    wall = time.perf_counter() - t_start
    log("")
    log(f"demo finished in {wall / 60:.1f} min. Next:")
    log(f"  trm eval {out} --data {data_dir}          # score the saved model again")
    log(f"  trm solve {out} PUZZLE --trace             # {spec.family.puzzle_noun}")
    log(
        f"  metrics: {out / 'metrics.jsonl'}; checkpoints: {out / 'checkpoints'}; evaluation: {out / 'eval'}; "
        f"summary: {out / 'demo_summary.json'}"
    )
    return DemoResult(spec, out, data_dir, trm, trm_final, direct, direct_final, curve, trace, machine, wall)


# the metrics reported in one pass beside a voted score
ONE_PASS_KEYS = ("exact_accuracy", "valid_shortest_accuracy", "valid_accuracy")


def chosen_checkpoint(run_dir: Path) -> str:
    """The checkpoint a demo scores: ``best`` (chosen on the validation split), ``last`` if there is none."""
    return "best" if (run_dir / "checkpoints" / "best").is_dir() else "last"


def score(run_dir: Path, data_dir: Path, device: torch.device) -> dict[str, Any]:
    """``trm eval`` of a run's chosen (EMA) checkpoint on the whole test split, official mode, the protocol once
    (budget 0: the demo compares the two networks' own answers; ``trm eval`` adds the verified-solving ladder);
    the report, ``submission.json`` and ``arc_per_task.json`` (ARC) go to ``run_dir/eval``."""
    slot = chosen_checkpoint(run_dir)
    model, cfg, _ = load_model(run_dir / "checkpoints" / slot, device=device)
    st = Settings.from_eval(cfg.eval).replace(mode="official", budget=0).validate()
    report = evaluate_dataset(model, cfg, data_dir, st, out_dir=run_dir / "eval")
    if st.augment > 1:  # the run votes over symmetric copies: say what one pass alone reaches beside it
        one = evaluate_dataset(model, cfg, data_dir, st.replace(augment=1))
        report["one_pass"] = {k: one[k] for k in (*ONE_PASS_KEYS, "per_step") if k in one}
    report["checkpoint"] = slot
    report["selected_on"] = cfg.eval.select_on  # the split that chose the checkpoint; "split" is scored here
    save_report(report, run_dir / "eval")
    return report


def score_split(run_dir: Path, data_dir: Path, device: torch.device, split: str, limit: int) -> float:
    """Exact accuracy of a run's chosen checkpoint on the first ``limit`` examples of ``split`` (official mode)."""
    model, cfg, _ = load_model(run_dir / "checkpoints" / chosen_checkpoint(run_dir), device=device)
    data = load_split(data_dir, split)
    batches = (
        {k: v[:real] for k, v in batch.items()} for batch, real in test_batches(data, cfg.eval.batch_size)
    )
    batches = (b for b, _ in zip(batches, range(-(-limit // cfg.eval.batch_size)), strict=False))
    return evaluate(model, batches, device, loss=cfg.model.loss)["exact_accuracy"]


def metrics_text(task: DemoTask, report: dict[str, Any]) -> str:
    parts = [f"{label} {report[key]:.1%}" for key, label in task.metrics if key in report]
    if "train_exact_accuracy" in report:
        parts.append(f"training pairs exact {report['train_exact_accuracy']:.1%}")
    voted = f", {report['augment']} symmetric copies voted" if report.get("augment", 1) > 1 else ""
    text = "; ".join(parts) + f" ({report['count']:,} {report.get('split', 'test')} puzzles{voted})"
    if "one_pass" in report:
        text += f"; one pass, no voting: exact {report['one_pass']['exact_accuracy']:.1%}"
    return text


def time_to(curve: list[dict[str, Any]], level: float) -> dict[str, Any] | None:
    """The first evaluation of the training curve at or above ``level`` exact accuracy."""
    return next((r for r in curve if r["exact_accuracy"] >= level), None)


def summary_text(
    task: DemoTask,
    trm: TrainResult,
    trm_final: dict[str, Any],
    curve: list[dict[str, Any]],
    direct: TrainResult | None,
    direct_final: dict[str, Any] | None,
) -> str:
    n = curve[0]["count"] if curve else 0
    subset = (
        f"{n:,} validation puzzles"
        if not task.family.per_task
        else f"{n:,} validation inputs (lent demonstration pairs), each version"
    )
    lines = [f"  TRM during training ({subset}):  minutes  steps  exact"]
    for r in curve:
        lines.append(f"  {'':34}{r['train_seconds'] / 60:7.1f} {r['step']:6,}  {r['exact_accuracy']:6.1%}")
    reached = []
    for level in task.milestones:
        r = time_to(curve, level)
        reached.append(
            f"{level:.0%} after {r['train_seconds'] / 60:.1f} min ({r['step']:,} steps)"
            if r
            else f"{level:.0%} not reached"
        )
    lines.append("  time to accuracy: " + "; ".join(reached))
    by_step = " ".join(f"{row['exact_accuracy']:.0%}" for row in trm_final.get("per_step", []))
    lines.append(
        f"  TRM after {trm.train_seconds / 60:.1f} min of training ({trm.step:,} steps), its best checkpoint by "
        f"validation (step {trm.best_step or trm.step:,}) on the test split: {metrics_text(task, trm_final)}; "
        f"exact after supervision step 1, 2, ...: {by_step}"
    )
    if direct is not None and direct_final is not None:
        lines.append(
            f"  direct prediction after {direct.train_seconds / 60:.1f} min ({direct.step:,} steps, same "
            f"machine, same wall time): {metrics_text(task, direct_final)}"
        )
        key = task.family.headline
        gap = trm_final[key] - direct_final[key]
        line = (
            f"  recursion gains {100 * gap:+.1f} points ({key}) over direct prediction at equal training time"
        )
        if "one_pass" in trm_final and "one_pass" in direct_final:
            one = trm_final["one_pass"][key] - direct_final["one_pass"][key]
            line += f" ({100 * one:+.1f} in one pass)"
        lines.append(line)
    return "\n".join(lines)


def arc_table(path: Path) -> str:
    """The per-task table of the ARC voting evaluator (``arc_per_task.json``)."""
    per_task = json.loads(path.read_text())
    lines = ["  per task (test inputs):", f"  {'task':<12} inputs  pass@1  pass@2  rank  top votes"]
    for name, r in sorted(per_task.items()):
        tests = r["test_inputs"]
        ranks = ",".join(str(t["rank"] or "-") for t in tests)
        votes = ",".join(str(t["top_votes"]) for t in tests)
        lines.append(
            f"  {name:<12} {len(tests):6}  {r['pass@1']:6.0%}  {r['pass@2']:6.0%}  {ranks:>4}  {votes}"
        )
    return "\n".join(lines)


def solve_with_trace(task: DemoTask, run_dir: Path, data_dir: Path, max_tries: int = 64) -> str:
    """Solve test puzzles until one shows refinement (wrong after step 1, right at the end); render it with
    the verifier's verdict."""
    solver = load_solver(run_dir, data=data_dir)
    puzzles = held_out_puzzles(task, data_dir, max_tries)
    # the protocol once (budget 0): the trace shows the network refining its answer, not the ladder's retries
    results = solver.solve_many(
        puzzles, trace=True, mode="adaptive", threshold=DEFAULT_HALT_THRESHOLD, budget=0
    )
    pick = next(
        (
            i
            for i, r in enumerate(results)
            if r.valid and len(r.trace) > 1 and r.trace[0].tokens != r.trace[-1].tokens
        ),
        None,
    )
    if pick is None:
        pick = next((i for i, r in enumerate(results) if r.valid), 0)
    result, puzzle = results[pick], puzzles[pick]
    codec = solver.codec
    if codec.per_task:  # a task has several inputs: its trace is drawn without one parsed input
        frames = [codec.cells(np.asarray(t.tokens), None) for t in result.trace]
        givens, shown = None, f"task {puzzle['name']}, test input {json.dumps(puzzle['test'][0]['input'])}"
    else:
        p = solver.parse(puzzle)
        frames = [codec.cells(np.asarray(t.tokens), p) for t in result.trace]
        givens, shown = codec.givens(p), puzzle
    body = trace_text(frames, [t.confidence for t in result.trace], codec, givens, use_colour())
    verdict = (
        f"correct (checked by {codec.checked_by})"
        if result.valid
        else "WRONG: " + ("; ".join(result.errors[:3]) or "no verifier")
    )
    return f"test puzzle #{pick}:\n{shown}\n\n{body}\n\nanswer: {verdict}"


def write_summary(result: DemoResult, path: Path) -> None:
    def milestone(level):
        r = time_to(result.curve, level)
        return None if r is None else {"step": r["step"], "train_seconds": r["train_seconds"]}

    def metrics(report):
        keys = [k for k, _ in result.task.metrics] + [
            "split",
            "checkpoint",
            "count",
            "augment",
            "train_exact_accuracy",
        ]
        out = {k: report[k] for k in keys if k in report}
        if "one_pass" in report:
            out["one_pass"] = {k: v for k, v in report["one_pass"].items() if k in ONE_PASS_KEYS}
        return out

    summary = {
        "task": result.task.name,
        "machine": result.machine,
        "wall_seconds": round(result.wall_seconds, 1),
        "trm": {
            "steps": result.trm.step,
            "train_seconds": result.trm.train_seconds,
            "status": result.trm.status,
            "selected_on": result.trm.selected_on,
            "best_step": result.trm.best_step,
            **metrics(result.trm_final),  # on the test split ("split"), scored once with "checkpoint"
            # the curve and the milestones are on the validation split ("curve_split"), which chose everything
            "curve_split": result.curve[0]["split"] if result.curve else None,
            "curve_count": result.curve[0]["count"] if result.curve else None,
            "time_to": {f"{level:.2f}": milestone(level) for level in result.task.milestones},
            "curve": [{k: r[k] for k in ("step", "train_seconds", "exact_accuracy")} for r in result.curve],
        },
        "direct": None
        if result.direct is None or result.direct_final is None
        else {
            "steps": result.direct.step,
            "train_seconds": result.direct.train_seconds,
            "selected_on": result.direct.selected_on,
            **metrics(result.direct_final),
        },
    }
    atomic_write_json(path, summary)
