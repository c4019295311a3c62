"""Run an exported TRM (``trm export --format onnx``) with numpy and onnxruntime only.

This file imports neither torch nor trm: ``trm export`` copies it into the export folder as
``trm_onnx_runner.py`` so that the folder runs wherever onnxruntime does::

    python trm_onnx_runner.py EXPORT_DIR "1.3..6.2...." --mode adaptive --json

    from trm_onnx_runner import OnnxSolver
    solver = OnnxSolver("EXPORT_DIR")
    solver.solve("1.3..6.2....", mode="adaptive", threshold=0.5)
    # {"answer", "steps", "confidence", "valid", "errors"}: the object `trm solve --json` prints

Modes and options follow ``trm solve`` (SPEC §3):
    official   every puzzle runs ``max_steps`` supervision steps (default N_sup) and the last answer counts;
               with ``max_steps = k`` this is the fixed-N mode (k may exceed N_sup: test-time depth)
    adaptive   a puzzle stops at the first step where sigmoid(q_halt) > threshold, else at ``max_steps``
    samples    K > 1 trajectories per puzzle; trajectory 0 is noise-free, the others add Gaussian noise of
               std ``noise`` to z before every step (seeded per (seed, step, trajectory)); one answer is
               chosen by ``vote``: majority (ties by mean confidence) or confidence
Confidence is the mean sigmoid(q_halt) of the trajectories agreeing with the chosen answer.

Standalone, the noise is drawn with numpy; inside trm (``trm solve --backend onnx``) it is drawn exactly as
``trm solve`` draws it, so sampled answers agree too.

The row-level :class:`Engine` is shared with the HTTP service, which feeds it requests from many clients
and runs one supervision step at a time over all of them (continuous batching).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

MANIFEST = "trm_export.json"
VARIANTS = {"float32": "step", "int8": "step_int8", "fp16w": "step_fp16w"}


class PuzzleError(ValueError):
    """A puzzle that cannot be read for this model; the message says what is wrong."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


# ============================================================================================ task codecs
@dataclass
class Parsed:
    """A puzzle read for the model: its token row, puzzle identifier and what formatting the answer needs."""

    tokens: np.ndarray  # [S] int64
    pid: int = 0
    ctx: dict[str, Any] = field(default_factory=dict)


class Codec:
    """Puzzle <-> token row, answer formatting and verification. The base class reads raw token rows:
    a list of integers or a string of space-separated integers."""

    task = "custom"

    def __init__(self, seq_len: int, vocab_size: int):
        self.seq_len, self.vocab_size = seq_len, vocab_size

    def parse(self, puzzle: Any) -> Parsed:
        try:
            toks = np.asarray(puzzle.split() if isinstance(puzzle, str) else puzzle, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError):
            raise PuzzleError("a custom-task puzzle is a list of integer tokens") from None
        if toks.size != self.seq_len or toks.min() < 0 or toks.max() >= self.vocab_size:
            raise PuzzleError(f"expected {self.seq_len} tokens in 0..{self.vocab_size - 1}")
        return Parsed(toks)

    def format(self, tokens: np.ndarray, puzzle: Parsed) -> Any:
        return " ".join(str(int(t)) for t in tokens)

    def verify(self, puzzle: Parsed, tokens: np.ndarray) -> tuple[bool | None, list[str]]:
        return None, []


_DIGITS = ".123456789ABCDEFG"


