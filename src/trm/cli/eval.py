"""``trm eval``: score a trained model on a dataset."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..checkpoint import load_model
from ..config import Config
from ..deploy.backends import is_export_dir, load_onnx_solver
from ..infer import Settings, evaluate, format_report
from ..infer.evaluate import save_report
from ..infer.settings import given_options
from ..infer.tasks import task_info
from ..infer.torch_backend import TorchBackend, dataset_task_info
from ..utils import resolve_device, resolve_dtype
from .common import add_device, add_dtype, add_quiet, add_threads, announce_device
from .solve import add_inference_arguments

HELP = "evaluate a model on a dataset: accuracy with confidence intervals, per-step accuracy, halting, ARC voting"
DESCRIPTION = """Evaluate a run directory, checkpoint or model folder on a dataset split, with the run's inference protocol
(its config's eval section; flags override it).

Prints exact and token accuracy with 95% Wilson intervals, the accuracy after each supervision step (table,
bar plot, and per_step.png with pillow), halting statistics, the network calls per puzzle (supervision steps
summed over trajectories and symmetric copies), the evaluated subset (index ranges and digest) and, in the
official mode, what adaptive halting would give at several thresholds. --select chooses among a puzzle's
--samples trajectories (benchmarks/selectors_sweep.py draws accuracy against calls for all of them). --augment
votes over symmetric copies (the maze presets' protocol: 8; --augment 1 for one pass). Maze also reports "valid
and shortest path"; ARC runs the voting evaluator (pass@1/2/5/10/100/1000, per-task results, submission.json).
Everything is written to --out/report.json.

examples:
  trm eval runs/demo --data data/sudoku6
  trm eval runs/demo --data data/sudoku6 --mode adaptive --threshold 0.7 --json
  trm eval runs/demo --data data/sudoku6 --sup-steps 16 --samples 8 --noise 0.2
  trm eval runs/demo --data data/sudoku6 --samples 8 --select halt-first --per-puzzle p.jsonl --json
  trm eval runs/arc1 --data data/arc1 --out eval/arc1
  trm eval export-dir --data data/sudoku6          # an ONNX export (trm export), run by onnxruntime
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint", help="run directory, checkpoint directory, model folder or ONNX export folder"
    )
    p.add_argument(
        "--data", required=True, help="dataset directory (official layout, built by `trm data build`)"
    )
    p.add_argument("--split", default="test", help="split to evaluate (default test)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N examples")
    add_inference_arguments(p)
    p.add_argument(
        "--out",
        default=None,
        help="folder for report.json, per_step.png and ARC's submission.json "
        "(default: RUN/eval, or ./trm-eval for a model folder)",
    )
    p.add_argument(
        "--per-puzzle",
        default=None,
        metavar="FILE",
        help="write one JSON line per puzzle: index, answer, steps, calls, selector, verdict (not ARC)",
    )
    p.add_argument(
        "--json", action="store_true", help="end the output with one JSON line of the results (report.json)"
    )
    add_quiet(p)
    add_device(p)
    add_dtype(p)
    add_threads(p)


def default_out(checkpoint: str) -> Path:
    p = Path(checkpoint)
    if (p / "checkpoints").is_dir():
        return p / "eval"
    return Path("trm-eval")


def run(args: argparse.Namespace) -> int:
    if is_export_dir(args.checkpoint):  # an ONNX export: onnxruntime, the model's config from its manifest
        solver = load_onnx_solver(args.checkpoint, threads=args.threads)
        backend, cfg, meta = (
            solver.backend,
            Config.from_dict(solver.manifest["config"]),
            solver.manifest.get("meta"),
        )
    else:
        dev = resolve_device(args.device)
        model, cfg, meta = load_model(args.checkpoint, dev, resolve_dtype(args.dtype, dev))
        backend = TorchBackend(model, args.threads)
    data_info, _ = dataset_task_info(args.data)
    st = Settings.from_eval(cfg.eval).replace(**given_options(args)).validate()
    out = args.out or default_out(args.checkpoint)
    report = evaluate(
        backend,
        cfg,
        args.data,
        st,
        info=task_info(cfg, meta, data_info),
        split=args.split,
        limit=args.limit,
        progress=not args.quiet and sys.stderr.isatty(),
        out_dir=out,
        per_puzzle=args.per_puzzle,
    )
    announce_device(backend, args.device, args.dtype)
    print(format_report(report))
    for note in save_report(report, out):
        print(note)
    if args.json:
        print(json.dumps(report))
    return 0
