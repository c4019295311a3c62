"""Task codecs: puzzle text <-> model tokens, symmetries as token transforms, and what the task is.

A codec turns what a user types (a Sudoku string, a maze drawn in text, an ARC task) into token rows for the
model and the model's token rows back into the same text format. Sudoku and Maze symmetries are expressed as
:class:`TokenTransform` (a permutation of positions plus a relabelling of tokens) so that augmentation voting
works on whole batches of token rows.

Token schemes (SPEC §6): Sudoku PAD 0, blank 1, digit d -> d + 1; Maze PAD 0, ``# SGo`` -> 1..5; ARC PAD 0,
EOS 1, colour c -> c + 2 on a 30x30 canvas.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import arc, maze
from ..data import sudoku as sd
from ..utils import TRMError

# ------------------------------------------------------------------------------------------------ task info


@dataclass(frozen=True)
class TaskInfo:
    """What a model solves: ``kind`` (sudoku, maze, arc or custom), the grid ``side`` N (the sequence is N·N
    tokens) and, for Sudoku, the ``box`` shape (rows, cols)."""

    kind: str
    side: int
    box: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "side": self.side, "box": list(self.box) if self.box else None}


def task_info(cfg, meta: dict[str, Any] | None = None, data_info: dict[str, Any] | None = None) -> TaskInfo:
    """The task of a model, from (in order of precedence) a dataset's task info, the checkpoint's meta
    (``meta["task_info"]``), and its config: ``cfg.task`` names the kind; the grid side follows from
    ``cfg.model.seq_len`` = N² (Sudoku: 16 -> 4x4 with 2x2 boxes, 36 -> 6x6 with 2x3, 81 -> 9x9 with 3x3)."""
    info: dict[str, Any] = {}
    for source in ((meta or {}).get("task_info"), data_info):
        if isinstance(source, dict):
            info.update({k: v for k, v in source.items() if v is not None})
    kind = str(info.get("kind") or info.get("task") or "custom")
    if kind == "custom":  # a dataset without a task file says "custom": the config may know better
        kind = cfg.task
    seq_len = cfg.model.seq_len
    side = math.isqrt(seq_len)
    if kind in ("sudoku", "maze", "arc") and side * side != seq_len:
        raise TRMError(f"a {kind} model needs a square sequence length, got seq_len {seq_len}")
    if kind == "sudoku":
        box = info.get("box")
        box = sd.check_box(box) if box is not None else sd.box_for_size(side)
        if box[0] * box[1] != side:
            raise TRMError(f"Sudoku box {box[0]}x{box[1]} does not fit a {side}x{side} grid")
        if cfg.model.vocab_size != side + 2:
            raise TRMError(f"a {side}x{side} Sudoku model needs vocab_size {side + 2}, got {cfg.model.vocab_size}")
        return TaskInfo("sudoku", side, (int(box[0]), int(box[1])))
    if kind == "maze":
        return TaskInfo("maze", side)
    if kind == "arc":
        if side != ARC_SIDE:
            raise TRMError(f"an ARC model needs seq_len {ARC_SIDE * ARC_SIDE}, got {seq_len}")
        return TaskInfo("arc", side)
    return TaskInfo("custom", side if side * side == seq_len else 0)


# ------------------------------------------------------------------------------------------------ transforms


@dataclass(frozen=True)
class TokenTransform:
    """``out[:, i] = tokens[x[:, perm[i]]]``: a permutation of positions and a relabelling of token values."""

    perm: np.ndarray  # [S] source position of each output position
    tokens: np.ndarray  # [V] new value of each token

    @staticmethod
    def identity(seq_len: int, vocab: int) -> TokenTransform:
        return TokenTransform(np.arange(seq_len), np.arange(vocab))

    def inverse(self) -> TokenTransform:
        return TokenTransform(np.argsort(self.perm), np.argsort(self.tokens))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Transform token rows [..., S]."""
        perm = torch.as_tensor(self.perm, device=x.device)
        lut = torch.as_tensor(self.tokens, device=x.device, dtype=x.dtype)
        return lut[x.index_select(-1, perm).long()]

    @property
    def is_identity(self) -> bool:
        return bool((self.perm == np.arange(len(self.perm))).all() and (self.tokens == np.arange(len(self.tokens))).all())


# ------------------------------------------------------------------------------------------------ puzzles


@dataclass
class Puzzle:
    """A parsed puzzle: the model's input tokens and what is needed to print an answer like the input."""

    tokens: np.ndarray  # [S] int64
    text: str  # the input as given
    layout: dict[str, Any] = field(default_factory=dict)


