"""Mazes on an N×N grid (SPEC §6): text, generation, shortest paths, checking, tokens.

Text: one character per cell, ``#`` wall, space open, ``S`` start, ``G`` goal, ``o`` path (answers only).
Grids here are int8 arrays [N, N] of cell codes ``CHARSET.index(ch)``: 0 ``#``, 1 open, 2 ``S``, 3 ``G``,
4 ``o``. Tokens: PAD 0, code c → c + 1 (vocab 6, sequence N²).

Path length counts moves: a path S → G of length L marks L − 1 cells with ``o``.

**Tie-break of the labelled path.** Hard mazes have many equally short paths; the label is the one found by
walking from S and, at every step, moving to the first neighbour in the order up, down, left, right whose
BFS distance to G is one less than the current cell's. An answer that marks any other shortest path is
"valid and shortest" (:func:`check_path`) but not an exact match.
"""

from __future__ import annotations

import csv
import os
from collections import deque
from pathlib import Path

import numpy as np

from .errors import DataError

CHARSET = "# SGo"
WALL, OPEN, START, GOAL, PATH = range(5)
VOCAB_SIZE = len(CHARSET) + 1
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right: the tie-break order


def parse_maze(text: str, *, where: str = "") -> np.ndarray:
    """A maze from text: N lines of N characters, or one string of N² characters (the official CSV form)."""
    prefix = f"{where}: " if where else ""
    lines = [ln for ln in text.split("\n") if ln != ""] if "\n" in text else None
    if lines is not None:
        lines = [ln.rstrip("\r") for ln in lines]
        n = len(lines)
        if any(len(ln) != n for ln in lines):
            raise DataError(f"{prefix}a maze must be N lines of N characters; got {n} lines of lengths "
                            f"{sorted({len(ln) for ln in lines})}")
        flat = "".join(lines)
    else:
        flat = text
        n = int(round(len(flat) ** 0.5))
        if n * n != len(flat) or n == 0:
            raise DataError(f"{prefix}a maze string needs N² characters, got {len(flat)}")
    lut = np.full(256, -1, np.int16)
    for i, ch in enumerate(CHARSET):
        lut[ord(ch)] = i
    try:
        raw = np.frombuffer(flat.encode("ascii"), np.uint8)
    except UnicodeEncodeError:
        raise DataError(f"{prefix}non-ASCII character in maze") from None
    codes = lut[raw]
    if (codes < 0).any():
        i = int(np.argmax(codes < 0))
        raise DataError(f"{prefix}bad maze character {flat[i]!r} at row {i // n + 1}, column {i % n + 1} "
                        f"(allowed: '#', ' ', 'S', 'G', 'o')")
    grid = codes.astype(np.int8).reshape(n, n)
    for code, name in ((START, "S"), (GOAL, "G")):
        k = int((grid == code).sum())
        if k != 1:
            raise DataError(f"{prefix}a maze needs exactly one {name}, found {k}")
    return grid


def format_maze(grid: np.ndarray, flat: bool = False) -> str:
    g = np.asarray(grid)
    rows = ["".join(CHARSET[int(v)] for v in row) for row in g]
    return "".join(rows) if flat else "\n".join(rows)


def encode(grid: np.ndarray) -> np.ndarray:
    g = np.asarray(grid)
    return g.reshape(*g.shape[:-2], -1).astype(np.int64) + 1


def decode(tokens: np.ndarray) -> np.ndarray:
    """Grid(s) from tokens; PAD and out-of-range tokens read as walls."""
    t = np.asarray(tokens).astype(np.int64) - 1
    n = int(round(t.shape[-1] ** 0.5))
    if n * n != t.shape[-1]:
        raise DataError(f"{t.shape[-1]} tokens do not form a square grid")
    t[(t < 0) | (t > PATH)] = WALL
    return t.reshape(*t.shape[:-1], n, n).astype(np.int8)


def _find(grid: np.ndarray, code: int) -> tuple[int, int]:
    pos = np.argwhere(grid == code)
    if len(pos) != 1:
        raise DataError(f"maze needs exactly one {CHARSET[code]!r}, found {len(pos)}")
    return int(pos[0][0]), int(pos[0][1])