class SudokuCodec(Codec):
    """N×N Sudoku: N² characters row-major, ``.`` or ``0`` blank, whitespace ignored (or a grid of ints).

    The answer is printed like the input: one line per row if the input had N lines, ``0`` for blanks if the
    input used ``0``.
    """

    task = "sudoku"

    def __init__(self, seq_len: int, vocab_size: int):
        super().__init__(seq_len, vocab_size)
        n = math.isqrt(seq_len)
        if n * n != seq_len or vocab_size != n + 2:
            raise PuzzleError(f"a Sudoku model needs seq_len N² and vocab N + 2, got {seq_len} and {vocab_size}")
        self.n = n
        self.box = next((r, n // r) for r in range(math.isqrt(n), 0, -1) if n % r == 0)

    def _units(self, g: np.ndarray):
        n, (br, bc) = self.n, self.box
        yield from ((f"row {r + 1}", g[r]) for r in range(n))
        yield from ((f"column {c + 1}", g[:, c]) for c in range(n))
        yield from ((f"box at row {r + 1}, column {c + 1}", g[r:r + br, c:c + bc].reshape(-1))
                    for r in range(0, n, br) for c in range(0, n, bc))

    def parse(self, puzzle: Any) -> Parsed:
        n = self.n
        ctx: dict[str, Any] = {"lines": False, "blank": "."}
        if isinstance(puzzle, str):
            chars = "".join(puzzle.split())
            if len(chars) != n * n:
                raise PuzzleError(f"a {n}x{n} Sudoku needs {n * n} cells, got {len(chars)}")
            vals = []
            for i, ch in enumerate(chars):
                d = 0 if ch in ".0" else _DIGITS.find(ch.upper())
                if d < 1 and ch not in ".0" or d > n:
                    raise PuzzleError(f"bad character {ch!r} at cell {i} (row {i // n + 1}, column {i % n + 1}); "
                                      f"use '.' or '0' for blanks and 1..{_DIGITS[n]} for digits")
                vals.append(d)
            g = np.array(vals, dtype=np.int64)
            lines = [ln for ln in puzzle.strip().splitlines() if ln.strip()]
            ctx = {"lines": len(lines) == n, "blank": "0" if "0" in puzzle and "." not in puzzle else "."}
        else:
            try:
                g = np.asarray(puzzle, dtype=np.int64)
            except (TypeError, ValueError):
                raise PuzzleError(f"a {n}x{n} Sudoku is a string or a grid of integers") from None
            if g.size != n * n or g.min() < 0 or g.max() > n:
                raise PuzzleError(f"a {n}x{n} Sudoku grid needs {n * n} integer cells in 0..{n}")
        g = g.reshape(n, n)
        for name, unit in self._units(g):
            counts = np.bincount(unit, minlength=n + 1)[1:]
            if (counts > 1).any():
                raise PuzzleError(f"invalid Sudoku: digit {_DIGITS[int(np.argmax(counts > 1)) + 1]} appears twice "
                                  f"in {name}")
        ctx["givens"] = g
        return Parsed(g.reshape(-1) + 1, 0, ctx)

    def grid(self, tokens: np.ndarray) -> np.ndarray:
        g = np.asarray(tokens, dtype=np.int64) - 1
        g[(g < 0) | (g > self.n)] = 0
        return g.reshape(self.n, self.n)

    def format(self, tokens: np.ndarray, puzzle: Parsed) -> str:
        text = "".join(_DIGITS[int(v)] for v in self.grid(tokens).reshape(-1))
        if puzzle.ctx.get("blank") == "0":
            text = text.replace(".", "0")
        if puzzle.ctx.get("lines"):
            text = "\n".join(text[r * self.n:(r + 1) * self.n] for r in range(self.n))
        return text

    def verify(self, puzzle: Parsed, tokens: np.ndarray) -> tuple[bool, list[str]]:
        n, g, a = self.n, puzzle.ctx["givens"], self.grid(tokens)
        errors = []
        blanks = np.argwhere(a == 0)
        if len(blanks):
            errors.append(f"{len(blanks)} cell(s) not filled with a digit 1..{_DIGITS[n]} (first at row "
                          f"{blanks[0][0] + 1}, column {blanks[0][1] + 1})")
        for r, c in np.argwhere((g != 0) & (g != a))[:5]:
            errors.append(f"given {_DIGITS[g[r, c]]} at row {r + 1}, column {c + 1} was changed to {_DIGITS[a[r, c]]}")
        for name, unit in self._units(a):
            counts = np.bincount(unit, minlength=n + 1)
            counts[0] = 0
            if (counts > 1).any():
                d = int(np.argmax(counts > 1))
                errors.append(f"digit {_DIGITS[d]} appears {counts[d]} times in {name}")
            if len(errors) >= 6:
                break
        return not errors, errors


MAZE_CHARS = "# SGo"  # tokens 1..5; PAD 0


def _maze_distance(grid: np.ndarray) -> int | None:
    """Moves on a shortest 4-connected path from S to G over non-wall cells (None: no path)."""
    h, w = grid.shape
    start, goal = tuple(np.argwhere(grid == "S")[0]), tuple(np.argwhere(grid == "G")[0])
    dist = {start: 0}
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        if (r, c) == goal:
            return dist[(r, c)]
        for p in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= p[0] < h and 0 <= p[1] < w and grid[p] != "#" and p not in dist:
                dist[p] = dist[(r, c)] + 1
                queue.append(p)
    return None


class MazeCodec(Codec):
    """Mazes in text: ``#`` wall, space open, ``S`` start, ``G`` goal (``o`` path, ignored in the input).

    A maze smaller than the model's N×N is surrounded by walls and cropped back in the answer; ``valid``
    means the ``o`` cells form one simple path from S to G over open cells and it is a shortest one.
    """

    task = "maze"

    def __init__(self, seq_len: int, vocab_size: int):
        super().__init__(seq_len, vocab_size)
        n = math.isqrt(seq_len)
        if n * n != seq_len or vocab_size != len(MAZE_CHARS) + 1:
            raise PuzzleError(f"a maze model needs seq_len N² and vocab 6, got {seq_len} and {vocab_size}")
        self.n = n

    def parse(self, puzzle: Any) -> Parsed:
        n = self.n
        if not isinstance(puzzle, str):
            raise PuzzleError("a maze must be given as text (rows of '#', ' ', 'S', 'G')")
        lines = puzzle.replace("\r\n", "\n").rstrip("\n").split("\n")
        while lines and not lines[0].strip():
            lines.pop(0)
        h, w = len(lines), max((len(ln) for ln in lines), default=0)
        if h == 0 or w == 0:
            raise PuzzleError("the maze is empty")
        if h > n or w > n:
            raise PuzzleError(f"the maze is {h}x{w} but this model solves mazes up to {n}x{n}")
        for r, ln in enumerate(lines):
            bad = set(ln) - set(MAZE_CHARS)
            if bad:
                raise PuzzleError(f"maze row {r + 1}: illegal character(s) {sorted(bad)}; use '#', ' ', 'S', 'G' (and 'o')")
        grid = np.full((n, n), "#")
        for r, ln in enumerate(lines):
            grid[r, :w] = list(ln.ljust(w).replace("o", " "))
        for ch, name in (("S", "start"), ("G", "goal")):
            k = int((grid == ch).sum())
            if k != 1:
                raise PuzzleError(f"the maze needs exactly one {ch} ({name}), found {k}")
        if _maze_distance(grid) is None:
            raise PuzzleError("the maze has no path from S to G")
        tokens = np.array([MAZE_CHARS.index(c) + 1 for c in grid.reshape(-1)], dtype=np.int64)
        return Parsed(tokens, 0, {"h": h, "w": w, "grid": grid})

    def grid(self, tokens: np.ndarray) -> np.ndarray:
        chars = np.array(["?", *MAZE_CHARS])
        return chars[np.clip(np.asarray(tokens).reshape(self.n, self.n), 0, len(MAZE_CHARS))]

    def format(self, tokens: np.ndarray, puzzle: Parsed) -> str:
        g = self.grid(tokens)[: puzzle.ctx["h"], : puzzle.ctx["w"]]
        return "\n".join("".join(row) for row in g)

    def verify(self, puzzle: Parsed, tokens: np.ndarray) -> tuple[bool, list[str]]:
        m, a = puzzle.ctx["grid"], self.grid(tokens)
        moved = np.argwhere(np.where(a == "o", " ", a) != m)
        if len(moved):
            r, c = moved[0]
            return False, [f"{len(moved)} cell(s) differ from the maze other than by the path (first at row {r + 1}, "
                           f"column {c + 1}: {m[r, c]!r} -> {a[r, c]!r})"]
        on = np.isin(a, ["o", "S", "G"])
        h, w = a.shape
        start, goal = tuple(np.argwhere(a == "S")[0]), tuple(np.argwhere(a == "G")[0])
        seen, cur, steps = {start}, start, 0
        while cur != goal:  # a simple path visits every 'o' once and ends at G
            nxt = [p for p in ((cur[0] + 1, cur[1]), (cur[0] - 1, cur[1]), (cur[0], cur[1] + 1), (cur[0], cur[1] - 1))
                   if 0 <= p[0] < h and 0 <= p[1] < w and on[p] and p not in seen]
            if goal in nxt:
                nxt = [goal]
            if len(nxt) != 1:
                where = f"row {cur[0] + 1}, column {cur[1] + 1}"
                return False, [f"the path breaks off at {where}" if not nxt else f"the path branches at {where}"]
            cur = nxt[0]
            seen.add(cur)
            steps += 1
        stray = int((a == "o").sum()) - (steps - 1)
        if stray > 0:
            return False, [f"{stray} path cell(s) are not on the way from S to G"]
        shortest = _maze_distance(m)
        if shortest is not None and steps > shortest:
            return False, [f"the path is valid but takes {steps} moves; the shortest takes {shortest}"]
        return True, []


ARC_SIDE = 30


class ArcCodec(Codec):
    """One ARC test input (a grid of colours 0..9, up to 30×30) is one puzzle; the answer is the predicted
    grid as JSON text. A whole task is solved by :meth:`OnnxSolver.solve_arc_task`. The puzzle identifier is
    the blank id 0 unless given as ``{"input": grid, "puzzle_identifier": k}``."""

    task = "arc"

    def __init__(self, seq_len: int, vocab_size: int):
        super().__init__(seq_len, vocab_size)
        if seq_len != ARC_SIDE * ARC_SIDE or vocab_size != 12:
            raise PuzzleError(f"an ARC model needs seq_len 900 and vocab 12, got {seq_len} and {vocab_size}")

    def parse(self, puzzle: Any) -> Parsed:
        pid = 0
        if isinstance(puzzle, dict):
            pid = puzzle.get("puzzle_identifier", 0)
            if not isinstance(pid, int) or isinstance(pid, bool) or pid < 0:
                raise PuzzleError("puzzle_identifier must be a non-negative integer")
            puzzle = puzzle.get("input")
        try:
            g = np.asarray(puzzle, dtype=np.int64)
        except (TypeError, ValueError):
            raise PuzzleError("an ARC input is a rectangular grid of integers") from None
        if g.ndim != 2 or g.size == 0 or g.shape[0] > ARC_SIDE or g.shape[1] > ARC_SIDE:
            raise PuzzleError(f"an ARC input is a non-empty grid of at most {ARC_SIDE}x{ARC_SIDE}, got shape {g.shape}")
        if g.min() < 0 or g.max() > 9:
            raise PuzzleError("ARC colours must be 0..9")
        h, w = g.shape
        canvas = np.zeros((ARC_SIDE, ARC_SIDE), np.int64)  # PAD 0, EOS 1, colour c -> c + 2
        canvas[:h, :w] = g + 2
        if h < ARC_SIDE:
            canvas[h, :w] = 1
        if w < ARC_SIDE:
            canvas[:h, w] = 1
        return Parsed(canvas.reshape(-1), pid, {"grid": g})

    @staticmethod
    def crop(tokens: np.ndarray) -> np.ndarray:
        """The largest top-left rectangle whose cells are all colours, as colours (fewest rows on ties)."""
        t = np.asarray(tokens).reshape(ARC_SIDE, ARC_SIDE)
        ok = (t >= 2) & (t <= 11)
        width = np.minimum.accumulate(np.where(ok.all(1), ARC_SIDE, np.argmin(ok, axis=1)))
        area = width * np.arange(1, ARC_SIDE + 1)
        h = int(np.argmax(area)) + 1
        return np.zeros((0, 0), np.int64) if area[h - 1] == 0 else t[:h, : width[h - 1]] - 2

    def format(self, tokens: np.ndarray, puzzle: Parsed) -> str:
        return json.dumps(self.crop(tokens).tolist())


CODECS = {"sudoku": SudokuCodec, "maze": MazeCodec, "arc": ArcCodec}


def make_codec(task: str, seq_len: int, vocab_size: int) -> Codec:
    return CODECS.get(task, Codec)(seq_len, vocab_size)


# ============================================================================================ engine
class Backend(Protocol):
    """What the engine needs from a model: the reset state, the puzzle rows and one supervision step."""

    total_len: int
    hidden_size: int

    def init_state(self) -> tuple[np.ndarray, np.ndarray]: ...  # y_init, z_init [D]

    def puzzle_rows(self, pids: np.ndarray) -> np.ndarray | None: ...  # [B, puzzle_emb_ndim] or None

    def step(self, y: np.ndarray, z: np.ndarray, inputs: np.ndarray, rows: np.ndarray | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...  # y, z, logits, q_halt


def noise_table(seed: int, step: int, K: int, shape: tuple[int, int]) -> np.ndarray:
    """[K, L, D] standard normal noise added to z before supervision step ``step`` (0-based); trajectory 0 is
    noise-free. It depends only on (seed, step, trajectory), never on what else is in the batch."""
    t = np.random.default_rng(seed * 1_000_003 + step).standard_normal((K, *shape)).astype(np.float32)
    t[0] = 0
    return t


@dataclass
class Settings:
    """Inference options, with the defaults of ``trm solve``; ``max_steps=None`` means the model's N_sup."""

    mode: str = "official"
    threshold: float = 0.9  # trm.config.DEFAULT_HALT_THRESHOLD (this file imports nothing from trm)
    max_steps: int | None = None
    samples: int = 1
    noise: float = 0.1
    seed: int = 0
    vote: str = "majority"

    def validate(self) -> Settings:
        if self.mode not in ("official", "adaptive"):
            raise PuzzleError(f"mode must be 'official' or 'adaptive', got {self.mode!r}")
        if self.mode == "adaptive" and not 0.0 < self.threshold < 1.0:
            raise PuzzleError(f"the adaptive threshold must be in (0, 1), got {self.threshold}")
        if self.max_steps is not None and self.max_steps < 1:
            raise PuzzleError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.samples < 1:
            raise PuzzleError(f"samples must be >= 1, got {self.samples}")
        if self.samples > 1 and self.noise <= 0:
            raise PuzzleError("several samples need noise > 0 (otherwise every trajectory is the same)")
        if self.vote not in ("majority", "confidence"):
            raise PuzzleError(f"vote must be 'majority' or 'confidence', got {self.vote!r}")
        return self


@dataclass
class Job:
    """One puzzle and its K trajectories, as the engine tracks them."""

    puzzle: Parsed
    settings: Settings
    max_steps: int
    trace: bool = False
    y: np.ndarray | None = None  # [K, L, D]
    z: np.ndarray | None = None
    steps: np.ndarray | None = None  # [K]
    done: np.ndarray | None = None  # [K]
    preds: np.ndarray | None = None  # [K, S] answer tokens (at the halting step once done)
    conf: np.ndarray | None = None  # [K] sigmoid(q_halt) of that answer
    history: list[list[tuple[np.ndarray, float]]] = field(default_factory=list)  # per trajectory, per step
    cancelled: bool = False
    user: Any = None  # the caller's handle (the service keeps its future here)

    @property
    def finished(self) -> bool:
        return self.done is not None and bool(self.done.all())


class Engine:
    """Advances many jobs one supervision step at a time, packing their live trajectories into one batch.

    A trajectory leaves the batch as soon as it is done (official: after max_steps; adaptive: once
    sigmoid(q_halt) > threshold) and new jobs join at the next step, so short and long requests share the
    model without waiting for each other. ``max_rows`` bounds the rows of one forward; jobs beyond it wait
    their turn (first come, first served). ``noise(seed, step, K, (L, D))`` supplies the latent noise.
    """

    def __init__(self, backend: Backend, n_sup: int, max_rows: int = 256, noise=noise_table):
        self.backend, self.n_sup, self.max_rows, self.noise = backend, n_sup, max_rows, noise
        self.jobs: list[Job] = []
        self.y_init, self.z_init = backend.init_state()

    def add(self, puzzle: Parsed, settings: Settings, trace: bool = False, user: Any = None) -> Job:
        st = settings
        K, L, D = st.samples, self.backend.total_len, self.backend.hidden_size
        job = Job(puzzle=puzzle, settings=st, max_steps=st.max_steps or self.n_sup, trace=trace, user=user)
        job.y = np.broadcast_to(self.y_init, (K, L, D)).astype(np.float32)
        job.z = np.broadcast_to(self.z_init, (K, L, D)).astype(np.float32)
        job.steps = np.zeros(K, dtype=np.int64)
        job.done = np.zeros(K, dtype=bool)
        job.preds = np.zeros((K, len(puzzle.tokens)), dtype=np.int64)
        job.conf = np.zeros(K, dtype=np.float64)
        job.history = [[] for _ in range(K)]
        self.jobs.append(job)
        return job

    @property
    def busy(self) -> bool:
        return bool(self.jobs)

    def step(self) -> list[Job]:
        """One supervision step over up to ``max_rows`` live trajectories; returns (and forgets) the jobs
        that finished or were cancelled."""
        picked: list[tuple[Job, np.ndarray]] = []
        n = 0
        for job in self.jobs:
            if job.cancelled or n >= self.max_rows:
                continue
            live = np.flatnonzero(~job.done)[: self.max_rows - n]
            picked.append((job, live))
            n += live.size
        if picked:
            for job, k in picked:
                st = job.settings
                if st.samples > 1 and st.noise > 0:
                    for s in np.unique(job.steps[k]):
                        rows = k[job.steps[k] == s]
                        table = self.noise(st.seed, int(s), st.samples, job.z.shape[1:])
                        job.z[rows] += st.noise * table[rows]
            y = np.concatenate([j.y[k] for j, k in picked])
            z = np.concatenate([j.z[k] for j, k in picked])
            inputs = np.concatenate([np.broadcast_to(j.puzzle.tokens, (k.size, j.puzzle.tokens.size)) for j, k in picked])
            pids = np.concatenate([np.full(k.size, j.puzzle.pid, dtype=np.int64) for j, k in picked])
            y, z, logits, q_halt = self.backend.step(y, z, inputs, self.backend.puzzle_rows(pids))
            preds = logits.argmax(-1)
            conf = _sigmoid(q_halt)
            at = 0
            for job, k in picked:
                sl = slice(at, at + k.size)
                at += k.size
                job.y[k], job.z[k] = y[sl], z[sl]
                job.steps[k] += 1
                job.preds[k], job.conf[k] = preds[sl], conf[sl]
                if job.trace:
                    for i, row in enumerate(k):
                        job.history[row].append((preds[sl][i], float(conf[sl][i])))
                stop = job.steps[k] >= job.max_steps
                if job.settings.mode == "adaptive":
                    stop |= conf[sl] > job.settings.threshold
                job.done[k] = stop
        out = [j for j in self.jobs if j.cancelled or j.finished]
        self.jobs = [j for j in self.jobs if not (j.cancelled or j.finished)]
        return out

    def run(self) -> None:
        """Step until every job is done."""
        while self.busy:
            self.step()


def choose(preds: np.ndarray, conf: np.ndarray, vote: str) -> tuple[int, int, float]:
    """Pick one of K candidate answers ``preds`` [K, S] with confidences ``conf`` [K].

    ``majority``: the answer given by the most candidates, ties broken by their mean confidence;
    ``confidence``: the most confident candidate. Returns (index, votes, mean confidence of the candidates
    agreeing with the choice)."""
    same = (preds[:, None, :] == preds[None, :, :]).all(-1)  # [K, K]
    votes = same.sum(-1)
    mean_conf = (same * conf[None, :]).sum(-1) / votes
    score = votes + 0.5 * mean_conf if vote == "majority" else conf
    i = int(np.argmax(score))
    return i, int(votes[i]), float(mean_conf[i])


def job_result(job: Job, codec: Codec) -> dict[str, Any]:
    """The JSON of a finished job, the same object as ``trm solve --json``:
    ``{"answer", "steps", "confidence", "valid", "errors"[, "trace"]}``."""
    i, _, confidence = choose(job.preds, job.conf, job.settings.vote)
    valid, errors = codec.verify(job.puzzle, job.preds[i])
    out: dict[str, Any] = {
        "answer": codec.format(job.preds[i], job.puzzle),
        "steps": int(job.steps[i]),
        "confidence": round(confidence, 6),
        "valid": valid,
        "errors": errors,
    }
    if job.trace:
        trace = []
        for s in range(int(job.steps[i])):  # a trajectory that halted keeps its last answer
            held = [h[min(s, len(h) - 1)] for h in job.history]
            k, _, c = choose(np.stack([p for p, _ in held]), np.array([c for _, c in held]), job.settings.vote)
            trace.append({"step": s + 1, "answer": codec.format(held[k][0], job.puzzle), "confidence": round(c, 6)})
        out["trace"] = trace
    return out


# ============================================================================================ ONNX backend
class OnnxBackend:
    """One onnxruntime session of an export folder's step graph."""

    def __init__(self, export_dir: str | os.PathLike, variant: str = "float32", threads: int | None = None):
        import onnxruntime as ort

        self.dir = Path(export_dir)
        mpath = self.dir / MANIFEST
        if not mpath.is_file():
            raise FileNotFoundError(f"{self.dir}: not an ONNX export folder (no {MANIFEST}); run trm export first")
        self.manifest = json.loads(mpath.read_text())
        files = self.manifest["files"]
        if variant not in VARIANTS or VARIANTS[variant] not in files:
            have = [v for v, key in VARIANTS.items() if key in files]
            raise ValueError(f"variant {variant!r} is not in this export (have {have}); re-export with "
                             f"--int8 / --fp16 to add it")
        io = self.manifest["io"]
        self.total_len, self.hidden_size, self.prefix_len = io["total_len"], io["hidden_size"], io["prefix_len"]
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(self.dir / files[VARIANTS[variant]]), opts,
                                            providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        with np.load(self.dir / files["carry_init"], allow_pickle=False) as init:
            self._init = (init["y_init"].astype(np.float32), init["z_init"].astype(np.float32))
        self.table = (np.load(self.dir / files["puzzle_emb"], mmap_mode="r", allow_pickle=False)
                      if "puzzle_emb" in files else None)

    def init_state(self) -> tuple[np.ndarray, np.ndarray]:
        return self._init

    def puzzle_rows(self, pids: np.ndarray) -> np.ndarray | None:
        if self.table is None:
            return None
        pids = np.asarray(pids, dtype=np.int64)
        if pids.min() < 0 or pids.max() >= self.table.shape[0]:
            raise PuzzleError(f"puzzle_identifier must be in [0, {self.table.shape[0]})")
        return np.ascontiguousarray(self.table[pids], dtype=np.float32)

    def step(self, y, z, inputs, rows):
        feeds = {"inputs": np.ascontiguousarray(inputs, dtype=np.int64), "y": np.ascontiguousarray(y, dtype=np.float32),
                 "z": np.ascontiguousarray(z, dtype=np.float32)}
        if "puzzle_emb" in self.input_names:
            feeds["puzzle_emb"] = rows
        y, z, logits, q_halt = self.session.run(["y_next", "z_next", "logits", "q_halt"], feeds)
        return y, z, logits, q_halt


class OnnxSolver:
    """Solve puzzles with an export folder: ``OnnxSolver(dir).solve(puzzle, mode=..., ...)``.

    ``codec`` replaces the built-in task codec (trm passes its own, so that answers are formatted and
    verified exactly as ``trm solve`` does).
    """

    def __init__(self, export_dir: str | os.PathLike, variant: str = "float32", threads: int | None = None,
                 max_rows: int = 256, codec: Codec | None = None):
        self.backend = OnnxBackend(export_dir, variant=variant, threads=threads)
        self.manifest = self.backend.manifest
        model = self.manifest["config"]["model"]
        self.task = self.manifest.get("task", "custom")
        self.seq_len, self.vocab_size, self.n_sup = model["seq_len"], model["vocab_size"], model["N_sup"]
        self.codec = codec or make_codec(self.task, self.seq_len, self.vocab_size)
        self.max_rows = max_rows
        self.noise = noise_table

    def engine(self) -> Engine:
        return Engine(self.backend, self.n_sup, self.max_rows, noise=self.noise)

    def run(self, inputs: np.ndarray, puzzle_identifiers: np.ndarray | None = None, **settings: Any
            ) -> dict[str, np.ndarray]:
        """Token-level batch solve: ``inputs`` [B, S] -> predictions [B, S], steps [B], confidence [B]."""
        st = Settings(**settings).validate()
        inputs = np.asarray(inputs, dtype=np.int64)
        pids = np.zeros(len(inputs), np.int64) if puzzle_identifiers is None else np.asarray(puzzle_identifiers)
        eng = self.engine()
        jobs = [eng.add(Parsed(t, int(p)), st) for t, p in zip(inputs, pids, strict=True)]
        eng.run()
        picks = [choose(j.preds, j.conf, st.vote) for j in jobs]
        return {
            "predictions": np.stack([j.preds[i] for j, (i, _, _) in zip(jobs, picks, strict=True)]),
            "steps": np.array([j.steps[i] for j, (i, _, _) in zip(jobs, picks, strict=True)]),
            "confidence": np.array([c for _, _, c in picks]),
        }

    def solve_many(self, puzzles: list[Any], *, trace: bool = False, **settings: Any) -> list[dict[str, Any]]:
        """Solve several puzzles in shared batches; one result object per puzzle (see :func:`job_result`).
        Settings: mode, threshold, max_steps, samples, noise, seed, vote."""
        st = Settings(**settings).validate()
        parsed = [self.codec.parse(p) for p in puzzles]
        eng = self.engine()
        jobs = [eng.add(p, st, trace=trace) for p in parsed]
        eng.run()
        return [job_result(j, self.codec) for j in jobs]

    def solve(self, puzzle: Any, **kwargs: Any) -> dict[str, Any]:
        """Solve one puzzle: ``{"answer", "steps", "confidence", "valid", "errors"[, "trace"]}``."""
        if self.task == "arc" and isinstance(puzzle, (dict, str)) and "test" in (
                puzzle if isinstance(puzzle, dict) else _json_or_empty(puzzle)):
            return self.solve_arc_task(puzzle, **kwargs)
        return self.solve_many([puzzle], **kwargs)[0]

    def solve_arc_task(self, task: dict[str, Any] | str, *, trace: bool = False, **settings: Any) -> dict[str, Any]:
        """Every test input of an ARC task (blank identifier, no augmentation): the answer is a list of grids."""
        task = _json_or_empty(task) if isinstance(task, str) else task
        tests = task.get("test") if isinstance(task, dict) else None
        if not isinstance(tests, list) or not tests:
            raise PuzzleError("an ARC task needs a non-empty 'test' list of {'input': grid} objects")
        res = self.solve_many([{"input": t.get("input"), "puzzle_identifier": task.get("puzzle_identifier", 0)}
                               for t in tests], trace=trace, **settings)
        return combine_arc(tests, res)

    def run_unrolled(self, inputs: np.ndarray, puzzle_identifiers: np.ndarray | None = None,
                     steps: int | None = None) -> dict[str, np.ndarray]:
        """Fixed-N solve with the loop-free graph ``unrolled_N{steps}.onnx``: predictions [B, S], q_halt [B, k]."""
        import onnxruntime as ort

        unrolled = self.manifest["files"].get("unrolled", {})
        if not unrolled:
            raise ValueError("this export has no unrolled graph; re-export with --unrolled N")
        key = str(steps) if steps is not None else sorted(unrolled, key=int)[-1]
        if key not in unrolled:
            raise ValueError(f"no unrolled graph for {steps} steps (have {sorted(unrolled, key=int)})")
        sess = ort.InferenceSession(str(self.backend.dir / unrolled[key]), providers=["CPUExecutionProvider"])
        feeds = {"inputs": np.asarray(inputs, dtype=np.int64)}
        if "puzzle_emb" in {i.name for i in sess.get_inputs()}:
            pids = np.zeros(len(inputs), dtype=np.int64) if puzzle_identifiers is None else puzzle_identifiers
            feeds["puzzle_emb"] = self.backend.puzzle_rows(pids)
        logits, q_halt = sess.run(["logits", "q_halt"], feeds)
        return {"predictions": logits.argmax(-1), "q_halt": q_halt}


def combine_arc(tests: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result for an ARC task from the results of its test inputs: a list of grids as the answer,
    valid = every test output matches where the task gives them (else null)."""
    answers = [json.loads(r["answer"]) for r in results]
    valid, errors = None, []
    if all("output" in t for t in tests):
        wrong = [i for i, t in enumerate(tests) if answers[i] != t["output"]]
        valid, errors = not wrong, [f"test output {i} differs from the expected grid" for i in wrong]
    out = {"answer": answers, "steps": max(r["steps"] for r in results),
           "confidence": round(float(np.mean([r["confidence"] for r in results])), 6), "valid": valid, "errors": errors}
    if all("trace" in r for r in results):
        held = lambda r, s: r["trace"][min(s, len(r["trace"]) - 1)]  # noqa: E731
        out["trace"] = [{"step": s + 1, "answer": [json.loads(held(r, s)["answer"]) for r in results],
                         "confidence": round(float(np.mean([held(r, s)["confidence"] for r in results])), 6)}
                        for s in range(max(len(r["trace"]) for r in results))]
    return out


def _json_or_empty(text: str) -> Any:
    if not text.lstrip().startswith("{"):
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise PuzzleError(f"the ARC task is not valid JSON ({e})") from None


# ============================================================================================ command line
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="trm_onnx_runner", description="Solve a puzzle with a TRM ONNX export "
                                 "(numpy + onnxruntime only).")
    ap.add_argument("export_dir")
    ap.add_argument("puzzle", help="puzzle text, @FILE to read it from a file, or - for stdin")
    ap.add_argument("--mode", choices=["official", "adaptive"], default="official")
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vote", choices=["majority", "confidence"], default="majority")
    ap.add_argument("--variant", choices=list(VARIANTS), default="float32")
    ap.add_argument("--trace", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    text = args.puzzle
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        solver = OnnxSolver(args.export_dir, variant=args.variant)
        puzzle: Any = json.loads(text) if solver.task == "arc" else text
        res = solver.solve(puzzle, mode=args.mode, threshold=args.threshold, max_steps=args.max_steps,
                           samples=args.samples, noise=args.noise, seed=args.seed, vote=args.vote, trace=args.trace)
    except (PuzzleError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res))
    else:
        print(res["answer"] if isinstance(res["answer"], str) else json.dumps(res["answer"]))
        print(f"steps {res['steps']}  confidence {res['confidence']:.3f}  valid {res['valid']}")
        for e in res["errors"]:
            print(f"  {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
