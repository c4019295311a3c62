"""N-Queens completion: an N×N board with some queens given; place the rest so that N queens stand with no two
in one row, column or diagonal. Any valid completion counts (:meth:`NQueensTask.verify`).

Text: one character per cell, ``.`` empty, ``Q`` a queen (``q`` also reads as a queen; ``-``, ``_`` and ``0``
as empty), N lines of N characters or one line of N² characters; spaces and tabs are ignored.
Tokens: PAD 0, empty 1, queen 2 (vocab 3, sequence N²), row-major. Boards are int8 arrays [N, N] of 0/1 (queen).

The exact enumerator (:func:`completions`) is a row-by-row backtracking search on bit masks of the attacked
columns and diagonals: the builder stores every completion of every held-out puzzle with it, and it counts
the solutions of the empty board (4×4: 2, 6×6: 4, 8×8: 92, 10×10: 724).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .arc import DIHEDRAL, dihedral
from .base import Parsed, Symmetry, Task, TaskInfo, char_codes
from .errors import PuzzleError

PAD, EMPTY, QUEEN = 0, 1, 2
VOCAB_SIZE = 3
_CHARS = {".": 0, "-": 0, "_": 0, "0": 0, "Q": 1, "q": 1}
DEFAULT_REMOVED = {8: (5, 7), 10: (7, 9)}  # queens removed from a solved board (GRAM's ranges)
SOLVE_CHECK_MAX = 14  # parse proves a completion exists on boards up to this side


def default_removed(n: int) -> tuple[int, int]:
    """The range of queens removed from a solved N×N board: GRAM's 5-7 on 8×8 and 7-9 on 10×10; elsewhere
    from 5/8 to 7/8 of N (at least one queen removed, at least one kept where N > 1)."""
    if n in DEFAULT_REMOVED:
        return DEFAULT_REMOVED[n]
    hi = max(1, min(n - 1, round(7 * n / 8)))
    return min(hi, max(1, round(5 * n / 8))), hi


def completions(board: np.ndarray, limit: int | None = None) -> np.ndarray:
    """Every valid completion of ``board`` (int [N, N], nonzero = a given queen) as column indices [M, N] (row r's
    queen in column ``out[m, r]``), in lexicographic order; at most ``limit``. Givens that attack each other,
    or two in one row, have none."""
    b = np.asarray(board) != 0
    n = b.shape[0]
    if b.ndim != 2 or b.shape[1] != n:
        raise PuzzleError(f"a board must be square, got shape {tuple(b.shape)}")
    fixed = [-1] * n
    for r, c in np.argwhere(b).tolist():
        if fixed[r] >= 0:
            return np.zeros((0, n), np.int8)
        fixed[r] = c
    full = (1 << n) - 1
    out: list[list[int]] = []
    cols = [0] * n

    def place(r: int, used: int, d1: int, d2: int) -> bool:  # d1: r + c diagonals, d2: c - r + n - 1
        if r == n:
            out.append(cols.copy())
            return limit is not None and len(out) >= limit
        free = full & ~(used | (d1 >> r) | (d2 >> (n - 1 - r)))
        if fixed[r] >= 0:
            free &= 1 << fixed[r]
        while free:
            bit = free & -free
            free ^= bit
            c = bit.bit_length() - 1
            cols[r] = c
            if place(r + 1, used | bit, d1 | (1 << (r + c)), d2 | (1 << (c - r + n - 1))):
                return True
        return False

    place(0, 0, 0, 0)
    return np.array(out, np.int8).reshape(-1, n)


def all_solutions(n: int) -> np.ndarray:
    """Every solution of the empty N×N board, as column indices [M, N]."""
    return completions(np.zeros((n, n), np.int8))


def boards(cols: np.ndarray) -> np.ndarray:
    """Boards [..., N, N] (int8, 1 = queen) from column indices [..., N]."""
    cols = np.asarray(cols)
    n = cols.shape[-1]
    return (cols[..., :, None] == np.arange(n)).astype(np.int8)


def attacks(board: np.ndarray) -> list[tuple[tuple[int, int], tuple[int, int], str]]:
    """Pairs of queens of ``board`` that attack each other, each with the line they share."""
    pos = [tuple(p) for p in np.argwhere(np.asarray(board) != 0).tolist()]
    out = []
    for i, (r1, c1) in enumerate(pos):
        for r2, c2 in pos[i + 1 :]:
            line = (
                "row"
                if r1 == r2
                else "column"
                if c1 == c2
                else "diagonal"
                if abs(r1 - r2) == abs(c1 - c2)
                else ""
            )
            if line:
                out.append(((r1, c1), (r2, c2), line))
    return out


def check_board(given: np.ndarray, answer: np.ndarray) -> list[str]:
    """Problems with ``answer`` (int [N, N], 1 = queen; -1 = a cell that holds no board symbol) as a completion
    of ``given``: N queens, no two attacking, every given queen kept. Empty: valid."""
    g, a = np.asarray(given), np.asarray(answer)
    n = g.shape[0]
    errors: list[str] = []
    bad = np.argwhere(a < 0)
    if len(bad):
        return [
            f"{len(bad)} cell(s) hold no board symbol (first at row {bad[0][0] + 1}, column {bad[0][1] + 1})"
        ]
    q = int((a != 0).sum())
    if q != n:
        errors.append(f"{q} queens on the board, a {n}x{n} completion has {n}")
    hits = attacks(a)
    if hits:
        (r1, c1), (r2, c2), line = hits[0]
        errors.append(
            f"{len(hits)} pair(s) of queens attack each other (first: row {r1 + 1} column {c1 + 1} and row "
            f"{r2 + 1} column {c2 + 1}, same {line})"
        )
    lost = np.argwhere((g != 0) & (a == 0))
    if len(lost):
        errors.append(
            f"{len(lost)} given queen(s) missing (first at row {lost[0][0] + 1}, column {lost[0][1] + 1})"
        )
    return errors


def remove_queens(cols: np.ndarray, removed: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A puzzle from a solution (column indices [N]): ``k`` queens removed, k uniform in ``removed`` (lo, hi)."""
    n = len(cols)
    k = int(rng.integers(removed[0], removed[1] + 1))
    keep = np.sort(rng.choice(n, n - k, replace=False))
    board = np.zeros((n, n), np.int8)
    board[keep, np.asarray(cols)[keep]] = 1
    return board


