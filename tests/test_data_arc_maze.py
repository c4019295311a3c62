"""ARC encoding/augmentation/builds and mazes."""

import json

import numpy as np
import pytest

from trm.data import DataError, load_split, load_task_info
from trm.data import maze_generate as MG
from trm.data.build.arc import build_arc
from trm.data.build.maze import build_maze_csv, build_maze_generated
from trm.data.format import load_identifiers
from trm.data.readers import load_subset
from trm.tasks import arc as A
from trm.tasks import maze as M


@pytest.mark.parametrize("h", range(1, 31))
def test_canvas_round_trip_every_size(h):
    rng = np.random.default_rng(h)
    for w in range(1, 31):
        g = rng.integers(0, 10, (h, w)).astype(np.uint8)
        t = A.encode_canvas(g)
        assert t.shape == (900,) and t.dtype == np.uint8
        assert (A.crop_canvas(t) == g).all()
        c = t.reshape(30, 30)
        if h < 30:
            assert (c[h, :w] == A.EOS).all() and c[h, w:].max(initial=0) == 0
        if w < 30:
            assert (c[:h, w] == A.EOS).all()
        r0, c0 = rng.integers(0, 31 - h), rng.integers(0, 31 - w)
        moved = A.encode_canvas(g, r0, c0).reshape(30, 30)
        assert (moved[r0 : r0 + h, c0 : c0 + w] == g + 2).all()
        assert (moved == A.EOS).sum() == (h if c0 + w < 30 else 0) + (w if r0 + h < 30 else 0)


def test_dihedral_and_colour_maps_are_invertible():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 10, (3, 5)).astype(np.uint8)
    seen = set()
    for t in range(8):
        cmap = np.concatenate([[0], rng.permutation(np.arange(1, 10))]).astype(np.uint8)
        a = A.augment_grid(g, t, cmap)
        assert (A.inverse_augment_grid(a, t, cmap) == g).all()
        assert (A.inverse_dihedral(A.dihedral(g, t), t) == g).all()
        assert (A.dihedral(A.dihedral(g, t), A.INVERSE_DIHEDRAL[t]) == g).all()
        name = A.identifier_name("abc", t, cmap)
        assert A.parse_identifier(name)[0] == "abc" and A.parse_identifier(name)[1] == t
        assert (A.parse_identifier(name)[2] == cmap).all()
        seen.add(A.dihedral(g, t).tobytes() + bytes(A.dihedral(g, t).shape))
    assert len(seen) == 8
    assert (A.dihedral(g, 7) == np.fliplr(np.rot90(g))).all() and (A.dihedral(g, 1) == np.rot90(g)).all()
    assert A.parse_identifier("007bbfb7")[1] == 0
    with pytest.raises(DataError):
        A.parse_identifier("x|||t9|||0123456789")


def _write_task(path, train, test):
    path.write_text(
        json.dumps(
            {
                "train": [{"input": i, "output": o} for i, o in train],
                "test": [{"input": i, "output": o} for i, o in test],
            }
        )
    )


@pytest.fixture
def arc_src(tmp_path):
    src = tmp_path / "src"
    for sub, names in (("training", ["t1", "t2"]), ("evaluation", ["e1"])):
        (src / sub).mkdir(parents=True)
        for k, name in enumerate(names):
            g = [[(k + r + c) % 10 for c in range(3 + k)] for r in range(2 + k)]
            h = [[(r * c + k) % 10 for c in range(2)] for r in range(4)]
            _write_task(src / sub / f"{name}.json", [(g, h), (h, g)], [(g, g), (h, h)])
    return src


