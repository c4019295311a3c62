"""Your own grid puzzles (``trm data build grid-pairs``, docs/DATA.md "Your own grid puzzles"): input grid ->
output grid over an alphabet read from the data, checked by exact match. :class:`GridTask` and the reading of a
grid as a user hands it in (shared with the builder, :mod:`trm.data.build.grid`).

A grid is text (rows separated by newlines, or by ``|`` when the text has no newline; one character per cell),
a list of row strings, or a list of rows of tokens (strings or integers; a token may be longer than a
character). What the model needs besides its sequence length and vocabulary is the dataset's ``trm_task.json``
entry ``grid`` (:meth:`GridTask.info_extra`, kept as :attr:`~trm.tasks.base.TaskInfo.extra`): ``alphabet``
(the symbols, sorted; token = offset + index), ``height`` and ``width`` (the grid, or the largest grid of a
padded dataset), ``padded`` and ``numeric`` (every symbol was an integer: list answers are integers).

Tokens. Fixed size (every grid H×W): PAD 0 (unused), symbol i -> 1 + i; sequence H·W, vocabulary 1 + symbols.
Padded (grids of several sizes): the grid sits at the top left of an (H+1)×(W+1) canvas, followed by EOS on the
row below it and the column right of it, PAD elsewhere (ARC's scheme, not square): PAD 0, EOS 1, symbol i ->
2 + i; the answer is the largest top-left rectangle of symbol tokens.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .base import Parsed, Task, TaskInfo
from .errors import PuzzleError

MAX_SYMBOLS = 64  # the largest alphabet a grid dataset may have
MAX_SIDE = 64  # the most rows or columns of a grid
ROW_SEP = "|"  # separates the rows of one-line grid text (newlines always do)
MAX_TEXT = 1 << 20  # the longest grid text read (64x64 cells of tokens up to ~250 characters)
PAD, EOS = 0, 1
FALLBACK = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ@#"  # no dataset info: symbols


def read_grid(value: Any, where: str = "", sep: bool = True) -> tuple[list[list[str]], str]:
    """The rows of symbols of a grid as a user gives it, and its form ("text" or "list"); :class:`PuzzleError`
    (one line, prefixed ``where``) when it is not a non-empty rectangular grid of at most :data:`MAX_SIDE`
    rows and columns. ``sep``: one-line text splits its rows at ``|``."""
    prefix = f"{where}: " if where else ""
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise PuzzleError(f"{prefix}the grid text is longer than {MAX_TEXT:,} characters")
    if isinstance(value, str):
        text = value.replace("\r\n", "\n").removesuffix("\n")
        lines = text.split("\n") if "\n" in text or not sep else text.split(ROW_SEP)
        rows, form = [list(line) for line in lines], "text"
    elif isinstance(value, list):
        rows, form = [], "list"
        for r, row in enumerate(value, 1):
            if isinstance(row, str):
                rows.append(list(row))
            elif isinstance(row, list):
                for c, tok in enumerate(row, 1):
                    if isinstance(tok, bool) or not isinstance(tok, (str, int)) or tok == "":
                        raise PuzzleError(
                            f"{prefix}row {r}, column {c}: a token is a non-empty string or an integer, "
                            f"got {json.dumps(tok)[:40]}"
                        )
                rows.append([str(t) for t in row])
            else:
                raise PuzzleError(
                    f"{prefix}row {r}: a grid row is a string or a list of tokens, got {type(row).__name__}"
                )
    else:
        raise PuzzleError(
            f"{prefix}a grid is text, a list of row strings or a list of token rows, got {type(value).__name__}"
        )
    if not rows or not rows[0]:
        raise PuzzleError(f"{prefix}the grid is empty")
    width = len(rows[0])
    for r, row in enumerate(rows, 1):
        if len(row) != width:
            raise PuzzleError(f"{prefix}ragged grid: row {r} has {len(row)} cells, row 1 has {width}")
    if len(rows) > MAX_SIDE or width > MAX_SIDE:
        raise PuzzleError(
            f"{prefix}the grid is {len(rows)}x{width}; at most {MAX_SIDE} rows and {MAX_SIDE} columns"
        )
    return rows, form


def canvas_shape(height: int, width: int, padded: bool) -> tuple[int, int]:
    """The token grid of a model whose grids are (up to) height×width."""
    return (height + 1, width + 1) if padded else (height, width)


def encode(codes: np.ndarray, height: int, width: int, padded: bool) -> np.ndarray:
    """Token row of a grid of symbol indices [h, w] (fixed: exactly height×width; padded: at most)."""
    g = np.asarray(codes, dtype=np.int64)
    if not padded:
        return g.reshape(-1) + 1
    h, w = g.shape
    out = np.full(canvas_shape(height, width, True), PAD, np.int64)
    out[:h, :w] = g + 2
    out[h, :w] = EOS
    out[:h, w] = EOS
    return out.reshape(-1)


def crop(tokens: np.ndarray, height: int, width: int) -> np.ndarray:
    """Symbol indices of a padded canvas's grid: the largest top-left rectangle of symbol tokens (the fewest
    rows on ties), minus 2; an empty rectangle gives a 0×0 grid."""
    rows, cols = canvas_shape(height, width, True)
    t = np.asarray(tokens, dtype=np.int64).reshape(rows, cols)
    ok = t >= 2
    width_ = np.minimum.accumulate(np.where(ok.all(1), cols, np.argmin(ok, axis=1)))
    area = width_ * np.arange(1, rows + 1)
    h = int(np.argmax(area)) + 1
    w = int(width_[h - 1]) if area[h - 1] else 0
    return t[: h if w else 0, :w] - 2


class GridTask(Task):
    """Input grid -> output grid over the dataset's alphabet (``trm data build grid-pairs``); exact match is the
    only check (no verifier)."""

    kind = "grid"
    title = "grid puzzle"
    description = "Your own grid puzzles (input grid -> output grid over the dataset's symbols; exact match)"
    limitation = (
        "No verifier: an answer is only as good as the model's exact-match accuracy on held-out pairs."
    )
    puzzle_help = (
        "the input grid: text with one row per line (or rows separated by '|'), one character per cell; or a "
        "JSON list of row strings or of rows of tokens"
    )
    puzzle_type = str | list[str] | list[list[str | int]]
    puzzle_noun = "a grid"
    tool_name = "solve_grid"
    checked_by = "exact match with the label"

    @classmethod
    def info_extra(cls, data_info: Mapping[str, Any]) -> dict[str, Any] | None:
        grid = data_info.get("grid")
        return dict(grid) if isinstance(grid, Mapping) else None

    @classmethod
    def resolve(cls, seq_len: int, vocab_size: int, box: Any = None) -> TaskInfo:
        side = math.isqrt(seq_len)
        return TaskInfo(cls.kind, side if side * side == seq_len else 0)

    @classmethod
    def create(cls, info: TaskInfo, seq_len: int, vocab_size: int) -> Task:
        return cls(info, seq_len, vocab_size)

    def __init__(self, info: TaskInfo, seq_len: int, vocab_size: int):
        self.info, self.seq_len, self.vocab = info, seq_len, vocab_size
        extra = dict(info.extra or {})
        if not extra:  # a bare model (no dataset info): a square fixed grid of the fallback symbols
            side = self.square_side(seq_len)
            if not 2 <= vocab_size <= len(FALLBACK) + 1:
                raise PuzzleError(
                    f"a grid model without its dataset info needs 2..{len(FALLBACK) + 1} tokens"
                )
            extra = {"alphabet": list(FALLBACK[: vocab_size - 1]), "height": side, "width": side}
        try:
            self.alphabet = [str(s) for s in extra["alphabet"]]
            self.height, self.width = int(extra["height"]), int(extra["width"])
        except (KeyError, TypeError, ValueError):
            raise PuzzleError("a grid model's info needs alphabet, height and width") from None
        self.padded, self.numeric = bool(extra.get("padded")), bool(extra.get("numeric"))
        self.offset = 2 if self.padded else 1
        rows, cols = canvas_shape(self.height, self.width, self.padded)
        if rows * cols != seq_len or len(self.alphabet) + self.offset != vocab_size:
            raise PuzzleError(
                f"a grid model of {'grids up to ' if self.padded else ''}{self.height}x{self.width} over "
                f"{len(self.alphabet)} symbols has seq_len {rows * cols} and vocab {len(self.alphabet) + self.offset}, "
                f"this one {seq_len} and {vocab_size}"
            )
        self.codes = {s: i for i, s in enumerate(self.alphabet)}
        self.wide = any(len(s) != 1 for s in self.alphabet)  # text rows are space-separated tokens
        self.sep = ROW_SEP not in self.codes

    def label(self) -> str:
        return f"{'up to ' if self.padded else ''}{self.height}x{self.width} grid"

    def _symbols(self) -> str:
        shown = " ".join(json.dumps(s) for s in self.alphabet[:20])
        return shown + (f" ... ({len(self.alphabet)} in all)" if len(self.alphabet) > 20 else "")

    def parse(self, puzzle: Any) -> Parsed:
        value = puzzle
        if isinstance(puzzle, str) and len(puzzle) > MAX_TEXT:
            raise PuzzleError(f"the grid text is longer than {MAX_TEXT:,} characters")
        if isinstance(puzzle, str) and puzzle.lstrip().startswith("["):
            try:
                value = json.loads(puzzle)
            except (json.JSONDecodeError, RecursionError):
                value = puzzle  # a row that starts with '[': text
        form = "text" if isinstance(value, str) else "list"
        if isinstance(value, list) and value and all(isinstance(row, str) for row in value):
            form = "rows"  # a list of row strings: the answer is one too
        if isinstance(value, str) and self.wide:
            lines = value.replace("\r\n", "\n").removesuffix("\n")
            split = lines.split("\n") if "\n" in lines or not self.sep else lines.split(ROW_SEP)
            value = [line.split() for line in split]
        rows, _ = read_grid(value, sep=self.sep)
        h, w = len(rows), len(rows[0])
        if (h, w) != (self.height, self.width) and (not self.padded or h > self.height or w > self.width):
            size = f"up to {self.height}x{self.width}" if self.padded else f"{self.height}x{self.width}"
            raise PuzzleError(f"the grid is {h}x{w}; this model takes grids of {size}")
        codes = np.zeros((h, w), np.int64)
        for r, row in enumerate(rows):
            for c, sym in enumerate(row):
                code = self.codes.get(sym)
                if code is None:
                    raise PuzzleError(
                        f"unknown symbol {json.dumps(sym)} at row {r + 1}, column {c + 1}; the model's symbols: "
                        f"{self._symbols()}"
                    )
                codes[r, c] = code
        text = puzzle if isinstance(puzzle, str) else json.dumps(puzzle)
        one_line = isinstance(puzzle, str) and "\n" not in puzzle.strip("\n") and h > 1
        layout = {"h": h, "w": w, "form": form, "sep": ROW_SEP if one_line else "\n"}
        return Parsed(tokens=encode(codes, self.height, self.width, self.padded), text=text, layout=layout)

    def grid(self, tokens: np.ndarray) -> list[list[str]]:
        """The answer's rows of symbols (a token that is no symbol reads ``?``)."""
        t = np.asarray(tokens, dtype=np.int64).reshape(-1)
        if self.padded:
            codes = crop(t, self.height, self.width)
        else:
            codes = t.reshape(self.height, self.width) - self.offset
        n = len(self.alphabet)
        return [[self.alphabet[c] if 0 <= c < n else "?" for c in row] for row in codes.tolist()]

    def _text(self, rows: list[list[str]], sep: str = "\n") -> str:
        return sep.join((" " if self.wide else "").join(row) for row in rows)

    def format(self, tokens: np.ndarray, parsed: Parsed) -> str:
        rows = self.grid(tokens)
        if parsed.layout.get("form") == "rows" and not self.wide:
            return json.dumps(["".join(row) for row in rows])
        if parsed.layout.get("form") in ("list", "rows"):
            ints = self.numeric and all(s.lstrip("-").isdigit() for row in rows for s in row)
            return json.dumps([[int(s) for s in row] if ints else row for row in rows])
        return self._text(rows, parsed.layout.get("sep", "\n"))

    def cells(self, tokens: np.ndarray, parsed: Parsed | None) -> np.ndarray:
        rows = self.grid(tokens)
        if not rows or not rows[0]:
            return np.full((1, 1), "?")
        return np.array([[s[0] for s in row] for row in rows])

    def example_text(self, tokens: np.ndarray) -> str:
        return self._text(self.grid(tokens))

    def render(self, tokens: np.ndarray, colour: bool = False) -> list[str]:
        rows = self.grid(tokens)
        return self._text(rows).split("\n") if rows and rows[0] else ["(empty)"]

    @classmethod
    def example_puzzle(cls, info: TaskInfo, seed: int, data_info: Mapping[str, Any]) -> Any:
        """One of the training inputs the dataset keeps as examples (``examples`` in trm_task.json)."""
        examples = data_info.get("examples")
        if not isinstance(examples, list) or not examples:
            return None
        return examples[seed % len(examples)]


FAMILY = GridTask
