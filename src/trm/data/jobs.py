"""Running independent chunks of work in worker processes with a progress bar (tqdm's ``process_map``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from tqdm import tqdm
from tqdm.contrib.concurrent import process_map


def run_chunks(
    fn: Callable, jobs: Sequence, workers: int = 1, progress: bool = False, desc: str = "", chunksize: int = 1
) -> list:
    """``[fn(job) for job in jobs]``, in ``workers`` processes when there are several jobs (order kept)."""
    if workers > 1 and len(jobs) > 1:
        return process_map(
            fn,
            jobs,
            max_workers=min(workers, len(jobs)),
            chunksize=chunksize,
            desc=desc,
            unit="chunk",
            disable=not progress,
            leave=False,
        )
    return [fn(job) for job in tqdm(jobs, desc=desc, unit="chunk", disable=not progress, leave=False)]


def concat_grids(parts: list[tuple[np.ndarray, np.ndarray]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two stacked batches [M, n, n] from per-chunk pairs (empty batches when there are none)."""
    if not parts:
        return np.zeros((0, n, n), np.int8), np.zeros((0, n, n), np.int8)
    return np.concatenate([p for p, _ in parts]), np.concatenate([s for _, s in parts])