def test_arc_build_structure_and_determinism(arc_src, tmp_path):
    out = build_arc(tmp_path / "a", arc_src, ["training", "evaluation"], "evaluation", num_aug=20, seed=1)
    again = build_arc(tmp_path / "b", arc_src, ["training", "evaluation"], "evaluation", num_aug=20, seed=1)
    for split in ("train", "test"):
        for k in ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"):
            assert (np.load(out / split / f"all__{k}.npy") == np.load(again / split / f"all__{k}.npy")).all()
    ids = load_identifiers(out)
    assert ids[0] == "<blank>" and len(ids) == 1 + 3 * 21 and len(set(ids)) == len(ids)
    tr, te = load_split(out, "train"), load_split(out, "test")
    assert tr.num_groups == 3 and te.num_groups == 1
    assert np.diff(tr.puzzle_indices).tolist() == [4] * 42 + [2] * 21  # e1 keeps only its demonstrations
    assert np.diff(te.puzzle_indices).tolist() == [2] * 21
    # the test split puts every version at the origin; undoing its augmentation gives the original pairs
    tasks = json.loads((out / "test_puzzles.json").read_text())
    assert list(tasks) == ["e1"] and tasks["e1"]["test"][0]["output"]
    for p in range(te.num_puzzles):
        name, t, cmap = A.parse_identifier(ids[te.puzzle_identifiers[p]])
        assert name == "e1"
        for e in range(te.puzzle_indices[p], te.puzzle_indices[p + 1]):
            k = e - te.puzzle_indices[p]
            lab = A.inverse_augment_grid(A.crop_canvas(te.labels[e]), t, cmap)
            assert lab.tolist() == tasks["e1"]["test"][k]["output"]
    # train: exactly one example per puzzle is guaranteed at the origin, others may be translated
    inp = tr.inputs.reshape(-1, 30, 30)
    for p in range(tr.num_puzzles):
        rows = range(tr.puzzle_indices[p], tr.puzzle_indices[p + 1])
        assert any(inp[r, 0, 0] >= 2 for r in rows)
    assert load_task_info(out)["task"] == "arc"
    versions = {ids[i].split("|||", 1)[-1] for i in tr.puzzle_identifiers[:21]}
    assert len(versions) == 21


def test_arc_build_on_a_smaller_canvas(arc_src, tmp_path):
    """canvas=5 (the fixture's grids are at most 4 cells a side): 25-token rows that decode back to the
    original pairs, the canvas recorded; a canvas smaller than a grid is refused before anything is written."""
    out = build_arc(
        tmp_path / "a", arc_src, ["training", "evaluation"], "evaluation", num_aug=6, seed=1, canvas=5
    )
    tr, te = load_split(out, "train"), load_split(out, "test")
    assert tr.metadata.seq_len == te.metadata.seq_len == 25 and tr.inputs.shape[1] == 25
    assert load_task_info(out)["canvas"] == 5
    ids, tasks = load_identifiers(out), json.loads((out / "test_puzzles.json").read_text())
    for p in range(te.num_puzzles):
        _, t, cmap = A.parse_identifier(ids[te.puzzle_identifiers[p]])
        for k, e in enumerate(range(te.puzzle_indices[p], te.puzzle_indices[p + 1])):
            assert (
                A.inverse_augment_grid(A.crop_canvas(te.labels[e]), t, cmap).tolist()
                == (tasks["e1"]["test"][k]["output"])
            )
    # training rows may be translated inside the small canvas, and each still holds a whole grid (2x3, 4x2, 3x4)
    cells = (tr.inputs >= A.COLOUR0).sum(1)
    assert set(cells.tolist()) == {6, 8, 12} and (tr.inputs[:, 0] < A.COLOUR0).any()
    with pytest.raises(DataError, match="larger than the 3x3 canvas"):
        build_arc(tmp_path / "b", arc_src, ["training", "evaluation"], "evaluation", num_aug=2, canvas=3)
    assert not (tmp_path / "b").exists()


def test_arc_small_preset_uses_the_small_canvas(tmp_path):
    from trm.data.presets import DATASET_PRESETS
    from trm.presets import get_preset

    src = tmp_path / "src"
    (src / "training").mkdir(parents=True)
    for name, side in (("aa", 3), ("bb", 10), ("cc", 11)):
        g = [[1] * side] * side
        _write_task(src / "training" / f"{name}.json", [(g, g)], [(g, g)])
    out = DATASET_PRESETS["arc-small"].build(tmp_path / "d", source=src, augmentations=1)
    assert load_split(out, "train").metadata.seq_len == 121 == get_preset("arc_cpu_fast").model.seq_len
    assert json.loads((out / "test_puzzles.json").read_text()).keys() == {"aa", "bb"}  # cc: 11x11 grids


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "task bad .*bad JSON"),
        (
            json.dumps({"train": [{"input": [[1] * 31], "output": [[1]]}], "test": []}),
            "task bad .*larger than 30x30",
        ),
        (
            json.dumps({"train": [{"input": [[10]], "output": [[1]]}], "test": []}),
            "task bad .*colours must be 0..9",
        ),
        (
            json.dumps({"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": []}),
            "task bad .*one non-zero length",
        ),
    ],
)
def test_arc_bad_input_is_refused_without_output(arc_src, tmp_path, content, message):
    (arc_src / "training" / "bad.json").write_text(content)
    with pytest.raises(DataError, match=message):
        build_arc(tmp_path / "out", arc_src, ["training", "evaluation"], "evaluation", num_aug=2)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]


