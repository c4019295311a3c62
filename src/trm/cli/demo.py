"""``trm demo``: train a small TRM on generated 6×6 Sudoku on the CPU, compare with direct prediction trained
for the same time on the same machine, and solve a held-out puzzle step by step. No download, no flags needed."""

from __future__ import annotations

import argparse

HELP = (
    "train a small TRM on this CPU on generated 6x6 Sudoku (a few minutes), then solve a puzzle step by step"
)
DESCRIPTION = """Train a small Tiny Recursive Model on the CPU, with no download and no flags:

  1. generate 5,000 training and 1,000 held-out 6x6 Sudoku puzzles (unique, minimal, 23-28 blanks);
  2. time the training step for each candidate set-up (float32 / bfloat16, plain / fused kernels) and keep
     the fastest on this CPU (cached in ~/.cache/trm);
  3. train TRM until --target held-out exact accuracy or --minutes, whichever comes first;
  4. train the same network as direct prediction (one call, no recursion) for the same wall time;
  5. solve one held-out puzzle, printing the answer after every supervision step.

Every number printed is measured in this run on this machine. The run directory (--out, default runs/demo)
holds the checkpoints, metrics.jsonl, config.json and demo_summary.json:
  trm eval runs/demo --data runs/demo/data
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", default="runs/demo", help="run directory (default runs/demo; replaced if it exists)"
    )
    p.add_argument(
        "--minutes",
        type=float,
        default=4.0,
        help="most training time of the TRM (default 4); the baseline gets the time the TRM used",
    )
    p.add_argument(
        "--target",
        type=float,
        default=0.99,
        help="stop training once the held-out exact accuracy reaches this (default 0.99)",
    )
    p.add_argument("--no-baseline", action="store_true", help="skip the direct-prediction baseline")
    p.add_argument("--data", default=None, help="use this 6x6 Sudoku dataset instead of generating one")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("overrides", nargs="*", metavar="section.key=value", help="config overrides for both runs")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..app.demo import run_demo, write_summary
    from ..utils import TRMError

    if not args.minutes > 0:
        raise TRMError(f"--minutes must be > 0, got {args.minutes}")
    if not 0 < args.target <= 1:
        raise TRMError(f"--target must be in (0, 1], got {args.target}")
    result = run_demo(
        args.out,
        minutes=args.minutes,
        target=args.target,
        data=args.data,
        device=args.device,
        seed=args.seed,
        overrides=args.overrides,
        baseline=not args.no_baseline,
    )
    write_summary(result, Path(args.out) / "demo_summary.json")
    return 0
