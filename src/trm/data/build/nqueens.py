"""N-Queens completion datasets in the form GRAM (arXiv 2605.19376) uses: every instance starts from a solved
N×N board (one of all its solutions, drawn uniformly) and has k queens removed (k uniform in ``removed``:
5-7 on 8×8, 7-9 on 10×10); 20,000 instances on 8×8, 40,000 on 10×10; 15% of the instances held out.

Held out means unseen: the held-out share is taken by **input board** (the distinct boards, shuffled, are held
out until their instances make up ``held_out`` percent of all), so no held-out board is ever a training
input. Training keeps every instance of its boards (with repetition: 8×8 has only 92 solutions and 5,148
distinct boards with 1-3 queens, fewer than 20,000); the test and val splits hold each held-out board once.

Labels. A board with few queens has several completions. By default every board is labelled with its first
completion (lexicographic in the queen's column, row by row): a deterministic target. ``source_labels``
labels a training instance with the solved board it was made from instead (GRAM's form: one board then has
several labels). Held-out boards are always labelled with their first completion (the ``exact`` metric);
``valid_accuracy`` counts any completion, and every completion of every val/test board is written beside
the splits (``completions_test.json``, ``completions_val.json``: per row, the queen's column in each row of
each completion) so that coverage can be measured (``benchmarks/nqueens_coverage.py``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ...tasks.nqueens import VOCAB_SIZE, NQueensTask, all_solutions, boards, default_removed, encode
from ..errors import DataError
from ..options import COUNT, BuildOptions, DatasetPreset, opt
from ..write import one_per_puzzle, val_count, write_dataset

DEFAULT_INSTANCES = {8: 20_000, 10: 40_000}


def instances(
    sols: np.ndarray, count: int, removed: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` instances: (boards [count, N, N] int8 with the kept queens, index of the solution each came
    from [count]). Vectorised: one solution and one set of removed rows per instance."""
    n = sols.shape[1]
    src = rng.integers(len(sols), size=count)
    k = rng.integers(removed[0], removed[1] + 1, size=count)
    order = np.argsort(rng.random((count, n)), axis=1)  # a random order of the rows per instance
    keep = np.argsort(order, axis=1) >= k[:, None]  # row r kept where its rank is not among the first k
    full = boards(sols[src])
    return (full * keep[:, :, None]).astype(np.int8), src


def completion_table(sols: np.ndarray, puzzles: np.ndarray) -> list[np.ndarray]:
    """Every completion of each board of ``puzzles`` [M, N, N] (the solutions holding all its queens), as column
    indices [m_i, N] in the order of ``sols`` (lexicographic)."""
    n = sols.shape[1]
    flat = boards(sols).reshape(len(sols), -1).astype(np.int32)
    out = []
    for start in range(0, len(puzzles), 2048):
        p = puzzles[start : start + 2048].reshape(-1, n * n).astype(np.int32)
        hit = (p @ flat.T) == p.sum(1, keepdims=True)  # [m, S]: every given queen is in the solution
        out.extend(sols[np.flatnonzero(row)] for row in hit)
    return out


