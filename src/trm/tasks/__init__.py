"""Everything the project knows about each puzzle family, numpy only: one module per family behind one
interface (:class:`~trm.tasks.base.Task`) and a registry.

    task = get_task("sudoku", seq_len=36, vocab_size=8)      # or a TaskInfo / {"kind": ..., "box": ...}
    parsed = task.parse("1.....4..2....")                    # PuzzleError (one line) on bad input
    answer = task.format(tokens, parsed); valid, errors = task.verify(parsed, tokens)
    for sym in task.symmetries(8, seed=0): sym.apply(rows); sym.inverse().apply(answers)

Modules: :mod:`~trm.tasks.sudoku` (any box shape; exact solver in :mod:`~trm.tasks.sudoku_solver`),
:mod:`~trm.tasks.maze`, :mod:`~trm.tasks.arc`, :mod:`~trm.tasks.base` (interface, custom token rows),
:mod:`~trm.tasks.errors`. Token schemes: SPEC §6. The package imports numpy and :mod:`trm.errors` only, so an
ONNX export folder carries a copy of it (``trm_runtime/tasks/``, see :func:`trm.deploy.onnx_export.copy_runtime`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from . import arc, maze, sudoku
from .base import Parsed, Symmetry, Task, TaskInfo, TokensTask
from .errors import IGNORE, PuzzleError

TASKS: dict[str, type[Task]] = {
    "sudoku": sudoku.SudokuTask,
    "maze": maze.MazeTask,
    "arc": arc.ArcTask,
    "custom": TokensTask,
}


def resolve_info(kind: str, seq_len: int, vocab_size: int, box=None) -> TaskInfo:
    """The task of a model with this sequence length and vocabulary, checked (the grid side N has N² = seq_len;
    a Sudoku box defaults to the most square one: 16 -> 2x2, 36 -> 2x3, 81 -> 3x3)."""
    side = math.isqrt(seq_len)
    if kind in ("sudoku", "maze", "arc") and side * side != seq_len:
        raise PuzzleError(f"a {kind} model needs a square sequence length, got seq_len {seq_len}")
    if kind == "sudoku":
        box = sudoku.check_box(box) if box is not None else sudoku.box_for_size(side)
        if box[0] * box[1] != side:
            raise PuzzleError(f"Sudoku box {box[0]}x{box[1]} does not fit a {side}x{side} grid")
        if vocab_size != side + 2:
            raise PuzzleError(f"a {side}x{side} Sudoku model needs vocab_size {side + 2}, got {vocab_size}")
        return TaskInfo("sudoku", side, box)
    if kind == "maze":
        return TaskInfo("maze", side)
    if kind == "arc":
        if not 1 <= side <= arc.MAX_SIZE:
            raise PuzzleError(
                f"an ARC model's canvas is at most {arc.MAX_SIZE}x{arc.MAX_SIZE} (seq_len {arc.MAX_SIZE**2}), "
                f"got seq_len {seq_len}"
            )
        return TaskInfo("arc", side)
    return TaskInfo("custom", side if side * side == seq_len else 0)


def get_task(info: TaskInfo | Mapping | str, seq_len: int, vocab_size: int) -> Task:
    """The task object of a model: ``info`` is a kind, a :class:`TaskInfo` or a dict with ``kind`` (or
    ``task``) and optionally ``box``; unknown kinds are custom token rows."""
    if isinstance(info, str):
        kind, box = info, None
    elif isinstance(info, TaskInfo):
        kind, box = info.kind, info.box
    else:
        kind, box = str(info.get("kind") or info.get("task") or "custom"), info.get("box")
    info = resolve_info(kind if kind in TASKS else "custom", seq_len, vocab_size, box)
    if info.kind == "custom":
        return TokensTask(info, seq_len, vocab_size)
    return TASKS[info.kind](info)


__all__ = [
    "IGNORE",
    "TASKS",
    "Parsed",
    "PuzzleError",
    "Symmetry",
    "Task",
    "TaskInfo",
    "TokensTask",
    "arc",
    "get_task",
    "maze",
    "resolve_info",
    "sudoku",
]
