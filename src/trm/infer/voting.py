"""Candidates and votes (numpy only; copied into ONNX export folders with the engine).

A puzzle is solved as ``A`` symmetric copies (augmentation voting, symmetries from the task layer) times ``K``
trajectories (:class:`~trm.infer.engine.Engine` adds seeded noise to trajectories k > 0); the answers are
mapped back and one is chosen per puzzle by :func:`choose`, ranked by the selector's score (:mod:`.selectors`:
majority vote with ties by mean confidence, the official ranking, or the halting head's confidence alone) over the
candidates the selector leaves eligible (:meth:`Candidates.finish`; each symmetric copy's eligible rows share
one vote). ARC votes over the task's augmented versions
instead (:class:`ArcVoter`): every prediction is cropped, mapped back to the original frame and colours and counted
for its test input; pass@k asks whether the true output is among the top k.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..tasks.arc import grid_key, key_grid
from . import selectors
from .engine import Backend, Engine, Job, sigmoid
from .settings import Settings

PASS_KS = (1, 2, 5, 10, 100, 1000)


def choose(
    preds: np.ndarray, conf: np.ndarray, vote: str, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick one of C candidate answers per puzzle: ``preds`` [B, C, S], ``conf`` [B, C] in [0, 1], ``weight``
    [B, C] each candidate's vote (0: not eligible; default 1), ``vote`` the selector whose
    :meth:`~.selectors.Selector.score` ranks the eligible candidates (``majority``: the answer with the most
    weight, ties broken by the mean confidence of its eligible candidates; ``confidence``: the single most
    confident eligible candidate). Returns (index [B], votes [B] = eligible candidates agreeing,
    confidence [B] = their mean confidence)."""
    preds, conf = np.asarray(preds), np.asarray(conf, np.float64)
    B, C, S = preds.shape
    if C == 1:
        return np.zeros(B, np.int64), np.ones(B, np.int64), conf[:, 0]
    w = np.ones((B, C)) if weight is None else np.asarray(weight, np.float64)
    keyed = np.concatenate([np.repeat(np.arange(B), C)[:, None], preds.reshape(B * C, S)], 1)
    _, group = np.unique(keyed, axis=0, return_inverse=True)
    group = group.reshape(-1)
    ok = (w > 0).reshape(-1)
    votes = np.bincount(group, weights=ok)[group].reshape(B, C)
    mean = np.bincount(group, weights=conf.reshape(-1) * ok)[group].reshape(B, C) / np.maximum(votes, 1)
    support = np.bincount(group, weights=w.reshape(-1))[group].reshape(B, C)
    idx = np.where(w > 0, selectors.get(vote).score(support, mean, conf), -np.inf).argmax(-1)
    b = np.arange(B)
    return idx, votes[b, idx].astype(np.int64), mean[b, idx]


@dataclass
class Prediction:
    """One answer per puzzle (B puzzles) after voting over its candidates."""

    preds: np.ndarray  # [B, S]
    confidence: np.ndarray  # [B] mean sigmoid(q_halt) of the candidates agreeing with the answer
    steps: np.ndarray  # [B] supervision steps of the chosen candidate
    compute: np.ndarray  # [B] supervision steps summed over all candidates of the puzzle
    votes: np.ndarray  # [B] candidates agreeing with the answer
    candidates: int  # C = augment x samples
    step_preds: np.ndarray | None = None  # [N, B, S] the voted answer after each step
    step_conf: np.ndarray | None = None  # [N, B]
    step_q: np.ndarray | None = None  # [N, B] halting logit of the one candidate (C = 1 only)
    every: np.ndarray | None = None  # [B, C, S] every candidate's answer in its puzzle's frame
    every_conf: np.ndarray | None = None  # [B, C] and its sigmoid(q_halt)


class Candidates:
    """The engine rows of B puzzles ``inputs`` [B, S]: row (b, a, k) is symmetry a of puzzle b, trajectory k."""

    def __init__(self, inputs: np.ndarray, pids: np.ndarray, symmetries: Sequence | None, samples: int):
        self.syms = list(symmetries) if symmetries else [None]
        inputs = np.asarray(inputs, np.int64)
        self.B, self.S = inputs.shape
        self.A, self.K = len(self.syms), samples
        self.C = self.A * self.K
        copies = np.stack([inputs if s is None else s.apply(inputs) for s in self.syms], 1)  # [B, A, S]
        self.rows = np.repeat(copies, self.K, 1).reshape(self.B * self.C, self.S)
        self.pids = np.repeat(np.asarray(pids, np.int64), self.C)
        self.traj = np.tile(np.arange(self.K), self.B * self.A)

    def submit(self, engine: Engine, settings: Settings, record: bool = False, user=None) -> Job:
        return engine.submit(self.rows, self.pids, settings, self.traj, record, user, group=self.K)

    def undo(self, p: np.ndarray) -> np.ndarray:
        """[..., B*C, S] -> [..., B, C, S] in each puzzle's own frame."""
        p = p.reshape(*p.shape[:-2], self.B, self.A, self.K, self.S)
        parts = [
            p[..., a, :, :] if s is None else s.inverse().apply(p[..., a, :, :])
            for a, s in enumerate(self.syms)
        ]
        return np.stack(parts, -3).reshape(*p.shape[:-4], self.B, self.C, self.S)

    def finish(self, job: Job, select: str) -> Prediction:
        """Map the job's answers back and choose one per puzzle (per step too, where the job recorded) as
        the selector ``select`` says: its :meth:`~.selectors.Selector.eligible` rows vote (those of each
        symmetric copy share one vote) and its score ranks them."""
        B, C = self.B, self.C
        preds, conf, steps = self.undo(job.preds), job.confidence.reshape(B, C), job.steps.reshape(B, C)
        ok = selectors.get(select).eligible(job.settled.reshape(B, self.A, self.K))
        weight = (ok / ok.sum(-1, keepdims=True)).reshape(B, C)
        idx, votes, confidence = choose(preds, conf, select, weight)
        b = np.arange(B)
        out = Prediction(
            preds=preds[b, idx],
            confidence=confidence,
            steps=steps[b, idx],
            compute=steps.sum(-1),
            votes=votes,
            candidates=C,
            every=preds,
            every_conf=conf,
        )
        if job.record:
            sp, sc = self.undo(job.step_preds), sigmoid(job.step_q).reshape(-1, B, C)
            picks = [choose(sp[k], sc[k], select) for k in range(len(sp))]  # every row eligible
            out.step_preds = np.stack([sp[k][b, i] for k, (i, _, _) in enumerate(picks)])
            out.step_conf = np.stack([c for _, _, c in picks])
            if C == 1:
                out.step_q = job.step_q
        return out