class Codec:
    """Interface of a task codec."""

    info: TaskInfo
    vocab: int

    def parse(self, puzzle: Any) -> Puzzle:
        raise NotImplementedError

    def format(self, tokens: np.ndarray, puzzle: Puzzle) -> str:
        raise NotImplementedError

    def verify(self, puzzle: Puzzle, tokens: np.ndarray) -> tuple[bool | None, list[str]]:
        """(valid, reasons it is not). ``None`` when the task has no symbolic verifier."""
        return None, []

    def cells(self, tokens: np.ndarray, puzzle: Puzzle) -> np.ndarray:
        """The answer as a 2-D grid of symbols for drawing (strings of length 1)."""
        raise NotImplementedError

    def transforms(self, count: int, seed: int) -> list[TokenTransform]:
        """``count`` symmetries; the first is the identity."""
        return [TokenTransform.identity(self.info.side**2, self.vocab)][:max(count, 1)]


class SudokuCodec(Codec):
    """N×N Sudoku strings (row-major, ``.`` or ``0`` for blanks); rows on separate lines are kept as lines."""

    def __init__(self, info: TaskInfo):
        self.info = info
        self.box = info.box or sd.box_for_size(info.side)
        self.vocab = info.side + 2

    def parse(self, puzzle: Any) -> Puzzle:
        n = self.info.side
        if isinstance(puzzle, str):
            text = puzzle
            grid = sd.parse_sudoku(text, self.box)
            lines = [ln for ln in text.strip().splitlines() if ln.strip()]
            layout = {"lines": len(lines) == n, "blank": "0" if "0" in text and "." not in text else "."}
        else:
            arr = np.asarray(puzzle)
            if arr.size != n * n or not np.issubdtype(arr.dtype, np.integer):
                raise TRMError(f"a {n}x{n} Sudoku grid needs {n * n} integer cells, got shape {arr.shape}")
            text = sd.format_sudoku(arr.reshape(n, n))
            grid = sd.parse_sudoku(text, self.box)
            layout = {"lines": False, "blank": ".", "grid": True}
        count, _ = sd.solve(grid, self.box, limit=1)
        if count == 0:
            raise TRMError(f"this {n}x{n} Sudoku has no solution (its givens contradict each other)")
        return Puzzle(tokens=sd.encode(grid).astype(np.int64), text=text, layout={**layout, "givens": grid})

    def grid(self, tokens: np.ndarray) -> np.ndarray:
        return sd.decode(np.asarray(tokens))

    def format(self, tokens: np.ndarray, puzzle: Puzzle) -> str:
        text = sd.format_sudoku(self.grid(tokens))
        if puzzle.layout.get("blank") == "0":
            text = text.replace(".", "0")
        if puzzle.layout.get("lines"):
            n = self.info.side
            return "\n".join(text[r * n:(r + 1) * n] for r in range(n))
        return text

    def verify(self, puzzle: Puzzle, tokens: np.ndarray) -> tuple[bool, list[str]]:
        from .verify import check_sudoku

        errors = check_sudoku(puzzle.layout["givens"], self.grid(tokens), self.box)
        return not errors, errors

    def cells(self, tokens: np.ndarray, puzzle: Puzzle) -> np.ndarray:
        g = self.grid(tokens)
        return np.array([[sd.format_sudoku(np.array([v])) for v in row] for row in g])

    def transforms(self, count: int, seed: int) -> list[TokenTransform]:
        n, S = self.info.side, self.info.side**2
        out = [TokenTransform.identity(S, self.vocab)]
        rng = np.random.default_rng(seed)
        idx = np.arange(S).reshape(n, n)
        while len(out) < count:
            t = sd.random_transform(self.box, rng)
            pos = (idx.T if t.transpose else idx)[t.rows][:, t.cols].reshape(-1)
            lut = np.arange(self.vocab)
            lut[1:] = t.digits.astype(np.int64) + 1  # blank (token 1) stays blank, digit d -> digits[d]
            out.append(TokenTransform(pos, lut))
        return out


MAZE_CHARS = maze.CHARSET


