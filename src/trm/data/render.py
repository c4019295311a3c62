"""Terminal rendering of one example (``trm data show``)."""

from __future__ import annotations

import numpy as np

from . import arc as A
from . import maze as M
from . import sudoku as S
from .format import IGNORE

# ANSI 256-colour backgrounds close to the usual ARC palette
_ARC_BG = [16, 27, 196, 40, 226, 244, 201, 208, 51, 88]


def _side_by_side(left: list[str], right: list[str], gap: str = "   ->   ") -> str:
    width = max((len(x) for x in left), default=0)
    rows = max(len(left), len(right))
    left = left + [""] * (rows - len(left))
    right = right + [""] * (rows - len(right))
    return "\n".join(f"{a:<{width}}{gap if i == rows // 2 else ' ' * len(gap)}{b}"
                     for i, (a, b) in enumerate(zip(left, right, strict=False)))


def render_sudoku(grid: np.ndarray, box: tuple[int, int]) -> list[str]:
    br, bc = box
    n = br * bc
    lines = []
    for r in range(n):
        if r and r % br == 0:
            lines.append("+".join(["-" * (2 * bc + 1)] * (n // bc)))
        cells = []
        for c in range(n):
            if c and c % bc == 0:
                cells.append("|")
            v = int(grid[r, c])
            cells.append(S._DIGITS[v] if v else ".")
        lines.append(" " + " ".join(cells) + " ")
    return lines


def render_arc(tokens: np.ndarray, colour: bool = True) -> list[str]:
    g = np.asarray(tokens).reshape(A.MAX_SIZE, A.MAX_SIZE)
    cells = np.argwhere(g >= A.COLOUR0)
    if cells.size == 0:
        return ["(empty canvas)"]
    (r0, c0), (r1, c1) = cells.min(0), cells.max(0)
    lines = []
    for r in range(r0, r1 + 1):
        s = []
        for c in range(c0, c1 + 1):
            v = int(g[r, c])
            if v >= A.COLOUR0:
                s.append(f"\x1b[48;5;{_ARC_BG[v - 2]}m{v - 2} \x1b[0m" if colour else f"{v - 2} ")
            else:
                s.append("  " if v == A.PAD else "$ ")
        lines.append("".join(s))
    return lines


def render_example(inputs: np.ndarray, labels: np.ndarray, info: dict, colour: bool = True) -> str:
    task = info.get("task", "custom")
    lab = np.where(np.asarray(labels) == IGNORE, 0, labels)
    if task == "sudoku":
        box = tuple(info.get("box") or S.box_for_size(int(round(len(inputs) ** 0.5))))
        return _side_by_side(render_sudoku(S.decode(inputs), box), render_sudoku(S.decode(lab), box))
    if task == "maze":
        return _side_by_side(M.format_maze(M.decode(inputs)).split("\n"), M.format_maze(M.decode(lab)).split("\n"))
    if task == "arc":
        return _side_by_side(render_arc(inputs, colour), render_arc(lab, colour))
    return f"inputs: {np.asarray(inputs).tolist()}\nlabels: {np.asarray(labels).tolist()}"
