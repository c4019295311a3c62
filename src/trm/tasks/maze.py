"""Mazes on an N×N grid (docs/DATA.md): text, tokens, shortest paths, the verifier, symmetries and :class:`MazeTask`.

Text: one character per cell, ``#`` wall, space open, ``S`` start, ``G`` goal, ``o`` path (answers only).
Grids are int8 arrays [N, N] of cell codes ``CHARSET.index(ch)``: 0 ``#``, 1 open, 2 ``S``, 3 ``G``, 4 ``o``.
Tokens: PAD 0, code c → c + 1 (vocab 6, sequence N²). A path S → G of length L moves marks L − 1 cells ``o``.

**Tie-break of the labelled path.** Hard mazes have many equally short paths; the label is the one found by
walking from S and, at every step, moving to the first neighbour in the order up, down, left, right whose
BFS distance to G is one less than the current cell's. An answer that marks any other shortest path is
"valid and shortest" (:func:`check_path`) but not an exact match.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from .arc import DIHEDRAL, dihedral
from .base import Parsed, Symmetry, Task, TaskInfo, alphabet, char_codes
from .errors import OtherSizeError, PuzzleError

CHARSET = "# SGo"
WALL, OPEN, START, GOAL, PATH = range(5)
VOCAB_SIZE = len(CHARSET) + 1
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right: the tie-break order
_CODES = {ch: i for i, ch in enumerate(CHARSET)}


def parse_maze(text: str, *, where: str = "") -> np.ndarray:
    """A maze from text: N lines of N characters, or one string of N² characters (the official CSV form)."""
    prefix = f"{where}: " if where else ""
    if "\n" in text:
        lines = [ln.rstrip("\r") for ln in text.split("\n") if ln != ""]
        n = len(lines)
        if any(len(ln) != n for ln in lines):
            raise PuzzleError(
                f"{prefix}a maze must be N lines of N characters; got {n} lines of lengths "
                f"{sorted({len(ln) for ln in lines})}"
            )
        flat = "".join(lines)
    else:
        flat = text
        n = int(round(len(flat) ** 0.5))
        if n * n != len(flat) or n == 0:
            raise PuzzleError(f"{prefix}a maze string needs N² characters, got {len(flat)}")
    allowed = "allowed: '#', ' ', 'S', 'G', 'o'"
    codes = char_codes(flat, _CODES, n, prefix, allowed, "maze ")
    grid = codes.astype(np.int8).reshape(n, n)
    for code in (START, GOAL):
        find(grid, code, prefix)
    return grid


def maze_lines(text: str, width: int) -> list[str]:
    """The rows of a maze as a person typed it: a byte-order mark and blank lines before and after dropped, and
    where the rows are ragged (an editor trimmed or padded some) or wider than ``width``, trailing spaces
    dropped, being the same as nothing (a shorter row is open to the right of its last character, up to the
    widest row)."""
    lines = [ln.rstrip("\r") for ln in text.removeprefix("\ufeff").split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if len({len(ln) for ln in lines}) > 1 or any(len(ln) > width for ln in lines):
        lines = [ln.rstrip(" ") for ln in lines]
    return lines


def format_maze(grid: np.ndarray, flat: bool = False) -> str:
    rows = ["".join(CHARSET[int(v)] for v in row) for row in np.asarray(grid)]
    return "".join(rows) if flat else "\n".join(rows)


def encode(grid: np.ndarray) -> np.ndarray:
    g = np.asarray(grid)
    return g.reshape(*g.shape[:-2], -1).astype(np.int64) + 1


def decode(tokens: np.ndarray) -> np.ndarray:
    """Grid(s) from tokens; PAD and out-of-range tokens read as walls."""
    t = np.asarray(tokens).astype(np.int64) - 1
    n = int(round(t.shape[-1] ** 0.5))
    if n * n != t.shape[-1]:
        raise PuzzleError(f"{t.shape[-1]} tokens do not form a square grid")
    t[(t < 0) | (t > PATH)] = WALL
    return t.reshape(*t.shape[:-1], n, n).astype(np.int8)


def find(grid: np.ndarray, code: int, prefix: str = "") -> tuple[int, int]:
    """The one cell holding ``code`` (S or G); :class:`PuzzleError` if there is not exactly one."""
    pos = np.argwhere(np.asarray(grid) == code)
    if len(pos) != 1:
        raise PuzzleError(f"{prefix}a maze needs exactly one {CHARSET[code]}, found {len(pos)}")
    return int(pos[0][0]), int(pos[0][1])


def padded_open(grid: np.ndarray) -> tuple[list[bool], int]:
    """The grid as :func:`bfs` takes it: open cells (not wall) flattened row-major inside a one-cell wall border,
    and the width of a row (border included); cell (r, c) is index (r + 1) * width + c + 1."""
    g = np.asarray(grid)
    return np.pad(g != WALL, 1).reshape(-1).tolist(), g.shape[1] + 2


def bfs(open_: list[bool], width: int, source: int) -> list[int]:
    """Moves from ``source`` to every cell of a grid flattened row-major with a one-cell wall border (``width``
    cells a row, border included), so that no move needs a bounds check; -1 where unreachable."""
    dist = [-1] * len(open_)
    dist[source] = 0
    q = deque([source])
    pop, push = q.popleft, q.append
    while q:
        c = pop()
        d = dist[c] + 1
        for nb in (c - width, c + width, c - 1, c + 1):
            if open_[nb] and dist[nb] < 0:
                dist[nb] = d
                push(nb)
    return dist


def count_shortest(dist: list[int], width: int, target: int) -> list[int]:
    """How many shortest paths lead from the source of ``dist`` (a :func:`bfs` result) to each cell, capped at 2
    ("more than one"), for the cells with ``dist`` ≤ ``dist[target]``; 0 elsewhere."""
    count = [0] * len(dist)
    cells = sorted((i for i, d in enumerate(dist) if 0 <= d <= dist[target]), key=dist.__getitem__)
    count[cells[0]] = 1
    for c in cells[1:]:
        d = dist[c] - 1
        count[c] = min(2, sum(count[nb] for nb in (c - width, c + width, c - 1, c + 1) if dist[nb] == d))
    return count


def labelled_walk(to_goal: list[int], source: int, goal: int, width: int) -> list[int]:
    """The labelled path's cells after ``source`` (``goal`` included) on :func:`bfs`'s flattened grid, given the
    distances to ``goal``: the documented tie-break (up, down, left, right, the order of :data:`MOVES`)."""
    path, c = [], source
    while c != goal:
        d = to_goal[c] - 1
        c = next(nb for nb in (c - width, c + width, c - 1, c + 1) if to_goal[nb] == d)
        path.append(c)
    return path


def distances(grid: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """BFS distances (moves) from ``source`` over non-wall cells; -1 where unreachable."""
    open_, w = padded_open(grid)
    dist = bfs(open_, w, (source[0] + 1) * w + source[1] + 1)
    return np.array(dist, dtype=np.int32).reshape(-1, w)[1:-1, 1:-1]


def shortest_path(grid: np.ndarray) -> list[tuple[int, int]] | None:
    """The labelled shortest path from S to G (cells, S and G included) with the documented tie-break,
    or None if G is unreachable."""
    g = np.asarray(grid)
    (sr, sc), (gr, gc) = find(g, START), find(g, GOAL)
    open_, w = padded_open(g)
    start, goal = (sr + 1) * w + sc + 1, (gr + 1) * w + gc + 1
    to_goal = bfs(open_, w, goal)
    if to_goal[start] < 0:
        return None
    return [(c // w - 1, c % w - 1) for c in [start, *labelled_walk(to_goal, start, goal, w)]]


def solve(grid: np.ndarray) -> np.ndarray | None:
    """The label grid: the maze with the labelled shortest path marked ``o`` (None if unsolvable)."""
    g = np.asarray(grid).copy()
    g[g == PATH] = OPEN
    path = shortest_path(g)
    if path is None:
        return None
    for r, c in path[1:-1]:
        g[r, c] = PATH
    return g


def check_path(maze: np.ndarray, answer: np.ndarray) -> tuple[bool, bool]:
    """(valid, shortest) of an answer grid (codes): valid = one simple path of ``o`` cells from S to G over
    open cells, everything else unchanged; shortest = valid and as short as the BFS distance."""
    errors = check_maze(np.array(list(CHARSET))[maze], np.array(list(CHARSET))[answer], shortest=False)
    if errors:
        return False, False
    m = np.where(np.asarray(maze) == PATH, OPEN, maze)
    return True, bool(
        int((np.asarray(answer) == PATH).sum()) + 1 == distances(m, find(m, START))[find(m, GOAL)]
    )


def check_maze(maze: np.ndarray, answer: np.ndarray, shortest: bool = True) -> list[str]:
    """Problems with ``answer`` (a character grid with the path drawn as ``o``) as a solution of ``maze`` (the
    same grid, a path in it is ignored): walls, start and goal unchanged, the ``o`` cells one simple
    4-connected path from S to G over open cells, and (``shortest``) a shortest one. Empty: valid."""
    m, a = np.asarray(maze), np.asarray(answer)
    if a.shape != m.shape:
        return [f"answer is {a.shape[0]}x{a.shape[1]}, the maze is {m.shape[0]}x{m.shape[1]}"]
    m = np.where(m == "o", " ", m)
    errors: list[str] = []
    bad = np.argwhere(~np.isin(a, list(CHARSET)))
    if len(bad):
        errors.append(
            f"{len(bad)} cell(s) hold no maze symbol (first at row {bad[0][0] + 1}, column {bad[0][1] + 1})"
        )
    moved = np.argwhere(np.where(a == "o", " ", a) != m)
    if len(moved):
        r, c = moved[0]
        errors.append(
            f"{len(moved)} cell(s) differ from the maze other than by the path (first at row {r + 1}, "
            f"column {c + 1}: {str(m[r, c])!r} -> {str(a[r, c])!r})"
        )
    if errors:
        return errors
    on = np.isin(a, ["o", "S", "G"])
    h, w = a.shape
    start, goal = tuple(np.argwhere(a == "S")[0]), tuple(np.argwhere(a == "G")[0])
    seen, cur, steps = {start}, start, 0
    while cur != goal:  # a simple path visits every 'o' exactly once and ends at G
        nxt = [(cur[0] + dr, cur[1] + dc) for dr, dc in MOVES]
        nxt = [p for p in nxt if 0 <= p[0] < h and 0 <= p[1] < w and on[p] and p not in seen]
        if goal in nxt:
            nxt = [goal]
        if len(nxt) != 1:
            where = f"row {cur[0] + 1}, column {cur[1] + 1}"
            return [f"the path breaks off at {where}" if not nxt else f"the path branches at {where}"]
        cur = nxt[0]
        seen.add(cur)
        steps += 1
    stray = int((a == "o").sum()) - (steps - 1)
    if stray > 0:
        return [f"{stray} path cell(s) are not on the way from S to G"]
    best = int(distances(np.where(m == "#", WALL, OPEN), start)[goal]) if shortest else steps
    if steps > best:
        return [f"the path is valid but takes {steps} moves; the shortest takes {best}"]
    return []


class MazeTask(Task):
    """Mazes drawn in text (``#``, space, ``S``, ``G``; an ``o`` path in the input is ignored; ragged rows as
    :func:`maze_lines` reads them). A maze smaller than the model's N×N is surrounded by walls and cropped back
    in the answer."""

    kind = "maze"
    title = "maze"
    description = "Maze path finding (mark a shortest path from S to G)"
    limitation = (
        "Hard mazes have many equally short paths; the model learned one tie-break, so compare by "
        "'valid and shortest', not only exact match."
    )
    puzzle_help = "the maze as text: rows of '#' (wall), ' ' (open), 'S' (start), 'G' (goal)"
    puzzle_type = str
    tool_name = "solve_maze"
    checked_by = "the maze verifier"
    verifier_metric = "valid_shortest_accuracy"
    palette = {
        "#": (40, 40, 40),
        " ": (245, 245, 245),
        "S": (46, 204, 64),
        "G": (255, 65, 54),
        "o": (0, 116, 217),
    }
    marks = {"o": "path", "S": "end", "G": "end"}

    @classmethod
    def resolve(cls, seq_len: int, vocab_size: int, box: Any = None) -> TaskInfo:
        return TaskInfo(cls.kind, cls.square_side(seq_len))

    def __init__(self, info: TaskInfo):
        self.info, self.n = info, info.side
        self.seq_len, self.vocab = self.n * self.n, VOCAB_SIZE

    def parse(self, puzzle: Any) -> Parsed:
        n = self.n
        if not isinstance(puzzle, str):
            raise PuzzleError("a maze must be given as text (rows of '#', ' ', 'S', 'G')")
        lines = maze_lines(puzzle, n)
        h, w = len(lines), max((len(ln) for ln in lines), default=0)
        if h == 0 or w == 0:
            raise PuzzleError("the maze is empty")
        if h > n or w > n:
            raise OtherSizeError(
                f"the maze is {h}x{w} but this model solves mazes up to {n}x{n}; a maze model of {max(h, w)}x"
                f"{max(h, w)} or larger solves it",
                kind="maze",
                side=max(h, w),
                larger=True,
            )
        grid = np.full((n, n), WALL, np.int8)
        for r, ln in enumerate(lines):
            bad = set(ln) - set(CHARSET)
            if bad:
                raise PuzzleError(
                    f"maze row {r + 1}: illegal character(s) {sorted(bad)}; use '#', ' ', 'S', 'G' (and 'o')"
                )
            codes = char_codes(ln.ljust(w), _CODES, w, "", "", "maze ")
            grid[r, :w] = np.where(codes == PATH, OPEN, codes)
        s, g = find(grid, START), find(grid, GOAL)
        if distances(grid, s)[g] < 0:
            raise PuzzleError("the maze has no path from S to G")
        chars = np.array(list(CHARSET))[grid]
        return Parsed(tokens=encode(grid), text=puzzle, layout={"h": h, "w": w, "grid": chars})

    def grid(self, tokens: np.ndarray) -> np.ndarray:
        """Characters [N, N] of a token row; PAD or out-of-range tokens show as ``?``."""
        t = np.asarray(tokens).astype(np.int64).reshape(self.n, self.n)
        return np.array(["?", *CHARSET])[np.where((t < 0) | (t > len(CHARSET)), 0, t)]

    def format(self, tokens: np.ndarray, parsed: Parsed) -> str:
        return "\n".join("".join(row) for row in self.cells(tokens, parsed))

    def verify(self, parsed: Parsed, tokens: np.ndarray) -> tuple[bool, list[str]]:
        errors = check_maze(parsed.layout["grid"], self.grid(tokens))
        return not errors, errors

    def accepts(self, question: np.ndarray, answer: np.ndarray) -> bool:
        return not check_maze(self.grid(question), self.grid(answer))

    def example_text(self, tokens: np.ndarray) -> str:
        return format_maze(decode(np.asarray(tokens)))

    def cells(self, tokens: np.ndarray, parsed: Parsed | None) -> np.ndarray:
        g = self.grid(tokens)
        return g if parsed is None else g[: parsed.layout["h"], : parsed.layout["w"]]

    def render(self, tokens: np.ndarray, colour: bool = False) -> list[str]:
        return format_maze(decode(np.asarray(tokens))).split("\n")

    def symmetries(self, count: int, seed: int) -> list[Symmetry]:
        """The dihedral transforms in the order of :data:`trm.tasks.arc.DIHEDRAL` (at most 8)."""
        idx = np.arange(self.seq_len).reshape(self.n, self.n)
        return [
            Symmetry(np.ascontiguousarray(dihedral(idx, t)).reshape(-1), np.arange(self.vocab))
            for t in range(min(max(count, 1), 8))
        ]

    def random_symmetry(self, rng: np.random.Generator) -> Symmetry:
        """A dihedral transform, uniformly."""
        idx = np.arange(self.seq_len).reshape(self.n, self.n)
        t = int(rng.integers(len(DIHEDRAL)))
        return Symmetry(np.ascontiguousarray(dihedral(idx, t)).reshape(-1), np.arange(self.vocab))

    def web_tables(self) -> dict[str, Any]:
        start, goal = self.parse("SG").tokens[:2]
        encode = {**alphabet(lambda c: self.parse("SG" + c).tokens[2]), "S": int(start), "G": int(goal)}
        codes = {"wall": WALL, "open": OPEN, "start": START, "goal": GOAL, "path": PATH}
        return {"encode": encode, **{k: CHARSET[v] for k, v in codes.items()}, "moves": MOVES}
