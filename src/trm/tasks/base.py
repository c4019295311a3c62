"""The interface every puzzle family implements: :class:`Task`, what it parses to (:class:`Parsed`), what it
is (:class:`TaskInfo`) and its symmetries as token transforms (:class:`Symmetry`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PuzzleError


@dataclass(frozen=True)
class TaskInfo:
    """What a model solves: ``kind`` (sudoku, maze, arc or custom), the grid ``side`` N (the sequence is N·N
    tokens), for Sudoku the ``box`` shape (rows, cols), and ``extra``: what else a family needs to read and
    write its puzzles that neither the sequence length nor the vocabulary says (a family declares it with
    :meth:`Task.info_extra`, from its dataset's ``trm_task.json``; JSON values, e.g. a grid family's alphabet
    and shape). ``extra`` travels wherever the info does (checkpoint meta, export manifests)."""

    kind: str
    side: int
    box: tuple[int, int] | None = None
    extra: Mapping[str, Any] | None = field(default=None, hash=False)

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "side": self.side, "box": list(self.box) if self.box else None}
        if self.extra:
            out["extra"] = dict(self.extra)
        return out


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


Rgb = tuple[int, int, int]


class Task:
    """Interface of a puzzle family (see :mod:`trm.tasks`): everything a consumer (solver, evaluator, trainer,
    service, demo, CLI) needs to know about it, so that none of them names a kind. Subclasses set the class
    attributes and implement the methods; docs/EXTENDING.md walks through adding one."""

    kind = "custom"
    title = "custom"  # what a puzzle of the family is called in messages ("a Sudoku", "a maze")
    description = ""  # one line for a model card: the family and what solving means
    limitation = ""  # what a model card should warn about its answers (empty: nothing beyond the common text)
    puzzle_help = "the puzzle as space-separated integer tokens"  # how a puzzle is handed in (schemas, tools)
    puzzle_type: Any = str | list[int]  # its JSON shape, as the Python type the HTTP/MCP schemas are made of
    puzzle_noun = "a puzzle"  # what `trm solve` takes, in the demo's closing hints
    tool_name = "solve_puzzle"  # the MCP tool that solves it
    checked_by = "its label"  # what says an answer is correct, in the demo's verdict
    json_puzzles = False  # puzzles are JSON (grids, task objects): CLI and service text is parsed as JSON
    per_task = False  # puzzles are tasks of several test inputs voted per task (pass@k), not single grids
    headline = "exact_accuracy"  # the report key that says how well a model does
    verifier_metric = ""  # the report key of the share of answers :meth:`accepts` (empty: no such check)
    # drawing: palette = image fill of each cell symbol (a cell whose symbol has none shows as magenta); no
    # palette = white cells with the symbol written. marks = terminal emphasis ("path", "end") of symbols.
    # swatches = cells are colours: the terminal draws each as a two-space block of its palette colour, no gaps
    palette: dict[str, Rgb] = {}
    marks: dict[str, str] = {}
    swatches = False
    info: TaskInfo
    seq_len: int
    vocab: int

    @classmethod
    def resolve(cls, seq_len: int, vocab_size: int, box: Any = None) -> TaskInfo:
        """The :class:`TaskInfo` of a model of this family with this sequence length and vocabulary, checked
        (:class:`PuzzleError` where the family cannot have it)."""
        side = math.isqrt(seq_len)
        return TaskInfo(cls.kind, side if side * side == seq_len else 0)

    @classmethod
    def info_extra(cls, data_info: Mapping[str, Any]) -> dict[str, Any] | None:
        """What of a dataset's ``trm_task.json`` (``data_info``, of this kind) a model of the family needs at
        inference beyond its sequence length and vocabulary (kept as :attr:`TaskInfo.extra`); None: nothing."""
        return None

    @classmethod
    def create(cls, info: TaskInfo, seq_len: int, vocab_size: int) -> Task:
        """The task object of a model whose :meth:`resolve` gave ``info``."""
        return cls(info)  # type: ignore[call-arg]

    @classmethod
    def square_side(cls, seq_len: int) -> int:
        """The grid side N of a family whose puzzles are N×N grids (seq_len = N²)."""
        side = math.isqrt(seq_len)
        if side * side != seq_len:
            raise PuzzleError(f"a {cls.kind} model needs a square sequence length, got seq_len {seq_len}")
        return side

    def label(self) -> str:
        """The puzzles this model solves, with their size ("9x9 sudoku")."""
        side = self.info.side
        return f"{side}x{side} {self.kind}" if side else self.kind

    def read_text(self, text: str) -> Any:
        """A puzzle as text from a command line or request, before :meth:`parse` (JSON families decode it)."""
        return text

    def whole_task(self, puzzle: Any) -> dict[str, Any] | None:
        """A puzzle of several test inputs answered together (read and checked), or None where ``puzzle`` is
        one input for :meth:`parse`."""
        return None

    @classmethod
    def example_puzzle(cls, info: TaskInfo, seed: int, data_info: Mapping[str, Any]) -> Any:
        """A generated puzzle like the training ones (``data_info``: the training dataset's ``trm_task.json``
        when it is of this kind, else ``{}``), or None where the family has no generator: what ``trm serve``'s
        GET /v1/example and the web page show. Numpy only, like the rest of the task layer."""
        return None

    def example_text(self, tokens: np.ndarray) -> Any:
        """An input token row as a user would hand it in (the demo shows held-out puzzles this way)."""
        return " ".join(str(int(t)) for t in np.asarray(tokens).reshape(-1))

    def accepts(self, question: np.ndarray, answer: np.ndarray) -> bool:
        """Whether the answer row to a question row passes :attr:`verifier_metric`'s check (evaluation)."""
        raise NotImplementedError(f"{self.kind} has no verifier metric")

    def web_tables(self) -> dict[str, Any] | None:
        """What the in-browser solver (``trm export --format web``) needs beyond each token's character to
        read, write and verify puzzles (``encode``: the token of every character the parser accepts, and the
        symbols its verifier names); None where the browser cannot solve the family."""
        return None

    def random_symmetry(self, rng: np.random.Generator) -> Symmetry:
        """One symmetry drawn from ``rng`` (on-the-fly augmentation of training rows); families with
        symmetries override it."""
        raise NotImplementedError

    def augmenter(self):
        """The training sampler's on-the-fly augmentation: ``f(inputs, labels, rng) -> (inputs, labels)`` with
        one :meth:`random_symmetry` per batch, drawn from the generator it is given (a seeded sampler stays
        exactly resumable); None where the family draws no symmetries."""
        if type(self).random_symmetry is Task.random_symmetry:
            return None

        def augment_tokens(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
            sym = self.random_symmetry(rng)
            return sym.apply(inputs), sym.apply(labels)

        return augment_tokens

    def parse(self, puzzle: Any) -> Parsed:
        """The model input of a puzzle as a user gives it (text or grid); :class:`PuzzleError` if unreadable."""
        raise NotImplementedError

    def format(self, tokens: np.ndarray, parsed: Parsed) -> str:
        """An answer row as text in the format of the parsed input."""
        raise NotImplementedError

    def display(self, tokens: np.ndarray, parsed: Parsed | None) -> str:
        """An answer row drawn for a person to read (``trm solve``'s answer without ``--json``); the families
        whose :meth:`format` is already a drawing keep it."""
        return self.format(tokens, parsed)  # type: ignore[arg-type]

    def verify(self, parsed: Parsed, tokens: np.ndarray) -> tuple[bool | None, list[str]]:
        """(valid, reasons it is not); valid is ``None`` where the task has no symbolic verifier."""
        return None, []

    def cells(self, tokens: np.ndarray, parsed: Parsed | None) -> np.ndarray:
        """The answer as a 2-D grid of one-character strings, for drawing."""
        raise NotImplementedError

    def givens(self, parsed: Parsed) -> np.ndarray | None:
        """Which cells of :meth:`cells` the puzzle gave (drawn dim), or None where the family has no givens."""
        return None

    def render(self, tokens: np.ndarray, colour: bool = False) -> list[str]:
        """Terminal lines of a token row (input or label)."""
        return [" ".join(str(int(t)) for t in np.asarray(tokens).reshape(-1))]

    def show_example(self, inputs: np.ndarray, labels: np.ndarray, colour: bool = False) -> str:
        """A dataset example (input row -> label row, ignored labels blank) for ``trm data show``."""
        return side_by_side(self.render(inputs, colour), self.render(np.where(labels < 0, 0, labels), colour))

    def symmetries(self, count: int, seed: int) -> list[Symmetry]:
        """``count`` symmetries drawn with ``seed`` (as many as exist if fewer); the first is the identity."""
        return [Symmetry.identity(self.seq_len, self.vocab)]


def alphabet(token_of) -> dict[str, int]:
    """The token of every printable ASCII character that ``token_of`` (a parse) accepts."""
    out = {}
    for c in map(chr, range(32, 127)):
        try:
            out[c] = int(token_of(c))
        except PuzzleError:
            pass
    return out


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

    @classmethod
    def info_extra(cls, data_info: Mapping[str, Any]) -> dict[str, Any] | None:
        """What of a dataset's ``trm_task.json`` (``data_info``, of this kind) a model of the family needs at
        inference beyond its sequence length and vocabulary (kept as :attr:`TaskInfo.extra`); None: nothing."""
        return None

    @classmethod
    def create(cls, info: TaskInfo, seq_len: int, vocab_size: int) -> Task:
        return cls(info, seq_len, vocab_size)

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

    def show_example(self, inputs: np.ndarray, labels: np.ndarray, colour: bool = False) -> str:
        return f"inputs: {np.asarray(inputs).tolist()}\nlabels: {np.asarray(labels).tolist()}"