class MazeCodec(Codec):
    """Mazes drawn in text: ``#`` wall, space open, ``S`` start, ``G`` goal, ``o`` path (ignored in input).

    A maze smaller than the model's N×N is surrounded by walls and cropped back in the answer."""

    def __init__(self, info: TaskInfo):
        self.info = info
        self.vocab = len(MAZE_CHARS) + 1

    def parse(self, puzzle: Any) -> Puzzle:
        n = self.info.side
        if not isinstance(puzzle, str):
            raise TRMError("a maze must be given as text (rows of '#', ' ', 'S', 'G')")
        lines = puzzle.replace("\r\n", "\n").rstrip("\n").split("\n")
        while lines and not lines[0].strip():
            lines.pop(0)
        h = len(lines)
        w = max((len(ln) for ln in lines), default=0)
        if h == 0 or w == 0:
            raise TRMError("the maze is empty")
        if h > n or w > n:
            raise TRMError(f"the maze is {h}x{w} but this model solves mazes up to {n}x{n}")
        for r, ln in enumerate(lines):
            bad = set(ln) - set(MAZE_CHARS)
            if bad:
                raise TRMError(f"maze row {r + 1}: illegal character(s) {sorted(bad)}; use '#', ' ', 'S', 'G' (and 'o')")
        grid = np.full((n, n), "#")
        for r, ln in enumerate(lines):
            row = ln.ljust(w).replace("o", " ")
            grid[r, :w] = list(row)
        for ch, name in (("S", "start"), ("G", "goal")):
            k = int((grid == ch).sum())
            if k != 1:
                raise TRMError(f"the maze needs exactly one {ch} ({name}), found {k}")
        from .verify import maze_distance

        if maze_distance(grid) is None:
            raise TRMError("the maze has no path from S to G")
        tokens = maze.encode(np.vectorize(MAZE_CHARS.index)(grid))
        return Puzzle(tokens=tokens, text=puzzle, layout={"h": h, "w": w, "grid": grid})

    def grid(self, tokens: np.ndarray) -> np.ndarray:
        """Characters [N, N] of token rows; PAD or out-of-range tokens show as ``?``."""
        n = self.info.side
        chars = np.array(["?"] + list(MAZE_CHARS))
        t = np.asarray(tokens).astype(np.int64).reshape(n, n)
        return chars[np.where((t < 0) | (t > len(MAZE_CHARS)), 0, t)]

    def format(self, tokens: np.ndarray, puzzle: Puzzle) -> str:
        g = self.grid(tokens)[: puzzle.layout["h"], : puzzle.layout["w"]]
        return "\n".join("".join(row) for row in g)

    def verify(self, puzzle: Puzzle, tokens: np.ndarray) -> tuple[bool, list[str]]:
        from .verify import check_maze

        errors = check_maze(puzzle.layout["grid"], self.grid(tokens))
        return not errors, errors

    def cells(self, tokens: np.ndarray, puzzle: Puzzle) -> np.ndarray:
        return self.grid(tokens)[: puzzle.layout["h"], : puzzle.layout["w"]]

    def transforms(self, count: int, seed: int) -> list[TokenTransform]:
        n = self.info.side
        idx = np.arange(n * n).reshape(n, n)
        return [TokenTransform(np.ascontiguousarray(arc.dihedral(idx, t)).reshape(-1), np.arange(self.vocab))
                for t in range(min(max(count, 1), 8))]


# ------------------------------------------------------------------------------------------------ ARC

ARC_SIDE = arc.MAX_SIZE
ID_SEPARATOR = arc.SEP


def arc_encode(grid: np.ndarray) -> np.ndarray:
    """A colour grid on the 30x30 canvas at (0, 0), EOS below and right of it: [900] int64."""
    return arc.encode_canvas(np.asarray(grid)).astype(np.int64)


def arc_crop(tokens: np.ndarray) -> np.ndarray:
    """The grid of a predicted canvas (SPEC §7 crop), int64; a 0x0 grid when nothing is there."""
    return arc.crop_canvas(np.asarray(tokens)).astype(np.int64)


@dataclass(frozen=True)
class ArcAugmentation:
    """The augmentation named by an identifier ``task|||t<k>|||<10-digit colour map>`` (a plain name: none)."""

    task: str
    dihedral: int = 0
    colours: tuple[int, ...] = tuple(range(10))

    @staticmethod
    def parse(name: str) -> ArcAugmentation:
        task, t, cmap = arc.parse_identifier(name)
        return ArcAugmentation(task, t, tuple(int(c) for c in cmap))

    @property
    def is_identity(self) -> bool:
        return self.dihedral == 0 and self.colours == tuple(range(10))

    def apply(self, grid: np.ndarray) -> np.ndarray:
        return arc.augment_grid(np.asarray(grid), self.dihedral, np.asarray(self.colours)).astype(np.int64)

    def invert(self, grid: np.ndarray) -> np.ndarray:
        g = np.asarray(grid)
        if g.size == 0:
            return g.astype(np.int64)
        return arc.inverse_augment_grid(g, self.dihedral, np.asarray(self.colours)).astype(np.int64)


