"""Solving puzzles as a user gives them, with any backend, and the one result object (numpy only; copied into
ONNX export folders with the engine).

    solver = load_solver("runs/demo")                     # trm.infer: a PyTorch backend
    result = solver.solve("1.....4..2....", mode="adaptive")
    print(result.verified, result.answer, result.calls, result.rung)   # answer: None unless verified
    print(json.dumps(result.to_json()))                   # what trm solve --json, /v1/solve and the runner print

Verified solving (tasks with a verifier: Sudoku, maze): a :class:`VerifiedRequest` runs the protocol asked for
and, while the verifier rejects every candidate answer, climbs :data:`~.settings.LADDER` within the request's
``budget`` of network calls; the result is the first verified answer or "no verified answer" (``verified``
False, ``answer`` None, the last rung's answer as ``candidate``). A network call is one supervision step of one
engine row (one symmetric copy x one trajectory of one puzzle), counted by the engine.

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
from .settings import LADDER, Planned, Settings, plan
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
    test input). ``verified``: True when the task's verifier accepts the answer, False when no rung within the
    budget gave an answer it accepts (then ``answer`` is None and ``candidate`` holds the last rung's answer,
    ``grid`` and ``tokens`` that candidate's), None where the task has no verifier (ARC, custom tasks: the
    answer is the model's, unchecked; ARC task files with known outputs are graded in ``valid``). ``valid`` is
    the verifier's verdict on what is returned and ``errors`` says why it is invalid. ``compute`` (``calls`` in
    JSON) counts every network call spent, on every rung tried (``rungs``); ``rung`` is the last one.
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
    compute: int = 0  # network calls: supervision steps summed over all candidates (and rungs)
    verified: bool | None = None
    candidate: Any = None  # the best unverified answer, where verified is False
    rung: str = ""  # the ladder rung whose answer this is (verified solving only)
    rungs: list[str] = field(default_factory=list)  # the rungs run, in order

    @property
    def calls(self) -> int:
        return int(self.compute)

    def to_json(self, trace: bool | None = None) -> dict[str, Any]:
        """The result object of ``trm solve --json``, ``POST /v1/solve`` and the exported runner."""
        out: dict[str, Any] = {
            "answer": self.answer,
            "verified": self.verified,
            "candidate": self.candidate,
            "steps": int(self.steps),
            "confidence": round(float(self.confidence), 6),
            "valid": self.valid,
            "errors": list(self.errors),
            "calls": int(self.compute),
            "rung": self.rung or None,
            "rungs": list(self.rungs),
        }
        if trace or (trace is None and self.trace):
            out["trace"] = [
                {"step": t.step, "answer": t.answer, "confidence": round(float(t.confidence), 6)}
                for t in self.trace
            ]
        return out

    def text(self) -> str:
        """The answer and the verifier's verdict as ``trm solve`` prints them."""
        shown = self.candidate if self.verified is False else self.answer
        lines = [
            *(
                ["NO VERIFIED ANSWER; the best unverified candidate, NOT an answer:"]
                if self.verified is False
                else []
            ),
            shown if isinstance(shown, str) else json.dumps(shown),
            f"steps {self.steps}  confidence {self.confidence:.3f}"
            + (f"  votes {self.votes}/{self.candidates}" if self.candidates > 1 else "")
            + f"  calls {self.compute}"
            + (f"  rung {self.rung} ({len(self.rungs)} of the ladder run)" if self.rung else ""),
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

    def finish(self, job: Job, engine: Engine, user: Any = None) -> SolveResult | Job:
        """The result of a finished ``job``, or the next job this request put in ``engine`` (escalation)."""
        return self.result(job)


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

    def result(self, job: Job, any_verified: bool = False) -> SolveResult:
        """The chosen answer; with ``any_verified``, where the verifier rejects it, the first candidate it
        accepts (most votes first), if any."""
        task, parsed = self.task, self.parsed
        pred = self.cand.finish(job, self.settings.select)
        tokens, steps = pred.preds[0], int(pred.steps[0])
        valid, errors = task.verify(parsed, tokens)
        votes, confidence = int(pred.votes[0]), float(pred.confidence[0])
        if any_verified and valid is False and pred.every is not None and pred.candidates > 1:
            found = verified_candidate(
                lambda t: task.verify(parsed, t)[0] is True, pred.every[0], pred.every_conf[0]
            )
            if found is not None:
                tokens, votes, confidence = found
                valid, errors = True, []
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
            confidence=confidence,
            valid=valid,
            errors=errors,
            trace=trace,
            votes=votes,
            candidates=pred.candidates,
            compute=int(pred.compute[0]),
        )


