"""Symbolic verifiers: is a model's answer a correct Sudoku, a valid shortest maze path?

Each checker returns a list of human-readable problems; an empty list means the answer is valid.
"""

from __future__ import annotations

from collections import deque

import numpy as np

_DIGITS = ".123456789ABCDEFG"


def check_sudoku(givens: np.ndarray, answer: np.ndarray, box: tuple[int, int], limit: int = 5) -> list[str]:
    """Problems with ``answer`` as a solution of the puzzle ``givens`` (both [N, N], 0 = blank): blanks left,
    givens changed, digits repeated in a row, column or box. At most ``limit`` problems are listed."""
    br, bc = box
    n = br * bc
    g = np.asarray(givens).reshape(n, n)
    a = np.asarray(answer).reshape(n, n)
    errors: list[str] = []
    blanks = np.argwhere((a < 1) | (a > n))
    if len(blanks):
        errors.append(f"{len(blanks)} cell(s) not filled with a digit 1..{_DIGITS[n]} (first at row {blanks[0][0] + 1}, "
                      f"column {blanks[0][1] + 1})")
    changed = np.argwhere((g != 0) & (g != a))
    for r, c in changed[:limit]:
        errors.append(f"given {_DIGITS[g[r, c]]} at row {r + 1}, column {c + 1} was changed to {_DIGITS[max(a[r, c], 0)]}")
    units = [(f"row {r + 1}", a[r]) for r in range(n)] + [(f"column {c + 1}", a[:, c]) for c in range(n)]
    units += [(f"box at row {b + 1}, column {s + 1}", a[b:b + br, s:s + bc].reshape(-1))
              for b in range(0, n, br) for s in range(0, n, bc)]
    for name, cells in units:
        vals = cells[(cells >= 1) & (cells <= n)]
        counts = np.bincount(vals, minlength=n + 1)
        dup = np.flatnonzero(counts > 1)
        if dup.size:
            errors.append(f"digit {_DIGITS[dup[0]]} appears {counts[dup[0]]} times in {name}")
        if len(errors) >= limit + 1:
            break
    return errors


def maze_distance(grid: np.ndarray) -> int | None:
    """Moves on a shortest 4-connected path from ``S`` to ``G`` through non-wall cells (None: no path)."""
    g = np.asarray(grid)
    start = tuple(np.argwhere(g == "S")[0])
    goal = tuple(np.argwhere(g == "G")[0])
    open_ = g != "#"
    h, w = g.shape
    dist = np.full((h, w), -1, np.int64)
    dist[start] = 0
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        if (r, c) == goal:
            return int(dist[r, c])
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            rr, cc = r + dr, c + dc
            if 0 <= rr < h and 0 <= cc < w and open_[rr, cc] and dist[rr, cc] < 0:
                dist[rr, cc] = dist[r, c] + 1
                queue.append((rr, cc))
    return None


def check_maze(maze: np.ndarray, answer: np.ndarray) -> list[str]:
    """Problems with ``answer`` (a character grid with the path drawn as ``o``) as a solution of ``maze``
    (the same grid without the path): walls, start and goal must be unchanged, the ``o`` cells must form one
    simple 4-connected path from S to G over open cells, and it must be a shortest one."""
    m = np.asarray(maze)
    a = np.asarray(answer)
    if a.shape != m.shape:
        return [f"answer is {a.shape[0]}x{a.shape[1]}, the maze is {m.shape[0]}x{m.shape[1]}"]
    errors: list[str] = []
    bad = np.argwhere(~np.isin(a, list("# SGo")))
    if len(bad):
        errors.append(f"{len(bad)} cell(s) hold no maze symbol (first at row {bad[0][0] + 1}, column {bad[0][1] + 1})")
    same = np.where(a == "o", " ", a) == m
    moved = np.argwhere(~same)
    if len(moved):
        r, c = moved[0]
        errors.append(f"{len(moved)} cell(s) differ from the maze other than by the path (first at row {r + 1}, "
                      f"column {c + 1}: {m[r, c]!r} -> {a[r, c]!r})")
    if errors:
        return errors
    on = (a == "o") | (a == "S") | (a == "G")
    h, w = a.shape
    start = tuple(np.argwhere(a == "S")[0])
    goal = tuple(np.argwhere(a == "G")[0])
    # walk from S along path cells; a simple path visits every 'o' exactly once and ends at G
    seen = {start}
    cur, steps = start, 0
    while cur != goal:
        nxt = [(cur[0] + dr, cur[1] + dc) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))]
        nxt = [p for p in nxt if 0 <= p[0] < h and 0 <= p[1] < w and on[p] and p not in seen]
        if goal in nxt:
            nxt = [goal]
        if len(nxt) != 1:
            where = f"row {cur[0] + 1}, column {cur[1] + 1}"
            errors.append(f"the path breaks off at {where}" if not nxt else f"the path branches at {where}")
            return errors
        cur = nxt[0]
        seen.add(cur)
        steps += 1
    stray = int((a == "o").sum()) - (steps - 1)
    if stray > 0:
        errors.append(f"{stray} path cell(s) are not on the way from S to G")
    shortest = maze_distance(m)
    if not errors and shortest is not None and steps > shortest:
        errors.append(f"the path is valid but takes {steps} moves; the shortest takes {shortest}")
    return errors
