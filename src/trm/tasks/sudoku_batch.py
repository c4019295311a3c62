"""A numpy-vectorised version of the Sudoku search in :mod:`trm.tasks.sudoku_solver`, for many puzzles at once.

It applies the same deduction rules (naked singles, hidden singles, locked candidates) to a fixpoint and
branches the same way (first cell with the fewest candidates, lowest digit first, "= d" before "≠ d"), so
for every puzzle it returns exactly what the scalar solver returns (count up to the limit, first solution,
guesses to the first solution); only the work is spread over a batch of search slots, one depth-first
search per slot with its own stack, refilled from a queue as searches finish.

Candidate masks here are plain bitmasks (bit d-1 for digit d) in uint16, so N ≤ 16.
"""

from __future__ import annotations

import functools

import numpy as np

from .sudoku import check_box
from .sudoku_solver import Box, geometry


@functools.lru_cache(maxsize=8)
def _tables(box: Box) -> dict:
    geo = geometry(check_box(box))
    n = geo.n
    c = n * n
    units = np.array(geo.units, dtype=np.int64)  # [U, N]
    cell_units = np.array(geo.cell_units, dtype=np.int64)  # [C, 3]
    pop = np.array([bin(i).count("1") for i in range(1 << n)], dtype=np.int8)
    t: dict = {"n": n, "c": c, "units": units, "cu": cell_units, "pop": pop, "full": (1 << n) - 1}
    if geo.segments:
        segs = geo.segments
        s = len(segs)
        t["seg_cells"] = _padded([sg[0] for sg in segs], c)  # [S, k]; index c is an empty dummy cell
        t["line_sib"] = _padded([sg[3] for sg in segs], s)  # index s is an empty dummy segment
        t["box_sib"] = _padded([sg[4] for sg in segs], s)
        # for every cell, the segments whose box-rest / line-rest contain it (padded with a dummy segment s)
        in_box_rest: list[list[int]] = [[] for _ in range(c)]
        in_line_rest: list[list[int]] = [[] for _ in range(c)]
        for k, sg in enumerate(segs):
            for p in sg[2]:
                in_box_rest[p].append(k)
            for p in sg[1]:
                in_line_rest[p].append(k)
        t["inc_box"] = _padded(in_box_rest, s)
        t["inc_line"] = _padded(in_line_rest, s)
    return t


def _padded(rows: list, fill: int) -> np.ndarray:
    width = max(1, max(len(r) for r in rows))
    return np.array([list(r) + [fill] * (width - len(r)) for r in rows], dtype=np.int64)


def _popcount(x: np.ndarray, t: dict) -> np.ndarray:
    return np.bitwise_count(x) if _HAS_BITCOUNT else t["pop"][x]


_HAS_BITCOUNT = hasattr(np, "bitwise_count")


def _step(cand_rows: np.ndarray, t: dict) -> tuple[np.ndarray, np.ndarray]:
    """One parallel round of all rules on [R, C] masks: (new masks, contradiction per row).

    Works internally on the transpose [C, R], so that gathering the cells of a unit copies whole rows.
    """
    units, cu, full, n = t["units"], t["cu"], t["full"], t["n"]
    cand = np.ascontiguousarray(cand_rows.T)
    r = cand.shape[1]
    pc = _popcount(cand, t)
    bad = (pc == 0).any(0)
    solved = pc == 1
    sv = cand * solved
    us = sv[units]  # [U, N, R]
    uor = np.bitwise_or.reduce(us, axis=1)  # [U, R]
    # distinct single bits add up to their OR; a digit solved twice in a unit does not
    bad |= (np.add.reduce(us, axis=1, dtype=np.uint32) != uor).any(0)
    elim = uor[cu[:, 0]] | uor[cu[:, 1]] | uor[cu[:, 2]]
    new = cand & ~(elim * ~solved)
    uc = new[units]  # [U, N, R]
    once = uc[:, 0].copy()
    twice = np.zeros_like(once)
    for k in range(1, n):
        x = uc[:, k]
        twice |= once & x
        once |= x
    bad |= (once != full).any(0)
    only = once & ~twice
    h = new & (only[cu[:, 0]] | only[cu[:, 1]] | only[cu[:, 2]])
    multi = _popcount(new, t) > 1
    apply = multi & (h != 0)
    bad |= (apply & (_popcount(h, t) > 1)).any(0)
    new = np.where(apply, h, new)
    if "seg_cells" in t:
        # Unlike the scalar solver, singles found in this round are not yet removed from their peers, so the
        # other segments of a line (box) count all their cells, solved or not.
        zero_r = np.zeros((1, r), np.uint16)
        multi = _popcount(new, t) > 1
        mv = np.concatenate([new * multi, zero_r])
        av = np.concatenate([new, zero_r])
        sm = np.bitwise_or.reduce(mv[t["seg_cells"]], axis=1)  # [S, R] unsolved cells' digits
        sa = np.concatenate([np.bitwise_or.reduce(av[t["seg_cells"]], axis=1), zero_r])
        lo = np.bitwise_or.reduce(sa[t["line_sib"]], axis=1)
        bo = np.bitwise_or.reduce(sa[t["box_sib"]], axis=1)
        x_line = np.concatenate([sm & ~lo, zero_r])  # confined to the segment within its line
        x_box = np.concatenate([sm & ~bo, zero_r])  # confined to the segment within its box
        e2 = np.bitwise_or.reduce(x_line[t["inc_box"]], axis=1) | np.bitwise_or.reduce(
            x_box[t["inc_line"]], axis=1
        )
        new = new & ~(e2 * multi)
    return new.T, bad


