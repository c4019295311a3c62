"""The exact Sudoku solver (any box shape): candidate bitmasks, propagation to a fixpoint, branching search.

The solver keeps one candidate bitmask per cell and propagates naked and hidden singles and locked candidates
to a fixpoint, then branches on a cell with the fewest candidates (binary branching: "cell = d" or
"cell ≠ d"). The number of such branchings needed to find the first solution is the *rating*: like tdoku's
"guesses" it is 0 for puzzles that singles alone solve and grows with real difficulty.

Grids here are already checked (:mod:`trm.tasks.sudoku` parses and validates; its ``solve``/``rate`` wrap
this module); ``box`` is a valid ``(rows, cols)`` tuple.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

import numpy as np

Box = tuple[int, int]


# ----------------------------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Geometry:
    br: int  # box rows
    bc: int  # box cols
    n: int  # digits / side
    w: int  # bits per digit field in a candidate mask
    full: int  # candidate mask with every digit (bit 0 of each field)
    units: tuple[tuple[int, ...], ...]  # rows, then columns, then boxes
    getters: tuple  # itemgetter per unit
    peers: tuple[tuple[int, ...], ...]
    cell_units: tuple[tuple[int, ...], ...]
    # box-line intersections for locked candidates: (cells, rest of the line, rest of the box,
    # other segments of the line, other segments of the box in the same orientation)
    segments: tuple[tuple, ...]

    def bit(self, d: int) -> int:
        return 1 << (self.w * (d - 1))

    def digit(self, m: int) -> int:
        return (m.bit_length() - 1) // self.w + 1


@functools.lru_cache(maxsize=16)
def geometry(box: Box) -> Geometry:
    br, bc = box
    n = br * bc
    # Candidates are packed in fields of w bits (one bit set per candidate digit), so that the sum of a
    # unit's masks counts, per digit, the cells that can hold it.
    w = 4 if n < 16 else 5
    full = sum(1 << (w * i) for i in range(n))
    rows = [tuple(r * n + c for c in range(n)) for r in range(n)]
    cols = [tuple(r * n + c for r in range(n)) for c in range(n)]
    boxes = []
    for b0 in range(0, n, br):
        for s0 in range(0, n, bc):
            boxes.append(tuple((b0 + i) * n + s0 + j for i in range(br) for j in range(bc)))
    units = tuple(rows + cols + boxes)
    getters = tuple(itemgetter(*u) if len(u) > 1 else (lambda cand, _c=u[0]: (cand[_c],)) for u in units)
    peer_sets: list[set[int]] = [set() for _ in range(n * n)]
    cell_units: list[list[int]] = [[] for _ in range(n * n)]
    for ui, u in enumerate(units):
        for c in u:
            peer_sets[c].update(u)
            cell_units[c].append(ui)
    peers = tuple(tuple(sorted(s - {c})) for c, s in enumerate(peer_sets))
    segs: list[tuple[frozenset[int], int, int]] = []  # (cells, line id, box id)
    if br > 1 and bc > 1:
        for bi, bx in enumerate(boxes):
            for li, line in enumerate(rows + cols):
                cells = frozenset(bx) & frozenset(line)
                if cells:
                    segs.append((cells, li, bi))
    lines = rows + cols
    segments = []
    for k, (cells, li, bi) in enumerate(segs):
        line_sib = tuple(j for j, (_, l2, _) in enumerate(segs) if l2 == li and j != k)
        # segments of one orientation (rows or columns) partition the box
        box_sib = tuple(
            j for j, (_, l2, b2) in enumerate(segs) if b2 == bi and j != k and (l2 < n) == (li < n)
        )
        segments.append(
            (
                tuple(sorted(cells)),
                tuple(sorted(set(lines[li]) - cells)),
                tuple(sorted(set(boxes[bi]) - cells)),
                line_sib,
                box_sib,
            )
        )
    return Geometry(
        br, bc, n, w, full, units, getters, peers, tuple(tuple(u) for u in cell_units), tuple(segments)
    )


# ----------------------------------------------------------------------------------------------- search


def initial_state(values: Sequence[int], geo: Geometry) -> tuple[list[int], list[int], list[int]]:
    """(candidates, solved digits per unit, cells to propagate) for cell values (0 = blank)."""
    cand = [geo.full if v == 0 else 1 << (geo.w * (v - 1)) for v in values]
    pending = [i for i, v in enumerate(values) if v]
    return cand, [0] * len(geo.units), pending


def propagate(cand: list[int], solved: list[int], pending: list[int], geo: Geometry) -> bool:
    """Naked singles, hidden singles and locked candidates to a fixpoint; False on a contradiction.

    ``cand`` and ``solved`` (per unit, the digits of its propagated single cells) are changed in place.
    """
    peers, full, cell_units = geo.peers, geo.full, geo.cell_units
    w = geo.w
    sh = (1, 2, 3) if w == 4 else (1, 2, 3, 4)
    while True:
        while pending:
            c = pending.pop()
            b = cand[c]
            for u in cell_units[c]:
                solved[u] |= b
            for p in peers[c]:
                m = cand[p]
                if m & b:
                    m ^= b
                    if not m:
                        return False
                    cand[p] = m
                    if not m & (m - 1):
                        pending.append(p)
        sums = []
        for ui, get in enumerate(geo.getters):
            s = sum(get(cand))
            sums.append(s)
            many = 0
            for k in sh:
                many |= s >> k
            many &= full
            once = s & full
            if (once | many) != full:
                return False  # a digit with no place left in this unit
            only = once & ~many & ~solved[ui]
            if only:
                for c in geo.units[ui]:
                    m = cand[c]
                    x = m & only
                    if x and m != x:
                        if x & (x - 1):
                            return False
                        cand[c] = x
                        pending.append(c)
        if pending:
            continue
        # Locked candidates: a digit whose places in a line all lie in one box (or in a box all lie on one
        # line) is removed from the rest of that box (line). Only unsolved cells count (singles have been
        # propagated, so a solved digit is nowhere else in its units).
        segs = geo.segments
        sm = []
        for seg in segs:
            m = 0
            for c in seg[0]:
                v = cand[c]
                if v & (v - 1):
                    m |= v
            sm.append(m)
        changed = False
        for k, (_, line_rest, box_rest, line_sib, box_sib) in enumerate(segs):
            m = sm[k]
            if not m:
                continue
            for sib, rest in ((line_sib, box_rest), (box_sib, line_rest)):
                o = 0
                for j in sib:
                    o |= sm[j]
                x = m & ~o
                if x:
                    for p in rest:
                        v = cand[p]
                        if v & x:
                            v &= ~x
                            if not v:
                                return False
                            cand[p] = v
                            changed = True
                            if not v & (v - 1):
                                pending.append(p)
        if not changed:
            return True


class Search:
    """Depth-first search with propagation; counts solutions up to ``limit`` and branchings ("guesses")."""

    __slots__ = ("geo", "limit", "rng", "count", "first", "guesses", "guesses_at_first")

    def __init__(self, geo: Geometry, limit: int, rng: random.Random | None = None) -> None:
        self.geo, self.limit, self.rng = geo, limit, rng
        self.count = 0
        self.first: list[int] | None = None
        self.guesses = 0
        self.guesses_at_first = 0

    def run(self, cand: list[int], solved: list[int], pending: list[int]) -> None:
        rng = self.rng
        w = self.geo.w
        while True:
            if not propagate(cand, solved, pending, self.geo):
                return
            best, best_k = -1, 99
            for i, m in enumerate(cand):
                if m & (m - 1):
                    k = m.bit_count()
                    if k < best_k:
                        best, best_k = i, k
                        if k == 2:
                            break
            if best < 0:
                self.count += 1
                if self.first is None:
                    self.first = cand
                    self.guesses_at_first = self.guesses
                return
            m = cand[best]
            if rng is None:
                b = m & -m
            else:
                bits = [1 << (w * i) for i in range(self.geo.n) if m >> (w * i) & 1]
                b = bits[rng.randrange(len(bits))]
            self.guesses += 1
            child = cand.copy()
            child[best] = b
            self.run(child, solved.copy(), [best])
            if self.count >= self.limit:
                return
            m ^= b
            cand[best] = m
            pending = [best] if not m & (m - 1) else []


def to_grid(cand: list[int], geo: Geometry) -> np.ndarray:
    return np.array([geo.digit(m) for m in cand], dtype=np.int8).reshape(geo.n, geo.n)


def solve_and_rate(grid: np.ndarray, box: Box, limit: int = 2) -> tuple[int, np.ndarray | None, int]:
    """(solutions counted up to ``limit``, the first one or None, guesses to the first one) of an int grid
    [N, N] (0 = blank). Repeated givens give count 0."""
    geo = geometry(box)
    s = Search(geo, max(1, int(limit)))
    s.run(*initial_state(np.asarray(grid).reshape(-1).tolist(), geo))
    if s.first is None:
        return 0, None, s.guesses
    return s.count, to_grid(s.first, geo), s.guesses_at_first


def random_solution(box: Box, rng: random.Random) -> np.ndarray:
    """A random complete grid (search with random branching from the empty grid)."""
    geo = geometry(box)
    s = Search(geo, 1, rng)
    s.run(*initial_state([0] * (geo.n * geo.n), geo))
    assert s.first is not None
    return to_grid(s.first, geo)


def has_other_solution(givens: list[int], solution: list[int], cells: Sequence[int], geo: Geometry) -> bool:
    """Does the puzzle with ``cells`` blanked (and the rest of ``givens``) have a solution ≠ ``solution``?

    ``givens`` (0 = blank) must have ``solution`` as its only solution. For one cell, any other solution of
    the reduced puzzle differs on that cell, so one search with the cell ≠ its value decides; for several,
    count the reduced puzzle's solutions up to 2.
    """
    g = list(givens)
    for c in cells:
        g[c] = 0
    cand, solved, pending = initial_state(g, geo)
    if len(cells) == 1:
        c = cells[0]
        m = geo.full & ~geo.bit(solution[c])
        cand[c] = m
        if not m & (m - 1):
            pending.append(c)
        s = Search(geo, 1)
        s.run(cand, solved, pending)
        return s.count > 0
    s = Search(geo, 2)
    s.run(cand, solved, pending)
    return s.count > 1


def is_minimal(puzzle: np.ndarray, solution: np.ndarray, box: Box) -> bool:
    """True if no given of ``puzzle`` (whose only solution is ``solution``) can be removed keeping it unique."""
    geo = geometry(box)
    givens = np.asarray(puzzle).reshape(-1).tolist()
    sol = np.asarray(solution).reshape(-1).tolist()
    return all(has_other_solution(givens, sol, [c], geo) for c, v in enumerate(givens) if v)
