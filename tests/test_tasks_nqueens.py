"""The N-Queens completion family (trm.tasks.nqueens) and its dataset builder (trm.data.build.nqueens)."""

import json

import numpy as np
import pytest

from trm.cli import main
from trm.data.build.nqueens import build_nqueens, completion_table, instances
from trm.data.errors import DataError
from trm.data.format import load_split, load_task_info
from trm.data.presets import DATASET_PRESETS
from trm.tasks import TASKS, PuzzleError, get_task
from trm.tasks.nqueens import (
    NQueensTask,
    all_solutions,
    attacks,
    boards,
    completions,
    decode,
    default_removed,
    encode,
    format_board,
    remove_queens,
)

from .docs_blocks import TINY_TRAIN

BOARD = "\n".join(
    ["Q.......", "........", "........", ".....Q..", "........", "........", "........", "........"]
)


def task8():
    return get_task("nqueens", 64, 3)


def test_registered_and_resolved():
    assert TASKS["nqueens"] is NQueensTask
    t = task8()
    assert isinstance(t, NQueensTask) and t.n == 8 and t.vocab == 3 and t.verifier_metric == "valid_accuracy"
    with pytest.raises(PuzzleError, match="square"):
        get_task("nqueens", 50, 3)


@pytest.mark.parametrize("n, count", [(4, 2), (5, 10), (6, 4), (8, 92), (10, 724)])
def test_the_enumerator_counts_every_solution(n, count):
    sols = all_solutions(n)
    assert sols.shape == (count, n) and len({tuple(s) for s in sols}) == count
    assert not any(attacks(x) for x in boards(sols))
    assert [tuple(s) for s in sols] == sorted(tuple(s) for s in sols)  # lexicographic


def test_completions_respect_the_givens():
    b = np.zeros((8, 8), np.int8)
    b[0, 0] = 1
    comp = completions(b)
    assert len(comp) == 4 and (comp[:, 0] == 0).all()  # 4 of the 92 solutions have a queen in a corner
    assert len(completions(b, limit=1)) == 1
    b[1, 1] = 1  # attacking givens: none
    assert len(completions(b)) == 0
    sols = all_solutions(8)
    puzzles = boards(sols[:5]) * (np.arange(8) < 3)[None, :, None]
    for p, table in zip(puzzles, completion_table(sols, puzzles), strict=True):
        assert [tuple(c) for c in table] == [tuple(c) for c in completions(p)]


def test_parse_format_round_trip_and_forms():
    t = task8()
    p = t.parse(BOARD)
    assert p.tokens.shape == (64,) and int((p.tokens == 2).sum()) == 2 and set(p.tokens.tolist()) == {1, 2}
    assert t.format(p.tokens, p) == BOARD
    flat = BOARD.replace("\n", "")
    assert (t.parse(flat).tokens == p.tokens).all()
    assert (t.parse(" ".join(flat)).tokens == p.tokens).all()  # spaces ignored
    assert (t.parse(BOARD.replace("Q", "q").replace(".", "-") + "\n\n").tokens == p.tokens).all()
    assert t.example_text(p.tokens) == BOARD
    assert t.cells(p.tokens, p).shape == (8, 8) and t.givens(p).sum() == 2


@pytest.mark.parametrize(
    "bad, msg",
    [
        ("Q" * 3, "one-line board needs 64"),
        ("Q.\n..", "8x8 boards"),
        (BOARD.replace("Q", "X", 1), "bad board character 'X'"),
        ("QQ" + "." * 62, "attack each other .same row"),
        ("Q" + "." * 8 + "Q" + "." * 54, "same diagonal"),
        (42, "as text"),
        ("", "empty"),
    ],
)
def test_bad_boards_are_one_line_errors(bad, msg):
    with pytest.raises(PuzzleError, match=msg) as e:
        task8().parse(bad)
    assert "\n" not in str(e.value)


def test_a_board_without_completion_is_refused():
    t = get_task("nqueens", 16, 3)  # 4x4: the queens stand in columns 2,4,1,3 or 3,1,4,2
    with pytest.raises(PuzzleError, match="no completion"):
        t.parse("Q...\n....\n....\n....")


def test_verify_catches_attacks_missing_and_moved_givens():
    t = task8()
    p = t.parse(BOARD)
    sol = completions(p.layout["board"])[0]
    good = encode(boards(sol))
    assert t.verify(p, good) == (True, []) and t.accepts(p.tokens, good)
    ok, why = t.verify(p, encode(boards(sol)[:7].tolist() + [[0] * 8]))  # a queen short
    assert not ok and "7 queens" in why[0]
    swapped = boards(sol)
    swapped[[2, 3]] = swapped[
        [3, 2]
    ]  # two rows exchanged: same count, now attacking diagonally (or not valid)
    ok, why = t.verify(p, encode(swapped))
    assert not ok and any("attack" in w for w in why)
    other = next(s for s in all_solutions(8) if s[0] != 0)  # valid board that drops the given corner queen
    ok, why = t.verify(p, encode(boards(other)))
    assert not ok and any("given queen(s) missing" in w for w in why)
    assert not t.accepts(p.tokens, encode(boards(other)))
    pad = good.copy()
    pad[5] = 0
    ok, why = t.verify(p, pad)
    assert not ok and "no board symbol" in why[0]


