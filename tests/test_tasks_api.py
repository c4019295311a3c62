"""The task layer (trm.tasks): registry, parse/format/verify per family, symmetries on token rows, and that it
stands alone (no torch, copyable into an export folder)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from trm.data.maze_generate import generate as generate_mazes
from trm.data.sudoku_generate import generate as generate_sudoku
from trm.tasks import (
    IGNORE,
    TASKS,
    PuzzleError,
    TaskInfo,
    arc,
    get_task,
    maze,
    resolve_info,
    sudoku,
)
from trm.utils import TRMError


def test_import_does_not_load_torch():
    code = "import sys, trm.tasks; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_copied_package_runs_without_trm(tmp_path):
    """The task layer as an export folder carries it: inside the copied package tree ``trm_runtime/`` (its
    relative imports hold there), with neither trm nor torch importable."""
    from trm.deploy.onnx_export import copy_runtime

    copy_runtime(tmp_path)
    assert (tmp_path / "trm_runtime" / "tasks" / "sudoku.py").is_file()
    code = (
        "import sys\n"
        "sys.modules['trm'] = sys.modules['torch'] = None  # neither may be imported\n"
        "from trm_runtime import tasks\n"
        "t = tasks.get_task('sudoku', 16, 6)\n"
        "p = t.parse('1234341221434321')\n"
        "print(t.format(p.tokens, p), t.verify(p, p.tokens)[0])\n"
        "try:\n"
        "    t.parse('11' + '.' * 14)\n"
        "except ValueError as e:\n"
        "    print(type(e).__name__, e)\n"
        "print(sys.modules['trm'], sys.modules['torch'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "1234341221434321 True"
    assert lines[1].startswith("PuzzleError ") and "appears twice in row 1" in lines[1]
    assert lines[2] == "None None"


def test_registry_and_resolve_info():
    assert {"sudoku", "maze", "arc", "custom"} <= set(TASKS) and list(TASKS)[:4] == [
        "sudoku",
        "maze",
        "arc",
        "custom",
    ]
    assert resolve_info("sudoku", 36, 8) == TaskInfo("sudoku", 6, (2, 3))
    assert get_task({"task": "sudoku", "box": [3, 2]}, 36, 8).box == (3, 2)
    assert get_task(TaskInfo("maze", 5), 25, 6).kind == "maze"
    assert get_task("something-else", 7, 3).kind == "custom"
    for args, message in [
        (("sudoku", 35, 8), "square sequence length"),
        (("sudoku", 36, 9), "vocab_size 8"),
        (("arc", 99, 12), "square sequence length"),
        (("arc", 31 * 31, 12), "at most 30x30"),
        (("sudoku", 36, 8, (2, 2)), "does not fit"),
    ]:
        with pytest.raises(PuzzleError, match=message):
            resolve_info(*args)
    assert issubclass(PuzzleError, TRMError) and issubclass(PuzzleError, ValueError)
    # a smaller ARC canvas (arc-small: 11x11) follows from seq_len; a grid larger than it is refused clearly
    small = get_task("arc", 121, 12)
    assert small.side == 11 and small.parse([[1, 2], [3, 4]]).tokens.shape == (121,)
    with pytest.raises(PuzzleError, match="grid of 12x12 does not fit the 11x11 canvas"):
        small.parse([[1] * 12] * 12)


def test_sudoku_task_round_trip_verify_and_render():
    task = get_task("sudoku", 36, 8)
    (puzzle,), (solution,) = generate_sudoku(1, (2, 3), blanks=(14, 18), seed=3)
    text = sudoku.format_sudoku(puzzle)
    lined = "\n".join(text[r * 6 : (r + 1) * 6] for r in range(6)).replace(".", "0")
    p = task.parse(lined)
    answer = sudoku.encode(solution)
    assert task.format(answer, p) == "\n".join(
        sudoku.format_sudoku(solution)[r * 6 : (r + 1) * 6] for r in range(6)
    )
    assert task.verify(p, answer) == (True, [])
    assert task.parse(puzzle.tolist()).text == text
    wrong = answer.copy()
    wrong[np.flatnonzero(puzzle.reshape(-1))[0]] = (
        1 if wrong[np.flatnonzero(puzzle.reshape(-1))[0]] != 1 else 2
    )
    valid, errors = task.verify(p, wrong)
    assert not valid and any("was changed" in e for e in errors)
    lines = task.render(answer)
    assert len(lines) == 6 + 2 and "|" in lines[0] and set(lines[2]) <= set("-+")
    assert task.cells(answer, p).shape == (6, 6)
    for bad, message in [
        ("1" * 35, "needs 36 cells"),
        ("x" + "." * 35, "bad character 'x'"),
        ([[1.5] * 6] * 6, "integer cells"),
    ]:
        with pytest.raises(PuzzleError, match=message):
            task.parse(bad)


@pytest.mark.parametrize("box", [(2, 2), (2, 3), (3, 3)])
def test_sudoku_symmetries_on_token_rows_match_the_grid_transform(box):
    n = box[0] * box[1]
    puzzles, solutions = generate_sudoku(4, box, blanks=(n, n + 2), seed=1)
    rng = np.random.default_rng(5)
    for p, s in zip(puzzles, solutions, strict=True):
        t = sudoku.random_transform(box, rng)
        sym = t.symmetry()
        assert (sym.apply(sudoku.encode(p)) == sudoku.encode(t.apply(p))).all()
        assert (sym.inverse().apply(sym.apply(sudoku.encode(s))) == sudoku.encode(s)).all()
    task = get_task(TaskInfo("sudoku", n, box), n * n, n + 2)
    syms = task.symmetries(5, seed=2)
    assert syms[0].is_identity and not any(s.is_identity for s in syms[1:])
    rows = sudoku.encode(solutions)
    for sym in syms:
        out = sym.apply(rows)
        assert sudoku.valid_solutions(sudoku.decode(out), sudoku.decode(out), box).all()
        assert (sym.inverse().apply(out) == rows).all()
    assert [s.perm.tolist() for s in task.symmetries(5, seed=2)] == [s.perm.tolist() for s in syms]


def test_symmetry_keeps_the_ignore_label():
    sym = sudoku.random_transform((2, 2), np.random.default_rng(0)).symmetry()
    labels = np.full((2, 16), IGNORE, np.int64)
    labels[:, 3] = 4
    out = sym.apply(labels)
    assert (out == IGNORE).sum() == 30 and out.dtype == labels.dtype
    aug = get_task("sudoku", 16, 6).augmenter()
    (p,), (s,) = generate_sudoku(1, (2, 2), blanks=(6, 8), seed=0)
    ti, tl = aug(sudoku.encode(p), sudoku.encode(s), np.random.default_rng(1))
    t = sudoku.random_transform((2, 2), np.random.default_rng(1))
    assert (ti == sudoku.encode(t.apply(p))).all() and (tl == sudoku.encode(t.apply(s))).all()


def test_maze_task_symmetries_and_verifier():
    mazes, labels = generate_mazes(2, 7, seed=1)
    task = get_task("maze", 49, 6)
    for m, lab in zip(mazes, labels, strict=True):
        p = task.parse(maze.format_maze(m))
        answer = maze.encode(lab)
        assert task.format(answer, p) == maze.format_maze(lab)
        assert task.verify(p, answer) == (True, [])
        for sym in task.symmetries(8, seed=0):
            moved, moved_label = sym.apply(maze.encode(m)), sym.apply(answer)
            assert maze.check_path(maze.decode(moved), maze.decode(moved_label)) == (True, True)
            assert (sym.inverse().apply(moved_label) == answer).all()
    assert len(task.symmetries(20, seed=0)) == 8
    assert task.render(maze.encode(labels[0]))[0] == maze.format_maze(labels[0]).split("\n")[0]
    with pytest.raises(PuzzleError, match="exactly one G"):
        maze.parse_maze("S  \n   \n   ")


def test_arc_task_parse_format_and_whole_tasks():
    task = get_task("arc", 900, 12)
    p = task.parse({"input": [[1, 2], [3, 4]], "puzzle_identifier": 7})
    assert p.pid == 7 and p.tokens.shape == (900,) and p.tokens.dtype == np.int64
    assert json.loads(task.format(p.tokens, p)) == [[1, 2], [3, 4]]
    assert task.render(p.tokens) == ["1 2 ", "3 4 "]
    for bad, message in [
        ({"input": [[1]], "puzzle_identifier": -1}, "non-negative"),
        ([[1, 2], [3]], "one non-zero"),
        ([[10]], "colours must be 0..9"),
        ([[0] * 31], "larger than 30x30"),
    ]:
        with pytest.raises(PuzzleError, match=message):
            task.parse(bad)
    data = arc.read_task(
        json.dumps({"test": [{"input": [[1]], "output": [[2]]}, {"input": [[3]], "output": [[4]]}]})
    )
    assert arc.check_outputs(data["test"], [[[2]], [[5]]]) == (
        False,
        ["test output 1 differs from the expected grid"],
    )
    assert arc.check_outputs([{"input": [[1]]}], [[[2]]]) == (None, [])
    with pytest.raises(PuzzleError, match="not valid JSON"):
        arc.read_task("{oops")
    with pytest.raises(PuzzleError, match="non-empty 'test'"):
        arc.read_task({"train": []})
    aug = arc.ArcAugmentation.parse("abc|||t1|||0918273645")
    g = np.array([[1, 2, 3]])
    assert (aug.invert(aug.apply(g)) == g).all() and not aug.is_identity


def test_custom_tokens_task():
    task = get_task("custom", 4, 5)
    p = task.parse("0 1 2 4")
    assert task.format(p.tokens, p) == "0 1 2 4" and task.verify(p, p.tokens) == (None, [])
    with pytest.raises(PuzzleError, match="expected 4 tokens in 0..4"):
        task.parse("0 1 2 5")
