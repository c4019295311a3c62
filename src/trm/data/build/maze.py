"""Maze datasets: generated (``maze-hard``, ``maze-small``) or read from the official CSV files, optionally with
the 8 dihedral copies of every training maze."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...tasks.arc import dihedral
from ...tasks.maze import VOCAB_SIZE, encode
from ..errors import DataError
from ..maze_generate import default_min_path, generate
from ..readers import read_maze_csv
from ..write import one_per_puzzle, val_count, write_dataset


def _maze_split(mazes: np.ndarray, labels: np.ndarray, dihedral_aug: bool) -> dict[str, np.ndarray]:
    if dihedral_aug:
        mazes = np.concatenate([np.stack([dihedral(m, t) for m in mazes]) for t in range(8)])
        labels = np.concatenate([np.stack([dihedral(m, t) for m in labels]) for t in range(8)])
    return one_per_puzzle(encode(mazes), encode(labels))


def write_maze(
    out_dir,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    dihedral_aug: bool = False,
    info: dict | None = None,
    overwrite: bool = False,
    val: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Write mazes and labels [M, n, n] (training ones with their dihedral copies when asked; test and val
    as they are; ``val`` None or empty: no val split)."""
    n = train[0].shape[1]
    splits = {"train": _maze_split(*train, dihedral_aug), "test": _maze_split(*test, False)}
    if val is not None and len(val[0]):
        splits["val"] = _maze_split(*val, False)
    task = {
        "task": "maze",
        "size": int(n),
        "dihedral_augmentation": dihedral_aug,
        "val_puzzles": int(len(val[0])) if val is not None else 0,
        **(info or {}),
    }
    return write_dataset(
        out_dir,
        splits,
        ["<blank>"],
        vocab_size=VOCAB_SIZE,
        seq_len=n * n,
        ignore_label_id=0,
        task_info=task,
        overwrite=overwrite,
    )


def build_maze_generated(
    out_dir,
    size: int = 30,
    n_train: int = 1000,
    n_test: int = 1000,
    min_path: int | None = None,
    dihedral_aug: bool = False,
    seed: int = 0,
    workers: int = 1,
    progress: bool = False,
    overwrite: bool = False,
    unique_path: bool = False,
    walled: bool = False,
    perfect: bool = False,
    n_val: int | None = None,
) -> Path:
    """Generated mazes (:func:`trm.data.maze_generate.generate`): the first ``n_train`` train, the next ``n_test``
    test, less any test maze that equals a training maze or a dihedral copy of one (counted in the task info);
    the val split (``n_val``, default :func:`~trm.data.write.val_count`) holds further mazes from their own
    seed, none equal to a training maze (or a dihedral copy), a test maze or another validation maze."""
    mp = default_min_path(size, walled or perfect) if min_path is None else min_path
    mz, lb = generate(
        n_train + n_test,
        size,
        mp,
        seed,
        workers=workers,
        progress=progress,
        unique=unique_path,
        walled=walled,
        perfect=perfect,
    )
    # held out means unseen: test mazes equal to a training maze or one of its dihedral copies are dropped
    seen = {dihedral(m, t).tobytes() for m in mz[:n_train] for t in range(8)}
    keep = n_train + np.flatnonzero([m.tobytes() not in seen for m in mz[n_train:]])
    if n_test and not len(keep):
        raise DataError(
            f"all {n_test} test mazes also appear in training; use a larger --size or fewer mazes"
        )
    n_val = val_count(n_val, n_test)
    val_seed = seed + 104729
    vm, vl = mz[:0], lb[:0]
    if n_val:
        seen |= {m.tobytes() for m in mz[keep]}
        more_m, more_l = generate(
            n_val + n_val // 4 + 4,
            size,
            mp,
            val_seed,
            workers=workers,
            progress=progress,
            unique=unique_path,
            walled=walled,
            perfect=perfect,
        )
        pick = []
        for i, m in enumerate(more_m):
            if len(pick) < n_val and m.tobytes() not in seen:
                seen.add(m.tobytes())
                pick.append(i)
        vm, vl = more_m[pick], more_l[pick]
    info = {
        "source": "generated",
        "train_mazes": n_train,  # before the dihedral copies
        "min_path": mp,
        "seed": seed,
        "test_seen_in_train_dropped": n_test - len(keep),
        "val_seed": val_seed,
    }
    info.update(
        {k: v for k, v in (("unique_path", unique_path), ("walled", walled), ("perfect", perfect)) if v}
    )
    return write_maze(
        out_dir, (mz[:n_train], lb[:n_train]), (mz[keep], lb[keep]), dihedral_aug, info, overwrite, (vm, vl)
    )


def build_maze_csv(out_dir, train_csv, test_csv, dihedral_aug: bool = False, overwrite: bool = False) -> Path:
    """From the official CSV files, as they are: every training maze is trained on, so no val split is written
    (the trainer carves one from the training mazes)."""
    tr, te = read_maze_csv(train_csv), read_maze_csv(test_csv)
    if tr[0].shape[1:] != te[0].shape[1:]:
        raise DataError(f"{train_csv} and {test_csv} hold mazes of different sizes")
    return write_maze(out_dir, tr, te, dihedral_aug, {"source": "csv"}, overwrite)
