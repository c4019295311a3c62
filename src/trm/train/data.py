"""The trainer's view of a dataset: validated splits, the model config made to fit them, a sampler.

Opening checks everything a run needs before any compute: the splits exist and are readable, and the
dataset's vocabulary size, sequence length and number of puzzle identifiers fit the model config. Presets
carry defaults for those three; the dataset's values replace them (with a printed note) unless the user set
them explicitly, or the run is resumed, in which case a mismatch is an error.

Validation (what the trainer evaluates on during training, stops early on and keeps ``best`` by): the
dataset's ``data.val_split`` when it has one; otherwise ``data.val_groups`` training groups carved out with a
seeded generator (the original puzzle of each is evaluated; none of its augmented copies is trained on); with
``eval.select_on=test``, the test split itself (the official protocol). The test split is scored once, at the
end, and chooses nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Config
from ..data.format import load_split, load_task_info
from ..data.sampler import TrainSampler, test_batches
from ..tasks import get_task
from ..utils import TRMError

# model config keys that a dataset determines, with the dataset metadata field of each
DATASET_KEYS = {
    "vocab_size": "vocab_size",
    "seq_len": "seq_len",
    "num_puzzle_identifiers": "num_puzzle_identifiers",
}

_log = logging.getLogger(__name__)


# carving a validation set from the training groups: at most this fraction of them (but one of two or more)
CARVE_MAX_FRACTION = 0.1


@dataclass
class TrainData:
    cfg: Config  # the config with the dataset's values filled in
    train: Any  # trm.data.format.SplitData
    test: Any  # the test split (data.test_limit applied): scored once at the end
    val: Any  # what evaluations during training score (see the module doc)
    validation: dict[str, Any]  # how ``val`` was made (recorded in run_info.json)
    task: dict[
        str, Any
    ]  # trm_task.json of the dataset ({"task": "sudoku", ...}; {"task": "custom"} if absent)
    sampler: Any  # trm.data.sampler.TrainSampler for this rank
    rank: int
    world_size: int

    def batches(self, split: Any, global_batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        # the padding of the last batch is cut off (metrics are summed per rank, shapes need not agree)
        return (
            {k: v[:real] for k, v in batch.items()}
            for batch, real in test_batches(
                split, global_batch_size, rank=self.rank, world_size=self.world_size
            )
            if real > 0
        )

    def val_batches(self, global_batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        return self.batches(self.val, global_batch_size)

    def test_batches(self, global_batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        return self.batches(self.test, global_batch_size)


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
    d = cfg.data
    train = load_split(data_dir, "train")
    test = load_split(data_dir, d.test_split)
    task = load_task_info(data_dir)
    cfg = fit_model_to_dataset(
        cfg, train.metadata, explicit=explicit, strict=strict, note=note, where=str(data_dir)
    )
    _check_same_shape(train.metadata, test.metadata, data_dir, d.test_split)
    cfg = cfg.override({"data.path": str(data_dir.resolve())})
    if d.test_limit > 0:
        test = subset_examples(test, d.test_limit, seed=cfg.train.loop.seed)
    val, validation, groups = _validation(data_dir, cfg, train, test)
    augment = make_augment(cfg, task) if d.augment_on_the_fly else None
    sampler = TrainSampler(
        train,
        cfg.train.loop.global_batch_size,
        seed=cfg.train.loop.seed,
        rank=rank,
        world_size=world_size,
        augment=augment,
        groups=groups,
    )
    if sampler.steps_per_epoch() < 1 or train.num_examples < cfg.train.loop.global_batch_size:
        raise TRMError(
            f"{data_dir}: the training split is smaller than one global batch "
            f"({cfg.train.loop.global_batch_size}); lower train.loop.global_batch_size"
        )
    return TrainData(cfg, train, test, val, validation, task, sampler, rank, world_size)


def _validation(data_dir: Path, cfg: Config, train: Any, test: Any) -> tuple[Any, dict[str, Any], Any]:
    """The split evaluated during training, its description, and the training groups the sampler may visit
    (None: all)."""
    d, seed = cfg.data, cfg.train.loop.seed
    if cfg.eval.select_on == "test":
        info = {"selected_on": "test", "split": d.test_split, "source": "the dataset's test split"}
        return test, {**info, "examples": test.num_examples}, None
    groups = None
    if (data_dir / d.val_split / "dataset.json").is_file():
        val = load_split(data_dir, d.val_split)
        _check_same_shape(train.metadata, val.metadata, data_dir, d.val_split)
        info = {"selected_on": "val", "split": d.val_split, "source": "the dataset's validation split"}
    else:
        most = max(1, int(train.num_groups * CARVE_MAX_FRACTION)) if train.num_groups > 1 else 0
        n = min(d.val_groups, most)
        if n < 1:
            raise TRMError(
                f"{data_dir}: has no '{d.val_split}' split and no validation set can be carved from its "
                f"{train.num_groups} training groups (data.val_groups={d.val_groups}); rebuild the dataset "
                "(builders write a val split), raise data.val_groups, or set eval.select_on=test"
            )
        val, groups = carve_groups(train, n, seed)
        info = {
            "selected_on": "val",
            "split": "carved",
            "source": f"{n} of the {train.num_groups} training groups, held out from training",
            "groups": n,
            "seed": seed,
        }
    if d.val_limit > 0:
        val = subset_examples(val, d.val_limit, seed=seed)
    return val, {**info, "examples": val.num_examples}, groups


def carve_groups(split: Any, n: int, seed: int) -> tuple[Any, np.ndarray]:
    """Hold out ``n`` groups of ``split`` chosen with a generator seeded by ``seed``: returns the validation
    split (the first puzzle of each held-out group, the original in every builder, all its examples) and the
    sorted indices of the groups that remain for training."""
    rng = np.random.default_rng([seed, 0x76616C])  # "val"
    held = np.sort(rng.choice(split.num_groups, n, replace=False))
    keep = np.setdiff1d(np.arange(split.num_groups), held)
    first = np.asarray(split.group_indices)[held]
    pi = np.asarray(split.puzzle_indices)
    starts, ends = pi[first], pi[first + 1]
    idx = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
    counts = ends - starts
    meta = dataclasses.replace(
        split.metadata,
        total_groups=n,
        total_puzzles=n,
        mean_puzzle_examples=float(counts.mean()),
        sets=["all"],
    )
    val = dataclasses.replace(
        split,
        inputs=np.asarray(split.inputs[idx]),
        labels=np.asarray(split.labels[idx]),
        puzzle_identifiers=np.asarray(split.puzzle_identifiers)[first],
        puzzle_indices=np.concatenate([[0], np.cumsum(counts)]),
        group_indices=np.arange(n + 1),
        metadata=meta,
        sets=["all"],
        set_group_offsets=[0, n],
    )
    return val, keep


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
    """The on-the-fly augmentation of the dataset's task: a random symmetry of the family per batch (Sudoku:
    the official 'shuffle'; maze: a dihedral transform)."""
    augment = get_task(task, cfg.model.seq_len, cfg.model.vocab_size).augmenter()
    if augment is None:
        raise TRMError(
            f"data.augment_on_the_fly needs a puzzle family with symmetries (this dataset's task: "
            f"{task.get('task')}); set data.augment_on_the_fly=false"
        )
    return augment
