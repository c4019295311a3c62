"""Maze generation (SPEC §6 Maze-Hard-like): random walls, then walls added on the shortest path until it is
long enough; labels with the tie-break of :mod:`trm.tasks.maze`, which holds the maze rules themselves."""

from __future__ import annotations

import numpy as np

from ..tasks.maze import GOAL, OPEN, START, WALL, bfs, solve
from .errors import DataError
from .jobs import concat_grids, run_chunks


def random_walls(n: int, rng: np.random.Generator, density: tuple[float, float] = (0.3, 0.5)) -> np.ndarray:
    """Walls on exactly round(p·n²) random cells, p drawn uniformly in ``density``."""
    k = int(np.ceil(rng.uniform(*density) * n * n))
    grid = np.full(n * n, OPEN, np.int8)
    grid[rng.choice(n * n, size=min(k, n * n), replace=False)] = WALL
    return grid.reshape(n, n)


def generate_one(
    n: int,
    rng: np.random.Generator,
    min_path: int,
    density: tuple[float, float] = (0.3, 0.5),
    max_tries: int = 10_000,
) -> tuple[np.ndarray, np.ndarray, int]:
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
            d = bfs(open_, w, c)
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
        d_s = bfs(open_, w, s)
        far = max(d_s)
        goal = int(rng.choice([i for i, v in enumerate(d_s) if v == far]))
        n_walls = n * n - cells.size
        blocked: set[int] = set()
        ok = False
        while n_walls < hi * n * n:
            d_g = bfs(open_, w, goal)
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
            if bfs(open_, w, goal)[s] < 0:
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
    raise DataError(
        f"no {n}x{n} maze with a path longer than {min_path} found in {max_tries} tries; lower min_path"
    )


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


def generate(
    count: int,
    n: int = 30,
    min_path: int | None = None,
    seed: int = 0,
    density: tuple[float, float] = (0.3, 0.5),
    workers: int = 1,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` mazes and their labels, int8 [count, n, n]. Chunks depend only on (seed, chunk index)."""
    if n < 2:
        raise DataError(f"maze size must be at least 2, got {n}")
    mp = default_min_path(n) if min_path is None else int(min_path)
    chunk = 100
    jobs = [
        (n, seed, k, min(chunk, count - s), mp, tuple(density)) for k, s in enumerate(range(0, count, chunk))
    ]
    return concat_grids(run_chunks(_gen_chunk, jobs, workers, progress, f"generate {n}x{n} mazes"), n)