def _split(puzzles: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    return one_per_puzzle(encode(puzzles), encode(labels))


def build_nqueens(
    out_dir,
    size: int = 8,
    count: int | None = None,
    removed: tuple[int, int] | None = None,
    held_out: int = 15,
    n_val: int | None = None,
    source_labels: bool = False,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write an N-Queens completion dataset (see the module docstring): ``count`` instances (default 20,000 on
    8×8, 40,000 on 10×10, else 2,000), ``removed`` (lo, hi) queens taken from each solved board, ``held_out``
    percent of the instances held out by input board, ``n_val`` of the held-out boards (default
    :func:`~trm.data.write.val_count`) as the val split and the rest as the test split."""
    n = int(size)
    lo, hi = removed or default_removed(n)
    if not 1 <= lo <= hi <= n:
        raise DataError(f"--removed {lo},{hi}: between 1 and {n} queens can be removed from a {n}x{n} board")
    if not 1 <= held_out <= 90:
        raise DataError(f"--held-out {held_out}: a percentage from 1 to 90")
    count = count or DEFAULT_INSTANCES.get(n, 2000)
    sols = all_solutions(n)
    if not len(sols):
        raise DataError(f"the {n}x{n} board has no N-Queens solution")
    rng = np.random.default_rng([seed, n])
    puzzles, src = instances(sols, count, (lo, hi), rng)
    keys, first, inverse, per_board = np.unique(
        puzzles.reshape(count, -1), axis=0, return_index=True, return_inverse=True, return_counts=True
    )
    inverse = inverse.reshape(-1)
    distinct = len(keys)
    order = rng.permutation(distinct)  # boards held out in this order until held_out% of the instances are
    cum = np.cumsum(per_board[order])
    cut = int(np.searchsorted(cum, count * held_out / 100.0)) + 1
    if cut >= distinct:
        raise DataError(
            f"only {distinct} distinct {n}x{n} boards: holding out {held_out}% of the instances leaves no "
            "training board; lower --held-out or --removed"
        )
    held = np.zeros(distinct, bool)
    held[order[:cut]] = True
    held_boards = order[:cut]  # distinct board ids, in their random order
    n_val = val_count(n_val, cut)
    if n_val >= cut:
        raise DataError(f"--val {n_val}: only {cut} held-out boards; ask for fewer validation puzzles")
    val_ids, test_ids = held_boards[:n_val], held_boards[n_val:]
    train_rows = np.flatnonzero(~held[inverse])

    all_boards = puzzles[first]  # [distinct, N, N]
    table = completion_table(sols, all_boards)
    first_label = np.stack([boards(t[0]) for t in table])  # each board's first completion
    train_in = puzzles[train_rows]
    train_lab = boards(sols[src[train_rows]]) if source_labels else first_label[inverse[train_rows]]

    def comp(ids: np.ndarray) -> dict:
        return {
            "format": "per row of the split: every valid completion, each as the queen's column in rows 1..N",
            "completions": [table[i].tolist() for i in ids],
        }

    kept = (all_boards != 0).sum((1, 2))
    info = {
        "task": NQueensTask.kind,
        "size": n,
        "removed": [int(lo), int(hi)],
        "instances": int(count),
        "held_out_percent": int(held_out),
        "labels": "source" if source_labels else "first",
        "seed": int(seed),
        "solutions": int(len(sols)),
        "distinct_boards": int(distinct),
        "distinct_boards_by_queens": {str(int(q)): int((kept == q).sum()) for q in np.unique(kept)},
        "train_instances": int(len(train_rows)),
        "train_boards": int(distinct - cut),
        "held_out_instances": int(count - len(train_rows)),
        "test_puzzles": int(len(test_ids)),
        "val_puzzles": int(len(val_ids)),
        "mean_completions_test": float(np.mean([len(table[i]) for i in test_ids])) if len(test_ids) else 0.0,
    }
    splits = {
        "train": _split(train_in, train_lab),
        "test": _split(all_boards[test_ids], first_label[test_ids]),
    }
    extra = {"completions_test.json": comp(test_ids)}
    if len(val_ids):
        splits["val"] = _split(all_boards[val_ids], first_label[val_ids])
        extra["completions_val.json"] = comp(val_ids)
    return write_dataset(
        out_dir,
        splits,
        ["<blank>"],
        vocab_size=VOCAB_SIZE,
        seq_len=n * n,
        ignore_label_id=0,
        task_info=info,
        extra=extra,
        overwrite=overwrite,
    )


@dataclasses.dataclass
class NQueensOptions(BuildOptions):
    """The options of the ``nqueens`` dataset preset."""

    instances: int | None = opt(
        None,
        "nqueens: instances generated (training + held out; default 20000 on 8x8, 40000 on 10x10)",
        ge=1,
        le=COUNT,
    )
    removed: tuple[int, int] | None = opt(
        None,
        "nqueens: queens removed from each solved board, range lo,hi (default 5,7 on 8x8, 7,9 on 10x10)",
        kind="pair",
        ge=1,
        le=64,
        ordered=True,
    )
    held_out: int | None = opt(
        None, "nqueens: percent of the instances held out by input board (default 15)", ge=1, le=90
    )
    source_labels: bool | None = opt(
        None,
        "nqueens: label training instances with the solved board they came from (GRAM's form) rather than each "
        "board's first completion",
        kind="flag",
    )


def _nqueens(out, o: NQueensOptions, _: DatasetPreset) -> Path:
    return build_nqueens(
        out,
        o.size or 8,
        o.instances,
        o.removed,
        o.held_out or 15,
        o.val,
        bool(o.source_labels),
        seed=o.seed,
        overwrite=o.overwrite,
    )


PRESETS = [
    DatasetPreset(
        "nqueens",
        "N-Queens completion (GRAM's form): solved boards less 5-7 queens on 8x8 (20000 instances), 7-9 on 10x10 "
        "(40000); 15% held out by input board; every completion of the held-out boards kept",
        _nqueens,
        ("size", "val", "instances", "removed", "held_out", "source_labels"),
        {"size": 8},
        bounds={"size": {"ge": 4, "le": 12}},
        options_class=NQueensOptions,
    )
]
