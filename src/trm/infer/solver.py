"""Solving puzzles as a user gives them, with any backend, and the one result object (numpy only; copied into
ONNX export folders with the engine).

    solver = load_solver("runs/demo")                     # trm.infer: a PyTorch backend
    result = solver.solve("1.....4..2....", mode="adaptive")
    print(result.answer, result.steps, result.confidence, result.valid)
    print(json.dumps(result.to_json()))                   # what trm solve --json, /v1/solve and the runner print

One puzzle is a Sudoku string (or grid), a maze in text, or for ARC one task (dict, JSON text or path) whose
test inputs are all answered (or one input grid). :meth:`Solver.request` turns a puzzle into engine rows and,
once the engine is done with them, into a :class:`SolveResult`; ``solve_many`` runs several requests in
shared batches and the HTTP service feeds the same requests to its long-lived engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..tasks import PuzzleError, Task, arc
from .engine import Backend, Engine, Job
from .settings import Settings
from .voting import ArcVoter, Candidates


@dataclass
class TraceStep:
    step: int
    answer: str | list
    confidence: float
    tokens: list[int] = field(default_factory=list, repr=False)


@dataclass
class SolveResult:
    """The answer to one puzzle.

    ``answer`` is text in the input's format (Sudoku string, maze text; ARC task: a list with one grid per
    test input). ``valid`` is the symbolic verifier's verdict (None where there is none: ARC without known
    outputs, custom tasks) and ``errors`` says why an answer is invalid.
    """

    answer: Any
    grid: list  # rows of cell symbols (ARC task: one colour grid per test input)
    tokens: list[int] | list[list[int]]
    steps: int
    confidence: float
    valid: bool | None
    errors: list[str] = field(default_factory=list)
    trace: list[TraceStep] = field(default_factory=list)
    votes: int = 1
    candidates: int = 1
    compute: int = 0  # network calls: supervision steps summed over all candidates

    def to_json(self, trace: bool | None = None) -> dict[str, Any]:
        """The result object of ``trm solve --json``, ``POST /v1/solve`` and the exported runner."""
        out: dict[str, Any] = {
            "answer": self.answer,
            "steps": int(self.steps),
            "confidence": round(float(self.confidence), 6),
            "valid": self.valid,
            "errors": list(self.errors),
            "calls": int(self.compute),
        }
        if trace or (trace is None and self.trace):
            out["trace"] = [
                {"step": t.step, "answer": t.answer, "confidence": round(float(t.confidence), 6)}
                for t in self.trace
            ]
        return out

    def text(self) -> str:
        """The answer and the verifier's verdict as ``trm solve`` prints them."""
        lines = [
            self.answer if isinstance(self.answer, str) else json.dumps(self.answer),
            f"steps {self.steps}  confidence {self.confidence:.3f}"
            + (
                f"  votes {self.votes}/{self.candidates}  calls {self.compute}" if self.candidates > 1 else ""
            ),
        ]
        if self.valid is None:
            lines.append("not verified: no verifier (or no expected output) for this task")
        elif self.valid:
            lines.append("valid: the verifier accepts this answer")
        else:
            lines += ["WRONG: the verifier rejects this answer:", *(f"  - {e}" for e in self.errors)]
        return "\n".join(lines)


class Request:
    """One puzzle on its way through an engine: its candidate rows, then its result."""

    cand: Candidates
    settings: Settings
    trace: bool

    def submit(self, engine: Engine, user: Any = None) -> Job:
        return self.cand.submit(engine, self.settings, self.trace, user)

    def result(self, job: Job) -> SolveResult:
        raise NotImplementedError


