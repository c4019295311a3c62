"""A puzzle family is owned by its task class: consumers ask the registry (trm.tasks.TASKS) and the task object,
never compare a task kind with a literal (issue 27); what a new family must provide is checked here."""

import re
from pathlib import Path

import numpy as np
import pytest

from trm.tasks import TASKS, Task, TokensTask, arc, get_task, resolve_info, task_class
from trm.utils import TRMError

SRC = Path(__file__).resolve().parents[1] / "src" / "trm"
KIND = r"['\"](sudoku|maze|arc|custom)['\"]"
COMPARISONS = [
    re.compile(r"(kind|task|\.name)\s*(==|!=|in)\s*[\(\[]?\s*" + KIND),  # kind == "arc", task in ("maze", ...
    re.compile(r"(==|!=|\bin)\s*[\(\[\{][^)\]\}]*" + KIND),  # kind not in (spec.kind, "custom")
]
# the task layer itself, and the declarations of presets and demo tasks (which name their kind as data)
EXEMPT = ("tasks/", "presets.py", "data/presets.py")


def test_no_kind_literal_is_compared_outside_the_task_layer():
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(EXEMPT[0]) or rel in EXEMPT[1:]:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(p.search(line) for p in COMPARISONS):
                hits.append(f"{rel}:{n}: {line.strip()}")
    assert not hits, "ask the task (trm.tasks.Task) instead of comparing its kind:\n" + "\n".join(hits)


def test_the_pattern_finds_what_it_forbids():
    for line in ('if task.kind == "arc":', "kind != 'sudoku'", 'if kind not in (spec.kind, "custom"):'):
        assert any(p.search(line) for p in COMPARISONS), line


@pytest.mark.parametrize("kind", sorted(TASKS))
def test_every_family_provides_the_interface(kind):
    family = TASKS[kind]
    assert family.kind == kind and task_class(kind) is family
    assert family.title and family.puzzle_help and family.tool_name.startswith("solve_")
    for method in ("parse", "format", "cells"):  # what every family must implement (docs/EXTENDING.md)
        assert getattr(family, method) is not getattr(Task, method), (kind, method)
    seq_len, vocab = {
        "sudoku": (36, 8),
        "maze": (49, 6),
        "arc": (121, 12),
        "custom": (10, 5),
        "nqueens": (64, 3),
        "grid": (16, 3),
    }[kind]
    task = get_task(kind, seq_len, vocab)
    assert type(task) is family and task.info == resolve_info(kind, seq_len, vocab) and task.info.kind == kind
    assert task.headline == "pass@2" if task.per_task else task.headline == "exact_accuracy"


def test_unknown_kinds_are_custom_token_rows():
    assert task_class("chess") is TokensTask
    assert get_task("chess", 10, 5).info.kind == "custom"


def test_on_the_fly_augmentation_comes_from_the_family():
    maze = get_task("maze", 25, 6)
    rows = maze.parse("S    \n ### \n     \n ### \n    G").tokens[None]
    aug = maze.augmenter()
    seen = {aug(rows, rows, np.random.default_rng(s))[0].tobytes() for s in range(32)}
    assert len(seen) > 1 and all(len(b) == rows.nbytes for b in seen)
    assert get_task("arc", 121, 12).augmenter() is None and get_task("x", 10, 5).augmenter() is None


def test_make_augment_refuses_a_family_without_symmetries():
    from trm.config import Config
    from trm.train.data import make_augment

    cfg = Config().override({"model.seq_len": 121, "model.vocab_size": 12})
    with pytest.raises(TRMError, match="symmetries"):
        make_augment(cfg, {"task": "arc"})
    assert make_augment(cfg.override({"model.seq_len": 49, "model.vocab_size": 6}), {"task": "maze"})


def test_one_arc_palette():
    assert [arc.PALETTE[int(c)] for c in sorted(arc.ArcTask.palette)] == arc.PALETTE
    grid = arc.encode_canvas(np.array([[1, 2]]), side=3)
    r, g, b = arc.PALETTE[1]
    assert f"\x1b[48;2;{r};{g};{b}m" in "".join(arc.render_canvas(grid, colour=True))


def test_service_schema_lists_the_registry():
    pytest.importorskip("pydantic")
    from trm.deploy.server import request_model

    schema = request_model("sudoku", 16).model_json_schema()
    task = schema["properties"]["task"]
    kinds = next(a["enum"] for a in task.get("anyOf", [task]) if "enum" in a)
    assert kinds == list(TASKS)
    text = schema["properties"]["puzzle"]["description"]
    assert all(family.puzzle_help in text for family in TASKS.values())
