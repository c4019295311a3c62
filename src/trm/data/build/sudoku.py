"""Sudoku datasets (any box shape): generated, drawn from puzzle collections (the ``sudoku-hard`` preset), or
read from the official CSV files. Every builder writes the official layout atomically (:mod:`trm.data.format`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ...tasks.sudoku import Box, augment_batch, box_for_size, check_box, encode, side
from ..errors import DataError
from ..readers import read_collection, read_sudoku_csv
from ..sudoku_generate import generate, invariant_keys, solve_many
from ..write import val_count, write_dataset


def _sudoku_split(
    puzzles: np.ndarray, solutions: np.ndarray, box: Box, augmentations: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Arrays of one split: one group per puzzle holding the original and ``augmentations`` shuffled copies
    (one example each), all with identifier 0."""
    m = len(puzzles)
    k = 1 + augmentations
    inp = np.repeat(puzzles, k, axis=0)
    lab = np.repeat(solutions, k, axis=0)
    if augmentations:
        aug = np.ones(m * k, bool)
        aug[::k] = False
        inp[aug], lab[aug] = augment_batch([inp[aug], lab[aug]], box, rng)
    return {
        "inputs": encode(inp).astype(np.uint8),
        "labels": encode(lab).astype(np.uint8),
        "puzzle_identifiers": np.zeros(m * k, np.int32),
        "puzzle_indices": np.arange(m * k + 1, dtype=np.int32),
        "group_indices": (np.arange(m + 1) * k).astype(np.int32),
    }


