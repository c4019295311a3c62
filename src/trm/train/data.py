"""The trainer's view of a dataset: validated splits, the model config made to fit them, a sampler.

Opening checks everything a run needs before any compute: both splits exist and are readable, and the
dataset's vocabulary size, sequence length and number of puzzle identifiers fit the model config. Presets
carry defaults for those three; the dataset's values replace them (with a printed note) unless the user set
them explicitly, or the run is resumed, in which case a mismatch is an error.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import Config
from ..data.format import load_split, load_task_info
from ..data.sampler import TrainSampler, test_batches
from ..tasks.sudoku import box_for_size, make_token_augmenter
from ..utils import TRMError

# model config keys that a dataset determines, with the dataset metadata field of each
DATASET_KEYS = {
    "vocab_size": "vocab_size",
    "seq_len": "seq_len",
    "num_puzzle_identifiers": "num_puzzle_identifiers",
}

_log = logging.getLogger(__name__)


@dataclass
class TrainData:
    cfg: Config  # the config with the dataset's values filled in
    train: Any  # trm.data.format.SplitData
    test: Any
    task: dict[
        str, Any
    ]  # trm_task.json of the dataset ({"task": "sudoku", ...}; {"task": "custom"} if absent)
    sampler: Any  # trm.data.sampler.TrainSampler for this rank
    rank: int
    world_size: int

    def test_batches(self, global_batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        # the padding of the last batch is cut off (metrics are summed per rank, shapes need not agree)
        return (
            {k: v[:real] for k, v in batch.items()}
            for batch, real in test_batches(
                self.test, global_batch_size, rank=self.rank, world_size=self.world_size
            )
            if real > 0
        )


def open_data(
    data_dir: Path,
    cfg: Config,
    *,
    explicit: frozenset[str] = frozenset(),
    strict: bool = False,
    rank: int = 0,
    world_size: int = 1,
    note: Callable[[str], None] = _log.info,
) -> TrainData:
    """Load and check ``data_dir`` for ``cfg``; returns the fitted config and this rank's sampler."""

    if not data_dir.is_dir():
        raise TRMError(f"dataset directory {data_dir} does not exist (build one with `trm data build ...`)")
    train = load_split(data_dir, "train")
    test = load_split(data_dir, cfg.data.test_split)
    task = load_task_info(data_dir)
    cfg = fit_model_to_dataset(
        cfg, train.metadata, explicit=explicit, strict=strict, note=note, where=str(data_dir)
    )
    _check_same_shape(train.metadata, test.metadata, data_dir, cfg.data.test_split)
    cfg = cfg.override({"data.path": str(data_dir.resolve())})
    if cfg.data.test_limit > 0:
        test = subset_examples(test, cfg.data.test_limit, seed=cfg.train.seed)
    augment = make_augment(cfg, task) if cfg.data.augment_on_the_fly else None
    sampler = TrainSampler(
        train,
        cfg.train.global_batch_size,
        seed=cfg.train.seed,
        rank=rank,
        world_size=world_size,
        augment=augment,
    )
    if sampler.steps_per_epoch() < 1 or train.num_examples < cfg.train.global_batch_size:
        raise TRMError(
            f"{data_dir}: the training split is smaller than one global batch "
            f"({cfg.train.global_batch_size}); lower train.global_batch_size"
        )
    return TrainData(cfg, train, test, task, sampler, rank, world_size)


def fit_model_to_dataset(
    cfg: Config,
    metadata: Any,
    *,
    explicit: frozenset[str] = frozenset(),
    strict: bool = False,
    note: Callable[[str], None] = _log.info,
    where: str = "dataset",
) -> Config:
    """Return ``cfg`` with vocab_size / seq_len / num_puzzle_identifiers taken from the dataset metadata."""
    changes = {}
    for key, meta_key in DATASET_KEYS.items():
        ours, theirs = getattr(cfg.model, key), int(getattr(metadata, meta_key))
        if ours == theirs:
            continue
        if key == "num_puzzle_identifiers" and cfg.model.puzzle_emb_ndim == 0:
            continue  # no puzzle embedding: identifiers are not used
        if strict or f"model.{key}" in explicit:
            why = "the checkpoint" if strict else "you set"
            raise TRMError(
                f"{where}: incompatible dataset: model.{key} is {ours} ({why}) but the dataset has "
                f"{meta_key} = {theirs}"
            )
        changes[f"model.{key}"] = theirs
    if changes:
        note(
            "note: taking " + ", ".join(f"{k}={v}" for k, v in changes.items()) + f" from the dataset {where}"
        )
        cfg = cfg.override(changes)
    return cfg


def _check_same_shape(train: Any, test: Any, data_dir: Path, split: str) -> None:
    for key in ("vocab_size", "seq_len"):
        a, b = getattr(train, key), getattr(test, key)
        if a != b:
            raise TRMError(f"{data_dir}: the train and {split} splits disagree on {key} ({a} vs {b})")


def subset_examples(split: Any, n: int, seed: int = 0) -> Any:
    """A fixed random subset of ``n`` examples (each its own puzzle), in their original order."""
    import dataclasses

    import numpy as np

    if n >= split.num_examples:
        return split
    idx = np.sort(np.random.default_rng(seed).choice(split.num_examples, n, replace=False))
    return dataclasses.replace(
        split,
        inputs=np.asarray(split.inputs[idx]),
        labels=np.asarray(split.labels[idx]),
        puzzle_identifiers=np.asarray(split.puzzle_identifiers)[split.example_puzzles()[idx]],
        puzzle_indices=np.arange(n + 1),
        group_indices=np.arange(n + 1),
    )


def make_augment(cfg: Config, task: dict[str, Any]):
    """The on-the-fly augmentation of the dataset's task (Sudoku: the symmetry 'shuffle' of SPEC §6)."""
    kind = task.get("task")
    if kind == "sudoku":
        side = math.isqrt(cfg.model.seq_len)
        box = tuple(task["box"]) if task.get("box") else box_for_size(side)
        return make_token_augmenter(box)
    raise TRMError(
        f"data.augment_on_the_fly is only available for Sudoku datasets (this dataset's task: {kind}); "
        "set data.augment_on_the_fly=false"
    )
