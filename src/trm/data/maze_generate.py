"""Maze datasets' generator: the chunks of :mod:`trm.tasks.maze_generate` (the generation itself) run in worker
processes with a progress bar."""

from __future__ import annotations

import numpy as np

from ..tasks.maze import WALL
from ..tasks.maze_generate import (
    default_min_path,
    generate_chunk,
    generate_one,
    generate_perfect,
    random_walls,
)
from .errors import DataError
from .jobs import concat_grids, run_chunks

__all__ = ["default_min_path", "generate", "generate_one", "generate_perfect", "random_walls"]


def generate(
    count: int,
    n: int = 30,
    min_path: int | None = None,
    seed: int = 0,
    density: tuple[float, float] = (0.3, 0.5),
    workers: int = 1,
    progress: bool = False,
    unique: bool = False,
    walled: bool = False,
    perfect: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` mazes and their labels, int8 [count, n, n]. Chunks depend only on (seed, chunk index);
    ``unique``: every maze has exactly one shortest path (see :func:`generate_one`); ``walled``: the outer ring
    of the n×n grid is wall around an (n − 2)² maze (``min_path`` then defaults to the inner size's);
    ``perfect``: perfect mazes (:func:`generate_perfect`; walled, one path between any two cells)."""
    ring = walled and not perfect  # a perfect maze has its wall ring already
    inner = n - 2 if ring else n
    if inner < 2:
        raise DataError(f"maze size must be at least {4 if ring else 2}, got {n}")
    mp = default_min_path(n, walled or perfect) if min_path is None else int(min_path)
    chunk = 100
    jobs = [
        (inner, seed, k, min(chunk, count - s), mp, tuple(density), unique, perfect)
        for k, s in enumerate(range(0, count, chunk))
    ]
    mazes, labels = concat_grids(
        run_chunks(generate_chunk, jobs, workers, progress, f"generate {n}x{n} mazes"), inner
    )
    if ring:
        pad = ((0, 0), (1, 1), (1, 1))
        mazes, labels = np.pad(mazes, pad, constant_values=WALL), np.pad(labels, pad, constant_values=WALL)
    return mazes, labels
