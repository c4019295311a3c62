"""Puzzles as people write them (docs/DATA.md "Puzzles as text"): every text form of a Sudoku that puzzle sites,
books and programs print reads back to the same grid, for every box shape; a puzzle of another size says which
model solves it; the answer drawn for a person reads back; mazes with ragged trailing spaces."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trm.tasks import PuzzleError, get_task
from trm.tasks import sudoku as S
from trm.tasks.errors import OtherSizeError
from trm.tasks.sudoku_solver import random_solution

from .fuzz_profile import fuzz

BOXES = [(2, 2), (2, 3), (3, 2), (3, 3), (2, 4), (3, 4), (4, 4)]


# ------------------------------------------------------------------------------- renderings people use


def _sym(v: int, blank: str) -> str:
    return blank if v == 0 else S.DIGITS[v]


def _line(g, box, blank):  # 81 characters, today's form
    return "".join(_sym(v, blank) for v in g.reshape(-1))


def _rows(g, box, blank):  # one row per line, no spaces (.sdk rows)
    return "\n".join("".join(_sym(v, blank) for v in row) for row in g)


def _spaced(g, box, blank):  # one row per line, cells separated by spaces
    return "\n".join(" ".join(_sym(v, blank) for v in row) for row in g)


def _groups(g, box, blank):  # "12. 4.. 7.9": a word per box
    bc = box[1]
    return "\n".join(
        " ".join("".join(_sym(v, blank) for v in row[c : c + bc]) for c in range(0, len(row), bc))
        for row in g
    )


def _bands(g, box, rule_join, rule, bar, frame, number=False, pad=" "):
    """A drawn grid: cells between ``bar`` (box columns), ``rule`` lines between bands, ``frame`` around."""
    br, bc = box
    n = br * bc
    width = len(str(n)) if number else 1

    def cell(v):
        return (str(v) if number else _sym(v, ".")).rjust(width)

    seg = (pad + pad.join(["x" * width] * bc) + pad).__len__()
    line = rule_join.join([rule * seg] * (n // bc))
    out = [frame[0] + line + frame[0]] if frame else []
    for r in range(n):
        if r and r % br == 0:
            out.append((frame[1] if frame else "") + line + (frame[1] if frame else ""))
        boxes = [pad + pad.join(cell(v) for v in g[r, c : c + bc]) + pad for c in range(0, n, bc)]
        out.append((bar if frame else "") + bar.join(boxes) + (bar if frame else ""))
    if frame:
        out.append(frame[2] + line + frame[2])
    return "\n".join(out)


def _pipes(g, box, blank):  # xxx|xxx|xxx, ---+---+--- (pzl format 4)
    return _bands(g, box, "+", "-", "|", None, pad="").replace(".", blank)


def _drawn(g, box, blank):  # the issue's form: x x x | x x x, -------+------- (the answer drawn by trm solve)
    return S.draw_sudoku(g, box).replace(".", blank)


def _framed(g, box, blank):  # +-------+-------+ around and between
    return _bands(g, box, "+", "-", "|", ("+", "+", "+")).replace(".", blank)


def _starred(g, box, blank):  # *-----------* / |xxx|xxx| / |---+---| (pzl format 6)
    drawn = _bands(g, box, "+", "-", "|", ("*", "|", "*"), pad="")
    return drawn.replace(".", blank)


def _unicode(g, box, blank):  # box-drawing characters
    drawn = _bands(g, box, "┼", "─", "│", ("┌", "├", "└"))
    lines = drawn.split("\n")
    lines[0] = lines[0][:-1].replace("┼", "┬") + "┐"
    lines[-1] = lines[-1][:-1].replace("┼", "┴") + "┘"
    return "\n".join(ln[:-1] + "┤" if ln.startswith("├") else ln for ln in lines).replace(".", blank)


def _commas(g, box, blank):  # 1,0,0,... one row per line, numbers (10..16 as numbers)
    return "\n".join(",".join(str(int(v)) for v in row) for row in g)


def _csv_empty(g, box, blank):  # a spreadsheet's CSV: blank cells empty, a trailing comma
    return "\n".join(",".join("" if v == 0 else str(int(v)) for v in row) + "," for row in g)


def _comma_line(g, box, blank):  # every cell on one line, ", " between
    return ", ".join(str(int(v)) for v in g.reshape(-1))


def _numbers(g, box, blank):  # "10 . 3 16": numbers separated by spaces
    return "\n".join(" ".join(blank if v == 0 else str(int(v)) for v in row) for row in g)


def _number_grid(g, box, blank):  # numbers in a drawn grid, right-aligned
    return _bands(g, box, "+", "-", "|", ("+", "+", "+"), number=True)


def _sdk(g, box, blank):  # SadMan/SudoCue .sdk: #X info lines, [Puzzle], a [Solution] section after
    return (
        "#ARuud\n#DA random puzzle\n#LEasy\n[Puzzle]\n"
        + _rows(g, box, ".")
        + "\n[Solution]\n"
        + _rows(np.where(g == 0, 1, g), box, ".")
    )


FORMS = {
    "line": _line,
    "rows": _rows,
    "spaced": _spaced,
    "groups": _groups,
    "pipes": _pipes,
    "drawn": _drawn,
    "framed": _framed,
    "starred": _starred,
    "unicode": _unicode,
    "commas": _commas,
    "csv_empty": _csv_empty,
    "comma_line": _comma_line,
    "numbers": _numbers,
    "number_grid": _number_grid,
    "sdk": _sdk,
}
ONE_LINE = {"line", "comma_line"}
OWN_BLANK = {"line", "rows", "spaced", "groups", "pipes", "drawn", "framed", "starred", "unicode", "numbers"}


def _puzzle(box, seed: int, blank_frac: float) -> np.ndarray:
    rng = random.Random(seed)
    n = box[0] * box[1]
    g = random_solution(box, rng).reshape(-1).copy()
    g[rng.sample(range(n * n), int(n * n * blank_frac))] = 0
    return g.reshape(n, n).astype(np.int8)


@fuzz(120)
@given(
    box=st.sampled_from(BOXES),
    seed=st.integers(0, 2**20),
    blank_frac=st.floats(0, 1),
    form=st.sampled_from(sorted(FORMS)),
    blank=st.sampled_from(S.BLANKS),
    crlf=st.booleans(),
    margin=st.booleans(),
    lower=st.booleans(),
)
def test_every_rendering_reads_back_to_the_same_puzzle(
    box, seed, blank_frac, form, blank, crlf, margin, lower
):
    g = _puzzle(box, seed, blank_frac)
    n = len(g)
    text = FORMS[form](g, box, blank)
    if lower and form not in {"sdk"}:
        text = text.lower()
    if margin:  # blank lines around, indented rows, trailing spaces
        text = "\n\n" + "\n".join("  " + ln + "  " for ln in text.split("\n")) + "\n\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    grid, how = S.read_sudoku(text, box)
    assert grid.dtype == np.int8 and (grid == g).all(), (form, text)
    assert how["rows"] == (1 if form in ONE_LINE else n)
    if form in OWN_BLANK and (g == 0).any():
        assert how["blank"] == blank
    assert (S.parse_sudoku(text, box) == g).all()


@pytest.mark.parametrize("box", BOXES)
def test_the_answer_drawn_for_a_person_reads_back(box):
    g = _puzzle(box, 3, 0.0)
    task = get_task({"kind": "sudoku", "box": list(box)}, g.size, len(g) + 2)
    parsed = task.parse(S.format_sudoku(g))
    drawn = task.display(parsed.tokens, parsed)
    lines = drawn.split("\n")
    assert len(lines) == len(g) + len(g) // box[0] - 1  # a rule between bands
    assert all(ln.count("|") == len(g) // box[1] - 1 or set(ln) <= set("-+") for ln in lines)
    assert (S.parse_sudoku(drawn, box) == g).all()
    assert task.format(parsed.tokens, parsed) == S.format_sudoku(g)  # the JSON/--raw form is unchanged


# ------------------------------------------------------------------------------- the forms of the issue


ISSUE_6X6 = """
+-------+-------+
| 1 . . | . . . |
| . . . | . 2 . |
+-------+-------+
| . 3 . | . . . |
| . . . | . 4 . |
+-------+-------+
| . . 5 | . . . |
| . . . | . . 6 |
+-------+-------+
"""

SDK = """#ARuud
#DA random puzzle created by SudoCue
#CJust start plugging in the numbers
#B03-08-2006
#SSudoCue
#LEasy
#Uhttp://www.sudocue.net/
2..1.5..3
.54...71.
.1.2.3.8.
6.28.73.4
.........
1.53.98.6
.2.7.1.6.
.81...24.
7..4.2..1
"""
SDK_LINE = "2..1.5..3.54...71..1.2.3.8.6.28.73.4.........1.53.98.6.2.7.1.6..81...24.7..4.2..1"


def test_the_issues_drawn_6x6_is_read():
    task = get_task("sudoku", 36, 8)
    parsed = task.parse(ISSUE_6X6)
    assert S.format_sudoku(parsed.layout["givens"]) == "1.........2..3........4...5........6"
    assert parsed.layout["lines"]  # six rows of cells: the JSON answer has six lines, as for six typed rows


def test_sdk_file_and_its_single_line_agree():
    assert S.format_sudoku(S.parse_sudoku(SDK)) == SDK_LINE
    assert S.format_sudoku(S.parse_sudoku("\ufeff" + SDK.replace("\n", "\r\n"))) == SDK_LINE  # Notepad's
    unicode = """┌───────┬───────┬───────┐
