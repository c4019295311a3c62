"""``trm demo``: train a small TRM on generated 6×6 Sudoku on the CPU, compare with direct prediction, and
solve a held-out puzzle step by step. No download, no flags needed."""

from __future__ import annotations

import argparse

HELP = "train a small TRM on CPU on generated 6x6 Sudoku (about 10 minutes), then solve a puzzle step by step"
DESCRIPTION = """Train a small Tiny Recursive Model on the CPU, with no download and no flags:

  1. generate 5,000 training and 1,000 held-out 6x6 Sudoku puzzles (unique, minimal, 23-28 blanks);
  2. train TRM-MLP (hidden 64, T=3, n=4, N_sup=8; 155k parameters) for --minutes, evaluating as it goes;
  3. train the same network as direct prediction (one call, no recursion) for --baseline-minutes;
  4. solve one held-out puzzle, printing the answer after every supervision step.

The run directory (--out, default runs/demo) holds the checkpoints, metrics.jsonl and config:
  trm eval runs/demo --data runs/demo/data
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo; replaced if it exists)")
    p.add_argument("--minutes", type=float, default=6.0, help="training time of the TRM (default 6)")
    p.add_argument("--baseline-minutes", type=float, default=2.0,
                   help="training time of the direct-prediction baseline (0 = skip it; default 2)")
    p.add_argument("--data", default=None, help="use this 6x6 Sudoku dataset instead of generating one")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("overrides", nargs="*", metavar="section.key=value", help="config overrides for both runs")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..train.demo import run_demo, write_summary

    result = run_demo(args.out, minutes=args.minutes, baseline_minutes=args.baseline_minutes, data=args.data,
                      device=args.device, seed=args.seed, overrides=args.overrides)
    write_summary(result, Path(args.out) / "demo_summary.json")
    return 0
