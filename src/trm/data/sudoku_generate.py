"""Sudoku generation and batch solving: random complete grids, carving to unique (or minimal) puzzles,
rating filters, solving collections, and fingerprints equal for equivalent puzzles.

The work is done by the vectorised search of :mod:`trm.data.sudoku_batch` in chunks that depend only on
``(seed, chunk index)``, spread over processes by :func:`trm.data.jobs.run_chunks`. The rules themselves
(parsing, validity, symmetries) are in :mod:`trm.tasks.sudoku`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..tasks.sudoku import Box, augment_batch, check_box, format_sudoku, side
from ..tasks.sudoku_solver import geometry
from .errors import DataError
from .jobs import concat_grids, run_chunks
from .sudoku_batch import grids_to_masks, search_batch, solve_batch


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


def _generate_chunk(args: tuple) -> tuple[np.ndarray, np.ndarray]:
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
            raise DataError(
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
    return concat_grids(run_chunks(_generate_chunk, jobs, workers, progress, "generate sudoku"), side(box))


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