def search_batch(
    cand0: np.ndarray, box: Box, limit: int = 2, slots: int = 1024
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Search M puzzles given as initial candidate masks [M, C] (bit d-1 = digit d possible).

    Returns (count up to ``limit`` [M], first solution as digits [M, C] int8 (0 where none), guesses to the
    first solution [M] (total guesses where there is none)).
    """
    t = _tables(check_box(box))
    c = t["c"]
    m_total = len(cand0)
    cand0 = np.asarray(cand0, dtype=np.uint16)
    count = np.zeros(m_total, np.int64)
    guesses = np.zeros(m_total, np.int64)
    gaf = np.zeros(m_total, np.int64)
    first = np.zeros((m_total, c), np.int8)
    r = max(1, min(slots, m_total))
    cur = np.zeros((r, c), np.uint16)
    stack = np.zeros((r, c + 1, c), np.uint16)
    sp = np.zeros(r, np.int64)
    pid = np.full(r, -1, np.int64)
    nxt = min(r, m_total)
    pid[:nxt] = np.arange(nxt)
    cur[:nxt] = cand0[:nxt]
    digit_of = np.zeros(1 << t["n"], np.int8)
    for d in range(t["n"]):
        digit_of[1 << d] = d + 1
    while True:
        act = np.flatnonzero(pid >= 0)
        if act.size == 0:
            break
        old = cur[act]
        new, bad = _step(old, t)
        cur[act] = new
        stable = ~bad & (new == old).all(1)
        pc = _popcount(new, t)
        is_sol = stable & (pc == 1).all(1)
        branch = stable & ~is_sol
        finish = np.zeros(act.size, bool)
        pop_it = bad.copy()
        if is_sol.any():
            s_idx = act[is_sol]
            p = pid[s_idx]
            count[p] += 1
            firsts = count[p] == 1
            first[p[firsts]] = digit_of[new[is_sol][firsts]]
            gaf[p[firsts]] = guesses[p[firsts]]
            done = count[p] >= limit
            sol_pos = np.flatnonzero(is_sol)
            finish[sol_pos[done]] = True
            pop_it[sol_pos[~done]] = True
        if branch.any():
            b_idx = act[branch]
            st = new[branch]
            k = np.where(pc[branch] > 1, pc[branch], 99).argmin(1)
            rows = np.arange(b_idx.size)
            m = st[rows, k]
            low = m & (~m + np.uint16(1))
            alt = st.copy()
            alt[rows, k] = m ^ low
            stack[b_idx, sp[b_idx]] = alt
            sp[b_idx] += 1
            cur[b_idx, k] = low
            guesses[pid[b_idx]] += 1
        if pop_it.any():
            pos = np.flatnonzero(pop_it)
            s_idx = act[pos]
            empty = sp[s_idx] == 0
            finish[pos[empty]] = True
            s_pop = s_idx[~empty]
            sp[s_pop] -= 1
            cur[s_pop] = stack[s_pop, sp[s_pop]]
        if finish.any():
            s_idx = act[finish]
            k = min(s_idx.size, m_total - nxt)
            refill, idle = s_idx[:k], s_idx[k:]
            pid[idle] = -1
            if k:
                pid[refill] = np.arange(nxt, nxt + k)
                cur[refill] = cand0[nxt : nxt + k]
                sp[refill] = 0
                nxt += k
    guesses_out = np.where(count > 0, gaf, guesses)
    return count, first, guesses_out


def grids_to_masks(grids: np.ndarray, box: Box) -> np.ndarray:
    """Initial candidate masks [M, C] of puzzles [M, N, N] (0 = blank)."""
    n = check_box(box)[0] * check_box(box)[1]
    g = np.asarray(grids).reshape(len(grids), -1).astype(np.int64)
    full = (1 << n) - 1
    return np.where(g == 0, full, np.left_shift(1, np.maximum(g - 1, 0))).astype(np.uint16)


def solve_batch(
    grids: np.ndarray, box: Box, limit: int = 2, slots: int = 1024
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(count up to limit, first solutions [M, N, N], guesses to the first solution) for puzzles [M, N, N].

    Givens that repeat a digit in a unit give count 0 (the propagation finds the contradiction)."""
    g = np.asarray(grids)
    count, first, guesses = search_batch(grids_to_masks(g, box), box, limit, slots)
    return count, first.reshape(g.shape), guesses
