"""Evaluation statistics: Wilson intervals, per-step accuracy, halting statistics and threshold sweeps."""

from __future__ import annotations

import math

import numpy as np

from ..tasks import IGNORE
from .engine import sigmoid


def wilson(successes: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (``z`` sets the level). ``n = 0`` gives (0, 1)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # the bounds are exactly 0 and 1 at the extremes; say so rather than leave rounding residue
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return lo, hi


def correctness(preds: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exact [..., B] bool, correct tokens [..., B], counted tokens [B]) of ``preds`` [..., B, S] against
    ``labels`` [B, S]; rows without any target are never exact (docs/PARITY.md)."""
    mask = labels != IGNORE
    count = mask.sum(-1)
    correct = ((preds == labels) & mask).sum(-1)
    return (correct == count) & (count > 0), correct, count


class Accumulator:
    """Sums over batches: final exact/token accuracy, per-step accuracy, steps, compute, q_halt accuracy."""

    def __init__(self, n_steps: int, thresholds: tuple[float, ...] = ()):
        self.N = n_steps
        self.count = 0
        self.exact = 0
        self.tokens = 0
        self.tokens_correct = 0
        self.steps_sum = 0
        self.compute = 0
        self.steps_hist = [0] * (n_steps + 1)
        self.q_correct = 0
        self.step_exact = [0] * n_steps
        self.step_tokens = [0] * n_steps
        self.step_halted = [0] * n_steps
        self.thresholds = thresholds
        self.sweep_exact = [0] * len(thresholds)
        self.sweep_steps = [0] * len(thresholds)
        self.extra: dict[str, int] = {}

    def add(self, pred, labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Add a :class:`~trm.infer.voting.Prediction` for rows ``keep`` (padding rows excluded); returns the
        per-row exact flags of the kept rows."""
        labels = labels[keep]
        exact, correct, count = correctness(pred.preds[keep], labels)
        self.count += int(keep.sum())
        self.exact += int(exact.sum())
        self.tokens += int(count.sum())
        self.tokens_correct += int(correct.sum())
        steps = pred.steps[keep]
        self.steps_sum += int(steps.sum())
        self.compute += int(pred.compute[keep].sum())
        for s, c in zip(*np.unique(steps, return_counts=True), strict=True):
            self.steps_hist[min(int(s), self.N)] += int(c)
        self.q_correct += int(((pred.confidence[keep] >= 0.5) == exact).sum())
        if pred.step_preds is not None:
            s_exact, s_correct, _ = correctness(pred.step_preds[:, keep], labels)
            for k in range(self.N):
                self.step_exact[k] += int(s_exact[k].sum())
                self.step_tokens[k] += int(s_correct[k].sum())
                self.step_halted[k] += int((steps <= k + 1).sum())
            if pred.step_q is not None and self.thresholds:
                # what adaptive halting at threshold t would answer: the first step whose confidence passes t
                conf = sigmoid(pred.step_q[:, keep])  # [N, B]
                for i, t in enumerate(self.thresholds):
                    passed = conf > t
                    first = np.where(passed.any(0), passed.argmax(0), self.N - 1)
                    self.sweep_exact[i] += int(np.take_along_axis(s_exact, first[None], 0).sum())
                    self.sweep_steps[i] += int((first + 1).sum())
        return exact

    def add_extra(self, key: str, value: int) -> None:
        self.extra[key] = self.extra.get(key, 0) + int(value)

    def report(self) -> dict:
        n = max(self.count, 1)
        out = {
            "count": self.count,
            "exact_accuracy": self.exact / n,
            "exact_accuracy_ci95": list(wilson(self.exact, self.count)),
            "token_accuracy": self.tokens_correct / max(self.tokens, 1),
            "token_accuracy_ci95": list(wilson(self.tokens_correct, self.tokens)),
            "mean_steps": self.steps_sum / n,
            "calls_per_puzzle": self.compute / n,  # network calls: steps summed over trajectories and copies
            "steps_histogram": {str(k): v for k, v in enumerate(self.steps_hist) if v},
            "q_halt_accuracy": self.q_correct / n,
        }
        if any(self.step_halted):
            out["per_step"] = [
                {
                    "step": k + 1,
                    "exact_accuracy": self.step_exact[k] / n,
                    "token_accuracy": self.step_tokens[k] / max(self.tokens, 1),
                    "halted_fraction": self.step_halted[k] / n,
                }
                for k in range(self.N)
            ]
        if self.thresholds and any(self.sweep_steps):
            out["threshold_sweep"] = [
                {
                    "threshold": t,
                    "exact_accuracy": self.sweep_exact[i] / n,
                    "mean_steps": self.sweep_steps[i] / n,
                }
                for i, t in enumerate(self.thresholds)
            ]
        for k, v in self.extra.items():
            out[k] = v / n
            out[f"{k}_ci95"] = list(wilson(v, self.count))
        return out
