"""The options of ``trm data build`` and what a dataset preset is: :class:`BuildOptions` (every option, declared
once with its help and bounds; ``trm data build``'s flags are generated from it) and :class:`DatasetPreset`.
A builder with options of its own subclasses :class:`BuildOptions` in its module and names the subclass in its
presets' ``options_class`` (the command line then has its flags too)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..typed import bounds_text, in_bounds
from .errors import DataError
from .write import VAL_HELP


def opt(default: Any, help: str, **meta: Any) -> Any:
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

    source: str | Path | None = opt(None, "input data (see the preset); not needed for generated data")
    seed: int = opt(0, "seed of every random choice", ge=0, le=2**63 - 1)
    overwrite: bool = opt(False, "replace an existing --out directory", kind="flag")
    workers: int = opt(1, "processes for the long steps (default 2)", ge=1, le=1024, cli_default=2)
    progress: bool = opt(
        False, "progress bars (the command line's default; --quiet turns them off)", cli=False
    )
    train: int | None = opt(None, "number of training puzzles/mazes", ge=1, le=COUNT)
    test: int | None = opt(None, "number of test puzzles/mazes", ge=1, le=COUNT)
    val: int | None = opt(None, VAL_HELP, ge=0, le=COUNT)  # ARC: tasks lending one demonstration pair
    augmentations: int | None = opt(
        None, "Sudoku: shuffled copies per training puzzle; ARC: augmented versions per task", ge=0, le=10**5
    )
    size: int | None = opt(None, "Sudoku side N or maze side", ge=2, le=1024)
    box: tuple[int, int] | None = opt(
        None, "Sudoku box shape rows x cols, e.g. 2x3", kind="pair", ge=1, le=32
    )
    blanks: tuple[int, int] | None = opt(
        None, "Sudoku blanks range lo,hi", kind="pair", ge=0, le=1024**2, ordered=True
    )
    minimal: bool | None = opt(None, "Sudoku: only minimal puzzles (no given removable)", kind="toggle")
    guesses: tuple[int, int | None] | None = opt(
        None, "Sudoku difficulty: rating range lo,hi", kind="pair", ge=0, le=10**9, ordered=True
    )
    check_unique: bool | None = opt(None, "sudoku-hard: prove every puzzle unique", kind="flag")
    subsample: int | None = opt(None, "sudoku-csv: random training subsample size", ge=1, le=COUNT)
    min_path: int | None = opt(None, "maze: shortest path must be longer than this", ge=0, le=1024**2)
    dihedral: bool | None = opt(None, "maze: add the 8 dihedral copies of training mazes", kind="flag")
    unique_path: bool | None = opt(
        None,
        "generated mazes: add walls until the labelled shortest path is the only shortest path",
        kind="flag",
    )
    walled: bool | None = opt(
        None, "generated mazes: the grid's outer ring is wall, around a (size-2)x(size-2) maze", kind="flag"
    )
    perfect: bool | None = opt(
        None,
        "generated mazes: perfect mazes (odd --size; cells joined by a random spanning tree, one path between "
        "any two cells)",
        kind="flag",
    )
    subsets: list[str] | None = opt(None, "arc-custom: subset names (folders or Kaggle files)", kind="list")
    test_subset: str | None = opt(None, "arc-custom: subset whose test pairs form the test split")

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
    :class:`BuildOptions` for this preset (every option is checked before anything is written),
    ``options_class`` is a :class:`BuildOptions` subclass declaring the builder's own options (their flags are
    generated like the others')."""

    name: str
    description: str
    builder: Callable[[str | Path, Any, DatasetPreset], Path]  # (out, options, preset) -> out
    options: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    source_required: bool = False
    bounds: dict[str, dict[str, Any]] = field(default_factory=dict)  # narrower bounds of BuildOptions fields
    options_class: type[BuildOptions] = field(default=None)  # a subclass with the builder's own options

    def __post_init__(self) -> None:
        if self.options_class is None:
            object.__setattr__(self, "options_class", BuildOptions)

    def build(self, out: str | Path, **options) -> Path:
        known = {f.name for f in dataclasses.fields(self.options_class)}
        for key, value in options.items():
            if key not in known and value in (None, False):  # another builder's option, not given
                continue
            takes = ", ".join(self.options) or "none"
            if key not in known:
                raise DataError(
                    f"unknown dataset option {key!r} for the {self.name} preset (it takes: {takes})"
                )
            if value not in (None, False) and key not in COMMON and key not in self.options:
                raise DataError(
                    f"option {key!r} does not apply to the {self.name} preset (it takes: {takes})"
                )
        opts = self.options_class(**{k: v for k, v in options.items() if v is not None and k in known})
        opts = dataclasses.replace(
            opts, **{k: v for k, v in self.defaults.items() if getattr(opts, k) is None}
        ).check(self.bounds)
        if self.source_required and opts.source is None:
            raise DataError(f"{self.name} needs --source: {self.source}")
        return self.builder(out, opts, self)


def option_fields(classes: Iterable[type[BuildOptions]]) -> list[dataclasses.Field]:
    """The fields of every options class given, each name once (the first declaration wins): what
    ``trm data build`` makes flags of."""
    seen: dict[str, dataclasses.Field] = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            seen.setdefault(f.name, f)
    return list(seen.values())