def verified_candidate(check, every: np.ndarray, conf: np.ndarray):
    """(tokens, votes, mean confidence) of the distinct candidate answer of ``every`` [C, S] with the most votes
    (then the highest mean confidence) that ``check(tokens)`` (the verifier) accepts; None if it accepts none."""
    answers, which, votes = np.unique(every, axis=0, return_inverse=True, return_counts=True)
    which = which.reshape(-1)
    mean = np.bincount(which, weights=conf) / votes
    for i in np.lexsort((-mean, -votes)):
        if check(answers[i]):
            return answers[i], int(votes[i]), float(mean[i])
    return None


class VerifiedRequest(Request):
    """Verified solving of one puzzle: the rungs ``ladder`` (:func:`~.settings.plan`) in order, each a
    :class:`GridRequest`, until the verifier accepts an answer (the chosen one or any other candidate of the
    rung) or the next rung's worst-case calls exceed what is left of ``budget`` (the first rung always runs)."""

    def __init__(
        self,
        task: Task,
        parsed,
        ladder: list[Planned],
        budget: int,
        trace: bool,
        start: int = 0,
        spent: tuple[int, list[str]] = (0, []),
    ):
        """``start``: the rung to begin with, where ``spent`` = (calls, rung names) were spent on the ones before
        it (``trm eval`` runs the first rung over the whole dataset); the caller checks that it fits."""
        self.task, self.parsed, self.ladder, self.budget, self.trace = task, parsed, ladder, budget, trace
        self.at, self.calls, self.tried = start, spent[0], list(spent[1])
        self.current = GridRequest(task, parsed, ladder[start].settings, trace)
        self.settings, self.cand = self.current.settings, self.current.cand

    def submit(self, engine: Engine, user: Any = None) -> Job:
        return self.current.submit(engine, user)

    def result(self, job: Job) -> SolveResult:
        out = self.finish(job, None)
        if isinstance(out, Job):  # pragma: no cover - finish without an engine never escalates
            raise RuntimeError("escalation needs an engine")
        return out

    def finish(self, job: Job, engine: Engine | None, user: Any = None) -> SolveResult | Job:
        res = self.current.result(job, any_verified=True)
        self.calls += res.compute
        self.tried.append(self.ladder[self.at].rung.name)
        nxt = self.at + 1
        if (
            res.valid is not True
            and engine is not None
            and nxt < len(self.ladder)
            and self.calls + self.ladder[nxt].cost <= self.budget
        ):
            self.at = nxt
            self.current = GridRequest(self.task, self.parsed, self.ladder[nxt].settings, self.trace)
            return self.current.submit(engine, user)
        res.compute, res.rung, res.rungs = self.calls, self.tried[-1], list(self.tried)
        res.verified = res.valid is True
        if not res.verified:  # never an unverified answer presented as the answer
            res.candidate, res.answer = res.answer, None
        return res


class ArcRequest(Request):
    """Every test input of an ARC task, each as the task's versions (puzzle identifier, augmentation) times
    the trajectories; the answers of the versions are voted per test input (the official ranking)."""

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
        self.caps: dict[
            str, int
        ] = {}  # upper bounds of the ladder's max_steps, samples, augment (a server's)

    @property
    def verifies(self) -> bool:
        """Whether solving is verified solving with escalation (the task has a symbolic verifier)."""
        return bool(self.task.verifier_metric) and not self.task.per_task

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
        return self.grid_request(parsed, settings, trace)

    def grid_request(self, parsed, settings: Settings, trace: bool = False) -> Request:
        """A parsed puzzle's request: verified solving where the task has a verifier, else one protocol."""
        first = GridRequest(self.task, parsed, settings, trace)  # checks augment against the symmetries
        if not self.verifies:
            return first
        syms = len(self.task.symmetries(max(r.augment for r in LADDER), settings.seed))
        ladder = plan(settings, self.n_sup, syms, self.caps)
        return VerifiedRequest(self.task, parsed, ladder, settings.budget, trace)

    def solve_many(
        self, puzzles: list[Any], settings: Settings | None = None, *, trace: bool = False, **options: Any
    ) -> list[SolveResult]:
        """Solve several puzzles in shared batches; the answers do not depend on what else is in the batch."""
        st = self.settings(settings, **options)
        return self.run_requests([self.request(p, st, trace) for p in puzzles], st.batch_size)

    def run_requests(self, requests: list[Request], batch_size: int) -> list[SolveResult]:
        """Run requests in one engine, escalating ones included, until each has its result."""
        engine = Engine(self.backend, self.n_sup, batch_size)
        waiting = {r.submit(engine).key: i for i, r in enumerate(requests)}
        results: list[Any] = [None] * len(requests)
        while engine.busy:
            for job in engine.step():
                i = waiting.pop(job.key)
                out = requests[i].finish(job, engine)
                if isinstance(out, Job):
                    waiting[out.key] = i
                else:
                    results[i] = out
        return results

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
