"""Writing the official dataset layout (:mod:`.format` reads and validates it): atomically, into a
temporary directory that replaces the target only once complete and re-validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..tasks import IGNORE
from ..utils import atomic_directory, atomic_write_json
from .errors import DataError
from .format import FIELDS, TASK_FILE, DatasetMetadata, load_split


class DatasetWriter(atomic_directory):
    """Build a dataset in a temporary directory next to ``out_dir`` and move it into place on success.

    ``with DatasetWriter(out) as w: ...`` — write files under ``w.tmp``; when the block raises, the
    temporary directory is removed and nothing appears at ``out``. An existing ``out`` is replaced only with
    ``overwrite=True`` (and only after the new one is complete).
    """

    def __init__(self, out_dir: str | os.PathLike, overwrite: bool = False) -> None:
        super().__init__(out_dir)
        self.overwrite = overwrite

    def __enter__(self) -> DatasetWriter:
        if self.path.exists() and not self.overwrite:
            raise DataError(f"{self.path}: already exists (use --overwrite / overwrite=True to replace it)")
        if self.path.exists() and not self.path.is_dir():
            raise DataError(f"{self.path}: exists and is not a directory")
        super().__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            super().__exit__(exc_type, exc, tb)
        except OSError as e:
            exc = e
        if isinstance(exc, OSError):  # a full disk, a size limit, permissions: one line naming the dataset
            kept = "the previous dataset is kept" if self.path.exists() else "nothing was written"
            raise DataError(
                f"{self.path}: cannot write the dataset ({exc.strerror or exc}); {kept}"
            ) from None

    def split_dir(self, split: str) -> Path:
        d = self.tmp / split
        d.mkdir(parents=True, exist_ok=True)
        return d

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.tmp / name, obj)


# the validation split builders write beside train and test (docs/DATA.md): puzzles of the test split's kind,
# disjoint from both, at most this many by default
VAL_DEFAULT_MAX = 500
VAL_HELP = (
    "validation puzzles written as the val split (the trainer's evaluations, early stopping and best "
    f"checkpoint use it; ARC: tasks that lend it one demonstration pair); default: a tenth of the test size, "
    f"at most {VAL_DEFAULT_MAX}; 0 = no val split"
)


def one_per_puzzle(inputs: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """A split of token rows [m, S] where every example is a puzzle of its own (one group each, no puzzle
    identifiers): the arrays :func:`write_dataset` takes."""
    m = len(inputs)
    return {
        "inputs": np.asarray(inputs).astype(np.uint8),
        "labels": np.asarray(labels).astype(np.uint8),
        "puzzle_identifiers": np.zeros(m, np.int32),
        "puzzle_indices": np.arange(m + 1, dtype=np.int32),
        "group_indices": np.arange(m + 1, dtype=np.int32),
    }


def val_count(val: int | None, n_test: int) -> int:
    """How many validation puzzles to write: ``val``, or by default a tenth of ``n_test`` (at least 1 when
    there is a test split, at most :data:`VAL_DEFAULT_MAX`)."""
    if val is not None:
        if val < 0:
            raise DataError(f"the number of validation puzzles must be >= 0, got {val}")
        return val
    return min(VAL_DEFAULT_MAX, max(1 if n_test else 0, n_test // 10))


def _token_dtype(arrays: list[np.ndarray]) -> np.dtype:
    lo = min((int(a.min()) for a in arrays if a.size), default=0)
    hi = max((int(a.max()) for a in arrays if a.size), default=0)
    for dt in (np.uint8, np.int16, np.int32):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dt)
    return np.dtype(np.int64)


def split_metadata(
    sets: Mapping[str, Mapping[str, np.ndarray]],
    *,
    vocab_size: int,
    seq_len: int,
    num_puzzle_identifiers: int,
    pad_id: int = 0,
    ignore_label_id: int | None = 0,
    blank_identifier_id: int = 0,
) -> DatasetMetadata:
    groups = sum(len(s["group_indices"]) - 1 for s in sets.values())
    puzzles = sum(len(s["puzzle_indices"]) - 1 for s in sets.values())
    examples = sum(len(s["inputs"]) for s in sets.values())
    return DatasetMetadata(
        pad_id=pad_id,
        ignore_label_id=ignore_label_id,
        blank_identifier_id=blank_identifier_id,
        vocab_size=vocab_size,
        seq_len=seq_len,
        num_puzzle_identifiers=num_puzzle_identifiers,
        total_groups=groups,
        mean_puzzle_examples=(examples / puzzles) if puzzles else 0.0,
        total_puzzles=puzzles,
        sets=list(sets.keys()),
    )


def write_split(
    w: DatasetWriter, split: str, sets: Mapping[str, Mapping[str, np.ndarray]], meta: DatasetMetadata
) -> None:
    d = w.split_dir(split)
    for set_name, arrays in sets.items():
        missing = [k for k in FIELDS if k not in arrays]
        if missing:
            raise DataError(f"split {split}/{set_name}: missing array(s) {', '.join(missing)}")
        inp, lab = np.asarray(arrays["inputs"]), np.asarray(arrays["labels"])
        if inp.ndim != 2 or inp.shape[1] != meta.seq_len or lab.shape != inp.shape:
            raise DataError(
                f"split {split}/{set_name}: inputs {inp.shape} / labels {lab.shape} must be "
                f"[examples, {meta.seq_len}]"
            )
        if meta.ignore_label_id is not None:
            lab = np.where(lab == IGNORE, meta.ignore_label_id, lab)
        tok = _token_dtype([inp, lab])
        np.save(d / f"{set_name}__inputs.npy", inp.astype(tok, copy=False))
        np.save(d / f"{set_name}__labels.npy", lab.astype(tok, copy=False))
        for k in ("puzzle_identifiers", "puzzle_indices", "group_indices"):
            np.save(d / f"{set_name}__{k}.npy", np.asarray(arrays[k]).astype(np.int32))
    atomic_write_json(d / "dataset.json", meta.to_json())


def write_dataset(
    out_dir: str | os.PathLike,
    splits: Mapping[str, Any],
    identifiers: list[str],
    *,
    vocab_size: int,
    seq_len: int,
    pad_id: int = 0,
    ignore_label_id: int | None = 0,
    blank_identifier_id: int = 0,
    task_info: dict | None = None,
    extra: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a dataset atomically.

    ``splits`` maps a split name ("train", "test", "val") to either one set's arrays (a dict with the five
    ``FIELDS``; saved as set "all") or a mapping set name -> arrays. Labels may use -100 for ignored positions
    (stored as ``ignore_label_id``). ``task_info`` goes to ``trm_task.json``; ``extra`` maps further file
    names to JSON-serialisable objects (e.g. ``test_puzzles.json``). After writing, every split is re-loaded
    and validated.
    """
    if not identifiers or identifiers[0] != "<blank>":
        raise DataError("identifiers[0] must be '<blank>'")
    out = Path(out_dir)
    with DatasetWriter(out, overwrite) as w:
        for split, value in splits.items():
            sets = {"all": value} if "inputs" in value else dict(value)
            meta = split_metadata(
                sets,
                vocab_size=vocab_size,
                seq_len=seq_len,
                num_puzzle_identifiers=len(identifiers),
                pad_id=pad_id,
                ignore_label_id=ignore_label_id,
                blank_identifier_id=blank_identifier_id,
            )
            write_split(w, split, sets, meta)
        w.write_json("identifiers.json", list(identifiers))
        if task_info is not None:
            w.write_json(TASK_FILE, task_info)
        for name, obj in (extra or {}).items():
            w.write_json(name, obj)
        for split in splits:
            load_split(w.tmp, split)
    return out
