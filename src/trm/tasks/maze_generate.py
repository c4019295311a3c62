"""Maze generation (Maze-Hard-like, docs/DATA.md): random walls, then walls added on the shortest path until it is
long enough; labels with the tie-break of :mod:`trm.tasks.maze`, which holds the maze rules themselves.

One chunk of mazes depends only on ``(seed, chunk index)`` (:func:`generate_chunk`); dataset builds run many
chunks in worker processes (:func:`trm.data.maze_generate.generate`), the service's examples one
(:mod:`trm.tasks.examples`)."""

from __future__ import annotations

import numpy as np

from .errors import PuzzleError
from .maze import GOAL, OPEN, START, WALL, bfs, count_shortest, labelled_walk, padded_open, solve


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
    unique: bool = False,
) -> tuple[np.ndarray, np.ndarray, int]:
    """(maze, label, path length) with a shortest S → G path longer than ``min_path`` moves.

    Random walls at a density drawn in the lower half of ``density``; S is a random cell of the largest open
    region and G the cell of that region farthest from S. Independent random walls almost never give paths
    as long as Maze-Hard's (about 0.1% of 30×30 patterns), so walls are then added at random cells of the
    current shortest path, skipping any that would disconnect S from G, until the path is long enough (or
    the density reaches the top of ``density``, and the maze is discarded). ``unique``: then walls are added on
    the other shortest paths (never on the labelled one, so its length stays) until it is the only one.
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
            path = labelled_walk(d_g, s, goal, w)
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
        if unique:
            _make_unique(open_, w, s, goal, rng)
        maze = np.where(np.array(open_, bool).reshape(w, w)[1:-1, 1:-1], OPEN, WALL).astype(np.int8)
        sr, sc = divmod(s, w)
        gr, gc = divmod(goal, w)
        maze[sr - 1, sc - 1], maze[gr - 1, gc - 1] = START, GOAL
        label = solve(maze)
        assert label is not None
        return maze, label, int(d_g[s])
    raise PuzzleError(
        f"no {n}x{n} maze with a path longer than {min_path} found in {max_tries} tries; lower min_path"
    )


def generate_perfect(
    n: int, rng: np.random.Generator, min_path: int, max_tries: int = 1_000
) -> tuple[np.ndarray, np.ndarray, int]:
    """(maze, label, path length) of a perfect maze: an odd n×n grid whose cells at odd (row, column) are
    joined by a random spanning tree (Kruskal: the walls between cells removed in random order unless they
    would close a loop), so that exactly one simple path joins any two cells; S and G are random cells
    more than ``min_path`` moves apart."""
    if n < 5 or n % 2 == 0:
        raise PuzzleError(f"a perfect maze needs an odd size of at least 5, got {n}")
    k = (n - 1) // 2
    parent = list(range(k * k))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    grid = np.full((n, n), WALL, np.int8)
    grid[1::2, 1::2] = OPEN
    edges = [(i, i + 1) for i in range(k * k) if i % k < k - 1] + [(i, i + k) for i in range(k * (k - 1))]
    for e in rng.permutation(len(edges)).tolist():
        a, b = edges[e]
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
            grid[a // k + b // k + 1, a % k + b % k + 1] = OPEN  # the wall cell between the two cells
    open_, w = padded_open(grid)
    cells = [(2 * (i // k) + 2) * w + 2 * (i % k) + 2 for i in range(k * k)]  # padded flat indices
    for _ in range(max_tries):
        s = cells[int(rng.integers(len(cells)))]
        d = bfs(open_, w, s)
        far = [c for c in cells if d[c] > min_path]
        if far:
            goal = far[int(rng.integers(len(far)))]
            maze = grid.copy()
            maze[s // w - 1, s % w - 1], maze[goal // w - 1, goal % w - 1] = START, GOAL
            label = solve(maze)
            assert label is not None
            return maze, label, int(d[goal])
    raise PuzzleError(
        f"no two cells of a {n}x{n} perfect maze are more than {min_path} moves apart; lower min_path"
    )


def _make_unique(open_: list[bool], w: int, s: int, goal: int, rng: np.random.Generator) -> None:
    """Wall random cells of the other shortest S → G paths until the labelled one is the only shortest path."""
    while True:
        d_s, d_g = bfs(open_, w, s), bfs(open_, w, goal)
        if count_shortest(d_s, w, goal)[goal] == 1:
            return
        on_label = set(labelled_walk(d_g, s, goal, w)) | {s}
        length = d_s[goal]
        others = [
            c
            for c, (a, b) in enumerate(zip(d_s, d_g, strict=True))
            if a >= 0 and b >= 0 and a + b == length and c not in on_label
        ]
        open_[others[int(rng.integers(len(others)))]] = False


def default_min_path(n: int, walled: bool = False) -> int:
    """Maze-Hard uses 30×30 with paths > 110; other sizes scale that by the area of the maze (inside the wall
    ring of a ``walled`` grid)."""
    inner = n - 2 if walled else n
    return int(round(110 * (inner / 30) ** 2))


def generate_chunk(args: tuple) -> tuple[np.ndarray, np.ndarray]:
    n, seed, chunk_id, count, min_path, density, unique, perfect = args
    rng = np.random.default_rng([seed, chunk_id])
    mazes = np.zeros((count, n, n), np.int8)
    labels = np.zeros_like(mazes)
    for i in range(count):
        if perfect:
            mazes[i], labels[i], _ = generate_perfect(n, rng, min_path)
        else:
            mazes[i], labels[i], _ = generate_one(n, rng, min_path, density, unique=unique)
    return mazes, labels
