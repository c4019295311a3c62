"""Sudoku of any box shape: parsing, an exact propagating solver, rating, generation, symmetry augmentation.

An N×N Sudoku has boxes of ``box = (rows, cols)`` cells with ``N = rows · cols``: 4×4 uses (2, 2), 6×6 uses
(2, 3) (boxes two rows tall and three columns wide), 9×9 uses (3, 3). Grids are ``int8`` arrays [N, N] with
0 for a blank and 1..N for digits.

Tokens (SPEC §6): PAD 0, blank 1, digit d → d + 1; vocab N + 2; sequence N² in row-major order.

The solver keeps one candidate bitmask per cell and propagates naked and hidden singles to a fixpoint, then
branches on a cell with the fewest candidates (binary branching: "cell = d" or "cell ≠ d"). The number of
such branchings needed to find the first solution is the *rating* (``rate``): like tdoku's "guesses" it
is 0 for puzzles that singles alone solve and grows with real difficulty; a plain backtracking search
ranks puzzles by how unlucky its cell order is instead.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import DataError

Box = tuple[int, int]


# ----------------------------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class _Geometry:
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
def _geometry(box: Box) -> _Geometry:
    from operator import itemgetter

    br, bc = check_box(box)
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
        box_sib = tuple(j for j, (_, l2, b2) in enumerate(segs) if b2 == bi and j != k and (l2 < n) == (li < n))
        segments.append((tuple(sorted(cells)), tuple(sorted(set(lines[li]) - cells)),
                         tuple(sorted(set(boxes[bi]) - cells)), line_sib, box_sib))
    return _Geometry(br, bc, n, w, full, units, getters, peers, tuple(tuple(u) for u in cell_units), tuple(segments))


def check_box(box: Sequence[int]) -> Box:
    """Validate a box shape ``(rows, cols)``; N = rows · cols must be 1..16."""
    try:
        br, bc = (int(v) for v in box)
    except (TypeError, ValueError):
        raise DataError(f"box shape must be two integers (rows, cols), got {box!r}") from None
    if br < 1 or bc < 1 or br * bc > 16:
        raise DataError(f"box shape {br}x{bc} is not supported (need rows, cols >= 1 and rows*cols <= 16)")
    return br, bc


def box_for_size(n: int) -> Box:
    """The usual box shape of an N×N Sudoku: the most square factorisation, rows ≤ cols (6 → (2, 3))."""
    for br in range(int(n**0.5), 0, -1):
        if n % br == 0:
            return br, n // br
    raise DataError(f"no box shape for size {n}")


def side(box: Box) -> int:
    br, bc = check_box(box)
    return br * bc


# ----------------------------------------------------------------------------------------------- text


def parse_sudoku(text: str, box: Box = (3, 3), *, where: str = "") -> np.ndarray:
    """Parse a puzzle string (row-major, ``.`` or ``0`` for blanks, whitespace ignored) into an int8 [N, N] grid.

    Digits above 9 (16×16 Sudoku) are written ``A``..``G`` (10..16). Raises :class:`DataError` for a wrong
    length, a bad character or two equal givens in a row, column or box.
    """
    br, bc = check_box(box)
    n = br * bc
    chars = "".join(text.split())
    prefix = f"{where}: " if where else ""
    if len(chars) != n * n:
        raise DataError(f"{prefix}a {n}x{n} Sudoku needs {n * n} cells, got {len(chars)} in {text.strip()[:100]!r}")
    lut = np.full(256, -1, dtype=np.int16)
    lut[ord(".")] = lut[ord("0")] = 0
    for d in range(1, n + 1):
        ch = _DIGITS[d]
        lut[ord(ch)] = d
        lut[ord(ch.lower())] = d
    try:
        raw = np.frombuffer(chars.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        raise DataError(f"{prefix}non-ASCII character in Sudoku {chars[:100]!r}") from None
    vals = lut[raw]
    if (vals < 0).any():
        i = int(np.argmax(vals < 0))
        raise DataError(
            f"{prefix}bad character {chars[i]!r} at cell {i} (row {i // n + 1}, column {i % n + 1}); "
            f"use '.' or '0' for blanks and 1..{_DIGITS[n]} for digits"
        )
    grid = vals.astype(np.int8).reshape(n, n)
    problem = _duplicate_given(grid, (br, bc))
    if problem:
        raise DataError(f"{prefix}invalid Sudoku {chars!r}: {problem}")
    return grid


_DIGITS = ".123456789ABCDEFG"


def format_sudoku(grid: np.ndarray) -> str:
    """The puzzle as a string of N² characters, ``.`` for blanks (digits above 9 as ``A``..``G``)."""
    g = np.asarray(grid).reshape(-1)
    return "".join(_DIGITS[int(v)] for v in g)


def _duplicate_given(grid: np.ndarray, box: Box) -> str:
    """A description of the first repeated given in a unit, or '' if none."""
    br, bc = box
    n = br * bc
    if grid.min() < 0 or grid.max() > n:
        return f"values must be 0..{n}"
    onehot = np.zeros((n, n, n + 1), dtype=np.int16)
    np.put_along_axis(onehot, grid[..., None].astype(np.int64), 1, axis=-1)
    onehot = onehot[..., 1:]
    for r in range(n):
        d = np.flatnonzero(onehot[r].sum(0) > 1)
        if d.size:
            return f"digit {_DIGITS[d[0] + 1]} appears twice in row {r + 1}"
    for c in range(n):
        d = np.flatnonzero(onehot[:, c].sum(0) > 1)
        if d.size:
            return f"digit {_DIGITS[d[0] + 1]} appears twice in column {c + 1}"
    for b0 in range(0, n, br):
        for s0 in range(0, n, bc):
            d = np.flatnonzero(onehot[b0:b0 + br, s0:s0 + bc].sum((0, 1)) > 1)
            if d.size:
                return f"digit {_DIGITS[d[0] + 1]} appears twice in the box at row {b0 + 1}, column {s0 + 1}"
    return ""


def _as_grid(grid: np.ndarray | str, box: Box) -> np.ndarray:
    if isinstance(grid, str):
        return parse_sudoku(grid, box)
    n = side(box)
    g = np.asarray(grid)
    if g.size != n * n:
        raise DataError(f"a {n}x{n} Sudoku needs {n * n} cells, got an array of shape {g.shape}")
    g = g.reshape(n, n)
    if g.min() < 0 or g.max() > n:
        raise DataError(f"Sudoku values must be 0..{n}, got {int(g.min())}..{int(g.max())}")
    return g.astype(np.int8)


# ----------------------------------------------------------------------------------------------- tokens


def encode(grid: np.ndarray) -> np.ndarray:
    """Tokens of a grid (or a batch of grids [..., N, N]): blank → 1, digit d → d + 1; flattened, int64."""
    g = np.asarray(grid)
    flat = g.reshape(*g.shape[:-2], -1) if g.ndim >= 2 else g
    return flat.astype(np.int64) + 1


def decode(tokens: np.ndarray) -> np.ndarray:
    """Grid(s) [..., N, N] from tokens [..., N²]; PAD (0) and anything outside the digit range reads as blank."""
    t = np.asarray(tokens).astype(np.int64)
    n = int(round(t.shape[-1] ** 0.5))
    if n * n != t.shape[-1]:
        raise DataError(f"{t.shape[-1]} tokens do not form a square grid")
    g = t - 1
    g[(g < 0) | (g > n)] = 0
    return g.reshape(*t.shape[:-1], n, n).astype(np.int8)


# ----------------------------------------------------------------------------------------------- solver


def _state(values: Sequence[int], geo: _Geometry) -> tuple[list[int], list[int], list[int]]:
    """(candidates, solved digits per unit, cells to propagate) for cell values (0 = blank)."""
    cand = [geo.full if v == 0 else 1 << (geo.w * (v - 1)) for v in values]
    pending = [i for i, v in enumerate(values) if v]
    return cand, [0] * len(geo.units), pending


def _propagate(cand: list[int], solved: list[int], pending: list[int], geo: _Geometry) -> bool:
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


class _Search:
    """Depth-first search with propagation; counts solutions up to ``limit`` and branchings ("guesses")."""

    __slots__ = ("geo", "limit", "rng", "count", "first", "guesses", "guesses_at_first")

    def __init__(self, geo: _Geometry, limit: int, rng: random.Random | None = None) -> None:
        self.geo, self.limit, self.rng = geo, limit, rng
        self.count = 0
        self.first: list[int] | None = None
        self.guesses = 0
        self.guesses_at_first = 0

    def run(self, cand: list[int], solved: list[int], pending: list[int]) -> None:
        rng = self.rng
        w = self.geo.w
        while True:
            if not _propagate(cand, solved, pending, self.geo):
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


def _cand_to_grid(cand: list[int], geo: _Geometry) -> np.ndarray:
    return np.array([geo.digit(m) for m in cand], dtype=np.int8).reshape(geo.n, geo.n)


def solve_and_rate(grid: np.ndarray | str, box: Box = (3, 3), limit: int = 2) -> tuple[int, np.ndarray | None, int]:
    """``solve`` and ``rate`` in one search: (count up to limit, first solution, guesses to the first solution)."""
    geo = _geometry(check_box(box))
    g = _as_grid(grid, box)
    if _duplicate_given(g, box):
        return 0, None, 0
    s = _Search(geo, max(1, int(limit)))
    s.run(*_state(g.reshape(-1).tolist(), geo))
    if s.first is None:
        return 0, None, s.guesses
    return s.count, _cand_to_grid(s.first, geo), s.guesses_at_first


def solve(grid: np.ndarray | str, box: Box = (3, 3), limit: int = 2) -> tuple[int, np.ndarray | None]:
    """Count the solutions of ``grid`` up to ``limit`` (exact), and return the first one found (or None).

    ``solve(p, box, 2)[0] == 1`` means the puzzle has a unique solution.
    """
    count, first, _ = solve_and_rate(grid, box, limit)
    return count, first


def rate(grid: np.ndarray | str, box: Box = (3, 3)) -> int:
    """Difficulty: branchings the propagating solver makes to find the first solution (0 = singles suffice)."""
    return solve_and_rate(grid, box, 1)[2]


def is_valid_solution(puzzle: np.ndarray | str, answer: np.ndarray | str, box: Box = (3, 3)) -> bool:
    """True if ``answer`` is a complete grid obeying every rule and agreeing with every given of ``puzzle``."""
    br, bc = check_box(box)
    n = br * bc
    try:
        p = _as_grid(puzzle, box)
        a = _as_grid(answer, box)
    except DataError:
        return False
    if (a == 0).any():
        return False
    if ((p != 0) & (p != a)).any():
        return False
    want = np.arange(1, n + 1)
    if not (np.sort(a, axis=1) == want).all() or not (np.sort(a, axis=0).T == want).all():
        return False
    boxes = a.reshape(n // br, br, n // bc, bc).transpose(0, 2, 1, 3).reshape(n, n)
    return bool((np.sort(boxes, axis=1) == want).all())


# ----------------------------------------------------------------------------------------------- generation


def random_solution(box: Box, rng: random.Random) -> np.ndarray:
    """A uniformly-seeded random complete grid (search with random branching from the empty grid)."""
    geo = _geometry(check_box(box))
    s = _Search(geo, 1, rng)
    s.run(*_state([0] * (geo.n * geo.n), geo))
    assert s.first is not None
    return _cand_to_grid(s.first, geo)


def _has_other_solution(givens: list[int], solution: list[int], cells: Sequence[int], geo: _Geometry) -> bool:
    """Does the puzzle with ``cells`` blanked (and the rest of ``givens``) have a solution ≠ ``solution``?

    ``givens`` (0 = blank) must have ``solution`` as its only solution. For one cell, any other solution of
    the reduced puzzle differs on that cell, so one search with the cell ≠ its value decides; for several,
    count the reduced puzzle's solutions up to 2.
    """
    g = list(givens)
    for c in cells:
        g[c] = 0
    cand, solved, pending = _state(g, geo)
    if len(cells) == 1:
        c = cells[0]
        m = geo.full & ~geo.bit(solution[c])
        cand[c] = m
        if not m & (m - 1):
            pending.append(c)
        s = _Search(geo, 1)
        s.run(cand, solved, pending)
        return s.count > 0
    s = _Search(geo, 2)
    s.run(cand, solved, pending)
    return s.count > 1


def _carve(solution: np.ndarray, geo: _Geometry, rng: random.Random, stop_at: int | None) -> np.ndarray:
    """Blank cells of ``solution`` in random order while the solution stays unique.

    Stops once ``stop_at`` cells are blank (None: try every cell, giving a minimal puzzle). The result is the
    same as removing one cell at a time; runs of cells are tried together first (if the puzzle stays unique
    without all of them, it stays unique without each prefix, since fewer blanks never add solutions).
    """
    n2 = geo.n * geo.n
    sol = solution.reshape(-1).tolist()
    givens = list(sol)
    order = list(range(n2))
    rng.shuffle(order)
    blanks = 0
    i = 0
    chunk = max(1, n2 // 3)
    while i < n2 and (stop_at is None or blanks < stop_at):
        take = min(chunk, n2 - i)
        if stop_at is not None:
            take = min(take, stop_at - blanks)
        cells = order[i:i + take]
        if not _has_other_solution(givens, sol, cells, geo):
            for c in cells:
                givens[c] = 0
            blanks += take
            i += take
        elif take > 1:
            chunk = max(1, take // 2)
        else:
            i += 1
            chunk = 1
    return np.array(givens, dtype=np.int8).reshape(geo.n, geo.n)


def _is_minimal(puzzle: np.ndarray, solution: np.ndarray, geo: _Geometry) -> bool:
    givens = puzzle.reshape(-1).tolist()
    sol = solution.reshape(-1).tolist()
    return all(_has_other_solution(givens, sol, [c], geo) for c, v in enumerate(givens) if v)


def is_minimal(puzzle: np.ndarray | str, box: Box = (3, 3)) -> bool:
    """True if the puzzle has a unique solution and no given can be removed keeping it unique."""
    geo = _geometry(check_box(box))
    p = _as_grid(puzzle, box)
    count, sol = solve(p, box, 2)
    return count == 1 and sol is not None and _is_minimal(p, sol, geo)


def generate_one(box: Box, rng: random.Random, blanks: tuple[int, int], minimal: bool = False,
                 guesses: tuple[int, int | None] = (0, None), max_tries: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """One puzzle with a unique solution: (puzzle, solution), int8 [N, N].

    ``blanks = (lo, hi)``: the number of blank cells is drawn uniformly in [lo, hi] (with ``minimal=True`` it is
    whatever the random removal order reaches, and puzzles outside [lo, hi] are rejected). ``guesses = (lo, hi)``
    bounds the rating (``rate``); hi None = unbounded.
    """
    geo = _geometry(check_box(box))
    lo, hi = int(blanks[0]), int(blanks[1])
    g_lo, g_hi = guesses
    if not 0 <= lo <= hi < geo.n * geo.n:
        raise DataError(f"blanks must satisfy 0 <= lo <= hi < {geo.n * geo.n}, got {blanks}")
    for _ in range(max_tries):
        sol = random_solution(box, rng)
        if minimal:
            puzzle = _carve(sol, geo, rng, None)
            nb = int((puzzle == 0).sum())
            if not lo <= nb <= hi:
                continue
        else:
            target = rng.randint(lo, hi)
            puzzle = _carve(sol, geo, rng, target)
            if int((puzzle == 0).sum()) != target:
                continue
        if g_lo or g_hi is not None:
            r = rate(puzzle, box)
            if r < g_lo or (g_hi is not None and r > g_hi):
                continue
        return puzzle, sol
    raise DataError(
        f"could not generate a {geo.n}x{geo.n} puzzle with blanks {blanks}, minimal={minimal}, guesses {guesses} "
        f"in {max_tries} tries; widen the ranges"
    )


def _random_solutions(m: int, box: Box, rng: np.random.Generator) -> np.ndarray:
    """``m`` random complete grids [m, N, N]: a few random consistent givens, completed by the batch search,
    then a random symmetry."""
    from ._sudoku_batch import solve_batch

    geo = _geometry(box)
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


def _carve_batch(sols: np.ndarray, box: Box, rng: np.random.Generator, stop_at: np.ndarray | None) -> np.ndarray:
    """``_carve`` for a batch: blank cells in a random order per puzzle while the solution stays unique
    (one cell at a time: a search for a solution with that cell changed), until ``stop_at`` blanks (None:
    minimal puzzles)."""
    from ._sudoku_batch import grids_to_masks, search_batch

    geo = _geometry(box)
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
    from ._sudoku_batch import solve_batch

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


def generate(n: int, box: Box = (3, 3), blanks: tuple[int, int] = (50, 58), seed: int = 0, minimal: bool = False,
             guesses: tuple[int, int | None] = (0, None), workers: int = 1,
             progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
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
    jobs = [(box, seed, k, min(chunk, n - s), (lo, hi), minimal, tuple(guesses)) for k, s in enumerate(range(0, n, chunk))]
    return _concat_jobs(_generate_chunk, jobs, n, workers, progress, "generate sudoku", side(box))


def _concat_jobs(fn, jobs: list, total: int, workers: int, progress: bool, desc: str, n: int):
    from tqdm import tqdm

    out_p, out_s = [], []
    bar = tqdm(total=total, desc=desc, unit="puzzle", disable=not progress, leave=False)
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        with mp.get_context().Pool(min(workers, len(jobs))) as pool:
            for p, s in pool.imap(fn, jobs):
                out_p.append(p)
                out_s.append(s)
                bar.update(len(p))
    else:
        for job in jobs:
            p, s = fn(job)
            out_p.append(p)
            out_s.append(s)
            bar.update(len(p))
    bar.close()
    if not out_p:
        return np.zeros((0, n, n), np.int8), np.zeros((0, n, n), np.int8)
    return np.concatenate(out_p), np.concatenate(out_s)


def _solve_chunk(args: tuple) -> tuple[np.ndarray, np.ndarray]:
    from ._sudoku_batch import solve_batch

    box, puzzles, limit, names = args
    count, sols, ratings = solve_batch(puzzles, box, limit)
    bad = np.flatnonzero(count != 1)
    if bad.size:
        i = int(bad[0])
        what = "no solution" if count[i] == 0 else "more than one solution"
        raise DataError(f"{names[i]}: puzzle {format_sudoku(puzzles[i])} has {what}")
    return sols, ratings.astype(np.int32)


def solve_many(puzzles: np.ndarray, box: Box = (3, 3), check_unique: bool = True, workers: int = 1,
               progress: bool = False, names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Solve a batch [M, N, N] with the vectorised search; returns (solutions, ratings).

    Raises DataError naming a puzzle that has no solution (or, with ``check_unique``, several)."""
    box = check_box(box)
    m = len(puzzles)
    names = list(names) if names is not None else [f"puzzle {i}" for i in range(m)]
    chunk = 1000
    jobs = [(box, puzzles[s:s + chunk], 2 if check_unique else 1, names[s:s + chunk]) for s in range(0, m, chunk)]
    sols, rates = _concat_jobs(_solve_chunk, jobs, m, workers, progress, "solve sudoku", side(box))
    return sols, rates


