"""The interface every puzzle family implements: :class:`Task`, what it parses to (:class:`Parsed`), what it
is (:class:`TaskInfo`) and its symmetries as token transforms (:class:`Symmetry`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PuzzleError


@dataclass(frozen=True)
class TaskInfo:
    """What a model solves: ``kind`` (sudoku, maze, arc or custom), the grid ``side`` N (the sequence is N·N
    tokens) and, for Sudoku, the ``box`` shape (rows, cols)."""

    kind: str
    side: int
    box: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "side": self.side, "box": list(self.box) if self.box else None}


@dataclass
class Parsed:
    """A puzzle read for the model: its token row, the input as given, what formatting and verifying the
    answer need (``layout``) and its puzzle identifier (``pid``, 0 = blank)."""

    tokens: np.ndarray  # [S] int64
    text: str = ""
    layout: dict[str, Any] = field(default_factory=dict)
    pid: int = 0


@dataclass(frozen=True)
class Symmetry:
    """``out[..., i] = tokens[x[..., perm[i]]]``: a permutation of positions and a relabelling of token values,
    applied to token rows [..., S]. Negative values (the ignore label) pass through unchanged."""

    perm: np.ndarray  # [S] source position of each output position
    tokens: np.ndarray  # [V] new value of each token value

    @staticmethod
    def identity(seq_len: int, vocab: int) -> Symmetry:
        return Symmetry(np.arange(seq_len), np.arange(vocab))

    def inverse(self) -> Symmetry:
        return Symmetry(np.argsort(self.perm), np.argsort(self.tokens))

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        moved = x[..., self.perm]
        mapped = self.tokens[np.clip(moved, 0, len(self.tokens) - 1)]
        return np.where(moved < 0, moved, mapped).astype(x.dtype)

    @property
    def is_identity(self) -> bool:
        return bool(
            (self.perm == np.arange(len(self.perm))).all()
            and (self.tokens == np.arange(len(self.tokens))).all()
        )


def names_file(arg: Any) -> bool:
    """Whether ``arg`` (a command-line argument or a str/Path) names an existing regular file. Text that cannot be
    a path (too long, a NUL byte, not encodable) names none: a puzzle argument is a puzzle unless it names a file."""
    if not isinstance(arg, (str, Path)) or (isinstance(arg, str) and (not arg or len(arg) > 4096)):
        return False
    try:
        return Path(arg).is_file()
    except (OSError, ValueError):
        return False


def char_codes(
    text: str, table: dict[str, int], width: int, prefix: str, allowed: str, kind: str = ""
) -> np.ndarray:
    """The code of every character of ``text`` (a grid ``width`` cells wide, row-major) per ``table``, int16.
    A character without one is a :class:`PuzzleError` "<prefix>bad <kind>character ... at cell i (row r,
    column c); <allowed>"."""
    lut = np.full(256, -1, np.int16)
    lut[[ord(ch) for ch in table]] = list(table.values())
    try:
        codes = lut[np.frombuffer(text.encode("ascii"), np.uint8)]
    except UnicodeEncodeError:
        raise PuzzleError(f"{prefix}non-ASCII character in {kind}{text[:100]!r}") from None
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        i = int(bad[0])
        raise PuzzleError(
            f"{prefix}bad {kind}character {text[i]!r} at cell {i} (row {i // width + 1}, column "
            f"{i % width + 1}); {allowed}"
        )
    return codes


class Task:
    """Interface of a puzzle family (see :mod:`trm.tasks`). Subclasses set ``kind`` and implement the methods."""

    kind = "custom"
    info: TaskInfo
    seq_len: int
    vocab: int

    def parse(self, puzzle: Any) -> Parsed:
        """The model input of a puzzle as a user gives it (text or grid); :class:`PuzzleError` if unreadable."""
        raise NotImplementedError

    def format(self, tokens: np.ndarray, parsed: Parsed) -> str:
        """An answer row as text in the format of the parsed input."""
        raise NotImplementedError

    def verify(self, parsed: Parsed, tokens: np.ndarray) -> tuple[bool | None, list[str]]:
        """(valid, reasons it is not); valid is ``None`` where the task has no symbolic verifier."""
        return None, []

    def cells(self, tokens: np.ndarray, parsed: Parsed | None) -> np.ndarray:
        """The answer as a 2-D grid of one-character strings, for drawing."""
        raise NotImplementedError

    def render(self, tokens: np.ndarray, colour: bool = False) -> list[str]:
        """Terminal lines of a token row (input or label)."""
        return [" ".join(str(int(t)) for t in np.asarray(tokens).reshape(-1))]

    def symmetries(self, count: int, seed: int) -> list[Symmetry]:
        """``count`` symmetries drawn with ``seed`` (as many as exist if fewer); the first is the identity."""
        return [Symmetry.identity(self.seq_len, self.vocab)]


def side_by_side(left: list[str], right: list[str], gap: str = "   ->   ") -> str:
    """Two blocks of lines next to each other, ``gap`` on the middle line."""
    width = max((len(x) for x in left), default=0)
    rows = max(len(left), len(right))
    left = left + [""] * (rows - len(left))
    right = right + [""] * (rows - len(right))
    return "\n".join(
        f"{a:<{width}}{gap if i == rows // 2 else ' ' * len(gap)}{b}"
        for i, (a, b) in enumerate(zip(left, right, strict=False))
    )


class TokensTask(Task):
    """A task without a symbolic form: space-separated integer tokens in, the same out."""

    def __init__(self, info: TaskInfo, seq_len: int, vocab: int):
        self.info, self.seq_len, self.vocab = info, seq_len, vocab

    def parse(self, puzzle: Any) -> Parsed:
        try:
            raw = np.asarray(puzzle.split() if isinstance(puzzle, str) else puzzle)
            if not isinstance(puzzle, str) and (  # integers only: no bools, floats or text
                raw.dtype.kind not in "iu"
                or any(isinstance(v, bool) for v in np.asarray(puzzle, dtype=object).reshape(-1))
            ):
                raise TypeError
            toks = raw.astype(np.int64).reshape(-1)
        except (TypeError, ValueError, OverflowError, RecursionError):
            raise PuzzleError("a custom-task puzzle is a list of integer tokens") from None
        if toks.size != self.seq_len or toks.min() < 0 or toks.max() >= self.vocab:
            raise PuzzleError(f"expected {self.seq_len} tokens in 0..{self.vocab - 1}")
        return Parsed(tokens=toks, text=str(puzzle))

    def format(self, tokens: np.ndarray, parsed: Parsed) -> str:
        return " ".join(str(int(t)) for t in np.asarray(tokens).reshape(-1))

    def cells(self, tokens: np.ndarray, parsed: Parsed | None) -> np.ndarray:
        return np.asarray(tokens).reshape(1, -1).astype(str)
