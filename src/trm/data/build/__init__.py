"""Dataset builders, one module per task: :mod:`~trm.data.build.sudoku`, :mod:`~trm.data.build.maze`,
:mod:`~trm.data.build.arc`. Every builder writes the official layout (:mod:`trm.data.format`) atomically: into a
temporary directory next to ``out_dir``, renamed into place only when complete, so a failed build leaves
nothing behind. The named datasets of ``trm data build`` are :data:`trm.data.presets.DATASET_PRESETS`.

A builder module may also make one example puzzle like its training puzzles (:data:`EXAMPLES`, by task kind):
what ``trm serve``'s GET /v1/example and the web page show."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...tasks import TaskInfo
from ...tasks.maze import MazeTask
from ...tasks.sudoku import SudokuTask
from ..errors import DataError
from . import maze, sudoku

EXAMPLES: dict[str, Callable[[TaskInfo, int, dict], str]] = {
    SudokuTask.kind: sudoku.example,
    MazeTask.kind: maze.example,
}


def example_puzzle(info: TaskInfo, seed: int, data_info: dict[str, Any] | None = None) -> str:
    """A generated puzzle of the model's kind and size, made like its training puzzles where ``data_info``
    (the training dataset's ``trm_task.json``, kept in the checkpoint's meta) says how."""
    make = EXAMPLES.get(info.kind)
    if make is None:
        raise DataError(f"no example generator for {info.kind} puzzles")
    same = isinstance(data_info, dict) and data_info.get("task") == info.kind
    return make(info, seed, data_info if same else {})
