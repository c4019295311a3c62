"""Batches for training and evaluation (docs/DATA.md).

Training (:class:`TrainSampler`): an *epoch* visits every group once. Per epoch the groups are shuffled with
a generator seeded by ``(seed, epoch)``; for each group one of its puzzles is drawn, and its examples are
added to the global batch (a random subset when fewer places are left than it has examples). Full global
batches are yielded; the incomplete last batch of an epoch is dropped. Every rank builds the same global
batch and keeps rows ``[rank·B/W, (rank+1)·B/W)``.

Batches are dicts of torch tensors: ``inputs`` and ``labels`` int64 [B, S] (labels use ``IGNORE = -100``
for ignored positions), ``puzzle_identifiers`` int32 [B].

Held-out groups: a sampler given ``groups`` visits only those groups (the trainer leaves out the groups it
carved for validation); without it, every group of the split.

Resuming: ``state_dict()`` is JSON-serialisable (epoch, position in the epoch and the generator state after
the last yielded batch); a sampler given that state with ``load_state_dict`` yields exactly the batches the
original would have yielded next, including on-the-fly augmentation drawn from the same generator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from .errors import DataError
from .format import IGNORE, SplitData

Augment = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _check_ranks(global_batch_size: int, rank: int, world_size: int) -> int:
    if world_size < 1 or not 0 <= rank < world_size:
        raise DataError(f"rank {rank} is not in 0..{world_size - 1}")
    if global_batch_size < 1 or global_batch_size % world_size:
        raise DataError(
            f"global batch size {global_batch_size} must be a positive multiple of the world size "
            f"{world_size}"
        )
    return global_batch_size // world_size


def _to_batch(split: SplitData, idx: np.ndarray, pids: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "inputs": split.batch_inputs(idx),
        "labels": split.batch_labels(idx),
        "puzzle_identifiers": split.puzzle_identifiers[pids].astype(np.int32),
    }


class TrainSampler:
    """Infinite iterator of training batches (this rank's slice of each global batch).

    ``augment(inputs_row, labels_row, rng) -> (inputs_row, labels_row)`` is applied to every example of the
    global batch, in order, with the sampler's own generator (for example
    :meth:`trm.tasks.Task.augmenter`); labels reach it with -100 for ignored positions.
    """

    def __init__(
        self,
        split: SplitData,
        global_batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        augment: Augment | None = None,
        groups: np.ndarray | None = None,
    ) -> None:
        self.split = split
        # the groups an epoch visits (None: all of them, in the generator's order as before)
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        self.global_batch_size = int(global_batch_size)
        self.local_batch_size = _check_ranks(self.global_batch_size, rank, world_size)
        self.rank, self.world_size = rank, world_size
        self.seed = int(seed)
        self.augment = augment
        if self.num_groups < 1:
            raise DataError(f"{split.path}: no training groups")
        self.epoch = 0  # epochs completed
        self._pos = 0  # next position in this epoch's group order
        self._order: np.ndarray | None = None
        self._rng: np.random.Generator | None = None

    @property
    def num_groups(self) -> int:
        """Groups an epoch visits."""
        return self.split.num_groups if self.groups is None else len(self.groups)

    def steps_per_epoch(self) -> float:
        """Estimated optimizer steps per epoch: groups · mean_puzzle_examples / global_batch (official)."""
        m = self.split.metadata
        return self.num_groups * m.mean_puzzle_examples / self.global_batch_size

    def _start_epoch(self) -> None:
        self._rng = np.random.Generator(np.random.PCG64([self.seed, self.epoch]))
        self._order = self._rng.permutation(self.num_groups)
        if self.groups is not None:
            self._order = self.groups[self._order]
        self._pos = 0

    def state_dict(self) -> dict:
        return {
            "seed": self.seed,
            "global_batch_size": self.global_batch_size,
            "epoch": self.epoch,
            "position": self._pos,
            "rng": None if self._rng is None else self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; a state that is not one (wrong keys, types or ranges) is a DataError."""

        def integer(key: str, lo: int, hi: int | None = None) -> int:
            v = state.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo or (hi is not None and v > hi):
                raise DataError(
                    f"sampler state: {key} must be an integer in [{lo}, {'...' if hi is None else hi}], "
                    f"got {v!r:.80}"
                )
            return v

        if not isinstance(state, dict):
            raise DataError(f"sampler state: expected a mapping, got {type(state).__name__}")
        batch = integer("global_batch_size", 1)
        if batch != self.global_batch_size:
            raise DataError(f"sampler state is for global batch {batch}, not {self.global_batch_size}")
        seed, epoch = integer("seed", 0), integer("epoch", 0)
        rng_state = state.get("rng")
        position = integer("position", 0, self.num_groups) if rng_state is not None else 0
        if rng_state is not None:
            try:
                probe = np.random.PCG64()
                probe.state = rng_state
            except Exception:  # noqa: BLE001 - probing untrusted data: any failure means it is not a state
                raise DataError("sampler state: rng is not a PCG64 generator state") from None
        self.seed, self.epoch = seed, epoch
        if rng_state is None:
            self._rng = self._order = None
            self._pos = 0
            return
        self._start_epoch()
        self._pos = position
        assert self._rng is not None
        self._rng.bit_generator.state = rng_state

    def _next_global(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Example and puzzle indices of the next full global batch of this epoch, or None at its end."""
        assert self._order is not None and self._rng is not None
        rng, sp = self._rng, self.split
        gi, pi = sp.group_indices, sp.puzzle_indices
        want = self.global_batch_size
        ex, pz = [], []
        size = 0
        while self._pos < len(self._order) and size < want:
            g = int(self._order[self._pos])
            self._pos += 1
            p = int(rng.integers(gi[g], gi[g + 1]))
            start, n = int(pi[p]), int(pi[p + 1] - pi[p])
            take = min(n, want - size)
            if take < n:
                ex.append(start + rng.choice(n, take, replace=False))
            else:
                ex.append(np.arange(start, start + n))
            pz.append(np.full(take, p, dtype=np.int64))
            size += take
        if size < want:
            return None
        return np.concatenate(ex), np.concatenate(pz)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        empty = 0
        while True:
            if self._order is None:
                self._start_epoch()
            nxt = self._next_global()
            if nxt is not None:
                break
            self.epoch += 1
            self._order = None
            empty += 1
            if empty > 100:
                raise DataError(
                    f"{self.split.path}: epochs hold fewer examples than one global batch "
                    f"({self.global_batch_size}); use a smaller batch"
                )
        idx, pids = nxt
        batch = _to_batch(self.split, idx, pids)
        if self.augment is not None:
            assert self._rng is not None
            for i in range(len(idx)):
                batch["inputs"][i], batch["labels"][i] = self.augment(
                    batch["inputs"][i], batch["labels"][i], self._rng
                )
        lo = self.rank * self.local_batch_size
        hi = lo + self.local_batch_size
        return {
            "inputs": torch.from_numpy(np.ascontiguousarray(batch["inputs"][lo:hi])),
            "labels": torch.from_numpy(np.ascontiguousarray(batch["labels"][lo:hi])),
            "puzzle_identifiers": torch.from_numpy(np.ascontiguousarray(batch["puzzle_identifiers"][lo:hi])),
        }


def test_batches(
    split: SplitData, global_batch_size: int, rank: int = 0, world_size: int = 1
) -> Iterator[tuple[dict[str, torch.Tensor], int]]:
    """Every example in order, in global batches; yields (this rank's batch, its number of real rows).

    The last global batch is padded (inputs ``pad_id``, labels -100, identifier ``blank_identifier_id``);
    padding sits at the end of the global batch, so a rank's real rows are its first ``count`` rows.
    """
    local = _check_ranks(int(global_batch_size), rank, world_size)
    meta = split.metadata
    pids_of_ex = split.example_puzzles()
    total = split.num_examples
    for start in range(0, total, global_batch_size):
        lo = start + rank * local
        hi = min(lo + local, total)
        real = max(0, hi - lo)
        idx = np.arange(lo, lo + real)
        inputs = np.full((local, meta.seq_len), meta.pad_id, dtype=np.int64)
        labels = np.full((local, meta.seq_len), IGNORE, dtype=np.int64)
        ids = np.full(local, meta.blank_identifier_id, dtype=np.int32)
        if real:
            inputs[:real] = split.batch_inputs(idx)
            labels[:real] = split.batch_labels(idx)
            ids[:real] = split.puzzle_identifiers[pids_of_ex[idx]]
        yield (
            {
                "inputs": torch.from_numpy(inputs),
                "labels": torch.from_numpy(labels),
                "puzzle_identifiers": torch.from_numpy(ids),
            },
            real,
        )


test_batches.__test__ = False  # not a pytest test
