"""The ARC voting evaluator (SPEC §7) and the Kaggle-style submission file.

Every prediction (one per augmented version of a test input, and per sampled trajectory) is cropped, mapped
back to the original frame and colours, and counted as a vote for that grid; the grids of one test input are
ranked by (votes, mean sigmoid(q_halt)). pass@k asks whether the true output is among the top k; a task
scores the fraction of its test inputs that pass, the benchmark the mean over tasks.

Augmentation voting for Sudoku and Maze lives in :func:`trm.infer.engine.predict` (same ranking).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .tasks import grid_key, key_grid

PASS_KS = (1, 2, 5, 10, 100, 1000)


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

    def evaluate(self, truth: dict[str, list[tuple[np.ndarray, np.ndarray]]], ks: Iterable[int] = PASS_KS) -> dict:
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
                ranks.append({"rank": rank, "candidates": len(ranking),
                              "top_votes": ranking[0][1] if ranking else 0,
                              "top_confidence": round(ranking[0][2], 6) if ranking else None})
            scores = {f"pass@{k}": float(np.mean([r["rank"] is not None and r["rank"] <= k for r in ranks]))
                      for k in ks}
            per_task[task] = {**scores, "test_inputs": ranks}
            for k in ks:
                totals[k] += scores[f"pass@{k}"]
            n_inputs += len(pairs)
        n = max(len(truth), 1)
        return {**{f"pass@{k}": totals[k] / n for k in ks}, "tasks": len(truth), "test_inputs": n_inputs,
                "per_task": per_task}

    def submission(self, order: dict[str, list[np.ndarray]]) -> dict[str, list[dict[str, list]]]:
        """Kaggle format: task -> one ``{"attempt_1", "attempt_2"}`` per test input (in ``order``); a missing
        second guess repeats the first, a test input without predictions gets ``[[0]]``."""
        out = {}
        for task, inputs in order.items():
            attempts = []
            for inp in inputs:
                ranking = self.ranked(task, inp)
                guesses = [g.tolist() for g, _, _ in ranking[:2]] or [[[0]]]
                attempts.append({"attempt_1": guesses[0], "attempt_2": guesses[-1] if len(guesses) < 2 else guesses[1]})
            out[task] = attempts
        return out
