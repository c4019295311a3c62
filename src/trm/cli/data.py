"""``trm data``: build datasets (``build``), summarise one (``info``), render a puzzle (``show``)."""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from ..data.format import SPLITS, describe, load_identifiers, load_split, load_task_info
from ..data.options import option_fields
from ..data.presets import DATASET_PRESETS
from ..tasks import get_task
from ..typed import bounds_text
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


def _option_fields() -> list:
    return option_fields(p.options_class for p in DATASET_PRESETS.values())


def add_build_options(b: argparse.ArgumentParser) -> None:
    """One flag per build option of every preset (:class:`~trm.data.options.BuildOptions` and the builders' own
    subclasses), with the help and bounds declared there (checked when the preset builds, before anything is
    written)."""
    for f in _option_fields():
        meta = f.metadata
        if meta.get("cli") is False:
            continue
        flag, kind = "--" + f.name.replace("_", "-"), meta.get("kind")
        allowed = bounds_text(meta)
        text = meta["help"] + (f" [allowed: {allowed}{' each' * (kind == 'pair')}]" if allowed else "")
        default = meta.get("cli_default", f.default)
        if kind == "flag":
            b.add_argument(flag, dest=f.name, action="store_true", help=text)
        elif kind == "toggle":
            b.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif kind == "list":
            b.add_argument(flag, dest=f.name, nargs="+", default=None, help=text)
        elif kind == "pair":
            b.add_argument(flag, dest=f.name, type=_pair, default=None, help=text)
        else:
            number = "int" in str(f.type) and "str" not in str(f.type)
            b.add_argument(flag, dest=f.name, type=int if number else str, default=default, help=text)


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
    add_build_options(b)
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
    options = {f.name: getattr(a, f.name) for f in _option_fields() if f.name != "progress"}
    DATASET_PRESETS[a.preset].build(a.out, progress=not a.quiet, **options)  # checks every option first
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
    print(task.show_example(inp, lab, sys.stdout.isatty()))
    return 0
