"""The task of a model, from its config, checkpoint and dataset: the adapter between a :class:`~trm.config.Config`
and :mod:`trm.tasks` (which holds every parser, verifier and symmetry)."""

from __future__ import annotations

from typing import Any

from ..tasks import Task, TaskInfo, TokensTask, get_task, info_extra, resolve_info, task_class


def task_info(cfg, meta: dict[str, Any] | None = None, data_info: dict[str, Any] | None = None) -> TaskInfo:
    """The task of a model, from (in order of precedence) a dataset's task info, the checkpoint's meta
    (``meta["task_info"]``), and its config: ``cfg.task`` names the kind; the grid side follows from
    ``cfg.model.seq_len`` = N² (see :func:`trm.tasks.resolve_info`). The family's extra
    (:attr:`TaskInfo.extra`) comes from ``meta["task_info"]``, else from the first of ``data_info`` and the
    training dataset's info kept in the checkpoint (``meta["data_info"]``) that is of the model's kind."""
    info: dict[str, Any] = {}
    for source in ((meta or {}).get("task_info"), data_info):
        if isinstance(source, dict):
            info.update({k: v for k, v in source.items() if v is not None})
    kind = str(info.get("kind") or info.get("task") or "custom")
    if task_class(kind) is TokensTask:  # a dataset without a task file names no family: the config may know
        kind = cfg.task
    extra = info.get("extra") if isinstance(info.get("extra"), dict) else None
    for source in (data_info, (meta or {}).get("data_info")):
        if extra is None and isinstance(source, dict):
            extra = info_extra(source, kind)
    return resolve_info(kind, cfg.model.seq_len, cfg.model.vocab_size, info.get("box"), extra)


def make_codec(info: TaskInfo, cfg) -> Task:
    """The :class:`~trm.tasks.Task` of a model with this config."""
    return get_task(info, cfg.model.seq_len, cfg.model.vocab_size)