def encode(board: np.ndarray) -> np.ndarray:
    """Token rows [..., N²] of boards [..., N, N]."""
    b = np.asarray(board)
    return (b.reshape(*b.shape[:-2], -1) != 0).astype(np.int64) + EMPTY


def decode(tokens: np.ndarray) -> np.ndarray:
    """Boards [..., N, N] (1 = queen, 0 = empty, -1 = PAD or out of range) of token rows [..., N²]."""
    t = np.asarray(tokens).astype(np.int64)
    n = int(round(t.shape[-1] ** 0.5))
    if n * n != t.shape[-1]:
        raise PuzzleError(f"{t.shape[-1]} tokens do not form a square board")
    out = np.where(t == QUEEN, 1, np.where(t == EMPTY, 0, -1))
    return out.reshape(*t.shape[:-1], n, n).astype(np.int8)


def format_board(board: np.ndarray, flat: bool = False) -> str:
    rows = ["".join("Q" if v > 0 else "." if v == 0 else "?" for v in row) for row in np.asarray(board)]
    return "".join(rows) if flat else "\n".join(rows)


def parse_board(puzzle: Any, n: int) -> np.ndarray:
    """A board int8 [n, n] (1 = queen) from text: n lines of n cells or one line of n² cells."""
    if isinstance(puzzle, (list, tuple)) and all(isinstance(r, str) for r in puzzle):
        puzzle = "\n".join(puzzle)
    if not isinstance(puzzle, str):
        raise PuzzleError("an N-Queens board must be given as text (rows of '.' and 'Q')")
    text = puzzle.replace("\r", "").replace(" ", "").replace("\t", "")
    lines = [ln for ln in text.split("\n") if ln]
    if not lines:
        raise PuzzleError("the board is empty")
    if len(lines) == 1:
        flat = lines[0]
        if len(flat) != n * n:
            raise PuzzleError(f"a one-line board needs {n * n} cells ({n}x{n}), got {len(flat)}")
    else:
        if len(lines) != n or any(len(ln) != n for ln in lines):
            raise PuzzleError(
                f"this model solves {n}x{n} boards; got {len(lines)} rows of lengths "
                f"{sorted({len(ln) for ln in lines})}"
            )
        flat = "".join(lines)
    codes = char_codes(flat, _CHARS, n, "", "allowed: '.' (empty), 'Q' (queen)", "board ")
    return codes.astype(np.int8).reshape(n, n)


