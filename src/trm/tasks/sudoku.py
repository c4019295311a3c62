"""Sudoku of any box shape: text, tokens, rules and verifier, symmetries, rendering, and :class:`SudokuTask`.

An N×N Sudoku has boxes of ``box = (rows, cols)`` cells with ``N = rows · cols``: 4×4 uses (2, 2), 6×6 uses
(2, 3) (boxes two rows tall and three columns wide), 9×9 uses (3, 3). Grids are integer arrays [N, N] with
0 for a blank and 1..N for digits; in text a blank is ``.`` (or ``0``, ``_``, ``*``) and digits above 9 are
``A``..``G`` (or the numbers 10..16 where cells are separated). :func:`read_sudoku` reads the forms people write
(rows, commas, drawn grids, .sdk files; docs/DATA.md "Puzzles as text"), :func:`draw_sudoku` draws one for them.

Tokens (docs/DATA.md): PAD 0, blank 1, digit d → d + 1; vocab N + 2; sequence N² in row-major order.

Symmetries (the official "shuffle", any box shape): a permutation of the digits, of the bands and of the rows in
each band, of the stacks and of the columns in each stack, and a transpose where the boxes are square.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import sudoku_solver
from .base import Parsed, Symmetry, Task, TaskInfo
from .errors import OtherSizeError, PuzzleError

DIGITS = ".123456789ABCDEFG"
"""The symbol of each cell value: ``DIGITS[0]`` is the blank, ``DIGITS[d]`` digit d (up to 16)."""

Box = tuple[int, int]

# ----------------------------------------------------------------------------------------------- shape


def check_box(box: Sequence[int]) -> Box:
    """Validate a box shape ``(rows, cols)``; N = rows · cols must be 1..16."""
    try:
        br, bc = (int(v) for v in box)
    except (TypeError, ValueError):
        raise PuzzleError(f"box shape must be two integers (rows, cols), got {box!r}") from None
    if br < 1 or bc < 1 or br * bc > 16:
        raise PuzzleError(f"box shape {br}x{bc} is not supported (need rows, cols >= 1 and rows*cols <= 16)")
    return br, bc


def box_for_size(n: int) -> Box:
    """The usual box shape of an N×N Sudoku: the most square factorisation, rows ≤ cols (6 → (2, 3))."""
    for br in range(int(n**0.5), 0, -1):
        if n % br == 0:
            return br, n // br
    raise PuzzleError(f"no box shape for size {n}")


def side(box: Box) -> int:
    br, bc = check_box(box)
    return br * bc


@functools.lru_cache(maxsize=16)
def units(box: Box) -> tuple[tuple[str, np.ndarray], ...]:
    """(name, flat cell indices) of every row, column and box."""
    br, bc = box
    n = br * bc
    idx = np.arange(n * n).reshape(n, n)
    out = [(f"row {r + 1}", idx[r]) for r in range(n)] + [(f"column {c + 1}", idx[:, c]) for c in range(n)]
    out += [
        (f"box at row {r + 1}, column {c + 1}", idx[r : r + br, c : c + bc].reshape(-1))
        for r in range(0, n, br)
        for c in range(0, n, bc)
    ]
    return tuple(out)


# ----------------------------------------------------------------------------------------------- text

BLANKS = "._*0"
"""The symbols a puzzle may use for a blank cell; ``.`` (``DIGITS[0]``) is the one answers are written with
unless the input used another one throughout."""

_RULE_CHARS = "-=+|*"  # what lines drawn between bands are made of (with box-drawing characters and spaces)
_COLUMN_RULES = str.maketrans({"|": " ", "+": " ", **{chr(c): " " for c in range(0x2500, 0x2580)}})
_FIELDS = re.compile(r"\s*[,;]\s*|\s+")


def cell_symbols(n: int) -> dict[str, int]:
    """The value (0 = blank) of every one-character cell symbol of an N×N Sudoku: :data:`BLANKS`, then
    ``1``..``9`` and ``A``..``G`` (either case) for the digits."""
    return {
        **dict.fromkeys(BLANKS, 0),
        **{DIGITS[d]: d for d in range(1, n + 1)},
        **{DIGITS[d].lower(): d for d in range(10, n + 1)},
    }


def _is_rule(line: str) -> bool:
    """A line drawn between bands (``------+------``, ``|---+---|``, ``*-----*``, ``├──┼──┤``)."""
    drawn = [c for c in line if not c.isspace()]
    return any(c in "-=─━═╌╍┄┅┈┉" for c in drawn) and all(
        c in _RULE_CHARS or "\u2500" <= c < "\u2580" for c in drawn
    )


def _rows(text: str) -> list[str]:
    """The lines of a puzzle that hold cells, with the lines drawn between boxes dropped: blank lines, ``#``
    comment lines, rules between bands and ``[Section]`` headers (reading stops at a header after the cells,
    as an .sdk file's ``[Solution]``); column rules (``|``, ``+``, box drawing) become spaces."""
    rows: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            if rows:
                break
            continue
        if not line or line.startswith("#") or _is_rule(line):
            continue
        line = line.translate(_COLUMN_RULES).strip()
        if line:
            rows.append(line)
    return rows


def _cells(rows: list[str], count: int) -> list[str]:
    """The cells of the puzzle rows: fields between commas or semicolons (an empty one is a blank) if there
    are any; else the words between spaces if there are ``count`` of them (each is a cell: ``10 . 3 16``);
    else every character of them (``12.|4..``)."""
    if any("," in r or ";" in r for r in rows):
        out: list[str] = []
        for r in rows:
            fields = _FIELDS.split(r.strip())
            if len(fields) > 1 and fields[-1] == "" and r.rstrip()[-1] in ",;":
                fields.pop()  # a comma ending the row ends its last cell
            out += fields
        return out
    words = [w for r in rows for w in r.split()]
    return words if len(words) == count else list("".join(words))


def _values(cells: list[str], n: int) -> list[int] | None:
    """The value of each cell (symbol, number 0..N or an empty field), None if one is not a cell of N×N."""
    table = cell_symbols(n)
    out = []
    for c in cells:
        v = table.get(c, 0 if c == "" else int(c) if c.isascii() and c.isdigit() and len(c) < 4 else -1)
        if not 0 <= v <= n:
            return None
        out.append(v)
    return out


def _other_size(rows: list[str], n: int) -> tuple[int, int] | None:
    """(cells, side M) where the rows are a valid M×M Sudoku (M ≠ N, 4..16) with no given repeated."""
    for m in range(4, 17):
        cells = _cells(rows, m * m)
        vals = _values(cells, m) if m != n and len(cells) == m * m else None
        if vals is not None and not repeats(np.array(vals).reshape(m, m), box_for_size(m)):
            return len(cells), m
    return None


def read_sudoku(text: str, box: Box = (3, 3), *, where: str = "") -> tuple[np.ndarray, dict[str, Any]]:
    """A puzzle in any accepted text form (:data:`ACCEPTED_FORMS`) as an int8 grid [N, N], and how it was
    written: ``rows`` (lines holding cells) and ``blank`` (the one blank symbol it used, else ``.``).

    Raises :class:`PuzzleError` (one line) for a wrong number of cells (saying so where the text is a Sudoku
    of another size: :class:`OtherSizeError`), a bad cell or a digit given twice in a unit."""
    br, bc = check_box(box)
    n = br * bc
    prefix = f"{where}: " if where else ""
    table = cell_symbols(n)
    text = text.removeprefix("\ufeff")  # a byte-order mark, as editors on Windows save text
    chars = "".join(text.split())
    if len(chars) == n * n and chars.isascii() and all(c in table for c in set(chars)):  # the common form
        vals: list[int] | None = [table[c] for c in chars]
        cells, rows = list(chars), [ln for ln in text.splitlines() if ln.strip()]
    else:
        rows = _rows(text)
        cells = _cells(rows, n * n)
        if len(cells) != n * n:
            other = _other_size(rows, n)
            if other:
                m = other[1]
                raise OtherSizeError(
                    f"{prefix}a {n}x{n} Sudoku needs {n * n} cells, got {other[0]}: this is a {m}x{m} "
                    f"Sudoku, which a {m}x{m} Sudoku model solves",
                    kind="sudoku",
                    side=m,
                )
            raise PuzzleError(
                f"{prefix}a {n}x{n} Sudoku needs {n * n} cells, got {len(cells)} in {text.strip()[:100]!r}"
            )
        vals = _values(cells, n)
        if vals is None:
            i = next(i for i, c in enumerate(cells) if _values([c], n) is None)
            what = "character" if all(len(c) <= 1 for c in cells) else "cell"
            numbers = f"1..{n} or " if n > 9 and what == "cell" else ""
            raise PuzzleError(
                f"{prefix}bad {what} {cells[i]!r} at cell {i} (row {i // n + 1}, column {i % n + 1}); use "
                f"'.' or '0' for blanks and {numbers}1..{DIGITS[n]} for digits"
            )
    grid = np.array(vals, np.int8).reshape(n, n)
    shown = "".join(cells) if all(len(c) == 1 for c in cells) else format_sudoku(grid)
    check_givens(grid, (br, bc), f"{prefix}invalid Sudoku {shown!r}")
    blanks = {c for c, v in zip(cells, vals, strict=True) if v == 0}
    blank = blanks.pop() if len(blanks) == 1 else "."
    blank = blank if blank in BLANKS else "."
    return grid, {"rows": len(rows), "blank": blank}


def parse_sudoku(text: str, box: Box = (3, 3), *, where: str = "") -> np.ndarray:
    """A puzzle in any accepted text form (:func:`read_sudoku`) as an int8 grid [N, N]."""
    return read_sudoku(text, box, where=where)[0]


def format_sudoku(grid: np.ndarray) -> str:
    """The grid as a string of N² characters, ``.`` for blanks."""
    return "".join(DIGITS[int(v)] for v in np.asarray(grid).reshape(-1))


def draw_sudoku(grid: np.ndarray, box: Box) -> str:
    """The grid drawn for a person: cells separated by spaces, boxes by ``|`` and ``-------+-------`` lines
    (:func:`render_grid` without trailing spaces); :func:`read_sudoku` reads it back."""
    return "\n".join(line.rstrip() for line in render_grid(np.asarray(grid), box))


def as_grid(grid: np.ndarray | str, box: Box) -> np.ndarray:
    """A puzzle given as text or as an array, checked: int8 [N, N]."""
    if isinstance(grid, str):
        return parse_sudoku(grid, box)
    n = side(box)
    g = np.asarray(grid)
    if g.size != n * n:
        raise PuzzleError(f"a {n}x{n} Sudoku needs {n * n} cells, got an array of shape {g.shape}")
    g = g.reshape(n, n)
    if g.min() < 0 or g.max() > n:
        raise PuzzleError(f"Sudoku values must be 0..{n}, got {int(g.min())}..{int(g.max())}")
    return g.astype(np.int8)


def render_grid(grid: np.ndarray, box: Box) -> list[str]:
    """Terminal lines of a grid with box borders."""
    br, bc = box
    n = br * bc
    lines = []
    for r in range(n):
        if r and r % br == 0:
            lines.append("+".join(["-" * (2 * bc + 1)] * (n // bc)))
        cells = [("| " if c and c % bc == 0 else "") + DIGITS[int(grid[r, c])] for c in range(n)]
        lines.append(" " + " ".join(cells) + " ")
    return lines


# ----------------------------------------------------------------------------------------------- tokens


def encode(grid: np.ndarray) -> np.ndarray:
    """Tokens of a grid (or a batch [..., N, N]): blank → 1, digit d → d + 1; flattened, int64."""
    g = np.asarray(grid)
    flat = g.reshape(*g.shape[:-2], -1) if g.ndim >= 2 else g
    return flat.astype(np.int64) + 1


def decode(tokens: np.ndarray) -> np.ndarray:
    """Grid(s) [..., N, N] from tokens [..., N²]; PAD (0) and anything outside the digit range reads as blank."""
    t = np.asarray(tokens).astype(np.int64)
    n = int(round(t.shape[-1] ** 0.5))
    if n * n != t.shape[-1]:
        raise PuzzleError(f"{t.shape[-1]} tokens do not form a square grid")
    g = t - 1
    g[(g < 0) | (g > n)] = 0
    return g.reshape(*t.shape[:-1], n, n).astype(np.int8)


# ----------------------------------------------------------------------------------------------- rules


def unit_counts(grids: np.ndarray, box: Box) -> np.ndarray:
    """[M, U, N + 1]: how often each value 0..N occurs in each unit of each grid [M, N, N] (units as in
    :func:`units`: rows, columns, boxes). Values outside 0..N count as blanks."""
    n = box[0] * box[1]
    idx = np.stack([cells for _, cells in units(box)])  # [U, N]
    g = np.asarray(grids).reshape(-1, n * n).astype(np.int64)
    vals = np.where((g < 0) | (g > n), 0, g)[:, idx]
    offsets = np.arange(len(g) * len(idx)).reshape(len(g), len(idx), 1) * (n + 1)
    return np.bincount((vals + offsets).ravel(), minlength=vals.shape[0] * len(idx) * (n + 1)).reshape(
        len(g), len(idx), n + 1
    )


def repeats(grid: np.ndarray, box: Box) -> list[tuple[int, int, int, str]]:
    """(unit index, digit, count, unit name) of the first digit that appears more than once, for every unit
    that has one."""
    out = []
    for u, ((name, _), row) in enumerate(zip(units(box), unit_counts(grid, box)[0], strict=True)):
        dup = np.flatnonzero(row[1:] > 1)
        if dup.size:
            out.append((u, int(dup[0]) + 1, int(row[dup[0] + 1]), name))
    return out


def check_givens(grid: np.ndarray, box: Box, what: str) -> None:
    """Raise :class:`PuzzleError` ``"<what>: digit d appears twice in <unit>"`` for a repeated given."""
    for _, d, _, name in repeats(grid, box)[:1]:
        raise PuzzleError(
            f"{what}: digit {DIGITS[d]} appears twice in {'the ' * name.startswith('box')}{name}"
        )


def repeated_givens(grids: np.ndarray, box: Box) -> np.ndarray:
    """For a batch [M, N, N]: True where some digit appears twice in a row, column or box."""
    box = check_box(box)
    g = np.asarray(grids).reshape(-1, side(box) ** 2)
    return np.concatenate(
        [(unit_counts(g[i : i + 4096], box)[..., 1:] > 1).any((1, 2)) for i in range(0, len(g), 4096)]
        or [np.zeros(0, bool)]
    )


def valid_solutions(puzzles: np.ndarray, answers: np.ndarray, box: Box) -> np.ndarray:
    """For batches [M, N, N]: True where the answer is complete, obeys every rule and keeps every given."""
    n = side(box)
    p, a = np.asarray(puzzles).reshape(-1, n * n), np.asarray(answers).reshape(-1, n * n)
    complete = ((a >= 1) & (a <= n)).all(1)
    return complete & ((p == 0) | (p == a)).all(1) & ~repeated_givens(a, box)


def is_valid_solution(puzzle: np.ndarray | str, answer: np.ndarray | str, box: Box = (3, 3)) -> bool:
    """True if ``answer`` is a complete grid obeying every rule and agreeing with every given of ``puzzle``."""
    try:
        p, a = as_grid(puzzle, box), as_grid(answer, box)
    except PuzzleError:
        return False
    return bool(valid_solutions(p, a, box)[0])


def check_sudoku(givens: np.ndarray, answer: np.ndarray, box: Box, limit: int = 5) -> list[str]:
    """Problems with ``answer`` as a solution of ``givens`` (both [N, N], 0 = blank): blanks left, givens
    changed, digits repeated in a row, column or box (at most ``limit`` of each). Empty: a valid solution."""
    n = box[0] * box[1]
    g, a = np.asarray(givens).reshape(n, n), np.asarray(answer).reshape(n, n)
    errors: list[str] = []
    blanks = np.argwhere((a < 1) | (a > n))
    if len(blanks):
        errors.append(
            f"{len(blanks)} cell(s) not filled with a digit 1..{DIGITS[n]} (first at row "
            f"{blanks[0][0] + 1}, column {blanks[0][1] + 1})"
        )
    for r, c in np.argwhere((g != 0) & (g != a))[:limit]:
        errors.append(
            f"given {DIGITS[g[r, c]]} at row {r + 1}, column {c + 1} was changed to "
            f"{DIGITS[max(int(a[r, c]), 0)]}"
        )
    for u, d, k, name in repeats(a, box):  # units in order until more than ``limit`` problems are listed
        if len(errors) > limit and u > 0:
            break
        errors.append(f"digit {DIGITS[d]} appears {k} times in {name}")
    return errors


# ----------------------------------------------------------------------------------------------- solving


def solve_and_rate(
    grid: np.ndarray | str, box: Box = (3, 3), limit: int = 2
) -> tuple[int, np.ndarray | None, int]:
    """(solutions counted up to ``limit``, the first one, branchings to find it: the rating)."""
    box = check_box(box)
    return sudoku_solver.solve_and_rate(as_grid(grid, box), box, limit)


def solve(grid: np.ndarray | str, box: Box = (3, 3), limit: int = 2) -> tuple[int, np.ndarray | None]:
    """Count the solutions up to ``limit`` (exact) and return the first; ``solve(p, box)[0] == 1``: unique."""
    count, first, _ = solve_and_rate(grid, box, limit)
    return count, first


def rate(grid: np.ndarray | str, box: Box = (3, 3)) -> int:
    """Difficulty: branchings the propagating solver makes to find the first solution (0 = singles suffice)."""
    return solve_and_rate(grid, box, 1)[2]


def is_minimal(puzzle: np.ndarray | str, box: Box = (3, 3)) -> bool:
    """True if the puzzle has a unique solution and no given can be removed keeping it unique."""
    box = check_box(box)
    p = as_grid(puzzle, box)
    count, sol = solve(p, box, 2)
    return count == 1 and sol is not None and sudoku_solver.is_minimal(p, sol, box)


# ----------------------------------------------------------------------------------------------- symmetry


@dataclass(frozen=True)
class SudokuTransform:
    """One symmetry: ``out = digits[transpose?(x)[rows][:, cols]]``; ``digits`` maps 0..N with 0 → 0."""

    digits: np.ndarray
    transpose: bool
    rows: np.ndarray
    cols: np.ndarray

    def apply(self, grid: np.ndarray) -> np.ndarray:
        g = np.asarray(grid)
        return self.digits[(g.T if self.transpose else g)[self.rows][:, self.cols]].astype(np.int8)

    def inverse(self, grid: np.ndarray) -> np.ndarray:
        g = np.argsort(self.digits)[np.asarray(grid)][np.argsort(self.rows)][:, np.argsort(self.cols)]
        return (g.T if self.transpose else g).astype(np.int8)

    def symmetry(self) -> Symmetry:
        """The same transform on token rows (blank and PAD stay, digit token d + 1 → digits[d] + 1)."""
        n = len(self.rows)
        idx = np.arange(n * n).reshape(n, n)
        lut = np.arange(n + 2)
        lut[1:] = self.digits.astype(np.int64) + 1
        return Symmetry((idx.T if self.transpose else idx)[self.rows][:, self.cols].reshape(-1), lut)


def random_transform(box: Box, rng: np.random.Generator) -> SudokuTransform:
    """A random symmetry (transpose only when the boxes are square)."""
    br, bc = check_box(box)
    n = br * bc
    digits = np.concatenate([[0], rng.permutation(np.arange(1, n + 1))]).astype(np.int8)
    transpose = bool(rng.random() < 0.5) if br == bc else False
    rows = np.concatenate([b * br + rng.permutation(br) for b in rng.permutation(n // br)])
    cols = np.concatenate([b * bc + rng.permutation(bc) for b in rng.permutation(n // bc)])
    return SudokuTransform(digits, transpose, rows, cols)


def augment_batch(grids: Sequence[np.ndarray], box: Box, rng: np.random.Generator) -> list[np.ndarray]:
    """One random symmetry per row, applied to several aligned batches (e.g. puzzles and solutions) [M, N, N]."""
    br, bc = check_box(box)
    n = br * bc
    m = len(grids[0])
    digits = np.concatenate(
        [np.zeros((m, 1), np.int64), rng.permuted(np.tile(np.arange(1, n + 1), (m, 1)), axis=1)], axis=1
    )
    transpose = rng.random(m) < 0.5 if br == bc else np.zeros(m, bool)

    def lines(k: int) -> np.ndarray:  # per row: blocks of k lines permuted, and the lines inside each block
        blocks = rng.permuted(np.tile(np.arange(n // k), (m, 1)), axis=1)
        inner = rng.permuted(np.tile(np.arange(k), (m, n // k, 1)), axis=2)
        return (blocks[:, :, None] * k + inner).reshape(m, n)

    rows, cols = lines(br), lines(bc)
    out = []
    for g in grids:
        g = np.asarray(g)
        g = np.where(transpose[:, None, None], g.transpose(0, 2, 1), g)
        g = g[np.arange(m)[:, None, None], rows[:, :, None], cols[:, None, :]]
        out.append(
            np.take_along_axis(digits, g.reshape(m, -1).astype(np.int64), axis=1)
            .reshape(m, n, n)
            .astype(np.int8)
        )
    return out


# ----------------------------------------------------------------------------------------------- task


class SudokuTask(Task):
    """N×N Sudoku text in any form of :func:`read_sudoku` (one line, one row per line, spaced or comma-separated
    cells, drawn grids, .sdk files) or integer grids. The answer is written like the input: one line per row
    if the input had N rows of cells, its blank symbol (``0``, ``_``, ``*``) if it used one;
    :meth:`display` draws it as a grid for a person."""

    kind = "sudoku"
    title = "Sudoku"
    description = "Sudoku (fill the grid so every row, column and box holds each digit once)"
    limitation = (
        "The network's own answers are not guaranteed to be valid Sudokus; the solvers (CLI, Python, service, "
        "MCP, browser) return an answer only when the Sudoku verifier accepts it (`verified`), else "
        "'no verified answer' (docs/VERIFIED.md)."
    )
    puzzle_help = (
        "the Sudoku as text (N*N characters row by row, '.' or '0' blank; or one row per line, cells separated "
        "by spaces or commas, grids drawn with |, - and + lines), or a grid of integers (0 blank)"
    )
    puzzle_type = str | list[list[int]]
    tool_name = "solve_sudoku"
    checked_by = "the Sudoku verifier"
    verifier_metric = "valid_accuracy"

    @classmethod
    def resolve(cls, seq_len: int, vocab_size: int, box: Any = None) -> TaskInfo:
        """A box defaults to the most square one: 16 -> 2x2, 36 -> 2x3, 81 -> 3x3."""
        side = cls.square_side(seq_len)
        box = check_box(box) if box is not None else box_for_size(side)
        if box[0] * box[1] != side:
            raise PuzzleError(f"Sudoku box {box[0]}x{box[1]} does not fit a {side}x{side} grid")
        if vocab_size != side + 2:
            raise PuzzleError(f"a {side}x{side} Sudoku model needs vocab_size {side + 2}, got {vocab_size}")
        return TaskInfo(cls.kind, side, box)

    def __init__(self, info: TaskInfo):
        self.info = info
        self.box = check_box(info.box or box_for_size(info.side))
        self.n = info.side
        self.seq_len, self.vocab = self.n * self.n, self.n + 2

    def parse(self, puzzle: Any) -> Parsed:
        n = self.n
        if isinstance(puzzle, str):
            grid, how = read_sudoku(puzzle, self.box)
            layout = {"lines": how["rows"] == n, "blank": how["blank"]}
            text = puzzle
        else:
            try:
                arr = np.asarray(puzzle)
            except (TypeError, ValueError, OverflowError, RecursionError):
                raise PuzzleError(f"a {n}x{n} Sudoku is a string or a rectangular grid of integers") from None
            if arr.size != n * n or not np.issubdtype(arr.dtype, np.integer):
                raise PuzzleError(f"a {n}x{n} Sudoku grid needs {n * n} integer cells, got shape {arr.shape}")
            grid = as_grid(arr, self.box)
            check_givens(grid, self.box, "invalid Sudoku")
            text, layout = format_sudoku(grid), {"lines": False, "blank": ".", "grid": True}
        if solve(grid, self.box, limit=1)[0] == 0:
            raise PuzzleError(f"this {n}x{n} Sudoku has no solution (its givens contradict each other)")
        return Parsed(tokens=encode(grid), text=text, layout={**layout, "givens": grid})

    def grid(self, tokens: np.ndarray) -> np.ndarray:
        return decode(np.asarray(tokens))

    def format(self, tokens: np.ndarray, parsed: Parsed) -> str:
        text = format_sudoku(self.grid(tokens))
        if parsed.layout.get("blank", ".") != ".":
            text = text.replace(".", parsed.layout["blank"])
        if parsed.layout.get("lines"):
            return "\n".join(text[r * self.n : (r + 1) * self.n] for r in range(self.n))
        return text

    def display(self, tokens: np.ndarray, parsed: Parsed | None) -> str:
        """The answer drawn as a grid with its boxes (:func:`draw_sudoku`)."""
        return draw_sudoku(self.grid(tokens), self.box)

    def verify(self, parsed: Parsed, tokens: np.ndarray) -> tuple[bool, list[str]]:
        errors = check_sudoku(parsed.layout["givens"], self.grid(tokens), self.box)
        return not errors, errors

    def accepts(self, question: np.ndarray, answer: np.ndarray) -> bool:
        return not check_sudoku(self.grid(question), self.grid(answer), self.box)

    def example_text(self, tokens: np.ndarray) -> str:
        return format_sudoku(self.grid(tokens))

    def givens(self, parsed: Parsed) -> np.ndarray:
        return parsed.layout["givens"] != 0

    def cells(self, tokens: np.ndarray, parsed: Parsed | None) -> np.ndarray:
        return np.array(list(format_sudoku(self.grid(tokens)))).reshape(self.n, self.n)

    def render(self, tokens: np.ndarray, colour: bool = False) -> list[str]:
        return render_grid(self.grid(tokens), self.box)

    def symmetries(self, count: int, seed: int) -> list[Symmetry]:
        rng = np.random.default_rng(seed)
        out = [Symmetry.identity(self.seq_len, self.vocab)]
        while len(out) < count:
            out.append(random_transform(self.box, rng).symmetry())
        return out

    def random_symmetry(self, rng: np.random.Generator) -> Symmetry:
        return random_transform(self.box, rng).symmetry()

    def web_tables(self) -> dict[str, Any]:
        return {
            "encode": {c: int(encode(np.array(v))) for c, v in cell_symbols(self.n).items()},
            "digits": DIGITS,
            "units": [[k, idx.tolist()] for k, idx in units(self.box)],
        }