class GridRequest(Request):
    """A Sudoku, maze, custom row or single ARC grid, with its symmetric copies and trajectories."""

    def __init__(self, task: Task, parsed, settings: Settings, trace: bool):
        syms = task.symmetries(settings.augment, settings.seed) if settings.augment > 1 else None
        if syms is not None and len(syms) < settings.augment:
            raise PuzzleError(
                f"{task.kind} has only {len(syms)} symmetries; use augment {len(syms)} or fewer"
            )
        self.task, self.parsed, self.settings, self.trace = task, parsed, settings, trace
        self.cand = Candidates(parsed.tokens[None], [parsed.pid], syms, settings.samples)

    def result(self, job: Job) -> SolveResult:
        task, parsed = self.task, self.parsed
        pred = self.cand.finish(job, self.settings.select)
        tokens, steps = pred.preds[0], int(pred.steps[0])
        valid, errors = task.verify(parsed, tokens)
        trace = (
            [
                TraceStep(
                    k + 1,
                    task.format(pred.step_preds[k, 0], parsed),
                    float(pred.step_conf[k, 0]),
                    pred.step_preds[k, 0].tolist(),
                )
                for k in range(steps)
            ]
            if self.trace
            else []
        )
        return SolveResult(
            answer=task.format(tokens, parsed),
            grid=task.cells(tokens, parsed).tolist(),
            tokens=tokens.tolist(),
            steps=steps,
            confidence=float(pred.confidence[0]),
            valid=valid,
            errors=errors,
            trace=trace,
            votes=int(pred.votes[0]),
            candidates=pred.candidates,
            compute=int(pred.compute[0]),
        )


class ArcRequest(Request):
    """Every test input of an ARC task, each as the task's versions (puzzle identifier, augmentation) times
    the trajectories; the answers of the versions are voted per test input (SPEC §7 ranking)."""

    def __init__(
        self,
        data: dict[str, Any],
        name: str,
        versions: list[tuple[int, arc.ArcAugmentation]],
        settings: Settings,
        trace: bool,
        side: int = arc.MAX_SIZE,
    ):
        self.data, self.name, self.settings, self.trace, self.side = data, name, settings, trace, side
        self.tests = [np.asarray(t["input"], dtype=np.int64) for t in data["test"]]
        self.where = [(ti, aug) for ti in range(len(self.tests)) for _, aug in versions]
        rows = [
            arc.encode_canvas(aug.apply(self.tests[ti]), side=side).astype(np.int64) for ti, aug in self.where
        ]
        pids = [pid for _ in self.tests for pid, _ in versions]
        self.versions = len(versions)
        self.cand = Candidates(np.stack(rows), np.asarray(pids), None, settings.samples)

    def result(self, job: Job) -> SolveResult:
        pred = self.cand.finish(job, self.settings.select)
        voter = ArcVoter()
        for r, (ti, aug) in enumerate(self.where):
            voter.add(
                self.name,
                self.tests[ti],
                aug.invert(arc.crop_canvas(pred.preds[r])),
                float(pred.confidence[r]),
            )
        best = [voter.ranked(self.name, grid)[0] for grid in self.tests]
        answers = [g.tolist() for g, _, _ in best]
        valid, errors = arc.check_outputs(self.data["test"], answers)
        steps, trace = int(pred.steps.max()), []
        if self.trace:  # the first version of the first test input, mapped back to the original frame
            aug = self.where[0][1]
            for k in range(steps):
                grid = aug.invert(arc.crop_canvas(pred.step_preds[k, 0]))
                trace.append(
                    TraceStep(
                        k + 1,
                        [grid.tolist()],
                        float(pred.step_conf[k, 0]),
                        arc.encode_canvas(grid, side=self.side).tolist() if grid.size else [],
                    )
                )
        return SolveResult(
            answer=answers,
            grid=answers,
            tokens=[  # an empty predicted grid (an untrained model) has no canvas
                arc.encode_canvas(np.asarray(a), side=self.side).astype(int).tolist() if np.size(a) else []
                for a in answers
            ],
            steps=steps,
            confidence=float(np.mean([c for _, _, c in best])),
            valid=valid,
            errors=errors,
            trace=trace,
            votes=min(v for _, v, _ in best),
            candidates=self.versions * self.settings.samples,
            compute=int(pred.compute.sum()),
        )