class NQueensTask(Task):
    """N-Queens completion on the model's N×N board: queens given as ``Q``, the rest placed by the model."""

    kind = "nqueens"
    title = "N-Queens board"
    description = "N-Queens completion (place the remaining queens so that no two attack each other)"
    limitation = (
        "Most boards have several valid completions and the model was trained on one per board; judge answers "
        "by validity (any completion), not by exact match with the dataset's label."
    )
    puzzle_help = "the board as text: N rows of N cells, '.' empty and 'Q' a given queen"
    puzzle_type = str
    puzzle_noun = "a board"
    tool_name = "solve_nqueens"
    checked_by = "the N-Queens verifier"
    verifier_metric = "valid_accuracy"
    palette = {".": (240, 217, 181), "Q": (40, 40, 40)}

    @classmethod
    def resolve(cls, seq_len: int, vocab_size: int, box: Any = None) -> TaskInfo:
        return TaskInfo(cls.kind, cls.square_side(seq_len))

    def __init__(self, info: TaskInfo):
        self.info, self.n = info, info.side
        self.seq_len, self.vocab = self.n * self.n, VOCAB_SIZE

    def parse(self, puzzle: Any) -> Parsed:
        board = parse_board(puzzle, self.n)
        q = int(board.sum())
        if q > self.n:
            raise PuzzleError(f"{q} queens given; a {self.n}x{self.n} board holds at most {self.n}")
        hits = attacks(board)
        if hits:
            (r1, c1), (r2, c2), line = hits[0]
            raise PuzzleError(
                f"the given queens at row {r1 + 1} column {c1 + 1} and row {r2 + 1} column {c2 + 1} attack "
                f"each other (same {line})"
            )
        if self.n <= SOLVE_CHECK_MAX and not len(completions(board, limit=1)):
            raise PuzzleError("the given queens admit no completion")
        return Parsed(tokens=encode(board), text=str(puzzle), layout={"board": board})

    def format(self, tokens: np.ndarray, parsed: Parsed) -> str:
        return "\n".join("".join(row) for row in self.cells(tokens, parsed))

    def cells(self, tokens: np.ndarray, parsed: Parsed | None) -> np.ndarray:
        b = decode(np.asarray(tokens).reshape(-1)[: self.seq_len])
        return np.array(["?", ".", "Q"])[b + 1]

    def givens(self, parsed: Parsed) -> np.ndarray:
        return np.asarray(parsed.layout["board"]) != 0

    def verify(self, parsed: Parsed, tokens: np.ndarray) -> tuple[bool, list[str]]:
        errors = check_board(parsed.layout["board"], decode(np.asarray(tokens).reshape(-1)))
        return not errors, errors

    def accepts(self, question: np.ndarray, answer: np.ndarray) -> bool:
        given = decode(np.asarray(question).reshape(-1))
        return not check_board(np.where(given > 0, 1, 0), decode(np.asarray(answer).reshape(-1)))

    def example_text(self, tokens: np.ndarray) -> str:
        return format_board(decode(np.asarray(tokens).reshape(-1)))

    def render(self, tokens: np.ndarray, colour: bool = False) -> list[str]:
        return [" ".join(row) for row in self.cells(tokens, None)]

    @classmethod
    def example_puzzle(cls, info: TaskInfo, seed: int, data_info: Mapping[str, Any]) -> str | None:
        n = info.side
        if not 4 <= n <= SOLVE_CHECK_MAX:
            return None
        rng = np.random.default_rng(seed)
        removed = tuple(data_info.get("removed") or default_removed(n))
        sols = all_solutions(n)
        cols = sols[int(rng.integers(len(sols)))]
        return format_board(remove_queens(cols, (int(removed[0]), int(removed[1])), rng))

    def _dihedral(self, t: int) -> Symmetry:
        idx = np.arange(self.seq_len).reshape(self.n, self.n)
        return Symmetry(np.ascontiguousarray(dihedral(idx, t)).reshape(-1), np.arange(self.vocab))

    def symmetries(self, count: int, seed: int) -> list[Symmetry]:
        """The dihedral transforms in the order of :data:`trm.tasks.arc.DIHEDRAL` (at most 8): each maps a valid
        board to a valid board."""
        return [self._dihedral(t) for t in range(min(max(count, 1), len(DIHEDRAL)))]

    def random_symmetry(self, rng: np.random.Generator) -> Symmetry:
        """A dihedral transform, uniformly."""
        return self._dihedral(int(rng.integers(len(DIHEDRAL))))


FAMILY = NQueensTask
