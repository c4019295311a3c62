"""The tasks of ``trm demo`` (declared as data beside their training presets: :data:`trm.presets.DEMO_TASKS`)
and what the demo asks of a dataset: whether one on disk is the task's, its held-out puzzles as the solver
takes them. :mod:`trm.app.demo` runs them all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..presets import DEMO_TASKS, DemoTask
from ..tasks import get_task

TASKS = DEMO_TASKS  # by name: what `trm demo --task` offers

__all__ = ["TASKS", "DemoTask", "held_out_puzzles", "matches"]


def matches(task: DemoTask, data_dir: Path) -> bool:
    """Whether ``data_dir`` holds a dataset built for ``task`` (then the demo reuses it); one without a val split
    (built before there was one) is not: the demo rebuilds it."""
    from ..data.format import SPLITS, load_task_info

    if not all((data_dir / s / "dataset.json").is_file() for s in SPLITS):
        return False
    info = load_task_info(data_dir)
    return all(info.get(k) == v for k, v in {"task": task.kind, **task.data_check}.items())


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
