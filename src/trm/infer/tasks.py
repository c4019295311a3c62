"""The task of a model, from its config, checkpoint and dataset: the adapter between a :class:`~trm.config.Config`
and :mod:`trm.tasks` (which holds every parser, verifier and symmetry)."""

from __future__ import annotations

from typing import Any

from ..tasks import Task, TaskInfo, TokensTask, get_task, resolve_info, task_class


def task_info(cfg, meta: dict[str, Any] | None = None, data_info: dict[str, Any] | None = None) -> TaskInfo:
    """The task of a model, from (in order of precedence) a dataset's task info, the checkpoint's meta
    (``meta["task_info"]``), and its config: ``cfg.task`` names the kind; the grid side follows from
    ``cfg.model.seq_len`` = N² (see :func:`trm.tasks.resolve_info`)."""
    info: dict[str, Any] = {}
    for source in ((meta or {}).get("task_info"), data_info):
        if isinstance(source, dict):
            info.update({k: v for k, v in source.items() if v is not None})
    kind = str(info.get("kind") or info.get("task") or "custom")
    if task_class(kind) is TokensTask:  # a dataset without a task file names no family: the config may know
        kind = cfg.task
    return resolve_info(kind, cfg.model.seq_len, cfg.model.vocab_size, info.get("box"))


def make_codec(info: TaskInfo, cfg) -> Task:
    """The :class:`~trm.tasks.Task` of a model with this config."""
    return get_task(info, cfg.model.seq_len, cfg.model.vocab_size)