def distances(grid: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """BFS distances (moves) from ``source`` over non-wall cells; -1 where unreachable."""
    g = np.asarray(grid)
    n_r, n_c = g.shape
    open_ = (g != WALL).reshape(-1).tolist()
    dist = [-1] * (n_r * n_c)
    s = source[0] * n_c + source[1]
    dist[s] = 0
    q = deque([s])
    while q:
        c = q.popleft()
        r, k = divmod(c, n_c)
        d = dist[c] + 1
        if r > 0 and open_[c - n_c] and dist[c - n_c] < 0:
            dist[c - n_c] = d
            q.append(c - n_c)
        if r < n_r - 1 and open_[c + n_c] and dist[c + n_c] < 0:
            dist[c + n_c] = d
            q.append(c + n_c)
        if k > 0 and open_[c - 1] and dist[c - 1] < 0:
            dist[c - 1] = d
            q.append(c - 1)
        if k < n_c - 1 and open_[c + 1] and dist[c + 1] < 0:
            dist[c + 1] = d
            q.append(c + 1)
    return np.array(dist, dtype=np.int32).reshape(n_r, n_c)


def shortest_path(grid: np.ndarray) -> list[tuple[int, int]] | None:
    """The labelled shortest path from S to G (cells, S and G included) with the documented tie-break,
    or None if G is unreachable."""
    g = np.asarray(grid)
    s, goal = _find(g, START), _find(g, GOAL)
    dist = distances(g, goal)
    if dist[s] < 0:
        return None
    path = [s]
    r, c = s
    while (r, c) != goal:
        d = dist[r, c]
        for dr, dc in MOVES:
            rr, cc = r + dr, c + dc
            if 0 <= rr < g.shape[0] and 0 <= cc < g.shape[1] and dist[rr, cc] == d - 1:
                r, c = rr, cc
                break
        path.append((r, c))
    return path


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
    """(valid, shortest) for a predicted answer grid.

    Valid: the answer equals the maze outside the marked cells, every ``o`` is on an open cell, and the
    marked cells form a single path from S to G (the shortest route through them uses all of them).
    Shortest: valid and its length equals the BFS distance from S to G.
    """
    m = np.asarray(maze).copy()
    a = np.asarray(answer)
    if m.shape != a.shape:
        return False, False
    m[m == PATH] = OPEN
    marked = a == PATH
    if (m[marked] != OPEN).any() or (a[~marked] != m[~marked]).any():
        return False, False
    s, goal = _find(m, START), _find(m, GOAL)
    allowed = np.where(marked | (m == START) | (m == GOAL), OPEN, WALL).astype(np.int8)
    d_marked = distances(allowed, s)[goal]
    if d_marked < 0 or d_marked - 1 != int(marked.sum()):
        return False, False
    return True, bool(d_marked == distances(m, s)[goal])


def random_walls(n: int, rng: np.random.Generator, density: tuple[float, float] = (0.3, 0.5)) -> np.ndarray:
    """Walls on exactly round(p·n²) random cells, p drawn uniformly in ``density``."""
    k = int(np.ceil(rng.uniform(*density) * n * n))
    grid = np.full(n * n, OPEN, np.int8)
    grid[rng.choice(n * n, size=min(k, n * n), replace=False)] = WALL
    return grid.reshape(n, n)


def _bfs_padded(open_: list[bool], width: int, source: int) -> list[int]:
    """BFS on a grid flattened with a one-cell wall border (so no bounds checks)."""
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


def generate_one(n: int, rng: np.random.Generator, min_path: int, density: tuple[float, float] = (0.3, 0.5),
                 max_tries: int = 10_000) -> tuple[np.ndarray, np.ndarray, int]:
    """(maze, label, path length) with a shortest S → G path longer than ``min_path`` moves.

    Random walls at a density drawn in the lower half of ``density``; S is a random cell of the largest open
    region and G the cell of that region farthest from S. Independent random walls almost never give paths
    as long as Maze-Hard's (about 0.1% of 30×30 patterns), so walls are then added at random cells of the
    current shortest path, skipping any that would disconnect S from G, until the path is long enough (or
    the density reaches the top of ``density``, and the maze is discarded).
    """
    lo, hi = density
    w = n + 2
    for _ in range(max_tries):
        walls = random_walls(n, rng, (lo, (lo + hi) / 2))
        padded = np.zeros((w, w), bool)
        padded[1:-1, 1:-1] = walls == OPEN
        open_ = padded.reshape(-1).tolist()
        cells = np.flatnonzero(padded.reshape(-1))
        if cells.size < 2:
            continue
        # the largest region: BFS from random cells until one reaches at least half of the open cells
        best: list[int] | None = None
        best_size = 0
        for c in rng.permutation(cells)[:8].tolist():
            d = _bfs_padded(open_, w, c)
            size = sum(1 for v in d if v >= 0)
            if size > best_size:
                best, best_size = d, size
            if 2 * size >= cells.size:
                break
        assert best is not None
        region = [i for i, v in enumerate(best) if v >= 0]
        if len(region) < min_path + 2:
            continue
        s = region[int(rng.integers(len(region)))]
        d_s = _bfs_padded(open_, w, s)
        far = max(d_s)
        goal = int(rng.choice([i for i, v in enumerate(d_s) if v == far]))
        n_walls = n * n - cells.size
        blocked: set[int] = set()
        ok = False
        while n_walls < hi * n * n:
            d_g = _bfs_padded(open_, w, goal)
            if d_g[s] > min_path:
                ok = True
                break
            path = []
            c = s
            while c != goal:
                d = d_g[c]
                c = next(nb for nb in (c - w, c + w, c - 1, c + 1) if d_g[nb] == d - 1)
                path.append(c)
            inner = [c for c in path[:-1] if c not in blocked]
            if not inner:
                break
            c = inner[int(rng.integers(len(inner)))]
            open_[c] = False
            if _bfs_padded(open_, w, goal)[s] < 0:
                open_[c] = True
                blocked.add(c)
            else:
                n_walls += 1
        if not ok:
            continue
        maze = np.where(np.array(open_, bool).reshape(w, w)[1:-1, 1:-1], OPEN, WALL).astype(np.int8)
        sr, sc = divmod(s, w)
        gr, gc = divmod(goal, w)
        maze[sr - 1, sc - 1], maze[gr - 1, gc - 1] = START, GOAL
        label = solve(maze)
        assert label is not None
        return maze, label, int(d_g[s])
    raise DataError(f"no {n}x{n} maze with a path longer than {min_path} found in {max_tries} tries; "
                    "lower min_path")


def default_min_path(n: int) -> int:
    """Maze-Hard uses 30×30 with paths > 110; other sizes scale that by area."""
    return int(round(110 * (n / 30) ** 2))


def _gen_chunk(args: tuple) -> tuple[np.ndarray, np.ndarray]:
    n, seed, chunk_id, count, min_path, density = args
    rng = np.random.default_rng([seed, chunk_id])
    mazes = np.zeros((count, n, n), np.int8)
    labels = np.zeros_like(mazes)
    for i in range(count):
        mazes[i], labels[i], _ = generate_one(n, rng, min_path, density)
    return mazes, labels


def generate(count: int, n: int = 30, min_path: int | None = None, seed: int = 0,
             density: tuple[float, float] = (0.3, 0.5), workers: int = 1, progress: bool = False
             ) -> tuple[np.ndarray, np.ndarray]:
    """``count`` mazes and their labels, int8 [count, n, n]. Chunks depend only on (seed, chunk index)."""
    from .sudoku import _concat_jobs

    if n < 2:
        raise DataError(f"maze size must be at least 2, got {n}")
    mp = default_min_path(n) if min_path is None else int(min_path)
    chunk = 100
    jobs = [(n, seed, k, min(chunk, count - s), mp, tuple(density)) for k, s in enumerate(range(0, count, chunk))]
    return _concat_jobs(_gen_chunk, jobs, count, workers, progress, f"generate {n}x{n} mazes", n)


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


def read_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
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
