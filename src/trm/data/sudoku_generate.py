"""Sudoku generation and batch solving: random complete grids, carving to unique (or minimal) puzzles,
rating filters, solving collections, and fingerprints equal for equivalent puzzles.

The work is done by the vectorised search of :mod:`trm.tasks.sudoku_batch` in chunks that depend only on
``(seed, chunk index)`` (generation: :func:`trm.tasks.sudoku_generate.generate_chunk`), spread over processes
by :func:`trm.data.jobs.run_chunks`. The rules themselves
(parsing, validity, symmetries) are in :mod:`trm.tasks.sudoku`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..tasks.sudoku import Box, check_box, format_sudoku, side
from ..tasks.sudoku_batch import solve_batch
from ..tasks.sudoku_generate import generate_chunk
from .errors import DataError
from .jobs import concat_grids, run_chunks


def generate(
    n: int,
    box: Box = (3, 3),
    blanks: tuple[int, int] = (50, 58),
    seed: int = 0,
    minimal: bool = False,
    guesses: tuple[int, int | None] = (0, None),
    workers: int = 1,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` puzzles with unique solutions and their solutions: two int8 arrays [n, N, N].

    ``blanks = (lo, hi)``: each puzzle's number of blanks is drawn uniformly in [lo, hi] (with
    ``minimal=True``, every removable given is removed and puzzles outside [lo, hi] are rejected);
    ``guesses = (lo, hi)`` bounds the rating (``rate``), hi None = unbounded. Puzzles are made in chunks of
    500 that depend only on ``(seed, chunk index)``, so the result does not depend on ``workers``.
    """
    box = check_box(box)
    nn = side(box) ** 2
    lo, hi = int(blanks[0]), int(blanks[1])
    if not 0 <= lo <= hi < nn:
        raise DataError(f"blanks must satisfy 0 <= lo <= hi < {nn}, got {blanks}")
    chunk = 500
    jobs = [
        (box, seed, k, min(chunk, n - s), (lo, hi), minimal, tuple(guesses))
        for k, s in enumerate(range(0, n, chunk))
    ]
    return concat_grids(run_chunks(generate_chunk, jobs, workers, progress, "generate sudoku"), side(box))


def _solve_chunk(args: tuple) -> tuple[np.ndarray, np.ndarray]:
    box, puzzles, limit, names = args
    count, sols, ratings = solve_batch(puzzles, box, limit)
    bad = np.flatnonzero(count != 1)
    if bad.size:
        i = int(bad[0])
        what = "no solution" if count[i] == 0 else "more than one solution"
        raise DataError(f"{names[i]}: puzzle {format_sudoku(puzzles[i])} has {what}")
    return sols, ratings.astype(np.int32)


def solve_many(
    puzzles: np.ndarray,
    box: Box = (3, 3),
    check_unique: bool = True,
    workers: int = 1,
    progress: bool = False,
    names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve a batch [M, N, N] with the vectorised search; returns (solutions, ratings).

    Raises DataError naming a puzzle that has no solution (or, with ``check_unique``, several)."""
    box = check_box(box)
    m = len(puzzles)
    names = list(names) if names is not None else [f"puzzle {i}" for i in range(m)]
    chunk = 1000
    jobs = [
        (box, puzzles[s : s + chunk], 2 if check_unique else 1, names[s : s + chunk])
        for s in range(0, m, chunk)
    ]
    return concat_grids(run_chunks(_solve_chunk, jobs, workers, progress, "solve sudoku"), side(box))


# ----------------------------------------------------------------------------------------------- symmetry


def invariant_keys(grids: np.ndarray, box: Box) -> list[bytes]:
    """Fingerprints equal for puzzles equivalent under the symmetry group (digit relabelling, bands, rows in a
    band, stacks, columns in a stack, and transposition for square boxes), for a batch [M, N, N].

    Different fingerprints prove inequivalence; equal ones are treated as equivalent. The test is
    conservative: it may merge a few inequivalent puzzles, never separates equivalent ones.
    """
    br, bc = check_box(box)
    n = br * bc
    g = np.asarray(grids).reshape(-1, n, n).astype(np.int64)
    m = len(g)

    def line_sig(mask: np.ndarray, k: int) -> np.ndarray:
        # per block of k rows: sorted row counts, encoded; then the blocks sorted
        rows = mask.sum(2).reshape(m, n // k, k)
        rows = np.sort(rows, axis=2)
        code = (rows * (n + 1) ** np.arange(k)).sum(2)
        return np.sort(code, axis=1)

    def box_sig(mask: np.ndarray, k_r: int, k_c: int) -> np.ndarray:
        bx = mask.reshape(m, n // k_r, k_r, n // k_c, k_c).sum((2, 4))  # [m, bands, stacks]
        by_band = np.sort(np.sort(bx, axis=2) @ ((n * n + 1) ** np.arange(bx.shape[2])), axis=1)
        by_stack = np.sort(
            np.sort(bx, axis=1).transpose(0, 2, 1) @ ((n * n + 1) ** np.arange(bx.shape[1])), axis=1
        )
        return np.concatenate([by_band, by_stack], axis=1)

    def pattern(x: np.ndarray) -> np.ndarray:
        mask = x != 0
        return np.concatenate(
            [line_sig(mask, br), line_sig(mask.transpose(0, 2, 1), bc), box_sig(mask, br, bc)], axis=1
        )

    pat = pattern(g)
    if br == bc:
        pat_t = pattern(g.transpose(0, 2, 1))
        # the lexicographically smaller of the two orientations
        diff = pat != pat_t
        first = np.where(diff.any(1), diff.argmax(1), 0)
        swap = pat_t[np.arange(m), first] < pat[np.arange(m), first]
        pat = np.where(swap[:, None], pat_t, pat)
    onehot = g[:, None, :, :] == np.arange(1, n + 1)[None, :, None, None]  # [m, digit, N, N]
    counts = np.sort(onehot.sum((2, 3)), axis=1)
    spread = onehot.reshape(m, n, n // br, br, n // bc, bc).sum((3, 5)).reshape(m, n, n)
    spread = np.sort(np.sort(spread, axis=2) @ ((n + 1) ** np.arange(n, dtype=np.int64) % (1 << 40)), axis=1)
    # per digit: its row pattern (counts per row, sorted in bands, bands sorted) and column pattern, as an
    # unordered pair when transposition is a symmetry; then the digits sorted
    rc = onehot.sum(3).reshape(m, n, n // br, br)
    cc = onehot.sum(2).reshape(m, n, n // bc, bc)
    r_code = np.sort((np.sort(rc, axis=3) * (n + 1) ** np.arange(br)).sum(3), axis=2)
    c_code = np.sort((np.sort(cc, axis=3) * (n + 1) ** np.arange(bc)).sum(3), axis=2)
    r_one = (r_code * (n + 1) ** (br * np.arange(n // br))).sum(2)
    c_one = (c_code * (n + 1) ** (bc * np.arange(n // bc))).sum(2)
    if br == bc:
        r_one, c_one = np.minimum(r_one, c_one), np.maximum(r_one, c_one)
    per_digit = np.sort(r_one * (1 << 31) + c_one, axis=1)
    feats = np.concatenate([pat, counts, spread, per_digit], axis=1).astype(np.int64)
    return [row.tobytes() for row in feats]
