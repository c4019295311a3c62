"""Symbolic verifiers: they accept correct answers and reject wrong ones, with a reason."""

from __future__ import annotations

import numpy as np
import pytest

from trm.data import maze_generate
from trm.data.sudoku_generate import generate
from trm.infer import TaskInfo, make_codec
from trm.tasks import maze
from trm.tasks.maze import check_maze
from trm.tasks.sudoku import check_sudoku
from trm.utils import TRMError

from .test_infer_engine import tiny_config


@pytest.fixture(scope="module")
def sudoku6():
    p, s = generate(3, (2, 3), blanks=(15, 20), seed=1)
    return p, s


def test_sudoku_verifier_accepts_solutions(sudoku6):
    for p, s in zip(*sudoku6, strict=True):
        assert check_sudoku(p, s, (2, 3)) == []


def test_sudoku_verifier_rejects_wrong_answers(sudoku6):
    p, s = sudoku6[0][0], sudoku6[1][0]
    given = tuple(np.argwhere(p != 0)[0])
    changed = s.copy()
    changed[given] = s[given] % 6 + 1
    assert any("given" in e for e in check_sudoku(p, changed, (2, 3)))
    swapped = s.copy()
    blank = np.argwhere(p == 0)[0]
    swapped[tuple(blank)] = s[tuple(blank)] % 6 + 1
    assert any("appears 2 times" in e for e in check_sudoku(p, swapped, (2, 3)))
    unfinished = s.copy()
    unfinished[tuple(blank)] = 0
    assert any("not filled" in e for e in check_sudoku(p, unfinished, (2, 3)))
    # a grid valid on rows and columns but not on 2x3 boxes: a cyclic Latin square
    latin = (np.arange(6)[:, None] + np.arange(6)[None, :]) % 6 + 1
    assert any("box" in e for e in check_sudoku(np.zeros((6, 6), int), latin, (2, 3)))


def _maze_grids(n: int = 8):
    mazes, labels = maze_generate.generate(4, n, seed=0)
    chars = np.array(list(maze.CHARSET))
    return [(chars[m], chars[lab]) for m, lab in zip(mazes, labels, strict=True)], mazes, labels


def test_maze_verifier_accepts_shortest_paths_and_agrees_with_the_data_checker():
    grids, mazes, labels = _maze_grids()
    for (m, lab), mc, lc in zip(grids, mazes, labels, strict=True):
        assert check_maze(m, lab) == []
        assert maze.check_path(mc, lc) == (True, True)


def test_maze_verifier_rejects_broken_detoured_and_tampered_paths():
    grids, _, _ = _maze_grids()
    m, lab = grids[0]
    broken = lab.copy()
    r, c = np.argwhere(lab == "o")[len(np.argwhere(lab == "o")) // 2]
    broken[r, c] = " "
    assert any("breaks off" in e for e in check_maze(m, broken))
    stray = lab.copy()
    free = [tuple(p) for p in np.argwhere(m == " ") if lab[tuple(p)] == " "]
    far = next(
        p
        for p in free
        if all(
            abs(p[0] - q[0]) + abs(p[1] - q[1]) > 1 for q in np.argwhere(lab != " ") if lab[tuple(q)] in "oSG"
        )
    )
    stray[far] = "o"
    assert any("not on the way" in e for e in check_maze(m, stray))
    wall = lab.copy()
    wall[tuple(np.argwhere(m == "#")[0])] = " "
    assert any("differ from the maze" in e for e in check_maze(m, wall))
    assert check_maze(m, np.full_like(lab, "?"))


def test_maze_verifier_reports_a_valid_but_longer_path():
    def grid(rows):
        return np.array([list(r) for r in rows])

    m = grid(["S   ", "    ", "    ", "G   "])
    shortest = grid(["S   ", "o   ", "o   ", "G   "])
    detour = grid(["So  ", " o  ", " o  ", "Go  "])
    assert check_maze(m, shortest) == []
    assert check_maze(m, detour) == ["the path is valid but takes 5 moves; the shortest takes 3"]
    codes = {ch: i for i, ch in enumerate(maze.CHARSET)}
    as_codes = np.vectorize(codes.__getitem__)
    assert maze.check_path(as_codes(m), as_codes(detour)) == (True, False)


def test_codecs_reject_bad_input():
    cfg6 = tiny_config(seq_len=36, vocab_size=8)
    sud = make_codec(TaskInfo("sudoku", 6, (2, 3)), cfg6)
    for bad in ("123", "x" * 36, "11" + "." * 34):
        with pytest.raises(TRMError):
            sud.parse(bad)
    # givens that do not repeat but leave a cell without any candidate: no solution
    unsolvable = "12345." + "." * 5 + "6" + "." * 24
    with pytest.raises(TRMError, match="no solution"):
        sud.parse(unsolvable)
    cfg = tiny_config(seq_len=25, vocab_size=6)
    mz = make_codec(TaskInfo("maze", 5), cfg)
    with pytest.raises(TRMError, match="up to 5x5"):
        mz.parse("S" + " " * 6 + "G")
    with pytest.raises(TRMError, match="illegal"):
        mz.parse("S x\n  G")
    with pytest.raises(TRMError, match="exactly one S"):
        mz.parse("   \n  G")
    with pytest.raises(TRMError, match="no path"):
        mz.parse("S#\n#G")
    p = mz.parse("S o\n  G")  # smaller mazes are walled in; a drawn path is ignored in the input
    assert mz.format(p.tokens, p) == "S  \n  G"
