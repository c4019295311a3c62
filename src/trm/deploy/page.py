"""What the web page (``static/app.js``) shows about a model's puzzle family and how it draws its answers,
read off the task layer, so that the page names no family: ``trm serve``'s ``GET /v1/model`` and the web
export's ``web.json`` both carry it as ``"view"``."""

from __future__ import annotations

from typing import Any

from ..tasks import Task
from ..tasks.examples import has_examples


def page_view(task: Task) -> dict[str, Any]:
    """The page's view of ``task``: its names and help, whether puzzles are JSON, whether examples can be
    generated, and how an answer grid is drawn (``palette``: CSS colour of each cell symbol, none = the symbol
    written; ``marks``: a symbol's role, ``"path"`` cells are flagged when the verifier rejects the answer;
    ``givens``: cells the puzzle gave are drawn apart and must not change; rows, columns and the boxes of
    ``grid.box`` hold each symbol once where the model's grid has boxes)."""
    return {
        "title": task.title,
        "label": task.label(),
        "description": task.description,
        "input_help": task.puzzle_help,
        "json_puzzles": task.json_puzzles,
        "examples": has_examples(task.kind),
        "givens": type(task).givens is not Task.givens,
        "palette": {symbol: "#{:02x}{:02x}{:02x}".format(*rgb) for symbol, rgb in task.palette.items()},
        "marks": dict(task.marks),
    }