│ 2 . . │ 1 . 5 │ . . 3 │
│ . 5 4 │ . . . │ 7 1 . │
│ . 1 . │ 2 . 3 │ . 8 . │
├───────┼───────┼───────┤
│ 6 . 2 │ 8 . 7 │ 3 . 4 │
│ . . . │ . . . │ . . . │
│ 1 . 5 │ 3 . 9 │ 8 . 6 │
├───────┼───────┼───────┤
│ . 2 . │ 7 . 1 │ . 6 . │
│ . 8 1 │ . . . │ 2 4 . │
│ 7 . . │ 4 . 2 │ . . 1 │
└───────┴───────┴───────┘"""
    assert S.format_sudoku(S.parse_sudoku(unicode)) == SDK_LINE


def test_sixteen_by_sixteen_with_numbers_above_nine():
    g = _puzzle((4, 4), 5, 0.5)
    spaced = "\n".join(" ".join(str(int(v)) for v in row) for row in g)  # "13 0 7 1 ..."
    assert (S.parse_sudoku(spaced, (4, 4)) == g).all()
    letters = S.format_sudoku(g)
    assert (S.parse_sudoku(letters.lower(), (4, 4)) == g).all()
    with pytest.raises(PuzzleError, match=r"bad cell '17' at cell 0 \(row 1, column 1\)"):
        S.parse_sudoku("17 " + spaced.split(" ", 1)[1], (4, 4))


@pytest.mark.parametrize(
    "text, box, message",
    [
        (SDK_LINE, (2, 3), "needs 36 cells, got 81: this is a 9x9 Sudoku, which a 9x9 Sudoku model solves"),
        (SDK, (2, 3), "this is a 9x9 Sudoku"),
        (ISSUE_6X6, (3, 3), "needs 81 cells, got 36: this is a 6x6 Sudoku, which a 6x6 Sudoku model solves"),
        ("1,2,3,4\n3,4,1,2\n0,0,0,0\n0,0,0,0", (2, 3), "got 16: this is a 4x4 Sudoku"),
    ],
)
def test_a_puzzle_of_another_size_names_the_model_that_solves_it(text, box, message):
    with pytest.raises(OtherSizeError, match=message) as e:
        S.parse_sudoku(text, box)
    side = int(message.split("this is a ")[1].split("x")[0])
    assert e.value.solved_by("sudoku", side) and not e.value.solved_by("sudoku", side + 1)
    assert not e.value.solved_by("maze", side) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("11" + "." * 79, "needs 36 cells, got 81 in"),  # 81 cells but no valid 9x9: not another size
        ("1,2,3", "needs 36 cells, got 3 in"),
        ("12.|4..\n---+---\n" * 3, "needs 36 cells, got 18 in"),
        ("1-2" + "." * 33, "bad character '-' at cell 1"),
        ("1,2,x" + ",." * 33, "bad character 'x' at cell 2 (row 1, column 3)"),
        ("1 2 33" + " ." * 33, "bad cell '33' at cell 2"),
        ("[Puzzle]\n# nothing\n", "needs 36 cells, got 0"),
        ("1 . . | . . 1\n" + ". . . | . . .\n" * 5, "digit 1 appears twice in row 1"),
    ],
)
def test_bad_text_is_one_line_that_says_what(text, message):
    with pytest.raises(PuzzleError) as e:
        S.parse_sudoku(text, (2, 3))
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not isinstance(e.value, OtherSizeError)


def test_blank_symbols_come_back_in_the_answer():
    task = get_task("sudoku", 36, 8)
    sol = S.parse_sudoku("512346364251625413431625256134143562", (2, 3))
    for text, answer in [
        (".12...364.51625.1...16..2...34..3...", "512346364251625413431625256134143562"),
        ("_12___364_51625_1___16__2___34__3___", "512346364251625413431625256134143562"),
    ]:
        parsed = task.parse(text)
        assert task.format(S.encode(sol), parsed) == answer
        unfinished = S.encode(np.where(np.arange(36).reshape(6, 6) == 0, 0, sol))
        assert task.format(unfinished, parsed)[0] == text[0]
    assert task.web_tables()["encode"]["_"] == 1 and task.web_tables()["encode"]["6"] == 7


# ------------------------------------------------------------------------------- mazes


def test_maze_with_ragged_trailing_spaces():
    task = get_task("maze", 25, 6)
    clean = "#####\n#S  #\n# # #\n#  G#\n#####"
    want = task.parse(clean)
    for text in [
        "#####   \n#S  #\n# # #  \n#  G#\n#####",  # trailing spaces after some rows
        "#####\n#S  #\n# # #\n#  G#\n#####" + "\n   \n\n",  # blank lines after
        "\n".join(ln + " " * 4 for ln in clean.split("\n")),  # every row padded past the model's width
        "\ufeff" + clean.replace("\n", "\r\n") + "\r\n",
    ]:
        got = task.parse(text)
        assert (got.tokens == want.tokens).all(), repr(text)
        assert task.format(got.tokens, got) == clean
    short = task.parse("#####\n#S\n# # #\n#  G#\n#####")  # a row cut short is open to the right
    assert task.format(short.tokens, short).split("\n")[1] == "#S   "


def test_maze_too_large_names_the_model_size():
    with pytest.raises(OtherSizeError, match="a maze model of 5x5 or larger solves it") as e:
        get_task("maze", 16, 6).parse("#####\n#S G#\n#####")
    assert e.value.solved_by("maze", 5) and e.value.solved_by("maze", 9) and not e.value.solved_by("maze", 4)
