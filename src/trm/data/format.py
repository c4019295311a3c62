"""The on-disk dataset layout of the official code (docs/DATA.md), read with validation and written atomically.

Layout::

    DIR/identifiers.json                      list: identifier -> name, index 0 is "<blank>"
    DIR/<split>/dataset.json                  DatasetMetadata (splits: train, test, and ours: val)
    DIR/<split>/<set>__inputs.npy             [E, seq_len] integer tokens
    DIR/<split>/<set>__labels.npy             [E, seq_len] integer targets (ignore_label_id = ignored)
    DIR/<split>/<set>__puzzle_identifiers.npy [P] int32
    DIR/<split>/<set>__puzzle_indices.npy     [P + 1] int32 CSR offsets into the examples
    DIR/<split>/<set>__group_indices.npy      [G + 1] int32 CSR offsets into the puzzles
    DIR/trm_task.json                         ours, ignored by the official loader: task kind, box shape, ...

Builders in this package store tokens as uint8 and mark ignored label positions with ``ignore_label_id = 0``
(the PAD token) like the official builders; the loader maps them to ``IGNORE = -100`` (docs/PARITY.md) when batches
are made.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..tasks import IGNORE
from ..utils import read_json_file
from .errors import DataError

# the splits builders write (val: the validation split, docs/DATA.md; the official loader ignores it)
SPLITS = ("train", "val", "test")
FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")
TASK_FILE = "trm_task.json"
# bounds of dataset.json (docs/RELIABILITY.md): counts and ids are int32 like the official arrays
INT32_MAX = 2**31 - 1
MAX_VOCAB = 1 << 16
MAX_SEQ_LEN = 1 << 20
SET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class DatasetMetadata:
    """``dataset.json`` of one split (official field names and meaning)."""

    pad_id: int
    ignore_label_id: int | None
    blank_identifier_id: int
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    total_groups: int
    mean_puzzle_examples: float
    total_puzzles: int
    sets: list[str] = field(default_factory=lambda: ["all"])

    @classmethod
    def from_json(cls, obj: Any, where: str) -> DatasetMetadata:
        """Check every field (types, ranges, set names) of a parsed ``dataset.json``; DataError naming ``where``."""
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        missing = [f for f in cls.__dataclass_fields__ if f not in obj]
        if missing:
            raise DataError(f"{where}: missing field(s) {', '.join(missing)}")

        def integer(k: str, lo: int, hi: int = INT32_MAX, allow_none: bool = False) -> None:
            v = obj[k]
            if v is None and allow_none:
                return
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise DataError(
                    f"{where}: {k} must be an integer in [{lo}, {hi}]"
                    f"{' or null' if allow_none else ''}, got {_short(v)}"
                )

        integer("vocab_size", 1, MAX_VOCAB)
        integer("seq_len", 1, MAX_SEQ_LEN)
        integer("num_puzzle_identifiers", 1)
        for k in ("total_groups", "total_puzzles"):
            integer(k, 0)
        integer("pad_id", 0, obj["vocab_size"] - 1)
        integer("blank_identifier_id", 0, obj["num_puzzle_identifiers"] - 1)
        integer("ignore_label_id", -INT32_MAX, INT32_MAX, allow_none=True)
        mean = obj["mean_puzzle_examples"]
        if (
            not isinstance(mean, (int, float))
            or isinstance(mean, bool)
            or not math.isfinite(mean)
            or not 0 <= mean <= INT32_MAX
        ):
            raise DataError(f"{where}: mean_puzzle_examples must be a finite number >= 0, got {_short(mean)}")
        sets = obj["sets"]
        if (
            not isinstance(sets, list)
            or not sets
            or not all(isinstance(s, str) and SET_NAME.fullmatch(s) for s in sets)
        ):
            raise DataError(
                f"{where}: sets must be a non-empty list of names made of letters, digits, '_', '-' "
                f"and '.', got {_short(sets)}"
            )
        if len(set(sets)) != len(sets):
            raise DataError(f"{where}: sets lists a name twice")
        return cls(**{k: obj[k] for k in cls.__dataclass_fields__})

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class SplitData:
    """One split, all of its sets concatenated (offsets shifted so that they index the concatenation).

    Arrays are as stored (typically uint8 tokens, memory-mapped); use :meth:`batch_labels` to get labels with
    ignored positions as ``IGNORE`` (-100).
    """

    inputs: np.ndarray
    labels: np.ndarray
    puzzle_identifiers: np.ndarray
    puzzle_indices: np.ndarray
    group_indices: np.ndarray
    metadata: DatasetMetadata
    sets: list[str]
    set_group_offsets: list[int]  # group index where each set starts (len(sets) + 1 entries)
    path: Path | None = None

    @property
    def num_groups(self) -> int:
        return len(self.group_indices) - 1

    @property
    def num_puzzles(self) -> int:
        return len(self.puzzle_indices) - 1

    @property
    def num_examples(self) -> int:
        return len(self.inputs)

    def batch_inputs(self, idx: np.ndarray) -> np.ndarray:
        return np.asarray(self.inputs[idx], dtype=np.int64)

    def batch_labels(self, idx: np.ndarray) -> np.ndarray:
        lab = np.asarray(self.labels[idx], dtype=np.int64)
        if self.metadata.ignore_label_id is not None:
            lab[lab == self.metadata.ignore_label_id] = IGNORE
        return lab

    def example_puzzles(self) -> np.ndarray:
        """Puzzle index of every example [E]."""
        return np.repeat(np.arange(self.num_puzzles), np.diff(self.puzzle_indices))


def read_json(path: Path, what: str) -> Any:
    return read_json_file(path, what, error=DataError)


def load_metadata(root: str | os.PathLike, split: str) -> DatasetMetadata:
    p = Path(root) / split / "dataset.json"
    return DatasetMetadata.from_json(read_json(p, "dataset metadata"), str(p))


def load_identifiers(root: str | os.PathLike) -> list[str]:
    p = Path(root) / "identifiers.json"
    ids = read_json(p, "identifier list")
    if not isinstance(ids, list) or not all(isinstance(s, str) for s in ids):
        raise DataError(f"{p}: expected a JSON list of names")
    return ids


def load_task_info(root: str | os.PathLike) -> dict:
    """Our task description of a dataset (``trm_task.json``): {"task": "sudoku"|"maze"|"arc"|"custom", ...}.

    ``{"task": "custom"}`` when the file is absent (for example a dataset built by the official scripts)."""
    p = Path(root) / TASK_FILE
    if not p.exists():
        return {"task": "custom"}
    info = read_json(p, "task info")
    if not isinstance(info, dict) or not isinstance(info.get("task"), str):
        raise DataError(f"{p}: expected a JSON object with a 'task' name")
    return info


def _load_array(path: Path, mmap: bool) -> np.ndarray:
    """A .npy array, never unpickled (``allow_pickle=False``); any failure is a DataError naming the file."""
    if not path.exists():
        raise DataError(f"{path}: missing")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file, expected a .npy array")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - numpy's header parser raises ValueError, EOFError, SyntaxError, ...
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        if "pickle" in reason.lower() or "Python objects" in reason:
            reason = "it holds pickled Python objects or is not a .npy file; trm never unpickles"
        raise DataError(f"{path}: not a readable .npy array ({reason})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        if hasattr(arr, "close"):
            arr.close()
        raise DataError(f"{path}: not a .npy array (an .npz archive?)")
    return arr


def _check_offsets(arr: np.ndarray, end: int, what: str, where: str) -> None:
    if arr.ndim != 1 or arr.size < 1:
        raise DataError(f"{where}: {what} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{where}: {what} must be integers, got {arr.dtype}")
    if arr[0] != 0 or arr[-1] != end:
        raise DataError(f"{where}: {what} must start at 0 and end at {end}, got {arr[0]}..{arr[-1]}")
    arr = arr.astype(np.int64)  # unsigned differences would wrap around instead of going negative
    if arr.size > 1 and (np.diff(arr) <= 0).any():
        i = int(np.argmax(np.diff(arr) <= 0))
        raise DataError(f"{where}: {what} must be strictly increasing (entry {i}: {arr[i]} -> {arr[i + 1]})")


def _minmax(a: np.ndarray) -> tuple[int, int]:
    lo, hi = None, None
    step = 1 << 24
    flat = a.reshape(-1)
    for s in range(0, flat.size, step):
        part = np.asarray(flat[s : s + step])
        a_lo, a_hi = int(part.min()), int(part.max())
        lo = a_lo if lo is None else min(lo, a_lo)
        hi = a_hi if hi is None else max(hi, a_hi)
    return (0, 0) if lo is None else (lo, hi)


def load_split(
    root: str | os.PathLike, split: str, *, mmap: bool = True, check_values: bool = True
) -> SplitData:
    """Load and validate ``root/split`` (every set, concatenated in the order of ``metadata.sets``).

    Checks shapes, integer dtypes, CSR offsets, identifier range and (``check_values``) the token range of
    inputs and labels; any problem raises :class:`DataError` naming the file.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset directory not found")
    if not (root / split).is_dir():
        raise DataError(f"{root}: has no '{split}' split (expected {root / split}/dataset.json)")
    meta = load_metadata(root, split)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in FIELDS}
    set_offsets = [0]
    n_ex = n_pz = 0
    for set_name in meta.sets:
        arrays = {k: _load_array(root / split / f"{set_name}__{k}.npy", mmap) for k in FIELDS}
        where = f"{root / split}/{set_name}"
        inp, lab = arrays["inputs"], arrays["labels"]
        for k in ("inputs", "labels"):
            a = arrays[k]
            if a.ndim != 2 or a.shape[1] != meta.seq_len:
                raise DataError(f"{where}__{k}.npy: expected shape [examples, {meta.seq_len}], got {a.shape}")
            if not np.issubdtype(a.dtype, np.integer):
                raise DataError(f"{where}__{k}.npy: expected integer tokens, got {a.dtype}")
        if inp.shape != lab.shape:
            raise DataError(f"{where}: inputs {inp.shape} and labels {lab.shape} differ in shape")
        pid = arrays["puzzle_identifiers"]
        if pid.ndim != 1 or not np.issubdtype(pid.dtype, np.integer):
            raise DataError(
                f"{where}__puzzle_identifiers.npy: expected a 1-D integer array, got {pid.dtype} {pid.shape}"
            )
        _check_offsets(np.asarray(arrays["puzzle_indices"]), len(inp), "puzzle_indices", where)
        if len(arrays["puzzle_indices"]) != len(pid) + 1:
            raise DataError(
                f"{where}: {len(pid)} puzzle identifiers but {len(arrays['puzzle_indices']) - 1} puzzles"
            )
        _check_offsets(np.asarray(arrays["group_indices"]), len(pid), "group_indices", where)
        if len(pid):
            lo, hi = int(pid.min()), int(pid.max())
            if lo < 0 or hi >= meta.num_puzzle_identifiers:
                raise DataError(
                    f"{where}__puzzle_identifiers.npy: values {lo}..{hi} outside "
                    f"0..{meta.num_puzzle_identifiers - 1} (num_puzzle_identifiers)"
                )
        if check_values and len(inp):
            lo, hi = _minmax(inp)
            if lo < 0 or hi >= meta.vocab_size:
                raise DataError(
                    f"{where}__inputs.npy: tokens {lo}..{hi} outside the vocabulary 0..{meta.vocab_size - 1}"
                )
            lo, hi = _minmax(lab)
            ok_lo = (
                lo >= 0 or lo == IGNORE or (meta.ignore_label_id is not None and lo == meta.ignore_label_id)
            )
            if not ok_lo or hi >= meta.vocab_size:
                raise DataError(
                    f"{where}__labels.npy: labels {lo}..{hi} outside the vocabulary 0..{meta.vocab_size - 1}"
                )
            if lo < 0 and lo != IGNORE and lo != meta.ignore_label_id:
                raise DataError(f"{where}__labels.npy: negative label {lo}")
        parts["inputs"].append(inp)
        parts["labels"].append(lab)
        parts["puzzle_identifiers"].append(np.asarray(pid, dtype=np.int32))
        parts["puzzle_indices"].append(np.asarray(arrays["puzzle_indices"], dtype=np.int64)[:-1] + n_ex)
        parts["group_indices"].append(np.asarray(arrays["group_indices"], dtype=np.int64)[:-1] + n_pz)
        n_ex += len(inp)
        n_pz += len(pid)
        set_offsets.append(set_offsets[-1] + len(arrays["group_indices"]) - 1)
    if set_offsets[-1] != meta.total_groups:
        raise DataError(
            f"{root / split}/dataset.json: total_groups is {meta.total_groups} but the sets hold "
            f"{set_offsets[-1]} groups"
        )
    one = len(meta.sets) == 1
    inputs = parts["inputs"][0] if one else np.concatenate(parts["inputs"])
    labels = parts["labels"][0] if one else np.concatenate(parts["labels"])
    return SplitData(
        inputs=inputs,
        labels=labels,
        puzzle_identifiers=np.concatenate(parts["puzzle_identifiers"]),
        puzzle_indices=np.concatenate(parts["puzzle_indices"] + [np.array([n_ex])]),
        group_indices=np.concatenate(parts["group_indices"] + [np.array([n_pz])]),
        metadata=meta,
        sets=list(meta.sets),
        set_group_offsets=set_offsets,
        path=root / split,
    )


def describe(root: str | os.PathLike) -> dict:
    """A summary of a dataset directory (used by ``trm data info``)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset directory not found")
    if not any((root / split / "dataset.json").exists() for split in ("train", "test")):
        raise DataError(f"{root}: not a dataset (no train/dataset.json or test/dataset.json)")
    info: dict[str, Any] = {"path": str(root), "task": load_task_info(root)}
    try:
        info["identifiers"] = len(load_identifiers(root))
    except DataError:
        info["identifiers"] = None
    for split in SPLITS:
        if not (root / split).is_dir():
            continue
        sd = load_split(root, split)
        info[split] = {
            **sd.metadata.to_json(),
            "examples": sd.num_examples,
            "puzzles": sd.num_puzzles,
            "groups": sd.num_groups,
            "dtype": str(sd.inputs.dtype),
            "bytes": int(sum(p.stat().st_size for p in (root / split).iterdir())),
        }
    return info
