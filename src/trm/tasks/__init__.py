"""Everything the project knows about each puzzle family, numpy only: one module per family behind one
interface (:class:`~trm.tasks.base.Task`) and a registry.

    task = get_task("sudoku", seq_len=36, vocab_size=8)      # or a TaskInfo / {"kind": ..., "box": ...}
    parsed = task.parse("1.....4..2....")                    # PuzzleError (one line) on bad input
    answer = task.format(tokens, parsed); valid, errors = task.verify(parsed, tokens)
    for sym in task.symmetries(8, seed=0): sym.apply(rows); sym.inverse().apply(answers)

Modules: :mod:`~trm.tasks.sudoku` (any box shape; exact solver in :mod:`~trm.tasks.sudoku_solver`),
:mod:`~trm.tasks.maze`, :mod:`~trm.tasks.arc`, :mod:`~trm.tasks.base` (interface, custom token rows),
:mod:`~trm.tasks.errors`; further families are discovered (:data:`TASKS`). Token schemes: docs/DATA.md. The package imports numpy and :mod:`trm.errors` only, so an
ONNX export folder carries a copy of it (``trm_runtime/tasks/``, see :func:`trm.deploy.onnx_export.copy_runtime`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from . import arc, maze, sudoku
from .base import Parsed, Symmetry, Task, TaskInfo, TokensTask
from .errors import IGNORE, PuzzleError
from .plugins import Registry

# every family, by kind: what the schemas, CLIs and consumers list. The built-ins, then each module of this
# package that says ``FAMILY = MyTask`` (a new family is one new file), then the ``trm.tasks`` entry points of
# installed distributions (a family shipped in a package of its own; docs/EXTENDING.md).
TASKS: Registry[type[Task]] = Registry(
    __name__,
    "FAMILY",
    key=lambda family: family.kind,
    builtins=lambda: (sudoku.SudokuTask, maze.MazeTask, arc.ArcTask, TokensTask),
    group="trm.tasks",
    what="puzzle family",
)


def task_class(kind: str) -> type[Task]:
    """The family of a kind; unknown kinds are custom token rows."""
    return TASKS.get(kind, TokensTask)


def resolve_info(
    kind: str, seq_len: int, vocab_size: int, box=None, extra: Mapping[str, Any] | None = None
) -> TaskInfo:
    """The task of a model with this sequence length and vocabulary, checked by its family
    (:meth:`Task.resolve`: e.g. a Sudoku box defaults to the most square one, 36 -> 2x3), with the family's
    ``extra`` (:attr:`TaskInfo.extra`) when it has some."""
    info = task_class(kind).resolve(seq_len, vocab_size, box)
    return dataclasses.replace(info, extra=dict(extra)) if extra else info


def info_extra(info: Mapping[str, Any], kind: str | None = None) -> dict[str, Any] | None:
    """The :attr:`TaskInfo.extra` in ``info``: a TaskInfo dict's ``extra``, else what the family of ``kind`` (by
    default the kind ``info`` names) takes from a dataset's ``trm_task.json`` (:meth:`Task.info_extra`)."""
    if isinstance(info.get("extra"), Mapping):
        return dict(info["extra"])
    named = str(info.get("kind") or info.get("task") or "custom")
    if kind is not None and named != kind:
        return None
    return task_class(named).info_extra(info)


def get_task(info: TaskInfo | Mapping | str, seq_len: int, vocab_size: int) -> Task:
    """The task object of a model: ``info`` is a kind, a :class:`TaskInfo` or a dict with ``kind`` (or
    ``task``) and optionally ``box`` and ``extra`` (a dataset's ``trm_task.json`` gives its family's extra
    through :meth:`Task.info_extra`); unknown kinds are custom token rows."""
    if isinstance(info, str):
        kind, box, extra = info, None, None
    elif isinstance(info, TaskInfo):
        kind, box, extra = info.kind, info.box, info.extra
    else:
        kind, box = str(info.get("kind") or info.get("task") or "custom"), info.get("box")
        extra = info_extra(info)
    family = task_class(kind)
    return family.create(resolve_info(kind, seq_len, vocab_size, box, extra), seq_len, vocab_size)


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
    "info_extra",
    "maze",
    "resolve_info",
    "sudoku",
    "task_class",
]
