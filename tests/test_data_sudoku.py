"""Sudoku: parsing, the solver (scalar and batched), rating, generation, symmetry augmentation."""

import random

import numpy as np
import pytest

from trm.data import DataError
from trm.data import sudoku_generate as G
from trm.data.readers import read_collection
from trm.tasks import get_task
from trm.tasks import sudoku as S
from trm.tasks import sudoku_batch as SB
from trm.tasks.sudoku_solver import random_solution

BOXES = [(2, 2), (2, 3), (3, 2), (3, 3)]


def _random_puzzles(box, m, seed, min_blank_frac=0.3):
    rng = random.Random(seed)
    n = box[0] * box[1]
    out = []
    for _ in range(m):
        g = random_solution(box, rng).reshape(-1).copy()
        g[rng.sample(range(n * n), rng.randint(int(n * n * min_blank_frac), n * n - 1))] = 0
        out.append(g.reshape(n, n))
    return np.array(out)


def test_parse_format_round_trip():
    text = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
    g = S.parse_sudoku(text)
    assert g.dtype == np.int8 and g.shape == (9, 9) and g[0, 0] == 5 and g[0, 2] == 0
    assert S.format_sudoku(g) == text
    assert (S.parse_sudoku(text.replace(".", "0")) == g).all()
    spaced = "\n".join(text[i : i + 9] for i in range(0, 81, 9))
    assert (S.parse_sudoku(spaced) == g).all()
    six = S.parse_sudoku("1.....\n......\n......\n......\n......\n.....6", (2, 3))
    assert six.shape == (6, 6) and S.format_sudoku(six) == "1" + "." * 34 + "6"


