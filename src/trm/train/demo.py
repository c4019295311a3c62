"""``trm demo``: train a small TRM on CPU on generated 6×6 Sudoku, with no download and no flags.

1. builds the dataset (5,000 training and 1,000 held-out puzzles: unique solutions, minimal, 23–28 blanks);
2. trains ``sudoku6_mlp`` (TRM-MLP, hidden 64, T=3, n=4, N_sup=8, ~155k parameters) for a fixed time budget,
   evaluating the EMA weights on the held-out puzzles as it goes;
3. trains the same network as direct prediction (``sudoku6_direct``: T=1, n=1, N_sup=1) for a shorter
   budget, and prints it next to the TRM's curve and a recorded direct-prediction run as long as the TRM's;
4. solves one held-out puzzle and prints the answer after every supervision step.

The run directory (default ``runs/demo``) is an ordinary training run: ``trm eval runs/demo --data
runs/demo/data`` scores it again, ``trm solve runs/demo PUZZLE --trace`` solves with it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import DEFAULT_HALT_THRESHOLD, Config
from ..presets import get_preset
from .trainer import TrainResult, train

DEMO_TRAIN, DEMO_TEST = 5000, 1000
DEMO_BOX = (2, 3)
DEMO_BLANKS = (23, 28)

# Direct prediction (sudoku6_direct) trained for the TRM's default budget on the project's 2-core reference CPU
# (bfloat16, same dataset); docs/BENCHMARKS.md ("Training") has the whole curve.
RECORDED_DIRECT = {
    "command": "trm train sudoku6_direct --data runs/demo/data --out runs/direct train.max_minutes=6 train.dtype=bfloat16",
    "minutes": 6.0,
    "exact_accuracy": 0.424,
}


@dataclass
class DemoResult:
    run_dir: Path
    data_dir: Path
    trm: TrainResult
    direct: TrainResult | None
    curve: list[dict[str, Any]] = field(default_factory=list)
    trace: str = ""


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bfloat16 matrix instructions (AVX512-BF16 or AMX); elsewhere PyTorch
    emulates bfloat16 and float32 is faster."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def demo_dtype(device: str) -> str:
    if device in ("auto", "cpu") and not torch.cuda.is_available():
        return "bfloat16" if cpu_supports_bf16() else "float32"
    return "auto"


def build_demo_data(out: Path, seed: int = 0, log: Callable[[str], None] = print) -> Path:
    """Generate the demo dataset into ``out`` (kept and reused when it is already there)."""
    from ..data.format import load_split, load_task_info

    if (out / "train" / "dataset.json").is_file() and (out / "test" / "dataset.json").is_file():
        info = load_task_info(out)
        if info.get("task") == "sudoku" and load_split(out, "train").metadata.seq_len == 36:
            log(f"using the dataset in {out}")
            return out
    log(f"generating {DEMO_TRAIN:,} training and {DEMO_TEST:,} held-out 6x6 Sudoku puzzles (unique solutions, "
        f"minimal, {DEMO_BLANKS[0]}-{DEMO_BLANKS[1]} blanks, train and test inequivalent) into {out} ...")
    from ..data.builders import build_sudoku_generated

    t0 = time.perf_counter()
    build_sudoku_generated(out, size=6, box=DEMO_BOX, n_train=DEMO_TRAIN, n_test=DEMO_TEST, blanks=DEMO_BLANKS,
                           minimal=True, seed=seed, overwrite=True)
    log(f"  done in {time.perf_counter() - t0:.0f} s")
    return out


def demo_config(name: str, minutes: float, device: str, seed: int, overrides: list[str]) -> Config:
    cfg = get_preset(name)
    return cfg.override([f"train.max_minutes={minutes}", f"train.device={device}", f"train.seed={seed}",
                         f"train.dtype={demo_dtype(device)}", *overrides])


def run_demo(out: str | Path = "runs/demo", minutes: float = 6.0, baseline_minutes: float = 2.0,
             data: str | Path | None = None, device: str = "auto", seed: int = 0, overrides: list[str] | None = None,
             log: Callable[[str], None] = print) -> DemoResult:
    out = Path(out)
    overrides = list(overrides or [])
    t_start = time.perf_counter()
    log(f"trm demo: a Tiny Recursive Model learns 6x6 Sudoku on this machine ({torch.get_num_threads()} CPU threads)")
    log(f"run directory: {out.resolve()}")
    data_dir = Path(data) if data else build_demo_data(out / "data", seed=seed, log=log)

    cfg = demo_config("sudoku6_mlp", minutes, device, seed, overrides)
    m = cfg.model
    log("")
    log(f"[1/3] TRM: one 2-layer network (hidden {m.hidden_size}) applied recursively: T={m.T} recursions of "
        f"n={m.n} latent updates per supervision step, up to N_sup={m.N_sup} steps; {minutes:g} min of training")
    curve: list[dict[str, Any]] = []
    trm_result = train(cfg, data_dir, out, overwrite=True, on_eval=curve.append)
    if trm_result.status == "interrupted":
        raise KeyboardInterrupt

    direct = None
    if baseline_minutes > 0:
        log("")
        log(f"[2/3] direct prediction: the same network called once (T=1, n=1, N_sup=1); {baseline_minutes:g} min "
            "of training")
        dcfg = demo_config("sudoku6_direct", baseline_minutes, device, seed, overrides)
        direct = train(dcfg, data_dir, out / "baseline_direct", overwrite=True)
        if direct.status == "interrupted":
            raise KeyboardInterrupt

    log("")
    log(_comparison(trm_result, curve, direct))
    log("")
    log("[3/3] solving a held-out puzzle, step by step: the answer after each supervision step (changed cells "
        f"highlighted), p = sigmoid(q_halt), the model's confidence that it is done; it stops once "
        f"p > {DEFAULT_HALT_THRESHOLD}")
    trace = solve_with_trace(out, data_dir)
    log(trace)
    log("")
    log(f"demo finished in {(time.perf_counter() - t_start) / 60:.1f} min. Next:")
    log(f"  trm eval {out} --data {data_dir}          # score the saved model again")
    log(f"  trm solve {out} <36-character puzzle> --trace")
    log(f"  metrics: {out / 'metrics.jsonl'}; checkpoints: {out / 'checkpoints'}")
    return DemoResult(out, data_dir, trm_result, direct, curve, trace)


def _comparison(trm: TrainResult, curve: list[dict[str, Any]], direct: TrainResult | None) -> str:
    lines = ["held-out exact accuracy (1,000 puzzles never seen in training; EMA weights, every puzzle run for "
             "all N_sup steps):", "  minutes of training   TRM"]
    for rec in curve:
        lines.append(f"  {rec['train_seconds'] / 60:>8.1f}              {rec['exact_accuracy']:6.1%}")
    final = trm.final_eval or (curve[-1] if curve else None)
    if final is not None:
        by_step = " ".join(f"{final[f'exact_accuracy_step_{k}']:.0%}" for k in range(1, 1000)
                           if f"exact_accuracy_step_{k}" in final)
        lines.append(f"TRM after {trm.train_seconds / 60:.1f} min ({trm.step:,} steps): {final['exact_accuracy']:.1%}; "
                     f"answer after supervision step 1, 2, ...: {by_step}")
    if direct is not None and direct.final_eval is not None:
        earlier = [r for r in curve if r["train_seconds"] <= direct.train_seconds * 1.05]
        at = (f" (TRM after {earlier[-1]['train_seconds'] / 60:.1f} min: {earlier[-1]['exact_accuracy']:.1%})"
              if earlier else "")
        lines.append(f"direct prediction after {direct.train_seconds / 60:.1f} min ({direct.step:,} steps, trained just "
                     f"now): {direct.final_eval['exact_accuracy']:.1%}{at}")
    if RECORDED_DIRECT["exact_accuracy"] is not None:
        lines.append(f"direct prediction after {RECORDED_DIRECT['minutes']:g} min (recorded on the reference 2-core CPU "
                     f"with `{RECORDED_DIRECT['command']}`): {RECORDED_DIRECT['exact_accuracy']:.1%}")
    return "\n".join(lines)


def solve_with_trace(run_dir: Path, data_dir: Path, max_tries: int = 64) -> str:
    """Solve held-out puzzles until one shows refinement (wrong after step 1, right at the end); render it."""
    from ..data.format import load_split
    from ..data.sudoku import decode, format_sudoku
    from ..infer.render import trace_text, use_colour
    from ..infer.solver import load_solver

    solver = load_solver(run_dir, data=data_dir)
    test = load_split(data_dir, "test")
    n = min(max_tries, test.num_examples)
    puzzles = [format_sudoku(decode(test.batch_inputs(np.array([i]))[0])) for i in range(n)]
    results = solver.solve_many(puzzles, trace=True, mode="adaptive", threshold=DEFAULT_HALT_THRESHOLD)
    pick = next((i for i, r in enumerate(results) if r.valid and len(r.trace) > 1
                 and r.trace[0].answer != r.answer), None)
    if pick is None:
        pick = next((i for i, r in enumerate(results) if r.valid), 0)
    result, text = results[pick], puzzles[pick]
    p = solver.parse(text)
    frames = [solver.codec.cells(np.asarray(t.tokens), p) for t in result.trace]
    givens = p.layout["givens"] != 0
    body = trace_text(frames, [t.confidence for t in result.trace], "sudoku", givens, use_colour())
    verdict = "correct (checked by the Sudoku verifier)" if result.valid else "WRONG: " + "; ".join(result.errors)
    return f"puzzle #{pick} of the held-out set: {text}\n\n{body}\n\nanswer: {verdict}"


def write_summary(result: DemoResult, path: Path) -> None:
    summary = {
        "trm": {"steps": result.trm.step, "train_seconds": result.trm.train_seconds,
                "final": result.trm.final_eval, "curve": [{k: r[k] for k in ("step", "train_seconds", "exact_accuracy")}
                                                          for r in result.curve]},
        "direct": None if result.direct is None else {"steps": result.direct.step,
                                                      "train_seconds": result.direct.train_seconds,
                                                      "final": result.direct.final_eval},
    }
    path.write_text(json.dumps(summary, indent=2) + "\n")
