"""Example puzzles of a model's kind and size (``trm serve``'s ``GET /v1/example``, the web export's examples),
made by the generators of the training datasets: the first puzzle of ``generate(1, ..., seed=seed)`` in
:mod:`trm.data.sudoku_generate` / :mod:`trm.data.maze_generate`, computed here as one chunk."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import maze, maze_generate, sudoku, sudoku_generate
from .base import Task, TaskInfo
from .errors import PuzzleError


def example_puzzle(info: TaskInfo, seed: int, data_info: Mapping[str, Any] | None = None) -> Any:
    """A generated puzzle of the model's kind and size (Sudoku and Maze), made like its training puzzles where
    ``data_info`` (the training dataset's ``trm_task.json``, kept in the checkpoint's meta) says how: a Sudoku's
    blank range, a maze's kind (perfect, walled) and shortest-path threshold."""
    same = isinstance(data_info, Mapping) and data_info.get("task") == info.kind
    make = EXAMPLES.get(info.kind)
    puzzle = (
        make(info, seed, data_info if same else {})
        if make is not None
        else _family(info.kind).example_puzzle(info, seed, data_info if same else {})
    )
    if puzzle is None:
        raise PuzzleError(f"no example generator for {info.kind} puzzles")
    return puzzle


def has_examples(kind: str) -> bool:
    """Whether puzzles of ``kind`` have an example generator (a built-in one, or the family's own
    :meth:`~trm.tasks.base.Task.example_puzzle`)."""
    family = _family(kind)
    return kind in EXAMPLES or family.example_puzzle.__func__ is not Task.example_puzzle.__func__


def _family(kind: str) -> type[Task]:
    from . import task_class  # the registry, which discovers this package's modules (this one included)

    return task_class(kind)


def _sudoku(info: TaskInfo, seed: int, d: Mapping[str, Any]) -> str:
    box = sudoku.check_box(info.box or sudoku.box_for_size(info.side))
    n = box[0] * box[1]
    blanks = d.get("blanks")
    if not (isinstance(blanks, list) and len(blanks) == 2 and 0 <= blanks[0] <= blanks[1] < n * n):
        blanks = (n * n // 2, n * n // 2 + n)
    job = (box, seed, 0, 1, (int(blanks[0]), int(blanks[1])), False, (0, None))
    puzzles, _ = sudoku_generate.generate_chunk(job)
    return sudoku.format_sudoku(puzzles[0])


def _maze(info: TaskInfo, seed: int, d: Mapping[str, Any]) -> str:
    n, perfect, walled = info.side, d.get("perfect") is True, d.get("walled") is True
    if perfect and (n % 2 == 0 or n < 5):
        perfect = False  # not a size the perfect-maze generator makes
    ring = walled and not perfect  # a perfect maze has its wall ring already
    inner = n - 2 if ring else n
    if inner < 2:
        raise PuzzleError(f"maze size must be at least {4 if ring else 2}, got {n}")
    min_path = d.get("min_path")  # the training mazes' shortest-path threshold: an example like them
    if not (isinstance(min_path, int) and not isinstance(min_path, bool) and 1 <= min_path <= n * n // 4):
        min_path = max(1, maze_generate.default_min_path(n, walled or perfect) // 2)
    mazes, _ = maze_generate.generate_chunk((inner, seed, 0, 1, min_path, (0.3, 0.5), False, perfect))
    grid = np.pad(mazes[0], 1, constant_values=maze.WALL) if ring else mazes[0]
    return maze.format_maze(grid)


# the built-in families' example generators (what `trm serve`'s GET /v1/example and the web page show); a new
# family overrides Task.example_puzzle in its own module instead
EXAMPLES: dict[str, Callable[[TaskInfo, int, Mapping[str, Any]], str]] = {
    sudoku.SudokuTask.kind: _sudoku,
    maze.MazeTask.kind: _maze,
}