def write_sudoku(
    out_dir,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    box: Box,
    augmentations: int = 0,
    seed: int = 0,
    info: dict | None = None,
    overwrite: bool = False,
    val: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Write Sudoku puzzles and solutions [M, N, N] in the official layout (the test and val splits are not
    augmented; ``val`` None or empty: no val split)."""
    box = check_box(box)
    n = side(box)
    rng = np.random.default_rng([seed, 1])
    splits = {
        "train": _sudoku_split(train[0], train[1], box, augmentations, rng),
        "test": _sudoku_split(test[0], test[1], box, 0, rng),
    }
    if val is not None and len(val[0]):
        splits["val"] = _sudoku_split(val[0], val[1], box, 0, rng)
    task = {
        "task": "sudoku",
        "size": n,
        "box": list(box),
        "augmentations": augmentations,
        "seed": seed,
        "train_puzzles": int(len(train[0])),
        "test_puzzles": int(len(test[0])),
        "val_puzzles": int(len(val[0])) if val is not None else 0,
        **(info or {}),
    }
    return write_dataset(
        out_dir,
        splits,
        ["<blank>"],
        vocab_size=n + 2,
        seq_len=n * n,
        ignore_label_id=0,
        task_info=task,
        overwrite=overwrite,
    )


def build_sudoku_generated(
    out_dir,
    size: int = 6,
    box: Box | None = None,
    n_train: int = 5000,
    n_test: int = 1000,
    blanks: tuple[int, int] = (23, 28),
    minimal: bool = True,
    augmentations: int = 0,
    guesses: tuple[int, int | None] = (0, None),
    seed: int = 0,
    workers: int = 1,
    progress: bool = False,
    overwrite: bool = False,
    n_val: int | None = None,
) -> Path:
    """Generated puzzles with unique solutions (train and test disjoint, inequivalent under symmetry); the val
    split (``n_val``, default :func:`~trm.data.write.val_count`) holds further generated puzzles, inequivalent
    to every train and test puzzle and to each other (train and test are the same with or without it)."""
    box = check_box(box or box_for_size(size))
    if side(box) != size:
        raise DataError(f"box {box[0]}x{box[1]} does not tile a {size}x{size} Sudoku")
    total = n_train + n_test
    p, s = generate(int(total * 1.1) + 16, box, blanks, seed, minimal, guesses, workers, progress)
    keys = invariant_keys(p, box)
    seen: set[bytes] = set()
    keep = []
    for i, k in enumerate(keys):
        if k not in seen:
            seen.add(k)
            keep.append(i)
    if len(keep) < total:
        more_p, more_s = generate(total, box, blanks, seed + 7919, minimal, guesses, workers, progress)
        for i, k in enumerate(invariant_keys(more_p, box)):
            if k not in seen:
                seen.add(k)
                p = np.concatenate([p, more_p[i : i + 1]])
                s = np.concatenate([s, more_s[i : i + 1]])
                keep.append(len(p) - 1)
    if len(keep) < total:
        raise DataError(
            f"only {len(keep)} inequivalent {size}x{size} puzzles found for {total}; "
            "widen the blank range or ask for fewer"
        )
    keep = np.array(keep[:total])
    p, s = p[keep], s[keep]
    # validation: further puzzles from their own seeds, inequivalent to everything kept before
    seen = set(invariant_keys(p, box))
    n_val = val_count(n_val, n_test)
    vp, vs, val_seed = [], [], seed + 104729
    for attempt in range(3):
        if len(vp) >= n_val:
            break
        more_p, more_s = generate(
            int(n_val * 1.2) + 8, box, blanks, val_seed + attempt, minimal, guesses, workers, progress
        )
        for i, k in enumerate(invariant_keys(more_p, box)):
            if k not in seen and len(vp) < n_val:
                seen.add(k)
                vp.append(more_p[i])
                vs.append(more_s[i])
    if len(vp) < n_val:
        raise DataError(
            f"only {len(vp)} further inequivalent {size}x{size} puzzles found for the {n_val} validation "
            "puzzles; ask for fewer (--val)"
        )
    val = (np.array(vp).reshape(-1, *p.shape[1:]), np.array(vs).reshape(-1, *s.shape[1:]))
    info = {
        "source": "generated",
        "blanks": list(blanks),
        "minimal": minimal,
        "guesses": list(guesses),
        "val_seed": val_seed,
    }
    return write_sudoku(
        out_dir,
        (p[:n_train], s[:n_train]),
        (p[n_train:], s[n_train:]),
        box,
        augmentations,
        seed,
        info,
        overwrite,
        val,
    )


def _pick_inequivalent(
    pools: list[tuple[np.ndarray, list[str]]],
    counts: list[int],
    box: Box,
    rng: np.random.Generator,
    seen: set[bytes],
) -> tuple[np.ndarray, list[str]]:
    out, names = [], []
    for (puzzles, pnames), want in zip(pools, counts, strict=False):
        order = rng.permutation(len(puzzles))
        got = 0
        for start in range(0, len(order), 4 * want + 64):
            idx = order[start : start + 4 * want + 64]
            for i, key in zip(idx.tolist(), invariant_keys(puzzles[idx], box), strict=False):
                if got >= want:
                    break
                if key in seen:
                    continue
                seen.add(key)
                out.append(puzzles[i])
                names.append(pnames[i])
                got += 1
            if got >= want:
                break
        if got < want:
            raise DataError(
                f"only {got} inequivalent puzzles available from {pnames[0].split(':')[0]} (wanted {want})"
            )
    return np.stack(out), names


def build_sudoku_collections(
    out_dir,
    sources: Mapping[str | os.PathLike, float],
    n_train: int = 1000,
    n_test: int = 20000,
    augmentations: int = 1000,
    box: Box = (3, 3),
    seed: int = 0,
    check_unique: bool = False,
    workers: int = 1,
    progress: bool = False,
    overwrite: bool = False,
    info: dict | None = None,
    n_val: int | None = None,
) -> Path:
    """Train/test (and val: ``n_val``, default :func:`~trm.data.write.val_count`) sets drawn from puzzle
    collections in given proportions.

    ``sources`` maps a file (or a list of files joined with ``os.pathsep``) to its share of both splits.
    Each puzzle is randomly permuted (a random symmetry) before use; puzzles equivalent under the symmetry
    group to one already drawn are skipped, so train and test are inequivalent. Solutions and ratings come
    from the solver (``check_unique`` also proves uniqueness, at about twice the cost).
    """
    box = check_box(box)
    rng = np.random.default_rng([seed, 0])
    pools = []
    shares = []
    for src, share in sources.items():
        ps, names = [], []
        for f in str(src).split(os.pathsep):
            p, nm = read_collection(f, box)
            ps.append(p)
            names += nm
        if not names:
            raise DataError(f"{src}: no puzzles")
        pools.append((np.concatenate(ps), names))
        shares.append(float(share))
    tot = sum(shares)
    if tot <= 0 or any(s < 0 for s in shares):
        raise DataError(f"source shares must be non-negative with a positive sum, got {shares}")

    def split_counts(n: int) -> list[int]:
        c = [int(round(n * s / tot)) for s in shares]
        c[int(np.argmax(shares))] += n - sum(c)
        return c

    seen: set[bytes] = set()
    train_p, train_n = _pick_inequivalent(pools, split_counts(n_train), box, rng, seen)
    test_p, test_n = _pick_inequivalent(pools, split_counts(n_test), box, rng, seen)
    train_p = augment_batch([train_p], box, rng)[0]
    test_p = augment_batch([test_p], box, rng)[0]
    # validation: drawn after train and test (which stay as without it), from its own generator
    n_val = val_count(n_val, n_test)
    val_rng = np.random.default_rng([seed, 3])
    val_p, val_n = (
        _pick_inequivalent(pools, split_counts(n_val), box, val_rng, seen) if n_val else (test_p[:0], [])
    )
    val_p = augment_batch([val_p], box, val_rng)[0] if n_val else val_p
    all_p = np.concatenate([train_p, test_p, val_p])
    sols, ratings = solve_many(all_p, box, check_unique, workers, progress, train_n + test_n + val_n)
    perm_tr = rng.permutation(len(train_p))
    perm_te = rng.permutation(len(test_p)) + len(train_p)
    va = np.arange(len(val_p)) + len(train_p) + len(test_p)
    meta = {
        "source": "collections",
        "sources": {str(k): v for k, v in sources.items()},
        "rating_mean_train": float(ratings[perm_tr].mean()) if len(perm_tr) else 0.0,
        "rating_mean_test": float(ratings[perm_te].mean()) if len(perm_te) else 0.0,
        **(info or {}),
    }
    return write_sudoku(
        out_dir,
        (all_p[perm_tr], sols[perm_tr]),
        (all_p[perm_te], sols[perm_te]),
        box,
        augmentations,
        seed,
        meta,
        overwrite,
        (all_p[va], sols[va]),
    )


SUDOKU_HARD_EASY = ["tdoku-collections/puzzles2_17_clue"]
SUDOKU_HARD_HARD = ["tdoku-collections/puzzles5_forum_hardest_1905_11+"]


def build_sudoku_hard(
    out_dir,
    source,
    n_train: int = 1000,
    n_test: int = 20000,
    augmentations: int = 1000,
    easy_share: float = 0.27,
    seed: int = 0,
    **kw,
) -> Path:
    """The ``sudoku-hard`` preset: Sudoku-Extreme-like data from the tdoku collections in ``source``
    (e.g. ../shared/data/sudoku): 27% easy (17-clue) and 73% hard (forum hardest) puzzles."""
    source = Path(source)
    if not source.is_dir():
        raise DataError(
            f"{source}: Sudoku collection folder not found (expected tdoku-collections/ inside, as in "
            "../shared/data/sudoku; tdoku's data.zip has the same files)"
        )

    def find(rels: Sequence[str]) -> str:
        for rel in rels:
            for cand in (source / rel, source / Path(rel).name):
                if cand.is_file():
                    return str(cand)
        raise DataError(f"{source}: missing collection {rels[0]} (from tdoku's data.zip)")

    easy, hard = find(SUDOKU_HARD_EASY), find(SUDOKU_HARD_HARD)
    return build_sudoku_collections(
        out_dir,
        {easy: easy_share, hard: 1 - easy_share},
        n_train,
        n_test,
        augmentations,
        (3, 3),
        seed,
        info={"preset": "sudoku-hard"},
        **kw,
    )


def build_sudoku_csv(
    out_dir,
    train_csv,
    test_csv,
    subsample: int | None = None,
    augmentations: int = 1000,
    min_rating: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    n_val: int | None = None,
) -> Path:
    """From the official CSV files (e.g. Sudoku-Extreme's train.csv/test.csv), like the official builder:
    an optional random training subsample, shuffled copies of each training puzzle, the test set as is.

    The val split (``n_val``, default :func:`~trm.data.write.val_count`) is a seeded choice of train.csv rows
    left out of the subsample (not equal to any train or test puzzle); without a subsample every row is
    trained on and no val split is written (the trainer then carves one from the training groups)."""
    rng = np.random.default_rng([seed, 2])
    tr = read_sudoku_csv(train_csv, (3, 3), min_rating)
    te = read_sudoku_csv(test_csv, (3, 3))
    val = None
    if subsample is not None and subsample < len(tr[0]):
        idx = np.sort(rng.choice(len(tr[0]), subsample, replace=False))
        rest = np.setdiff1d(np.arange(len(tr[0])), idx)
        taken = {p.tobytes() for p in tr[0][idx]} | {p.tobytes() for p in te[0]}
        order = np.random.default_rng([seed, 3]).permutation(rest)
        want, pick = val_count(n_val, len(te[0])), []
        for i in order.tolist():
            if len(pick) >= want:
                break
            key = tr[0][i].tobytes()
            if key not in taken:
                taken.add(key)
                pick.append(i)
        val = (tr[0][pick], tr[1][pick])
        tr = (tr[0][idx], tr[1][idx])
    return write_sudoku(
        out_dir,
        tr,
        te,
        (3, 3),
        augmentations,
        seed,
        {"source": "csv", "train_csv": str(train_csv), "test_csv": str(test_csv)},
        overwrite,
        val,
    )