class Solver:
    """Solve puzzles of one task with one backend. ``defaults`` are the settings a call starts from (a run's
    protocol, :meth:`Settings.from_eval`); ``identifiers`` (ARC: the dataset's identifier names) lets ARC
    tasks use their trained puzzle embeddings and augmented versions; ``num_identifiers`` bounds the puzzle
    identifiers a request may name."""

    def __init__(
        self,
        backend: Backend,
        task: Task,
        n_sup: int,
        *,
        defaults: Settings | None = None,
        identifiers: list[str] | None = None,
        num_identifiers: int = 1,
    ):
        self.backend, self.task, self.n_sup = backend, task, n_sup
        self.defaults = defaults or Settings()
        self.identifiers, self.num_identifiers = identifiers, num_identifiers
        self._by_task: dict[str, list[int]] | None = None

    @property
    def info(self):
        return self.task.info

    @property
    def codec(self) -> Task:
        return self.task

    def parse(self, puzzle: Any):
        return self.task.parse(puzzle)

    def settings(self, settings: Settings | None = None, **options: Any) -> Settings:
        """``settings`` (default: this solver's defaults) with ``options`` set, validated."""
        return (settings or self.defaults).replace(**options).validate()

    def request(self, puzzle: Any, settings: Settings, trace: bool = False) -> Request:
        """Read one puzzle (:class:`PuzzleError` when it cannot be) into a :class:`Request`."""
        data = self.task.whole_task(puzzle)
        if data is not None:
            name = data.get("name") or ""
            limit = settings.augment if settings.augment > 1 else 1_000_000
            versions = self._arc_versions(name, limit) or [
                (data.get("puzzle_identifier", 0), arc.ArcAugmentation(name))
            ]
            self._check_pids([pid for pid, _ in versions])
            return ArcRequest(data, name, versions, settings, trace, self.task.side)
        parsed = self.task.parse(puzzle)
        self._check_pids([parsed.pid])
        return GridRequest(self.task, parsed, settings, trace)

    def solve_many(
        self, puzzles: list[Any], settings: Settings | None = None, *, trace: bool = False, **options: Any
    ) -> list[SolveResult]:
        """Solve several puzzles in shared batches; the answers do not depend on what else is in the batch."""
        st = self.settings(settings, **options)
        requests = [self.request(p, st, trace) for p in puzzles]
        engine = Engine(self.backend, self.n_sup, st.batch_size)
        jobs = [r.submit(engine) for r in requests]
        engine.run()
        return [r.result(j) for r, j in zip(requests, jobs, strict=True)]

    def solve(
        self, puzzle: Any, settings: Settings | None = None, *, trace: bool = False, **options: Any
    ) -> SolveResult:
        """Solve one puzzle. See :class:`~trm.infer.engine.Settings` for the options."""
        return self.solve_many([puzzle], settings, trace=trace, **options)[0]

    def _check_pids(self, pids: list) -> None:
        for pid in pids:
            if (
                isinstance(pid, bool)
                or not isinstance(pid, (int, np.integer))
                or not 0 <= pid < self.num_identifiers
            ):
                raise PuzzleError(f"puzzle_identifier must be an integer in [0, {self.num_identifiers})")

    def _arc_versions(self, name: str, limit: int) -> list[tuple[int, arc.ArcAugmentation]]:
        """(puzzle identifier, augmentation) of the task's trained versions (none without identifiers)."""
        if not self.identifiers or not name:
            return []
        if self._by_task is None:
            self._by_task = {}
            for i, ident in enumerate(self.identifiers):
                if i:
                    self._by_task.setdefault(ident.split(arc.SEP)[0], []).append(i)
        return [
            (i, arc.ArcAugmentation.parse(self.identifiers[i])) for i in self._by_task.get(name, [])[:limit]
        ]