def test_arc_kaggle_files_match_folders(shared_dir):
    kaggle = shared_dir / "data/trm-kaggle-combined"
    folders = shared_dir / "data"
    if not kaggle.is_dir():
        pytest.skip("kaggle-combined files not available")
    a = {t.name: t for t in load_subset(kaggle, "evaluation")}
    b = {t.name: t for t in load_subset(folders, "evaluation")}
    assert len(a) == len(b) == 400 and set(a) == set(b)
    for name in list(a)[:50]:
        assert all(
            (x[0] == y[0]).all() and (x[1] == y[1]).all()
            for x, y in zip(a[name].test, b[name].test, strict=False)
        )
    concept = load_subset(folders, "concept")
    assert len(concept) == 160 and sum(len(t.test) for t in concept) == 480


def test_maze_parse_format_and_errors():
    text = "S #\n  #\n  G"
    g = M.parse_maze(text)
    assert M.format_maze(g) == text and (M.parse_maze(M.format_maze(g, flat=True)) == g).all()
    assert M.encode(g).tolist() == [3, 2, 1, 2, 2, 1, 2, 2, 4]
    assert (M.decode(M.encode(g)) == g).all()
    with pytest.raises(DataError, match="bad maze character 'x'"):
        M.parse_maze("S x\n   \n  G")
    with pytest.raises(DataError, match="exactly one S"):
        M.parse_maze("   \n   \n  G")


def test_maze_tie_break_and_checker():
    g = M.parse_maze("S  \n   \n  G")
    label = M.solve(g)
    # up, down, left, right preference from S: down first, then down, then right, right
    assert M.format_maze(label) == "S  \no  \nooG"
    assert M.check_path(g, label) == (True, True)
    other = M.parse_maze("Soo\n  o\n  G")
    assert M.check_path(g, other) == (True, True)
    longer = M.parse_maze("Soo\noo \nooG")
    assert M.check_path(g, longer) == (False, False)
    around = M.parse_maze("S  G\n ## \n    \n    ")
    assert M.format_maze(M.solve(around)) == "SooG\n ## \n    \n    "
    detour = M.parse_maze("S  G\no##o\noooo\n    ")  # a valid simple path around the wall: 7 steps, 3 suffice
    assert M.check_path(around, detour) == (True, False)
    g2 = M.parse_maze("S   \n ## \n    \n   G")
    long_way = M.parse_maze("Sooo\n ##o\n   o\n   G")
    assert M.check_path(g2, long_way) == (True, True)
    broken = M.parse_maze("So o\n ##o\n   o\n   G")
    assert M.check_path(g2, broken) == (False, False)
    wall = M.parse_maze("S##G\n    \n    \n    ")
    assert M.check_path(wall, M.parse_maze("S##G\noooo\n    \n    ")) == (True, True)
    assert M.check_path(wall, M.parse_maze("So#G\noooo\n    \n    ")) == (False, False)  # 'o' on a wall
    assert M.check_path(wall, M.parse_maze("S##G\noooo\n o  \n    ")) == (False, False)  # extra mark
    assert M.check_path(wall, M.parse_maze("S##G\no oo\n    \n    ")) == (False, False)  # gap


def test_maze_generation_and_dihedral_augmentation():
    mz, lb = MG.generate(12, 10, min_path=14, seed=4)
    mz2, lb2 = MG.generate(12, 10, min_path=14, seed=4, workers=2)
    assert (mz == mz2).all() and (lb == lb2).all()
    for m, label in zip(mz, lb, strict=False):
        path = M.shortest_path(m)
        assert len(path) - 1 > 14
        assert (M.solve(m) == label).all() and M.check_path(m, label) == (True, True)
        for t in range(8):
            am, al = A.dihedral(m, t), A.dihedral(label, t)
            assert M.check_path(am, al) == (True, True)
            assert len(M.shortest_path(am)) == len(path)
            assert (A.inverse_dihedral(am, t) == m).all()
        walls = (m == M.WALL).mean()
        assert 0.3 <= walls <= 0.5


def _shortest_paths(m: np.ndarray) -> int:
    """Shortest S -> G paths of a maze, counted by enumerating every path of that length (small mazes only)."""
    start, goal = M.find(m, M.START), M.find(m, M.GOAL)
    best = int(M.distances(m, start)[goal])

    def walk(cell, left, seen):
        if left == 0:
            return int(cell == goal)
        r, c = cell
        steps = [(r + dr, c + dc) for dr, dc in M.MOVES]
        ok = [p for p in steps if 0 <= p[0] < m.shape[0] and 0 <= p[1] < m.shape[1] and m[p] != M.WALL]
        return sum(walk(p, left - 1, seen | {p}) for p in ok if p not in seen)

    return walk(start, best, {start})


