"""Property-based tests (hypothesis) of the puzzle parsers of :mod:`trm.tasks`: whatever a user gives (Sudoku
strings and grids, maze text, ARC task JSON with null or list test items and colours like 1.5, true, "3",
1e400 or 2**63), a parser either returns a puzzle or raises :class:`trm.tasks.PuzzleError` (a ValueError) with
a one-line message, never another exception (docs/RELIABILITY.md). Examples are bounded: seconds."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trm.tasks import PuzzleError, get_task
from trm.tasks import arc as arc_mod
from trm.tasks import sudoku as sd

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)

SUDOKU = get_task("sudoku", 36, 8)
MAZE = get_task("maze", 36, 6)
ARC = get_task("arc", 900, 12)
CUSTOM = get_task("custom", 4, 5)

NASTY = [
    0,
    1,
    3,
    9,
    10,
    -1,
    1.5,
    True,
    False,
    None,
    "3",
    "",
    2**63,
    -(2**63) - 1,
    10**400,
    1e400,
    float("nan"),
]
CELL = st.sampled_from(NASTY) | st.integers(-20, 20)
JSONISH = st.recursive(
    CELL | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.sampled_from(["input", "output", "x"]), inner)
    ),
    max_leaves=40,
)
# grids: mostly rectangular lists of awkward cells, so that the checks after the shape are reached
GRID = st.integers(1, 6).flatmap(
    lambda w: st.lists(st.lists(CELL, min_size=w, max_size=w), min_size=1, max_size=6)
)


def _parses_or_one_line(fn, value):
    try:
        fn(value)
    except PuzzleError as e:
        msg = str(e)
        assert msg and "\n" not in msg, msg
        assert isinstance(e, ValueError)


@FUZZ
@given(st.text(alphabet="0123456789.#SGo \n\r\t\x00éa-", max_size=60) | st.text(max_size=60))
def test_sudoku_and_maze_text(text):
    for task in (SUDOKU, MAZE, CUSTOM):
        _parses_or_one_line(task.parse, text)
    _parses_or_one_line(lambda t: sd.parse_sudoku(t, (2, 3)), text)


@FUZZ
@given(st.lists(CELL, max_size=40) | GRID | JSONISH)
def test_sudoku_grids_and_token_lists(value):
    for task in (SUDOKU, CUSTOM, MAZE):
        _parses_or_one_line(task.parse, value)


@FUZZ
@given(GRID | JSONISH)
def test_arc_grids(value):
    _parses_or_one_line(ARC.parse, value)
    _parses_or_one_line(ARC.parse, {"input": value})
    _parses_or_one_line(lambda v: arc_mod.check_grid(v, "input"), value)


TEST_ITEM = st.none() | GRID.map(lambda g: {"input": g}) | JSONISH | st.just([]) | st.just({"output": [[1]]})


@FUZZ
@given(st.lists(TEST_ITEM, max_size=3), st.booleans())
def test_arc_task_json(tests, as_text):
    task = {"train": [], "test": tests}
    _parses_or_one_line(arc_mod.read_task, json.dumps(task) if as_text else task)
    task["train"] = tests[::-1]
    _parses_or_one_line(lambda t: arc_mod.task_from_json("t", t), task)


@pytest.mark.parametrize(
    "colour", [1.5, True, False, "3", 1e400, 2**63, -(2**63) - 1, None, [1], float("nan")]
)
def test_arc_colours_must_be_integers(colour):
    with pytest.raises(PuzzleError, match="colour|integer"):
        arc_mod.check_grid([[0, colour]], "input")
    with pytest.raises(PuzzleError):
        arc_mod.read_task({"test": [{"input": [[colour]]}]})


@pytest.mark.parametrize("item", [None, [], [[1]], {}, {"output": [[1]]}, 3, "x"])
def test_arc_test_items(item):
    with pytest.raises(PuzzleError, match=r"test\[0\]"):
        arc_mod.read_task({"test": [item]})


@pytest.mark.parametrize("text", ["1" * 300, "x" * 5000, "a\x00b", "{" * 300, "/" * 300])
def test_long_or_odd_text_is_a_puzzle_not_a_path(text):
    for fn in (arc_mod.read_task, SUDOKU.parse, MAZE.parse):
        _parses_or_one_line(fn, text)


@pytest.mark.parametrize("token", [1.5, True, "3", 2**63, 1e400, None])
def test_custom_tokens_must_be_integers(token):
    with pytest.raises(PuzzleError):
        CUSTOM.parse([1, 2, 3, token])


def test_valid_inputs_still_parse():
    assert CUSTOM.parse([1, 2, 3, 4]).tokens.tolist() == [1, 2, 3, 4]
    assert CUSTOM.parse("1 2 3 4").tokens.tolist() == [1, 2, 3, 4]
    assert ARC.parse([[0, 9], [3, 4]]).layout["grid"].tolist() == [[0, 9], [3, 4]]
    assert ARC.parse(np.array([[1, 2]], np.uint8)).tokens.size == 900
    assert arc_mod.read_task(json.dumps({"test": [{"input": [[1]]}]}))["test"][0]["input"] == [[1]]
    assert SUDOKU.parse("1" + "." * 35).tokens.size == 36
    assert SUDOKU.parse([[0] * 6] * 6).tokens.size == 36


def test_cli_long_puzzle_is_a_puzzle(tmp_path):
    from trm.cli.solve import _read_puzzle
    from trm.utils import TRMError

    assert _read_puzzle("1" * 300) == "1" * 300  # not "File name too long"
    assert _read_puzzle("1" * 5000) == "1" * 5000
    (tmp_path / "p.txt").write_text("1.3")
    assert _read_puzzle(str(tmp_path / "p.txt")) == "1.3"
    with pytest.raises(TRMError, match="no such file"):
        _read_puzzle("/" + "x" * 5000)
