"""``trm data``: build datasets (``build``), summarise one (``info``), render a puzzle (``show``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields

import numpy as np

from ..data.format import SPLITS, describe, load_identifiers, load_split, load_task_info
from ..data.presets import DATASET_PRESETS, BuildOptions
from ..data.write import VAL_HELP
from ..tasks import get_task
from ..tasks.base import side_by_side
from ..utils import TRMError

HELP = "build, inspect and show datasets (Sudoku, Maze, ARC)"

DESCRIPTION = (
    "Build, inspect and show datasets in the official on-disk layout.\n\nPresets of `trm data build`:\n"
    + "\n".join(f"  {p.name:<17} {p.description}" for p in DATASET_PRESETS.values())
)


def _pair(text: str) -> tuple[int, int]:
    parts = text.replace("x", ",").replace("-", ",").split(",")
    if len(parts) == 1:
        return int(parts[0]), int(parts[0])
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected two integers like 23,28 or 2x3, got {text!r}")
    return int(parts[0]), int(parts[1])


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="<build|info|show>")
    b = sub.add_parser(
        "build",
        help="build a dataset from a preset",
        description="Build a dataset.\n\nPresets:\n"
        + "\n".join(f"  {p.name:<17} {p.description}" for p in DATASET_PRESETS.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument(
        "preset",
        choices=sorted(DATASET_PRESETS),
        metavar="preset",
        help="one of: " + ", ".join(DATASET_PRESETS),
    )
    b.add_argument("--out", required=True, help="output dataset directory (written atomically)")
    b.add_argument(
        "--source", default=None, help="input data (see the preset); not needed for generated data"
    )
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--overwrite", action="store_true", help="replace an existing --out directory")
    b.add_argument("--workers", type=int, default=2, help="processes for the long steps (default 2)")
    b.add_argument("--train", type=int, default=None, help="number of training puzzles/mazes")
    b.add_argument("--test", type=int, default=None, help="number of test puzzles/mazes")
    b.add_argument("--val", type=int, default=None, help=VAL_HELP)
    b.add_argument(
        "--augmentations",
        type=int,
        default=None,
        help="Sudoku: shuffled copies per training puzzle; ARC: augmented versions per task",
    )
    b.add_argument("--size", type=int, default=None, help="Sudoku side N or maze side")
    b.add_argument("--box", type=_pair, default=None, help="Sudoku box shape rows x cols, e.g. 2x3")
    b.add_argument("--blanks", type=_pair, default=None, help="Sudoku blanks range lo,hi")
    b.add_argument(
        "--minimal",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Sudoku: only minimal puzzles (no given removable)",
    )
    b.add_argument("--guesses", type=_pair, default=None, help="Sudoku difficulty: rating range lo,hi")
    b.add_argument("--check-unique", action="store_true", help="sudoku-hard: prove every puzzle unique")
    b.add_argument("--subsample", type=int, default=None, help="sudoku-csv: random training subsample size")
    b.add_argument("--min-path", type=int, default=None, help="maze: shortest path must be longer than this")
    b.add_argument(
        "--dihedral", action="store_true", help="maze: add the 8 dihedral copies of training mazes"
    )
    b.add_argument(
        "--unique-path",
        action="store_true",
        help="generated mazes: add walls until the labelled shortest path is the only shortest path",
    )
    b.add_argument(
        "--walled",
        action="store_true",
        help="generated mazes: the grid's outer ring is wall, around a (size-2)x(size-2) maze",
    )
    b.add_argument(
        "--perfect",
        action="store_true",
        help="generated mazes: perfect mazes (odd --size; cells joined by a random spanning tree, one path "
        "between any two cells)",
    )
    b.add_argument(
        "--subsets", nargs="+", default=None, help="arc-custom: subset names (folders or Kaggle files)"
    )
    b.add_argument(
        "--test-subset", default=None, help="arc-custom: subset whose test pairs form the test split"
    )
    b.add_argument("--quiet", action="store_true", help="no progress bars")

    i = sub.add_parser("info", help="summarise a dataset directory")
    i.add_argument("dir")
    i.add_argument("--json", action="store_true")

    s = sub.add_parser("show", help="render one example in the terminal")
    s.add_argument("dir")
    s.add_argument("--index", type=int, default=0, help="example index in the split")
    s.add_argument("--split", default="test")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "build":
        return _build(args)
    if args.data_command == "info":
        return _info(args)
    if args.data_command == "show":
        return _show(args)
    print("usage: trm data {build,info,show} ... (see trm data --help)")
    return 1


def _build(a: argparse.Namespace) -> int:
    t0 = time.time()
    options = {f.name: getattr(a, f.name) for f in fields(BuildOptions) if f.name != "progress"}
    DATASET_PRESETS[a.preset].build(a.out, progress=not a.quiet, **options)
    print(f"wrote {a.out} ({a.preset}) in {time.time() - t0:.1f} s")
    return 0


def _info(a: argparse.Namespace) -> int:
    info = describe(a.dir)
    if a.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['path']}: task {json.dumps(info['task'])}")
    print(f"  identifiers: {info['identifiers']}")
    for split in SPLITS:
        if split in info:
            s = info[split]
            print(
                f"  {split}: {s['groups']} groups, {s['puzzles']} puzzles, {s['examples']} examples; "
                f"seq_len {s['seq_len']}, vocab {s['vocab_size']}, {s['dtype']}, sets {s['sets']}, "
                f"{s['bytes'] / 1e6:.1f} MB"
            )
    return 0


def _show(a: argparse.Namespace) -> int:
    sd = load_split(a.dir, a.split, check_values=False)
    if not 0 <= a.index < sd.num_examples:
        raise TRMError(f"--index {a.index} is outside 0..{sd.num_examples - 1} ({a.split} split of {a.dir})")
    info = load_task_info(a.dir)
    idx = np.array([a.index])
    inp, lab = sd.batch_inputs(idx)[0], sd.batch_labels(idx)[0]
    pid = int(sd.puzzle_identifiers[np.searchsorted(sd.puzzle_indices, a.index, side="right") - 1])
    try:
        name = load_identifiers(a.dir)[pid]
    except (TRMError, IndexError):
        name = str(pid)
    print(f"{a.split} example {a.index} (identifier {pid}: {name})")
    task = get_task(info, sd.metadata.seq_len, sd.metadata.vocab_size)
    if task.kind == "custom":
        print(f"inputs: {np.asarray(inp).tolist()}\nlabels: {np.asarray(lab).tolist()}")
        return 0
    colour = sys.stdout.isatty()
    print(side_by_side(task.render(inp, colour), task.render(np.where(lab < 0, 0, lab), colour)))
    return 0
