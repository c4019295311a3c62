"""The val split builders write beside train and test: disjoint from both, un-augmented, bounded, recorded."""

import json

import numpy as np
import pytest

from trm.data import load_split, load_task_info
from trm.data import sudoku_generate as G
from trm.data.build.arc import build_arc
from trm.data.build.maze import build_maze_generated
from trm.data.build.sudoku import build_sudoku_generated
from trm.data.format import load_identifiers
from trm.data.write import VAL_DEFAULT_MAX, val_count
from trm.tasks import arc as A
from trm.tasks import maze as M
from trm.tasks import sudoku as S
from trm.tasks.arc import dihedral

FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")


def _same_split(a, b, split):
    return all(
        (np.load(a / split / f"all__{k}.npy") == np.load(b / split / f"all__{k}.npy")).all() for k in FIELDS
    )


def test_val_count_default_is_a_tenth_of_test_bounded():
    assert val_count(None, 1000) == 100 and val_count(None, 20) == 2 and val_count(None, 3) == 1
    assert val_count(None, 10**6) == VAL_DEFAULT_MAX and val_count(None, 0) == 0 and val_count(7, 1000) == 7


def test_sudoku_val_split_is_disjoint_and_leaves_train_test_unchanged(tmp_path):
    kw = dict(
        size=6, box=(2, 3), n_train=30, n_test=20, blanks=(23, 28), minimal=True, augmentations=2, seed=4
    )
    out = build_sudoku_generated(tmp_path / "a", n_val=12, **kw)
    none = build_sudoku_generated(tmp_path / "b", n_val=0, **kw)
    assert not (none / "val").exists() and load_task_info(none)["val_puzzles"] == 0
    for split in ("train", "test"):  # the val split is drawn after train and test: they are as without it
        assert _same_split(out, none, split)
    keys = {}
    for split in ("train", "test", "val"):
        sd = load_split(out, split)
        grids = S.decode(sd.batch_inputs(np.arange(sd.num_examples)))
        keys[split] = set(G.invariant_keys(grids, (2, 3)))
        if split == "val":  # not augmented, like test; puzzles with a unique valid solution
            assert sd.num_groups == sd.num_puzzles == sd.num_examples == 12
            sols = S.decode(sd.batch_labels(np.arange(12)))
            assert S.valid_solutions(grids, sols, (2, 3)).all()
    assert len(keys["val"]) == 12  # no two val puzzles equivalent
    assert not keys["val"] & keys["train"] and not keys["val"] & keys["test"]
    info = load_task_info(out)
    assert info["val_puzzles"] == 12 and isinstance(info["val_seed"], int)
    default = build_sudoku_generated(tmp_path / "c", **kw)
    assert load_split(default, "val").num_examples == val_count(None, 20) == 2


def test_maze_val_split_is_disjoint(tmp_path):
    out = build_maze_generated(
        tmp_path / "m", 7, 60, 20, min_path=1, dihedral_aug=True, perfect=True, n_val=15
    )
    mazes = {}
    for split in ("train", "test", "val"):
        sd = load_split(out, split)
        mazes[split] = M.decode(sd.batch_inputs(np.arange(sd.num_examples)))
    train = {dihedral(m, t).tobytes() for m in mazes["train"] for t in range(8)}
    test = {m.tobytes() for m in mazes["test"]}
    val = [m.tobytes() for m in mazes["val"]]
    assert 0 < len(val) <= 15 and len(set(val)) == len(val)
    assert not set(val) & train and not set(val) & test
    info = load_task_info(out)
    assert info["val_puzzles"] == len(val) and "val_seed" in info


def _write_task(path, train, test):
    pairs = lambda ps: [{"input": i, "output": o} for i, o in ps]  # noqa: E731
    path.write_text(json.dumps({"train": pairs(train), "test": pairs(test)}))


@pytest.fixture
def arc3(tmp_path):
    """Tasks with three demonstration pairs each (a val pair can be lent without leaving fewer than two)."""
    src = tmp_path / "src"
    for sub, names in (("training", ["t1", "t2", "t3"]), ("evaluation", ["e1"])):
        (src / sub).mkdir(parents=True)
        for k, name in enumerate(names):
            grids = [[[(k + r * c + j) % 10 for c in range(2 + j)] for r in range(3)] for j in range(5)]
            demos = [(grids[j], grids[j + 1]) for j in range(3)]
            _write_task(src / sub / f"{name}.json", demos, [(grids[3], grids[4])])
    return src


def test_arc_val_split_lends_demonstration_pairs_never_test_pairs(arc3, tmp_path):
    args = (["training", "evaluation"], "evaluation")
    out = build_arc(tmp_path / "a", arc3, *args, num_aug=4, seed=2, val=2)
    none = build_arc(tmp_path / "b", arc3, *args, num_aug=4, seed=2, val=0)
    assert not (none / "val").exists() and _same_split(out, none, "test")
    info = load_task_info(out)
    assert info["val_puzzles"] == 2 and len(info["val_tasks"]) == 2
    assert not {"e1"} & set(info["val_tasks"])  # the non-test subset lends them when it can
    tr, tr0, va = load_split(out, "train"), load_split(none, "train"), load_split(out, "val")
    assert va.num_groups == 2 and va.num_puzzles == 2 * 5 and va.num_examples == 2 * 5
    assert tr.num_examples == tr0.num_examples - va.num_examples  # the lent pairs are not trained on
    ids = load_identifiers(out)
    src = {t: json.loads((arc3 / "training" / f"{t}.json").read_text()) for t in info["val_tasks"]}
    train_rows = {(tr.inputs[e].tobytes(), tr.labels[e].tobytes()) for e in range(tr.num_examples)}
    for p in range(va.num_puzzles):
        name, t, cmap = A.parse_identifier(ids[va.puzzle_identifiers[p]])
        e = va.puzzle_indices[p]
        pair = tuple(
            A.inverse_augment_grid(A.crop_canvas(g[e]), t, cmap).tolist() for g in (va.inputs, va.labels)
        )
        demos = [(d["input"], d["output"]) for d in src[name]["train"]]
        assert pair in demos  # a demonstration pair of that task, at the origin like a test pair
        assert (va.inputs[e].tobytes(), va.labels[e].tobytes()) not in train_rows


def test_val_dedup_refuses_puzzles_already_in_train_or_test(tmp_path, monkeypatch):
    """A generator that ignores its seed gives the val draw only train/test puzzles: none may be kept."""
    import trm.data.build.maze as maze_build
    import trm.data.build.sudoku as sudoku_build

    real_s, real_m = sudoku_build.generate, maze_build.generate
    first = []

    def same_puzzles(n, *a):  # later calls return the first call's first 30 puzzles: train and test
        if not first:
            first.append(real_s(n, *a))
            return first[0]
        return first[0][0][:30], first[0][1][:30]

    monkeypatch.setattr(sudoku_build, "generate", same_puzzles)
    with pytest.raises(Exception, match="validation puzzles"):
        build_sudoku_generated(tmp_path / "s", 6, (2, 3), 20, 10, (23, 28), True, seed=4, n_val=5)
    monkeypatch.setattr(maze_build, "generate", lambda n, size, mp, seed, **kw: real_m(n, size, mp, 0, **kw))
    out = build_maze_generated(tmp_path / "m", 7, 20, 10, min_path=1, perfect=True, seed=0, n_val=5)
    assert not (out / "val").exists() and load_task_info(out)["val_puzzles"] == 0
