"""TaskInfo.extra: what a family needs beyond seq_len and vocabulary (an alphabet, a grid shape) comes from its
dataset's trm_task.json (Task.info_extra) and travels with the model (checkpoint meta, export manifests)."""

from __future__ import annotations

import json

import pytest

import trm.infer.tasks as infer_tasks
import trm.tasks as tasks
from trm.config import Config
from trm.tasks import TaskInfo, TokensTask, get_task, info_extra, resolve_info


class _Lettered(TokensTask):
    """A test family whose tokens are named by its dataset (``letters`` in trm_task.json)."""

    kind = "lettered"

    @classmethod
    def info_extra(cls, data_info):
        return {"letters": data_info["letters"]} if "letters" in data_info else None

    @classmethod
    def resolve(cls, seq_len, vocab_size, box=None):
        return TaskInfo(cls.kind, 0)


@pytest.fixture
def lettered(monkeypatch):
    real = tasks.task_class

    def task_class(kind):
        return _Lettered if kind == "lettered" else real(kind)

    monkeypatch.setattr(tasks, "task_class", task_class)
    monkeypatch.setattr(infer_tasks, "task_class", task_class)


def test_families_without_extra_are_unchanged():
    info = resolve_info("sudoku", 36, 8)
    assert info.extra is None and "extra" not in info.to_dict()
    assert info == TaskInfo("sudoku", 6, (2, 3)) and hash(info) == hash(TaskInfo("sudoku", 6, (2, 3)))
    assert get_task({"task": "maze", "size": 5}, 25, 6).info.extra is None


def test_the_family_takes_its_extra_from_the_dataset_info(lettered):
    data_info = {"task": "lettered", "letters": "abc", "seed": 3}
    task = get_task(data_info, 4, 4)
    assert task.info == TaskInfo("lettered", 0, None, {"letters": "abc"})
    assert info_extra(data_info) == {"letters": "abc"}
    assert info_extra(data_info, "maze") is None  # another kind's dataset says nothing about this one
    # the dict form (an export manifest's task_info) round-trips through JSON
    again = get_task(json.loads(json.dumps(task.info.to_dict())), 4, 4)
    assert again.info == task.info and hash(again.info) == hash(task.info)


def test_task_info_reads_the_extra_kept_in_a_checkpoint(lettered):
    cfg = Config().override({"task": "lettered", "model.seq_len": 4, "model.vocab_size": 4})
    meta = {"data_info": {"task": "lettered", "letters": "xyz"}}
    assert infer_tasks.task_info(cfg, meta).extra == {"letters": "xyz"}
    # a dataset handed in (trm eval --data) comes first; a dataset of another kind gives nothing
    assert infer_tasks.task_info(cfg, meta, {"task": "lettered", "letters": "pq"}).extra == {"letters": "pq"}
    assert infer_tasks.task_info(cfg, {"data_info": {"task": "maze", "letters": "no"}}).extra is None
    # an exported TaskInfo (meta["task_info"]) wins over both
    exported = {"task_info": {"kind": "lettered", "side": 0, "extra": {"letters": "e"}}, **meta}
    assert infer_tasks.task_info(cfg, exported).extra == {"letters": "e"}
    assert infer_tasks.task_info(Config().override({"model.seq_len": 4, "model.vocab_size": 4})).extra is None