def grid_key(grid: np.ndarray) -> bytes:
    g = np.asarray(grid, dtype=np.uint8)
    return bytes([g.shape[0], g.shape[1] if g.ndim == 2 else 0]) + g.tobytes()


def key_grid(key: bytes) -> np.ndarray:
    h, w = key[0], key[1]
    return np.frombuffer(key[2:], dtype=np.uint8).reshape(h, w).astype(np.int64)


def read_arc_task(source: Any) -> dict[str, Any]:
    """An ARC task from a dict, JSON text or a path: ``{"train": [...], "test": [{"input", ["output"]}]}``."""
    if isinstance(source, (str, Path)) and not str(source).lstrip().startswith("{") and Path(source).is_file():
        source = Path(source).read_text()
    if isinstance(source, str):
        try:
            source = json.loads(source)
        except json.JSONDecodeError as e:
            raise TRMError(f"the ARC task is not valid JSON ({e})") from None
    if not isinstance(source, dict) or not isinstance(source.get("test"), list) or not source["test"]:
        raise TRMError("an ARC task needs a non-empty 'test' list of {'input': grid} objects")
    for i, pair in enumerate(source["test"]):
        for key in ("input", "output"):
            if key in pair:
                check_arc_grid(pair[key], f"test[{i}].{key}")
    return source


def check_arc_grid(grid: Any, where: str) -> np.ndarray:
    try:
        g = np.asarray(grid, dtype=np.int64)
    except (TypeError, ValueError):
        raise TRMError(f"{where}: not a rectangular grid of integers") from None
    if g.ndim != 2 or g.size == 0:
        raise TRMError(f"{where}: expected a non-empty 2-D grid, got shape {g.shape}")
    if g.shape[0] > ARC_SIDE or g.shape[1] > ARC_SIDE:
        raise TRMError(f"{where}: grid is {g.shape[0]}x{g.shape[1]}, larger than {ARC_SIDE}x{ARC_SIDE}")
    if g.min() < 0 or g.max() > 9:
        raise TRMError(f"{where}: colours must be 0..9")
    return g


class ArcCodec(Codec):
    """ARC grids: one test input is one puzzle; the answer is a colour grid written as JSON."""

    def __init__(self, info: TaskInfo):
        self.info = info
        self.vocab = 12

    def parse(self, puzzle: Any) -> Puzzle:
        grid = check_arc_grid(puzzle, "input")
        return Puzzle(tokens=arc_encode(grid), text=json.dumps(grid.tolist()), layout={"grid": grid})

    def format(self, tokens: np.ndarray, puzzle: Puzzle) -> str:
        return json.dumps(arc_crop(tokens).tolist())

    def cells(self, tokens: np.ndarray, puzzle: Puzzle | None) -> np.ndarray:
        g = arc_crop(tokens) if np.asarray(tokens).size else np.zeros((0, 0))
        return g.astype(str) if g.size else np.full((1, 1), "?")


class CustomCodec(Codec):
    """Plain token rows: space-separated integers in, the same out."""

    def __init__(self, info: TaskInfo, seq_len: int, vocab: int):
        self.info = info
        self.seq_len = seq_len
        self.vocab = vocab

    def parse(self, puzzle: Any) -> Puzzle:
        try:
            toks = np.asarray(puzzle.split() if isinstance(puzzle, str) else puzzle, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError):
            raise TRMError("a custom-task puzzle is a list of integer tokens") from None
        if toks.size != self.seq_len or toks.min() < 0 or toks.max() >= self.vocab:
            raise TRMError(f"expected {self.seq_len} tokens in 0..{self.vocab - 1}")
        return Puzzle(tokens=toks, text=str(puzzle))

    def format(self, tokens: np.ndarray, puzzle: Puzzle) -> str:
        return " ".join(str(int(t)) for t in np.asarray(tokens).reshape(-1))

    def cells(self, tokens: np.ndarray, puzzle: Puzzle) -> np.ndarray:
        return np.asarray(tokens).reshape(1, -1).astype(str)

    def transforms(self, count: int, seed: int) -> list[TokenTransform]:
        return [TokenTransform.identity(self.seq_len, self.vocab)]


def make_codec(info: TaskInfo, cfg) -> Codec:
    if info.kind == "sudoku":
        return SudokuCodec(info)
    if info.kind == "maze":
        return MazeCodec(info)
    if info.kind == "arc":
        return ArcCodec(info)
    return CustomCodec(info, cfg.model.seq_len, cfg.model.vocab_size)

