"""Sudoku generation, one chunk at a time: random complete grids, carved to unique (or minimal) puzzles, with
rating filters. A chunk depends only on ``(seed, chunk index)``; dataset builds run many chunks in worker
processes (:func:`trm.data.sudoku_generate.generate`), the service's examples one (:mod:`trm.tasks.examples`).
"""

from __future__ import annotations

import numpy as np

from .errors import PuzzleError
from .sudoku import Box, augment_batch, side
from .sudoku_batch import grids_to_masks, search_batch, solve_batch
from .sudoku_solver import geometry


def _random_solutions(m: int, box: Box, rng: np.random.Generator) -> np.ndarray:
    """``m`` random complete grids [m, N, N]: a few random consistent givens, completed by the batch search,
    then a random symmetry."""
    geo = geometry(box)
    n = geo.n
    k = max(1, (n * n) // 7)
    out = np.zeros((m, n, n), np.int8)
    todo = np.arange(m)
    while todo.size:
        seeds = np.zeros((todo.size, n * n), np.int8)
        cells = rng.permuted(np.tile(np.arange(n * n), (todo.size, 1)), axis=1)[:, :k]
        draws = rng.random((todo.size, k))
        for i in range(todo.size):
            row = seeds[i]
            for j in range(k):
                c = int(cells[i, j])
                used = {int(row[p]) for p in geo.peers[c]}
                allowed = [d for d in range(1, n + 1) if d not in used]
                if allowed:
                    row[c] = allowed[int(draws[i, j] * len(allowed))]
        count, first, _ = solve_batch(seeds.reshape(-1, n, n), box, 1)
        ok = count > 0
        out[todo[ok]] = first[ok]
        todo = todo[~ok]
    return augment_batch([out], box, rng)[0]


def _carve_batch(
    sols: np.ndarray, box: Box, rng: np.random.Generator, stop_at: np.ndarray | None
) -> np.ndarray:
    """Blank cells in a random order per puzzle while the solution stays unique
    (one cell at a time: a search for a solution with that cell changed), until ``stop_at`` blanks (None:
    minimal puzzles)."""
    geo = geometry(box)
    n2 = geo.n * geo.n
    m = len(sols)
    flat_sol = sols.reshape(m, n2)
    givens = flat_sol.copy()
    orders = rng.permuted(np.tile(np.arange(n2), (m, 1)), axis=1)
    ptr = np.zeros(m, np.int64)
    blanks = np.zeros(m, np.int64)
    full = (1 << geo.n) - 1
    while True:
        active = ptr < n2
        if stop_at is not None:
            active &= blanks < stop_at
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        cells = orders[idx, ptr[idx]]
        masks = grids_to_masks(givens[idx], box)
        masks[np.arange(idx.size), cells] = full & ~(1 << (flat_sol[idx, cells].astype(np.int64) - 1))
        count = search_batch(masks, box, 1)[0]
        ok = count == 0
        givens[idx[ok], cells[ok]] = 0
        blanks[idx[ok]] += 1
        ptr[idx] += 1
    return givens.reshape(sols.shape)


def generate_chunk(args: tuple) -> tuple[np.ndarray, np.ndarray]:
    box, seed, chunk_id, want, blanks, minimal, guesses = args
    rng = np.random.default_rng([seed, chunk_id])
    lo, hi = blanks
    g_lo, g_hi = guesses
    n = side(box)
    got_p, got_s = [], []
    have = 0
    tries = 0
    while have < want:
        tries += 1
        if tries > 50:
            raise PuzzleError(
                f"could not generate {n}x{n} puzzles with blanks {blanks}, minimal={minimal}, guesses {guesses}; "
                "widen the ranges"
            )
        m = max(8, int((want - have) * 1.25) + 4)
        sols = _random_solutions(m, box, rng)
        if minimal:
            puzzles = _carve_batch(sols, box, rng, None)
        else:
            target = rng.integers(lo, hi + 1, size=m)
            puzzles = _carve_batch(sols, box, rng, target)
        nb = (puzzles == 0).reshape(m, -1).sum(1)
        keep = (nb >= lo) & (nb <= hi)
        if g_lo or g_hi is not None:
            g = solve_batch(puzzles, box, 1)[2]
            keep &= (g >= g_lo) & (g <= (g_hi if g_hi is not None else np.iinfo(np.int64).max))
        got_p.append(puzzles[keep])
        got_s.append(sols[keep])
        have += int(keep.sum())
    return np.concatenate(got_p)[:want], np.concatenate(got_s)[:want]
