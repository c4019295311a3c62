"""Sudoku builders, presets and the `trm data` command."""

import numpy as np
import pytest

from trm.cli import main
from trm.data import DataError, load_split, load_task_info
from trm.data import sudoku_generate as G
from trm.data.build.sudoku import (
    build_sudoku_collections,
    build_sudoku_csv,
    build_sudoku_generated,
    build_sudoku_hard,
)
from trm.tasks import sudoku as S
from trm.tasks.sudoku import valid_solutions

FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")


def _same(a, b):
    for split in ("train", "test"):
        for k in FIELDS:
            if not (np.load(a / split / f"all__{k}.npy") == np.load(b / split / f"all__{k}.npy")).all():
                return False
    return True


def _grids(out, split):
    sd = load_split(out, split)
    idx = np.arange(sd.num_examples)
    return S.decode(sd.batch_inputs(idx)), S.decode(sd.batch_labels(idx)), sd


def test_sudoku_generated_with_augmentation(tmp_path):
    kw = dict(size=6, box=(2, 3), n_train=30, n_test=20, blanks=(23, 28), minimal=True, augmentations=3)
    a = build_sudoku_generated(tmp_path / "a", seed=5, **kw)
    b = build_sudoku_generated(tmp_path / "b", seed=5, workers=2, **kw)
    c = build_sudoku_generated(tmp_path / "c", seed=6, **kw)
    assert _same(a, b) and not _same(a, c)
    p, s, sd = _grids(a, "train")
    assert sd.num_groups == 30 and sd.num_puzzles == 120 and sd.metadata.vocab_size == 8
    assert valid_solutions(p, s, (2, 3)).all()
    keys = G.invariant_keys(p, (2, 3))
    for g in range(30):  # a group's copies are equivalent puzzles
        assert len({keys[k] for k in range(4 * g, 4 * g + 4)}) == 1
    tp, ts, tsd = _grids(a, "test")
    assert tsd.num_puzzles == 20 and not set(G.invariant_keys(tp, (2, 3))) & set(keys)
    assert all(S.solve(q, (2, 3), 2)[0] == 1 for q in tp)
    assert load_task_info(a)["box"] == [2, 3]


def test_sudoku_hard_small(shared_dir, tmp_path):
    src = shared_dir / "data/sudoku"
    if not (src / "tdoku-collections").is_dir():
        pytest.skip("collections not available")
    out = build_sudoku_hard(
        tmp_path / "h", src, n_train=20, n_test=80, augmentations=2, seed=0, check_unique=True
    )
    again = build_sudoku_hard(tmp_path / "h2", src, n_train=20, n_test=80, augmentations=2, seed=0)
    assert _same(out, again)
    p, s, sd = _grids(out, "train")
    assert sd.num_groups == 20 and sd.num_examples == 60 and valid_solutions(p, s, (3, 3)).all()
    tp, ts, _ = _grids(out, "test")
    assert len(tp) == 80 and valid_solutions(tp, ts, (3, 3)).all()
    assert not set(G.invariant_keys(tp, (3, 3))) & set(G.invariant_keys(p, (3, 3)))
    givens = (tp != 0).reshape(80, -1).sum(1)
    assert (givens == 17).sum() == round(0.27 * 80)  # the easy source is the 17-clue list
    # permuted before use: no test puzzle appears verbatim in the source files
    raw = {ln.strip() for ln in (src / "tdoku-collections/puzzles2_17_clue").read_text().splitlines()}
    assert not any(S.format_sudoku(q) in raw for q in tp)
    info = load_task_info(out)
    assert info["rating_mean_test"] > 5 and info["preset"] == "sudoku-hard"


def test_sudoku_collections_refuse_bad_input(tmp_path):
    good = "\n".join(S.format_sudoku(p) for p in G.generate(30, (3, 3), (40, 45), seed=1)[0])
    (tmp_path / "ok.txt").write_text(good + "\n")
    (tmp_path / "bad.txt").write_text(good + "\n" + "11" + "." * 79 + "\n")
    with pytest.raises(DataError, match="bad.txt:31.*appears twice in row 1"):
        build_sudoku_collections(tmp_path / "out", {tmp_path / "bad.txt": 1.0}, 5, 5, 0)
    (tmp_path / "multi.txt").write_text(good + "\n" + "." * 81 + "\n")
    with pytest.raises(DataError, match="more than one solution"):
        build_sudoku_collections(
            tmp_path / "out", {tmp_path / "multi.txt": 1.0}, 5, 26, 0, check_unique=True, n_val=0
        )
    with pytest.raises(DataError, match="only .* inequivalent"):
        build_sudoku_collections(tmp_path / "out", {tmp_path / "ok.txt": 1.0}, 20, 20, 0)
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "multi.txt", "ok.txt"]