def predict(
    backend: Backend,
    n_sup: int,
    inputs: np.ndarray,
    puzzle_identifiers: np.ndarray,
    settings: Settings,
    symmetries: Sequence | None = None,
    record: bool = False,
    on_done: Callable[[int], None] | None = None,
) -> Prediction:
    """Solve B puzzles ``inputs`` [B, S] with A = len(symmetries) copies and K = settings.samples trajectories
    each, undo the symmetries and choose one answer per puzzle."""
    cand = Candidates(inputs, puzzle_identifiers, symmetries, settings.samples)
    engine = Engine(backend, n_sup, settings.batch_size)
    job = cand.submit(engine, settings, record)
    engine.run(on_done)
    return cand.finish(job, settings.select)


class ArcVoter:
    """Vote tables for one evaluation: task -> test input -> predicted grid -> [votes, sum of confidence]."""

    def __init__(self) -> None:
        self.table: dict[str, dict[bytes, dict[bytes, list[float]]]] = {}

    def add(self, task: str, input_grid: np.ndarray, prediction: np.ndarray, confidence: float) -> None:
        cell = self.table.setdefault(task, {}).setdefault(grid_key(input_grid), {})
        entry = cell.setdefault(grid_key(prediction), [0, 0.0])
        entry[0] += 1
        entry[1] += float(confidence)

    def ranked(self, task: str, input_grid: np.ndarray) -> list[tuple[np.ndarray, int, float]]:
        """(grid, votes, mean confidence) for one test input, best first."""
        cell = self.table.get(task, {}).get(grid_key(input_grid), {})
        items = sorted(cell.items(), key=lambda kv: (kv[1][0], kv[1][1] / kv[1][0]), reverse=True)
        return [(key_grid(k), int(v[0]), v[1] / v[0]) for k, v in items]

    def evaluate(
        self, truth: dict[str, list[tuple[np.ndarray, np.ndarray]]], ks: Iterable[int] = PASS_KS
    ) -> dict:
        """Score against ``truth``: task -> [(test input, expected output), ...]. Tasks without predictions
        score 0. Returns ``pass@k`` (benchmark), ``tasks``, ``test_inputs`` and ``per_task``."""
        ks = tuple(ks)
        per_task = {}
        totals = dict.fromkeys(ks, 0.0)
        n_inputs = 0
        for task, pairs in truth.items():
            ranks = []
            for inp, out in pairs:
                want = grid_key(out)
                ranking = self.ranked(task, inp)
                rank = next((i + 1 for i, (g, _, _) in enumerate(ranking) if grid_key(g) == want), None)
                ranks.append(
                    {
                        "rank": rank,
                        "candidates": len(ranking),
                        "top_votes": ranking[0][1] if ranking else 0,
                        "top_confidence": round(ranking[0][2], 6) if ranking else None,
                    }
                )
            scores = {
                f"pass@{k}": float(np.mean([r["rank"] is not None and r["rank"] <= k for r in ranks]))
                for k in ks
            }
            per_task[task] = {**scores, "test_inputs": ranks}
            for k in ks:
                totals[k] += scores[f"pass@{k}"]
            n_inputs += len(pairs)
        n = max(len(truth), 1)
        return {
            **{f"pass@{k}": totals[k] / n for k in ks},
            "tasks": len(truth),
            "test_inputs": n_inputs,
            "per_task": per_task,
        }

    def submission(self, order: dict[str, list[np.ndarray]]) -> dict[str, list[dict[str, list]]]:
        """Kaggle format: task -> one ``{"attempt_1", "attempt_2"}`` per test input (in ``order``); a missing
        second guess repeats the first, a test input without predictions gets ``[[0]]``."""
        out = {}
        for task, inputs in order.items():
            attempts = []
            for inp in inputs:
                ranking = self.ranked(task, inp)
                guesses = [g.tolist() for g, _, _ in ranking[:2]] or [[[0]]]
                attempts.append(
                    {"attempt_1": guesses[0], "attempt_2": guesses[-1] if len(guesses) < 2 else guesses[1]}
                )
            out[task] = attempts
        return out