def test_maze_unique_path_and_wall_ring(tmp_path):
    plain, _ = MG.generate(30, 7, min_path=6, seed=3)
    assert max(_shortest_paths(m) for m in plain) > 1  # without the option, ties occur
    mz, lb = MG.generate(30, 9, min_path=6, seed=3, unique=True, walled=True)
    assert mz.shape == (30, 9, 9)
    for m, label in zip(mz, lb, strict=True):
        assert (m[0] == M.WALL).all() and (m[-1] == M.WALL).all() and (m[:, 0] == M.WALL).all()
        assert (m[:, -1] == M.WALL).all() and (label[[0, -1]] == M.WALL).all()
        assert _shortest_paths(m) == 1 and len(M.shortest_path(m)) - 1 > 6
        assert (M.solve(m) == label).all()
        for t in range(8):  # a unique path: every dihedral copy's label is its own tie-break label
            assert (M.solve(A.dihedral(m, t)) == A.dihedral(label, t)).all()
    assert MG.default_min_path(11, walled=True) == MG.default_min_path(9) == 10
    out = build_maze_generated(tmp_path / "u", 8, 4, 2, min_path=5, unique_path=True, walled=True)
    task = json.loads((out / "trm_task.json").read_text())
    assert task["unique_path"] is True and task["walled"] is True and task["size"] == 8


def test_perfect_mazes_and_unseen_test_split(tmp_path):
    mz, lb = MG.generate(40, 9, min_path=6, seed=2, perfect=True)
    for m, label in zip(mz, lb, strict=True):
        cells = m[1::2, 1::2]
        assert (m[::2, ::2] == M.WALL).all() and (cells != M.WALL).all()  # posts are walls, cells open
        assert (m != M.WALL).sum() == 16 + 15  # a spanning tree of 4x4 cells: 15 passages, no loop
        assert _shortest_paths(m) == 1 and len(M.shortest_path(m)) - 1 > 6
        assert (M.solve(m) == label).all()
    with pytest.raises(DataError, match="odd size"):
        MG.generate(1, 8, perfect=True)
    # small perfect mazes repeat: the test split keeps only mazes unseen in training (5x5: none is left)
    with pytest.raises(DataError, match="all 30 test mazes also appear in training"):
        build_maze_generated(tmp_path / "p5", 5, 30, 30, min_path=1, perfect=True)
    out = build_maze_generated(tmp_path / "p", 7, 200, 30, min_path=1, dihedral_aug=True, perfect=True)
    task = json.loads((out / "trm_task.json").read_text())
    train, test = load_split(out, "train"), load_split(out, "test")
    seen = {bytes(r) for r in train.batch_inputs(np.arange(train.num_examples))}
    rows = test.batch_inputs(np.arange(test.num_examples))
    assert task["perfect"] is True and task["test_seen_in_train_dropped"] == 30 - len(rows) > 0
    assert not any(bytes(r) in seen for r in rows)


def test_maze_builds_csv_round_trip(tmp_path):
    out = build_maze_generated(tmp_path / "m", 8, 6, 3, min_path=9, seed=1)
    tr = load_split(out, "train")
    assert tr.metadata.vocab_size == 6 and tr.metadata.seq_len == 64 and tr.num_examples == 6
    assert load_task_info(out)["size"] == 8
    for split, n in (("train", 6), ("test", 3)):
        sd = load_split(out, split)
        mz = M.decode(sd.batch_inputs(np.arange(n)))
        lb = M.decode(sd.batch_labels(np.arange(n)))
        rows = [
            (M.format_maze(a, flat=True), M.format_maze(b, flat=True)) for a, b in zip(mz, lb, strict=False)
        ]
        lines = ["source,question,answer,rating"] + [f'x,"{q}","{a}",0' for q, a in rows]
        (tmp_path / f"{split}.csv").write_text("\n".join(lines) + "\n")
    again = build_maze_csv(tmp_path / "m2", tmp_path / "train.csv", tmp_path / "test.csv")
    for split in ("train", "test"):
        assert (load_split(again, split).inputs[:] == load_split(out, split).inputs[:]).all()
        assert (load_split(again, split).labels[:] == load_split(out, split).labels[:]).all()
    (tmp_path / "train.csv").write_text("source,question,answer,rating\nx,S?G,SoG,1\n")
    with pytest.raises(DataError, match="train.csv:2"):
        build_maze_csv(tmp_path / "m3", tmp_path / "train.csv", tmp_path / "test.csv")
    assert not (tmp_path / "m3").exists()
