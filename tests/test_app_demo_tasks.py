"""``trm demo --task``: every task's whole demo path on a tiny budget; the run directory then evaluates, solves
(with the verifier's verdict) and exports to ONNX."""

import json

import numpy as np
import pytest

from trm.app.demo_tasks import TASKS, matches
from trm.cli import main
from trm.data.presets import DATASET_PRESETS
from trm.presets import get_preset

TINY = [
    "train.autotune=false",
    "train.kernels=eager",
    "train.dtype=float32",
    "train.global_batch_size=8",
    "train.max_steps=2",
    "train.lr_warmup_steps=1",  # at most max_steps
    "train.eval_interval_steps=2",
    "model.hidden_size=16",
    "model.num_heads=2",
    "model.N_sup=2",
]


def arc_source(root):
    """Three tiny ARC tasks (flip, recolour, transpose) in the task-per-file layout."""
    rng = np.random.default_rng(0)
    rules = {"flip0001": np.fliplr, "recol002": lambda g: np.where(g == 1, 2, g), "trans003": np.transpose}
    for name, rule in rules.items():
        grids = [rng.integers(0, 3, (3, 3)) for _ in range(3)]
        pairs = [{"input": g.tolist(), "output": rule(g).tolist()} for g in grids]
        (root / "training").mkdir(parents=True, exist_ok=True)
        (root / "training" / f"{name}.json").write_text(json.dumps({"train": pairs[:2], "test": pairs[2:]}))
    return root


def tiny_data(task, tmp_path):
    if task == "sudoku9":
        opts = {"size": 9, "train": 24, "test": 8, "blanks": (40, 50)}
        return DATASET_PRESETS["sudoku-generated"].build(tmp_path / "data", **opts)
    if task == "maze":
        return DATASET_PRESETS["maze-small"].build(tmp_path / "data", size=11, train=24, test=8, perfect=True)
    source = arc_source(tmp_path / "arc")  # arc-small: the tasks with the fewest cells (here all three)
    return DATASET_PRESETS["arc-small"].build(tmp_path / "data", source=source, augmentations=1)


@pytest.mark.parametrize("task", ["sudoku9", "maze", "arc"])
def test_demo_task_end_to_end(task, tmp_path, capsys):
    out, data = tmp_path / "run", tiny_data(task, tmp_path)
    args = ["demo", "--task", task, "--out", str(out), "--minutes", "1"]
    args += ["--data", str(data)]
    extra = ["model.puzzle_emb_ndim=16", "train.global_batch_size=2"] if task == "arc" else []
    assert main(args + TINY + extra) == 0
    text = capsys.readouterr().out
    assert f"learns {TASKS[task].title}" in text.splitlines()[0]
    assert "direct prediction after" in text and "answer: " in text
    summary = json.loads((out / "demo_summary.json").read_text())
    assert summary["task"] == task and summary["trm"]["steps"] == 2 and summary["direct"]["steps"] >= 1
    keys = {"sudoku9": "valid_accuracy", "maze": "valid_shortest_accuracy", "arc": "pass@2"}
    assert 0 <= summary["trm"][keys[task]] <= 1 and keys[task] in summary["direct"]
    if task == "arc":
        assert "pass@2" in text and "flip0001" in text  # the per-task table
        assert set(json.loads((out / "eval" / "submission.json").read_text())) == {
            "flip0001",
            "recol002",
            "trans003",
        }
        assert 0 <= summary["trm"]["train_exact_accuracy"] <= 1
    if task == "maze":  # the preset votes over the 8 dihedral copies; one pass is reported beside it
        for side in ("trm", "direct"):
            assert summary[side]["augment"] == 8 and 0 <= summary[side]["one_pass"]["exact_accuracy"] <= 1
        assert "8 symmetric copies voted" in text and "one pass, no voting: exact" in text
        assert "in one pass)" in text.split("recursion gains")[1].splitlines()[0]
    else:
        assert "one_pass" not in summary["trm"] and "voted" not in text

    # the run directory is an ordinary run: it evaluates, solves with a verdict and exports
    assert main(["eval", str(out), "--data", str(data), "--out", str(tmp_path / "ev"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["task"] == TASKS[task].kind and keys[task] in report
    if task == "arc":
        puzzle = tmp_path / "arc" / "training" / "flip0001.json"
    else:
        puzzle = text.split("test puzzle #")[1].split("\n\n")[0].split("\n", 1)[1]
    rc = main(["solve", str(out), str(puzzle), "--data", str(data), "--json"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["valid"] in (True, False) and rc == (0 if result["valid"] else 1)
    assert main(["export", str(out), "--format", "onnx", "--out", str(tmp_path / "onnx")]) == 0
    assert (tmp_path / "onnx" / "step.onnx").is_file()
    # how the training puzzles were made travels with the model (serve's examples follow it)
    meta = json.loads((tmp_path / "onnx" / "trm_export.json").read_text())["meta"]
    assert meta["data_info"] == json.loads((data / "trm_task.json").read_text())


def test_demo_task_table_is_consistent():
    for name, task in TASKS.items():
        assert name == task.name and task.dataset in DATASET_PRESETS
        cfg = get_preset(task.preset)
        assert cfg.task == task.kind and task.minutes <= 30 and 0 < task.target <= 1
        # the build options are written out again in the reuse check and the help's summary: they must agree
        b, check = task.build, task.data_check
        if "size" in b:
            assert check["size"] == b["size"]
        if "train" in b:
            assert check.get("train_mazes", check.get("train_puzzles")) == b["train"]
            assert f"{b['train']:,} generated" in task.summary
        if "blanks" in b:
            assert (
                tuple(check["blanks"]) == b["blanks"] and "{}-{} blanks".format(*b["blanks"]) in task.summary
            )
        if b.get("perfect"):
            assert check["perfect"] is True
        if task.kind == "arc":  # the canvas the demo's preset is sized for
            assert check["canvas"] ** 2 == cfg.model.seq_len
        if "val" in b and task.kind == "sudoku":
            assert check["val_puzzles"] == b["val"]


def test_demo_rebuilds_a_dataset_without_a_val_split(tmp_path):
    import dataclasses
    import shutil

    data = DATASET_PRESETS["sudoku-generated"].build(tmp_path / "d", size=6, train=12, test=10, val=3)
    task = dataclasses.replace(TASKS["sudoku6"], data_check={"size": 6, "val_puzzles": 3})
    assert matches(task, data)
    shutil.rmtree(data / "val")  # as built before there was a val split
    assert not matches(task, data)


def test_unknown_demo_task(tmp_path, capsys):
    assert main(["demo", "--task", "chess", "--out", str(tmp_path / "x")]) == 2
    assert "unknown demo task 'chess'" in capsys.readouterr().err


def test_demo_help_lists_each_task_from_its_definition(capsys):
    """The help's task list is written from ``TASKS`` (budget and all), so it cannot go stale."""
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for t in TASKS.values():
        assert f"{t.name} {t.title}: {' '.join(t.summary.split())} ({t.minutes:g} min)" in text