# ----------------------------------------------------------------------------------------------- symmetry


@dataclass(frozen=True)
class SudokuTransform:
    """One element of the Sudoku symmetry group: ``out = digits[transpose?(x)[rows][:, cols]]``.

    ``digits`` maps 0..N (0 → 0, blanks stay blank); ``rows``/``cols`` permute bands (stacks) and the rows
    (columns) inside each; ``transpose`` is only possible for square boxes.
    """

    digits: np.ndarray
    transpose: bool
    rows: np.ndarray
    cols: np.ndarray

    def apply(self, grid: np.ndarray) -> np.ndarray:
        g = np.asarray(grid)
        if self.transpose:
            g = g.T
        return self.digits[g[self.rows][:, self.cols]].astype(np.int8)

    def inverse(self, grid: np.ndarray) -> np.ndarray:
        g = np.asarray(grid)
        inv_d = np.argsort(self.digits)
        g = inv_d[g]
        g = g[np.argsort(self.rows)][:, np.argsort(self.cols)]
        if self.transpose:
            g = g.T
        return g.astype(np.int8)


def _block_perm(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A permutation of n lines in blocks of k: the blocks are permuted, and the lines inside each block."""
    blocks = rng.permutation(n // k)
    return np.concatenate([b * k + rng.permutation(k) for b in blocks])


def random_transform(box: Box, rng: np.random.Generator) -> SudokuTransform:
    """A random symmetry (SPEC §6 "shuffle", for any box shape; transpose only when the boxes are square)."""
    br, bc = check_box(box)
    n = br * bc
    digits = np.concatenate([[0], rng.permutation(np.arange(1, n + 1))]).astype(np.int8)
    transpose = bool(rng.random() < 0.5) if br == bc else False
    rows = _block_perm(n, br, rng)
    cols = _block_perm(n, bc, rng)
    return SudokuTransform(digits, transpose, rows, cols)


def augment(puzzle: np.ndarray, solution: np.ndarray, box: Box, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray, SudokuTransform]:
    """Apply one random symmetry to a puzzle and its solution: (puzzle', solution', transform).

    ``transform.inverse`` undoes it (``inverse_augment``)."""
    t = random_transform(box, rng)
    return t.apply(puzzle), t.apply(solution), t


def inverse_augment(grid: np.ndarray, transform: SudokuTransform) -> np.ndarray:
    return transform.inverse(grid)


def augment_batch(grids: Sequence[np.ndarray], box: Box, rng: np.random.Generator) -> list[np.ndarray]:
    """Apply one random symmetry per row to several aligned batches (e.g. puzzles and solutions) [M, N, N]."""
    br, bc = check_box(box)
    n = br * bc
    m = len(grids[0])
    digits = np.concatenate([np.zeros((m, 1), np.int64), rng.permuted(np.tile(np.arange(1, n + 1), (m, 1)), axis=1)],
                            axis=1)
    transpose = rng.random(m) < 0.5 if br == bc else np.zeros(m, bool)
    rows = _batched_block_perm(m, n, br, rng)
    cols = _batched_block_perm(m, n, bc, rng)
    out = []
    idx = np.arange(m)[:, None, None]
    for g in grids:
        g = np.asarray(g)
        g = np.where(transpose[:, None, None], g.transpose(0, 2, 1), g)
        g = g[idx, rows[:, :, None], cols[:, None, :]]
        out.append(np.take_along_axis(digits, g.reshape(m, -1).astype(np.int64), axis=1).reshape(m, n, n)
                   .astype(np.int8))
    return out


def _batched_block_perm(m: int, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    blocks = rng.permuted(np.tile(np.arange(n // k), (m, 1)), axis=1)
    inner = rng.permuted(np.tile(np.arange(k), (m, n // k, 1)), axis=2)
    return (blocks[:, :, None] * k + inner).reshape(m, n)


def make_token_augmenter(box: Box):
    """An on-the-fly augmentation for the training sampler: ``f(inputs, labels, rng) -> (inputs, labels)``.

    Works on token rows (PAD 0, blank 1, digit d → d + 1) and draws from the generator it is given, so a
    sampler that passes its own seeded generator stays exactly resumable.
    """
    br, bc = check_box(box)
    n = br * bc

    def augment_tokens(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
        t = random_transform((br, bc), rng)
        lut = np.arange(n + 2)
        lut[2:] = t.digits[1:].astype(np.int64) + 1
        out = []
        for row in (inputs, labels):
            g = np.asarray(row).reshape(n, n)
            if t.transpose:
                g = g.T
            g = g[t.rows][:, t.cols]
            ignore = g < 0
            mapped = lut[np.clip(g, 0, n + 1)]
            out.append(np.where(ignore, g, mapped).reshape(-1).astype(np.asarray(row).dtype))
        return out[0], out[1]

    return augment_tokens


# ----------------------------------------------------------------------------------------------- equivalence


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
        by_stack = np.sort(np.sort(bx, axis=1).transpose(0, 2, 1) @ ((n * n + 1) ** np.arange(bx.shape[1])), axis=1)
        return np.concatenate([by_band, by_stack], axis=1)

    def pattern(x: np.ndarray) -> np.ndarray:
        mask = x != 0
        return np.concatenate([line_sig(mask, br), line_sig(mask.transpose(0, 2, 1), bc), box_sig(mask, br, bc)],
                              axis=1)

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


def read_collection(path, box: Box = (3, 3)) -> tuple[np.ndarray, list[str]]:
    """Read a puzzle collection: one puzzle per line (N² characters; ``#`` comments and blank lines skipped;
    text after the puzzle, such as tdoku's ``:count:solution``, ignored). Returns (puzzles [M,N,N], names)."""
    from pathlib import Path

    path = Path(path)
    n = side(box)
    try:
        text = path.read_text(encoding="ascii", errors="strict")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not an ASCII puzzle list ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    lines = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines())]
    lines = [(i, ln.split(":")[0].split(",")[0].strip()) for i, ln in lines if ln and not ln.startswith("#")]
    if not lines:
        return np.zeros((0, n, n), np.int8), []
    if n == 9 and all(len(s) == 81 for _, s in lines):
        raw = np.frombuffer("".join(s for _, s in lines).encode(), dtype=np.uint8).reshape(-1, 81)
        vals = raw.astype(np.int16) - ord("0")
        vals[raw == ord(".")] = 0
        bad = (vals < 0) | (vals > 9)
        if not bad.any():
            grids = vals.astype(np.int8).reshape(-1, 9, 9)
            dup = np.flatnonzero(repeated_givens(grids, box))
            if dup.size:
                i = int(dup[0])
                raise DataError(f"{path}:{lines[i][0]}: invalid Sudoku {lines[i][1]!r}: "
                                f"{_duplicate_given(grids[i], box)}")
            return grids, [f"{path.name}:{i}" for i, _ in lines]
    puzzles = [parse_sudoku(s, box, where=f"{path}:{i}") for i, s in lines]
    return np.stack(puzzles), [f"{path.name}:{i}" for i, _ in lines]


def repeated_givens(grids: np.ndarray, box: Box) -> np.ndarray:
    """For a batch [M, N, N]: True where some digit is given twice in a row, column or box."""
    br, bc = check_box(box)
    n = br * bc
    g = np.asarray(grids).reshape(-1, n, n)
    m = len(g)
    onehot = g[..., None] == np.arange(1, n + 1)  # [M, N, N, digit]
    rows = onehot.sum(2).max((1, 2)) > 1
    cols = onehot.sum(1).max((1, 2)) > 1
    boxes = onehot.reshape(m, n // br, br, n // bc, bc, n).sum((2, 4)).reshape(m, -1).max(1) > 1
    return rows | cols | boxes


def check_givens(puzzles: np.ndarray, box: Box, names: Iterable[str]) -> None:
    """Raise DataError naming the first puzzle with a repeated given."""
    for p, name in zip(puzzles, names, strict=False):
        problem = _duplicate_given(np.asarray(p), check_box(box))
        if problem:
            raise DataError(f"{name}: invalid Sudoku {format_sudoku(p)}: {problem}")
