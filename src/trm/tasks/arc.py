"""ARC (docs/DATA.md): grids and task JSON with clear errors, the 30×30 canvas, augmentations and their inverses,
identifiers, and :class:`ArcTask`.

Canvas tokens: PAD 0, EOS 1, colour c → c + 2 (vocab 12, sequence 900). A grid of h×w placed at (r0, c0)
is followed by EOS on row r0+h (over its columns) and on column c0+w (over its rows), where these lie inside
the canvas. The paper's canvas is 30×30 (every ARC grid fits); a dataset of small grids may use a smaller
square canvas (``arc-small``: grids up to 10×10 on 11×11, 121 tokens), and its model then has seq_len side².
A canvas's side follows from its token count.

Augmentations: a dihedral transform ``t`` in 0..7 (``DIHEDRAL``; inverse ids ``INVERSE_DIHEDRAL``) and a
permutation of colours 1..9 (0 fixed), written as a 10-digit colour map ``m`` (colour c → m[c]); an
augmented grid is ``dihedral(m[grid], t)``. An augmented task's identifier name is
``<task>|||t<t>|||<colour map>``; the original task keeps its plain name.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .base import Parsed, Task, TaskInfo, names_file
from .errors import PuzzleError

MAX_SIZE = 30  # the largest ARC grid, and the paper's canvas
SMALL_SIDE = 10  # arc-small (the CPU demo's subset): tasks whose grids all fit 10×10, on a (10 + 1)² canvas
PAD, EOS, COLOUR0 = 0, 1, 2
VOCAB_SIZE = 12
SEP = "|||"
INVERSE_DIHEDRAL = [0, 3, 2, 1, 4, 5, 6, 7]
DIHEDRAL = [
    lambda a: a,
    lambda a: np.rot90(a, 1),
    lambda a: np.rot90(a, 2),
    lambda a: np.rot90(a, 3),
    np.fliplr,
    np.flipud,
    lambda a: a.T,
    lambda a: np.fliplr(np.rot90(a, 1)),
]
"""Dihedral transforms by id: identity, rotations by 90/180/270 degrees counter-clockwise (``np.rot90``),
left-right flip, up-down flip, transpose, anti-transpose."""
PALETTE = [  # the usual ARC palette (RGB of colours 0..9): terminal swatches and images
    (0, 0, 0),
    (0, 116, 217),
    (255, 65, 54),
    (46, 204, 64),
    (255, 220, 0),
    (170, 170, 170),
    (240, 18, 190),
    (255, 133, 27),
    (127, 219, 255),
    (135, 12, 37),
]


def swatch(colour: int, text: str = "  ") -> str:
    """``text`` on the terminal background of an ARC colour (24-bit ANSI)."""
    r, g, b = PALETTE[colour]
    return f"\x1b[48;2;{r};{g};{b}m{text}\x1b[0m"


def dihedral(grid: np.ndarray, t: int) -> np.ndarray:
    return DIHEDRAL[t](np.asarray(grid))


def inverse_dihedral(grid: np.ndarray, t: int) -> np.ndarray:
    return DIHEDRAL[INVERSE_DIHEDRAL[t]](np.asarray(grid))


def colour_map(colours: np.ndarray | str) -> np.ndarray:
    """A colour permutation of 0..9 from an array or a 10-digit string, checked."""
    if isinstance(colours, str):
        if len(colours) != 10 or not colours.isdigit():
            raise PuzzleError(f"colour map {colours!r} must be 10 digits")
        colours = np.array([int(ch) for ch in colours])
    m = np.asarray(colours).astype(np.uint8)
    if m.shape != (10,) or sorted(m.tolist()) != list(range(10)):
        raise PuzzleError(f"colour map {m.tolist()} is not a permutation of 0..9")
    return m


def augment_grid(grid: np.ndarray, t: int, colours: np.ndarray | str) -> np.ndarray:
    """``dihedral(colours[grid], t)``."""
    return np.ascontiguousarray(dihedral(colour_map(colours)[np.asarray(grid)], t))


def inverse_augment_grid(grid: np.ndarray, t: int, colours: np.ndarray | str) -> np.ndarray:
    """Undo :func:`augment_grid`."""
    inv = np.argsort(colour_map(colours)).astype(np.uint8)
    return np.ascontiguousarray(inv[inverse_dihedral(np.asarray(grid), t)])


def identifier_name(task: str, t: int, colours: np.ndarray | str) -> str:
    m = colour_map(colours)
    if t == 0 and (m == np.arange(10)).all():
        return task
    return f"{task}{SEP}t{t}{SEP}{''.join(str(int(x)) for x in m)}"


def parse_identifier(name: str) -> tuple[str, int, np.ndarray]:
    """(task name, dihedral id, colour map) of an identifier name; a plain name is the identity."""
    if SEP not in name:
        return name, 0, np.arange(10, dtype=np.uint8)
    parts = name.split(SEP)
    if (
        len(parts) != 3
        or not parts[1].startswith("t")
        or not parts[1][1:].isdigit()
        or not 0 <= int(parts[1][1:]) < 8
    ):
        raise PuzzleError(f"identifier {name!r} is not of the form name|||t<0-7>|||<10-digit colour map>")
    return parts[0], int(parts[1][1:]), colour_map(parts[2])


@dataclass(frozen=True)
class ArcAugmentation:
    """The augmentation named by an identifier ``task|||t<k>|||<10-digit colour map>`` (a plain name: none)."""

    task: str
    dihedral: int = 0
    colours: tuple[int, ...] = tuple(range(10))

    @staticmethod
    def parse(name: str) -> ArcAugmentation:
        task, t, cmap = parse_identifier(name)
        return ArcAugmentation(task, t, tuple(int(c) for c in cmap))

    @property
    def is_identity(self) -> bool:
        return self.dihedral == 0 and self.colours == tuple(range(10))

    def apply(self, grid: np.ndarray) -> np.ndarray:
        return augment_grid(np.asarray(grid), self.dihedral, np.asarray(self.colours)).astype(np.int64)

    def invert(self, grid: np.ndarray) -> np.ndarray:
        g = np.asarray(grid)
        if g.size == 0:
            return g.astype(np.int64)
        return inverse_augment_grid(g, self.dihedral, np.asarray(self.colours)).astype(np.int64)


# ----------------------------------------------------------------------------------------------- canvas


def canvas_side(tokens: np.ndarray) -> int:
    """The side of a square canvas of tokens (30 for the paper's 900)."""
    n = np.asarray(tokens).size
    side = math.isqrt(n)
    if side * side != n or not 1 <= side <= MAX_SIZE:
        raise PuzzleError(f"{n} tokens are not a square ARC canvas of side 1..{MAX_SIZE}")
    return side


def canvas_for(side: int) -> int:
    """The canvas side for grids up to side×side: the grids and their EOS border (at most the paper's 30)."""
    return min(side + 1, MAX_SIZE)


def encode_canvas(grid: np.ndarray, r0: int = 0, c0: int = 0, side: int = MAX_SIZE) -> np.ndarray:
    """Tokens [side²] (uint8) of a grid placed at (r0, c0) in the side×side canvas (default 30×30)."""
    g = np.asarray(grid)
    h, w = g.shape
    if not (1 <= h <= side and 1 <= w <= side):
        raise PuzzleError(f"grid of {h}x{w} does not fit the {side}x{side} canvas")
    if r0 < 0 or c0 < 0 or r0 + h > side or c0 + w > side:
        raise PuzzleError(f"grid of {h}x{w} at ({r0}, {c0}) does not fit the canvas")
    out = np.zeros((side, side), np.uint8)
    out[r0 : r0 + h, c0 : c0 + w] = g.astype(np.uint8) + COLOUR0
    if r0 + h < side:
        out[r0 + h, c0 : c0 + w] = EOS
    if c0 + w < side:
        out[r0 : r0 + h, c0 + w] = EOS
    return out.reshape(-1)


def crop_canvas(tokens: np.ndarray) -> np.ndarray:
    """The grid of a canvas placed at (0, 0) (docs/DATA.md, ARC): the largest top-left rectangle of colour tokens, minus 2.

    Row by row, the width is cut at the first non-colour token; the kept height and width are those of the
    largest area (fewest rows on ties, the official evaluator's rule). An empty rectangle gives a 0×0 grid."""
    side = canvas_side(tokens)
    t = np.asarray(tokens).reshape(side, side)
    ok = (t >= COLOUR0) & (t <= COLOUR0 + 9)
    width = np.minimum.accumulate(np.where(ok.all(1), side, np.argmin(ok, axis=1)))
    area = width * np.arange(1, side + 1)
    h = int(np.argmax(area)) + 1
    w = int(width[h - 1]) if area[h - 1] else 0
    return (t[: h if w else 0, :w].astype(np.int64) - COLOUR0).astype(np.uint8)


def grid_key(grid: np.ndarray) -> bytes:
    """A hashable key of a grid (shape and cells), for voting."""
    g = np.asarray(grid, dtype=np.uint8)
    return bytes([g.shape[0], g.shape[1] if g.ndim == 2 else 0]) + g.tobytes()


def key_grid(key: bytes) -> np.ndarray:
    return np.frombuffer(key[2:], dtype=np.uint8).reshape(key[0], key[1]).astype(np.int64)


def render_canvas(tokens: np.ndarray, colour: bool = True) -> list[str]:
    """Terminal lines of the part of a canvas that is not PAD (``$`` marks EOS)."""
    side = canvas_side(tokens)
    g = np.asarray(tokens).reshape(side, side)
    cells = np.argwhere(g >= COLOUR0)
    if cells.size == 0:
        return ["(empty canvas)"]
    (r0, c0), (r1, c1) = cells.min(0), cells.max(0)
    lines = []
    for row in g[r0 : r1 + 1, c0 : c1 + 1]:
        s = [
            ("  " if v == PAD else "$ ")
            if v < COLOUR0
            else (swatch(v - 2, f"{v - 2} ") if colour else f"{v - 2} ")
            for v in row.tolist()
        ]
        lines.append("".join(s))
    return lines


# ----------------------------------------------------------------------------------------------- tasks


def check_grid(obj: Any, where: str) -> np.ndarray:
    """A grid (a JSON list of rows or an array) checked: non-empty, rectangular, at most 30×30, colours 0..9."""
    if not isinstance(obj, np.ndarray):
        if not isinstance(obj, list) or not obj or not all(isinstance(r, list) for r in obj):
            raise PuzzleError(f"{where}: a grid must be a non-empty list of rows")
        widths = {len(r) for r in obj}
        if len(widths) != 1 or 0 in widths:
            raise PuzzleError(
                f"{where}: rows of a grid must have one non-zero length, got {sorted(widths)[:8]}"
            )
        if len(obj) > MAX_SIZE or len(obj[0]) > MAX_SIZE:
            raise PuzzleError(
                f"{where}: grid of {len(obj)}x{len(obj[0])} is larger than {MAX_SIZE}x{MAX_SIZE}"
            )
        for row in obj:  # colours are integers 0..9: not 1.5, true, "3", 1e400 or 2**63
            for v in row:
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v <= 9:
                    raise PuzzleError(f"{where}: colours must be 0..9 (integers), got {str(v)[:20]!r}")
    elif obj.dtype.kind not in "iu":
        raise PuzzleError(f"{where}: colours must be 0..9 (integers), got an array of {obj.dtype}")
    try:
        a = np.array(obj, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise PuzzleError(f"{where}: grid cells must be integers") from None
    if a.ndim != 2 or a.size == 0:
        raise PuzzleError(f"{where}: expected a non-empty 2-D grid, got shape {a.shape}")
    if a.shape[0] > MAX_SIZE or a.shape[1] > MAX_SIZE:
        raise PuzzleError(f"{where}: grid of {a.shape[0]}x{a.shape[1]} is larger than {MAX_SIZE}x{MAX_SIZE}")
    if a.min() < 0 or a.max() > 9:
        raise PuzzleError(f"{where}: colours must be 0..9, got {int(a.min())}..{int(a.max())}")
    return a.astype(np.uint8)


@dataclass
class ArcExamples:
    """A task's demonstration pairs and test pairs (test outputs may be None when no solution is known)."""

    name: str
    train: list[tuple[np.ndarray, np.ndarray]]
    test: list[tuple[np.ndarray, np.ndarray | None]]
    subset: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    def grids(self) -> list[np.ndarray]:
        """Every grid of the task: inputs and outputs of its demonstrations and tests (unknown outputs left out)."""
        return [g for pair in self.train + self.test for g in pair if g is not None]

    def max_side(self) -> int:
        """The largest height or width among :meth:`grids` (0 for a task without grids): the smallest canvas side
        that holds every grid is ``canvas_for(max_side())``."""
        return max((max(g.shape) for g in self.grids()), default=0)

    def to_json(self) -> dict:
        def g(a):
            return None if a is None else np.asarray(a).tolist()

        return {
            "train": [{"input": g(i), "output": g(o)} for i, o in self.train],
            "test": [{"input": g(i), **({"output": g(o)} if o is not None else {})} for i, o in self.test],
        }


def task_from_json(
    name: str, obj: Any, subset: str = "", solutions: list | None = None, where: str = ""
) -> ArcExamples:
    """A task object ``{"train": [{"input", "output"}...], "test": [...]}`` checked; ``solutions`` supplies the
    test outputs (Kaggle layout)."""
    where = where or f"task {name}"
    if not isinstance(obj, dict) or "train" not in obj or "test" not in obj:
        raise PuzzleError(f"{where}: expected an object with 'train' and 'test' lists")
    train, test = [], []
    for kind, out in (("train", train), ("test", test)):
        pairs = obj[kind]
        if not isinstance(pairs, list):
            raise PuzzleError(f"{where}: '{kind}' must be a list")
        for k, p in enumerate(pairs):
            if not isinstance(p, dict) or "input" not in p:
                raise PuzzleError(f"{where}: {kind} pair {k} needs an 'input' grid")
            i = check_grid(p["input"], f"{where} {kind}[{k}].input")
            o = p.get("output")
            if kind == "test" and solutions is not None:
                if k >= len(solutions):
                    raise PuzzleError(f"{where}: no solution for test input {k}")
                o = solutions[k]
            if o is None and kind == "train":
                raise PuzzleError(f"{where}: train pair {k} has no 'output'")
            out.append((i, None if o is None else check_grid(o, f"{where} {kind}[{k}].output")))
    if not train:
        raise PuzzleError(f"{where}: no demonstration pairs")
    return ArcExamples(name, train, test, subset)


def read_task(source: Any) -> dict[str, Any]:
    """A task to solve from a dict, JSON text or a path: ``{"test": [{"input"[, "output"]}...], ...}``; the test
    grids are checked (demonstrations are not needed to solve)."""
    if isinstance(source, (str, Path)) and not str(source).lstrip().startswith("{") and names_file(source):
        try:
            source = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise PuzzleError(f"{source}: cannot read the ARC task ({e})") from None
    if isinstance(source, str):
        try:
            source = json.loads(source)
        except (json.JSONDecodeError, RecursionError) as e:
            msg = str(e) or "nested too deeply"
            raise PuzzleError(f"the ARC task is not valid JSON ({msg})") from None
    if not isinstance(source, dict) or not isinstance(source.get("test"), list) or not source["test"]:
        raise PuzzleError("an ARC task needs a non-empty 'test' list of {'input': grid} objects")
    for i, pair in enumerate(source["test"]):
        if not isinstance(pair, dict) or "input" not in pair:
            raise PuzzleError(f"test[{i}]: expected an object with an 'input' grid")
        for key in ("input", "output"):
            if key in pair:
                check_grid(pair[key], f"test[{i}].{key}")
    return source


def check_outputs(tests: list[dict[str, Any]], answers: list[Any]) -> tuple[bool | None, list[str]]:
    """(valid, errors) of one answer grid per test input: None where the task does not give every output."""
    if not all("output" in t for t in tests):
        return None, []
    wrong = [
        i for i, t in enumerate(tests) if np.asarray(answers[i]).tolist() != np.asarray(t["output"]).tolist()
    ]
    return not wrong, [f"test output {i} differs from the expected grid" for i in wrong]


class ArcTask(Task):
    """One ARC test input (a grid, or ``{"input": grid, "puzzle_identifier": k}``) is one puzzle; the answer
    is the predicted grid as JSON text. Whole tasks: :func:`read_task` and :func:`check_outputs`."""

    kind = "arc"
    title = "ARC task"
    description = "ARC-AGI abstract reasoning (predict the output grid of a task's test input)"
    puzzle_help = (
        "an ARC task {'train': [{'input', 'output'}...], 'test': [{'input': grid}...]} (every test input is "
        "answered) or one input grid; grids are lists of rows of colours 0-9"
    )
    puzzle_type = dict[str, Any] | list[list[int]]
    puzzle_noun = "a task file"
    tool_name = "solve_arc_task"
    checked_by = "the task's solution"
    json_puzzles = True
    per_task = True
    headline = "pass@2"
    palette = {str(c): rgb for c, rgb in enumerate(PALETTE)}
    swatches = True

    @classmethod
    def resolve(cls, seq_len: int, vocab_size: int, box: Any = None) -> TaskInfo:
        side = cls.square_side(seq_len)
        if not 1 <= side <= MAX_SIZE:
            raise PuzzleError(
                f"an ARC model's canvas is at most {MAX_SIZE}x{MAX_SIZE} (seq_len {MAX_SIZE**2}), "
                f"got seq_len {seq_len}"
            )
        return TaskInfo(cls.kind, side)

    def __init__(self, info: TaskInfo):
        self.info, self.side, self.vocab = info, info.side, VOCAB_SIZE  # the canvas side (30, or smaller)
        self.seq_len = self.side * self.side

    def parse(self, puzzle: Any) -> Parsed:
        pid = 0
        if isinstance(puzzle, dict):
            pid = puzzle.get("puzzle_identifier", 0)
            if not isinstance(pid, int) or isinstance(pid, bool) or pid < 0:
                raise PuzzleError("puzzle_identifier must be a non-negative integer")
            puzzle = puzzle.get("input")
        grid = check_grid(puzzle, "input").astype(np.int64)
        tokens = encode_canvas(grid, side=self.side).astype(np.int64)  # a grid larger than the canvas: error
        return Parsed(tokens, json.dumps(grid.tolist()), {"grid": grid}, pid)

    def label(self) -> str:
        return self.kind  # the canvas side bounds the grids, it is not their size

    def read_text(self, text: str) -> Any:
        """One input grid given as JSON text is the grid; a task (JSON text or a file name) stays text for
        :meth:`whole_task`."""
        return json.loads(text) if text.lstrip().startswith("[") else text

    def whole_task(self, puzzle: Any) -> dict[str, Any] | None:
        """A whole task (a dict with 'test', JSON text of one, or a file, whose stem names the task unless it
        has a 'name'), read by :func:`read_task`; None for one input grid."""
        if isinstance(puzzle, dict):
            return read_task(puzzle) if "test" in puzzle else None
        from_file = isinstance(puzzle, Path) or names_file(puzzle)
        if not (from_file or isinstance(puzzle, str) and puzzle.lstrip().startswith("{")):
            return None
        data = read_task(puzzle)
        return {**data, "name": data.get("name") or Path(puzzle).stem} if from_file else data

    def crop(self, tokens: np.ndarray) -> np.ndarray:
        return crop_canvas(tokens).astype(np.int64)

    def format(self, tokens: np.ndarray, parsed: Parsed) -> str:
        return json.dumps(self.crop(tokens).tolist())

    def cells(self, tokens: np.ndarray, parsed: Parsed | None) -> np.ndarray:
        g = self.crop(tokens) if np.asarray(tokens).size else np.zeros((0, 0))
        return g.astype(str) if g.size else np.full((1, 1), "?")

    def render(self, tokens: np.ndarray, colour: bool = False) -> list[str]:
        return render_canvas(tokens, colour)