def test_symmetries_keep_validity_and_invert():
    t = task8()
    syms = t.symmetries(8, seed=0)
    assert len(syms) == 8 and syms[0].is_identity and len(t.symmetries(20, 0)) == 8
    rows = encode(boards(all_solutions(8)))
    seen = set()
    for s in syms:
        moved = s.apply(rows)
        assert (s.inverse().apply(moved) == rows).all()
        assert all(t.accepts(np.ones(64, np.int64), m) for m in moved)
        seen.add(moved[:1].tobytes())
    assert len(seen) > 1
    rng = np.random.default_rng(0)
    aug = t.augmenter()
    a, b = aug(rows[:4], rows[:4], rng)
    assert all(t.accepts(np.ones(64, np.int64), x) for x in b) and (a == b).all()


def test_example_puzzle_is_like_the_training_ones():
    info = task8().info
    text = NQueensTask.example_puzzle(info, 3, {"removed": [5, 7]})
    assert text == NQueensTask.example_puzzle(info, 3, {})  # 8x8 default: 5-7
    p = task8().parse(text)
    assert 1 <= int((p.tokens == 2).sum()) <= 3
    assert default_removed(10) == (7, 9) and default_removed(12)[0] >= 1


def test_remove_queens_and_instances_are_seeded():
    sols = all_solutions(8)
    b1 = remove_queens(sols[0], (5, 7), np.random.default_rng(1))
    assert (b1 == remove_queens(sols[0], (5, 7), np.random.default_rng(1))).all() and 1 <= b1.sum() <= 3
    p, src = instances(sols, 200, (5, 7), np.random.default_rng(2))
    assert set(p.sum((1, 2)).tolist()) == {1, 2, 3}
    assert ((boards(sols[src]) - p) >= 0).all()  # every kept queen is on the solved board it came from
    assert format_board(decode(encode(p[0]))) == format_board(p[0])


def test_builder_writes_held_out_boards_never_seen_in_training(tmp_path):
    out = build_nqueens(tmp_path / "d", size=6, count=300, removed=(3, 5), n_val=3, seed=1)
    info = load_task_info(out)
    assert info["task"] == "nqueens" and info["solutions"] == 4 and info["labels"] == "first"
    train, test, val = (load_split(out, s) for s in ("train", "test", "val"))
    assert train.num_examples == info["train_instances"] and val.num_examples == 3
    seen = {r.tobytes() for r in train.batch_inputs(np.arange(train.num_examples))}
    held = [load_split(out, s) for s in ("test", "val")]
    held_rows = [r.tobytes() for d in held for r in d.batch_inputs(np.arange(d.num_examples))]
    assert not seen & set(held_rows) and len(held_rows) == len(set(held_rows))
    t = get_task("nqueens", 36, 3)
    comp = json.loads((out / "completions_test.json").read_text())["completions"]
    assert len(comp) == test.num_examples == info["test_puzzles"]
    x, y = test.batch_inputs(np.arange(test.num_examples)), test.batch_labels(np.arange(test.num_examples))
    for q, a, c in zip(x, y, comp, strict=True):
        assert t.accepts(q, a) and [int(v) for v in np.argmax(decode(a), 1)] == c[0]  # the first completion
        assert all(t.accepts(q, encode(boards(np.array(s)))) for s in c)
    # training labels: every board's first completion, or with source_labels the board it came from
    tx, ty = (
        train.batch_inputs(np.arange(train.num_examples)),
        train.batch_labels(np.arange(train.num_examples)),
    )
    assert all(t.accepts(q, a) for q, a in zip(tx, ty, strict=True))
    again = build_nqueens(
        tmp_path / "e", size=6, count=300, removed=(3, 5), n_val=3, seed=1, source_labels=True
    )
    assert load_task_info(again)["labels"] == "source"
    assert (load_split(again, "train").batch_inputs(np.arange(5)) == tx[:5]).all()
    with pytest.raises(DataError, match="removed"):
        build_nqueens(tmp_path / "f", size=6, removed=(0, 2))
    with pytest.raises(DataError, match="validation"):
        build_nqueens(tmp_path / "g", size=6, count=300, n_val=10**6)


def test_cli_builds_and_shows_the_preset(tmp_path, capsys):
    out = tmp_path / "nq"
    args = ["data", "build", "nqueens", "--out", str(out), "--size", "6", "--instances", "200"]
    assert main([*args, "--removed", "3,4", "--val", "2", "--quiet"]) == 0
    info = load_task_info(out)
    assert info["removed"] == [3, 4] and info["instances"] == 200 and info["val_puzzles"] == 2
    assert main(["data", "show", str(out), "--split", "test", "--index", "0"]) == 0
    assert "Q" in capsys.readouterr().out
    assert (
        main(["data", "build", "nqueens", "--out", str(tmp_path / "x"), "--removed", "9,3", "--quiet"]) == 2
    )
    assert "nqueens" in DATASET_PRESETS


def test_tiny_demo_trains_evaluates_solves_and_exports(tmp_path, capsys):
    data = DATASET_PRESETS["nqueens"].build(tmp_path / "data", size=6, instances=200, removed=(3, 4), val=2)
    out = tmp_path / "run"
    args = ["demo", "--task", "nqueens", "--out", str(out), "--minutes", "1", "--data", str(data)]
    assert main(args + TINY_TRAIN) == 0
    text = capsys.readouterr().out
    assert "N-Queens" in text.splitlines()[0] and "direct prediction after" in text
    summary = json.loads((out / "demo_summary.json").read_text())
    assert 0 <= summary["trm"]["valid_accuracy"] <= 1 and "valid_accuracy" in summary["direct"]
    puzzle = text.split("test puzzle #")[1].split("\n\n")[0].split("\n", 1)[1]
    rc = main(["solve", str(out), puzzle, "--data", str(data), "--json"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["valid"] in (True, False) and rc == (0 if result["valid"] else 1)
    assert main(["export", str(out), "--format", "onnx", "--out", str(tmp_path / "onnx")]) == 0