@pytest.mark.parametrize(
    "text, message",
    [
        ("1" * 80, "needs 81 cells, got 80"),
        ("x" + "." * 80, "bad character 'x' at cell 0"),
        ("11" + "." * 79, "digit 1 appears twice in row 1"),
        ("1" + "." * 8 + "1" + "." * 71, "digit 1 appears twice in column 1"),
        ("1" + "." * 9 + "1" + "." * 70, "digit 1 appears twice in the box"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(DataError, match=message):
        S.parse_sudoku(text)
    with pytest.raises(ValueError):
        S.parse_sudoku(text)


def test_solver_counts_on_tdoku_test_set(shared_dir):
    path = shared_dir / "data/sudoku/tdoku-test/test_puzzles"
    if not path.is_file():
        pytest.skip("tdoku test puzzles not available")
    rows = [ln.split(":") for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    # raw digits: some of these puzzles repeat a given on purpose (no solution), which parse_sudoku rejects
    puzzles = np.stack(
        [np.array([int(c) if c.isdigit() else 0 for c in r[0]], np.int8).reshape(9, 9) for r in rows]
    )
    want = [min(int(r[1]), 2) for r in rows]
    counts = SB.solve_batch(puzzles, (3, 3), 2)[0]
    assert counts.tolist() == want
    for r, p in zip(rows[:12], puzzles[:12], strict=False):
        c, sol = S.solve(p, (3, 3), 2)
        assert c == min(int(r[1]), 2)
        if int(r[1]) == 1 and len(r) > 2:
            assert S.format_sudoku(sol) == r[2]
            assert S.is_valid_solution(p, sol)


@pytest.mark.parametrize("box", BOXES)
def test_batch_search_matches_scalar(box):
    puzzles = _random_puzzles(box, 60, seed=sum(box))
    count, first, guesses = SB.solve_batch(puzzles, box, 3)
    for i, p in enumerate(puzzles):
        c, f, g = S.solve_and_rate(p, box, 3)
        assert (c, g) == (count[i], guesses[i])
        assert (f == first[i]).all()
    assert {1, 2, 3} <= set(count.tolist())  # the sample covers unique and multiple solutions


def test_rating_orders_collections(shared_dir):
    base = shared_dir / "data/sudoku/tdoku-collections"
    if not base.is_dir():
        pytest.skip("collections not available")
    easy, _ = read_collection(base / "puzzles2_17_clue")
    hard, _ = read_collection(base / "puzzles5_forum_hardest_1905_11+")
    g_easy = SB.solve_batch(easy[:150], (3, 3), 1)[2]
    g_hard = SB.solve_batch(hard[:150], (3, 3), 1)[2]
    assert np.median(g_easy) == 0 and g_easy.mean() < 3
    assert np.median(g_hard) > 20


@pytest.mark.parametrize("box", BOXES)
def test_augment_keeps_validity_and_counts(box):
    rng = np.random.default_rng(0)
    puzzles = _random_puzzles(box, 25, seed=7)
    for p in puzzles:
        c, sol = S.solve(p, box, 3)
        t = S.random_transform(box, rng)
        q, qs = t.apply(p), t.apply(sol if sol is not None else p)
        assert (t.inverse(q) == p).all()
        assert S.solve(q, box, 3)[0] == c
        if sol is not None:
            assert S.is_valid_solution(q, qs, box)
            assert (t.inverse(qs) == sol).all()
    # batched version: equivalent puzzles (same fingerprint), solutions stay solutions
    sols = np.stack([S.solve(p, box, 1)[1] for p in puzzles])
    ap, asol = S.augment_batch([puzzles, sols], box, rng)
    assert all(S.is_valid_solution(a, b, box) for a, b in zip(ap, asol, strict=False))
    assert G.invariant_keys(ap, box) == G.invariant_keys(puzzles, box)
    assert not all((a == p).all() for a, p in zip(ap, puzzles, strict=False))


def test_token_augmenter_matches_grid_transform():
    box = (2, 3)
    puzzles, sols = G.generate(8, box, (15, 20), seed=3)
    aug = get_task({"task": "sudoku", "box": box}, 36, 8).augmenter()
    rng = np.random.default_rng(5)
    for p, s in zip(puzzles, sols, strict=False):
        ti, tl = aug(S.encode(p), S.encode(s), rng)
        gp, gs = S.decode(ti), S.decode(tl)
        assert S.is_valid_solution(gp, gs, box)
        assert S.solve(gp, box, 2)[0] == 1
        assert (gp == 0).sum() == (p == 0).sum()


def test_encode_decode():
    g = S.parse_sudoku("1.3............2", (2, 2))
    t = S.encode(g)
    assert t.tolist()[:4] == [2, 1, 4, 1] and t.shape == (16,)
    assert (S.decode(t) == g).all()


def test_generate_6x6_minimal_unique_deterministic():
    p, s = G.generate(40, (2, 3), (23, 28), seed=11, minimal=True)
    p2, s2 = G.generate(40, (2, 3), (23, 28), seed=11, minimal=True, workers=2)
    assert (p == p2).all() and (s == s2).all()
    blanks = (p == 0).reshape(40, -1).sum(1)
    assert blanks.min() >= 23 and blanks.max() <= 28
    for q, sol in zip(p[:15], s[:15], strict=False):
        assert S.solve(q, (2, 3), 2)[0] == 1
        assert S.is_valid_solution(q, sol, (2, 3))
        assert S.is_minimal(q, (2, 3))


def test_generate_9x9_blanks_and_difficulty():
    p, s = G.generate(30, (3, 3), (50, 54), seed=1)
    blanks = (p == 0).reshape(30, -1).sum(1)
    assert blanks.min() >= 50 and blanks.max() <= 54
    assert (SB.solve_batch(p, (3, 3), 2)[0] == 1).all()
    hard, _ = G.generate(3, (3, 3), (56, 64), seed=2, minimal=True, guesses=(2, None))
    assert all(S.rate(q) >= 2 for q in hard)


def test_generate_rejects_bad_ranges():
    with pytest.raises(DataError, match="blanks"):
        G.generate(2, (2, 2), (10, 40))
    with pytest.raises(DataError, match="box shape"):
        S.check_box((5, 5))
