"""The public solving API: :class:`Solver` and :func:`load_solver`.

    solver = load_solver("runs/demo")
    result = solver.solve("1.....4..2....", mode="adaptive", threshold=0.7)
    print(result.answer, result.steps, result.confidence, result.valid)
    print(json.dumps(result.to_json()))

One puzzle is a Sudoku string (or grid), a maze in text, or for ARC one task (dict, JSON text or path) whose
test inputs are all answered. ``solve_many`` batches several puzzles into the same forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import DEFAULT_HALT_THRESHOLD
from ..utils import TRMError
from .engine import Settings, predict
from .tasks import (
    ID_SEPARATOR,
    ArcAugmentation,
    Codec,
    Puzzle,
    TaskInfo,
    arc_crop,
    arc_encode,
    make_codec,
    read_arc_task,
)
from .tasks import task_info as resolve_task_info
from .voting import ArcVoter


@dataclass
class TraceStep:
    step: int
    answer: str | list
    confidence: float
    tokens: list[int] = field(default_factory=list, repr=False)


@dataclass
class SolveResult:
    """The answer to one puzzle.

    ``answer`` is text in the input's format (Sudoku string, maze text; ARC: a list with one grid per test
    input). ``valid`` is the symbolic verifier's verdict (None where there is none: ARC without known outputs,
    custom tasks) and ``errors`` says why an answer is invalid.
    """

    answer: Any
    grid: list  # rows of cell symbols (ARC: one colour grid per test input)
    tokens: list[int] | list[list[int]]
    steps: int
    confidence: float
    valid: bool | None
    errors: list[str] = field(default_factory=list)
    trace: list[TraceStep] = field(default_factory=list)
    votes: int = 1
    candidates: int = 1
    compute: int = 0  # supervision steps over all candidates

    def to_json(self, trace: bool | None = None) -> dict[str, Any]:
        """Exactly the object ``trm solve --json`` prints."""
        out: dict[str, Any] = {
            "answer": self.answer, "steps": self.steps, "confidence": round(self.confidence, 6),
            "valid": self.valid, "errors": self.errors,
        }
        if trace or (trace is None and self.trace):
            out["trace"] = [{"step": t.step, "answer": t.answer, "confidence": round(t.confidence, 6)}
                            for t in self.trace]
        return out


class Solver:
    """Solve puzzles with a loaded model. ``task_info`` defaults to what the config says (see
    :func:`trm.infer.tasks.task_info`); ``identifiers`` (ARC: the dataset's identifier names) lets ARC tasks
    use their trained puzzle embeddings and augmented versions."""

    def __init__(self, model, cfg, task_info: TaskInfo | None = None, identifiers: list[str] | None = None,
                 meta: dict[str, Any] | None = None):
        self.model = model.eval()
        self.cfg = cfg
        self.info = task_info or resolve_task_info(cfg, meta)
        self.codec: Codec = make_codec(self.info, cfg)
        self.identifiers = identifiers
        self._by_task: dict[str, list[int]] | None = None

    @property
    def device(self) -> torch.device:
        return self.model.y_init.device

    @property
    def n_sup(self) -> int:
        return self.model.cfg.N_sup

    def parse(self, puzzle: Any) -> Puzzle:
        return self.codec.parse(puzzle)

    def solve(self, puzzle: Any, mode: str = "official", threshold: float = DEFAULT_HALT_THRESHOLD, max_steps: int | None = None,
              samples: int = 1, noise: float = 0.1, seed: int = 0, trace: bool = False, vote: str = "majority",
              augment: int = 1, batch_size: int = 256) -> SolveResult:
        """Solve one puzzle. See :class:`~trm.infer.engine.Settings` for the inference options."""
        return self.solve_many([puzzle], mode=mode, threshold=threshold, max_steps=max_steps, samples=samples,
                               noise=noise, seed=seed, trace=trace, vote=vote, augment=augment,
                               batch_size=batch_size)[0]

    def solve_many(self, puzzles: list[Any], mode: str = "official", threshold: float = DEFAULT_HALT_THRESHOLD,
                   max_steps: int | None = None, samples: int = 1, noise: float = 0.1, seed: int = 0,
                   trace: bool = False, vote: str = "majority", augment: int = 1,
                   batch_size: int = 256) -> list[SolveResult]:
        """Solve several puzzles in shared batches; the answers do not depend on what else is in the batch."""
        st = Settings(mode=mode, threshold=threshold, max_steps=max_steps, samples=samples, noise=noise, seed=seed,
                      vote=vote, augment=augment, batch_size=batch_size).validate()
        if self.info.kind == "arc":
            return [self._solve_arc(p, st, trace) for p in puzzles]
        parsed = [self.codec.parse(p) for p in puzzles]
        if not parsed:
            return []
        inputs = torch.as_tensor(np.stack([p.tokens for p in parsed]))
        pid = torch.zeros(len(parsed), dtype=torch.int32)
        pred = predict(self.model, inputs, pid, st, self.codec.transforms(st.augment, st.seed), record=trace)
        results = []
        for i, p in enumerate(parsed):
            tokens = pred.preds[i].numpy()
            valid, errors = self.codec.verify(p, tokens)
            steps = []
            if trace:
                steps = [TraceStep(k + 1, self.codec.format(pred.step_preds[k, i].numpy(), p),
                                   float(pred.step_conf[k, i]), pred.step_preds[k, i].tolist())
                         for k in range(int(pred.steps[i]))]
            results.append(SolveResult(
                answer=self.codec.format(tokens, p), grid=self.codec.cells(tokens, p).tolist(), tokens=tokens.tolist(),
                steps=int(pred.steps[i]), confidence=float(pred.confidence[i]), valid=valid, errors=errors, trace=steps,
                votes=int(pred.votes[i]), candidates=pred.candidates, compute=int(pred.compute[i])))
        return results

    # -------------------------------------------------------------------------------------------- ARC
    def _arc_versions(self, task_name: str | None, limit: int) -> list[tuple[int, ArcAugmentation]]:
        """(puzzle identifier, augmentation) of the task's trained versions, or the blank id unaugmented."""
        if self.identifiers and task_name:
            if self._by_task is None:
                self._by_task = {}
                for i, name in enumerate(self.identifiers):
                    if i:
                        self._by_task.setdefault(name.split(ID_SEPARATOR)[0], []).append(i)
            ids = self._by_task.get(task_name, [])[:limit]
            if ids:
                return [(i, ArcAugmentation.parse(self.identifiers[i])) for i in ids]
        return [(0, ArcAugmentation(task_name or ""))]

    def _solve_arc(self, task: Any, st: Settings, trace: bool) -> SolveResult:
        name = None
        if isinstance(task, (str, Path)) and Path(str(task)).is_file():
            name = Path(str(task)).stem
        data = read_arc_task(task)
        name = data.get("name") or name
        versions = self._arc_versions(name, st.augment if st.augment > 1 else 1_000_000)
        tests = [np.asarray(t["input"], dtype=np.int64) for t in data["test"]]
        rows, pids, where = [], [], []
        for ti, grid in enumerate(tests):
            for pid, aug in versions:
                rows.append(arc_encode(aug.apply(grid)))
                pids.append(pid)
                where.append((ti, aug))
        one = Settings(**{**st.__dict__, "augment": 1})
        pred = predict(self.model, torch.as_tensor(np.stack(rows)), torch.as_tensor(pids, dtype=torch.int32), one,
                       record=trace)
        voter = ArcVoter()  # the SPEC §7 ranking over the task's augmented versions
        for r, (ti, aug) in enumerate(where):
            voter.add(name or "", tests[ti], aug.invert(arc_crop(pred.preds[r].numpy())), float(pred.confidence[r]))
        best = [voter.ranked(name or "", grid)[0] for grid in tests]
        answers = [g.tolist() for g, _, _ in best]
        steps = int(pred.steps.max())
        valid, errors = None, []
        if all("output" in t for t in data["test"]):
            wrong = [i for i, t in enumerate(data["test"]) if answers[i] != np.asarray(t["output"]).tolist()]
            valid = not wrong
            errors = [f"test output {i} differs from the expected grid" for i in wrong]
        trace_steps = []
        if trace:
            # the trace follows the first version of the first test input, mapped back to the original frame
            aug = where[0][1]
            for k in range(steps):
                grid = aug.invert(arc_crop(pred.step_preds[k, 0].numpy()))
                trace_steps.append(TraceStep(k + 1, [grid.tolist()], float(pred.step_conf[k, 0]),
                                             arc_encode(grid).tolist() if grid.size else []))
        return SolveResult(answer=answers, grid=answers, tokens=[arc_encode(np.asarray(a)).tolist() for a in answers],
                           steps=steps,
                           confidence=float(np.mean([c for _, _, c in best])), valid=valid, errors=errors,
                           trace=trace_steps, votes=min(v for _, v, _ in best), candidates=len(versions) * st.samples,
                           compute=int(pred.compute.sum()))


def load_solver(path: str | Path, device: str = "cpu", dtype: str = "float32", data: str | Path | None = None
                ) -> Solver:
    """Load a run directory, checkpoint or model folder as a :class:`Solver`. ``data`` (a dataset directory)
    supplies task details the checkpoint may lack (Sudoku box shape, ARC identifier names)."""
    from ..checkpoint import load_model
    from ..utils import resolve_device, resolve_dtype

    dev = resolve_device(device)
    model, cfg, meta = load_model(path, dev, resolve_dtype(dtype, dev))
    data_info, identifiers = None, None
    if data is not None:
        data_info, identifiers = dataset_task_info(data)
    info = resolve_task_info(cfg, meta, data_info)
    return Solver(model, cfg, info, identifiers=identifiers, meta=meta)


def dataset_task_info(data: str | Path) -> tuple[dict[str, Any] | None, list[str] | None]:
    """(task info dict, identifier names) from a dataset directory, where present."""
    from ..data.format import load_identifiers, load_task_info

    d = Path(data)
    if not d.is_dir():
        raise TRMError(f"{d}: not a dataset directory")
    return load_task_info(d), (load_identifiers(d) if (d / "identifiers.json").is_file() else None)