def test_sudoku_csv_round_trip(tmp_path):
    p, s = G.generate(12, (3, 3), (45, 50), seed=2)
    for name, rows in (("train", range(8)), ("test", range(8, 12))):
        lines = ["source,question,answer,rating"] + [
            f"gen,{S.format_sudoku(p[i])},{S.format_sudoku(s[i])},0" for i in rows
        ]
        (tmp_path / f"{name}.csv").write_text("\n".join(lines) + "\n")
    out = build_sudoku_csv(tmp_path / "d", tmp_path / "train.csv", tmp_path / "test.csv", augmentations=2)
    tp, ts, sd = _grids(out, "train")
    assert sd.num_groups == 8 and (tp[::3] == p[:8]).all() and (ts[::3] == s[:8]).all()
    assert valid_solutions(tp, ts, (3, 3)).all()
    bad = (tmp_path / "train.csv").read_text().replace(S.format_sudoku(s[3]), S.format_sudoku(s[4]))
    (tmp_path / "train.csv").write_text(bad)
    with pytest.raises(DataError, match="line 5 is not a valid solution"):
        build_sudoku_csv(tmp_path / "e", tmp_path / "train.csv", tmp_path / "test.csv")
    assert not (tmp_path / "e").exists()


def test_cli_build_info_show(tmp_path, capsys):
    out = tmp_path / "s6"
    assert (
        main(
            [
                "data",
                "build",
                "sudoku6",
                "--out",
                str(out),
                "--train",
                "40",
                "--test",
                "10",
                "--quiet",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert main(["data", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "train: 40 groups" in text and "vocab 8" in text
    assert main(["data", "show", str(out), "--index", "3"]) == 0
    shown = capsys.readouterr().out
    assert "->" in shown and "|" in shown
    assert main(["data", "show", str(out), "--index", "99"]) == 2
    assert "outside 0..9" in capsys.readouterr().err
    assert main(["data", "build", "sudoku6", "--out", str(out), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["data", "build", "sudoku-hard", "--out", str(tmp_path / "x")]) == 2
    assert "needs --source" in capsys.readouterr().err
    assert main(["data", "build", "arc2", "--out", str(tmp_path / "x")]) == 2
    assert "--source" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_help_lists_presets(capsys):
    with pytest.raises(SystemExit):
        main(["data", "build", "--help"])
    text = capsys.readouterr().out
    for preset in (
        "sudoku6",
        "sudoku-hard",
        "sudoku-generated",
        "sudoku-csv",
        "maze-hard",
        "maze-small",
        "maze-csv",
        "arc1",
        "arc2",
        "arc-custom",
    ):
        assert preset in text


def test_presets_are_library_objects(tmp_path, capsys):
    from trm.data.presets import DATASET_PRESETS

    assert list(DATASET_PRESETS)[:11] == [  # the built-ins, then the builder modules' own (grid-pairs, ...)
        "sudoku6",
        "sudoku-hard",
        "sudoku-generated",
        "sudoku-csv",
        "maze-hard",
        "maze-small",
        "maze-csv",
        "arc1",
        "arc2",
        "arc-small",
        "arc-custom",
    ]
    with pytest.raises(DataError, match="'blanks' does not apply to the maze-small preset"):
        DATASET_PRESETS["maze-small"].build(tmp_path / "m", blanks=(1, 2))
    with pytest.raises(DataError, match="unknown dataset option 'colour'"):
        DATASET_PRESETS["sudoku6"].build(tmp_path / "m", colour=True)
    out = DATASET_PRESETS["maze-small"].build(tmp_path / "m", size=6, train=3, test=2, min_path=4)
    assert load_task_info(out)["size"] == 6 and load_split(out, "test").num_examples == 2
    assert main(["data", "build", "maze-small", "--out", str(tmp_path / "x"), "--box", "2x3", "--quiet"]) == 2
    assert "does not apply" in capsys.readouterr().err
